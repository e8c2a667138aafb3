//! GDPR erasure: a tenant's whole key range removed in chunks, then its registry entry and
//! its global domain index entry, leaving in the system keyspace an [`Erasure`] record
//! (`("sys", "erasure", uuid)`) that it happened: the tenant id, who asked, when, how much
//! was removed, and nothing of the tenant's data (not its name, not its domain).
//!
//! The first transaction suspends the tenant (no writer can commit into it any more, see
//! [`export`](mod@crate::export)) and writes the erasure record, unfinished. Each chunk
//! transaction reads a bounded run of keys, clears exactly that run and adds its counts to the
//! record; a retried chunk reads what is left, so nothing is counted twice. The last
//! transaction removes the registry entry, the domain entry and any operation marker, and
//! finishes the record. An erase interrupted anywhere (crash, error) leaves the tenant
//! suspended and the record unfinished: running [`erase`] again resumes and completes it, and
//! running it on a tenant already erased returns its record. While the record is unfinished
//! the tenant's status cannot change and nothing else can start on it
//! ([`Error::OperationPending`]).
//!
//! An erase is refused, changing nothing, while an export or a migration holds the tenant
//! (finish that first); a staged (interrupted) import is dropped by erasing it.

use crate::export::read_chunk;
use crate::{ChunkOptions, Progress};
use coditect_core::keys::{self, TenantId};
use coditect_core::kv::{key_after, KvBackend, Transaction};
use coditect_core::model::tenant::{Tenant, TenantStatus};
use coditect_core::record::now_ms;
use coditect_core::registry::{self, Erasure, OpKind};
use coditect_core::run;
use coditect_core::value::{self, Versioned};
use coditect_core::{Error, Result};

/// How [`erase`] works.
#[derive(Clone, Debug, Default)]
pub struct EraseOptions {
    /// Chunk sizes, retries, progress.
    pub chunk: ChunkOptions,
}

/// Erases `tenant` for `actor` (who asked, recorded as given). Resumes an interrupted erase;
/// on a tenant already erased returns its record. [`Error::TenantNotFound`] when the tenant
/// never existed (no registry entry, no erasure record).
pub async fn erase(
    db: &dyn KvBackend,
    tenant: TenantId,
    actor: &str,
    options: &EraseOptions,
) -> Result<Erasure> {
    let started = start(db, tenant, actor, &options.chunk).await?;
    if started.finished_ms.is_some() {
        return Ok(started);
    }
    clear_in_chunks(db, tenant, &started, &options.chunk).await?;
    finish(db, tenant, &options.chunk).await
}

/// The erasure's first transaction: the tenant suspended and the erasure record written (or,
/// for an erasure already under way or done, its record as it is).
async fn start(
    db: &dyn KvBackend,
    tenant: TenantId,
    actor: &str,
    chunk: &ChunkOptions,
) -> Result<Erasure> {
    let (started, _) = run(db, &chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let registered = tx
            .get(&keys::tenant_registry_key(tenant), false)
            .await?
            .is_some();
        match registry::get_erasure(tx, tenant).await? {
            // Interrupted: resume it.
            Some(record) if record.finished_ms.is_none() => return Ok(record),
            // Done already (and the id not restored since).
            Some(record) if !registered => return Ok(record),
            _ => {}
        }
        let (entry, _) = registry::registry_entry(tx, tenant).await?;
        // A staged import is dropped by erasing it; an export or migration holding the
        // tenant must finish first (it would otherwise restore the status of, or copy, a
        // tenant half erased).
        if let Some(op) = registry::get_op(tx, tenant).await? {
            if !matches!(op.kind, OpKind::Import { .. }) {
                return Err(registry::busy(tenant, &op));
            }
        }
        if entry.status != TenantStatus::Suspended {
            registry::put_registry_entry(
                tx,
                &Tenant {
                    status: TenantStatus::Suspended,
                    ..entry
                },
            )?;
        }
        let record = Erasure {
            tenant: tenant.uuid(),
            actor: actor.to_owned(),
            started_ms: now_ms(),
            finished_ms: None,
            keys: 0,
            bytes: 0,
            chunks: 0,
        };
        tx.set(&keys::erasure_key(tenant), &value::encode(&record)?)?;
        Ok(record)
    })
    .await?;
    Ok(started)
}

