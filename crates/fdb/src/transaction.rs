//! [`FdbTransaction`]: one FoundationDB transaction behind the contract's [`Transaction`].
//!
//! Every method is one call of the `foundationdb` crate (see the table in
//! `coditect_core::kv`). What this adds is what FoundationDB would otherwise report late or
//! differently from the embedded backends:
//!
//! - sizes are checked before anything is sent ([`check_key`], [`check_value`], the
//!   versionstamp offset), because FoundationDB's `set` cannot fail: it defers a size error to
//!   `commit`, and it silently answers "no value" to a read of a key that is too long;
//! - mutation bytes are counted the way the engine counts them
//!   ([`mutation_size`]), so the mutation that would take the transaction past
//!   [`MAX_TRANSACTION_SIZE`] is refused where the engine refuses it;
//! - a read more than [`MAX_READ_VERSION_AGE`] after the transaction's first read is
//!   [`Error::TransactionTooOld`], as on the embedded backends: FoundationDB would answer a
//!   repeated read from the transaction's cache instead, and fail only uncached reads (and the
//!   commit) once its 5,000,000-version window has moved past the read version. The clock
//!   starts at the first read, which is when FoundationDB fetches the read version;
//! - empty and inverted ranges are answered here, because FoundationDB calls an inverted range
//!   an error (`inverted_range`, 2005) where the contract calls it empty;
//! - a read-only commit reports its read version, as the contract says and as the engine does
//!   (FoundationDB reports -1 and has no versionstamp for it).

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use coditect_core::limits::{
    mutation_size, MAX_READ_VERSION_AGE, MAX_TRANSACTION_SIZE, VERSIONSTAMP_LEN,
};
use coditect_core::{
    check_key, check_value, check_versionstamp_offset, versionstamp, CommitInfo, Error, KeyValue,
    RangeOptions, RangePage, Result, Transaction, RANGE_PAGE_MAX_BYTES, RANGE_PAGE_MAX_ROWS,
};
use foundationdb::options::{ConflictRangeType, MutationType, StreamingMode};
use foundationdb::{FdbError, KeySelector, RangeOption};

use crate::native_error::{from_fdb, from_fdb_sized};

/// What the transaction has buffered so far, as the limits count it.
#[derive(Debug, Default)]
struct Buffered {
    /// Mutation bytes, as [`mutation_size`] counts them.
    mutation_bytes: usize,
    /// Whether a mutation or a write conflict range was sent: only then does the commit get a
    /// version and a versionstamp of its own.
    writes: bool,
}

/// One FoundationDB transaction behind the contract's [`Transaction`]: each method is one call
/// of the `foundationdb` crate. Sizes are checked and mutation bytes counted before anything is
/// sent, reads more than 5 s after the first read are [`Error::TransactionTooOld`], empty and
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
            return Err(Error::TransactionTooOld);
        }
        Ok(())
    }

    /// Counts one mutation of `size` bytes, or refuses it when it would take the transaction
    /// past [`MAX_TRANSACTION_SIZE`]; `send` runs only when it fits.
    fn mutate(&self, size: usize, send: impl FnOnce(&foundationdb::Transaction)) -> Result<()> {
        // The counters stay consistent whatever a panicking holder did: each update is one
        // assignment after the check.
        let mut buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        let total = buffered.mutation_bytes.saturating_add(size);
        if total > MAX_TRANSACTION_SIZE {
            return Err(Error::TransactionTooLarge {
                size: total,
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        send(&self.tx);
        buffered.mutation_bytes = total;
        buffered.writes = true;
        Ok(())
    }

    fn snapshot_of_buffered(&self) -> (usize, bool) {
        let buffered = self.buffered.lock().unwrap_or_else(PoisonError::into_inner);
        (buffered.mutation_bytes, buffered.writes)
    }
}

/// FoundationDB's versions are `i64`; they are never negative once assigned.
fn version(raw: i64, what: &str) -> Result<u64> {
    u64::try_from(raw).map_err(|_| Error::backend(format!("FoundationDB reported {what} {raw}")))
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
        self.mutate(mutation_size(key.len(), value.len()), |tx| {
            tx.set(key, value)
        })
    }

    fn clear(&self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.mutate(mutation_size(key.len(), 0), |tx| tx.clear(key))
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.mutate(mutation_size(begin.len(), end.len()), |tx| {
            tx.clear_range(begin, end)
        })
    }

    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        check_key(key)?;
        let operand = delta.to_le_bytes();
        self.mutate(mutation_size(key.len(), operand.len()), |tx| {
            tx.atomic_op(key, &operand, MutationType::Add)
        })
    }

    fn set_versionstamped_key(
        &self,
        key: &[u8],
        versionstamp_offset: u32,
        value: &[u8],
    ) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        check_versionstamp_offset(key, versionstamp_offset)?;
        // API 520 and later: the key carries the placeholder's offset as a 4-byte
        // little-endian suffix, which FoundationDB strips at commit.
        let mut param = Vec::with_capacity(key.len() + 4);
        param.extend_from_slice(key);
        param.extend_from_slice(&versionstamp_offset.to_le_bytes());
        self.mutate(mutation_size(key.len(), value.len()), |tx| {
            tx.atomic_op(&param, value, MutationType::SetVersionstampedKey)
        })
    }

    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.tx
            .add_conflict_range(begin, end, ConflictRangeType::Read)
            .map_err(from_fdb)
    }

    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        check_key(begin)?;
        check_key(end)?;
        if begin >= end {
            return Ok(());
        }
        self.tx
            .add_conflict_range(begin, end, ConflictRangeType::Write)
            .map_err(from_fdb)?;
        self.buffered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .writes = true;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<CommitInfo> {
        let (mutation_bytes, writes) = self.snapshot_of_buffered();
        let FdbTransaction { tx, .. } = *self;
        // Asked for before the commit, as FoundationDB requires for the versionstamp; the read
        // version is already known (or being fetched) by then, so waiting on it costs nothing.
        let read_version = tx.get_read_version();
        if !writes {
            let read_version = version(read_version.await.map_err(from_fdb)?, "read version")?;
            tx.commit().await.map_err(|e| from_fdb(FdbError::from(e)))?;
            return Ok(CommitInfo {
                version: read_version,
                versionstamp: versionstamp(read_version, 0),
            });
        }
        let stamp = tx.get_versionstamp();
        let committed = tx
            .commit()
            .await
            .map_err(|e| from_fdb_sized(FdbError::from(e), mutation_bytes))?;
        let raw = committed.committed_version().map_err(from_fdb)?;
        if raw < 0 {
            // FoundationDB found nothing to write after all (-1, and no versionstamp): the
            // contract's read-only commit.
            let read_version = version(read_version.await.map_err(from_fdb)?, "read version")?;
            return Ok(CommitInfo {
                version: read_version,
                versionstamp: versionstamp(read_version, 0),
            });
        }
        let stamp = stamp.await.map_err(from_fdb)?;
        let stamp: [u8; VERSIONSTAMP_LEN] = stamp[..].try_into().map_err(|_| {
            Error::backend(format!(
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
