//! The KV contract: [`KvBackend`] hands out [`Transaction`]s with FoundationDB's semantics.
//!
//! The trait is shaped after the `foundationdb` crate's `Transaction` so that the production
//! backend is a 1:1 mapping:
//!
//! | here                         | `foundationdb` 0.11                                  |
//! |------------------------------|------------------------------------------------------|
//! | [`Transaction::get`]         | `get(key, snapshot)`                                 |
//! | [`Transaction::get_range`]   | `get_range(&RangeOption, iteration, snapshot)`       |
//! | [`Transaction::set`]         | `set(key, value)`                                    |
//! | [`Transaction::clear`]       | `clear(key)`                                         |
//! | [`Transaction::clear_range`] | `clear_range(begin, end)`                            |
//! | [`Transaction::atomic_add`]  | `atomic_op(key, le_bytes, MutationType::Add)`        |
//! | [`Transaction::set_versionstamped_key`] | `atomic_op(key ++ offset_le, value, SetVersionstampedKey)` |
//! | [`Transaction::add_read_conflict_range`] | `add_conflict_range(b, e, ConflictRangeType::Read)` |
//! | [`Transaction::add_write_conflict_range`] | `add_conflict_range(b, e, ConflictRangeType::Write)` |
//! | [`Transaction::read_version`] | `get_read_version()`                                |
//! | [`Transaction::commit`]      | `get_versionstamp()` + `commit()` + `committed_version()` |
//! | drop                         | drop (rollback: nothing buffered is sent)            |
//!
//! Dispatch is dynamic, decided once: the CLI picks the store at run time, so everything above
//! the backends holds an `Arc<dyn KvBackend>` and a `Box<dyn Transaction>`. The kv bench
//! measures what that indirection costs next to calling the engine directly.

//!
//! This module tree is the contract and nothing else: the traits, their error
//! ([`KvError`]), the [limits] they enforce, the [retry loop](run) and the
//! [range walk](walk). It imports nothing from the model layer above it, so the engine and
//! every backend depend on these alone.

use async_trait::async_trait;

mod error;
pub mod limits;
pub mod replay;
mod retry;
pub mod walk;

pub use error::{KvError, Result, RetryError};
pub use retry::{run, RetryOptions, RetryStats, RetryTx};
pub use walk::{RangeSource, RangeWalk};

use limits::{MAX_KEY_SIZE, MAX_VALUE_SIZE, MAX_VERSIONSTAMPED_KEY_SIZE, VERSIONSTAMP_LEN};

/// The value of a counter kept by [`Transaction::atomic_add`]: FoundationDB's `Add` encoding,
/// a little-endian `i64`; shorter bytes are zero-extended, as FoundationDB does, and none
/// (`None` from a read) is 0.
pub fn counter_value(bytes: Option<&[u8]>) -> i64 {
    let mut le = [0u8; 8];
    if let Some(bytes) = bytes {
        let n = bytes.len().min(8);
        le[..n].copy_from_slice(&bytes[..n]);
    }
    i64::from_le_bytes(le)
}

/// A store that hands out transactions.
#[async_trait]
pub trait KvBackend: Send + Sync {
    /// Starts a transaction. Its read version is taken at its first read (or here, on the
    /// embedded backends): every read sees the database as of that version plus the
    /// transaction's own buffered writes.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
}

/// Options of one [`Transaction::get_range`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeOptions {
    /// The most rows to return; 0 means no limit other than the page size
    /// ([`RANGE_PAGE_MAX_ROWS`]).
    pub limit: usize,
    /// Return rows from the end of the range towards its beginning.
    pub reverse: bool,
    /// Read as a snapshot: the rows read add no read conflict range.
    pub snapshot: bool,
}

impl RangeOptions {
    /// Options with a row limit, forward, not a snapshot.
    pub fn limit(limit: usize) -> Self {
        RangeOptions {
            limit,
            ..RangeOptions::default()
        }
    }