/// Clears the tenant's range a chunk a transaction, each chunk counted in the erasure record
/// in the same transaction (so a resumed erasure counts on from where it stopped).
async fn clear_in_chunks(
    db: &dyn KvBackend,
    tenant: TenantId,
    started: &Erasure,
    chunk: &ChunkOptions,
) -> Result<()> {
    let (begin, end) = tenant.range();
    let mut progress = Progress {
        records: started.keys,
        bytes: started.bytes,
    };
    loop {
        let (begin, end) = (&begin, &end);
        let (done, _) = run(db, &chunk.retry, |tx| async move {
            let tx: &dyn Transaction = &*tx;
            // Not a snapshot: a retry after an unknown commit result sees what is left.
            let (pairs, _) = read_chunk_for_update(tx, begin, end, chunk).await?;
            let Some((last, _)) = pairs.last() else {
                return Ok(None);
            };
            tx.clear_range(begin, &key_after(last))?;
            let mut record = require_erasure(tx, tenant).await?;
            let bytes: u64 = pairs.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
            record.keys += pairs.len() as u64;
            record.bytes += bytes;
            record.chunks += 1;
            tx.set(&keys::erasure_key(tenant), &value::encode(&record)?)?;
            Ok(Some((pairs.len() as u64, bytes)))
        })
        .await?;
        let Some((records, bytes)) = done else {
            return Ok(());
        };
        progress.records += records;
        progress.bytes += bytes;
        chunk.report(progress);
    }
}

/// The erasure's last transaction: the registry entry and the domain (if still the
/// tenant's) removed, a staged import's marker dropped, the record marked finished.
async fn finish(db: &dyn KvBackend, tenant: TenantId, chunk: &ChunkOptions) -> Result<Erasure> {
    let (record, _) = run(db, &chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let mut record = require_erasure(tx, tenant).await?;
        if record.finished_ms.is_some() {
            return Ok(record);
        }
        if let Some(bytes) = tx.get(&keys::tenant_registry_key(tenant), false).await? {
            let entry: Tenant = value::decode(&bytes)?;
            let domain_key = keys::tenant_domain_key(&entry.domain);
            // The domain may have been taken over since (by a migration's new tenant).
            if tx.get(&domain_key, false).await?.as_deref() == Some(tenant.uuid().as_bytes()) {
                tx.clear(&domain_key)?;
            }
            tx.clear(&keys::tenant_registry_key(tenant))?;
        }
        // An interrupted import staged under this id is dropped with it.
        registry::clear_op(tx, tenant)?;
        record.finished_ms = Some(now_ms().max(record.started_ms));
        tx.set(&keys::erasure_key(tenant), &value::encode(&record)?)?;
        Ok(record)
    })
    .await?;
    Ok(record)
}

/// The erasure record of `tenant`, which an erasure under way always has.
async fn require_erasure(tx: &dyn Transaction, tenant: TenantId) -> Result<Erasure> {
    registry::get_erasure(tx, tenant)
        .await?
        .ok_or(Error::NotFound {
            model: Erasure::WHAT,
            id: tenant.uuid(),
        })
}

/// [`read_chunk`] without snapshot, so the clear that follows is exactly what was read even
/// if a retry re-runs it.
async fn read_chunk_for_update(
    tx: &dyn Transaction,
    begin: &[u8],
    end: &[u8],
    chunk: &ChunkOptions,
) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>)> {
    let (pairs, next) = read_chunk(tx, begin, end, chunk).await?;
    if let Some((last, _)) = pairs.last() {
        tx.add_read_conflict_range(begin, &key_after(last))?;
    }
    Ok((pairs, next))
}
