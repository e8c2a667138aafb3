//! `tenant check`: walks one tenant in chunks and verifies the invariants the record layer
//! keeps, reporting every violation with its key.
//!
//! What is checked, for every model of the crate's registry of its 19 models (generic:
//! each model's [`INDEXES`](Model::INDEXES), [`references`](Model::references),
//! [`counters`](Model::counters) and [`counted`](Model::counted) say what its records must
//! have, so no model has a check of its own):
//!
//! - every index entry points at a record that exists and holds the entry's values
//!   ([`ViolationKind::IndexEntryDangling`], [`ViolationKind::IndexEntryStale`]);
//! - every record is in each of its indexes ([`ViolationKind::IndexEntryMissing`]), and no
//!   two records share the values of a unique index ([`ViolationKind::UniqueValueTwice`]);
//! - every reference of every record resolves ([`ViolationKind::DanglingReference`]) and has
//!   its reverse entry `(t, "ref", target, id, source, field, source_id)`
//!   ([`ViolationKind::ReverseReferenceMissing`]); every reverse entry names a record that
//!   still refers so ([`ViolationKind::ReverseReferenceStale`]);
//! - every counter `(t, "meta", "count", name)` and `(t, "meta", "record_count", collection,
//!   id)` equals what the records say it counts ([`ViolationKind::CounterMismatch`]);
//! - no quota of the tenant's entry is passed ([`ViolationKind::OverQuota`]): how an
//!   import, migration or copy applies the quotas of what it activates;
//! - data kept beside a record (a user's credential, a workflow's saved versions) has its
//!   record ([`ViolationKind::OrphanedData`]); a record decodes and sits under its own id
//!   ([`ViolationKind::Undecodable`]);
//! - the audit trail: [`audit::verify`](coditect_core::audit::verify()) (events as sealed, and the two
//!   audit indexes matching the events), when [`CheckOptions::audit`] is set.
//!
//! Keys the registry does not know (a collection or an index no model declares) are counted
//! ([`CheckReport::unrecognised`]), not judged.
//!
//! The walk is one read-only transaction of snapshot reads per chunk, resuming at the key after
//! the last one it judged, each chunk bounded by [`CheckOptions::chunk_reads`] (rows plus the
//! point reads judging them), so a chunk stays well inside FoundationDB's 5 s and a tenant of
//! any size is checked. Each row is judged inside one transaction (its record and entries at
//! one version), so on a tenant being written a row's verdict is still exact; the counters are
//! summed across chunks, so on a tenant being written meanwhile a counter may be reported off
//! by a concurrent write (run it again; an import's staged tenant and a suspended one have no
//! writers). The counters read and recomputed are held in memory: two integers per counter.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use foundationdb_tuple::Element;
use uuid::Uuid;

use coditect_core::audit::{self, TamperKind, Verdict, VerifyOptions};
use coditect_core::keys::{self, TenantId};
use coditect_core::kv::RetryOptions;
use coditect_core::kv::{key_after, KvBackend, RangeOptions};
use coditect_core::model::role::Role;
use coditect_core::model::tenant::{quota_counters, Quotas, UNLIMITED};
use coditect_core::model::{
    AgentConfig, AgentExecution, AgentInstance, ApiKey, Comment, Conversation, Entity, File,
    Member, Message, Project, RoleAssignment, Session, Setting, Task, Usage, User, Workflow,
};
use coditect_core::record::Model;
use coditect_core::run;
use coditect_core::value;
use coditect_core::TenantTx;
use coditect_core::{Error, Result};

/// What is wrong at a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A record that does not decode as its model, or is stored under another id than its own.
    Undecodable,
    /// An index entry pointing at a record that does not exist.
    IndexEntryDangling,
    /// An index entry whose record exists but does not hold the entry's values.
    IndexEntryStale,
    /// A record missing from one of its indexes (the key is the entry it lacks).
    IndexEntryMissing,
    /// One of two or more entries of a unique index holding the same values (each is
    /// reported at its key).
    UniqueValueTwice,
    /// A record referring to a record that does not exist (the key is the referring record's).
    DanglingReference,
    /// A reference without its reverse entry (the key is the entry it lacks).
    ReverseReferenceMissing,
    /// A reverse entry whose source record is gone or no longer refers to the target.
    ReverseReferenceStale,
    /// A counter that differs from what it counts.
    CounterMismatch,
    /// Data kept beside a record (a credential, a workflow's saved version) whose record is gone.
    OrphanedData,
    /// More records than the tenant's quota allows (the key is the counter's): a tenant
    /// brought in by an import, migration or copy must fit the quotas of its entry.
    OverQuota,
    /// The audit trail is not as sealed, or its indexes disagree with its events
    /// ([`audit::verify`](coditect_core::audit::verify())).
    Audit(TamperKind),
}

