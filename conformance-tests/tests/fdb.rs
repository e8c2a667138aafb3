//! The whole conformance suite (the kv cases and the model-layer cases) against a FoundationDB
//! cluster: the one named by `FDB_CLUSTER_FILE` (else /etc/foundationdb/fdb.cluster).
//!
//! Run with `cargo test -p coditect-conformance --features fdb --test fdb` (needs libfdb_c 7.3+
//! and a running cluster; `scripts/fdb-local.sh` starts a throw-away one). Cases run in
//! parallel on one shared cluster, so each gets its own key subspace: a random 16-byte prefix
//! that [`Subspace`] adds to every key it is given and strips from every key it returns, cleared
//! when the case ends. The too-old cases wait for FoundationDB's real 5 s limit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coditect_conformance::Harness;
use coditect_core::{
    check_key, check_value, check_versionstamp_offset, kv::run, kv::Result, prefix_end, CommitInfo,
    KeyValue, KvBackend, KvError, RangeOptions, RangePage, RetryOptions, Transaction,
};
use coditect_fdb::{FdbBackend, FdbOptions};
use tokio::sync::OnceCell;

/// One backend (one database handle, one network thread) for the whole test binary.
static BACKEND: OnceCell<Arc<FdbBackend>> = OnceCell::const_new();

async fn backend() -> Arc<FdbBackend> {
    BACKEND
        .get_or_init(|| async {
            match FdbBackend::connect(&FdbOptions::default(), Duration::from_secs(10)).await {
                Ok(backend) => Arc::new(backend),
                Err(error) => panic!(
                    "cannot reach the FoundationDB cluster for the conformance suite ({error}); \
                     see the README, \"Running on FoundationDB\""
                ),
            }
        })
        .await
        .clone()
}

/// A case's harness: its own subspace of the shared cluster, cleared when the case ends
/// (passed or failed).
struct FdbHarness {
    subspace: Arc<Subspace>,
}

impl FdbHarness {
    async fn new() -> Self {
        let mut prefix: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..))
            .take(16)
            .collect();
        // Keys from 0xFF on are FoundationDB's system keyspace.
        prefix[0] = fastrand::u8(..0xFF);
        FdbHarness {
            subspace: Arc::new(Subspace {
                inner: backend().await,
                prefix: prefix.into(),
            }),
        }
    }
}

#[async_trait]
impl Harness for FdbHarness {
    fn backend(&self) -> Arc<dyn KvBackend> {
        self.subspace.clone()
    }

    async fn age_past_read_version_limit(&self) {
        // FoundationDB's window is 5,000,000 versions, about 5 s at its normal version rate.
        tokio::time::sleep(Duration::from_millis(5_500)).await;
    }

    fn key_prefix_len(&self) -> usize {
        self.subspace.prefix.len()
    }
}

impl Drop for FdbHarness {
    fn drop(&mut self) {
        let inner = self.subspace.inner.clone();
        let begin = self.subspace.prefix.to_vec();
        let Some(end) = prefix_end(&begin) else {
            return;
        };
        // Drop may run inside the case's runtime (or while a failed case unwinds): clear from
        // a thread of its own, on a runtime of its own, and wait for it.
        let cleared = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            runtime.block_on(async {
                let options = RetryOptions::default();
                run(inner.as_ref(), &options, |tx| {
                    let (begin, end) = (begin.clone(), end.clone());
                    async move { tx.clear_range(&begin, &end) }
                })
                .await
                .map(|_| ())
            })
        })
        .join();
        match cleared {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not clear the case's subspace: {error}"),
            Err(_) => eprintln!("the thread clearing the case's subspace panicked"),
        }
    }
}

/// A [`KvBackend`] that confines another to the keys starting with `prefix`.
struct Subspace {
    inner: Arc<FdbBackend>,
    prefix: Arc<[u8]>,
}

#[async_trait]
impl KvBackend for Subspace {
    async fn begin(&self) -> coditect_core::kv::Result<Box<dyn Transaction>> {
        Ok(Box::new(SubspaceTx {
            inner: self.inner.begin().await?,
            prefix: self.prefix.clone(),
        }))
    }
}

/// A transaction of a [`Subspace`]. It checks the caller's key and value sizes itself before
/// adding the prefix, so a limit error reports the sizes the caller passed.
struct SubspaceTx {
    inner: Box<dyn Transaction>,
    prefix: Arc<[u8]>,
}

impl SubspaceTx {
    fn key(&self, key: &[u8]) -> Result<Vec<u8>> {
        check_key(key)?;
        Ok([&self.prefix[..], key].concat())
    }

    fn unprefixed(&self, kv: KeyValue) -> Result<KeyValue> {
        match kv.key.strip_prefix(&self.prefix[..]) {
            Some(key) => Ok(KeyValue {
                key: key.to_vec(),
                value: kv.value,
            }),
            None => Err(KvError::backend(
                "a range read returned a row outside the case's subspace",
            )),
        }
    }
}

#[async_trait]
impl Transaction for SubspaceTx {
    async fn read_version(&self) -> coditect_core::kv::Result<u64> {
        self.inner.read_version().await
    }

    async fn get(&self, key: &[u8], snapshot: bool) -> coditect_core::kv::Result<Option<Vec<u8>>> {
        self.inner.get(&self.key(key)?, snapshot).await
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> coditect_core::kv::Result<RangePage> {
        let page = self
            .inner
            .get_range(&self.key(begin)?, &self.key(end)?, options)
            .await?;
        Ok(RangePage {
            kvs: page
                .kvs
                .into_iter()
                .map(|kv| self.unprefixed(kv))
                .collect::<coditect_core::kv::Result<_>>()?,
            more: page.more,
        })
    }

    fn set(&self, key: &[u8], value: &[u8]) -> coditect_core::kv::Result<()> {
        let key = self.key(key)?;
        check_value(value)?;
        self.inner.set(&key, value)
    }

    fn clear(&self, key: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner.clear(&self.key(key)?)
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner.clear_range(&self.key(begin)?, &self.key(end)?)
    }

    fn atomic_add(&self, key: &[u8], delta: i64) -> coditect_core::kv::Result<()> {
        self.inner.atomic_add(&self.key(key)?, delta)
    }

    fn set_versionstamped_key(
        &self,
        key: &[u8],
        versionstamp_offset: u32,
        value: &[u8],
    ) -> coditect_core::kv::Result<()> {
        let prefixed = self.key(key)?;
        check_value(value)?;
        check_versionstamp_offset(key, versionstamp_offset)?;
        // The placeholder moves right by the prefix; the check above bounds the offset by the
        // key's length, so this cannot overflow.
        let offset = versionstamp_offset + self.prefix.len() as u32;
        self.inner.set_versionstamped_key(&prefixed, offset, value)
    }

    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner
            .add_read_conflict_range(&self.key(begin)?, &self.key(end)?)
    }

    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner
            .add_write_conflict_range(&self.key(begin)?, &self.key(end)?)
    }

    async fn commit(self: Box<Self>) -> coditect_core::kv::Result<CommitInfo> {
        self.inner.commit().await
    }
}

coditect_conformance::kv_suite!(FdbHarness::new().await);
coditect_conformance::model_suite!(FdbHarness::new().await);
coditect_conformance::audit_suite!(FdbHarness::new().await);
