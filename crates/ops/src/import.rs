//! Import: a [backup](crate::backup) into the tenant it was taken of (restore) or under a new
//! id, never visible half-done.
//!
//! 1. The whole file is read and checked (every frame's check, order, totals, SHA-256) before
//!    anything is written: a corrupt or truncated file is refused with an error naming the
//!    frame, and the store is unchanged. Then it is read a second time to recompute the
//!    source's audit chain over its events ([`audit::seal()`]'s formula, from the source's
//!    genesis, at the source keys): the sealed events must hash to the seal head the backup
//!    carries, the last of them sit at the head's position, and every event decode. A backup
//!    whose history does not (events edited, removed, inserted or reordered, even with every
//!    checksum of the file rebuilt), or that carries events and no head, is refused the same
//!    way, before anything is staged. Events after the head (not sealed when the backup was
//!    taken, such as the export's own) are covered by no head: only the receipt of a later
//!    chain can vouch for them.
//! 2. One transaction stages the tenant: its registry entry with status `Suspended` (so
//!    [`TenantTx`] refuses it: nobody can read or write it), its domain in the global index
//!    (reserving it), and a marker ([`OpKind::Import`]) remembering the status to restore.
//!    Whatever an earlier, interrupted import of the same backup staged is cleared first.
//! 3. The pairs are written in chunks, one transaction each, the file being read (and checked)
//!    a second time; each chunk bumps the marker's progress in the same transaction, so a
//!    chunk retried after an unknown commit result is not applied twice.
//! 4. The staged tenant is [checked](crate::check()) (indexes, references, counters): one
//!    that fails is refused with [`Error::Inconsistent`] and stays staged (import again, or
//!    drop it with [`abort`](crate::abort())).
//! 5. One transaction activates it: the status the tenant had at export, the marker removed,
//!    a lineage record and its audit event (`tenant_import`) linking the new chain to the old.
//! 6. The audit chain is sealed afresh ([`audit::seal()`]).
//!
//! Tenant ids: every key is stored relative to the tenant prefix, so a new id only changes
//! the prefix. The one value that embeds the tenant id is the registry entry (rewritten); the
//! audit events about the tenant record itself carry its id as `record_id` (rewritten, with
//! their index entry by target). Audit events are re-stamped: each is written at a new
//! versionstamped key of the target store, in the same order, with its two index entries
//! regenerated from it, because the source's stamps are commit versions of another store (or
//! of the past) and events written later must sort after them. The hash chain binds every
//! event's key and the tenant id ([`audit::seal()`]), so the imported chain is sealed again
//! from the new tenant's genesis; the old chain's head (count and hash) is kept in the
//! lineage record `(tenant, "meta", "lineage", source)`, whose digest is in the
//! `tenant_import` audit event, and the source position of every event carried over is kept
//! beside the seal state ([`carried`]), so a receipt of the old chain
//! still verifies ([`audit::verify_receipt`]), against the events as they are stored now.
//! Digests inside historical events are kept as they were.
//!
//! Domains are globally unique: a restore keeps the backup's domain, an import under a new
//! id into a store where that domain is taken needs a new one ([`ImportTarget::domain`]),
//! else [`Error::AlreadyExists`] on `domain`. An interrupted import is resumed by importing
//! the same file again, or dropped with [`erase`](crate::erase()).
//!
//! [`OpKind::Import`]: coditect_core::registry::OpKind::Import

use std::fs;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use foundationdb_tuple::pack;
use uuid::Uuid;

use crate::backup::{BackupReader, BackupSummary};
use crate::check::{self, CheckOptions};
use crate::{ChunkOptions, Progress};
use coditect_core::audit::carried::Lineage;
use coditect_core::audit::carried::{self, CarriedChain, CarriedWindow};
use coditect_core::audit::seal::{genesis, link, CHECKPOINT_EVERY};
use coditect_core::audit::{
    self, Actor, AuditAction, AuditEvent, AuditPosition, SealHead, SealOptions,
};
use coditect_core::keys::{
    self, KeyPart, TenantId, AUDIT, AUDIT_BY_ACTOR, AUDIT_BY_TARGET, INDEX, META,
};
use coditect_core::kv::{KvBackend, Transaction};
use coditect_core::model::tenant::{normalize_domain, Tenant, TenantStatus};
use coditect_core::record::now_ms;
use coditect_core::registry::{self, busy, OpKind, TenantOp};
use coditect_core::run;
use coditect_core::value::{self, Versioned};
use coditect_core::TenantTx;
use coditect_core::{Error, Result};

