//! Export: one tenant's whole key range to a [backup](crate::backup) file, in chunks.
//!
//! Consistency. A FoundationDB transaction lives 5 s, so a large tenant cannot be read at one
//! read version. Instead the export quiesces the tenant: its first transaction sets the
//! registry status to `Suspended` and leaves a marker ([`OpKind::Export`]) that remembers the
//! status to restore. Every writer opens the tenant through [`TenantTx`](coditect_core::TenantTx), which reads the
//! registry entry without snapshot, so a writer that started before the quiesce conflicts on
//! commit and its retry is refused ([`Error::OperationPending`]): after the quiesce commits,
//! nothing can commit into the tenant, and the chunks read afterwards, each at its own read
//! version, together form one consistent cut. The header says so (`consistent: true`); the
//! last transaction restores the status and removes the marker. Both status changes are audit
//! events in the tenant (the first one is inside the backup).
//!
//! The registry is the one door writers use; the audit sealer (which only appends its own
//! state after events that cannot change while quiesced) and someone writing the registry
//! key with a raw transaction are not stopped. `quiesce: false` exports an active tenant
//! without refusing writers: each data frame is then consistent at its own read version only
//! (recorded in the frame), and the header says `consistent: false`. An export interrupted by a crash leaves the tenant
//! suspended with its marker: exporting again resumes the quiesce and restores the status at
//! the end.
//!
//! Limits of the quiesce: run one export of a tenant at a time (a second one started while the
//! first runs takes the marker for an interrupted export, and whichever ends first lets
//! writers back in). While the marker exists the tenant's status and settings cannot change
//! ([`Error::OperationPending`] from `tenant::set_status` and `tenant::update`), so an
//! operator's "activate" cannot let writers in mid-export, nor a "suspend" be undone by the
//! end. An export of a tenant that is already suspended holds it with a marker too, and ends
//! leaving it suspended; an export resumed after a crash restores the status the tenant had
//! before the first attempt began.
//!
//! [`OpKind::Export`]: coditect_core::registry::OpKind::Export

use std::io::Write;

use uuid::Uuid;

use crate::backup::{relative_key, BackupHeader, BackupWriter};
use crate::{ChunkOptions, Progress};
use coditect_core::keys::{self, TenantId};
use coditect_core::kv::{RangeOptions, Transaction};
use coditect_core::model::tenant::{Tenant, TenantStatus};
use coditect_core::record::now_ms;
use coditect_core::registry::{self, busy, OpKind, TenantOp};
use coditect_core::run;
use coditect_core::KvBackend;
use coditect_core::{Error, Result};

/// How [`export`] works.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Chunk sizes, retries, progress.
    pub chunk: ChunkOptions,
    /// Refuse writers during the export so the file is one consistent cut (default true).
    pub quiesce: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            chunk: ChunkOptions::default(),
            quiesce: true,
        }
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Key/value pairs written.
    pub records: u64,
    /// Bytes of their keys and values.
    pub data_bytes: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Data frames (= read transactions).
    pub frames: u32,
    /// Whether the file is one consistent cut (the tenant was quiesced).
    pub consistent: bool,
    /// Read versions of the first and last chunk.
    pub read_versions: (u64, u64),
    /// SHA-256 of the file before its trailer (as the trailer records it).
    pub sha256: [u8; 32],
}

/// Exports `tenant` to `out`; see the module documentation for what is guaranteed.
pub async fn export<W: Write>(
    db: &dyn KvBackend,
    tenant: TenantId,
    out: W,
    options: &ExportOptions,
) -> Result<ExportReport> {
    export_held(db, tenant, out, options, Hold::Own).await
}

/// Who holds the tenant while it is exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// The export itself: it quiesces the tenant under its own marker (or resumes one).
    Own,
    /// The migration to this id, whose marker already holds the tenant suspended.
    Migration(Uuid),
}

/// [`export`] of a tenant held as `hold` says.
pub(crate) async fn export_held<W: Write>(
    db: &dyn KvBackend,
    tenant: TenantId,
    out: W,
    options: &ExportOptions,
    hold: Hold,
) -> Result<ExportReport> {
    let start = begin(db, tenant, options, hold).await?;
    let result = write_chunks(db, tenant, out, &start, options).await;
    if start.owns_marker {
        // The status is restored whether or not the file was written.
        let restored = end(db, tenant, options).await;
        let report = result?;
        restored?;
        Ok(report)
    } else {
        result
    }
}

struct Start {
    header: BackupHeader,
    /// Whether this export holds the tenant with its own marker (and so must end it).
    owns_marker: bool,
}

