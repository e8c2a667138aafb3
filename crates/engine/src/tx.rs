//! [`EngineTx`]: one transaction of an [`Engine`](crate::Engine).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use coditect_core::limits::{
    atomic_size, clear_range_size, clear_size, conflict_range_size, key_conflict_size, set_size,
    versionstamp_split_size, versionstamped_key_size, CLEARED_KEY_SPLIT,
};
use coditect_core::{
    check_key, check_value, check_versionstamp_offset, check_versionstamped_key, key_after,
    kv::Result, versionstamp_unreadable_range, CommitInfo, KeyValue, KvError, RangeOptions,
    RangePage, Transaction, RANGE_PAGE_MAX_BYTES, RANGE_PAGE_MAX_ROWS,
};

use crate::engine::{lock, read, Shared};
use crate::ranges::{KeyRange, RangeSet};
use crate::store::BaseStore;
use crate::write_buffer::{add_le, Local, StampedWrite, WriteBuffer};

/// A transaction of an [`Engine`](crate::Engine). Its inherent methods are synchronous (the
/// embedded stores never wait on a network); its [`Transaction`] impl wraps them.
pub struct EngineTx<S: BaseStore> {
    shared: Arc<Shared<S>>,
    read_version: u64,
    started: Duration,
    state: Mutex<TxState>,
    /// Whether dropping this transaction must release its read version.
    registered: bool,
}

#[derive(Default)]
struct TxState {
    buffer: WriteBuffer,
    reads: RangeSet,
    /// Where this transaction's versionstamped keys may land: unreadable to it, as in
    /// FoundationDB's read-your-writes layer.
    unreadable: RangeSet,
}

/// Bytes a row counts against a page's byte target: FoundationDB's `GetRangeLimits` counts
/// 8 + key + value per row.
fn row_bytes(row: &KeyValue) -> usize {
    8 + row.key.len() + row.value.len()
}

/// Rows a range read fetches from storage per step when it has no limit of its own.
const SCAN_CHUNK: usize = 256;