/// Where a backup goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportTarget {
    /// The tenant id to import as; `None` restores under the backup's own id.
    pub id: Option<TenantId>,
    /// The domain; `None` keeps the backup's (which must then be free in the target store).
    pub domain: Option<String>,
}

impl ImportTarget {
    /// Under the backup's own id and domain.
    pub fn restore() -> Self {
        ImportTarget::default()
    }

    /// Under a new id and domain.
    pub fn new_tenant(id: TenantId, domain: impl Into<String>) -> Self {
        ImportTarget {
            id: Some(id),
            domain: Some(domain.into()),
        }
    }
}

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// The tenant imported (active now).
    pub tenant: TenantId,
    /// The tenant the backup was taken of.
    pub source: TenantId,
    /// Pairs of the file written (audit index entries and seal state are regenerated).
    pub records: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Audit events re-stamped.
    pub audit_events: u64,
    /// Write transactions of data chunks.
    pub chunks: u64,
    /// Events in the new chain after sealing.
    pub sealed: u64,
}

/// The model name of the audit event an import writes.
pub const IMPORT_EVENT_MODEL: &str = "tenant_import";
/// Most audit events one chunk re-stamps (a transaction's user versions are 16 bits).
const MAX_EVENTS_PER_CHUNK: usize = 60_000;

/// Imports the backup read from `input` as `target`; see the module documentation.
pub async fn import<R: Read + Seek>(
    db: &dyn KvBackend,
    input: R,
    target: &ImportTarget,
    options: &ChunkOptions,
) -> Result<ImportReport> {
    import_as(db, input, target, options, None).await
}

/// [`import`] as the end of the migration of `migrated_from` (if given): activating the
/// tenant also ends that migration, in the same transaction.
pub(crate) async fn import_as<R: Read + Seek>(
    db: &dyn KvBackend,
    mut input: R,
    target: &ImportTarget,
    options: &ChunkOptions,
    migrated_from: Option<TenantId>,
) -> Result<ImportReport> {
    input.seek(SeekFrom::Start(0))?;
    let (summary, head, events) = read_checked(&mut input)?;
    let mut plan = Plan::new(&summary, target)?;
    plan.migrated_from = migrated_from;
    input.seek(SeekFrom::Start(0))?;
    check_history(&mut input, plan.source, head.as_ref(), events)?;
    stage(db, &plan, options).await?;
    input.seek(SeekFrom::Start(0))?;
    let written = write_chunks(db, &plan, &mut input, summary.trailer.sha256, options).await?;
    let lineage = Lineage {
        source: plan.source.uuid(),
        exported_at_ms: summary.header.exported_at_ms,
        backup_sha256: summary.trailer.sha256,
        source_chain: written.source_chain,
        imported_at_ms: now_ms(),
    };
    // Nothing goes live that breaks the record layer's invariants (the audit trail's are
    // checked above, against the backup's head, and its chain starts at activation).
    let checked = check::check(
        db,
        plan.entry.id,
        &CheckOptions {
            chunk_reads: options.records().min(CheckOptions::default().chunk_reads),
            chunk_bytes: options.bytes(),
            audit: false,
            retry: options.retry.clone(),
            // A backup of records stored before the reverse index existed carries none of
            // their reverse entries: the staged copy gets them now, as their next update
            // would write them.
            repair_reverse_references: true,
            ..CheckOptions::default()
        },
    )
    .await?;
    if !checked.is_clean() {
        return Err(check::inconsistent(&checked));
    }
    activate(db, &plan, &lineage, options).await?;
    let sealed = audit::seal(
        db,
        plan.entry.id,
        &SealOptions {
            chunk_events: options.records(),
            chunk_bytes: options.bytes(),
            retry: options.retry.clone(),
        },
    )
    .await?;
    Ok(ImportReport {
        tenant: plan.entry.id,
        source: plan.source,
        records: written.records,
        file_bytes: summary.file_bytes,
        audit_events: written.events,
        chunks: written.chunks,
        sealed: sealed.head.count,
    })
}

