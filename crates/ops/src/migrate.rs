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

use crate::export::{export_held, ExportOptions, ExportReport, Hold};
use crate::import::{import_as, ImportReport, ImportTarget};
use coditect_core::keys::{self, TenantId};
use coditect_core::kv::{KvBackend, Transaction};
use coditect_core::model::tenant::{normalize_domain, Tenant, TenantStatus};
use coditect_core::record::now_ms;
use coditect_core::registry::{self, busy, OpKind, TenantOp};
use coditect_core::run;
use coditect_core::value::Versioned;
use coditect_core::{Error, Result};

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
    hold: Hold,
) -> Result<MigrateReport> {
    let temp = TempFile::new();
    let file = fs::File::create(&temp.0)?;
    let mut out = BufWriter::new(file);
    let export = export_held(from, tenant, &mut out, options, hold).await?;
    out.into_inner().map_err(|e| e.into_error())?;
    let input = BufReader::new(fs::File::open(&temp.0)?);
    let migrated_from = match hold {
        Hold::Own => None,
        Hold::Migration(_) => Some(tenant),
    };
    let import = import_as(to, input, target, &options.chunk, migrated_from).await?;
    Ok(MigrateReport { export, import })
}

/// Copies `tenant` from `from` into `to` as `target` (the same id and domain with
/// [`ImportTarget::restore`]). The source is quiesced during the export (see
/// [`export`](crate::export())) and stays as it was; the copy is activated with the status
/// the source had.
pub async fn copy(
    from: &dyn KvBackend,
    to: &dyn KvBackend,
    tenant: TenantId,
    target: &ImportTarget,
    options: &ExportOptions,
) -> Result<MigrateReport> {
    through_file(from, to, tenant, target, options, Hold::Own).await
}

/// Re-keys `tenant` as `new_id` with `new_domain` (domains are unique, and the old tenant
/// keeps its own until it is erased) in the same store.
///
/// Every precondition is checked before anything is written, and a refused migration
/// changes nothing (no status, no audit event): the old tenant must exist and not be held
/// by another operation ([`Error::OperationPending`]), `new_id` must differ from it
/// ([`Error::InvalidInput`]) and be free ([`Error::AlreadyExists`] on `id`), and so must the
/// domain ([`Error::AlreadyExists`] on `domain`).
///
/// Then the old tenant is suspended (audited) under a migration marker
/// ([`OpKind::Migrate`]), so no write can land in it after the cut
/// and its status cannot change until the migration ends; the new one gets every record,
/// index and counter, its audit events re-stamped and sealed afresh with a lineage record and
/// an audit event naming the old id ([`import`](crate::import())), and the old tenant's
/// status. The transaction that activates the new tenant also removes the marker and writes
/// the old tenant's audit event naming the new id. An interrupted migration is finished by
/// running it again with the same arguments. The old tenant stays suspended: erase it
/// ([`erase`](crate::erase())) once the new one is checked.
pub async fn migrate(
    db: &dyn KvBackend,
    tenant: TenantId,
    new_id: TenantId,
    new_domain: &str,
    options: &ExportOptions,
) -> Result<MigrateReport> {
    if new_id == tenant {
        return Err(Error::InvalidInput {
            field: "new_id",
            reason: format!("tenant {tenant} cannot be migrated onto its own id"),
        });
    }
    let domain = normalize_domain(new_domain)?;
    let domain = &domain;
    let to = new_id.uuid();
    run(db, &options.chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let (entry, before) = registry::registry_entry(tx, tenant).await?;
        registry::refuse_if_erasing(tx, tenant).await?;
        let resuming = match registry::get_op(tx, tenant).await? {
            Some(op) if op.kind == (OpKind::Migrate { to }) => true,
            Some(op) => return Err(busy(tenant, &op)),
            None => false,
        };
        registry::refuse_if_erasing(tx, new_id).await?;
        if tx
            .get(&keys::tenant_registry_key(new_id), false)
            .await?
            .is_some()
        {
            match registry::get_op(tx, new_id).await? {
                // Staged by this migration before it was interrupted: the import resumes it.
                Some(op)
                    if resuming
                        && op.kind
                            == (OpKind::Import {
                                source: tenant.uuid(),
                            }) => {}
                Some(op) => return Err(busy(new_id, &op)),
                None => {
                    return Err(Error::AlreadyExists {
                        model: Tenant::WHAT,
                        field: "id",
                    })
                }
            }
        }
        if let Some(owner) = tx.get(&keys::tenant_domain_key(domain), false).await? {
            if owner != new_id.uuid().as_bytes() {
                return Err(Error::AlreadyExists {
                    model: Tenant::WHAT,
                    field: "domain",
                });
            }
        }
        if resuming {
            return Ok(());
        }
        registry::put_op(
            tx,
            tenant,
            &TenantOp {
                kind: OpKind::Migrate { to },
                previous: entry.status,
                started_ms: now_ms(),
                progress: 0,
            },
        )?;
        registry::change_status_audited(tx, entry, &before, TenantStatus::Suspended).await?;
        Ok(())
    })
    .await?;
    let target = ImportTarget::new_tenant(new_id, domain.clone());
    through_file(db, db, tenant, &target, options, Hold::Migration(to)).await
}

/// The domain a migrated tenant gets when its operator names none: a new first label naming
/// the new id (`m1a2b3c4d.example.com`), so the old and new tenants never share a domain while
/// both exist.
pub fn migrated_domain(old: &str, new_id: TenantId) -> String {
    let short: String = new_id.uuid().simple().to_string().chars().take(8).collect();
    format!("m{short}.{old}")
}
