//! Migration and copies, both through the export/import path (one format, one set of
//! checks): [`copy`] moves a tenant's backup from one store to another (sled to FoundationDB
//! is the production move) or into the same store under a new id; [`migrate`] re-keys a
//! tenant under a new id in the same store, audited on both sides.
//!
//! The backup goes through a temporary file (removed afterwards), so a tenant larger than
//! memory copies in bounded memory.

use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use uuid::Uuid;

use super::export::{export, ExportOptions, ExportReport};
use super::import::{import_as, ImportReport, ImportTarget};
use super::state::{self, busy};
use crate::audit::{self, Actor, AuditAction};
use crate::error::Result;
use crate::keys::TenantId;
use crate::kv::{KvBackend, Transaction};
use crate::model::tenant::{Tenant, TenantStatus};
use crate::retry::run;
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// The model name of the audit event a migration writes in the tenant it leaves.
pub const MIGRATE_EVENT_MODEL: &str = "tenant_migration";

/// What a copy or migration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrateReport {
    /// The export from the source.
    pub export: ExportReport,
    /// The import into the target.
    pub import: ImportReport,
}

struct TempFile(PathBuf);

impl TempFile {
    fn new() -> Self {
        TempFile(std::env::temp_dir().join(format!("coditect-tenant-{}.backup", Uuid::new_v4())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: a leftover temporary file is harmless (and verifiable).
        let _ = fs::remove_file(&self.0);
    }
}

async fn through_file(
    from: &dyn KvBackend,
    to: &dyn KvBackend,
    tenant: TenantId,
    target: &ImportTarget,
    options: &ExportOptions,
    status: Option<TenantStatus>,
) -> Result<MigrateReport> {
    let temp = TempFile::new();
    let file = fs::File::create(&temp.0)?;
    let mut out = BufWriter::new(file);
    let export = export(from, tenant, &mut out, options).await?;
    out.into_inner().map_err(|e| e.into_error())?;
    let input = BufReader::new(fs::File::open(&temp.0)?);
    let import = import_as(to, input, target, &options.chunk, status).await?;
    Ok(MigrateReport { export, import })
}

/// Copies `tenant` from `from` into `to` as `target` (the same id and domain with
/// [`ImportTarget::restore`]). The source is quiesced during the export (see
/// [`export`](super::export())) and stays as it was; the copy is activated with the status
/// the source had.
pub async fn copy(
    from: &dyn KvBackend,
    to: &dyn KvBackend,
    tenant: TenantId,
    target: &ImportTarget,
    options: &ExportOptions,
) -> Result<MigrateReport> {
    through_file(from, to, tenant, target, options, None).await
}

/// Re-keys `tenant` as `new_id` with `new_domain` (domains are unique, and the old tenant
/// keeps its own until it is erased) in the same store. The old tenant is suspended first,
/// with an audit event naming the new id, so no write can land in it after the cut; the new
/// one gets every record, index and counter, its audit events re-stamped and sealed afresh
/// with a lineage record and an audit event naming the old id
/// ([`import`](super::import())), and the old tenant's status. The old tenant stays
/// suspended: erase it ([`erase`](super::erase())) once the new one is checked.
pub async fn migrate(
    db: &dyn KvBackend,
    tenant: TenantId,
    new_id: TenantId,
    new_domain: &str,
    options: &ExportOptions,
) -> Result<MigrateReport> {
    let (previous, _) = run(db, &options.chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        if let Some(op) = state::get_op(tx, tenant).await? {
            return Err(busy(tenant, &op));
        }
        let (entry, before) = state::registry_entry(tx, tenant).await?;
        let previous = entry.status;
        let after = state::put_registry_entry(
            tx,
            &Tenant {
                status: TenantStatus::Suspended,
                ..entry
            },
        )?;
        let ttx = TenantTx::open_any_status(tx, tenant).await?;
        audit::write(
            &ttx,
            Actor::System,
            AuditAction::Update,
            Tenant::WHAT,
            tenant.uuid(),
            Some(&before),
            Some(&after),
        )?;
        audit::write(
            &ttx,
            Actor::System,
            AuditAction::Create,
            MIGRATE_EVENT_MODEL,
            new_id.uuid(),
            None,
            None,
        )?;
        Ok(previous)
    })
    .await?;
    let target = ImportTarget::new_tenant(new_id, new_domain);
    through_file(db, db, tenant, &target, options, Some(previous)).await
}
