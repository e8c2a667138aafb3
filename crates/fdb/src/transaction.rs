//! [`FdbTransaction`]: one FoundationDB transaction behind the contract's [`Transaction`].
//!
//! Every method is one call of the `foundationdb` crate (see the table in
//! `coditect_core::kv`). What this adds is what FoundationDB would otherwise report late or
//! differently from the embedded backends:
//!
//! - sizes are checked before anything is sent ([`check_key`], [`check_value`], the
//!   versionstamp offset), because FoundationDB's `set` cannot fail: it defers a size error to
//!   `commit`, and it silently answers "no value" to a read of a key that is too long;
//! - the transaction's size is counted the way the engine counts it (mutations and conflict
//!   ranges, reads included, and the clears FoundationDB splits: `coditect_core::limits`, an
//!   upper bound of FoundationDB 7.3's own figure), so the write that would take it past [`MAX_TRANSACTION_SIZE`] is refused where
//!   the engine refuses it, and a commit the reads took past it is refused before sending;
//! - a versionstamped key longer than 9,996 bytes is refused before sending;
//! - a read more than [`MAX_READ_VERSION_AGE`] after the transaction's first read is
//!   [`KvError::TransactionTooOld`], as on the embedded backends: FoundationDB would answer a
//!   repeated read from the transaction's cache instead, and fail only uncached reads (and the
//!   commit) once its 5,000,000-version window has moved past the read version. The clock
//!   starts at the first read, which is when FoundationDB fetches the read version;
//! - empty and inverted ranges are answered here, because FoundationDB calls an inverted range
//!   an error (`inverted_range`, 2005) where the contract calls it empty;
//! - a read-only commit reports its read version, as the contract says and as the engine does
//!   (FoundationDB reports -1 and has no versionstamp for it); a commit with writes asks for
//!   no read version (a blind write needs none: no extra round trip);
//! - a time-out during the commit is [`KvError::CommitUnknownResult`]: the commit may have been
//!   applied before the time-out fired.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use coditect_core::limits::{
    atomic_size, clear_range_size, clear_size, conflict_range_size, key_conflict_size, set_size,
    versionstamp_split_size, versionstamped_key_size, CLEARED_KEY_SPLIT, MAX_READ_VERSION_AGE,
    MAX_TRANSACTION_SIZE, VERSIONSTAMP_LEN,
};
use coditect_core::{
    check_key, check_value, check_versionstamp_offset, check_versionstamped_key, kv::Result,
    versionstamp, versionstamp_unreadable_range, CommitInfo, KeyValue, KvError, RangeOptions,
    RangePage, Transaction, RANGE_PAGE_MAX_BYTES, RANGE_PAGE_MAX_ROWS,
};
use foundationdb::options::{ConflictRangeType, MutationType, StreamingMode};
use foundationdb::{FdbError, KeySelector, RangeOption};

use crate::native_error::{from_fdb, from_fdb_at_commit};