impl<S: BaseStore> EngineTx<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>, read_version: u64, started: Duration) -> Self {
        EngineTx {
            shared,
            read_version,
            started,
            state: Mutex::new(TxState::default()),
            registered: true,
        }
    }

    /// The version this transaction reads at.
    pub fn read_version(&self) -> u64 {
        self.read_version
    }

    fn check_age(&self) -> Result<()> {
        if self.shared.is_too_old(self.started) {
            return Err(KvError::TransactionTooOld);
        }
        Ok(())
    }

    /// See [`Transaction::get`].
    pub fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        if lock(&self.state).unreadable.contains(key) {
            return Err(KvError::AccessedUnreadable);
        }
        self.check_age()?;
        let local = lock(&self.state).buffer.local(key);
        let added = match local {
            Local::Known(value) => return Ok(value),
            Local::FromStorage(added) => added,
        };
        let stored = self.shared.read_at(key, self.read_version)?;
        if !snapshot {
            let mut state = lock(&self.state);
            state.reads.insert(KeyRange::single(key));
            state.buffer.count_read(key_conflict_size(key.len()));
        }
        Ok(match added {
            Some(delta) => Some(add_le(stored.as_deref(), delta)),
            None => stored,
        })
    }

    /// See [`Transaction::get_range`].
    pub fn get_range(&self, begin: &[u8], end: &[u8], options: RangeOptions) -> Result<RangePage> {
        check_key(begin)?;
        check_key(end)?;
        if begin < end && lock(&self.state).unreadable.overlaps(begin, end) {
            return Err(KvError::AccessedUnreadable);
        }
        self.check_age()?;
        if begin >= end {
            return Ok(RangePage::default());
        }
        let page_rows = match options.limit {
            0 => RANGE_PAGE_MAX_ROWS,
            limit => limit.min(RANGE_PAGE_MAX_ROWS),
        };
        let user_limited = options.limit != 0 && options.limit <= RANGE_PAGE_MAX_ROWS;
        // One row past the page tells whether more follow.
        let wanted = page_rows + 1;
        let step = if user_limited { wanted } else { SCAN_CHUNK };

        let mut rows: Vec<KeyValue> = Vec::new();
        let mut bytes = 0usize;
        let (mut lo, mut hi) = (begin.to_vec(), end.to_vec());
        let mut exhausted = false;
        // A row was left behind because the page filled up.
        let mut cut = false;
        while rows.len() < wanted && bytes < RANGE_PAGE_MAX_BYTES && !exhausted {
            let chunk = self.snapshot_chunk(&lo, &hi, options.reverse, step)?;
            let (cover_lo, cover_hi) = match &chunk.resume {
                None => (lo.clone(), hi.clone()),
                Some(resume) if options.reverse => (resume.clone(), hi.clone()),
                Some(resume) => (lo.clone(), resume.clone()),
            };
            let merged =
                lock(&self.state)
                    .buffer
                    .overlay(&cover_lo, &cover_hi, chunk.rows, options.reverse);
            for row in merged {
                if rows.len() >= wanted || bytes >= RANGE_PAGE_MAX_BYTES {
                    cut = true;
                    break;
                }
                bytes += row_bytes(&row);
                rows.push(row);
            }
            match chunk.resume {
                None => exhausted = true,
                Some(resume) if options.reverse => hi = resume,
                Some(resume) => lo = resume,
            }
        }
        // Exact when the page stopped at its row count (the extra row was fetched); when it
        // stopped at its byte cap with storage unread, "more" may turn out empty.
        let more = rows.len() > page_rows || cut || !exhausted;
        rows.truncate(page_rows);
        if !options.snapshot {
            let read = match rows.last() {
                Some(last) if more && options.reverse => KeyRange::new(&last.key, end),
                Some(last) if more => KeyRange::new(begin, &key_after(&last.key)),
                _ => KeyRange::new(begin, end),
            };
            let mut state = lock(&self.state);
            state
                .buffer
                .count_read(conflict_range_size(read.begin.len(), read.end.len()));
            state.reads.insert(read);
        }
        Ok(RangePage { kvs: rows, more })
    }

    /// Up to `limit` stored rows of `[lo, hi)` as of the read version, without this
    /// transaction's writes, and where the next chunk starts (`None` when the range is done).
    fn snapshot_chunk(&self, lo: &[u8], hi: &[u8], reverse: bool, limit: usize) -> Result<Chunk> {
        let shared = &self.shared;
        // Base first, window second (see the window module).
        let base = shared.store.scan(lo, hi, reverse, limit)?;
        let resume = if base.len() < limit {
            None
        } else {
            base.last().map(|last| {
                if reverse {
                    last.key.clone()
                } else {
                    key_after(&last.key)
                }
            })
        };
        let (cover_lo, cover_hi) = match &resume {
            None => (lo, hi),
            Some(resume) if reverse => (resume.as_slice(), hi),
            Some(resume) => (lo, resume.as_slice()),
        };
        let window = read(&shared.window);
        if window.horizon() > self.read_version {
            return Err(KvError::TransactionTooOld);
        }
        let mut older = window
            .values_at(cover_lo, cover_hi, self.read_version)
            .peekable();
        if older.peek().is_none() {
            drop(older);
            drop(window);
            return Ok(Chunk { rows: base, resume });
        }
        let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            base.into_iter().map(|kv| (kv.key, kv.value)).collect();
        for (key, value) in older {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        drop(window);
        let rows = merged
            .into_iter()
            .map(|(key, value)| KeyValue { key, value });
        let rows = if reverse {
            rows.rev().collect()
        } else {
            rows.collect()
        };
        Ok(Chunk { rows, resume })
    }

    fn mutate(&self, size: usize, apply: impl FnOnce(&mut WriteBuffer)) -> Result<()> {
        let mut state = lock(&self.state);
        state.buffer.account(size)?;
        apply(&mut state.buffer);
        Ok(())
    }

    /// Like [`Self::mutate`] for a write of one key, adding [`CLEARED_KEY_SPLIT`] when the key
    /// lies in a range this transaction cleared (FoundationDB splits the clear there; see
    /// `coditect_core::limits`).
    fn mutate_key(
        &self,
        key: &[u8],
        size: usize,
        apply: impl FnOnce(&mut WriteBuffer),
    ) -> Result<()> {
        let mut state = lock(&self.state);
        let split = if state.buffer.cleared.contains(key) {
            CLEARED_KEY_SPLIT
        } else {
            0
        };
        state.buffer.account(size + split)?;
        apply(&mut state.buffer);
        Ok(())
    }

    /// See [`Transaction::set`].
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.mutate_key(key, set_size(key.len(), value.len()), |b| b.set(key, value))
    }

    /// See [`Transaction::clear`].
    pub fn clear(&self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.mutate(clear_size(key.len()), |b| b.clear(key))
    }

    /// See [`Transaction::clear_range`].
    pub fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.mutate(clear_range_size(begin.len(), end.len()), |b| {
            b.clear_range(begin, end)
        })
    }

    /// See [`Transaction::atomic_add`].
    pub fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        check_key(key)?;
        self.mutate_key(key, atomic_size(key.len(), 8), |b| b.add(key, delta))
    }

    /// See [`Transaction::set_versionstamped_key`].
    pub fn set_versionstamped_key(&self, key: &[u8], offset: u32, value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_versionstamped_key(key)?;
        check_value(value)?;
        check_versionstamp_offset(key, offset)?;
        let offset = offset as usize;
        let (begin, end) = versionstamp_unreadable_range(key, offset);
        let mut state = lock(&self.state);
        // FoundationDB hands the write map's part over [begin, end) to the native transaction
        // at once: a cleared or write-conflict range crossing either end is split there
        // (see `coditect_core::limits`).
        let buffer = &state.buffer;
        let splits: usize = [&begin, &end]
            .into_iter()
            .filter(|at| {
                buffer.cleared.contains(at)
                    || buffer.write_conflicts.iter().any(|r| {
                        r.begin.as_slice() <= at.as_slice() && at.as_slice() < r.end.as_slice()
                    })
            })
            .map(|at| versionstamp_split_size(at.len()))
            .sum();
        state
            .buffer
            .account(versionstamped_key_size(key.len(), value.len()) + splits)?;
        state.buffer.stamped.push(StampedWrite {
            key: key.to_vec(),
            offset,
            value: value.to_vec(),
            cleared_after: Vec::new(),
        });
        state.unreadable.insert(KeyRange { begin, end });
        Ok(())
    }

    /// See [`Transaction::add_read_conflict_range`].
    pub fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin < end {
            let mut state = lock(&self.state);
            state.reads.insert(KeyRange::new(begin, end));
            state
                .buffer
                .count_read(conflict_range_size(begin.len(), end.len()));
        }
        Ok(())
    }

    /// See [`Transaction::add_write_conflict_range`].
    pub fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin < end {
            let mut state = lock(&self.state);
            state
                .buffer
                .account(conflict_range_size(begin.len(), end.len()))?;
            state.buffer.write_conflicts.push(KeyRange::new(begin, end));
        }
        Ok(())
    }

    /// See [`Transaction::commit`].
    pub fn commit(self) -> Result<CommitInfo> {
        let mut this = self;
        let state = std::mem::take(&mut *lock(&this.state));
        // From here the commit owns the read-version registration: it releases it once the
        // resolver has checked this transaction, so the commit's own clean-up can already
        // forget what only this transaction was pinning.
        this.registered = false;
        this.shared
            .commit(this.read_version, this.started, &state.reads, state.buffer)
    }
}

