//! Engine properties that the backend-generic conformance suite cannot see: memory stays
//! bounded, a failing base store loses nothing, and readers racing committers see consistent
//! snapshots. Runs over a small test store that can be told to fail.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coditect_core::{kv::Result, KeyValue, KvError, RangeOptions};
use coditect_engine::{BaseStore, CommitBatch, Engine, EngineOptions, ManualClock};

/// An ordered map whose next `apply` fails when asked to.
#[derive(Default)]
struct FlakyStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    fail_next_apply: AtomicBool,
    /// When set, commits must sync, and the next sync fails.
    fail_next_sync: AtomicBool,
}

impl BaseStore for FlakyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn scan(&self, begin: &[u8], end: &[u8], reverse: bool, limit: usize) -> Result<Vec<KeyValue>> {
        if begin >= end {
            return Ok(Vec::new());
        }
        let map = self.map.lock().unwrap();
        let range = map.range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)));
        let rows: Box<dyn Iterator<Item = _>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        Ok(rows
            .take(limit)
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect())
    }

    fn apply(&self, batch: CommitBatch) -> Result<()> {
        if self.fail_next_apply.swap(false, Ordering::SeqCst) {
            return Err(KvError::Io(std::io::Error::other("injected apply failure")));
        }
        let mut map = self.map.lock().unwrap();
        for (key, value) in batch.writes {
            match value {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            };
        }
        Ok(())
    }

    fn needs_sync(&self) -> bool {
        self.fail_next_sync.load(Ordering::SeqCst)
    }

    fn sync(&self, _version: u64) -> Result<()> {
        if self.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(KvError::Io(std::io::Error::other("injected sync failure")));
        }
        Ok(())
    }
}

fn engine() -> (Engine<FlakyStore>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let options = EngineOptions {
        clock: clock.clone(),
    };
    (Engine::new(FlakyStore::default(), options).unwrap(), clock)
}

fn commit_one(db: &Engine<FlakyStore>, key: &[u8], value: &[u8]) {
    let tx = db.begin_tx();
    tx.set(key, value).unwrap();
    tx.commit().unwrap();
}

/// While a reader lives, the window keeps what it needs; once it is gone, the next commit
/// drops everything, and the resolver forgets old commits too.
#[test]
fn memory_is_released_when_no_reader_needs_it() {
    let (db, _clock) = engine();
    commit_one(&db, b"k", b"0");
    let reader = db.begin_tx();
    for i in 0..100u32 {
        commit_one(&db, &i.to_be_bytes(), b"v");
    }
    let held = db.stats();
    assert_eq!(held.window_changes, 100);
    assert_eq!(held.resolver_commits, 100);
    assert_eq!(reader.get(&5u32.to_be_bytes(), true).unwrap(), None);
    drop(reader);
    commit_one(&db, b"k", b"1");
    let after = db.stats();
    assert_eq!(after.window_changes, 0);
    assert_eq!(after.resolver_commits, 0);
    assert_eq!(after.live_transactions, 0);
}

/// A transaction older than the 5 s limit pins nothing: it can no longer read anyway.
#[test]
fn an_expired_reader_does_not_pin_memory() {
    let (db, clock) = engine();
    let reader = db.begin_tx();
    for i in 0..10u32 {
        commit_one(&db, &i.to_be_bytes(), b"v");
    }
    assert_eq!(db.stats().window_changes, 10);
    clock.advance(Duration::from_secs(6));
    commit_one(&db, b"x", b"v");
    assert_eq!(db.stats().window_changes, 0);
    assert!(matches!(
        reader.get(b"x", false),
        Err(KvError::TransactionTooOld)
    ));
}

/// When the base store fails to apply a batch, the commit fails, nothing of it is visible,
/// and the engine goes on with the next version.
#[test]
fn a_failed_apply_loses_nothing_and_the_engine_goes_on() {
    let (db, _clock) = engine();
    commit_one(&db, b"a", b"1");
    let reader = db.begin_tx();
    db.store().fail_next_apply.store(true, Ordering::SeqCst);
    let tx = db.begin_tx();
    tx.set(b"a", b"2").unwrap();
    tx.set(b"b", b"2").unwrap();
    assert!(matches!(tx.commit(), Err(KvError::Io(_))));
    assert_eq!(reader.get(b"a", false).unwrap(), Some(b"1".to_vec()));
    let fresh = db.begin_tx();
    assert_eq!(fresh.get(b"a", false).unwrap(), Some(b"1".to_vec()));
    assert_eq!(fresh.get(b"b", false).unwrap(), None);
    let before = db.stats().visible_version;
    commit_one(&db, b"c", b"3");
    assert_eq!(db.stats().visible_version, before + 1);
    assert_eq!(db.begin_tx().get(b"a", false).unwrap(), Some(b"1".to_vec()));
}

/// A batch that was applied but whose sync failed may or may not be durable: the commit says
/// `CommitUnknownResult` (retryable, maybe committed), and the data stays visible.
#[test]
fn a_failed_sync_is_a_maybe_committed_commit() {
    let (db, _clock) = engine();
    db.store().fail_next_sync.store(true, Ordering::SeqCst);
    let tx = db.begin_tx();
    tx.set(b"k", b"v").unwrap();
    let error = tx.commit().unwrap_err();
    assert!(matches!(error, KvError::CommitUnknownResult));
    assert!(error.is_retryable() && error.is_maybe_committed());
    assert_eq!(db.begin_tx().get(b"k", false).unwrap(), Some(b"v".to_vec()));
    commit_one(&db, b"next", b"v");
}

/// Readers racing a committer always see a consistent snapshot: a committer moves value
/// between two keys, keeping their sum; readers on other threads read both (point and range)
/// in one transaction and must always find the same sum.
#[test]
fn readers_racing_commits_see_consistent_snapshots() {
    let (db, _clock) = engine();
    let tx = db.begin_tx();
    tx.set(b"a", &100i64.to_le_bytes()).unwrap();
    tx.set(b"b", &0i64.to_le_bytes()).unwrap();
    tx.commit().unwrap();
    let value = |v: Option<Vec<u8>>| i64::from_le_bytes(v.unwrap().try_into().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop, checks) = (db.clone(), stop.clone(), checks.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let tx = db.begin_tx();
                    let a = value(tx.get(b"a", true).unwrap());
                    let b = value(tx.get(b"b", true).unwrap());
                    assert_eq!(a + b, 100, "point reads saw a torn snapshot");
                    let page = tx
                        .get_range(b"a", b"c", RangeOptions::default().snapshot())
                        .unwrap();
                    let sum: i64 = page.kvs.into_iter().map(|kv| value(Some(kv.value))).sum();
                    assert_eq!(sum, 100, "a range read saw a torn snapshot");
                    checks.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Keep committing until the readers have really raced the committer, however slowly the
    // machine schedules them.
    let mut i = 0i64;
    while i < 5_000 || checks.load(Ordering::SeqCst) < 1_000 {
        let tx = db.begin_tx();
        let moved = i % 100;
        tx.set(b"a", &(100 - moved).to_le_bytes()).unwrap();
        tx.set(b"b", &moved.to_le_bytes()).unwrap();
        tx.commit().unwrap();
        i += 1;
    }
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().expect("a reader saw a torn snapshot");
    }
}