/// The range of the per-tenant counters `(tenant, "meta", "count", name)`.
pub(crate) fn counter_range(tenant: TenantId) -> Result<(Vec<u8>, Vec<u8>)> {
    let prefix = keys::counters_prefix(&tenant.prefix());
    let end = keys::prefix_range_end(&prefix)?;
    Ok((prefix, end))
}

/// A per-tenant counter's name and value, from its key and its little-endian value.
pub(crate) fn decode_counter(tenant: TenantId, key: &[u8], value: &[u8]) -> Result<(String, i64)> {
    let prefix = keys::counters_prefix(&tenant.prefix());
    let name: String = key
        .strip_prefix(prefix.as_slice())
        .ok_or_else(|| Error::Decode {
            what: "counter key",
            reason: "outside the tenant's counters".into(),
            source: None,
        })
        .and_then(|rest| {
            foundationdb_tuple::unpack(rest).map_err(|e| Error::Decode {
                what: "counter key",
                reason: "not a string".into(),
                source: Some(Box::new(e)),
            })
        })?;
    Ok((name, coditect_core::kv::counter_value(Some(value))))
}

/// The tenant's record counters (records per model, one point read per counting model) in
/// `tx`: what a backup's header records. A bounded read whatever the tenant's size (usage
/// counters, one per metric a day, are many; they travel in the backup's body with the rest
/// of the tenant's keys).
async fn record_counters(tx: &dyn Transaction, tenant: TenantId) -> Result<Vec<(String, i64)>> {
    let prefix = tenant.prefix();
    let mut out = Vec::new();
    for name in crate::check::counted_collections() {
        let key = keys::counter_key(&prefix, name);
        if let Some(value) = tx.get(&key, true).await? {
            out.push(decode_counter(tenant, &key, &value)?);
        }
    }
    Ok(out)
}

/// The first transaction: the registry entry, the quiesce, the counters.
async fn begin(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &ExportOptions,
    hold: Hold,
) -> Result<Start> {
    let quiesce = options.quiesce;
    let (start, _) = run(db, &options.chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        registry::refuse_if_erasing(tx, tenant).await?;
        let (entry, entry_bytes) = registry::registry_entry(tx, tenant).await?;
        let (original, consistent, owns_marker) =
            take_hold(tx, tenant, entry, &entry_bytes, hold, quiesce).await?;
        let counters = record_counters(tx, tenant).await?;
        let read_version = tx.read_version().await?;
        Ok(Start {
            header: BackupHeader {
                tenant: tenant.uuid(),
                entry: coditect_core::value::encode(&original)?,
                exported_at_ms: now_ms(),
                read_version,
                consistent,
                counters,
            },
            owns_marker,
        })
    })
    .await?;
    Ok(start)
}

/// How the export holds the tenant, decided in its first transaction: the entry as the
/// backup's header records it (with the status from before any operation), whether the file
/// is one consistent cut, and whether this export owns the operation marker (and so ends it).
async fn take_hold(
    tx: &dyn Transaction,
    tenant: TenantId,
    entry: Tenant,
    entry_bytes: &[u8],
    hold: Hold,
    quiesce: bool,
) -> Result<(Tenant, bool, bool)> {
    let op = registry::get_op(tx, tenant).await?;
    // The entry in the header carries the status from before the operation, which is what
    // a restore brings back.
    Ok(match (op, hold) {
        // An earlier export was interrupted: the tenant is still quiesced, and `previous`
        // is the status it had before that export began.
        (
            Some(
                op @ TenantOp {
                    kind: OpKind::Export,
                    ..
                },
            ),
            Hold::Own,
        ) => (
            Tenant {
                status: op.previous,
                ..entry
            },
            true,
            true,
        ),
        (Some(op @ TenantOp { kind, .. }), Hold::Migration(to))
            if kind == (OpKind::Migrate { to }) =>
        {
            (
                Tenant {
                    status: op.previous,
                    ..entry
                },
                true,
                false,
            )
        }
        (Some(op), _) => return Err(busy(tenant, &op)),
        (None, Hold::Migration(to)) => {
            return Err(Error::InvalidInput {
                field: "tenant",
                reason: format!(
                    "the migration of tenant {tenant} to {to} is not under way (its marker \
                     is gone)"
                ),
            })
        }
        // The file will say it is one cut, so the tenant is held for the whole export,
        // suspended already or not: a marker makes `activate` refuse it meanwhile, and
        // the end restores exactly this status.
        (None, Hold::Own) if quiesce || entry.status == TenantStatus::Suspended => {
            registry::put_op(
                tx,
                tenant,
                &TenantOp {
                    kind: OpKind::Export,
                    previous: entry.status,
                    started_ms: now_ms(),
                    progress: 0,
                },
            )?;
            registry::change_status_audited(
                tx,
                entry.clone(),
                entry_bytes,
                TenantStatus::Suspended,
            )
            .await?;
            (entry, true, true)
        }
        // Not quiesced: writers go on, each frame is consistent on its own.
        (None, Hold::Own) => (entry, false, false),
    })
}