    /// The same options, reading backwards.
    pub fn reversed(self) -> Self {
        RangeOptions {
            reverse: true,
            ..self
        }
    }

    /// The same options, reading as a snapshot.
    pub fn snapshot(self) -> Self {
        RangeOptions {
            snapshot: true,
            ..self
        }
    }
}

/// Most rows one [`Transaction::get_range`] call returns, whatever its limit: a large range
/// is read page by page, never as one giant vector.
pub const RANGE_PAGE_MAX_ROWS: usize = 10_000;

/// A page stops growing once its keys and values add up to this many bytes (the row that
/// crosses the line is still included, so a page always makes progress).
pub const RANGE_PAGE_MAX_BYTES: usize = 1_000_000;

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// One page of a range read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangePage {
    /// Rows in key order (descending when the read was reversed).
    pub kvs: Vec<KeyValue>,
    /// False only when the range holds nothing past this page. It may be true when nothing
    /// follows (FoundationDB reports it so when a limit is hit); reading the next range then
    /// returns an empty page.
    pub more: bool,
}

impl RangePage {
    /// The range still to read after this page, for a read of `[begin, end)` in the given
    /// direction, or `None` when this page was the last.
    pub fn next_range(
        &self,
        begin: &[u8],
        end: &[u8],
        reverse: bool,
    ) -> Option<(Vec<u8>, Vec<u8>)> {
        if !self.more {
            return None;
        }
        let last = &self.kvs.last()?.key;
        Some(if reverse {
            (begin.to_vec(), last.clone())
        } else {
            (key_after(last), end.to_vec())
        })
    }
}

/// The first key after `key`: `key` followed by a 0x00 byte.
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// The first key that does not start with `prefix`, or `None` when every key after `prefix`
/// starts with it (a prefix of only 0xFF bytes). `[prefix, prefix_end(prefix))` is the range of
/// all keys with that prefix, as FoundationDB's `strinc`.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = prefix[..=keep].to_vec();
    end[keep] += 1;
    Some(end)
}

/// What a successful commit reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// The version at which the transaction's writes became visible. A transaction with no
    /// mutations and no write conflict ranges commits without a new version: this is then its
    /// read version, as in FoundationDB.
    pub version: u64,
    /// The 10-byte versionstamp of the commit: the commit version (8 bytes, big-endian) and the
    /// transaction's order within its batch (2 bytes, big-endian). The same bytes the
    /// transaction's versionstamped keys received.
    pub versionstamp: [u8; VERSIONSTAMP_LEN],
}

/// A FoundationDB-semantics transaction.
///
/// Reads see the database as of the read version plus this transaction's own buffered writes.
/// Writes are buffered and become visible atomically at [`commit`](Transaction::commit), which
/// fails with [`KvError::Conflict`](KvError::Conflict) when a key or range this transaction
/// read (not as a snapshot) was written by a commit after its read version. Dropping a
/// transaction without committing discards everything it buffered.
///
/// All methods take `&self`: a transaction may serve several concurrent reads, as in
/// FoundationDB. Methods that buffer a write check their input against the
/// [limits](limits) and return the limit's error kind instead of buffering.
#[async_trait]
pub trait Transaction: Send + Sync {
    /// The version this transaction reads at.
    async fn read_version(&self) -> Result<u64>;

    /// The value of `key`, or `None` when it has none. Unless `snapshot`, the key is added to
    /// the read conflict ranges. A key longer than
    /// [`MAX_KEY_SIZE`] is
    /// [`KvError::KeyTooLarge`](KvError::KeyTooLarge). A key that one of this transaction's
    /// versionstamped keys may become (see [`versionstamp_unreadable_range`]) is
    /// [`KvError::AccessedUnreadable`](KvError::AccessedUnreadable), snapshot or not.
    async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>>;

