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
//! sled 0.34 adds a twist: a flush holds a process-wide lock that `apply_batch` waits for, so
//! no batch is applied while a flush runs, and a leader that flushed at once would find only
//! itself to cover. So, like PostgreSQL's `commit_delay`, a leader that follows a flush which
//! covered several commits (committers overlap) first gathers: it waits until as many commits
//! are pending as the last flush covered, or half the last flush's duration at most (capped at
//! [`MAX_GATHER`]). A lone committer never waits: its flushes cover one commit each.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use coditect_core::Result;

/// The longest a leader waits for more commits to share its flush.
pub(crate) const MAX_GATHER: Duration = Duration::from_millis(1);

/// The flush state shared by committers.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    state: Mutex<FlushState>,
    /// Signalled when a flush ends.
    flushed: Condvar,
    /// Signalled when a batch is applied while a leader gathers.
    gathered: Condvar,
    max_gather: Duration,
}

#[derive(Debug, Default)]
struct FlushState {
    /// The version of the last batch applied to the store.
    applied: u64,
    /// Every version up to this one is durable.
    durable_through: u64,
    /// A leader is gathering or flushing now.
    flushing: bool,
    /// The leader is gathering: wake it when a batch is applied.
    gathering: bool,
    /// Commits the last successful flush made durable.
    last_group: u64,
    /// How long the last flush took.
    last_flush: Duration,
    /// Flushes started, for tests and stats.
    flushes: u64,
}

impl GroupCommit {
    /// A coordinator for a store whose batches through `version` are already durable.
    pub(crate) fn new(version: u64) -> Self {
        GroupCommit::with_max_gather(version, MAX_GATHER)
    }

    fn with_max_gather(version: u64, max_gather: Duration) -> Self {
        GroupCommit {
            state: Mutex::new(FlushState {
                applied: version,
                durable_through: version,
                ..FlushState::default()
            }),
            flushed: Condvar::new(),
            gathered: Condvar::new(),
            max_gather,
        }
    }

    /// Records that the batch of `version` is applied (call after the store holds it).
    pub(crate) fn applied(&self, version: u64) {
        let mut state = self.lock();
        state.applied = state.applied.max(version);
        if state.gathering {
            self.gathered.notify_one();
        }
    }

    /// Flushes started so far.
    pub(crate) fn flushes(&self) -> u64 {
        self.lock().flushes
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
                state = self.gather(state);
                // Read before the flush starts: it covers every batch applied by now, ours
                // among them.
                let target = state.applied.max(version);
                let before = state.durable_through;
                state.flushes += 1;
                drop(state);
                let started = Instant::now();
                let result = flush();
                let took = started.elapsed();
                let mut state = self.lock();
                state.flushing = false;
                if result.is_ok() {
                    // Only a leader moves `durable_through`, and there is one at a time.
                    state.durable_through = target;
                    state.last_group = target - before;
                    state.last_flush = took;
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

    /// As the leader, waits for more commits to share the flush when the last flush covered
    /// several (see the module documentation).
    fn gather<'a>(&self, mut state: MutexGuard<'a, FlushState>) -> MutexGuard<'a, FlushState> {
        if state.last_group <= 1 {
            return state;
        }
        let deadline = Instant::now() + (state.last_flush / 2).min(self.max_gather);
        state.gathering = true;
        while state.applied - state.durable_through < state.last_group {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .gathered
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        state.gathering = false;
        state
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
    use std::time::Duration;

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

    /// After a flush that covered 3 commits, the next leader waits for 3 pending commits
    /// before it flushes, so the commits applied meanwhile need no flush of their own.
    #[test]
    fn a_leader_after_a_shared_flush_gathers_the_next_group() {
        let group = Arc::new(GroupCommit::with_max_gather(0, Duration::from_secs(5)));
        group.applied(3);
        group
            .sync(3, || {
                // Long enough that half of it, the gathering limit, is generous.
                thread::sleep(Duration::from_millis(200));
                Ok(())
            })
            .expect("first flush");
        group.applied(4);
        let (flushed_tx, flushed_rx) = mpsc::channel();
        let leader = {
            let group = Arc::clone(&group);
            thread::spawn(move || {
                group.sync(4, || {
                    flushed_tx.send(()).expect("send");
                    Ok(())
                })
            })
        };
        group.applied(5);
        group.applied(6);
        leader.join().expect("leader").expect("leader flush");
        flushed_rx.recv().expect("the leader flushed");
        group
            .sync(5, || panic!("5 was gathered into the leader's flush"))
            .expect("5 durable");
        group
            .sync(6, || panic!("6 was gathered into the leader's flush"))
            .expect("6 durable");
        assert_eq!(group.flushes(), 2);
    }

    #[test]
    fn a_lone_committer_does_not_wait() {
        let group = GroupCommit::with_max_gather(0, Duration::from_secs(3600));
        for version in 1..=3 {
            group.applied(version);
            group.sync(version, || Ok(())).expect("flush");
        }
        assert_eq!(group.flushes(), 3);
    }

    #[test]
    fn a_failed_flush_marks_nothing_durable_and_the_next_committer_retries() {
        let group = GroupCommit::new(0);
        group.applied(1);
        let failed = group.sync(1, || Err(coditect_core::Error::backend("disk full")));
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
