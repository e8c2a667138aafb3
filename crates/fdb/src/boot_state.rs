//! The life of FoundationDB's network thread as a state machine, apart from the client
//! library so that it is tested without libfdb_c (`cargo test -p coditect-fdb
//! --no-default-features`): the `network` module drives it with the real start.
//!
//! The `foundationdb` crate selects the API version once per process and panics on a second
//! try, even when the first failed (an older libfdb_c answers `api_version_not_supported`,
//! 2203); and a network thread that ends with an error leaves every future waiting. So a
//! failure is stored and every later [`NetworkCell::boot`] returns it, the start is never tried
//! again, and a network thread that died makes the same error of every later call.

use std::sync::{Mutex, MutexGuard, PoisonError};

use coditect_core::{kv::Result, KvError};

/// Why the network is not usable: kept to be returned again, since [`KvError`] is not `Clone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFailure {
    /// FoundationDB's code, when there is one.
    pub code: Option<i32>,
    /// What went wrong.
    pub message: String,
}

impl BootFailure {
    fn to_error(&self) -> KvError {
        KvError::Backend {
            code: self.code,
            message: self.message.clone(),
            source: None,
        }
    }
}

/// Where the process is in the network's life. It only moves forward.
enum State<G> {
    NotStarted,
    /// Held only to be dropped: dropping it stops the network.
    Running(G),
    /// Starting failed, or the network thread ended with an error.
    Failed(BootFailure),
    Stopped,
}

/// The network's state, for one process (a static) or one test. `G` is what keeps the network
/// running until dropped.
pub struct NetworkCell<G> {
    state: Mutex<State<G>>,
}

impl<G> Default for NetworkCell<G> {
    fn default() -> Self {
        Self::new()
    }
}

impl<G> NetworkCell<G> {
    /// A network not started yet.
    pub const fn new() -> Self {
        NetworkCell {
            state: Mutex::new(State::NotStarted),
        }
    }

    /// Every transition leaves the state consistent before anything that can panic.
    fn lock(&self) -> MutexGuard<'_, State<G>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `start` the first time only; its failure is kept and returned by this and every
    /// later call, which never runs `start` again. After [`stop`](Self::stop), an error.
    pub fn boot(&self, start: impl FnOnce() -> std::result::Result<G, BootFailure>) -> Result<()> {
        let mut state = self.lock();
        match &*state {
            State::Running(_) => Ok(()),
            State::Failed(failure) => Err(failure.to_error()),
            State::Stopped => Err(KvError::backend(
                "the FoundationDB network was stopped and cannot be restarted in this process",
            )),
            State::NotStarted => match start() {
                Ok(guard) => {
                    *state = State::Running(guard);
                    Ok(())
                }
                Err(failure) => {
                    let error = failure.to_error();
                    *state = State::Failed(failure);
                    Err(error)
                }
            },
        }
    }

    /// Whether the network can serve transactions: `Ok` only while running.
    pub fn check(&self) -> Result<()> {
        match &*self.lock() {
            State::Running(_) => Ok(()),
            State::Failed(failure) => Err(failure.to_error()),
            State::NotStarted => Err(KvError::backend("the FoundationDB network is not started")),
            State::Stopped => Err(KvError::backend("the FoundationDB network was stopped")),
        }
    }

    /// The network thread ended with `failure`: every later call returns it. The guard is
    /// returned to the caller to drop (outside the lock).
    pub fn fail(&self, failure: BootFailure) -> Option<G> {
        let previous = std::mem::replace(&mut *self.lock(), State::Failed(failure));
        match previous {
            State::Running(guard) => Some(guard),
            _ => None,
        }
    }

    /// Stops for good; returns the guard for the caller to drop outside the lock.
    pub fn stop(&self) -> Option<G> {
        let mut state = self.lock();
        if matches!(*state, State::Failed(_)) {
            return None;
        }
        match std::mem::replace(&mut *state, State::Stopped) {
            State::Running(guard) => Some(guard),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn too_old_library() -> BootFailure {
        BootFailure {
            code: Some(2203),
            message: "api_version_not_supported".into(),
        }
    }

    #[test]
    fn a_failed_start_is_returned_again_and_never_retried() {
        let cell: NetworkCell<()> = NetworkCell::new();
        let starts = Cell::new(0);
        let start = || {
            starts.set(starts.get() + 1);
            Err(too_old_library())
        };
        for _ in 0..3 {
            match cell.boot(start) {
                Err(KvError::Backend { code, message, .. }) => {
                    assert_eq!(code, Some(2203));
                    assert!(message.contains("api_version_not_supported"));
                }
                other => panic!("expected the stored failure, got {other:?}"),
            }
        }
        assert_eq!(starts.get(), 1, "the start ran once");
        assert!(cell.check().is_err());
        assert!(cell.stop().is_none());
        assert!(
            matches!(
                cell.boot(|| Ok(())),
                Err(KvError::Backend {
                    code: Some(2203),
                    ..
                })
            ),
            "still the failure, not a restart"
        );
    }

    #[test]
    fn a_started_network_boots_once_then_stops_for_good() {
        let cell: NetworkCell<&'static str> = NetworkCell::new();
        assert!(cell.check().is_err());
        cell.boot(|| Ok("guard")).unwrap();
        cell.boot(|| panic!("not started twice")).unwrap();
        assert!(cell.check().is_ok());
        assert_eq!(cell.stop(), Some("guard"));
        assert_eq!(cell.stop(), None);
        assert!(cell.boot(|| Ok("again")).is_err());
    }

    #[test]
    fn a_network_thread_that_fails_makes_every_later_call_fail() {
        let cell: NetworkCell<u8> = NetworkCell::new();
        cell.boot(|| Ok(1)).unwrap();
        let failure = BootFailure {
            code: Some(1510),
            message: "the network thread ended".into(),
        };
        assert_eq!(cell.fail(failure), Some(1));
        assert!(matches!(
            cell.check(),
            Err(KvError::Backend {
                code: Some(1510),
                ..
            })
        ));
        assert!(matches!(
            cell.boot(|| Ok(2)),
            Err(KvError::Backend {
                code: Some(1510),
                ..
            })
        ));
    }
}