impl ViolationKind {
    /// The kind as one snake-case word, for tools.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Undecodable => "undecodable",
            ViolationKind::IndexEntryDangling => "index_entry_dangling",
            ViolationKind::IndexEntryStale => "index_entry_stale",
            ViolationKind::IndexEntryMissing => "index_entry_missing",
            ViolationKind::UniqueValueTwice => "unique_value_twice",
            ViolationKind::DanglingReference => "dangling_reference",
            ViolationKind::ReverseReferenceMissing => "reverse_reference_missing",
            ViolationKind::ReverseReferenceStale => "reverse_reference_stale",
            ViolationKind::CounterMismatch => "counter_mismatch",
            ViolationKind::OrphanedData => "orphaned_data",
            ViolationKind::OverQuota => "over_quota",
            ViolationKind::Audit(_) => "audit",
        }
    }
}

/// One violation: what, at which key, and a sentence saying more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What is wrong.
    pub kind: ViolationKind,
    /// The key it is at (see each [`ViolationKind`]).
    pub key: Vec<u8>,
    /// What was found, in words (model, field, values).
    pub detail: String,
}

impl Violation {
    /// The key escaped for people: printable ASCII as it is, every other byte as `\xNN`
    /// (as fdbcli prints keys).
    pub fn key_escaped(&self) -> String {
        escape(&self.key)
    }

    /// The key in lower-case hex.
    pub fn key_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}: {}",
            self.kind.name(),
            self.key_escaped(),
            self.detail
        )
    }
}

/// `bytes` with printable ASCII as it is (backslash doubled) and every other byte as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// How [`check`] walks.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Most reads in one transaction: rows walked plus the point reads that judge them (a
    /// row's reads all land in one chunk, so a chunk may pass this by one row's).
    pub chunk_reads: usize,
    /// A chunk ends once the bytes it read (rows and point reads, keys and values) reach
    /// this; it may pass it by one row's reads (a row and the records it names: at most a
    /// few hundred KB).
    pub chunk_bytes: usize,
    /// Most violations kept in the report; the rest are counted
    /// ([`CheckReport::violation_count`]).
    pub max_violations: usize,
    /// Whether to verify the audit trail too ([`audit::verify`](coditect_core::audit::verify())).
    /// An import checks the staged tenant without it: its chain starts when it is activated.
    pub audit: bool,
    /// The retry loop each chunk runs in.
    pub retry: RetryOptions,
    /// Write the reverse-reference entries the walk finds missing instead of reporting them
    /// ([`CheckReport::repaired`]), in a transaction of their own after each chunk: for a
    /// tenant nobody writes to (an import's staged copy). Records written before the reverse
    /// index existed have none until their next update; this is that update's write, done
    /// at once. Off by default: a check changes nothing.
    pub repair_reverse_references: bool,
}

impl Default for CheckOptions {
    /// 2,000 reads or 2 MB a transaction, 1,000 violations kept, the audit trail verified.
    fn default() -> Self {
        CheckOptions {
            chunk_reads: 2_000,
            chunk_bytes: 2_000_000,
            max_violations: 1_000,
            audit: true,
            retry: RetryOptions::default(),
            repair_reverse_references: false,
        }
    }
}

/// What [`check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The tenant checked.
    pub tenant: TenantId,
    /// Keys walked.
    pub keys: u64,
    /// Records of registered models among them.
    pub records: u64,
    /// Keys no registered model accounts for (a collection or index no model declares).
    pub unrecognised: u64,
    /// Counters compared.
    pub counters: u64,
    /// Transactions the walk took.
    pub chunks: u64,
    /// Missing reverse-reference entries written
    /// ([`CheckOptions::repair_reverse_references`]).
    pub repaired: u64,
    /// Audit events verified, when the audit trail was checked and verified clean.
    pub audit_events: Option<u64>,
    /// The violations, in the order found (at most [`CheckOptions::max_violations`]).
    pub violations: Vec<Violation>,
    /// Violations found in all.
    pub violation_count: u64,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.violation_count == 0
    }

    fn push(&mut self, violation: Violation, max: usize) {
        self.violation_count += 1;
        if self.violations.len() < max {
            self.violations.push(violation);
        }
    }
}

