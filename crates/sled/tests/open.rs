//! Opening a store: exclusive access, refusing what is not a coditect-sled store, and
//! continuing where the last process left off.

use std::path::Path;
use std::process::Command;

use coditect_core::KvError;
use coditect_sled::{SledBackend, SledOptions};

fn open(path: &Path) -> coditect_core::kv::Result<SledBackend> {
    coditect_sled::open(path, SledOptions::default())
}

fn open_error(path: &Path) -> String {
    match open(path) {
        Ok(_) => panic!("{} opened, but should not have", path.display()),
        Err(error @ KvError::Backend { .. }) => error.to_string(),
        Err(other) => panic!("expected a backend error, got {other:?}"),
    }
}

/// The error of opening `path`, which must name it (so a reader knows which store).
fn refusal_naming(path: &Path) -> String {
    let message = open_error(path);
    assert!(message.contains(&path.display().to_string()), "{message}");
    message
}

/// Opens the directory with plain sled, waiting while a store just closed still holds sled's
/// lock (its background threads let go last).
fn raw_sled(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("plain sled cannot open {}: {e}", path.display()),
        }
    }
}

/// Writes `key` = `value` with plain sled, behind the store's back, and flushes it.
fn raw_insert(path: &Path, key: &[u8], value: &[u8]) {
    let raw = raw_sled(path);
    raw.insert(key, value).expect("insert");
    raw.flush().expect("flush");
}

fn put(db: &SledBackend, key: &[u8], value: &[u8]) -> u64 {
    let tx = db.begin_tx();
    tx.set(key, value).expect("set");
    tx.commit().expect("commit").version
}

#[test]
fn data_and_versions_continue_after_reopening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store");
    let first = {
        let db = open(&path).expect("create");
        put(&db, b"a", b"1");
        put(&db, b"b", b"2")
    };
    let db = open(&path).expect("reopen");
    let tx = db.begin_tx();
    assert_eq!(tx.get(b"a", false).expect("get"), Some(b"1".to_vec()));
    assert_eq!(tx.get(b"b", false).expect("get"), Some(b"2".to_vec()));
    assert!(tx.read_version() >= first);
    drop(tx);
    assert!(put(&db, b"c", b"3") > first);
}

#[test]
fn a_second_opener_in_the_same_process_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store");
    let db = open(&path).expect("first opener");
    let message = refusal_naming(&path);
    assert!(message.contains("already open"), "{message}");
    // The first opener is unaffected, and the lock goes with it.
    put(&db, b"k", b"v");
    drop(db);
    open(&path).expect("open after the first opener closed");
}

/// Set in the re-executed child: the store it tries to open.
const CHILD_OPENS: &str = "CODITECT_SLED_OPEN_CHILD";

/// When this binary runs as the child of the test below: tries to open the store and says
/// what happened. An empty pass otherwise.
#[test]
fn child_process_entry_point() {
    if let Ok(path) = std::env::var(CHILD_OPENS) {
        match open(Path::new(&path)) {
            Ok(_) => println!("CHILD OPENED"),
            Err(error) => println!("CHILD REFUSED: {error}"),
        }
    }
}

#[test]
fn a_second_opener_in_another_process_is_refused_naming_the_path() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store");
    let _db = open(&path).expect("first opener");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child_process_entry_point", "--nocapture"])
        .env(CHILD_OPENS, &path)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| panic!("no answer from the child: {stdout}"));
    assert!(line.starts_with("CHILD REFUSED"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("another process"), "{line}");
}

#[test]
fn a_file_is_not_a_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("file");
    std::fs::write(&path, b"hello").expect("write");
    let message = refusal_naming(&path);
    assert!(message.contains("not a directory"), "{message}");
}

#[test]
fn a_directory_of_other_files_is_not_a_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("notes.txt"), b"mine").expect("write");
    let message = refusal_naming(dir.path());
    assert!(message.contains("notes.txt"), "{message}");
    // Nothing of sled's was created there.
    assert!(!dir.path().join("db").exists());
}

#[test]
fn without_create_a_missing_path_is_an_error_and_stays_missing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let no_create = || SledOptions {
        create: false,
        ..SledOptions::default()
    };
    for path in [dir.path().join("mistyped"), dir.path().join("a/b")] {
        let message = match coditect_sled::open(&path, no_create()) {
            Ok(_) => panic!("{} opened, but should not have", path.display()),
            Err(error) => error.to_string(),
        };
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("does not exist"), "{message}");
        assert!(!path.exists());
    }
    // An existing store opens as usual.
    let path = dir.path().join("store");
    put(&open(&path).expect("create"), b"k", b"v");
    let db = coditect_sled::open(&path, no_create()).expect("reopen without create");
    assert_eq!(
        db.begin_tx().get(b"k", false).expect("get"),
        Some(b"v".to_vec())
    );
}

