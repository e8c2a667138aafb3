//! The FoundationDB client's network thread: started once per process, stopped once.
//!
//! The C client runs every transaction on one network thread, which a process may start only
//! once (API version 730 is selected at the same time) and never restart after stopping. The
//! `foundationdb` 0.11 crate's `boot` runs it on a thread that panics when the run loop fails
//! (leaving every future waiting), so this module runs the loop on a thread of its own from the
//! crate's lower-level `NetworkBuilder::build`, and records such a failure. It is undefined
//! behaviour to exit the process with the thread still running. Since
//! [`FdbBackend`](crate::FdbBackend)s are opened from anywhere (the CLI, every test of a test
//! binary), the guard that stops and joins the thread lives here, in a process-wide static:
//!
//! - [`boot`] starts the network the first time and is a no-op afterwards; a failure is kept
//!   and returned again ([`boot_state`](crate::boot_state));
//! - [`stop_network`] stops it for good (a clean shutdown: call it last, after every
//!   transaction is finished);
//! - an `atexit` hook, registered by the first [`boot`], stops it at process exit when nobody
//!   did, the way later versions of the `foundationdb` crate do it themselves. Handlers run in
//!   reverse order of registration, so the hook runs before the client library's own clean-up,
//!   which was registered when the library was loaded.
//!
//! This is the only module of the crate with `unsafe` code.

#![allow(unsafe_code)]

use std::thread::JoinHandle;

use coditect_core::kv::Result;
use foundationdb::api::{FdbApiBuilder, NetworkStop};
use foundationdb::FdbError;

use crate::boot_state::{BootFailure, NetworkCell};

/// What keeps the network running: dropping it stops the network and joins its thread.
struct Running {
    stop: Option<NetworkStop>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            if let Err(error) = stop.stop() {
                eprintln!("coditect-fdb: stopping the FoundationDB network failed: {error}");
            }
        }
        if let Some(thread) = self.thread.take() {
            // The network thread itself never drops this (see `run_network`), so this is not
            // a self-join.
            let _ = thread.join();
        }
    }
}

static NETWORK: NetworkCell<Running> = NetworkCell::new();

fn failure(what: &str, error: FdbError) -> BootFailure {
    BootFailure {
        code: Some(error.code()),
        message: format!("{what}: {} ({})", error.message(), error.code()),
    }
}

/// Selects API version 730, sets the network up and runs it on a thread of its own.
fn start() -> std::result::Result<Running, BootFailure> {
    let builder = FdbApiBuilder::default().build().map_err(|e| {
        failure(
            "the FoundationDB client library refused API version 730 (libfdb_c older than 7.3?)",
            e,
        )
    })?;
    let (runner, wait) = builder
        .build()
        .map_err(|e| failure("setting up the FoundationDB network failed", e))?;
    // SAFETY: the network is stopped before the process exits: `Running` is kept in
    // `NETWORK` and dropped by `stop_network` or, at the latest, by the atexit hook below.
    let thread = std::thread::Builder::new()
        .name("fdb-network".into())
        .spawn(move || run_network(runner))
        .map_err(|e| BootFailure {
            code: None,
            message: format!("cannot spawn the FoundationDB network thread: {e}"),
        })?;
    let stop = wait.wait();
    // SAFETY: registers a plain `extern "C" fn` that does not unwind.
    if unsafe { libc::atexit(stop_at_exit) } != 0 {
        // Cannot happen on Linux (glibc grows its list); without the hook the process must
        // call `stop_network` itself, so say so.
        eprintln!(
            "coditect-fdb: could not register the atexit hook; call stop_network() before exiting"
        );
    }
    Ok(Running {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The network thread's body. When the run loop ends with an error, the failure is stored so
/// that every later call says so instead of waiting on futures nobody will complete.
fn run_network(runner: foundationdb::api::NetworkRunner) {
    // SAFETY: see `start`.
    if let Err(error) = unsafe { runner.run() } {
        if let Some(mut running) =
            NETWORK.fail(failure("the FoundationDB network thread failed", error))
        {
            // This is the network thread: it must not join itself, and the loop has ended.
            running.thread.take();
            running.stop.take();
        }
    }
}

/// Starts FoundationDB's network thread with API version 730, once per process; later calls
/// return at once. [`FdbBackend::open`](crate::FdbBackend::open) calls it, so callers rarely
/// need to.
///
/// Errors, each returned again by every later call (the client cannot be set up twice): when
/// the installed client library is older than 7.3 (`api_version_not_supported`, 2203), when
/// the network cannot be set up, after the network thread failed, and after [`stop_network`].
/// A missing libfdb_c is reported earlier, by the dynamic loader, when the program starts.
pub fn boot() -> Result<()> {
    NETWORK.boot(start)
}

/// Whether the network can serve a transaction: an error once it failed or was stopped.
pub(crate) fn check_network() -> Result<()> {
    NETWORK.check()
}

/// Stops FoundationDB's network thread and waits for it to end. Every FoundationDB operation
/// fails afterwards, in every thread, and [`boot`] cannot start it again. Idempotent.
///
/// A process that never calls it is still stopped cleanly at exit (see the module docs); a
/// server calls it at the end of its shutdown, after its last transaction.
pub fn stop_network() {
    // Dropped outside the cell's lock: stopping joins the network thread.
    drop(NETWORK.stop());
}

extern "C" fn stop_at_exit() {
    // A panic must not unwind out of an `extern "C"` fn.
    let _ = std::panic::catch_unwind(stop_network);
}