/// Walks `tenant` (any status: an import's staged tenant too) and checks its invariants; see
/// the module documentation. [`Error::TenantNotFound`] when it is not in the registry.
pub async fn check(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &CheckOptions,
) -> Result<CheckReport> {
    let mut report = CheckReport {
        tenant,
        keys: 0,
        records: 0,
        unrecognised: 0,
        counters: 0,
        chunks: 0,
        repaired: 0,
        audit_events: None,
        violations: Vec::new(),
        violation_count: 0,
    };
    let budget = Budget {
        reads: options.chunk_reads.max(1),
        bytes: options.chunk_bytes.max(1),
    };
    let totals = walk_chunks(db, tenant, options, budget, &mut report).await?;
    if let Some(quotas) = &totals.quotas {
        check_quotas(tenant, quotas, &totals.expected, options, &mut report);
    }
    compare_counters(&totals, options, &mut report);
    if options.audit {
        verify_audit(db, tenant, budget, options, &mut report).await?;
    }
    Ok(report)
}

/// What the chunks found about the counters, summed across them.
#[derive(Default)]
struct Totals {
    /// What the records walked add to each counter (by key).
    expected: BTreeMap<Vec<u8>, i64>,
    /// The counters walked (by key).
    stored: BTreeMap<Vec<u8>, i64>,
    /// The tenant's quotas, as the last chunk's registry entry says.
    quotas: Option<Quotas>,
}

/// Walks the tenant a chunk (one transaction) at a time, each resuming where the last one
/// stopped: adds each chunk's counts and violations to `report` (repairing the missing
/// reverse references first when asked) and sums the counters it read for the comparison
/// after the walk.
async fn walk_chunks(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &CheckOptions,
    budget: Budget,
    report: &mut CheckReport,
) -> Result<Totals> {
    let (mut from, end) = tenant.range();
    let mut totals = Totals::default();
    loop {
        let (start, end) = (&from, &end);
        let (chunk, _) = run(db, &options.retry, |tx| async move {
            let ttx = TenantTx::open_any_status(&*tx, tenant).await?;
            check_chunk(&ttx, start, end, budget).await
        })
        .await?;
        report.chunks += 1;
        report.keys += chunk.keys;
        report.records += chunk.records;
        report.unrecognised += chunk.unrecognised;
        let mut violations = chunk.violations;
        if options.repair_reverse_references {
            repair_reverse_references(db, tenant, options, &mut violations, report).await?;
        }
        for violation in violations {
            report.push(violation, options.max_violations);
        }
        for (key, amount) in chunk.expected {
            let total = totals.expected.entry(key).or_default();
            *total = total.wrapping_add(amount);
        }
        totals.stored.extend(chunk.stored);
        totals.quotas = chunk.quotas.or(totals.quotas);
        match chunk.next {
            Some(next) => from = next,
            None => return Ok(totals),
        }
    }
}