#[test]
fn an_empty_directory_becomes_a_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open(dir.path()).expect("open an empty directory");
    assert_eq!(put(&db, b"k", b"v"), 1);
}

#[test]
fn a_sled_database_without_the_marker_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    raw_insert(dir.path(), b"someone else's", b"data");
    let message = refusal_naming(dir.path());
    assert!(message.contains("did not create"), "{message}");
    // With the lock file, what is missing is the marker.
    std::fs::write(dir.path().join("coditect-sled.lock"), b"").expect("lock file");
    let message = open_error(dir.path());
    assert!(message.contains("format marker"), "{message}");
    // Either way, the foreign data is left alone.
    let other = raw_sled(dir.path());
    assert!(other.get(b"someone else's").expect("get").is_some());
}

#[test]
fn a_damaged_commit_record_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let db = open(dir.path()).expect("create");
        put(&db, b"k", b"v");
    }
    raw_insert(dir.path(), b"\x00commit", b"abc");
    let message = refusal_naming(dir.path());
    assert!(message.contains("commit record is damaged"), "{message}");
}

/// A crash part way through applying a commit leaves its record and some of its writes;
/// opening the store applies the rest.
#[test]
fn opening_completes_a_commit_cut_short_by_a_crash() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let version = {
        let db = open(dir.path()).expect("create");
        put(&db, b"old", b"stays");
        let tx = db.begin_tx();
        tx.set(b"a", b"1").expect("set");
        tx.set(b"b", b"2").expect("set");
        tx.clear(b"old").expect("clear");
        tx.commit().expect("commit").version
    };
    {
        // Undo the last two of the commit's writes, as if the process died after the first.
        let raw = raw_sled(dir.path());
        raw.remove(b"\x01b").expect("remove");
        raw.insert(b"\x01old", &b"stays"[..]).expect("insert");
        raw.flush().expect("flush");
    }
    let db = open(dir.path()).expect("reopen");
    let tx = db.begin_tx();
    assert_eq!(tx.get(b"a", false).expect("get"), Some(b"1".to_vec()));
    assert_eq!(tx.get(b"b", false).expect("get"), Some(b"2".to_vec()));
    assert_eq!(tx.get(b"old", false).expect("get"), None);
    drop(tx);
    assert!(put(&db, b"c", b"3") > version);
}

#[test]
fn a_garbage_data_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut garbage = vec![0u8; 64 * 1024];
    fastrand::Rng::with_seed(7).fill(&mut garbage);
    std::fs::write(dir.path().join("db"), &garbage).expect("write");
    refusal_naming(dir.path());
    assert_eq!(std::fs::read(dir.path().join("db")).expect("read"), garbage);
}

#[test]
fn an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    drop(open(dir.path()).expect("create"));
    raw_insert(dir.path(), b"\x00format", b"coditect-sled v9");
    let message = open_error(dir.path());
    assert!(message.contains("coditect-sled v9"), "{message}");
}

#[test]
fn group_commit_shares_flushes_between_concurrent_committers() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open(dir.path()).expect("open");
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    put(&db, &[t, i], b"v");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("committer");
    }
    let flushes = db.store().flushes();
    // Every commit was durable; how many flushes it took depends on timing, so this only
    // shows they were counted: the sharing itself is tested deterministically in the unit
    // tests, and measured in the sled bench.
    assert!(
        (1..=400).contains(&flushes),
        "{flushes} flushes for 400 commits"
    );
}

#[test]
fn large_values_survive_reopening() {
    // Nine 100 kB values in one node exceed sled's log buffer, so sled writes blob files:
    // the path where the store syncs what sled does not.
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let db = open(dir.path()).expect("create");
        let tx = db.begin_tx();
        for i in 0..9u8 {
            tx.set(&[b'L', i], &vec![i; 100_000]).expect("set");
        }
        tx.commit().expect("commit");
    }
    let db = open(dir.path()).expect("reopen");
    let tx = db.begin_tx();
    for i in 0..9u8 {
        assert_eq!(
            tx.get(&[b'L', i], false).expect("get"),
            Some(vec![i; 100_000])
        );
    }
}
