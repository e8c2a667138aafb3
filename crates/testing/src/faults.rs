//! [`FaultyBackend`]: a [`KvBackend`] wrapper that makes FoundationDB's transient failures
//! happen on purpose, so that code built on the retry loop is tested against them.
//!
//! The embedded backends never return `CommitUnknownResult` ("maybe committed") by themselves;
//! FoundationDB does, when the connection to the cluster drops during a commit. Its trap is
//! that the retry loop retries it, so the body runs again after an attempt that may *already
//! have committed*. This wrapper produces both cases, plus conflicts and too-old errors:
//!
//! | at         | fault                                       | the store afterwards     |
//! |------------|---------------------------------------------|--------------------------|
//! | commit     | `CommitUnknownResult` after a real commit   | has the writes           |
//! | commit     | `CommitUnknownResult` without committing    | has nothing              |
//! | commit     | `Conflict`                                  | has nothing              |
//! | commit     | `TransactionTooOld`                         | has nothing              |
//! | any read   | `TransactionTooOld`                         | (the attempt is dropped) |
//!
//! Faults are drawn from one seeded generator, so a failing run repeats with its seed; or
//! they follow a script ([`FaultyBackend::scripted`]): "the 2nd commit reports
//! `CommitUnknownResult` after it applied", which is how a service tests its retry path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coditect_core::{
    kv::Result, CommitInfo, KvBackend, KvError, RangeOptions, RangePage, Transaction,
};

/// How often each fault happens, as probabilities per call.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// A commit really commits, then reports `CommitUnknownResult`.
    pub unknown_after_commit: f64,
    /// A commit is dropped and reports `CommitUnknownResult`.
    pub unknown_without_commit: f64,
    /// A commit is dropped and reports `Conflict`.
    pub conflict: f64,
    /// A commit is dropped and reports `TransactionTooOld`.
    pub too_old_at_commit: f64,
    /// A read fails with `TransactionTooOld`.
    pub too_old_at_read: f64,
}

impl FaultPlan {
    /// No faults: the wrapper passes everything through.
    pub const NONE: FaultPlan = FaultPlan {
        unknown_after_commit: 0.0,
        unknown_without_commit: 0.0,
        conflict: 0.0,
        too_old_at_commit: 0.0,
        too_old_at_read: 0.0,
    };

    /// Roughly one commit in three fails, one read in fifty.
    pub const HARSH: FaultPlan = FaultPlan {
        unknown_after_commit: 0.12,
        unknown_without_commit: 0.06,
        conflict: 0.08,
        too_old_at_commit: 0.04,
        too_old_at_read: 0.02,
    };
}

/// One fault a [script](FaultyBackend::scripted) injects at a given commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The commit applies, then reports `CommitUnknownResult` (the connection dropped after
    /// the cluster committed).
    UnknownAfterCommit,
    /// The commit is dropped and reports `CommitUnknownResult`.
    UnknownWithoutCommit,
    /// The commit is dropped and reports `Conflict`.
    Conflict,
    /// The commit is dropped and reports `TransactionTooOld`.
    TooOld,
}

/// How many faults of each kind were injected.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// `CommitUnknownResult` after the commit applied.
    pub unknown_after_commit: AtomicU64,
    /// `CommitUnknownResult` with nothing applied.
    pub unknown_without_commit: AtomicU64,
    /// Injected conflicts.
    pub conflict: AtomicU64,
    /// Injected too-old errors (reads and commits).
    pub too_old: AtomicU64,
    /// Commits that went through untouched.
    pub clean_commits: AtomicU64,
}

impl FaultStats {
    /// (unknown after commit, unknown without commit, conflict, too old, clean commits).
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.unknown_after_commit.load(Ordering::Relaxed),
            self.unknown_without_commit.load(Ordering::Relaxed),
            self.conflict.load(Ordering::Relaxed),
            self.too_old.load(Ordering::Relaxed),
            self.clean_commits.load(Ordering::Relaxed),
        )
    }
}

struct Shared {
    plan: FaultPlan,
    rng: Mutex<fastrand::Rng>,
    stats: Arc<FaultStats>,
    /// Faults still to inject; none once it reaches 0.
    budget: AtomicU64,
    /// Commits attempted through this wrapper so far.
    commits: AtomicU64,
    /// Scripted faults by commit number (from 1); they come on top of the plan's.
    script: Mutex<BTreeMap<u64, Fault>>,
}

impl Shared {
    /// A number in `[0, 1)` to compare with the plan's probabilities; 1 (no fault) once the
    /// budget is spent.
    fn roll(&self) -> f64 {
        if self.budget.load(Ordering::SeqCst) == 0 {
            return 1.0;
        }
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64()
    }

