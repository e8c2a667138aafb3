//! [`BaseStore`]: the little the engine needs from a storage backend.
//!
//! A base store holds only the latest committed value of each key. Everything else a
//! transaction needs (versions, snapshots, conflicts) is the engine's job, written once.

use coditect_core::{kv::Result, KeyValue};

/// One write of a commit: a key and its new value, or `None` to remove it.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// The writes of one commit, applied all or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitBatch {
    /// The commit's version; a durable store records it with the writes so that versions keep
    /// increasing after a restart.
    pub version: u64,
    /// Point writes in key order, each key at most once.
    pub writes: Vec<Write>,
}

/// An ordered map of bytes to bytes: what the engine runs on.
///
/// Only the engine's committer calls [`apply`](BaseStore::apply), one batch at a time; readers
/// call [`get`](BaseStore::get) and [`scan`](BaseStore::scan) concurrently with it and may see
/// the store before or after a batch, never in between.
pub trait BaseStore: Send + Sync + 'static {
    /// The latest value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` rows (at least 1) with `begin <= key < end`, ascending, or descending when
    /// `reverse`. Fewer than `limit` rows means the range holds no more.
    fn scan(&self, begin: &[u8], end: &[u8], reverse: bool, limit: usize) -> Result<Vec<KeyValue>>;

    /// Applies every write of `batch` atomically: after an error, none of it is visible.
    fn apply(&self, batch: CommitBatch) -> Result<()>;

    /// The version of the last batch applied before this store was opened (0 when new), so
    /// the engine never hands out a version twice.
    fn recovered_version(&self) -> Result<u64> {
        Ok(0)
    }

    /// Whether commits must call [`sync`](BaseStore::sync) before they are acknowledged.
    fn needs_sync(&self) -> bool {
        false
    }

    /// Makes every batch applied so far, at least through `version`, durable. Called outside
    /// the commit lock after the batch of `version` was applied, so several committers may
    /// share one sync (group commit): a store may return at once when a sync that started
    /// after `version` was applied has already completed.
    fn sync(&self, version: u64) -> Result<()> {
        let _ = version;
        Ok(())
    }
}
