//! Syncing sled's blob files, which sled 0.34 never syncs itself.
//!
//! sled writes a log entry too large for its log buffers (a tree node holding several large
//! values, for instance) to a file of its own under `blobs/`, with a plain `write` and no
//! `fsync`, and only the blob's name goes into the log. A flush then makes the log entry
//! durable but not the blob, so after a power loss the log could point at a blob that never
//! reached the disk. [`BlobSync::sync_new`] runs after every flush: it syncs each blob file
//! it has not synced before, then the directory so their names last too. Listing the
//! directory costs a few system calls per flush; blobs are rare, so syncing them is too.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

/// The blob files synced so far.
#[derive(Debug)]
pub(crate) struct BlobSync {
    dir: PathBuf,
    synced: Mutex<BTreeSet<OsString>>,
}

impl BlobSync {
    /// Watches `dir` (sled's `blobs` directory, which may not exist yet).
    pub(crate) fn new(dir: PathBuf) -> Self {
        BlobSync {
            dir,
            synced: Mutex::new(BTreeSet::new()),
        }
    }

    /// Syncs every blob file not synced before, and the directory when there was one.
    /// Returns how many files it synced.
    pub(crate) fn sync_new(&self) -> io::Result<usize> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        // Held across the syncs: two leaders never overlap (group commit), and a second
        // caller must not return before the first one's syncs are done.
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = BTreeSet::new();
        let mut new = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    // sled removed it meanwhile (garbage collection): nothing to keep.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new += 1;
            }
            present.insert(name);
        }
        if new > 0 {
            File::open(&self.dir)?.sync_all()?;
        }
        // Forget blobs sled has removed, so the set stays as small as the directory.
        *synced = present;
        Ok(new)
    }
}
