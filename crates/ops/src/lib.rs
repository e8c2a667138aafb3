//! Tenant operations: per-tenant backup ([`export()`]) and restore ([`import()`]), migration under
//! a new id and copies between stores ([`migrate()`]), GDPR erasure ([`erase()`]) and
//! cross-tenant analytics that read only aggregates ([`analytics`]), and a check of one
//! tenant's invariants ([`check()`]), which import and migrate run before they activate.
//!
//! A tenant is one contiguous key range (`(tenant_uuid, ...)`), so each operation walks that
//! range in chunks, one transaction per chunk, each bounded in records and bytes
//! ([`ChunkOptions`]) to stay well inside FoundationDB's 5 s and 10 MB. Operations that span
//! several transactions leave a marker in the system keyspace
//! (`("sys", "tenant_op", uuid)`, see [`TenantOp`]) or an erasure record, so that an
//! interrupted one is recognised, and resumed or cleaned up, by running it again, or dropped
//! ([`abort()`]). While one is pending it owns the tenant: status and settings changes and
//! writers are refused with [`Error::OperationPending`](coditect_core::Error::OperationPending).
//!
//! The backup file format is in [`backup`]; it parses without a store
//! ([`backup::verify_backup`]), which is what the fuzz target drives.

pub mod abort;
pub mod analytics;
pub mod backup;
pub mod check;
pub mod erase;
pub mod export;
pub mod import;
pub mod migrate;

use std::fmt;
use std::sync::Arc;

pub use abort::{abort, Aborted};
pub use analytics::{report, AnalyticsReport, GroupReport, ReportOptions};
pub use backup::{verify_backup, verify_backup_from, BackupHeader, BackupSummary, BackupTrailer};
pub use check::{check, CheckOptions, CheckReport, Violation, ViolationKind};
pub use coditect_core::registry::{erasure_record, pending_operation, Erasure, OpKind, TenantOp};
pub use erase::{erase, EraseOptions};
pub use export::{export, ExportOptions, ExportReport};
pub use import::{import, import_from_path, ImportReport, ImportTarget};
pub use migrate::{copy, migrate, migrated_domain, MigrateReport};

use coditect_core::kv::RetryOptions;

/// How far an operation got: records (key/value pairs) and their bytes (keys plus values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Key/value pairs handled so far.
    pub records: u64,
    /// Their bytes (keys plus values) so far.
    pub bytes: u64,
}

/// A callback told the running totals after every chunk.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How an operation cuts a tenant into transactions.
#[derive(Clone)]
pub struct ChunkOptions {
    /// Most key/value pairs read or written in one transaction.
    pub chunk_records: usize,
    /// A chunk ends once it holds this many bytes (keys plus values); one pair may overshoot
    /// it by at most one key and value (110 KB).
    pub chunk_bytes: usize,
    /// The retry loop each chunk runs in.
    pub retry: RetryOptions,
    /// Told the totals after every chunk.
    pub progress: Option<ProgressFn>,
}

impl Default for ChunkOptions {
    /// 10,000 pairs or 2 MB a transaction: a few tens of milliseconds, a fifth of
    /// FoundationDB's 10 MB.
    fn default() -> Self {
        ChunkOptions {
            chunk_records: 10_000,
            chunk_bytes: 2_000_000,
            retry: RetryOptions::default(),
            progress: None,
        }
    }
}

impl ChunkOptions {
    pub(crate) fn records(&self) -> usize {
        self.chunk_records.max(1)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.chunk_bytes.max(1)
    }

    pub(crate) fn report(&self, progress: Progress) {
        if let Some(callback) = &self.progress {
            callback(progress);
        }
    }
}

impl fmt::Debug for ChunkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkOptions")
            .field("chunk_records", &self.chunk_records)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("retry", &self.retry)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}
