//! The store's exclusive lock, taken before sled opens anything.
//!
//! sled locks its own data file too, but only after it has created files in the directory,
//! and its error does not say which store is busy. Ours comes first, in two parts:
//!
//! - Within this process, a registry of open store directories refuses a second opener at
//!   once.
//! - Across processes, an advisory `flock` on `coditect-sled.lock`. The OS drops it when the
//!   holder dies, so a crashed writer never leaves a stale lock. A child process spawned by
//!   this one shares the lock for the instant between its fork and its exec, so the lock may
//!   look taken just after a store of this process closed; while that can be the reason, an
//!   opener retries for [`LOCK_PATIENCE`] before it reports the store busy.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use coditect_core::kv::Result;

use crate::errors::open_failed;

/// The lock file's name inside the store directory.
pub(crate) const LOCK_FILE: &str = "coditect-sled.lock";

/// How long an opener retries a lock held by another process before giving up.
const LOCK_PATIENCE: Duration = Duration::from_millis(500);

/// Store directories (canonical paths) open in this process.
static OPEN_HERE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn open_here() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // The set is consistent after every insert or remove, so a poisoned lock is still usable.
    OPEN_HERE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct StoreLock {
    canonical: PathBuf,
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store directory `dir` (which must exist).
    pub(crate) fn acquire(dir: &Path) -> Result<StoreLock> {
        let canonical = dir
            .canonicalize()
            .map_err(|e| open_failed(dir, "cannot resolve its path", Some(Box::new(e))))?;
        if !open_here().insert(canonical.clone()) {
            return Err(open_failed(dir, "it is already open in this process", None));
        }
        match lock_file(dir) {
            Ok(file) => Ok(StoreLock {
                canonical,
                _file: file,
            }),
            Err(error) => {
                open_here().remove(&canonical);
                Err(error)
            }
        }
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        open_here().remove(&self.canonical);
    }
}

fn lock_file(dir: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| open_failed(dir, "cannot create its lock file", Some(Box::new(e))))?;
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(open_failed(
                    dir,
                    "it is already open (locked by another process)",
                    None,
                ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(open_failed(dir, "cannot lock it", Some(Box::new(e))))
            }
        }
    }
}
