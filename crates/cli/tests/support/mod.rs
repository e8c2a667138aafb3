//! Helpers shared by the command's test files (`cli.rs`, `safety.rs`): run the binary on a
//! store and check its exit code, stdout and one-line errors.
//!
//! Each test file includes this module with `mod support;`; as `tests/support/mod.rs` it is
//! not a test target of its own. Not every file uses every helper.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `coditect --store sled:STORE ARGS...` with `CODITECT_STORE` unset.
pub fn coditect(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coditect"))
        .arg("--store")
        .arg(format!("sled:{}", store.display()))
        .args(args)
        .env_remove("CODITECT_STORE")
        .output()
        .expect("the coditect binary runs")
}

/// A success: exit 0; returns stdout.
pub fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A success printing one JSON document.
pub fn json(output: &Output) -> Value {
    serde_json::from_str(ok(output).trim()).expect("stdout is one JSON document")
}

/// A failure: non-zero exit, nothing on stdout, exactly one line on stderr starting `error: `.
pub fn fails(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure, got {:?}",
        output.status
    );
    assert!(
        output.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr is not one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    stderr
}

/// Runs the demo on the sled store at `dir`; returns the id of its first tenant.
pub fn demo(dir: &Path) -> String {
    let demo = json(&coditect(dir, &["demo", "--json"]));
    demo["tenant"]["id"].as_str().unwrap().to_owned()
}

/// A fresh temporary directory.
pub fn store() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes into the sled store at `dir` behind the command's back (no command runs on it
/// meanwhile): `write` stages changes on one transaction, which is then committed.
pub fn write_behind_the_command(dir: &Path, write: impl FnOnce(&dyn coditect_core::Transaction)) {
    use coditect_core::KvBackend;
    let db = coditect_sled::open(dir, coditect_sled::SledOptions::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tx = db.begin().await.unwrap();
        write(&*tx);
        tx.commit().await.unwrap();
    });
}