    /// Rows with `begin <= key < end`, in key order (or reversed), at most `options.limit`
    /// of them and at most one page ([`RANGE_PAGE_MAX_ROWS`], [`RANGE_PAGE_MAX_BYTES`]). An
    /// empty or inverted range (`begin >= end`) returns an empty page and is not an error.
    ///
    /// Unless `options.snapshot`, the part of the range that was read is added to the read
    /// conflict ranges: all of it when the page reaches the range's end, else up to and
    /// including the last row returned. So an insert into that part by a later commit (a
    /// phantom) is a conflict.
    ///
    /// A range overlapping what one of this transaction's versionstamped keys may become (see
    /// [`versionstamp_unreadable_range`]) is
    /// [`KvError::AccessedUnreadable`](KvError::AccessedUnreadable), snapshot or not, even
    /// when a limit would have stopped the read before it: FoundationDB fails such a read as
    /// soon as it reaches that part, and the contract does not depend on where that is.
    async fn get_range(&self, begin: &[u8], end: &[u8], options: RangeOptions)
        -> Result<RangePage>;

    /// Buffers `key = value`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Buffers the removal of `key` (not an error when it has no value).
    fn clear(&self, key: &[u8]) -> Result<()>;

    /// Buffers the removal of every key in `[begin, end)`; nothing when `begin >= end`.
    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()>;

    /// Buffers an atomic add of `delta` to the little-endian 64-bit integer at `key` (a missing
    /// value counts as 0; a value shorter than 8 bytes is zero-extended, a longer one
    /// truncated; the sum wraps). Adds no read conflict, so concurrent adds never conflict.
    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()>;

    /// Buffers `key = value` where the 10 bytes of `key` starting at `versionstamp_offset` are
    /// replaced at commit by the commit's versionstamp. Keys written this way are strictly
    /// increasing across commits and share one stamp within a commit. They are not visible to
    /// this transaction's own reads: reading where they may land is
    /// [`KvError::AccessedUnreadable`](KvError::AccessedUnreadable) (read first, then
    /// stamp). The key may be at most
    /// [`MAX_VERSIONSTAMPED_KEY_SIZE`] bytes.
    fn set_versionstamped_key(
        &self,
        key: &[u8],
        versionstamp_offset: u32,
        value: &[u8],
    ) -> Result<()>;

    /// Adds `[begin, end)` to the read conflict ranges, as if it had been read.
    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()>;

    /// Adds `[begin, end)` to the write conflict ranges, as if it had been written: a
    /// concurrent transaction that read any of it will conflict.
    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()>;

    /// Commits: checks for conflicts, then applies every buffered write atomically.
    /// A transaction older than
    /// [`MAX_READ_VERSION_AGE`](limits::MAX_READ_VERSION_AGE) fails with
    /// [`TransactionTooOld`](KvError::TransactionTooOld) only when it has read conflict
    /// ranges (a non-snapshot read or an explicit read range), as FoundationDB's resolver
    /// decides; with snapshot reads only, it commits. A transaction whose counted size passes
    /// [`MAX_TRANSACTION_SIZE`](limits::MAX_TRANSACTION_SIZE) (reads can add the last
    /// bytes) is [`TransactionTooLarge`](KvError::TransactionTooLarge).
    /// On error nothing was applied, except after
    /// [`CommitUnknownResult`](KvError::CommitUnknownResult), when it may have been.
    async fn commit(self: Box<Self>) -> Result<CommitInfo>;
}

/// Checks a key against [`MAX_KEY_SIZE`]. Backends call it before buffering or sending.
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_SIZE {
        return Err(KvError::KeyTooLarge {
            size: key.len(),
            limit: MAX_KEY_SIZE,
        });
    }
    Ok(())
}

/// Checks a versionstamped key against [`MAX_VERSIONSTAMPED_KEY_SIZE`]. Backends call it
/// before buffering or sending.
pub fn check_versionstamped_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_VERSIONSTAMPED_KEY_SIZE {
        return Err(KvError::KeyTooLarge {
            size: key.len(),
            limit: MAX_VERSIONSTAMPED_KEY_SIZE,
        });
    }
    Ok(())
}

