//! GDPR erasure: a tenant's whole key range removed in chunks, then its registry entry and
//! its global domain index entry, leaving in the system keyspace an [`Erasure`] record
//! (`("sys", "erasure", uuid)`) that it happened: the tenant id, who asked, when, how much
//! was removed, and nothing of the tenant's data (not its name, not its domain).
//!
//! The first transaction suspends the tenant (no writer can commit into it any more, see
//! [`export`](mod@super::export)) and writes the erasure record, unfinished. Each chunk
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

use foundationdb_tuple::pack;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::export::read_chunk;
use super::state::{self, OpKind};
use super::{ChunkOptions, Progress};
use crate::error::{Error, Result};
use crate::keys::{self, TenantId, SYSTEM};
use crate::kv::{key_after, KvBackend, Transaction};
use crate::model::tenant::{Tenant, TenantStatus};
use crate::record::now_ms;
use crate::run;
use crate::value::{self, Versioned};

/// The record an erasure leaves behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The tenant erased.
    pub tenant: Uuid,
    /// Who asked for it (an operator or a request reference; never tenant data).
    pub actor: String,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When it finished, or `None` while it is under way (or was interrupted).
    pub finished_ms: Option<i64>,
    /// Keys removed.
    pub keys: u64,
    /// Bytes of keys and values removed.
    pub bytes: u64,
    /// Transactions that removed keys.
    pub chunks: u64,
}

impl Versioned for Erasure {
    const WHAT: &'static str = "erasure record";
    const SCHEMA_VERSION: u8 = 1;
}

/// How [`erase`] works.
#[derive(Clone, Debug, Default)]
pub struct EraseOptions {
    /// Chunk sizes, retries, progress.
    pub chunk: ChunkOptions,
}

fn erasure_key(tenant: TenantId) -> Vec<u8> {
    pack(&(SYSTEM, "erasure", tenant.uuid()))
}

async fn get_erasure(tx: &dyn Transaction, tenant: TenantId) -> Result<Option<Erasure>> {
    match tx.get(&erasure_key(tenant), false).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// The erasure record of `tenant`, if it was (or is being) erased.
pub async fn erasure_record(db: &dyn KvBackend, tenant: TenantId) -> Result<Option<Erasure>> {
    let tx = db.begin().await?;
    get_erasure(tx.as_ref(), tenant).await
}

/// Whether `tenant`'s erasure has started and not finished.
pub(crate) async fn is_erasing(tx: &dyn Transaction, tenant: TenantId) -> Result<bool> {
    Ok(matches!(get_erasure(tx, tenant).await?, Some(record) if record.finished_ms.is_none()))
}

/// Refuses ([`Error::OperationPending`]) to work on a tenant whose erasure has started and
/// not finished.
pub(crate) async fn refuse_if_erasing(tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
    if is_erasing(tx, tenant).await? {
        return Err(state::erasing(tenant));
    }
    Ok(())
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
        match get_erasure(tx, tenant).await? {
            // Interrupted: resume it.
            Some(record) if record.finished_ms.is_none() => return Ok(record),
            // Done already (and the id not restored since).
            Some(record) if !registered => return Ok(record),
            _ => {}
        }
        let (entry, _) = state::registry_entry(tx, tenant).await?;
        // A staged import is dropped by erasing it; an export or migration holding the
        // tenant must finish first (it would otherwise restore the status of, or copy, a
        // tenant half erased).
        if let Some(op) = state::get_op(tx, tenant).await? {
            if !matches!(op.kind, OpKind::Import { .. }) {
                return Err(state::busy(tenant, &op));
            }
        }
        if entry.status != TenantStatus::Suspended {
            state::put_registry_entry(
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
        tx.set(&erasure_key(tenant), &value::encode(&record)?)?;
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
            tx.set(&erasure_key(tenant), &value::encode(&record)?)?;
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
        state::clear_op(tx, tenant)?;
        record.finished_ms = Some(now_ms().max(record.started_ms));
        tx.set(&erasure_key(tenant), &value::encode(&record)?)?;
        Ok(record)
    })
    .await?;
    Ok(record)
}

/// The erasure record of `tenant`, which an erasure under way always has.
async fn require_erasure(tx: &dyn Transaction, tenant: TenantId) -> Result<Erasure> {
    get_erasure(tx, tenant).await?.ok_or(Error::NotFound {
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
