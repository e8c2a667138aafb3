//! The command must not destroy or fake anything it was not asked to: files named by `--out`
//! are replaced only by a complete file (never truncated, deleted or written inside the
//! store), user data cannot forge lines of text output, and store selection neither breaks on
//! an empty variable nor creates a store for a command that only reads.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support::{coditect, demo, fails, json, ok, store, write_behind_the_command};

/// The names in `dir`.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn tenant_count(dir: &Path) -> usize {
    let list = json(&coditect(dir, &["tenant", "list", "--json"]));
    list["tenants"].as_array().unwrap().len()
}

/// Leaves an import of `tenant` pending, as a crashed import would, so the next export of it
/// fails part way (after it has begun writing its file).
fn leave_an_import_pending(dir: &Path, tenant: &str) {
    use coditect_core::model::tenant::TenantStatus;
    use coditect_ops::{OpKind, TenantOp};
    let id = uuid::Uuid::parse_str(tenant).unwrap();
    let key = foundationdb_tuple::pack(&(coditect_core::keys::SYSTEM, "tenant_op", id));
    let op = TenantOp {
        kind: OpKind::Import { source: id },
        previous: TenantStatus::Active,
        started_ms: 0,
        progress: 0,
    };
    let value = coditect_core::value::encode(&op).unwrap();
    write_behind_the_command(dir, |tx| tx.set(&key, &value).unwrap());
}

#[test]
fn a_failing_export_leaves_the_existing_backup_byte_for_byte() {
    let files = store();
    let dir = files.path().join("store");
    let backups = files.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let id = demo(&dir);
    let backup = backups.join("tenant.backup");
    let out = backup.to_str().unwrap();
    ok(&coditect(&dir, &["tenant", "export", &id, "--out", out]));
    assert!(!std::fs::read(&backup).unwrap().is_empty());

    // Exporting again over it replaces it whole and leaves nothing else behind.
    ok(&coditect(&dir, &["tenant", "export", &id, "--out", out]));
    assert_eq!(entries(&backups), names(&["tenant.backup"]));

    let good_again = std::fs::read(&backup).unwrap();
    leave_an_import_pending(&dir, &id);
    let error = fails(&coditect(&dir, &["tenant", "export", &id, "--out", out]));
    assert!(error.contains("import"), "{error}");
    assert_eq!(
        std::fs::read(&backup).expect("the old backup is still there"),
        good_again
    );
    assert_eq!(entries(&backups), names(&["tenant.backup"]));

    // An unknown tenant: refused, the file untouched.
    let unknown = "3f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c11";
    fails(&coditect(
        &dir,
        &["tenant", "export", unknown, "--out", out],
    ));
    assert_eq!(std::fs::read(&backup).unwrap(), good_again);
    assert_eq!(entries(&backups), names(&["tenant.backup"]));
}

/// Paths inside `store` (its files, a new one, a roundabout spelling, a link into it).
fn paths_into_the_store(files: &Path, store: &Path) -> Vec<String> {
    let link = files.join("link-to-db");
    std::os::unix::fs::symlink(store.join("db"), &link).unwrap();
    let roundabout = store.join("..").join("store").join("conf");
    [
        store.join("db"),
        store.join("conf"),
        store.join("new-file"),
        roundabout,
        link,
    ]
    .iter()
    .map(|p| p.to_str().unwrap().to_owned())
    .collect()
}

#[test]
fn export_and_receipt_into_the_store_directory_are_refused() {
    let files = store();
    let dir = files.path().join("store");
    let id = demo(&dir);
    let before = entries(&dir);
    let db_bytes = std::fs::metadata(dir.join("db")).unwrap().len();
    for target in paths_into_the_store(files.path(), &dir) {
        for args in [
            vec!["tenant", "export", &id, "--out", &target],
            vec!["audit", "receipt", &id, "--out", &target],
        ] {
            let error = fails(&coditect(&dir, &args));
            assert!(error.contains("inside the store"), "{args:?}: {error}");
        }
    }
    assert_eq!(entries(&dir), before);
    assert!(std::fs::metadata(dir.join("db")).unwrap().len() >= db_bytes);
    assert_eq!(tenant_count(&dir), 2);
    ok(&coditect(&dir, &["audit", "verify", &id]));
}