/// [`import`] from the file at `path`.
pub async fn import_from_path(
    db: &dyn KvBackend,
    path: &Path,
    target: &ImportTarget,
    options: &ChunkOptions,
) -> Result<ImportReport> {
    let file = BufReader::new(fs::File::open(path)?);
    import(db, file, target, options).await
}

/// Reads and checks the whole file (as [`verify_backup_from`](coditect_core::verify_backup_from)
/// does); returns its summary, the seal head it carries, if any, and its audit events.
fn read_checked<R: Read>(input: R) -> Result<(BackupSummary, Option<SealHead>, u64)> {
    let skips = Skips::new();
    let mut reader = BackupReader::open(input)?;
    let (mut head, mut events) = (None, 0u64);
    while let Some(frame) = reader.next_data()? {
        for (key, value) in &frame.pairs {
            if key.starts_with(&skips.events) {
                events += 1;
            } else if *key == skips.seal_head {
                head = Some(value::decode::<SealHead>(value)?);
            }
        }
    }
    let trailer = *reader
        .trailer()
        .ok_or_else(|| refused("no trailer".into()))?;
    let summary = BackupSummary {
        header: reader.header().clone(),
        trailer,
        file_bytes: reader.bytes_read(),
    };
    Ok((summary, head, events))
}

fn refused(reason: String) -> Error {
    Error::Decode {
        what: "backup file",
        reason,
        source: None,
    }
}

/// Recomputes the source's audit chain over the `events` events of the file (checked by
/// [`read_checked`] already) and refuses the file unless the sealed ones hash to `head`, the
/// last of them at its position, and every event decodes.
fn check_history<R: Read>(
    input: R,
    source: TenantId,
    head: Option<&SealHead>,
    events: u64,
) -> Result<()> {
    let edited = |what: String| {
        refused(format!(
            "its audit history does not hash to the seal head it carries ({what}): events \
             were edited, removed, inserted or reordered after they were sealed; nothing was \
             imported"
        ))
    };
    let head = match head {
        Some(head) => *head,
        None if events == 0 => return Ok(()),
        None => {
            return Err(refused(format!(
                "it holds {events} audit events and no seal head, so its history cannot be \
                 checked (a tenant's head exists from its first event on; a tenant of an older \
                 build: seal it and export again); nothing was imported"
            )))
        }
    };
    if head.count > events {
        return Err(edited(format!(
            "the head seals {} events, the file holds {events}",
            head.count
        )));
    }
    let skips = Skips::new();
    let mut reader = BackupReader::open(input)?;
    let prefix = source.prefix();
    let (mut hash, mut n) = (genesis(source), 0u64);
    let mut last = None;
    while let Some(frame) = reader.next_data()? {
        for (key, value) in &frame.pairs {
            if !key.starts_with(&skips.events) {
                continue;
            }
            value::decode::<AuditEvent>(value)
                .map_err(|_| edited(format!("event {n} does not decode")))?;
            if n < head.count {
                let mut full = prefix.clone();
                full.extend_from_slice(key);
                hash = link(&hash, &audit::digest(value), &full);
                last = Some(
                    AuditPosition::of_key(key)
                        .map_err(|_| edited(format!("event {n} has no event key")))?,
                );
            }
            n += 1;
        }
    }
    if hash != head.hash || last != head.last {
        return Err(edited(format!(
            "the chain over its first {} events",
            head.count
        )));
    }
    Ok(())
}

/// What the import will write: the target's registry entry and the source.
struct Plan {
    source: TenantId,
    entry: Tenant,
    previous: TenantStatus,
    /// The tenant whose migration this import ends, if it is one.
    migrated_from: Option<TenantId>,
}

impl Plan {
    fn new(summary: &BackupSummary, target: &ImportTarget) -> Result<Self> {
        let source = TenantId::new(summary.header.tenant)?;
        let original: Tenant = value::decode(&summary.header.entry)?;
        if original.id != source {
            return Err(Error::Decode {
                what: "backup file",
                reason: "frame 0 (header): registry entry of another tenant".into(),
                source: None,
            });
        }
        let domain = match &target.domain {
            Some(domain) => normalize_domain(domain)?,
            None => original.domain.clone(),
        };
        let entry = Tenant {
            id: target.id.unwrap_or(source),
            domain,
            status: TenantStatus::Suspended,
            ..original.clone()
        };
        entry.validate()?;
        Ok(Plan {
            source,
            entry,
            previous: original.status,
            migrated_from: None,
        })
    }

