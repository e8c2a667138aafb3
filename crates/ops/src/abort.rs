//! Abort: drop an operation that holds a tenant instead of finishing it.
//!
//! An export's quiesce is released (the tenant gets back the status it had before the export
//! began); a staged import is erased ([`erase`](crate::erase()), leaving its erasure record);
//! a migration is cancelled (the copy it staged, if any, is erased, and the old tenant gets
//! back its status). Releasing a marker is audited in the tenant: an event of model
//! [`ABORT_EVENT_MODEL`] whose before-digest is the marker's, beside the status change. An
//! erase cannot be aborted (what it removed is gone): run it again to finish it. An abort
//! interrupted anywhere is finished by running it again.

use uuid::Uuid;

use crate::erase::{erase, EraseOptions};
use crate::ChunkOptions;
use coditect_core::audit::{self, Actor, AuditAction};
use coditect_core::keys::TenantId;
use coditect_core::kv::{KvBackend, Transaction};
use coditect_core::model::tenant::TenantStatus;
use coditect_core::registry::{self, busy, OpKind};
use coditect_core::run;
use coditect_core::value;
use coditect_core::TenantTx;
use coditect_core::{Error, Result};

/// The model name of the audit event an abort writes in the tenant it releases.
pub const ABORT_EVENT_MODEL: &str = "tenant_operation_aborted";

/// What [`abort`] dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aborted {
    /// An export's quiesce; the tenant has this status again (the one from before it).
    Export {
        /// The status restored.
        status: TenantStatus,
    },
    /// A staged import: the tenant was erased (its erasure record names the actor).
    Import,
    /// A migration to `to`: its staged copy (if any) was erased, and the old tenant has
    /// `status` again.
    Migrate {
        /// The id the migration was heading for.
        to: Uuid,
        /// The status restored.
        status: TenantStatus,
    },
}

/// Drops the export, import or migration that holds `tenant`, for `actor` (recorded in the
/// erasure record of what is erased). [`Error::OperationPending`] for an unfinished erase,
/// [`Error::InvalidInput`] when nothing holds the tenant; neither changes anything.
pub async fn abort(
    db: &dyn KvBackend,
    tenant: TenantId,
    actor: &str,
    options: &ChunkOptions,
) -> Result<Aborted> {
    let (op, erasing) = {
        let tx = db.begin().await?;
        let tx: &dyn Transaction = tx.as_ref();
        (
            registry::get_op(tx, tenant).await?,
            registry::is_erasing(tx, tenant).await?,
        )
    };
    if erasing {
        return Err(registry::erasing(tenant));
    }
    let Some(op) = op else {
        return Err(Error::InvalidInput {
            field: "tenant",
            reason: format!("no export, import or migration of tenant {tenant} is under way"),
        });
    };
    let erase_options = EraseOptions {
        chunk: options.clone(),
    };
    match op.kind {
        OpKind::Export => {
            let status = release(db, tenant, op.kind, options).await?;
            Ok(Aborted::Export { status })
        }
        OpKind::Import { .. } => {
            erase(db, tenant, actor, &erase_options).await?;
            Ok(Aborted::Import)
        }
        OpKind::Migrate { to } => {
            let target = TenantId::new(to)?;
            let staged = {
                let tx = db.begin().await?;
                let tx: &dyn Transaction = tx.as_ref();
                let ours = registry::get_op(tx, target).await?.is_some_and(|op| {
                    op.kind
                        == OpKind::Import {
                            source: tenant.uuid(),
                        }
                });
                // An abort interrupted while erasing the copy resumes that erase.
                ours || registry::is_erasing(tx, target).await?
            };
            if staged {
                erase(db, target, actor, &erase_options).await?;
            }
            let status = release(db, tenant, op.kind, options).await?;
            Ok(Aborted::Migrate { to, status })
        }
    }
}

/// Removes `tenant`'s marker of `kind`, restoring the status it remembers, both audited;
/// returns the status the tenant has afterwards.
async fn release(
    db: &dyn KvBackend,
    tenant: TenantId,
    kind: OpKind,
    options: &ChunkOptions,
) -> Result<TenantStatus> {
    let (status, _) = run(db, &options.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let (entry, before) = registry::registry_entry(tx, tenant).await?;
        let Some(op) = registry::get_op(tx, tenant).await? else {
            // Released by an earlier attempt that committed after all.
            return Ok(entry.status);
        };
        if op.kind != kind {
            return Err(busy(tenant, &op));
        }
        let marker = value::encode(&op)?;
        registry::clear_op(tx, tenant)?;
        let ttx = TenantTx::with_entry(tx, entry.clone());
        registry::change_status_audited(tx, entry, &before, op.previous).await?;
        audit::write(
            &ttx,
            Actor::System,
            AuditAction::Delete,
            ABORT_EVENT_MODEL,
            tenant.uuid(),
            Some(&marker),
            None,
        )?;
        Ok(op.previous)
    })
    .await?;
    Ok(status)
}