#[test]
fn out_must_be_a_regular_file() {
    let files = store();
    let dir = files.path().join("store");
    let id = demo(&dir);
    let a_dir = files.path().join("a-dir");
    std::fs::create_dir(&a_dir).unwrap();
    let fifo = files.path().join("a-fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let link_to_dir = files.path().join("link-to-dir");
    std::os::unix::fs::symlink(&a_dir, &link_to_dir).unwrap();
    let dangling = files.path().join("dangling");
    std::os::unix::fs::symlink(files.path().join("nothing"), &dangling).unwrap();
    for target in [&a_dir, &fifo, &link_to_dir, &dangling] {
        let target = target.to_str().unwrap();
        for args in [
            vec!["tenant", "export", &id, "--out", target],
            vec!["audit", "receipt", &id, "--out", target],
        ] {
            let error = fails(&coditect(&dir, &args));
            assert!(error.contains("not a regular file"), "{args:?}: {error}");
        }
    }
    assert!(entries(&a_dir).is_empty());
    assert_eq!(
        entries(files.path()),
        names(&["store", "a-dir", "a-fifo", "link-to-dir", "dangling"])
    );

    // A link to a regular file is followed: the file is replaced, the link kept.
    let receipt = files.path().join("receipt.txt");
    std::fs::write(&receipt, "old").unwrap();
    let link = files.path().join("link-to-receipt");
    std::os::unix::fs::symlink(&receipt, &link).unwrap();
    ok(&coditect(
        &dir,
        &["audit", "receipt", &id, "--out", link.to_str().unwrap()],
    ));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let text = std::fs::read_to_string(&receipt).unwrap();
    assert!(text.contains(&id), "{text}");
    ok(&coditect(
        &dir,
        &[
            "audit",
            "verify",
            &id,
            "--receipt",
            receipt.to_str().unwrap(),
        ],
    ));
}

#[test]
fn control_characters_are_escaped_in_text_and_exact_in_json() {
    let dir = store();
    let name = "Evil\nfake row\x1b[2J\u{9b}31m";
    let created = ok(&coditect(
        dir.path(),
        &[
            "tenant",
            "create",
            "--name",
            name,
            "--domain",
            "evil.example",
        ],
    ));
    let escaped = r"Evil\nfake row\u{1b}[2J\u{9b}31m";
    assert!(created.contains(escaped), "{created}");
    let list = ok(&coditect(dir.path(), &["tenant", "list"]));
    // The header, one row, the count: no fake row.
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.contains(escaped), "{list}");
    assert!(
        !list.contains('\x1b') && !list.contains('\u{9b}'),
        "{list:?}"
    );

    let listed = json(&coditect(dir.path(), &["tenant", "list", "--json"]));
    assert_eq!(listed["tenants"][0]["name"], name);
    let id = listed["tenants"][0]["id"].as_str().unwrap().to_owned();
    let shown = ok(&coditect(dir.path(), &["tenant", "show", &id]));
    assert!(shown.contains(escaped), "{shown}");
    assert!(!shown.contains('\x1b'), "{shown:?}");
    let shown = json(&coditect(dir.path(), &["tenant", "show", &id, "--json"]));
    assert_eq!(shown["name"], name);
}

#[test]
fn the_store_flag_wins_over_the_variable_and_an_empty_variable_is_unset() {
    let dir = store();
    ok(&coditect(
        dir.path(),
        &["tenant", "create", "--name", "A", "--domain", "a.example"],
    ));
    let flag = format!("sled:{}", dir.path().display());
    for value in ["", "garbage", "sled:"] {
        let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
            .args(["--store", &flag, "tenant", "list", "--json"])
            .env("CODITECT_STORE", value)
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_str(ok(&output).trim()).unwrap();
        assert_eq!(list["tenants"].as_array().unwrap().len(), 1, "{value:?}");
    }

    // Empty and no flag: the default store (./coditect-data, here missing), not an error
    // about the variable.
    let cwd = store();
    let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args(["tenant", "list"])
        .env("CODITECT_STORE", "")
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let error = fails(&output);
    assert!(error.contains("coditect-data"), "{error}");
    assert!(!error.contains("CODITECT_STORE"), "{error}");
}

#[test]
fn a_bad_store_variable_without_the_flag_is_an_error_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args(["tenant", "list"])
        .env("CODITECT_STORE", "garbage")
        .output()
        .unwrap();
    let error = fails(&output);
    assert!(
        error.contains("CODITECT_STORE") && error.contains("garbage"),
        "{error}"
    );
}

#[test]
fn a_read_only_command_on_a_missing_sled_path_fails_and_creates_nothing() {
    let files = store();
    let unknown = "3f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c11";
    let out = files.path().join("backup");
    let out = out.to_str().unwrap();
    for missing in [files.path().join("mistyped"), files.path().join("a/b")] {
        for args in [
            vec!["tenant", "list"],
            vec!["tenant", "show", unknown],
            vec!["tenant", "export", unknown, "--out", out],
            vec!["kv", "range", "--tenant", unknown],
            vec!["audit", "tail", unknown],
            vec!["audit", "verify", unknown],
            vec!["analytics"],
        ] {
            let error = fails(&coditect(&missing, &args));
            let shown = missing.display().to_string();
            assert!(
                error.contains(&shown) && error.contains("does not exist"),
                "{args:?}: {error}"
            );
            assert!(!missing.exists(), "{args:?} created {shown}");
        }
    }
    assert!(entries(files.path()).is_empty());

    // Commands that create data still create the store.
    let fresh = files.path().join("fresh");
    ok(&coditect(
        &fresh,
        &["tenant", "create", "--name", "A", "--domain", "a.example"],
    ));
    assert_eq!(tenant_count(&fresh), 1);
}