    fn count(&self, counter: fn(&FaultStats) -> &AtomicU64) {
        counter(&self.stats).fetch_add(1, Ordering::Relaxed);
        let _ = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// A [`KvBackend`] that injects the faults of a [`FaultPlan`] into the transactions of
/// another backend.
pub struct FaultyBackend {
    inner: Arc<dyn KvBackend>,
    shared: Arc<Shared>,
}

impl FaultyBackend {
    /// Wraps `inner`; faults are drawn from a generator seeded with `seed`.
    pub fn new(inner: Arc<dyn KvBackend>, plan: FaultPlan, seed: u64) -> Self {
        FaultyBackend {
            inner,
            shared: Arc::new(Shared {
                plan,
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
                stats: Arc::default(),
                budget: AtomicU64::new(u64::MAX),
                commits: AtomicU64::new(0),
                script: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Wraps `inner` with no random faults, only `script`: each `(n, fault)` makes the n-th
    /// commit through this wrapper (counting from 1, every commit counted, failed ones too)
    /// fail with `fault`. An [`UnknownAfterCommit`](Fault::UnknownAfterCommit) whose commit
    /// cannot apply (it really conflicts) returns that error and moves to the next commit. `scripted(db, [(1, Fault::UnknownAfterCommit)])` makes the first
    /// commit apply and then report `CommitUnknownResult`.
    pub fn scripted(
        inner: Arc<dyn KvBackend>,
        script: impl IntoIterator<Item = (u64, Fault)>,
    ) -> Self {
        let backend = FaultyBackend::new(inner, FaultPlan::NONE, 0);
        backend
            .shared
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(script);
        backend
    }

    /// Adds `fault` at the `n`-th commit counted from the commits made so far: `then(1, f)`
    /// makes the next commit fail with `f`.
    pub fn then(&self, n: u64, fault: Fault) {
        let at = self.shared.commits.load(Ordering::SeqCst) + n.max(1);
        self.shared
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(at, fault);
    }

    /// Commits attempted through this wrapper so far (failed ones included).
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::SeqCst)
    }

    /// Stops injecting after `faults` faults: `limited(1)` with a probability of 1 makes
    /// exactly the first call at that point fail.
    pub fn limited(self, faults: u64) -> Self {
        self.shared.budget.store(faults, Ordering::SeqCst);
        self
    }

    /// What was injected so far.
    pub fn stats(&self) -> Arc<FaultStats> {
        self.shared.stats.clone()
    }
}

#[async_trait]
impl KvBackend for FaultyBackend {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(FaultyTx {
            inner: self.inner.begin().await?,
            shared: self.shared.clone(),
        }))
    }
}

struct FaultyTx {
    inner: Box<dyn Transaction>,
    shared: Arc<Shared>,
}

impl FaultyTx {
    fn read_fault(&self) -> Result<()> {
        if self.shared.roll() < self.shared.plan.too_old_at_read {
            self.shared.count(|s| &s.too_old);
            return Err(KvError::TransactionTooOld);
        }
        Ok(())
    }
}

#[async_trait]
impl Transaction for FaultyTx {
    async fn read_version(&self) -> Result<u64> {
        self.inner.read_version().await
    }
    async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        self.read_fault()?;
        self.inner.get(key, snapshot).await
    }
    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        self.read_fault()?;
        self.inner.get_range(begin, end, options).await
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.set(key, value)
    }
    fn clear(&self, key: &[u8]) -> Result<()> {
        self.inner.clear(key)
    }
    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(&self, key: &[u8], offset: u32, value: &[u8]) -> Result<()> {
        self.inner.set_versionstamped_key(key, offset, value)
    }
    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.inner.add_read_conflict_range(begin, end)
    }
    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.inner.add_write_conflict_range(begin, end)
    }
    async fn commit(self: Box<Self>) -> Result<CommitInfo> {
        let FaultyTx { inner, shared } = *self;
        let n = shared.commits.fetch_add(1, Ordering::SeqCst) + 1;
        let scripted = shared
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&n);
        match scripted {
            Some(Fault::UnknownAfterCommit) => {
                if let Err(error) = inner.commit().await {
                    // The commit did not apply (a real conflict), so the fault asked for
                    // ("applied, then unknown") has not happened: it moves to the next
                    // commit, or the test that scripted it would never see it.
                    let next = shared.commits.load(Ordering::SeqCst) + 1;
                    shared
                        .script
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(next)
                        .or_insert(Fault::UnknownAfterCommit);
                    return Err(error);
                }
                shared.count(|s| &s.unknown_after_commit);
                return Err(KvError::CommitUnknownResult);
            }
            Some(fault) => {
                let (error, counter): (KvError, fn(&FaultStats) -> &AtomicU64) = match fault {
                    Fault::UnknownWithoutCommit => {
                        (KvError::CommitUnknownResult, |s| &s.unknown_without_commit)
                    }
                    Fault::Conflict => (KvError::Conflict, |s| &s.conflict),
                    _ => (KvError::TransactionTooOld, |s| &s.too_old),
                };
                shared.count(counter);
                return Err(error);
            }
            None => {}
        }
        let plan = shared.plan;
        let mut roll = shared.roll();
        // Failures that leave nothing behind: the transaction is dropped uncommitted.
        for (p, error, counter) in [
            (
                plan.conflict,
                KvError::Conflict,
                (|s| &s.conflict) as fn(&FaultStats) -> &AtomicU64,
            ),
            (plan.too_old_at_commit, KvError::TransactionTooOld, |s| {
                &s.too_old
            }),
            (
                plan.unknown_without_commit,
                KvError::CommitUnknownResult,
                |s| &s.unknown_without_commit,
            ),
        ] {
            if roll < p {
                shared.count(counter);
                return Err(error);
            }
            roll -= p;
        }
        let info = inner.commit().await?;
        if roll < plan.unknown_after_commit {
            shared.count(|s| &s.unknown_after_commit);
            return Err(KvError::CommitUnknownResult);
        }
        shared.count(|s| &s.clean_commits);
        Ok(info)
    }
}
