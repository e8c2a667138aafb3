//! The FoundationDB client's network thread: started once per process, stopped once.
//!
//! The C client runs every transaction on one network thread, which a process may start only
//! once (API version 730 is selected at the same time) and never restart after stopping. The
//! `foundationdb` 0.11 crate starts it with `unsafe fn boot`, returning a guard that stops and
//! joins the thread when dropped, and it is undefined behaviour to exit the process with the
//! thread still running. Since [`FdbBackend`](crate::FdbBackend)s are opened from anywhere
//! (the CLI, every test of a test binary), the guard lives here, in a process-wide static:
//!
//! - [`boot`] starts the network the first time and is a no-op afterwards;
//! - [`stop_network`] stops it for good (a clean shutdown: call it last, after every
//!   transaction is finished);
//! - an `atexit` hook, registered by the first [`boot`], stops it at process exit when nobody
//!   did, the way later versions of the `foundationdb` crate do it themselves. Handlers run in
//!   reverse order of registration, so the hook runs before the client library's own clean-up,
//!   which was registered when the library was loaded.
//!
//! This is the only module of the crate with `unsafe` code.

#![allow(unsafe_code)]

use std::sync::{Mutex, MutexGuard, PoisonError};

use coditect_core::{Error, Result};
use foundationdb::api::{FdbApiBuilder, NetworkAutoStop};

use crate::native_error::from_fdb;

/// Where the process is in the network's life. It only moves forward.
enum Network {
    NotStarted,
    /// Held only to be dropped: dropping it stops the network and joins its thread.
    Running {
        _stop_on_drop: NetworkAutoStop,
    },
    Stopped,
}

static NETWORK: Mutex<Network> = Mutex::new(Network::NotStarted);

/// The state, even if a thread panicked while holding the lock: every transition below leaves
/// it consistent before anything that can panic.
fn network() -> MutexGuard<'static, Network> {
    NETWORK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts FoundationDB's network thread with API version 730, once per process; later calls
/// return at once. [`FdbBackend::open`](crate::FdbBackend::open) calls it, so callers rarely
/// need to.
///
/// Errors: after [`stop_network`] (the client cannot restart), and when the installed client
/// library is older than 7.3 (`api_version_not_supported`, 2203). A missing libfdb_c is
/// reported earlier, by the dynamic loader, when the program starts.
pub fn boot() -> Result<()> {
    let mut state = network();
    match *state {
        Network::Running { .. } => Ok(()),
        Network::Stopped => Err(Error::backend(
            "the FoundationDB network was stopped and cannot be restarted in this process",
        )),
        Network::NotStarted => {
            // `build` selects the API version; it panics if called twice, which the state
            // machine rules out.
            let builder = FdbApiBuilder::default().build().map_err(from_fdb)?;
            // SAFETY: the guard is kept in `NETWORK` and dropped (network stopped, thread
            // joined) by `stop_network` or, at the latest, by the atexit hook below.
            let guard = unsafe { builder.boot() }.map_err(from_fdb)?;
            // SAFETY: registers a plain `extern "C" fn` that does not unwind.
            if unsafe { libc::atexit(stop_at_exit) } != 0 {
                // Cannot happen on Linux (glibc grows its list); without the hook the process
                // must call `stop_network` itself, so say so.
                eprintln!("coditect-fdb: could not register the atexit hook; call stop_network() before exiting");
            }
            *state = Network::Running {
                _stop_on_drop: guard,
            };
            Ok(())
        }
    }
}

/// Stops FoundationDB's network thread and waits for it to end. Every FoundationDB operation
/// fails afterwards, in every thread, and [`boot`] cannot start it again. Idempotent.
///
/// A process that never calls it is still stopped cleanly at exit (see the module docs); a
/// server calls it at the end of its shutdown, after its last transaction.
pub fn stop_network() {
    let previous = std::mem::replace(&mut *network(), Network::Stopped);
    // Dropping the guard stops the network and joins its thread (outside the lock).
    drop(previous);
}

extern "C" fn stop_at_exit() {
    // A panic must not unwind out of an `extern "C"` fn; the guard's own drop aborts the
    // process when the network cannot be stopped, which is the only safe way out then.
    let _ = std::panic::catch_unwind(stop_network);
}