/// The keys a versionstamped key with its placeholder at `offset` may become, as a range
/// `[begin, end)`: the key with the placeholder all 0x00 to the key with it all 0xFF, followed
/// by 0x00. FoundationDB's `getVersionstampKeyRange` (7.3.79,
/// `fdbclient/include/fdbclient/Atomic.h` lines 268-287)
/// starts the range at the transaction's read version when it knows it; starting at zero is a
/// superset, so a read the embedded backends allow FoundationDB allows too. The offset must
/// fit ([`check_versionstamp_offset`]).
pub fn versionstamp_unreadable_range(key: &[u8], offset: usize) -> (Vec<u8>, Vec<u8>) {
    let stamp = offset..offset + VERSIONSTAMP_LEN;
    let mut begin = key.to_vec();
    begin[stamp.clone()].fill(0);
    let mut end = key.to_vec();
    end[stamp].fill(0xFF);
    end.push(0);
    (begin, end)
}

/// Checks a value against [`MAX_VALUE_SIZE`]. Backends call it before buffering or sending.
pub fn check_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_SIZE {
        return Err(KvError::ValueTooLarge {
            size: value.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    Ok(())
}

/// Checks that a versionstamp placeholder at `offset` fits inside `key`.
pub fn check_versionstamp_offset(key: &[u8], offset: u32) -> Result<()> {
    let fits = usize::try_from(offset)
        .ok()
        .and_then(|o| o.checked_add(VERSIONSTAMP_LEN))
        .is_some_and(|end| end <= key.len());
    if !fits {
        return Err(KvError::InvalidVersionstampOffset {
            offset,
            key_len: key.len(),
        });
    }
    Ok(())
}

/// The versionstamp of a commit at `version`, first in its batch.
pub fn versionstamp(version: u64, batch_order: u16) -> [u8; VERSIONSTAMP_LEN] {
    let mut stamp = [0u8; VERSIONSTAMP_LEN];
    stamp[..8].copy_from_slice(&version.to_be_bytes());
    stamp[8..].copy_from_slice(&batch_order.to_be_bytes());
    stamp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    #[test]
    fn next_range_continues_after_the_last_row() {
        let page = RangePage {
            kvs: vec![KeyValue {
                key: b"b".to_vec(),
                value: vec![],
            }],
            more: true,
        };
        assert_eq!(
            page.next_range(b"a", b"z", false),
            Some((b"b\0".to_vec(), b"z".to_vec()))
        );
        assert_eq!(
            page.next_range(b"a", b"z", true),
            Some((b"a".to_vec(), b"b".to_vec()))
        );
        let last = RangePage {
            more: false,
            ..page
        };
        assert_eq!(last.next_range(b"a", b"z", false), None);
    }

    #[test]
    fn versionstamp_offset_must_leave_ten_bytes() {
        assert!(check_versionstamp_offset(&[0; 10], 0).is_ok());
        assert!(check_versionstamp_offset(&[0; 12], 2).is_ok());
        assert!(check_versionstamp_offset(&[0; 12], 3).is_err());
        assert!(check_versionstamp_offset(&[0; 5], u32::MAX).is_err());
    }

    #[test]
    fn the_unreadable_range_spans_every_stamp() {
        let (begin, end) = versionstamp_unreadable_range(b"a0123456789z", 1);
        assert_eq!(begin, b"a\0\0\0\0\0\0\0\0\0\0z".to_vec());
        let mut expected = b"a".to_vec();
        expected.extend([0xFF; 10]);
        expected.extend(b"z\0");
        assert_eq!(end, expected);
        assert!(check_versionstamped_key(&[0; 9_996]).is_ok());
        assert!(matches!(
            check_versionstamped_key(&[0; 9_997]),
            Err(KvError::KeyTooLarge {
                size: 9_997,
                limit: 9_996
            })
        ));
    }

    #[test]
    fn versionstamp_is_big_endian_version_then_order() {
        let stamp = versionstamp(0x0102, 3);
        assert_eq!(stamp, [0, 0, 0, 0, 0, 0, 1, 2, 0, 3]);
    }
}
