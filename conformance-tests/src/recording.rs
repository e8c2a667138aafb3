//! Recording wrappers for isolation tests: [`Recording`] (one transaction) and
//! [`RecordingBackend`] (every transaction of a backend, retries included) log every key and
//! range bound a caller asks the store for, before passing the call on, so a test can check
//! that a tenant-scoped operation touched nothing outside its tenant.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coditect_core::keys::TenantId;
use coditect_core::{kv::Result, CommitInfo, KvBackend, RangeOptions, RangePage, Transaction};

/// One request that named keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// `get(key)`.
    Get(Vec<u8>),
    /// `get_range(begin, end)`.
    Range(Vec<u8>, Vec<u8>),
    /// `set`, `clear`, `atomic_add` or `set_versionstamped_key` of a key.
    Write(Vec<u8>),
    /// `clear_range(begin, end)`.
    ClearRange(Vec<u8>, Vec<u8>),
    /// `add_read_conflict_range` / `add_write_conflict_range`.
    ConflictRange(Vec<u8>, Vec<u8>),
}

impl Touch {
    /// The keys named: the key, or both bounds of a range.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Touch::Get(k) | Touch::Write(k) => vec![k],
            Touch::Range(b, e) | Touch::ClearRange(b, e) | Touch::ConflictRange(b, e) => {
                vec![b, e]
            }
        }
    }

    /// Whether this stays inside `tenant`: every key starts with the tenant's prefix, except
    /// that a range may end exactly at the tenant's end. Reading the tenant's own registry
    /// entry (`("sys", "tenant", uuid)`, which opening a tenant-scoped transaction checks) is
    /// allowed too; nothing else in the system keyspace is.
    pub fn within(&self, tenant: TenantId) -> bool {
        let (begin, end) = tenant.range();
        if let Touch::Get(key) = self {
            if *key == registry_key(tenant) {
                return true;
            }
        }
        let ends_at = |k: &[u8]| k.starts_with(&begin) || k == end.as_slice();
        match self {
            Touch::Get(k) | Touch::Write(k) => k.starts_with(&begin),
            Touch::Range(b, e) | Touch::ClearRange(b, e) | Touch::ConflictRange(b, e) => {
                b.starts_with(&begin) && ends_at(e)
            }
        }
    }
}

/// The registry key of a tenant, as `coditect_core::keys` lays it out.
pub fn registry_key(tenant: TenantId) -> Vec<u8> {
    foundationdb_tuple::pack(&("sys", "tenant", tenant.uuid()))
}

type Log = Arc<Mutex<Vec<Touch>>>;

fn push(log: &Log, touch: Touch) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(touch);
}

fn take(log: &Log) -> Vec<Touch> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A transaction that logs every key it is asked to touch before passing the call on.
pub struct Recording {
    inner: Box<dyn Transaction>,
    log: Log,
}

impl Recording {
    /// Wraps `inner` with an empty log.
    pub fn new(inner: Box<dyn Transaction>) -> Self {
        Recording {
            inner,
            log: Arc::default(),
        }
    }

    /// The keys (and range bounds) touched since the last call, oldest first; empties the log.
    pub fn touched(&self) -> Vec<Vec<u8>> {
        self.take()
            .iter()
            .flat_map(|t| t.keys().into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
            .collect()
    }

    /// The requests since the last call, oldest first; empties the log.
    pub fn take(&self) -> Vec<Touch> {
        take(&self.log)
    }
}

/// A backend whose transactions are [`Recording`]s sharing one log: what every attempt of a
/// retried operation touched.
pub struct RecordingBackend {
    inner: Arc<dyn KvBackend>,
    log: Log,
}

impl RecordingBackend {
    /// Wraps `inner` with an empty log.
    pub fn new(inner: Arc<dyn KvBackend>) -> Self {
        RecordingBackend {
            inner,
            log: Arc::default(),
        }
    }

    /// The requests of every transaction since the last call; empties the log.
    pub fn take(&self) -> Vec<Touch> {
        take(&self.log)
    }
}

#[async_trait]
impl KvBackend for RecordingBackend {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(Recording {
            inner: self.inner.begin().await?,
            log: self.log.clone(),
        }))
    }
}

#[async_trait]
impl Transaction for Recording {
    async fn read_version(&self) -> Result<u64> {
        self.inner.read_version().await
    }
    async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        push(&self.log, Touch::Get(key.to_vec()));
        self.inner.get(key, snapshot).await
    }
    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        push(&self.log, Touch::Range(begin.to_vec(), end.to_vec()));
        self.inner.get_range(begin, end, options).await
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        push(&self.log, Touch::Write(key.to_vec()));
        self.inner.set(key, value)
    }
    fn clear(&self, key: &[u8]) -> Result<()> {
        push(&self.log, Touch::Write(key.to_vec()));
        self.inner.clear(key)
    }
    fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        push(&self.log, Touch::ClearRange(begin.to_vec(), end.to_vec()));
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        push(&self.log, Touch::Write(key.to_vec()));
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(&self, key: &[u8], offset: u32, value: &[u8]) -> Result<()> {
        push(&self.log, Touch::Write(key.to_vec()));
        self.inner.set_versionstamped_key(key, offset, value)
    }
    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        push(
            &self.log,
            Touch::ConflictRange(begin.to_vec(), end.to_vec()),
        );
        self.inner.add_read_conflict_range(begin, end)
    }
    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        push(
            &self.log,
            Touch::ConflictRange(begin.to_vec(), end.to_vec()),
        );
        self.inner.add_write_conflict_range(begin, end)
    }
    async fn commit(self: Box<Self>) -> Result<CommitInfo> {
        self.inner.commit().await
    }
}
