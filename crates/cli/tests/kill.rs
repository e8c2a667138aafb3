//! Kill tests of the tenant operations on sled: `coditect tenant export`, `import` and
//! `erase` are killed with SIGKILL part way (after the 1st and after the 5th chunk committed),
//! then `tenant activate` (and `suspend`) must be refused naming the operation, running the
//! operation again must finish it, and a backup from a resumed export must restore to a
//! tenant whose every index entry points at a record holding its values and whose every
//! record is listed in its indexes. A killed import can be dropped instead
//! (`tenant abort`).
//!
//! The kill points come from the command's own progress lines (`CODITECT_PROGRESS=lines`,
//! printed after each chunk committed), with small chunks (`CODITECT_CHUNK_RECORDS`) and a
//! pause after each (`CODITECT_CHUNK_PAUSE_MS`) so the kill lands before the next chunk: all
//! three are documented knobs of the command, not test hooks.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coditect_core::audit::Actor;
use coditect_core::model::{Plan, Project, Task};
use coditect_core::provision::{provision, NewTenant};
use coditect_core::{
    record, run, Error, KvBackend, RangeOptions, RetryOptions, TenantId, TenantTx,
};
use coditect_sled::SledOptions;

use support::{coditect, fails, json, ok};

/// Tasks in the tenant: about 3,600 pairs with their indexes and audit events, 36 chunks of
/// [`CHUNK_RECORDS`].
const TASKS: usize = 600;
const CHUNK_RECORDS: &str = "100";
/// Long enough that the kill, sent as soon as the line is read, lands before the next chunk.
const PAUSE_MS: &str = "40";
/// Chunks committed before each kill.
const KILL_AFTER: [usize; 2] = [1, 5];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A tenant with a project and [`TASKS`] tasks in the sled store at `store` (closed again
/// before the command runs on it).
fn populate(store: &Path) -> TenantId {
    runtime().block_on(async {
        let db = coditect_sled::open(store, SledOptions::default()).expect("open the store");
        let new = NewTenant {
            id: TenantId::generate(),
            name: "Killed Ops".into(),
            domain: "killed-ops.test".into(),
            plan: Plan::Enterprise,
            root_code: "ROOT".into(),
            admin_email: "ada@killed-ops.test".into(),
            admin_name: "Ada".into(),
        };
        let (made, _) = run(&db, &RetryOptions::default(), |tx| {
            let new = new.clone();
            async move { provision(&*tx, new).await }
        })
        .await
        .expect("provision");
        let (id, me) = (made.tenant.id, made.admin_member.id);
        let actor = Actor::Member(me);
        let tx = db.begin().await.expect("begin");
        let ttx = TenantTx::open(tx.as_ref(), id).await.expect("open");
        let project = record::insert(&ttx, actor, Project::new("OPS", "Ops", made.root.id, me))
            .await
            .expect("project");
        drop(ttx);
        tx.commit().await.expect("commit");
        for batch in 0..TASKS / 100 {
            let tx = db.begin().await.expect("begin");
            let ttx = TenantTx::open(tx.as_ref(), id).await.expect("open");
            for i in 0..100 {
                let mut task = Task::new(project.id, format!("task {batch}-{i}"), me);
                task.description = "a description long enough to weigh something".into();
                record::insert(&ttx, actor, task).await.expect("task");
            }
            drop(ttx);
            tx.commit().await.expect("commit");
        }
        id
    })
}

/// The tenant's pairs, keys relative to its prefix, read from the store at `store`.
fn tenant_rows(store: &Path, tenant: TenantId) -> Vec<(Vec<u8>, Vec<u8>)> {
    runtime().block_on(async {
        let db = coditect_sled::open(store, SledOptions::default()).expect("open the store");
        let (mut begin, end) = tenant.range();
        let prefix = begin.len();
        let mut rows = Vec::new();
        loop {
            let tx = db.begin().await.expect("begin");
            let page = tx
                .get_range(&begin, &end, RangeOptions::default())
                .await
                .expect("range");
            let Some(last) = page.kvs.last().map(|kv| kv.key.clone()) else {
                break;
            };
            rows.extend(
                page.kvs
                    .into_iter()
                    .map(|kv| (kv.key[prefix..].to_vec(), kv.value)),
            );
            if !page.more {
                break;
            }
            begin = coditect_core::key_after(&last);
        }
        rows
    })
}

/// Rows but the audit trail, its indexes, seal state and lineage: what an import copies
/// verbatim.
fn records_and_indexes(rows: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    use foundationdb_tuple::pack;
    let skip = [
        pack(&"audit"),
        pack(&("idx", "audit_by_actor")),
        pack(&("idx", "audit_by_target")),
        pack(&("meta", "audit")),
        pack(&("meta", "lineage")),
    ];
    rows.iter()
        .filter(|(k, _)| !skip.iter().any(|s| k.starts_with(s)))
        .cloned()
        .collect()
}

/// Runs `coditect ARGS` on `store` with small paused chunks and progress lines, and SIGKILLs
/// it once it reported `chunks` chunks committed. Returns how many it reported.
fn run_and_kill(store: &Path, args: &[&str], chunks: usize) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .arg("--store")
        .arg(format!("sled:{}", store.display()))
        .args(args)
        .env_remove("CODITECT_STORE")
        .env("CODITECT_CHUNK_RECORDS", CHUNK_RECORDS)
        .env("CODITECT_CHUNK_PAUSE_MS", PAUSE_MS)
        .env("CODITECT_PROGRESS", "lines")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coditect");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    let mut other = Vec::new();
    while seen < chunks {
        let left = give_up.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("progress: ") => seen += 1,
            Ok(line) => other.push(line),
            Err(_) => break,
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    drop(rx);
    reader.join().expect("reader");
    assert_eq!(
        seen,
        chunks,
        "`coditect {}` ended before its kill point ({status:?}): {other:?}",
        args.join(" ")
    );
    assert!(!status.success(), "killed: {status:?}");
    seen
}

/// `tenant activate` and `tenant suspend` are refused naming `operation`, the tenant is
/// still suspended, and a writer is refused naming it too.
fn refused_while(store: &Path, tenant: &str, operation: &str) {
    for verb in ["activate", "suspend"] {
        let error = fails(&coditect(store, &["tenant", verb, tenant]));
        assert!(
            error.contains(&format!("unfinished {operation}")) && error.contains("coditect tenant"),
            "{verb} during the {operation}: {error}"
        );
    }
    let shown = json(&coditect(store, &["--json", "tenant", "show", tenant]));
    assert_eq!(shown["status"], "suspended", "{shown}");
    assert_eq!(shown["pending"], operation, "{shown}");
    let id = TenantId::new(tenant.parse().expect("tenant id")).expect("tenant id");
    runtime().block_on(async {
        let db = coditect_sled::open(store, SledOptions::default()).expect("open the store");
        let tx = db.begin().await.expect("begin");
        match TenantTx::open(tx.as_ref(), id).await {
            Err(Error::OperationPending { operation: op, .. }) => assert_eq!(op, operation),
            Err(other) => panic!("a writer during the {operation}: {other}"),
            Ok(_) => panic!("a writer was let in during the {operation}"),
        }
    });
}

#[test]
fn killed_export_import_and_erase_hold_the_tenant_and_finish_when_run_again() {
    let started = Instant::now();
    let dir = support::store();
    let store = dir.path().join("store");
    let files = support::store();
    let backup = files.path().join("tenant.backup");
    let source = populate(&store);
    let id = source.to_string();
    let before = tenant_rows(&store, source);
    assert!(before.len() > 3_000, "{} pairs", before.len());

    // Export: killed twice, refused meanwhile, then finished.
    let out = backup.to_str().expect("utf-8 path");
    for chunks in KILL_AFTER {
        run_and_kill(&store, &["tenant", "export", &id, "--out", out], chunks);
        assert!(!backup.exists(), "a killed export left no file at --out");
        refused_while(&store, &id, "export");
    }
    let exported = json(&coditect(
        &store,
        &["--json", "tenant", "export", &id, "--out", out],
    ));
    assert_eq!(exported["consistent"], true, "{exported}");
    let shown = json(&coditect(&store, &["--json", "tenant", "show", &id]));
    assert_eq!(
        shown["status"], "active",
        "the export restored the status: {shown}"
    );
    assert!(
        records_and_indexes(&tenant_rows(&store, source)) == records_and_indexes(&before),
        "the killed exports changed no record"
    );

    // Import of that backup under a new id: killed twice, refused meanwhile, then finished.
    let copy = TenantId::generate();
    let copy_id = copy.to_string();
    let import = [
        "tenant",
        "import",
        out,
        "--as",
        &copy_id,
        "--domain",
        "copy.test",
    ];
    for chunks in KILL_AFTER {
        run_and_kill(&store, &import, chunks);
        refused_while(&store, &copy_id, "import");
    }
    ok(&coditect(&store, &import));
    let shown = json(&coditect(&store, &["--json", "tenant", "show", &copy_id]));
    assert_eq!(shown["status"], "active", "{shown}");
    let restored = tenant_rows(&store, copy);
    let problems = coditect_conformance::ops::ownership::index_problems(&restored);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        records_and_indexes(&restored) == records_and_indexes(&before),
        "the restored tenant holds the source's records and indexes"
    );
    ok(&coditect(&store, &["audit", "verify", &copy_id]));

    // Erase of the source: killed twice, refused meanwhile, then finished.
    let keys = tenant_rows(&store, source).len() as u64;
    let erase = ["tenant", "erase", &id, "--yes"];
    for chunks in KILL_AFTER {
        run_and_kill(&store, &erase, chunks);
        refused_while(&store, &id, "erase");
    }
    let erased = json(&coditect(
        &store,
        &["--json", "tenant", "erase", &id, "--yes"],
    ));
    assert_eq!(erased["keys"], keys, "every key counted once: {erased}");
    fails(&coditect(&store, &["tenant", "show", &id]));
    assert!(tenant_rows(&store, source).is_empty());
    // A killed import dropped instead of finished.
    let dropped = TenantId::generate().to_string();
    let import = [
        "tenant",
        "import",
        out,
        "--as",
        &dropped,
        "--domain",
        "dropped.test",
    ];
    run_and_kill(&store, &import, KILL_AFTER[0]);
    refused_while(&store, &dropped, "import");
    let aborted = json(&coditect(&store, &["--json", "tenant", "abort", &dropped]));
    assert_eq!(aborted["aborted"], "import", "{aborted}");
    fails(&coditect(&store, &["tenant", "show", &dropped]));
    ok(&coditect(&store, &import));

    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}