    fn op(&self, progress: u64) -> TenantOp {
        TenantOp {
            kind: OpKind::Import {
                source: self.source.uuid(),
            },
            previous: self.previous,
            started_ms: now_ms(),
            progress,
        }
    }

    fn is_ours(&self, op: &TenantOp) -> bool {
        op.kind
            == OpKind::Import {
                source: self.source.uuid(),
            }
    }
}

async fn stage(db: &dyn KvBackend, plan: &Plan, options: &ChunkOptions) -> Result<()> {
    run(db, &options.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let id = plan.entry.id;
        registry::refuse_if_erasing(tx, id).await?;
        let registry = keys::tenant_registry_key(id);
        let domain_key = keys::tenant_domain_key(&plan.entry.domain);
        if let Some(bytes) = tx.get(&registry, false).await? {
            match registry::get_op(tx, id).await? {
                Some(op) if plan.is_ours(&op) => {
                    // Resuming: start the staged range over; drop a domain staged earlier.
                    let staged: Tenant = value::decode(&bytes)?;
                    if staged.domain != plan.entry.domain {
                        tx.clear(&keys::tenant_domain_key(&staged.domain))?;
                    }
                }
                Some(op) => return Err(busy(id, &op)),
                None => {
                    return Err(Error::AlreadyExists {
                        model: Tenant::WHAT,
                        field: "id",
                    })
                }
            }
        }
        if let Some(owner) = tx.get(&domain_key, false).await? {
            if owner != id.uuid().as_bytes() {
                return Err(Error::AlreadyExists {
                    model: Tenant::WHAT,
                    field: "domain",
                });
            }
        }
        let (begin, end) = id.range();
        // No registry entry or a staged one: nothing in this range is anyone's live data.
        tx.clear_range(&begin, &end)?;
        registry::put_registry_entry(tx, &plan.entry)?;
        tx.set(&domain_key, id.uuid().as_bytes())?;
        registry::put_op(tx, id, &plan.op(0))
    })
    .await?;
    Ok(())
}

/// One write of a chunk.
enum Put {
    /// A pair at its (relative) key.
    Pair(Vec<u8>, Vec<u8>),
    /// An audit event to re-stamp, with what its index entries are keyed by and where it
    /// was in the source's trail.
    Event {
        value: Vec<u8>,
        actor: KeyPart,
        model: String,
        record_id: Uuid,
        source_position: AuditPosition,
    },
}

impl Put {
    fn size(&self) -> usize {
        match self {
            Put::Pair(k, v) => 17 + k.len() + v.len(),
            // The event and its two index entries.
            Put::Event { value, model, .. } => 3 * 60 + value.len() + model.len(),
        }
    }
}

struct Written {
    records: u64,
    events: u64,
    chunks: u64,
    source_chain: Option<(u64, [u8; 32])>,
}

/// Relative key prefixes that the import regenerates instead of copying.
struct Skips {
    events: Vec<u8>,
    by_actor: Vec<u8>,
    by_target: Vec<u8>,
    seal_state: Vec<u8>,
    seal_head: Vec<u8>,
}

impl Skips {
    fn new() -> Self {
        Skips {
            events: pack(&AUDIT),
            by_actor: pack(&(INDEX, AUDIT_BY_ACTOR)),
            by_target: pack(&(INDEX, AUDIT_BY_TARGET)),
            seal_state: pack(&(META, AUDIT)),
            seal_head: keys::audit_meta_key(&[], "head", None),
        }
    }
}

fn actor_part(actor: Actor) -> KeyPart {
    match actor {
        Actor::System => KeyPart::Null,
        Actor::Member(member) => KeyPart::Uuid(member.uuid()),
    }
}

