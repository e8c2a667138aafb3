//! The engine: sequencer, resolver and versioned window around a [`BaseStore`], handing out
//! [`EngineTx`] transactions. See the crate documentation for how the pieces fit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use coditect_core::limits::{MAX_READ_VERSION_AGE, MAX_TRANSACTION_SIZE};
use coditect_core::{kv::Result, versionstamp, CommitInfo, KvBackend, KvError, Transaction};

use crate::clock::{Clock, SystemClock};
use crate::ranges::{KeyRange, RangeSet};
use crate::resolver::{Resolver, Verdict};
use crate::store::{BaseStore, CommitBatch};
use crate::tx::EngineTx;
use crate::window::VersionedWindow;
use crate::write_buffer::{add_le, Pending, WriteBuffer};

/// How an [`Engine`] is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Where time comes from; tests pass a [`ManualClock`](crate::ManualClock).
    pub clock: Arc<dyn Clock>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: Arc::new(SystemClock::default()),
        }
    }
}

/// A FoundationDB-semantics transactional store over a [`BaseStore`]. Cheap to clone: clones
/// share one store.
pub struct Engine<S: BaseStore> {
    shared: Arc<Shared<S>>,
}

impl<S: BaseStore> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Engine {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Figures about the engine's memory, for tests that it stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// The latest version whose commit is visible to new transactions.
    pub visible_version: u64,
    /// (key, version) changes held in the versioned window.
    pub window_changes: usize,
    /// Commits whose write ranges the resolver holds.
    pub resolver_commits: usize,
    /// Transactions alive (begun and not yet dropped).
    pub live_transactions: usize,
}

pub(crate) struct Shared<S> {
    pub store: S,
    pub clock: Arc<dyn Clock>,
    /// The sequencer and resolver: one commit at a time goes through here.
    committer: Mutex<Committer>,
    /// New transactions read at this version; it moves once a commit is applied (and durable).
    visible: AtomicU64,
    pub window: RwLock<VersionedWindow>,
    /// Read versions of live transactions: version -> (count, latest start time).
    readers: Mutex<BTreeMap<u64, (usize, Duration)>>,
}

struct Committer {
    last_version: u64,
    resolver: Resolver,
}