struct Chunk {
    rows: Vec<KeyValue>,
    resume: Option<Vec<u8>>,
}

impl<S: BaseStore> Drop for EngineTx<S> {
    fn drop(&mut self) {
        if self.registered {
            self.shared.release_reader(self.read_version);
        }
    }
}

#[async_trait]
impl<S: BaseStore> Transaction for EngineTx<S> {
    async fn read_version(&self) -> Result<u64> {
        Ok(self.read_version)
    }

    async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        EngineTx::get(self, key, snapshot)
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        EngineTx::get_range(self, begin, end, options)
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        EngineTx::set(self, key, value)
    }

    fn clear(&self, key: &[u8]) -> Result<()> {
        EngineTx::clear(self, key)
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        EngineTx::clear_range(self, begin, end)
    }

    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        EngineTx::atomic_add(self, key, delta)
    }

    fn set_versionstamped_key(&self, key: &[u8], offset: u32, value: &[u8]) -> Result<()> {
        EngineTx::set_versionstamped_key(self, key, offset, value)
    }

    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        EngineTx::add_read_conflict_range(self, begin, end)
    }

    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        EngineTx::add_write_conflict_range(self, begin, end)
    }

    async fn commit(self: Box<Self>) -> Result<CommitInfo> {
        EngineTx::commit(*self)
    }
}