/// What the transaction has buffered so far, as the limits count it.
#[derive(Debug, Default)]
struct Buffered {
    /// The transaction's size as `coditect_core::limits` counts it.
    size: usize,
    /// Whether a mutation or a write conflict range was sent: only then does the commit get a
    /// version and a versionstamp of its own.
    writes: bool,
    /// The ranges this transaction cleared, and the write conflict ranges it declared: where
    /// FoundationDB splits a clear or a conflict range, which costs more than the per-call
    /// count (`coditect_core::limits`). Searched linearly: transactions clear few ranges.
    cleared: Vec<(Vec<u8>, Vec<u8>)>,
    write_ranges: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Whether `key` is in one of `ranges`.
fn in_any(ranges: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> bool {
    ranges
        .iter()
        .any(|(begin, end)| begin.as_slice() <= key && key < end.as_slice())
}

impl Buffered {
    /// What a write of `key` adds beyond its per-call size: [`CLEARED_KEY_SPLIT`] inside a
    /// range this transaction cleared, as the engine counts it.
    fn split_at(&self, key: &[u8]) -> usize {
        if in_any(&self.cleared, key) {
            CLEARED_KEY_SPLIT
        } else {
            0
        }
    }

    /// What a versionstamped key whose possible keys are `[begin, end)` adds for the ranges
    /// FoundationDB splits at those ends ([`versionstamp_split_size`]), as the engine counts it.
    fn stamp_splits(&self, begin: &[u8], end: &[u8]) -> usize {
        [begin, end]
            .into_iter()
            .filter(|at| in_any(&self.cleared, at) || in_any(&self.write_ranges, at))
            .map(|at| versionstamp_split_size(at.len()))
            .sum()
    }
}

/// One FoundationDB transaction behind the contract's [`Transaction`]: each method is one call
/// of the `foundationdb` crate. Sizes are checked and mutation bytes counted before anything is
/// sent, reads more than 5 s after the first read are [`KvError::TransactionTooOld`], empty and
/// inverted ranges are answered without a request, and a read-only commit reports its read
/// version, all as on the embedded backends.
pub struct FdbTransaction {
    tx: foundationdb::Transaction,
    buffered: Mutex<Buffered>,
    /// When the first read (or `read_version`) was issued: about when FoundationDB fetched
    /// the read version.
    first_read: OnceLock<Instant>,
}

impl FdbTransaction {
    pub(crate) fn new(tx: foundationdb::Transaction) -> Self {
        FdbTransaction {
            tx,
            buffered: Mutex::new(Buffered::default()),
            first_read: OnceLock::new(),
        }
    }

    /// Starts the read-version clock at the first read, and refuses reads once it is past
    /// [`MAX_READ_VERSION_AGE`].
    fn check_age(&self) -> Result<()> {
        let started = *self.first_read.get_or_init(Instant::now);
        if started.elapsed() > MAX_READ_VERSION_AGE {
            return Err(KvError::TransactionTooOld);
        }
        Ok(())
    }

    /// Counts one mutation of `size` bytes, or refuses it when it would take the transaction
    /// past [`MAX_TRANSACTION_SIZE`]; `send` runs only when it fits.
    fn mutate(&self, size: usize, send: impl FnOnce(&foundationdb::Transaction)) -> Result<()> {
        self.mutate_with(|_| size, send)
    }

    /// [`Self::mutate`] with a size that depends on what was buffered before (the splits).
    fn mutate_with(
        &self,
        size: impl FnOnce(&Buffered) -> usize,
        send: impl FnOnce(&foundationdb::Transaction),
    ) -> Result<()> {
        // The counters stay consistent whatever a panicking holder did: each update is one
        // assignment after the check.
        let mut buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        let size = size(&buffered);
        let total = buffered.size.saturating_add(size);
        if total > MAX_TRANSACTION_SIZE {
            return Err(KvError::TransactionTooLarge {
                size: total,
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        send(&self.tx);
        buffered.size = total;
        buffered.writes = true;
        Ok(())
    }

    /// Counts a read conflict range: never refused, the commit is.
    fn count_read(&self, size: usize) {
        let mut buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        buffered.size = buffered.size.saturating_add(size);
    }

    /// Remembers a range cleared (`cleared`) or declared as a write conflict range.
    fn remember(&self, begin: &[u8], end: &[u8], cleared: bool) {
        let mut buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        let range = (begin.to_vec(), end.to_vec());
        if cleared {
            buffered.cleared.push(range);
        } else {
            buffered.write_ranges.push(range);
        }
    }

    fn snapshot_of_buffered(&self) -> (usize, bool) {
        let buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        (buffered.size, buffered.writes)
    }
}

/// FoundationDB's versions are `i64`; they are never negative once assigned.
fn version(raw: i64, what: &str) -> Result<u64> {
    u64::try_from(raw).map_err(|_| KvError::backend(format!("FoundationDB reported {what} {raw}")))
}

#[async_trait]
impl Transaction for FdbTransaction {
    async fn read_version(&self) -> Result<u64> {
        self.first_read.get_or_init(Instant::now);
        let raw = self.tx.get_read_version().await.map_err(from_fdb)?;
        version(raw, "read version")
    }

    async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        self.check_age()?;
        let value = self.tx.get(key, snapshot).await.map_err(from_fdb)?;
        if !snapshot {
            self.count_read(key_conflict_size(key.len()));
        }
        Ok(value.map(|v| v.to_vec()))
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        check_key(begin)?;
        check_key(end)?;
        self.check_age()?;
        if begin >= end {
            return Ok(RangePage::default());
        }
        let rows = match options.limit {
            0 => RANGE_PAGE_MAX_ROWS,
            limit => limit.min(RANGE_PAGE_MAX_ROWS),
        };
        // EXACT: one request for exactly this page (the row limit, and the byte limit as a
        // soft cap that still returns the row crossing it), instead of FoundationDB's
        // iterator mode, which sizes batches by itself and would need an iteration counter.
        let range = RangeOption {
            begin: KeySelector::first_greater_or_equal(begin),
            end: KeySelector::first_greater_or_equal(end),
            limit: Some(rows),
            target_bytes: RANGE_PAGE_MAX_BYTES,
            mode: StreamingMode::Exact,
            reverse: options.reverse,
            ..RangeOption::default()
        };
        let values = self
            .tx
            .get_range(&range, 1, options.snapshot)
            .await
            .map_err(from_fdb)?;
        if !options.snapshot {
            // Counted as the whole range: at least what FoundationDB adds for the page.
            self.count_read(conflict_range_size(begin.len(), end.len()));
        }
        let kvs = values
            .iter()
            .map(|kv| KeyValue {
                key: kv.key().to_vec(),
                value: kv.value().to_vec(),
            })
            .collect();
        Ok(RangePage {
            kvs,
            more: values.more(),
        })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        let size = set_size(key.len(), value.len());
        self.mutate_with(|b| size + b.split_at(key), |tx| tx.set(key, value))
    }

    fn clear(&self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.mutate(clear_size(key.len()), |tx| tx.clear(key))
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.mutate(clear_range_size(begin.len(), end.len()), |tx| {
            tx.clear_range(begin, end)
        })?;
        self.remember(begin, end, true);
        Ok(())
    }

    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        check_key(key)?;
        let operand = delta.to_le_bytes();
        let size = atomic_size(key.len(), operand.len());
        self.mutate_with(
            |b| size + b.split_at(key),
            |tx| tx.atomic_op(key, &operand, MutationType::Add),
        )
    }

    fn set_versionstamped_key(
        &self,
        key: &[u8],
        versionstamp_offset: u32,
        value: &[u8],
    ) -> Result<()> {
        check_key(key)?;
        check_versionstamped_key(key)?;
        check_value(value)?;
        check_versionstamp_offset(key, versionstamp_offset)?;
        // API 520 and later: the key carries the placeholder's offset as a 4-byte
        // little-endian suffix, which FoundationDB strips at commit.
        let mut param = Vec::with_capacity(key.len() + 4);
        param.extend_from_slice(key);
        param.extend_from_slice(&versionstamp_offset.to_le_bytes());
        let (begin, end) = versionstamp_unreadable_range(key, versionstamp_offset as usize);
        let size = versionstamped_key_size(key.len(), value.len());
        self.mutate_with(
            |b| size + b.stamp_splits(&begin, &end),
            |tx| tx.atomic_op(&param, value, MutationType::SetVersionstampedKey),
        )
    }

    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.tx
            .add_conflict_range(begin, end, ConflictRangeType::Read)
            .map_err(from_fdb)?;
        self.count_read(conflict_range_size(begin.len(), end.len()));
        Ok(())
    }

    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        let mut sent = Ok(());
        self.mutate(conflict_range_size(begin.len(), end.len()), |tx| {
            sent = tx.add_conflict_range(begin, end, ConflictRangeType::Write);
        })?;
        sent.map_err(from_fdb)?;
        self.remember(begin, end, false);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitInfo> {
        let (size, writes) = self.snapshot_of_buffered();
        let FdbTransaction { tx, .. } = *self;
        if !writes {
            // Read-only: nothing is sent; the read version is known already, or this is the
            // one request the commit makes.
            let read_version = version(
                tx.get_read_version().await.map_err(from_fdb)?,
                "read version",
            )?;
            return Ok(CommitInfo {
                version: read_version,
                versionstamp: versionstamp(read_version, 0),
            });
        }
        if size > MAX_TRANSACTION_SIZE {
            // Reads added the last bytes: FoundationDB would answer 2101 at commit.
            return Err(KvError::TransactionTooLarge {
                size,
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        // Asked for before the commit, as FoundationDB requires; no read version is asked for,
        // so a blind write makes one round trip.
        let stamp = tx.get_versionstamp();
        let committed = tx
            .commit()
            .await
            .map_err(|e| from_fdb_at_commit(FdbError::from(e), size))?;
        let raw = committed.committed_version().map_err(from_fdb)?;
        if raw < 0 {
            // FoundationDB found nothing to write after all (-1, no versionstamp): the
            // contract's read-only commit. Rare, so the read version is only asked for now.
            let tx = committed.reset();
            let read_version = version(
                tx.get_read_version().await.map_err(from_fdb)?,
                "read version",
            )?;
            return Ok(CommitInfo {
                version: read_version,
                versionstamp: versionstamp(read_version, 0),
            });
        }
        let stamp = stamp.await.map_err(from_fdb)?;
        let stamp: [u8; VERSIONSTAMP_LEN] = stamp[..].try_into().map_err(|_| {
            KvError::backend(format!(
                "FoundationDB returned a versionstamp of {} bytes, not {VERSIONSTAMP_LEN}",
                stamp.len()
            ))
        })?;
        Ok(CommitInfo {
            version: version(raw, "commit version")?,
            versionstamp: stamp,
        })
    }
}