/// What a pair of the file becomes in the target.
fn translate(
    plan: &Plan,
    skips: &Skips,
    key: Vec<u8>,
    value: Vec<u8>,
    source_chain: &mut Option<(u64, [u8; 32])>,
) -> Result<Option<Put>> {
    if key.starts_with(&skips.events) {
        let mut event: AuditEvent = value::decode(&value)?;
        let rewrite = plan.entry.id != plan.source
            && event.model == Tenant::WHAT
            && event.record_id == plan.source.uuid();
        let value = if rewrite {
            event.record_id = plan.entry.id.uuid();
            value::encode(&event)?
        } else {
            value
        };
        return Ok(Some(Put::Event {
            value,
            actor: actor_part(event.actor),
            model: event.model,
            record_id: event.record_id,
            source_position: AuditPosition::of_key(&key)?,
        }));
    }
    if key == skips.seal_head {
        let head: SealHead = value::decode(&value)?;
        *source_chain = Some((head.count, head.hash));
    }
    if key.starts_with(&skips.by_actor)
        || key.starts_with(&skips.by_target)
        || key.starts_with(&skips.seal_state)
    {
        return Ok(None);
    }
    Ok(Some(Put::Pair(key, value)))
}

async fn write_chunks<R: Read>(
    db: &dyn KvBackend,
    plan: &Plan,
    input: R,
    backup_sha256: [u8; 32],
    options: &ChunkOptions,
) -> Result<Written> {
    let skips = Skips::new();
    let mut reader = BackupReader::open(input)?;
    let mut written = Written {
        records: 0,
        events: 0,
        chunks: 0,
        source_chain: None,
    };
    let mut progress = Progress::default();
    let mut batch: Vec<Put> = Vec::new();
    let (mut batch_bytes, mut batch_events) = (0usize, 0usize);
    // The source positions of the events carried over, one window at a time.
    let mut positions: Vec<AuditPosition> = Vec::new();
    loop {
        let frame = reader.next_data()?;
        let last = frame.is_none();
        let mut puts = Vec::new();
        for (key, value) in frame.map(|f| f.pairs).unwrap_or_default() {
            progress.records += 1;
            progress.bytes += (key.len() + value.len()) as u64;
            written.records += 1;
            let Some(put) = translate(plan, &skips, key, value, &mut written.source_chain)? else {
                continue;
            };
            let carried = match &put {
                Put::Event {
                    source_position, ..
                } => Some(*source_position),
                Put::Pair(..) => None,
            };
            puts.push(put);
            if let Some(position) = carried {
                positions.push(position);
                written.events += 1;
                if positions.len() as u64 == CHECKPOINT_EVERY {
                    let index = (written.events - 1) / CHECKPOINT_EVERY;
                    puts.push(carried_window(index, &mut positions)?);
                }
            }
        }
        if last {
            // The window begun last, and how many events were carried over.
            if !positions.is_empty() {
                let index = written.events / CHECKPOINT_EVERY;
                puts.push(carried_window(index, &mut positions)?);
            }
            let chain = CarriedChain {
                events: written.events,
                backup_sha256,
            };
            puts.push(Put::Pair(carried::chain_key(&[]), value::encode(&chain)?));
        }
        for put in puts {
            batch_bytes += put.size();
            if let Put::Event { .. } = put {
                batch_events += 1;
            }
            batch.push(put);
            if batch.len() >= options.records()
                || batch_bytes >= options.bytes()
                || batch_events >= MAX_EVENTS_PER_CHUNK
            {
                apply(db, plan, &batch, written.chunks, options).await?;
                written.chunks += 1;
                batch.clear();
                (batch_bytes, batch_events) = (0, 0);
                options.report(progress);
            }
        }
        if last {
            break;
        }
    }
    if !batch.is_empty() {
        apply(db, plan, &batch, written.chunks, options).await?;
        written.chunks += 1;
        options.report(progress);
    }
    Ok(written)
}

/// The pair of carried window `index` (relative to the tenant), taking `positions`.
fn carried_window(index: u64, positions: &mut Vec<AuditPosition>) -> Result<Put> {
    let window = CarriedWindow {
        positions: std::mem::take(positions),
    };
    Ok(Put::Pair(
        carried::window_key(&[], index),
        value::encode(&window)?,
    ))
}