/// The last transaction: the status before the export (audited when it changes), the marker
/// removed.
async fn end(db: &dyn KvBackend, tenant: TenantId, options: &ExportOptions) -> Result<()> {
    run(db, &options.chunk.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let Some(op) = registry::get_op(tx, tenant).await? else {
            return Ok(());
        };
        if op.kind != OpKind::Export {
            return Err(busy(tenant, &op));
        }
        registry::clear_op(tx, tenant)?;
        // Back to the status before the export (nothing written when it was suspended).
        let (entry, before) = registry::registry_entry(tx, tenant).await?;
        registry::change_status_audited(tx, entry, &before, op.previous).await
    })
    .await?;
    Ok(())
}

/// One chunk of the tenant's range from `begin`: its pairs, read version, where the next
/// starts.
pub(crate) async fn read_chunk(
    tx: &dyn Transaction,
    begin: &[u8],
    end: &[u8],
    options: &ChunkOptions,
) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Option<Vec<u8>>)> {
    let (max_records, max_bytes) = (options.records(), options.bytes());
    let mut pairs = Vec::new();
    let mut bytes = 0usize;
    let mut lo = begin.to_vec();
    loop {
        let options = RangeOptions {
            limit: max_records - pairs.len(),
            snapshot: true,
            ..RangeOptions::default()
        };
        let asked = options.limit.min(coditect_core::kv::RANGE_PAGE_MAX_ROWS);
        let page = tx.get_range(&lo, end, options).await?;
        let next = page.next_range(&lo, end, false);
        // A page the store ended short of the rows asked for, with more to come, stopped at
        // the store's own byte cap (which may count more per row than this chunk does): the
        // chunk ends with it, instead of reading a whole second page for a few rows.
        let full = page.more && page.kvs.len() < asked;
        let mut cut = None;
        let last = page
            .kvs
            .last()
            .map(|kv| coditect_core::kv::key_after(&kv.key));
        for kv in page.kvs {
            bytes += kv.key.len() + kv.value.len();
            let after = coditect_core::kv::key_after(&kv.key);
            pairs.push((kv.key, kv.value));
            if bytes >= max_bytes || pairs.len() >= max_records {
                cut = Some(after);
                break;
            }
        }
        if let Some(after) = cut.or(last.filter(|_| full)) {
            return Ok((pairs, Some(after)));
        }
        match next {
            Some((next_lo, _)) => lo = next_lo,
            None => return Ok((pairs, None)),
        }
    }
}

async fn write_chunks<W: Write>(
    db: &dyn KvBackend,
    tenant: TenantId,
    out: W,
    start: &Start,
    options: &ExportOptions,
) -> Result<ExportReport> {
    let mut writer = BackupWriter::new(out, &start.header)?;
    let (mut cursor, end) = tenant.range();
    let mut progress = Progress::default();
    let mut frames = 0u32;
    let mut last_version = start.header.read_version;
    loop {
        let chunk = &options.chunk;
        let from = &cursor;
        let end_ref = &end;
        // Read-only: `run` only retries a chunk whose transaction grew too old.
        let ((pairs, next, version), _) = run(db, &chunk.retry, |tx| async move {
            let (pairs, next) = read_chunk(&*tx, from, end_ref, chunk).await?;
            let version = tx.read_version().await?;
            Ok((pairs, next, version))
        })
        .await?;
        if !pairs.is_empty() {
            let relative: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .into_iter()
                .map(|(k, v)| (relative_key(&k).to_vec(), v))
                .collect();
            writer.data(version, &relative)?;
            frames += 1;
            last_version = version;
            progress.records += relative.len() as u64;
            progress.bytes += relative
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum::<u64>();
            chunk.report(progress);
        }
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let (_, trailer, file_bytes) = writer.finish()?;
    Ok(ExportReport {
        tenant,
        records: progress.records,
        data_bytes: progress.bytes,
        file_bytes,
        frames,
        consistent: start.header.consistent,
        read_versions: (start.header.read_version, last_version),
        sha256: trailer.sha256,
    })
}
