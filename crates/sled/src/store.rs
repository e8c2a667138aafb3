//! [`SledStore`]: the engine's [`BaseStore`] over one sled tree, and how it is opened.
//!
//! ## How a commit is atomic
//!
//! A commit first stores its [commit record](crate::commit_record) (its version and all its
//! writes, one value under one key), then applies the writes one by one. sled recovers a
//! prefix of its log after a crash, so recovery finds either no record of the commit, and
//! then none of its writes, which came after the record in the log, or the record, which
//! [`SledStore::open`] applies again (writes of the final values are idempotent), completing
//! the commit. The crash tests check exactly this.
//!
//! Why not one `sled::Batch`, which sled recovers all or nothing by itself: sled 0.34 applies
//! a batch under a process-wide lock that every flush holds for its whole duration, so no
//! commit could be applied while a flush runs and concurrent committers could not share
//! flushes (group commit). Single inserts do not take that lock. In the sled bench on the
//! 2-core development machine, 8 durable committers reached about 2x the commits/s of one
//! with batches and about 3.2x with this; a non-durable commit went from 16 µs to 3.4 µs.

use std::fs::{self, File};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coditect_core::{kv::Result, KeyValue, KvError};
use coditect_engine::{BaseStore, CommitBatch, EngineOptions};

use crate::blobs::BlobSync;
use crate::commit_record;
use crate::errors::{from_sled, open_failed};
use crate::group_commit::GroupCommit;
use crate::layout::{data_key, user_key, COMMIT_KEY, DATA, FORMAT, FORMAT_KEY};
use crate::lock::{StoreLock, LOCK_FILE};

/// How a sled store is opened.
#[derive(Debug, Clone)]
pub struct SledOptions {
    /// Whether a commit returns only once it is on disk (the default). `false` trades the
    /// last half second of commits on a crash for speed: for tests and throw-away data.
    pub sync: bool,
    /// The most memory sled's page cache may hold, in bytes.
    pub cache_capacity_bytes: u64,
    /// Options of the engine on top (its clock).
    pub engine: EngineOptions,
    /// Whether opening a path where no store exists creates one (the default). `false` is for
    /// tools that only read: a mistyped path is then an error naming it instead of a new,
    /// empty store.
    pub create: bool,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            sync: true,
            cache_capacity_bytes: 256 * 1024 * 1024,
            engine: EngineOptions::default(),
            create: true,
        }
    }
}

/// The base store of [`SledBackend`](crate::SledBackend): user keys and the store's own
/// records in one sled tree (see the `layout` module); each engine commit is stored as its
/// commit record, then its writes (see the module documentation).
pub struct SledStore {
    // Field order is drop order: sled closes (flushing and releasing its own file lock)
    // before our lock lets another opener in.
    db: sled::Db,
    /// sled's data file, opened again so a sync can `fdatasync` it (see `flush`).
    data_file: File,
    blobs: BlobSync,
    group: GroupCommit,
    /// Set when applying a commit failed part way: the store refuses all further work, since
    /// it may hold part of that commit (reopening completes it from its record).
    failed: AtomicBool,
    sync: bool,
    recovered: u64,
    path: PathBuf,
    _lock: StoreLock,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// sled's own entries in a database directory; anything else means the directory is not ours.
fn is_sled_entry(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | LOCK_FILE) || name.starts_with("snap.")
}