/// Writes chunk number `number` in one transaction (a no-op if the marker says it is in).
async fn apply(
    db: &dyn KvBackend,
    plan: &Plan,
    batch: &[Put],
    number: u64,
    options: &ChunkOptions,
) -> Result<()> {
    run(db, &options.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let id = plan.entry.id;
        let mut op = match registry::get_op(tx, id).await? {
            Some(op) if plan.is_ours(&op) => op,
            _ => {
                return Err(Error::InvalidInput {
                    field: "tenant",
                    reason: format!("the import into {id} was cancelled"),
                })
            }
        };
        if op.progress > number {
            // An earlier attempt committed after all.
            return Ok(());
        }
        let prefix = id.prefix();
        let mut sequence = 0u16;
        for put in batch {
            match put {
                Put::Pair(key, value) => {
                    let mut full = prefix.clone();
                    full.extend_from_slice(key);
                    tx.set(&full, value)?;
                }
                Put::Event {
                    value,
                    actor,
                    model,
                    record_id,
                    ..
                } => {
                    let (key, offset) = keys::audit_key(&prefix, sequence)?;
                    tx.set_versionstamped_key(&key, offset, value)?;
                    let (key, offset) = keys::audit_index_key(
                        &prefix,
                        AUDIT_BY_ACTOR,
                        std::slice::from_ref(actor),
                        sequence,
                    )?;
                    tx.set_versionstamped_key(&key, offset, &[])?;
                    let (key, offset) = keys::audit_index_key(
                        &prefix,
                        AUDIT_BY_TARGET,
                        &[model.as_str().into(), (*record_id).into()],
                        sequence,
                    )?;
                    tx.set_versionstamped_key(&key, offset, &[])?;
                    sequence += 1;
                }
            }
        }
        op.progress = number + 1;
        registry::put_op(tx, id, &op)
    })
    .await?;
    Ok(())
}

/// The key of a lineage record.
fn lineage_key(tenant: TenantId, source: Uuid) -> Vec<u8> {
    keys::lineage_key(&tenant.prefix(), source)
}

async fn activate(
    db: &dyn KvBackend,
    plan: &Plan,
    lineage: &Lineage,
    options: &ChunkOptions,
) -> Result<()> {
    run(db, &options.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let id = plan.entry.id;
        match registry::get_op(tx, id).await? {
            Some(op) if plan.is_ours(&op) => {}
            // Activated by an earlier attempt that committed after all.
            None if tx
                .get(&lineage_key(id, plan.source.uuid()), false)
                .await?
                .is_some() =>
            {
                return Ok(())
            }
            _ => {
                return Err(Error::InvalidInput {
                    field: "tenant",
                    reason: format!("the import into {id} was cancelled"),
                })
            }
        }
        let (entry, _) = registry::registry_entry(tx, id).await?;
        let activated = Tenant {
            status: plan.previous,
            ..entry
        };
        registry::put_registry_entry(tx, &activated)?;
        registry::clear_op(tx, id)?;
        if let Some(from) = plan.migrated_from {
            end_migration(tx, from, id).await?;
        }
        let bytes = value::encode(lineage)?;
        let ttx = TenantTx::with_entry(tx, activated);
        // The chain starts in the transaction that makes the tenant live (the sealing below
        // extends it), so a head is never missing beside the events.
        audit::seal::start_chain(&ttx).await?;
        ttx.set_protected(&lineage_key(id, plan.source.uuid()), &bytes)?;
        audit::write(
            &ttx,
            Actor::System,
            AuditAction::Create,
            IMPORT_EVENT_MODEL,
            plan.source.uuid(),
            None,
            Some(&bytes),
        )
    })
    .await?;
    Ok(())
}

/// Ends the migration of `from` to `to` in the transaction that activates `to`, so the new
/// tenant goes live exactly when the old one's marker goes: the old tenant stays suspended,
/// and its trail records the migration (only now that it happened).
async fn end_migration(tx: &dyn Transaction, from: TenantId, to: TenantId) -> Result<()> {
    match registry::get_op(tx, from).await? {
        Some(op) if op.kind == (OpKind::Migrate { to: to.uuid() }) => {}
        _ => {
            return Err(Error::InvalidInput {
                field: "tenant",
                reason: format!("the migration of tenant {from} to {to} is no longer under way"),
            })
        }
    }
    registry::clear_op(tx, from)?;
    let ttx = TenantTx::open_any_status(tx, from).await?;
    audit::write(
        &ttx,
        Actor::System,
        AuditAction::Create,
        crate::migrate::MIGRATE_EVENT_MODEL,
        to.uuid(),
        None,
        None,
    )
}
