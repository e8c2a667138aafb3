//! [`FdbBackend`]: a FoundationDB database handle behind the contract's [`KvBackend`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use coditect_core::{kv::Result, KvBackend, KvError, Transaction};
use foundationdb::options::TransactionOption;
use foundationdb::Database;

use crate::cluster_file::{resolve_cluster_file, CLUSTER_FILE_ENV};
use crate::error_map::TRANSACTION_TIMED_OUT;
use crate::native_error::from_fdb;
use crate::network::{boot, check_network};
use crate::transaction::FdbTransaction;

/// How to reach a cluster.
#[derive(Debug, Clone)]
pub struct FdbOptions {
    /// The cluster file. `None`: FoundationDB's search order (`FDB_CLUSTER_FILE`, else
    /// `./fdb.cluster`, else [`DEFAULT_CLUSTER_FILE`](crate::DEFAULT_CLUSTER_FILE)).
    pub cluster_file: Option<PathBuf>,
    /// Every transaction's time-out (FoundationDB's `timeout` transaction option): without
    /// one, a cluster outage makes every transaction wait forever. It fails with
    /// [`KvError::Timeout`], or [`KvError::CommitUnknownResult`] when it fires during the commit.
    /// `None`: no time-out.
    pub transaction_timeout: Option<Duration>,
}

/// The default [`FdbOptions::transaction_timeout`]: far above a normal transaction's latency
/// (milliseconds) and above the 5 s a transaction may live, so only an outage reaches it.
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for FdbOptions {
    fn default() -> Self {
        FdbOptions {
            cluster_file: None,
            transaction_timeout: Some(DEFAULT_TRANSACTION_TIMEOUT),
        }
    }
}

impl FdbOptions {
    /// Options for the cluster described by `path`.
    pub fn cluster_file(path: impl Into<PathBuf>) -> Self {
        FdbOptions {
            cluster_file: Some(path.into()),
            ..FdbOptions::default()
        }
    }
}

/// A duration as FoundationDB's millisecond option value (at least 1: 0 means none).
fn millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}

/// The contract over a FoundationDB cluster: each [`begin`](KvBackend::begin) is one
/// FoundationDB transaction (see [`FdbTransaction`]).
///
/// Tenancy is the key prefix the layers above put on every key, as in FoundationDB's Record
/// Layer; FoundationDB's own tenants are not used (they are gone from its main branch and from
/// the Rust crate). Keys starting with 0xFF are FoundationDB's system keyspace, which a normal
/// transaction may not touch (`key_outside_legal_range`, 2004, an [`KvError::Backend`]).
pub struct FdbBackend {
    db: Database,
    cluster_file: PathBuf,
    transaction_timeout: Option<Duration>,
}

impl FdbBackend {
    /// Starts the network if needed ([`boot`](crate::boot)) and opens the database of the
    /// cluster file in `options`. Nothing is sent to the cluster yet: a cluster file that
    /// names no running cluster shows at the first transaction, which FoundationDB keeps
    /// retrying. [`connect`](FdbBackend::connect) checks that too.
    pub fn open(options: &FdbOptions) -> Result<Self> {
        let env = std::env::var_os(CLUSTER_FILE_ENV);
        let cluster_file = resolve_cluster_file(options.cluster_file.as_deref(), env.as_deref())?;
        boot()?;
        // `resolve_cluster_file` checked the path is UTF-8 without NUL bytes, which
        // `Database::new` would otherwise panic on.
        let path = cluster_file
            .to_str()
            .ok_or_else(|| KvError::backend("cluster file path is not UTF-8"))?;
        let db = Database::new(Some(path)).map_err(from_fdb)?;
        Ok(FdbBackend {
            db,
            cluster_file,
            transaction_timeout: options.transaction_timeout,
        })
    }

    /// [`open`](FdbBackend::open), then one read-version request that must answer within
    /// `timeout`: the way to find out at start-up, with an error naming the cluster file,
    /// that the cluster it describes is down or unreachable.
    pub async fn connect(options: &FdbOptions, timeout: Duration) -> Result<Self> {
        let backend = FdbBackend::open(options)?;
        backend.ping(timeout).await?;
        Ok(backend)
    }

    /// Asks the cluster for a read version within `timeout` and returns it.
    pub async fn ping(&self, timeout: Duration) -> Result<u64> {
        let tx = self.db.create_trx().map_err(from_fdb)?;
        tx.set_option(TransactionOption::Timeout(millis(timeout)))
            .map_err(from_fdb)?;
        match tx.get_read_version().await {
            Ok(version) => u64::try_from(version)
                .map_err(|_| KvError::backend(format!("FoundationDB reported read version {version}"))),
            Err(error) if error.code() == TRANSACTION_TIMED_OUT => Err(KvError::Backend {
                code: Some(error.code()),
                message: format!(
                    "the FoundationDB cluster of {} did not answer within {timeout:?}: is it running, \
                     and does the file name its coordinators?",
                    self.cluster_file.display()
                ),
                source: Some(Box::new(error)),
            }),
            Err(error) => Err(from_fdb(error)),
        }
    }

    /// The cluster file this backend opened.
    pub fn cluster_file(&self) -> &Path {
        &self.cluster_file
    }

    /// The `foundationdb` crate's database, for what the contract does not cover (options,
    /// status, FoundationDB's own layers).
    pub fn database(&self) -> &Database {
        &self.db
    }
}

#[async_trait]
impl KvBackend for FdbBackend {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        // A failed network thread would leave every future of this transaction waiting.
        check_network()?;
        let tx = self.db.create_trx().map_err(from_fdb)?;
        if let Some(timeout) = self.transaction_timeout {
            tx.set_option(TransactionOption::Timeout(millis(timeout)))
                .map_err(from_fdb)?;
        }
        Ok(Box::new(FdbTransaction::new(tx)))
    }
}