impl SledStore {
    /// Opens the store in directory `path`, creating the directory and an empty store when
    /// `path` does not exist (unless [`SledOptions::create`] is `false`: then that is an
    /// error) or is an empty directory.
    ///
    /// Errors ([`KvError::Backend`] naming `path`): `path` is a file or a directory holding
    /// anything besides a coditect-sled store; the store is open already, in this process or
    /// another; the sled database there lacks this crate's format marker; sled fails to open
    /// or recover it.
    pub fn open(path: impl AsRef<Path>, options: SledOptions) -> Result<SledStore> {
        let path = path.as_ref();
        let created = prepare_directory(path, options.create)?;
        let lock = StoreLock::acquire(path)?;
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_capacity_bytes);
        let db = open_sled(path, &config)?;
        check_format(path, &db)?;
        if created {
            // The store's directory entry must survive a crash as well as its contents.
            sync_directory(path).map_err(|e| open_failed(path, "fsync failed", Some(e.into())))?;
        }
        let recovered = recover_last_commit(path, &db)?;
        let data_file = File::open(path.join("db"))
            .map_err(|e| open_failed(path, "cannot open sled's data file", Some(e.into())))?;
        Ok(SledStore {
            db,
            data_file,
            blobs: BlobSync::new(path.join("blobs")),
            group: GroupCommit::new(recovered),
            failed: AtomicBool::new(false),
            sync: options.sync,
            recovered,
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes started since the store was opened: with group commit, fewer than the durable
    /// commits when committers overlap.
    pub fn flushes(&self) -> u64 {
        self.group.flushes()
    }

    /// Refuses work after a commit failed part way (see `failed`).
    fn check_usable(&self) -> Result<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(KvError::backend(format!(
                "the store in {} failed during a commit and must be reopened",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Makes everything applied so far durable: sled writes its log buffers and
    /// `sync_file_range`s them, which orders the data to disk but neither the file's metadata
    /// nor the drive's write cache, so the `fdatasync` after it completes the job; blob files,
    /// which sled never syncs, are synced too (see the `blobs` module).
    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(from_sled)?;
        self.data_file.sync_data()?;
        self.blobs.sync_new()?;
        Ok(())
    }
}

/// How long an opener waits for a closing sled instance of the same store to let go.
const SLED_LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// Opens sled under our lock. sled's own lock on its data file can outlive a closed store
/// for a moment (sled's background threads let go of the file last), so while sled says its
/// lock is taken, and only then, this retries: holding our lock, the holder can only be such a
/// closing instance in this process. A panic inside sled (it asserts on some shapes of damaged
/// files) reaches the caller as an error instead of taking the process down.
fn open_sled(path: &Path, config: &sled::Config) -> Result<sled::Db> {
    let deadline = Instant::now() + SLED_LOCK_PATIENCE;
    loop {
        match catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => return Ok(db),
            // sled 0.34 reports its lock as this message in an `Other` I/O error.
            Ok(Err(sled::Error::Io(e)))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(Err(e)) => return Err(open_failed(path, "sled failed", Some(Box::new(e)))),
            Err(_) => return Err(open_failed(path, "sled panicked while recovering it", None)),
        }
    }
}

/// Creates `path` when missing and `create` allows it (returning `true`) or checks that the
/// directory there is empty or holds only a sled database.
fn prepare_directory(path: &Path, create: bool) -> Result<bool> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => Err(open_failed(path, "it is not a directory", None)),
        Ok(_) => {
            let entries = fs::read_dir(path)
                .map_err(|e| open_failed(path, "cannot list it", Some(e.into())))?;
            let (mut empty, mut has_lock, mut has_sled) = (true, false, false);
            for entry in entries {
                let entry =
                    entry.map_err(|e| open_failed(path, "cannot list it", Some(e.into())))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !is_sled_entry(&name) {
                    return Err(open_failed(
                        path,
                        format!("it holds {name:?}, which is not part of a coditect-sled store"),
                        None,
                    ));
                }
                empty &= name == LOCK_FILE;
                has_lock |= name == LOCK_FILE;
                has_sled |= name == "db" || name == "conf";
            }
            // Only this crate creates the lock file, and before sled writes anything: sled
            // files without it are someone else's, and letting sled recover them could
            // rewrite them.
            if has_sled && !has_lock {
                return Err(open_failed(
                    path,
                    format!("it holds a sled database that coditect-sled did not create (no {LOCK_FILE})"),
                    None,
                ));
            }
            Ok(empty)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => Err(open_failed(
            path,
            "it does not exist (and this opener does not create stores)",
            None,
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(path)
                .map_err(|e| open_failed(path, "cannot create it", Some(e.into())))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_directory(parent)
                    .map_err(|e| open_failed(path, "fsync of its parent failed", Some(e.into())))?;
            }
            Ok(true)
        }
        Err(e) => Err(open_failed(path, "cannot read it", Some(e.into()))),
    }
}

/// Checks the format marker, writing it into a database that holds nothing at all: a new
/// store, or one whose creation crashed before the marker was flushed (the lock file, created
/// first, shows the directory was ours).
fn check_format(path: &Path, db: &sled::Db) -> Result<()> {
    let sled_failed = |e: sled::Error| open_failed(path, "sled failed", Some(Box::new(e)));
    match db.get(FORMAT_KEY).map_err(sled_failed)? {
        Some(format) if format.as_ref() == FORMAT => Ok(()),
        Some(format) => Err(open_failed(
            path,
            format!(
                "its format is {:?}; this build reads {:?}",
                String::from_utf8_lossy(&format),
                String::from_utf8_lossy(FORMAT)
            ),
            None,
        )),
        None => {
            let untouched = db.is_empty() && db.tree_names().len() == 1;
            if !untouched {
                return Err(open_failed(
                    path,
                    "it is a sled database without the coditect-sled format marker",
                    None,
                ));
            }
            db.insert(FORMAT_KEY, FORMAT).map_err(sled_failed)?;
            db.flush().map_err(sled_failed)?;
            Ok(())
        }
    }
}

/// Applies the last commit's record again (its writes may be only partly there after a
/// crash) and returns its version, 0 for a store that never committed.
fn recover_last_commit(path: &Path, db: &sled::Db) -> Result<u64> {
    let sled_failed = |e: sled::Error| open_failed(path, "sled failed", Some(Box::new(e)));
    let Some(record) = db.get(COMMIT_KEY).map_err(sled_failed)? else {
        return Ok(0);
    };
    let (version, writes) = commit_record::decode(&record)
        .map_err(|why| open_failed(path, format!("its commit record is damaged: {why}"), None))?;
    apply_writes(db, writes).map_err(sled_failed)?;
    Ok(version)
}

/// Applies writes one by one (see the module documentation for why not as a batch).
fn apply_writes(db: &sled::Db, writes: Vec<coditect_engine::Write>) -> sled::Result<()> {
    for (key, value) in writes {
        let mut stored = key;
        stored.insert(0, DATA);
        match value {
            Some(value) => db.insert(stored, value)?,
            None => db.remove(stored)?,
        };
    }
    Ok(())
}

fn sync_directory(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

impl BaseStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check_usable()?;
        let value = self.db.get(data_key(key)).map_err(from_sled)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, begin: &[u8], end: &[u8], reverse: bool, limit: usize) -> Result<Vec<KeyValue>> {
        self.check_usable()?;
        if begin >= end {
            return Ok(Vec::new());
        }
        let rows = self.db.range(data_key(begin)..data_key(end));
        let limit = limit.max(1);
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut push = |row: sled::Result<(sled::IVec, sled::IVec)>| -> Result<bool> {
            let (stored, value) = row.map_err(from_sled)?;
            let key = user_key(&stored).ok_or_else(|| {
                KvError::backend(format!(
                    "sled returned key {stored:?} outside the data range"
                ))
            })?;
            out.push(KeyValue {
                key: key.to_vec(),
                value: value.to_vec(),
            });
            Ok(out.len() < limit)
        };
        if reverse {
            for row in rows.rev() {
                if !push(row)? {
                    break;
                }
            }
        } else {
            for row in rows {
                if !push(row)? {
                    break;
                }
            }
        }
        Ok(out)
    }

    fn apply(&self, batch: CommitBatch) -> Result<()> {
        self.check_usable()?;
        let record = commit_record::encode(batch.version, &batch.writes);
        // Nothing of this commit is in the store until the record is: failing here leaves
        // the store as it was.
        self.db.insert(COMMIT_KEY, record).map_err(from_sled)?;
        if let Err(error) = apply_writes(&self.db, batch.writes) {
            self.failed.store(true, Ordering::SeqCst);
            return Err(KvError::Backend {
                code: None,
                message: format!(
                    "sled failed part way through commit {} in {}; the store refuses further \
                     use, and reopening it applies that commit whole",
                    batch.version,
                    self.path.display()
                ),
                source: Some(Box::new(error)),
            });
        }
        self.group.applied(batch.version);
        Ok(())
    }

    fn recovered_version(&self) -> Result<u64> {
        Ok(self.recovered)
    }

    fn needs_sync(&self) -> bool {
        self.sync
    }

    fn sync(&self, version: u64) -> Result<()> {
        self.check_usable()?;
        self.group.sync(version, || self.flush())
    }
}