impl<S: BaseStore> Engine<S> {
    /// An engine over `store`, continuing from the store's recovered version.
    pub fn new(store: S, options: EngineOptions) -> Result<Self> {
        let recovered = store.recovered_version()?;
        Ok(Engine {
            shared: Arc::new(Shared {
                store,
                clock: options.clock,
                committer: Mutex::new(Committer {
                    last_version: recovered,
                    resolver: Resolver::default(),
                }),
                visible: AtomicU64::new(recovered),
                window: RwLock::new(VersionedWindow::default()),
                readers: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The base store underneath.
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// Starts a transaction reading at the latest visible version. The statically typed
    /// counterpart of [`KvBackend::begin`].
    pub fn begin_tx(&self) -> EngineTx<S> {
        let now = self.shared.clock.now();
        let read_version = {
            // Registering under the same lock GC computes its horizon with means GC either
            // sees this reader or ran before it took a version no older than GC's horizon.
            let mut readers = lock(&self.shared.readers);
            let version = self.shared.visible.load(Ordering::SeqCst);
            let entry = readers.entry(version).or_insert((0, now));
            entry.0 += 1;
            entry.1 = entry.1.max(now);
            version
        };
        EngineTx::new(Arc::clone(&self.shared), read_version, now)
    }

    /// Memory figures of the engine.
    pub fn stats(&self) -> EngineStats {
        let resolver_commits = lock(&self.shared.committer).resolver.len();
        EngineStats {
            visible_version: self.shared.visible.load(Ordering::SeqCst),
            window_changes: read(&self.shared.window).len(),
            resolver_commits,
            live_transactions: lock(&self.shared.readers).values().map(|(n, _)| n).sum(),
        }
    }
}

#[async_trait]
impl<S: BaseStore> KvBackend for Engine<S> {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(self.begin_tx()))
    }
}

impl<S: BaseStore> Shared<S> {
    /// Forgets a dropped transaction's read version.
    pub fn release_reader(&self, read_version: u64) {
        let mut readers = lock(&self.readers);
        if let Some(entry) = readers.get_mut(&read_version) {
            entry.0 -= 1;
            if entry.0 == 0 {
                readers.remove(&read_version);
            }
        }
    }

    /// Whether a transaction that started at `started` has outlived its read version.
    pub fn is_too_old(&self, started: Duration) -> bool {
        self.clock.now().saturating_sub(started) > MAX_READ_VERSION_AGE
    }

    /// The value of `key` at `read_version`.
    pub fn read_at(&self, key: &[u8], read_version: u64) -> Result<Option<Vec<u8>>> {
        // Base first, window second: see the window module for why this order is safe.
        let latest = self.store.get(key)?;
        let window = read(&self.window);
        if window.horizon() > read_version {
            return Err(KvError::TransactionTooOld);
        }
        Ok(match window.value_at(key, read_version) {
            Some(previous) => previous.clone(),
            None => latest,
        })
    }

    /// Commits a transaction's buffered writes, checked against its reads.
    pub fn commit(
        &self,
        read_version: u64,
        started: Duration,
        reads: &RangeSet,
        buffer: WriteBuffer,
    ) -> Result<CommitInfo> {
        let mut reader = ReaderRegistration {
            shared: self,
            read_version,
            held: true,
        };
        if buffer.is_empty() {
            // Nothing to write: serializable at its read version already, however old (a
            // read-only FoundationDB commit never reaches the resolver).
            return Ok(CommitInfo {
                version: read_version,
                versionstamp: versionstamp(read_version, 0),
            });
        }
        // FoundationDB's resolver refuses a too-old commit only when it has read conflict
        // ranges (7.3.79, fdbserver/SkipList.cpp line 837): blind and snapshot-only writes still commit.
        if !reads.is_empty() && self.is_too_old(started) {
            return Err(KvError::TransactionTooOld);
        }
        if buffer.size() > MAX_TRANSACTION_SIZE {
            // Reads can add the last bytes; FoundationDB refuses such a commit with 2101.
            return Err(KvError::TransactionTooLarge {
                size: buffer.size(),
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        let version = {
            let mut committer = lock(&self.committer);
            match committer.resolver.check(read_version, reads) {
                Verdict::Clear => {}
                Verdict::Conflict => return Err(KvError::Conflict),
                Verdict::TooOld => return Err(KvError::TransactionTooOld),
            }
            reader.release();
            let version = committer.last_version + 1;
            let stamp = versionstamp(version, 0);
            let (batch, previous, write_ranges) = self.resolve_writes(version, &stamp, buffer)?;
            write(&self.window).record(version, previous);
            if let Err(error) = self.store.apply(batch) {
                write(&self.window).unrecord(version);
                return Err(error);
            }
            committer.resolver.record(version, write_ranges);
            committer.last_version = version;
            if !self.store.needs_sync() {
                self.publish(version, &mut committer);
            }
            version
        };
        if self.store.needs_sync() {
            // Outside the commit lock, so concurrent committers can share one sync.
            let synced = self.store.sync(version);
            // The batch is applied either way, and the next commit's publish would reveal it:
            // publish it now so versions stay in order.
            self.publish(version, &mut lock(&self.committer));
            if synced.is_err() {
                // Applied but maybe not durable: exactly FoundationDB's "maybe committed", which
                // is the kind a caller must act on (retry idempotently). The store's own error
                // is not carried: the contract's kind has no source, as in FoundationDB.
                return Err(KvError::CommitUnknownResult);
            }
        }
        Ok(CommitInfo {
            version,
            versionstamp: versionstamp(version, 0),
        })
    }

    /// Turns a write buffer into the point writes of a batch, the previous value of every key
    /// it changes (for the window) and its write conflict ranges (for the resolver). Runs under
    /// the commit lock, so the base store holds exactly the state before this commit.
    #[allow(clippy::type_complexity)]
    fn resolve_writes(
        &self,
        version: u64,
        stamp: &[u8],
        buffer: WriteBuffer,
    ) -> Result<(CommitBatch, Vec<(Vec<u8>, Option<Vec<u8>>)>, Vec<KeyRange>)> {
        let WriteBuffer {
            writes,
            cleared,
            stamped,
            write_conflicts,
            ..
        } = buffer;
        // key -> (previous, next)
        let mut changes: BTreeMap<Vec<u8>, (Option<Vec<u8>>, Option<Vec<u8>>)> = BTreeMap::new();
        let mut write_ranges = write_conflicts;
        for range in cleared.iter() {
            let mut begin = range.begin.clone();
            loop {
                let rows = self.store.scan(&begin, &range.end, false, 1024)?;
                let full = rows.len() == 1024;
                for row in rows {
                    begin = coditect_core::key_after(&row.key);
                    changes.insert(row.key, (Some(row.value), None));
                }
                if !full {
                    break;
                }
            }
            write_ranges.push(range.clone());
        }
        for (key, pending) in writes {
            write_ranges.push(KeyRange::single(&key));
            let previous = self.store.get(&key)?;
            let next = match pending {
                Pending::Set(value) => Some(value),
                Pending::Clear => None,
                Pending::Add(delta) => Some(add_le(previous.as_deref(), delta)),
            };
            changes.insert(key, (previous, next));
        }
        for write in stamped {
            let mut key = write.key;
            key[write.offset..write.offset + stamp.len()].copy_from_slice(stamp);
            let removed_later = write
                .cleared_after
                .iter()
                .any(|r| r.begin <= key && key < r.end);
            if removed_later {
                // Its later range clear is applied after it, and already in the write ranges.
                continue;
            }
            write_ranges.push(KeyRange::single(&key));
            let previous = match changes.remove(&key) {
                Some((previous, _)) => previous,
                None => self.store.get(&key)?,
            };
            changes.insert(key, (previous, Some(write.value)));
        }
        let mut writes = Vec::with_capacity(changes.len());
        let mut previous = Vec::with_capacity(changes.len());
        for (key, (before, after)) in changes {
            previous.push((key.clone(), before));
            writes.push((key, after));
        }
        Ok((CommitBatch { version, writes }, previous, write_ranges))
    }

    /// Makes `version` visible to new transactions and drops what no reader needs any more.
    fn publish(&self, version: u64, committer: &mut Committer) {
        let horizon = {
            let readers = lock(&self.readers);
            self.visible.fetch_max(version, Ordering::SeqCst);
            let visible = self.visible.load(Ordering::SeqCst);
            let now = self.clock.now();
            // Readers older than the limit fail on their next use, so they pin nothing.
            readers
                .iter()
                .find(|(_, (_, started))| now.saturating_sub(*started) <= MAX_READ_VERSION_AGE)
                .map_or(visible, |(rv, _)| (*rv).min(visible))
        };
        write(&self.window).forget_through(horizon);
        committer.resolver.forget_through(horizon);
    }
}

/// A committing transaction's read-version registration: released as soon as the resolver has
/// checked it, or when the commit ends early.
struct ReaderRegistration<'a, S: BaseStore> {
    shared: &'a Shared<S>,
    read_version: u64,
    held: bool,
}

impl<S: BaseStore> ReaderRegistration<'_, S> {
    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            self.shared.release_reader(self.read_version);
        }
    }
}

impl<S: BaseStore> Drop for ReaderRegistration<'_, S> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical
/// section here leaves the data consistent before anything that can panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