/// Writes the reverse-reference entries a chunk found missing, in a transaction of its own,
/// and takes their violations out of `violations`
/// ([`CheckOptions::repair_reverse_references`]).
async fn repair_reverse_references(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &CheckOptions,
    violations: &mut Vec<Violation>,
    report: &mut CheckReport,
) -> Result<()> {
    let missing: Vec<Vec<u8>> = violations
        .iter()
        .filter(|v| v.kind == ViolationKind::ReverseReferenceMissing)
        .map(|v| v.key.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let missing = &missing;
    run(db, &options.retry, |tx| async move {
        let ttx = TenantTx::open_any_status(&*tx, tenant).await?;
        for key in missing {
            ttx.set_protected(key, &[])?;
        }
        Ok(())
    })
    .await?;
    report.repaired += missing.len() as u64;
    violations.retain(|v| v.kind != ViolationKind::ReverseReferenceMissing);
    Ok(())
}

/// Reports each quota of the tenant's entry that the records counted pass
/// ([`ViolationKind::OverQuota`]).
fn check_quotas(
    tenant: TenantId,
    quotas: &Quotas,
    expected: &BTreeMap<Vec<u8>, i64>,
    options: &CheckOptions,
    report: &mut CheckReport,
) {
    let prefix = tenant.prefix();
    for (field, counter, quota) in quota_counters(quotas) {
        let key = keys::counter_key(&prefix, counter);
        let used = expected.get(&key).copied().unwrap_or(0);
        if quota != UNLIMITED && used > quota {
            let violation = Violation {
                kind: ViolationKind::OverQuota,
                key,
                detail: format!("{used} records counted, more than its {field} of {quota}"),
            };
            report.push(violation, options.max_violations);
        }
    }
}

/// Compares every counter read or counted with what the records count
/// ([`ViolationKind::CounterMismatch`]), in key order; a counter missing on either side is 0.
fn compare_counters(totals: &Totals, options: &CheckOptions, report: &mut CheckReport) {
    let (expected, stored) = (&totals.expected, &totals.stored);
    let names: BTreeSet<&Vec<u8>> = expected.keys().chain(stored.keys()).collect();
    report.counters = names.len() as u64;
    for key in names {
        let (want, have) = (
            expected.get(key).copied().unwrap_or(0),
            stored.get(key).copied().unwrap_or(0),
        );
        if want != have {
            let violation = Violation {
                kind: ViolationKind::CounterMismatch,
                key: key.clone(),
                detail: format!("holds {have}, the records count {want}"),
            };
            report.push(violation, options.max_violations);
        }
    }
}

/// Verifies the audit trail ([`audit::verify`](coditect_core::audit::verify())) in chunks
/// of the walk's read budget: the count of events when clean, the tamper as a violation.
async fn verify_audit(
    db: &dyn KvBackend,
    tenant: TenantId,
    budget: Budget,
    options: &CheckOptions,
    report: &mut CheckReport,
) -> Result<()> {
    let verify = VerifyOptions {
        from: 0,
        chunk_events: budget.reads,
    };
    match audit::verify(db, tenant, &verify).await? {
        Verdict::Clean(verified) => report.audit_events = Some(verified.verified),
        Verdict::Tampered(tamper) => {
            let violation = Violation {
                kind: ViolationKind::Audit(tamper.kind),
                key: tamper.key,
                detail: format!(
                    "the audit trail at position {}: {:?}",
                    tamper.position, tamper.kind
                ),
            };
            report.push(violation, options.max_violations);
        }
    }
    Ok(())
}

/// What one chunk found.
#[derive(Default)]
struct Chunk {
    keys: u64,
    records: u64,
    unrecognised: u64,
    violations: Vec<Violation>,
    /// What the records walked add to each counter (by key).
    expected: BTreeMap<Vec<u8>, i64>,
    /// The counters walked (by key).
    stored: BTreeMap<Vec<u8>, i64>,
    /// Where the next chunk starts, or `None` at the end of the tenant.
    next: Option<Vec<u8>>,
    /// The tenant's quotas, as its registry entry says.
    quotas: Option<Quotas>,
}

/// What one chunk may read.
#[derive(Clone, Copy)]
struct Budget {
    reads: usize,
    bytes: usize,
}

/// Reads what the point reads of a row cost: their number and bytes (keys and values).
#[derive(Default)]
struct Cost {
    reads: usize,
    bytes: usize,
}

impl Cost {
    /// Reads `key` (a snapshot read) and counts it.
    async fn get(&mut self, ttx: &TenantTx<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = ttx.get(key, true).await?;
        self.reads += 1;
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        Ok(value)
    }
}

async fn check_chunk(ttx: &TenantTx<'_>, from: &[u8], end: &[u8], budget: Budget) -> Result<Chunk> {
    let mut chunk = Chunk {
        quotas: Some(ttx.tenant().quotas),
        ..Chunk::default()
    };
    let (mut reads, mut bytes) = (0usize, 0usize);
    // The most one row has cost so far (its bytes and its point reads'): a page asks for as
    // many rows as the budget left would pay for at that cost, so the rows read past the
    // cut stay few. The first page asks for one.
    let mut dearest = 0usize;
    let mut lo = from.to_vec();
    loop {
        let left = budget.bytes.saturating_sub(bytes);
        let rows = left.checked_div(dearest).unwrap_or(1);
        let want = rows.min(budget.reads.saturating_sub(reads)).clamp(1, 1_000);
        let page = ttx
            .get_range(&lo, end, RangeOptions::limit(want).snapshot())
            .await?;
        let next = page.next_range(&lo, end, false);
        bytes += page
            .kvs
            .iter()
            .map(|kv| kv.key.len() + kv.value.len())
            .sum::<usize>();
        for kv in &page.kvs {
            chunk.keys += 1;
            let mut cost = Cost::default();
            judge(ttx, &kv.key, &kv.value, &mut chunk, &mut cost).await?;
            reads += 1 + cost.reads;
            bytes += cost.bytes;
            dearest = dearest.max(kv.key.len() + kv.value.len() + cost.bytes);
            if reads >= budget.reads || bytes >= budget.bytes {
                chunk.next = Some(key_after(&kv.key));
                return Ok(chunk);
            }
        }
        match next {
            Some((next_lo, _)) => lo = next_lo,
            None => return Ok(chunk),
        }
    }
}

/// Judges one row, counting its point reads in `cost`: by the kind of row its collection
/// says it is.
async fn judge(
    ttx: &TenantTx<'_>,
    key: &[u8],
    bytes: &[u8],
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    let Ok(elements) = keys::decode_key(key) else {
        chunk.unrecognised += 1;
        return Ok(());
    };
    let collection = elements.get(1).and_then(Element::as_str).unwrap_or("");
    match collection {
        keys::INDEX => judge_index_entry(ttx, key, &elements, chunk, cost).await,
        keys::REFS => judge_reverse_reference(ttx, key, chunk, cost).await,
        keys::META => {
            read_meta_counter(key, &elements, bytes, chunk);
            Ok(())
        }
        keys::AUDIT => Ok(()),
        _ => {
            if let Some((_, owner)) = ATTACHED.iter().find(|(c, _)| *c == collection) {
                return judge_attached(ttx, key, &elements, owner, chunk, cost).await;
            }
            let Some(model) = MODELS.iter().find(|m| m.collection() == collection) else {
                chunk.unrecognised += 1;
                return Ok(());
            };
            judge_record(ttx, *model, key, &elements, bytes, chunk, cost).await
        }
    }
}

/// Judges an index entry `(t, "index", index, values.., id)`: its index is a registered
/// model's, its values are no other record's (a unique index), and its record exists and
/// holds them. The audit indexes are left to [`audit::verify`](coditect_core::audit::verify()).
async fn judge_index_entry(
    ttx: &TenantTx<'_>,
    key: &[u8],
    elements: &[Element<'static>],
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    let index = elements.get(2).and_then(Element::as_str).unwrap_or("");
    if index == keys::AUDIT_BY_ACTOR || index == keys::AUDIT_BY_TARGET {
        // The audit module's own: audit::verify judges them.
        return Ok(());
    }
    let Some(model) = MODELS.iter().find(|m| m.indexes().contains(&index)) else {
        chunk.unrecognised += 1;
        return Ok(());
    };
    let id = keys::id_of_index_key(key)?;
    if model.unique_indexes().contains(&index) {
        judge_unique_values(ttx, key, index, chunk, cost).await?;
    }
    judge_indexed_record(ttx, *model, key, index, id, chunk, cost).await
}

/// Reports an entry of unique index `index` whose values another entry holds too
/// ([`ViolationKind::UniqueValueTwice`]): one range read of at most two keys.
async fn judge_unique_values(
    ttx: &TenantTx<'_>,
    key: &[u8],
    index: &str,
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    // The entries with the same values: the key without its id.
    let values = &key[..key.len().saturating_sub(PACKED_UUID_LEN)];
    let end = keys::prefix_range_end(values)?;
    let page = ttx
        .get_range(values, &end, RangeOptions::limit(2).snapshot())
        .await?;
    cost.reads += 1;
    cost.bytes += page.kvs.iter().map(|kv| kv.key.len()).sum::<usize>();
    if page.kvs.len() > 1 {
        chunk.violations.push(Violation {
            kind: ViolationKind::UniqueValueTwice,
            key: key.to_vec(),
            detail: format!("unique index {index} holds these values for another record too"),
        });
    }
    Ok(())
}

/// Reports an entry of `index` whose record `id` does not exist
/// ([`ViolationKind::IndexEntryDangling`]) or does not hold the entry's values
/// ([`ViolationKind::IndexEntryStale`]).
async fn judge_indexed_record(
    ttx: &TenantTx<'_>,
    model: &dyn Registered,
    key: &[u8],
    index: &str,
    id: Uuid,
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    let prefix = ttx.prefix();
    let record = keys::record_key(prefix, model.collection(), id);
    let (kind, detail) = match cost.get(ttx, &record).await? {
        None => (
            ViolationKind::IndexEntryDangling,
            format!(
                "index {index} points at {} {id}, which does not exist",
                model.what()
            ),
        ),
        Some(stored) => match model.describe(prefix, &stored) {
            Err(_) => return Ok(()), // Reported at the record.
            Ok(described) if described.index_keys.iter().any(|k| k == key) => return Ok(()),
            Ok(_) => (
                ViolationKind::IndexEntryStale,
                format!(
                    "index {index} lists {} {id}, which does not hold these values",
                    model.what()
                ),
            ),
        },
    };
    chunk.violations.push(Violation {
        kind,
        key: key.to_vec(),
        detail,
    });
    Ok(())
}

/// Judges a reverse-reference entry `(t, "ref", target, id, source, field, source_id)`: its
/// source record exists and still refers so ([`ViolationKind::ReverseReferenceStale`]).
async fn judge_reverse_reference(
    ttx: &TenantTx<'_>,
    key: &[u8],
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    let Ok((source, field, source_id)) = keys::referrer_of_key(key) else {
        chunk.unrecognised += 1;
        return Ok(());
    };
    let Some(model) = MODELS.iter().find(|m| m.collection() == source) else {
        chunk.unrecognised += 1;
        return Ok(());
    };
    let prefix = ttx.prefix();
    let record = keys::record_key(prefix, model.collection(), source_id);
    let holds = match cost.get(ttx, &record).await? {
        None => false,
        Some(stored) => match model.describe(prefix, &stored) {
            Err(_) => return Ok(()), // Reported at the record.
            Ok(described) => described.reverse_keys.iter().any(|k| k == key),
        },
    };
    if !holds {
        chunk.violations.push(Violation {
            kind: ViolationKind::ReverseReferenceStale,
            key: key.to_vec(),
            detail: format!(
                "{} {source_id} is gone or no longer refers here by {field}",
                model.what()
            ),
        });
    }
    Ok(())
}

/// Keeps the value of a meta counter (`(t, "meta", "count" | "record_count", ..)`, a
/// little-endian integer) for the comparison after the walk.
fn read_meta_counter(key: &[u8], elements: &[Element<'static>], bytes: &[u8], chunk: &mut Chunk) {
    let counter = matches!(
        elements.get(2).and_then(Element::as_str),
        Some("count" | "record_count")
    );
    if counter {
        let value = coditect_core::kv::counter_value(Some(bytes));
        chunk.stored.insert(key.to_vec(), value);
    }
    // The rest (seal state, lineage) is the audit module's and import's.
}

/// Judges data kept beside a record of collection `owner` (`(t, collection, id, ..)`): its
/// record exists ([`ViolationKind::OrphanedData`]).
async fn judge_attached(
    ttx: &TenantTx<'_>,
    key: &[u8],
    elements: &[Element<'static>],
    owner: &str,
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    let Some(model) = MODELS.iter().find(|m| m.collection() == owner) else {
        return Ok(());
    };
    let Some(id) = elements.get(2).and_then(Element::as_uuid) else {
        chunk.unrecognised += 1;
        return Ok(());
    };
    let record = keys::record_key(ttx.prefix(), model.collection(), *id);
    if cost.get(ttx, &record).await?.is_none() {
        chunk.violations.push(Violation {
            kind: ViolationKind::OrphanedData,
            key: key.to_vec(),
            detail: format!("kept beside {} {id}, which does not exist", model.what()),
        });
    }
    Ok(())
}

/// Judges one record: it decodes under its own id, its index entries and reverse references
/// exist, what it refers to exists; adds what it counts.
async fn judge_record(
    ttx: &TenantTx<'_>,
    model: &dyn Registered,
    key: &[u8],
    elements: &[Element<'static>],
    bytes: &[u8],
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    chunk.records += 1;
    let Some(described) = describe_record(ttx.prefix(), model, key, elements, bytes, chunk) else {
        return Ok(());
    };
    judge_record_indexed(ttx, model, &described, chunk, cost).await?;
    judge_record_references(ttx, model, key, &described, chunk, cost).await?;
    for (counter, amount) in described.counted {
        let total = chunk.expected.entry(counter).or_default();
        *total = total.wrapping_add(amount);
    }
    Ok(())
}

/// The record at `key` as `model` describes it, or `None` with an
/// [`ViolationKind::Undecodable`] reported when it does not decode or is stored under
/// another id than its own.
fn describe_record(
    prefix: &[u8],
    model: &dyn Registered,
    key: &[u8],
    elements: &[Element<'static>],
    bytes: &[u8],
    chunk: &mut Chunk,
) -> Option<Described> {
    let undecodable = |detail: String| Violation {
        kind: ViolationKind::Undecodable,
        key: key.to_vec(),
        detail,
    };
    let described = match model.describe(prefix, bytes) {
        Ok(described) => described,
        Err(error) => {
            chunk
                .violations
                .push(undecodable(format!("not a {}: {error}", model.what())));
            return None;
        }
    };
    let key_id = match elements {
        [_, _, Element::Uuid(id)] => *id,
        _ => Uuid::nil(),
    };
    if key_id != described.id {
        chunk.violations.push(undecodable(format!(
            "{} {} stored under another key",
            model.what(),
            described.id
        )));
        return None;
    }
    Some(described)
}

/// Reports each index entry the record should have and lacks
/// ([`ViolationKind::IndexEntryMissing`]).
async fn judge_record_indexed(
    ttx: &TenantTx<'_>,
    model: &dyn Registered,
    described: &Described,
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    for entry in &described.index_keys {
        if cost.get(ttx, entry).await?.is_none() {
            chunk.violations.push(Violation {
                kind: ViolationKind::IndexEntryMissing,
                key: entry.clone(),
                detail: format!(
                    "{} {} is missing from this index",
                    model.what(),
                    described.id
                ),
            });
        }
    }
    Ok(())
}

/// Reports, reference by reference, a target that does not exist
/// ([`ViolationKind::DanglingReference`], at the record's `key`) and a reverse entry that is
/// missing ([`ViolationKind::ReverseReferenceMissing`], at the entry's key).
async fn judge_record_references(
    ttx: &TenantTx<'_>,
    model: &dyn Registered,
    key: &[u8],
    described: &Described,
    chunk: &mut Chunk,
    cost: &mut Cost,
) -> Result<()> {
    for (target, reverse) in described.targets.iter().zip(&described.reverse_keys) {
        if cost.get(ttx, &target.key).await?.is_none() {
            chunk.violations.push(Violation {
                kind: ViolationKind::DanglingReference,
                key: key.to_vec(),
                detail: format!(
                    "{} {} refers by {} to {} {}, which does not exist",
                    model.what(),
                    described.id,
                    target.field,
                    target.what,
                    target.id
                ),
            });
        }
        if cost.get(ttx, reverse).await?.is_none() {
            chunk.violations.push(Violation {
                kind: ViolationKind::ReverseReferenceMissing,
                key: reverse.clone(),
                detail: format!(
                    "{} {} refers by {} to {} {} without its reverse entry",
                    model.what(),
                    described.id,
                    target.field,
                    target.what,
                    target.id
                ),
            });
        }
    }
    Ok(())
}

/// Length of a tuple-encoded UUID (its code and 16 bytes), which ends every index entry.
const PACKED_UUID_LEN: usize = 17;

/// Collections of data kept beside the records of a model, keyed `(t, collection, id, ...)`
/// by the owning record's id: a user's credential, a workflow's saved versions.
const ATTACHED: [(&str, &str); 2] = [
    (keys::CREDENTIALS, User::COLLECTION),
    (
        coditect_core::model::workflow::VERSIONS,
        Workflow::COLLECTION,
    ),
];

/// A record as the check sees it: its id and what it must have.
struct Described {
    id: Uuid,
    /// The keys of its index entries.
    index_keys: Vec<Vec<u8>>,
    /// What it refers to, one per distinct reverse entry (in `reverse_keys`' order).
    targets: Vec<Target>,
    /// Its reverse-reference entries.
    reverse_keys: Vec<Vec<u8>>,
    /// Counter keys and what it adds to each.
    counted: Vec<(Vec<u8>, i64)>,
}

/// A record a reference points at.
struct Target {
    field: &'static str,
    what: &'static str,
    id: Uuid,
    key: Vec<u8>,
}

/// A model as the check sees it, without its type.
trait Registered: Send + Sync {
    fn collection(&self) -> &'static str;
    fn what(&self) -> &'static str;
    fn indexes(&self) -> Vec<&'static str>;
    fn unique_indexes(&self) -> Vec<&'static str>;
    fn describe(&self, prefix: &[u8], bytes: &[u8]) -> Result<Described>;
}

struct Entry<M>(PhantomData<fn() -> M>);

impl<M: Model> Registered for Entry<M> {
    fn collection(&self) -> &'static str {
        M::COLLECTION
    }
    fn what(&self) -> &'static str {
        M::WHAT
    }
    fn indexes(&self) -> Vec<&'static str> {
        M::INDEXES.iter().map(|index| index.name).collect()
    }
    fn unique_indexes(&self) -> Vec<&'static str> {
        M::INDEXES
            .iter()
            .filter(|index| index.unique)
            .map(|index| index.name)
            .collect()
    }
    fn describe(&self, prefix: &[u8], bytes: &[u8]) -> Result<Described> {
        let record: M = value::decode(bytes)?;
        let id = coditect_core::ids::RecordId::uuid(record.id());
        let index_keys = M::INDEXES
            .iter()
            .filter_map(|index| {
                (index.values)(&record)
                    .map(|values| keys::index_key(prefix, index.name, &values, id))
            })
            .collect();
        // One reverse entry per distinct (target, field), as the record layer writes them.
        let mut seen = BTreeSet::new();
        let (mut targets, mut reverse_keys) = (Vec::new(), Vec::new());
        for reference in record.references() {
            let reverse = keys::reference_key(
                prefix,
                reference.collection(),
                reference.id,
                M::COLLECTION,
                reference.field,
                id,
            );
            if seen.insert(reverse.clone()) {
                targets.push(Target {
                    field: reference.field,
                    what: reference.target,
                    id: reference.id,
                    key: keys::record_key(prefix, reference.collection(), reference.id),
                });
                reverse_keys.push(reverse);
            }
        }
        let mut counted: Vec<(Vec<u8>, i64)> = record
            .counters()
            .into_iter()
            .map(|name| (keys::counter_key(prefix, name), 1))
            .collect();
        counted.extend(
            record
                .counted()
                .into_iter()
                .map(|(counter, amount)| (counter.key(prefix), amount)),
        );
        Ok(Described {
            id,
            index_keys,
            targets,
            reverse_keys,
            counted,
        })
    }
}

/// The names of the per-tenant counters the models keep by themselves (records per model,
/// and agent members apart), in name order, each once.
pub(crate) fn counted_collections() -> Vec<&'static str> {
    let names: BTreeSet<&'static str> = MODELS
        .iter()
        .map(|m| m.collection())
        .chain([coditect_core::model::member::AGENTS])
        .collect();
    names.into_iter().collect()
}

/// Every model stored in a tenant's keyspace: what the check walks by.
static MODELS: [&dyn Registered; 19] = [
    &Entry::<AgentConfig>(PhantomData),
    &Entry::<AgentExecution>(PhantomData),
    &Entry::<AgentInstance>(PhantomData),
    &Entry::<ApiKey>(PhantomData),
    &Entry::<Comment>(PhantomData),
    &Entry::<Conversation>(PhantomData),
    &Entry::<Entity>(PhantomData),
    &Entry::<File>(PhantomData),
    &Entry::<Member>(PhantomData),
    &Entry::<Message>(PhantomData),
    &Entry::<Project>(PhantomData),
    &Entry::<Role>(PhantomData),
    &Entry::<RoleAssignment>(PhantomData),
    &Entry::<Session>(PhantomData),
    &Entry::<Setting>(PhantomData),
    &Entry::<Task>(PhantomData),
    &Entry::<Usage>(PhantomData),
    &Entry::<User>(PhantomData),
    &Entry::<Workflow>(PhantomData),
];

/// The error an operation returns when the tenant it was about to activate fails its check.
pub(crate) fn inconsistent(report: &CheckReport) -> Error {
    Error::Inconsistent {
        tenant: report.tenant.uuid(),
        violations: report.violation_count,
        first: report
            .violations
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_and_index_is_registered_once() {
        let collections: BTreeSet<_> = MODELS.iter().map(|m| m.collection()).collect();
        assert_eq!(collections.len(), MODELS.len());
        let indexes: Vec<_> = MODELS.iter().flat_map(|m| m.indexes()).collect();
        let distinct: BTreeSet<_> = indexes.iter().collect();
        assert_eq!(distinct.len(), indexes.len());
        for (attached, _) in ATTACHED {
            assert!(!collections.contains(attached));
        }
    }

    #[test]
    fn keys_are_escaped_printably() {
        assert_eq!(escape(b"ab\x00\\\xff"), "ab\\x00\\\\\\xff");
    }
}
