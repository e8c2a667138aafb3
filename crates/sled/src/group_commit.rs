//! Group commit: concurrent committers share one flush.
//!
//! The engine applies batches one at a time under its commit lock and then, outside it, asks
//! the store to make the commit's version durable. A flush that *starts* after a batch was
//! applied covers that batch (sled's flush makes every write reserved before it stable). So
//! one committer at a time leads: it notes the last applied version, flushes, and marks
//! everything up to that version durable; committers arriving meanwhile wait for it and
//! return at once if its flush covered them, or lead the next flush if not.
//!
//! ```text
//! applied:  5        6  7  8                     (batches, under the engine's lock)
//! flush:    [lead 5 ......]  [lead 8 ......]     6, 7, 8 wait, then share one flush
//! ```
//!
//! This works because commits are applied while a flush runs (the store does not use
//! `sled::Batch`, whose process-wide lock every flush holds; see the `store` module).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use coditect_core::kv::Result;

/// The flush state shared by committers.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<FlushState>,
    flushed: Condvar,
    /// The version of the last batch applied to the store; set after the batch is in.
    applied: AtomicU64,
    /// Flushes started, for tests and stats.
    flushes: AtomicU64,
}

#[derive(Debug, Default)]
struct FlushState {
    /// Every version up to this one is durable.
    durable_through: u64,
    /// A leader is flushing now.
    flushing: bool,
}

impl GroupCommit {
    /// A coordinator for a store whose batches through `version` are already durable.
    pub(crate) fn new(version: u64) -> Self {
        GroupCommit {
            state: Mutex::new(FlushState {
                durable_through: version,
                flushing: false,
            }),
            applied: AtomicU64::new(version),
            ..GroupCommit::default()
        }
    }

    /// Records that the batch of `version` is applied (call after the store holds it).
    pub(crate) fn applied(&self, version: u64) {
        self.applied.fetch_max(version, Ordering::SeqCst);
    }

    /// Flushes started so far.
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Returns once `version` (already applied) is durable, running `flush` as the leader if
    /// no flush that covers it is done or under way. An error of the leader's flush goes to
    /// the leader; waiting committers then try a flush of their own.
    pub(crate) fn sync(&self, version: u64, flush: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut state = self.lock();
        loop {
            if state.durable_through >= version {
                return Ok(());
            }
            if !state.flushing {
                state.flushing = true;
                // Read before the flush starts: it covers every batch applied by now, and
                // ours is among them, so target >= version.
                let target = self.applied.load(Ordering::SeqCst).max(version);
                drop(state);
                self.flushes.fetch_add(1, Ordering::Relaxed);
                let result = flush();
                let mut state = self.lock();
                state.flushing = false;
                if result.is_ok() {
                    state.durable_through = state.durable_through.max(target);
                }
                self.flushed.notify_all();
                return result;
            }
            state = self
                .flushed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, FlushState> {
        // Every critical section leaves the state consistent before anything can panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn a_version_already_durable_needs_no_flush() {
        let group = GroupCommit::new(7);
        group
            .sync(7, || panic!("no flush needed"))
            .expect("durable already");
        assert_eq!(group.flushes(), 0);
    }

    /// While one leader flushes version 1, batches 2..=5 are applied and their committers
    /// arrive: whenever each of them arrives, one more flush covers all four.
    #[test]
    fn committers_arriving_during_a_flush_share_the_next_one() {
        let group = Arc::new(GroupCommit::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        group.applied(1);
        let leader = {
            let group = Arc::clone(&group);
            thread::spawn(move || {
                group.sync(1, || {
                    started_tx.send(()).expect("send");
                    release_rx.recv().expect("release");
                    Ok(())
                })
            })
        };
        started_rx.recv().expect("leader started");
        for version in 2..=5 {
            group.applied(version);
        }
        let followers: Vec<_> = (2..=5)
            .map(|version| {
                let group = Arc::clone(&group);
                thread::spawn(move || group.sync(version, || Ok(())))
            })
            .collect();
        release_tx.send(()).expect("release");
        leader.join().expect("leader").expect("leader flush");
        for follower in followers {
            follower.join().expect("follower").expect("follower sync");
        }
        assert_eq!(group.flushes(), 2);
    }

    #[test]
    fn a_failed_flush_marks_nothing_durable_and_the_next_committer_retries() {
        let group = GroupCommit::new(0);
        group.applied(1);
        let failed = group.sync(1, || Err(coditect_core::KvError::backend("disk full")));
        assert!(failed.is_err());
        let mut flushed = false;
        group
            .sync(1, || {
                flushed = true;
                Ok(())
            })
            .expect("second flush");
        assert!(flushed);
        assert_eq!(group.flushes(), 2);
    }
}
