//! Tenant operations over any backend ([`coditect_ops`]): backup round trips under a
//! new id, refusal of damaged backups, chunking of tenants larger than one transaction, an
//! interrupted erase that resumes, migration and copies, and k-anonymous analytics. Run by
//! [`ops_suite!`](crate::ops_suite).
//!
//! [`Probe`] wraps a backend to measure every transaction (bytes read, bytes of mutations)
//! and to fail the n-th commit, which is how the cases check the limits and interrupt an
//! erase midway.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use coditect_core::audit::{self, Actor, AuditEvent, SealOptions, Verdict, VerifyOptions};
use coditect_core::ids::{AgentConfigId, EntityId, MemberId, ProjectId, TaskId};
use coditect_core::keys::TenantId;
use coditect_core::model::workflow;
use coditect_core::model::{
    role, task, tenant, user, AgentConfig, AgentExecution, AgentInstance, AgentType, ApiKey,
    Comment, Conversation, Entity, EntityKind, File, Member, MemberKind, Message, MessageRole,
    Plan, Project, RoleAssignment, Session, Setting, SettingScope, Task, TenantStatus, TypedValue,
    Usage, User, Workflow,
};
use coditect_core::provision::{NewTenant, Provisioned};
use coditect_core::record::{self, PageRequest};
use coditect_core::{
    value, CommitInfo, Error, KvBackend, KvError, RangeOptions, RangePage, Result, TenantTx,
    Transaction,
};
use coditect_ops::{
    self as ops, AnalyticsReport, ChunkOptions, EraseOptions, ExportOptions, ImportTarget,
    ReportOptions,
};
use foundationdb_tuple::pack;

use crate::support::{admin, definition, in_tenant, provision_tenant};
use crate::Harness;

pub mod check;
pub mod ownership;

pub use check::{
    an_import_writes_the_reverse_references_an_old_store_lacks,
    check_reports_each_violation_with_its_key, quotas_hold_when_lowered_and_on_import,
};

// ---------------------------------------------------------------------------------------
// the probe

/// What a [`Probe`] saw.
#[derive(Default)]
pub struct ProbeStats {
    /// Commits that succeeded.
    pub commits: AtomicU64,
    /// The largest mutation bytes of one committed transaction (keys plus values; a
    /// cleared range counts its two bounds, as in FoundationDB).
    pub max_mutation_bytes: AtomicU64,
    /// The largest bytes read (keys plus values) by one transaction.
    pub max_read_bytes: AtomicU64,
    /// Fail the commit with this number (1-based, counting every commit attempt), 0: never.
    pub fail_commit: AtomicU64,
    /// Fail the commit with this number and every later one, 0: never. A process killed
    /// there: nothing after that point reaches the store, not even the clean-up an
    /// operation runs when one of its transactions fails.
    pub crash_from: AtomicU64,
    attempts: AtomicU64,
}

/// A backend wrapper measuring every transaction and failing the n-th commit on request.
pub struct Probe {
    inner: Arc<dyn KvBackend>,
    /// What it saw.
    pub stats: Arc<ProbeStats>,
}

impl Probe {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn KvBackend>) -> Self {
        Probe {
            inner,
            stats: Arc::default(),
        }
    }

    /// Fails the `n`-th commit attempt from now on (1: the next one).
    pub fn fail_commit_in(&self, n: u64) {
        let now = self.stats.attempts.load(Ordering::SeqCst);
        self.stats.fail_commit.store(now + n, Ordering::SeqCst);
    }

    /// Fails the `n`-th commit attempt from now on (1: the next one) and every one after it.
    pub fn crash_in(&self, n: u64) {
        let now = self.stats.attempts.load(Ordering::SeqCst);
        self.stats.crash_from.store(now + n, Ordering::SeqCst);
    }
}

struct ProbeTx {
    inner: Box<dyn Transaction>,
    stats: Arc<ProbeStats>,
    mutation_bytes: AtomicU64,
    read_bytes: AtomicU64,
}

impl ProbeTx {
    fn wrote(&self, bytes: usize) {
        self.mutation_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
    fn read(&self, bytes: usize) {
        let total = self.read_bytes.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        self.stats
            .max_read_bytes
            .fetch_max(total, Ordering::Relaxed);
    }
}

#[async_trait]
impl KvBackend for Probe {
    async fn begin(&self) -> coditect_core::kv::Result<Box<dyn Transaction>> {
        Ok(Box::new(ProbeTx {
            inner: self.inner.begin().await?,
            stats: self.stats.clone(),
            mutation_bytes: AtomicU64::new(0),
            read_bytes: AtomicU64::new(0),
        }))
    }
}

#[async_trait]
impl Transaction for ProbeTx {
    async fn read_version(&self) -> coditect_core::kv::Result<u64> {
        self.inner.read_version().await
    }
    async fn get(&self, key: &[u8], snapshot: bool) -> coditect_core::kv::Result<Option<Vec<u8>>> {
        let value = self.inner.get(key, snapshot).await?;
        self.read(key.len() + value.as_ref().map_or(0, Vec::len));
        Ok(value)
    }
    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> coditect_core::kv::Result<RangePage> {
        let page = self.inner.get_range(begin, end, options).await?;
        self.read(
            page.kvs
                .iter()
                .map(|kv| kv.key.len() + kv.value.len())
                .sum(),
        );
        Ok(page)
    }
    fn set(&self, key: &[u8], value: &[u8]) -> coditect_core::kv::Result<()> {
        self.wrote(key.len() + value.len());
        self.inner.set(key, value)
    }
    fn clear(&self, key: &[u8]) -> coditect_core::kv::Result<()> {
        self.wrote(key.len());
        self.inner.clear(key)
    }
    fn clear_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.wrote(begin.len() + end.len());
        self.inner.clear_range(begin, end)
    }
    fn atomic_add(&self, key: &[u8], delta: i64) -> coditect_core::kv::Result<()> {
        self.wrote(key.len() + 8);
        self.inner.atomic_add(key, delta)
    }
    fn set_versionstamped_key(
        &self,
        key: &[u8],
        offset: u32,
        value: &[u8],
    ) -> coditect_core::kv::Result<()> {
        self.wrote(key.len() + value.len());
        self.inner.set_versionstamped_key(key, offset, value)
    }
    fn add_read_conflict_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner.add_read_conflict_range(begin, end)
    }
    fn add_write_conflict_range(&self, begin: &[u8], end: &[u8]) -> coditect_core::kv::Result<()> {
        self.inner.add_write_conflict_range(begin, end)
    }
    async fn commit(self: Box<Self>) -> coditect_core::kv::Result<CommitInfo> {
        let attempt = self.stats.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let crash_from = self.stats.crash_from.load(Ordering::SeqCst);
        if attempt == self.stats.fail_commit.load(Ordering::SeqCst)
            || (crash_from != 0 && attempt >= crash_from)
        {
            return Err(KvError::Backend {
                code: None,
                message: "injected failure".into(),
                source: None,
            });
        }
        let bytes = self.mutation_bytes.load(Ordering::Relaxed);
        let stats = self.stats.clone();
        let info = self.inner.commit().await?;
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.max_mutation_bytes.fetch_max(bytes, Ordering::Relaxed);
        Ok(info)
    }
}

// ---------------------------------------------------------------------------------------
// helpers

async fn provisioned(db: &dyn KvBackend, domain: &str, plan: Plan) -> Provisioned {
    let new = NewTenant {
        id: TenantId::generate(),
        name: "Acme Operations".into(),
        domain: domain.into(),
        plan,
        root_code: "ROOT".into(),
        admin_email: "ada@acme.test".into(),
        admin_name: "Ada".into(),
    };
    provision_tenant(db, new).await
}

/// `count` tasks in `project`, `per_tx` to a transaction, each with a description of
/// `description` characters.
async fn many_tasks(
    db: &dyn KvBackend,
    p: &Provisioned,
    project: ProjectId,
    count: usize,
    per_tx: usize,
    description: usize,
) {
    let text = "x".repeat(description);
    let mut made = 0;
    while made < count {
        let n = per_tx.min(count - made);
        in_tenant!(db, p.tenant.id, |ttx| {
            for i in 0..n {
                let mut t = Task::new(project, format!("task {}", made + i), p.admin_member.id);
                t.description = text.clone();
                record::insert(&ttx, admin(p), t).await?;
            }
            Ok::<_, Error>(())
        })
        .expect("tenant transaction");
        made += n;
    }
}

/// A record of every model (an AuditEvent with every write), a password, a workflow with
/// two versions, and `tasks` tasks.
async fn populate(db: &dyn KvBackend, p: &Provisioned, tasks: usize) -> ProjectId {
    let me = p.admin_member.id;
    let project = in_tenant!(db, p.tenant.id, |ttx| {
        let a = admin(p);
        let division = record::insert(
            &ttx,
            a,
            Entity::new("DIV", "Division", EntityKind::Division, Some(p.root.id)),
        )
        .await?;
        let dev = record::insert(
            &ttx,
            a,
            User::new("dev@acme.test", "Dev", user::UserRole::Developer),
        )
        .await?;
        user::set_password_with(
            &ttx,
            a,
            dev.id,
            "correct horse battery",
            argon2::Params::new(8, 1, 1, None).expect("params"),
        )
        .await?;
        let dev_member =
            record::insert(&ttx, a, Member::new(MemberKind::Human(dev.id), "Dev")).await?;
        let config = record::insert(
            &ttx,
            a,
            AgentConfig::new("coder", AgentType::Coder, "anthropic", "claude"),
        )
        .await?;
        record::insert(
            &ttx,
            a,
            Member::new(MemberKind::Agent(config.id), "Coder bot"),
        )
        .await?;
        let project =
            record::insert(&ttx, a, Project::new("WEB", "Website", division.id, me)).await?;
        let mut first = Task::new(project.id, "Launch", me);
        first.assignee = Some(dev_member.id);
        let first = record::insert(&ttx, a, first).await?;
        let mut sub = Task::new(project.id, "Sub", me);
        sub.parent = Some(first.id);
        record::insert(&ttx, a, sub).await?;
        record::insert(&ttx, a, Comment::new(first.id, me, "first!")).await?;
        record::insert(
            &ttx,
            a,
            File::new(project.id, "/docs/a.md", 12, [7; 32], "s3://bucket/a"),
        )
        .await?;
        agents_flows_and_access(
            &ttx,
            a,
            me,
            project.id,
            first.id,
            config.id,
            dev_member.id,
            division.id,
        )
        .await?;
        Ok::<_, Error>(project.id)
    })
    .expect("tenant transaction");
    many_tasks(db, p, project, tasks, 2_000, 0).await;
    project
}

/// The rest of [`populate`]'s models in its transaction: an agent instance and its run of
/// `first`, a workflow of two versions in `project`, a conversation, a custom role assigned
/// to `dev` at `division`, a session, an API key, usage and a setting.
#[allow(clippy::too_many_arguments)]
async fn agents_flows_and_access(
    ttx: &TenantTx<'_>,
    a: Actor,
    me: MemberId,
    project: ProjectId,
    first: TaskId,
    config: AgentConfigId,
    dev: MemberId,
    division: EntityId,
) -> Result<()> {
    let instance = record::insert(ttx, a, AgentInstance::new(config, "pod-1")).await?;
    record::insert(ttx, a, AgentExecution::new(instance.id, Some(first))).await?;
    let flow = record::insert(ttx, a, Workflow::new(project, "CI", definition(&["build"]))).await?;
    workflow::set_definition(ttx, a, flow.id, definition(&["build", "test"])).await?;
    let chat = record::insert(ttx, a, Conversation::new(me, "Planning")).await?;
    record::insert(
        ttx,
        a,
        Message::new(chat.id, me, MessageRole::User, "hello"),
    )
    .await?;
    let auditor = record::insert(ttx, a, role::Role::new("auditor", [])).await?;
    record::insert(ttx, a, RoleAssignment::new(dev, auditor.id, division)).await?;
    record::insert(ttx, a, Session::generate(me, i64::MAX / 2).0).await?;
    let (key, _secret) = ApiKey::generate(me, "CI");
    record::insert(ttx, a, key).await?;
    let mut usage = Usage::new("tokens", 20_000, 1_000, 35);
    usage.member = Some(me);
    record::insert(ttx, a, usage).await?;
    record::insert(
        ttx,
        a,
        Setting::new(
            SettingScope::Tenant,
            "theme",
            TypedValue::Text("dark".into()),
        ),
    )
    .await?;
    Ok(())
}

/// Every committed row of `[begin, end)`.
async fn scan(db: &dyn KvBackend, begin: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::new();
    let mut lo = begin.to_vec();
    loop {
        // A fresh transaction a page, so a large scan never grows too old.
        let tx = db.begin().await.expect("begin");
        let page = tx
            .get_range(&lo, end, RangeOptions::limit(5_000).snapshot())
            .await
            .expect("range");
        let next = page.next_range(&lo, end, false);
        rows.extend(page.kvs.into_iter().map(|kv| (kv.key, kv.value)));
        match next {
            Some((l, _)) => lo = l,
            None => return rows,
        }
    }
}

async fn tenant_rows(db: &dyn KvBackend, tenant: TenantId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (begin, end) = tenant.range();
    scan(db, &begin, &end)
        .await
        .into_iter()
        .map(|(k, v)| (k[17..].to_vec(), v))
        .collect()
}

async fn whole_store(db: &dyn KvBackend) -> Vec<(Vec<u8>, Vec<u8>)> {
    scan(db, &[], &[0xFF]).await
}

/// A tenant's rows split into its audit trail's events (in order) and everything else but
/// the audit indexes, the seal state and lineage records, keys relative to the tenant.
struct Split {
    events: Vec<AuditEvent>,
    rest: Vec<(Vec<u8>, Vec<u8>)>,
    audit_index_entries: usize,
}

fn split(rows: Vec<(Vec<u8>, Vec<u8>)>) -> Split {
    let events_prefix = pack(&"audit");
    let by_actor = pack(&("idx", "audit_by_actor"));
    let by_target = pack(&("idx", "audit_by_target"));
    let seal = pack(&("meta", "audit"));
    let lineage = pack(&("meta", "lineage"));
    let mut out = Split {
        events: Vec::new(),
        rest: Vec::new(),
        audit_index_entries: 0,
    };
    for (key, value) in rows {
        if key.starts_with(&events_prefix) {
            out.events.push(value::decode(&value).expect("audit event"));
        } else if key.starts_with(&by_actor) || key.starts_with(&by_target) {
            out.audit_index_entries += 1;
        } else if !key.starts_with(&seal) && !key.starts_with(&lineage) {
            out.rest.push((key, value));
        }
    }
    out
}

async fn export_bytes(db: &dyn KvBackend, tenant: TenantId, options: &ExportOptions) -> Vec<u8> {
    let mut out = Vec::new();
    ops::export(db, tenant, &mut out, options)
        .await
        .expect("export");
    out
}

async fn seal_and_verify(db: &dyn KvBackend, tenant: TenantId) -> audit::Verified {
    audit::seal(db, tenant, &SealOptions::default())
        .await
        .expect("seal");
    match audit::verify(db, tenant, &VerifyOptions::default())
        .await
        .expect("verify")
    {
        Verdict::Clean(verified) => verified,
        Verdict::Tampered(tamper) => panic!("the chain of {tenant} does not verify: {tamper:?}"),
    }
}

fn chunk(bytes: usize) -> ChunkOptions {
    ChunkOptions {
        chunk_records: 2_500,
        chunk_bytes: bytes,
        ..ChunkOptions::default()
    }
}

/// `events` of the source, as the import under `to` must have re-written them.
fn as_imported(events: &[AuditEvent], from: TenantId, to: TenantId) -> Vec<AuditEvent> {
    events
        .iter()
        .cloned()
        .map(|mut event| {
            if event.model == "tenant" && event.record_id == from.uuid() {
                event.record_id = to.uuid();
            }
            event
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// cases

/// A tenant with every model populated and over 10,000 tasks, exported and imported under
/// a new id and domain, is equal record for record and index for index (keys relative to
/// the tenant); its audit events are the same, in the same order, with the tenant's own id
/// rewritten, plus the import's event naming the source; its re-sealed chain verifies, as
/// does the source's; both tenants work and keep their own domains.
pub async fn round_trip_of_every_model_under_a_new_id(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "source.test", Plan::Professional).await;
    let source = p.tenant.id;
    let project = populate(db, &p, 10_050).await;
    let sealed_source = seal_and_verify(db, source).await;

    let options = ExportOptions {
        chunk: chunk(1_000_000),
        ..ExportOptions::default()
    };
    let bytes = export_bytes(db, source, &options).await;
    let summary = ops::verify_backup(&bytes).expect("the backup verifies");
    assert!(summary.header.consistent, "a quiesced export is one cut");
    assert!(summary.trailer.data_frames > 1, "several chunks");
    assert!(summary
        .header
        .counters
        .iter()
        .any(|(name, n)| name == "task" && *n == 10_052));

    let target = TenantId::generate();
    let report = ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(target, "copy.test"),
        &chunk(1_000_000),
    )
    .await
    .expect("import");
    check::assert_checks_clean(db, target).await;
    assert_eq!(report.tenant, target);
    assert_eq!(report.source, source);
    assert!(report.chunks > 1);

    let events = copy_equals_source(db, source, target).await;

    let verified = seal_and_verify(db, target).await;
    assert_eq!(verified.count, events as u64);
    assert!(seal_and_verify(db, source).await.count > sealed_source.count);

    lineage_and_domains(
        db,
        source,
        target,
        sealed_source.count,
        summary.trailer.sha256,
    )
    .await;
    let page = in_tenant!(db, target, |ttx| {
        task::by_project(&ttx, Actor::System, project, &PageRequest::first(10)).await
    })
    .expect("tenant transaction");
    assert_eq!(page.items.len(), 10);
    in_tenant!(db, target, |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Task::new(project, "after the import", p.admin_member.id),
        )
        .await
    })
    .expect("tenant transaction");
    let after = seal_and_verify(db, target).await;
    assert_eq!(after.count, verified.count + 1);
}

/// The copy `target` of `source` holds the old id only in the links that name it, its
/// records, indexes and counters equal the source's, and its events are the source's under
/// the new id and one more, the import's. Returns the copy's events.
async fn copy_equals_source(db: &dyn KvBackend, source: TenantId, target: TenantId) -> usize {
    // No key or value of the copy holds the old id, but the links that name it on purpose:
    // the lineage record, the import's audit event and its index entry by target.
    let needle = source.uuid();
    let holds = |bytes: &[u8]| bytes.windows(16).any(|w| w == needle.as_bytes());
    let mentions = tenant_rows(db, target)
        .await
        .into_iter()
        .filter(|(k, v)| holds(k) || holds(v))
        .count();
    assert_eq!(mentions, 3);

    let old = split(tenant_rows(db, source).await);
    let new = split(tenant_rows(db, target).await);
    assert_eq!(old.rest.len(), new.rest.len());
    assert!(old.rest == new.rest, "records, indexes, counters equal");
    // The source got one more event (the end of its export's quiesce), the copy one more
    // (its import).
    assert_eq!(old.events.len(), new.events.len());
    let n = new.events.len() - 1;
    assert_eq!(
        as_imported(&old.events[..n], source, target),
        new.events[..n].to_vec()
    );
    let link = &new.events[n];
    assert_eq!(link.model, ops::import::IMPORT_EVENT_MODEL);
    assert_eq!(link.record_id, source.uuid());
    assert_eq!(new.audit_index_entries, 2 * new.events.len());
    assert_eq!(old.audit_index_entries, 2 * old.events.len());
    new.events.len()
}

/// The copy's lineage keeps the source chain's head (`sealed_source_count` events) and the
/// backup's checksum; both tenants are registered, active, each under its own domain.
async fn lineage_and_domains(
    db: &dyn KvBackend,
    source: TenantId,
    target: TenantId,
    sealed_source_count: u64,
    backup_sha256: [u8; 32],
) {
    // The lineage keeps the source chain's head as it was in the backup.
    let tx = db.begin().await.expect("begin");
    let mut lineage_key = target.prefix();
    lineage_key.extend_from_slice(&pack(&("meta", "lineage", source.uuid())));
    let lineage: coditect_core::audit::carried::Lineage = value::decode(
        &tx.get(&lineage_key, false)
            .await
            .expect("get")
            .expect("lineage"),
    )
    .expect("decode");
    assert_eq!(lineage.source_chain.map(|c| c.0), Some(sealed_source_count));
    assert_eq!(lineage.backup_sha256, backup_sha256);

    // Both work, each with its own domain.
    let copy = tenant::get_by_domain(tx.as_ref(), "copy.test")
        .await
        .expect("domain")
        .expect("copy registered");
    assert_eq!((copy.id, copy.status), (target, TenantStatus::Active));
    let original = tenant::get_by_domain(tx.as_ref(), "source.test")
        .await
        .expect("domain")
        .expect("source registered");
    assert_eq!(
        (original.id, original.status),
        (source, TenantStatus::Active)
    );
    drop(tx);
}

/// A corrupted byte anywhere in a backup, and a file cut anywhere, are refused before the
/// first write with an error naming the frame (or the magic and version, in the first 10
/// bytes), and the target store is unchanged.
pub async fn damaged_backups_are_refused_and_change_nothing(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "damaged.test", Plan::Starter).await;
    populate(db, &p, 20).await;
    let options = ExportOptions {
        chunk: ChunkOptions {
            chunk_records: 10,
            ..ChunkOptions::default()
        },
        ..ExportOptions::default()
    };
    let bytes = export_bytes(db, p.tenant.id, &options).await;
    let before = whole_store(db).await;

    // Where frame 1 starts: after the magic, version and header frame.
    let header_len = u32::from_le_bytes([bytes[15], bytes[16], bytes[17], bytes[18]]) as usize;
    let frame1 = 10 + 9 + header_len + 8;
    let mut positions: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 40 + 1).collect();
    positions.extend([0, 9, 10, 14, 18, frame1 + 3, frame1 + 20, bytes.len() - 1]);
    for &i in &positions {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5A;
        let target = ImportTarget::new_tenant(TenantId::generate(), "other.test");
        let error = ops::import(db, Cursor::new(&bad), &target, &ChunkOptions::default())
            .await
            .expect_err("a corrupt backup is refused")
            .to_string();
        if i >= 10 {
            assert!(error.contains("frame"), "byte {i}: {error}");
        }
        if (frame1..frame1 + 9 + 8).contains(&i) || i == frame1 + 20 {
            assert!(
                error.contains("frame 1 (data)") || error.contains("frame 1:"),
                "{error}"
            );
        }
    }
    for len in [
        0,
        5,
        10,
        30,
        frame1,
        frame1 + 1,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let target = ImportTarget::new_tenant(TenantId::generate(), "other.test");
        let error = ops::import(
            db,
            Cursor::new(&bytes[..len]),
            &target,
            &ChunkOptions::default(),
        )
        .await
        .expect_err("a truncated backup is refused")
        .to_string();
        if len >= 10 {
            assert!(error.contains("frame"), "cut at {len}: {error}");
        }
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"tail");
    assert!(ops::verify_backup(&longer).is_err());
    assert!(before == whole_store(db).await, "the store is unchanged");
    // The intact file still imports.
    let other = ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(TenantId::generate(), "other.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("import");
    check::assert_checks_clean(db, other.tenant).await;
}

/// A tenant of more than 10 MB exports, imports and erases in chunks of 1 MB, every
/// transaction staying far under FoundationDB's 10 MB of mutations (and reading about a
/// chunk).
pub async fn large_tenant_export_import_erase_under_the_limits(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "large.test", Plan::Enterprise).await;
    let project = in_tenant!(db.as_ref(), p.tenant.id, |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new("BIG", "Big", p.root.id, p.admin_member.id),
        )
        .await
    })
    .expect("tenant transaction");
    many_tasks(db.as_ref(), &p, project.id, 230, 10, 48_000).await;

    let probe = Probe::new(db.clone());
    let limit = 1_000_000usize;
    let slack = 120_000u64;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let told = seen.clone();
    let options = ExportOptions {
        chunk: ChunkOptions {
            progress: Some(Arc::new(move |p: ops::Progress| {
                told.lock().expect("lock").push(p)
            })),
            ..chunk(limit)
        },
        ..ExportOptions::default()
    };
    let bytes = export_bytes(&probe, p.tenant.id, &options).await;
    let summary = ops::verify_backup(&bytes).expect("verifies");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len() as u32,
        summary.trailer.data_frames,
        "told after every chunk"
    );
    assert_eq!(
        seen.last().map(|p| p.records),
        Some(summary.trailer.records)
    );
    let data_bytes = summary.trailer.key_bytes + summary.trailer.value_bytes;
    assert!(
        data_bytes > 10_000_000,
        "the tenant holds {data_bytes} bytes"
    );
    assert!(summary.trailer.data_frames >= 10);
    let read = probe.stats.max_read_bytes.load(Ordering::SeqCst);
    assert!(
        read <= limit as u64 + slack,
        "an export transaction read {read} bytes"
    );

    import_and_erase_under_the_limit(db.as_ref(), &probe, &bytes, limit, slack).await;
}

/// The backup `bytes` imports and the copy erases through `probe` in chunks, no transaction
/// reading or writing more than `limit` bytes and `slack`.
async fn import_and_erase_under_the_limit(
    db: &dyn KvBackend,
    probe: &Probe,
    bytes: &[u8],
    limit: usize,
    slack: u64,
) {
    let target = TenantId::generate();
    let commits = probe.stats.commits.load(Ordering::SeqCst);
    ops::import(
        probe,
        Cursor::new(bytes),
        &ImportTarget::new_tenant(target, "large-copy.test"),
        &chunk(limit),
    )
    .await
    .expect("import");
    check::assert_checks_clean(db, target).await;
    assert!(probe.stats.commits.load(Ordering::SeqCst) - commits >= 10);
    let written = probe.stats.max_mutation_bytes.load(Ordering::SeqCst);
    assert!(
        written <= limit as u64 + slack,
        "an import transaction wrote {written} bytes"
    );

    let erased = ops::erase(
        probe,
        target,
        "test operator",
        &EraseOptions {
            chunk: chunk(limit),
        },
    )
    .await
    .expect("erase");
    assert!(erased.bytes > 10_000_000);
    assert!(erased.chunks >= 10);
    let read = probe.stats.max_read_bytes.load(Ordering::SeqCst);
    assert!(
        read <= limit as u64 + slack,
        "an erase transaction read {read} bytes"
    );
    let written = probe.stats.max_mutation_bytes.load(Ordering::SeqCst);
    assert!(written <= limit as u64 + slack);
    assert!(tenant_rows(db, target).await.is_empty());
}

/// An erase that fails midway (the third commit after it starts) leaves the tenant
/// suspended and its erasure record unfinished; running it again finishes it: the prefix,
/// the registry entry and the domain are gone, and the record counts every key, holds no
/// tenant data, and is returned again by a repeated erase. The same id can then be restored
/// from a backup taken before.
pub async fn interrupted_erase_resumes_to_completion(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "erase-me.test", Plan::Starter).await;
    let tenant_id = p.tenant.id;
    populate(db.as_ref(), &p, 300).await;
    let backup = export_bytes(db.as_ref(), tenant_id, &ExportOptions::default()).await;
    let keys_before = tenant_rows(db.as_ref(), tenant_id).await.len() as u64;

    let probe = Probe::new(db.clone());
    let options = EraseOptions {
        chunk: ChunkOptions {
            chunk_records: 100,
            ..ChunkOptions::default()
        },
    };
    probe.fail_commit_in(3);
    let error = ops::erase(&probe, tenant_id, "dpo@platform", &options)
        .await
        .expect_err("the injected failure stops the erase");
    assert!(error.to_string().contains("injected"), "{error}");
    let left = tenant_rows(db.as_ref(), tenant_id).await.len() as u64;
    assert!(
        left > 0 && left < keys_before,
        "erased partly: {left} of {keys_before}"
    );
    erase_is_pending(db.as_ref(), tenant_id).await;

    let done = ops::erase(&probe, tenant_id, "someone else", &options)
        .await
        .expect("the erase resumes");
    assert!(done.finished_ms.is_some());
    assert_eq!(done.keys, keys_before);
    assert_eq!(done.actor, "dpo@platform");
    nothing_is_left_but_the_erasure_record(db.as_ref(), tenant_id, &done).await;
    assert_eq!(
        ops::erase(db.as_ref(), tenant_id, "again", &options)
            .await
            .expect("repeat"),
        done
    );

    // Restore under the same id from the backup taken before.
    ops::import(
        db.as_ref(),
        Cursor::new(&backup),
        &ImportTarget::restore(),
        &ChunkOptions::default(),
    )
    .await
    .expect("restore");
    check::assert_checks_clean(db.as_ref(), tenant_id).await;
    let verified = seal_and_verify(db.as_ref(), tenant_id).await;
    assert!(verified.count > 300);
}

/// The erase of `tenant_id` is unfinished: its record says so, the tenant does not open, and
/// nothing else can start on it meanwhile.
async fn erase_is_pending(db: &dyn KvBackend, tenant_id: TenantId) {
    let record = ops::erasure_record(db, tenant_id)
        .await
        .expect("read")
        .expect("an unfinished record");
    assert_eq!(record.finished_ms, None);
    let tx = db.begin().await.expect("begin");
    assert!(matches!(
        TenantTx::open(tx.as_ref(), tenant_id).await,
        Err(Error::OperationPending {
            operation: "erase",
            ..
        })
    ));
    drop(tx);
    // Nothing else can start on it meanwhile.
    assert!(
        ops::export(db, tenant_id, Vec::new(), &ExportOptions::default())
            .await
            .is_err()
    );
}

/// Nothing of the erased tenant is left in the store but its erasure record `done`, and that
/// record holds none of its names.
async fn nothing_is_left_but_the_erasure_record(
    db: &dyn KvBackend,
    tenant_id: TenantId,
    done: &ops::Erasure,
) {
    assert!(tenant_rows(db, tenant_id).await.is_empty());
    let tx = db.begin().await.expect("begin");
    assert!(tx
        .get(&pack(&("sys", "tenant", tenant_id.uuid())), false)
        .await
        .expect("get")
        .is_none());
    assert!(tenant::get_by_domain(tx.as_ref(), "erase-me.test")
        .await
        .expect("get")
        .is_none());
    drop(tx);
    let stored = value::encode(done).expect("encode");
    for secret in [&b"Acme"[..], b"erase-me", b"ada@acme"] {
        assert!(!stored.windows(secret.len()).any(|w| w == secret));
    }
    // Only the erasure record is left of it in the whole store.
    let mentions: Vec<_> = whole_store(db)
        .await
        .into_iter()
        .filter(|(k, v)| {
            let id = tenant_id.uuid();
            let id = id.as_bytes();
            k.windows(16).any(|w| w == id) || v.windows(16).any(|w| w == id)
        })
        .map(|(k, _)| k)
        .collect();
    assert_eq!(mentions, vec![pack(&("sys", "erasure", tenant_id.uuid()))]);
}

/// An import that fails midway (at its fourth commit) leaves the target staged: refused by
/// `TenantTx`, shown as a pending import, its domain reserved. Importing the same file again
/// resumes it to a tenant equal to the source; erasing a staged import instead drops it,
/// domain included.
pub async fn interrupted_import_resumes_or_is_dropped(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "staged.test", Plan::Starter).await;
    populate(db.as_ref(), &p, 500).await;
    let small = ChunkOptions {
        chunk_records: 200,
        ..ChunkOptions::default()
    };
    let options = ExportOptions {
        chunk: small.clone(),
        ..ExportOptions::default()
    };
    let bytes = export_bytes(db.as_ref(), p.tenant.id, &options).await;
    let probe = Probe::new(db.clone());
    let target = TenantId::generate();
    let into = ImportTarget::new_tenant(target, "staged-copy.test");
    probe.fail_commit_in(4);
    let error = ops::import(&probe, Cursor::new(&bytes), &into, &small)
        .await
        .expect_err("the injected failure stops the import");
    assert!(error.to_string().contains("injected"), "{error}");
    let tx = db.begin().await.expect("begin");
    assert!(matches!(
        TenantTx::open(tx.as_ref(), target).await,
        Err(Error::OperationPending {
            operation: "import",
            ..
        })
    ));
    drop(tx);
    let pending = ops::pending_operation(db.as_ref(), target)
        .await
        .expect("read")
        .expect("a staged import");
    assert_eq!(
        pending.kind,
        ops::OpKind::Import {
            source: p.tenant.id.uuid()
        }
    );
    assert_eq!(pending.progress, 2);
    let other = ImportTarget::new_tenant(TenantId::generate(), "staged-copy.test");
    assert!(matches!(
        ops::import(db.as_ref(), Cursor::new(&bytes), &other, &small).await,
        Err(Error::AlreadyExists {
            field: "domain",
            ..
        })
    ));

    ops::import(db.as_ref(), Cursor::new(&bytes), &into, &small)
        .await
        .expect("the import resumes");
    check::assert_checks_clean(db.as_ref(), target).await;
    let source = split(tenant_rows(db.as_ref(), p.tenant.id).await);
    let copy = split(tenant_rows(db.as_ref(), target).await);
    assert!(source.rest == copy.rest);
    assert_eq!(source.events.len(), copy.events.len());
    seal_and_verify(db.as_ref(), target).await;
    assert!(ops::pending_operation(db.as_ref(), target)
        .await
        .expect("read")
        .is_none());

    a_stopped_import_is_dropped_by_erase(db.as_ref(), &probe, &bytes, &small).await;
}

/// An import of `bytes` stopped part way through `probe` is dropped by an erase: nothing of
/// it is left, not even its domain.
async fn a_stopped_import_is_dropped_by_erase(
    db: &dyn KvBackend,
    probe: &Probe,
    bytes: &[u8],
    small: &ChunkOptions,
) {
    let dropped = TenantId::generate();
    probe.fail_commit_in(3);
    ops::import(
        probe,
        Cursor::new(bytes),
        &ImportTarget::new_tenant(dropped, "dropped.test"),
        small,
    )
    .await
    .expect_err("stopped");
    ops::erase(db, dropped, "ops", &EraseOptions::default())
        .await
        .expect("erase the staged import");
    assert!(tenant_rows(db, dropped).await.is_empty());
    assert!(ops::pending_operation(db, dropped)
        .await
        .expect("read")
        .is_none());
    let tx = db.begin().await.expect("begin");
    assert!(tenant::get_by_domain(tx.as_ref(), "dropped.test")
        .await
        .expect("get")
        .is_none());
}

/// A writer that opened the tenant before an export cannot commit after the export's
/// quiesce (it conflicts on the registry entry, and its retry is refused), so the backup is
/// one cut; writers are let back in afterwards.
pub async fn export_quiesces_writers(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "quiet.test", Plan::Starter).await;
    let tx = db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), p.tenant.id)
        .await
        .expect("open");
    let project = record::insert(
        &ttx,
        admin(&p),
        Project::new("LATE", "Late", p.root.id, p.admin_member.id),
    )
    .await
    .expect("buffered");
    drop(ttx);
    let bytes = export_bytes(db, p.tenant.id, &ExportOptions::default()).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
    let summary = ops::verify_backup(&bytes).expect("verifies");
    assert!(summary.header.consistent);
    // After the export the tenant is active again.
    in_tenant!(db, p.tenant.id, |ttx| {
        record::insert(&ttx, admin(&p), project.clone()).await
    })
    .expect("tenant transaction");
    assert!(ops::pending_operation(db, p.tenant.id)
        .await
        .expect("read")
        .is_none());
}

/// Migration re-keys a tenant in the same store: the old one is suspended with an audit
/// event naming the new id, the new one holds the same records and indexes, is active, and
/// names the old id in its trail; both chains verify.
pub async fn migrate_rekeys_a_tenant_audited_on_both_sides(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "old.test", Plan::Starter).await;
    populate(db, &p, 50).await;
    let new_id = TenantId::generate();
    ops::migrate(
        db,
        p.tenant.id,
        new_id,
        "new.test",
        &ExportOptions::default(),
    )
    .await
    .expect("migrate");
    check::assert_checks_clean(db, new_id).await;
    let old = split(tenant_rows(db, p.tenant.id).await);
    let new = split(tenant_rows(db, new_id).await);
    assert!(old.rest == new.rest);
    let left = old.events.last().expect("events");
    assert_eq!(left.model, ops::migrate::MIGRATE_EVENT_MODEL);
    assert_eq!(left.record_id, new_id.uuid());
    let arrived = new.events.last().expect("events");
    assert_eq!(arrived.record_id, p.tenant.id.uuid());
    let tx = db.begin().await.expect("begin");
    assert!(matches!(
        TenantTx::open(tx.as_ref(), p.tenant.id).await,
        Err(Error::TenantInactive { .. })
    ));
    assert!(TenantTx::open(tx.as_ref(), new_id).await.is_ok());
    drop(tx);
    seal_and_verify(db, p.tenant.id).await;
    seal_and_verify(db, new_id).await;
}

/// A copy between two stores (same id and domain) gives the target the same records and
/// indexes and a chain that verifies; the source stays as it was, active.
pub async fn copy_between_stores(a: &dyn Harness, b: &dyn Harness) {
    let (from, to) = (a.backend(), b.backend());
    let p = provisioned(from.as_ref(), "moving.test", Plan::Starter).await;
    populate(from.as_ref(), &p, 200).await;
    let report = ops::copy(
        from.as_ref(),
        to.as_ref(),
        p.tenant.id,
        &ImportTarget::restore(),
        &ExportOptions::default(),
    )
    .await
    .expect("copy");
    check::assert_checks_clean(to.as_ref(), p.tenant.id).await;
    assert_eq!(report.import.tenant, p.tenant.id);
    let source = split(tenant_rows(from.as_ref(), p.tenant.id).await);
    let copy = split(tenant_rows(to.as_ref(), p.tenant.id).await);
    assert!(source.rest == copy.rest);
    seal_and_verify(to.as_ref(), p.tenant.id).await;
    let tx = to.begin().await.expect("begin");
    let entry = tenant::get_by_domain(tx.as_ref(), "moving.test")
        .await
        .expect("get")
        .expect("registered");
    assert_eq!(entry.status, TenantStatus::Active);
    let tx = from.begin().await.expect("begin");
    assert!(TenantTx::open(tx.as_ref(), p.tenant.id).await.is_ok());
}

async fn tenant_with(db: &dyn KvBackend, domain: &str, plan: Plan, projects: usize, metric: &str) {
    let p = provisioned(db, domain, plan).await;
    in_tenant!(db, p.tenant.id, |ttx| {
        for i in 0..projects {
            record::insert(
                &ttx,
                admin(&p),
                Project::new(format!("P{i}"), "P", p.root.id, p.admin_member.id),
            )
            .await?;
        }
        record::insert(&ttx, admin(&p), Usage::new(metric, 20_000, 10, 1)).await?;
        Ok::<_, Error>(())
    })
    .expect("tenant transaction");
}

fn plans(report: &AnalyticsReport) -> Vec<Plan> {
    report.groups.iter().map(|g| g.plan).collect()
}

/// k-anonymity: a plan with fewer than k tenants never appears in a report, a counter fewer
/// than k tenants of a group have never appears, no grand total gives a suppressed group
/// away, and k below 2 is refused, so no report can single out one tenant.
pub async fn analytics_never_single_out_a_tenant(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    for i in 0..5 {
        // One starter tenant uses a metric of its own.
        let metric = if i == 0 { "rare" } else { "tokens" };
        tenant_with(db, &format!("s{i}.test"), Plan::Starter, 2, metric).await;
    }
    for i in 0..3 {
        tenant_with(db, &format!("f{i}.test"), Plan::Free, 1, "tokens").await;
    }
    tenant_with(db, "lonely.test", Plan::Enterprise, 7, "secret").await;
    let report = ops::report(db, &ReportOptions::default())
        .await
        .expect("report");
    assert_eq!(plans(&report), vec![Plan::Starter]);
    let starter = &report.groups[0];
    assert_eq!(starter.tenants, 5);
    assert_eq!(starter.totals.get("project"), Some(&10));
    // Only 4 of the 5 use "tokens": below k = 5, so it is not shown either.
    assert!(starter
        .totals
        .keys()
        .all(|name| !name.starts_with("usage.")));
    assert!(starter.totals.keys().all(|name| !name.contains("rare")));
    assert!(starter.totals.keys().all(|name| !name.contains("secret")));

    let report = ops::report(
        db,
        &ReportOptions {
            k: 3,
            ..ReportOptions::default()
        },
    )
    .await
    .expect("report");
    assert_eq!(plans(&report), vec![Plan::Free, Plan::Starter]);
    let starter = &report.groups[1];
    assert_eq!(starter.totals.get("usage.tokens.total.quantity"), Some(&40));
    assert!(starter.totals.keys().all(|name| !name.contains("rare")));
    for k in [0, 1] {
        assert!(ops::report(
            db,
            &ReportOptions {
                k,
                ..ReportOptions::default()
            },
        )
        .await
        .is_err());
    }
    let report = ops::report(
        db,
        &ReportOptions {
            k: 2,
            chunk_tenants: 2,
            ..ReportOptions::default()
        },
    )
    .await
    .expect("report");
    assert!(!plans(&report).contains(&Plan::Enterprise));
    assert!(report
        .groups
        .iter()
        .flat_map(|g| g.totals.keys())
        .all(|name| !name.contains("secret") && !name.contains("rare")));
}

/// Nothing unbounded in one transaction: a tenant with many usage counters (here 30,000 of
/// its own per-day ones; the bound makes it hold at 4,000,000 too) is reported in chunks of
/// `chunk_counters`, no transaction reading more than one chunk's worth, with the totals
/// exact; and its export's header holds only the record counters (one point read per model),
/// the usage counters travelling in the body with the rest of its keys.
pub async fn analytics_and_export_read_many_counters_in_bounded_chunks(h: &dyn Harness) {
    const DAYS: usize = 30_000;
    let db = h.backend();
    tenant_with(db.as_ref(), "many.test", Plan::Starter, 1, "tokens").await;
    tenant_with(db.as_ref(), "few.test", Plan::Starter, 1, "tokens").await;
    let many = {
        let tx = db.begin().await.expect("begin");
        tenant::get_by_domain(tx.as_ref(), "many.test")
            .await
            .expect("lookup")
            .expect("registered")
            .id
    };
    let prefix = many.prefix();
    for batch in 0..DAYS / 5_000 {
        let tx = db.begin().await.expect("begin");
        for day in batch * 5_000..(batch + 1) * 5_000 {
            let name = format!("usage.tokens.d{day:05}.quantity");
            tx.atomic_add(&coditect_core::keys::counter_key(&prefix, &name), 1)
                .expect("add");
        }
        tx.commit().await.expect("commit");
    }
    let probe = Probe::new(db.clone());
    let report = ops::report(
        &probe,
        &ReportOptions {
            k: 2,
            chunk_counters: 1_000,
            ..ReportOptions::default()
        },
    )
    .await
    .expect("report");
    let starter = &report.groups[0];
    assert_eq!((starter.plan, starter.tenants), (Plan::Starter, 2));
    assert_eq!(starter.totals.get("usage.tokens.total.quantity"), Some(&20));
    assert_eq!(starter.totals.get("project"), Some(&2));
    let commits = probe.stats.commits.load(Ordering::SeqCst);
    assert!(commits > (DAYS / 1_000) as u64, "{commits} transactions");
    let read = probe.stats.max_read_bytes.load(Ordering::SeqCst);
    // A thousand counters of ~60 bytes each, not 30,000 (about 1.8 MB).
    assert!(read < 150_000, "one transaction read {read} bytes");

    let probe = Probe::new(db.clone());
    let options = ExportOptions {
        chunk: chunk(200_000),
        ..ExportOptions::default()
    };
    let bytes = export_bytes(&probe, many, &options).await;
    let summary = ops::verify_backup(&bytes).expect("the backup verifies");
    assert!(summary
        .header
        .counters
        .iter()
        .any(|(name, n)| name == "project" && *n == 1));
    assert!(summary
        .header
        .counters
        .iter()
        .all(|(name, _)| !name.starts_with("usage.")));
    let read = probe.stats.max_read_bytes.load(Ordering::SeqCst);
    assert!(read < 400_000, "one export transaction read {read} bytes");
}

/// A tenant's meter counters `(t, "meta", "meter", ..)` are in its range: an export carries
/// them, an import under a new id writes them unchanged (and `check` finds nothing wrong with
/// them), and an erase removes them with the rest.
pub async fn meter_counters_travel_with_export_and_go_with_erase(h: &dyn Harness) {
    use coditect_core::meter::{self, MeterTotals};

    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "metered.test", Plan::Professional).await;
    let source = p.tenant.id;
    let project = populate(db, &p, 5).await;
    coditect_core::run_in_tenant(
        db,
        &coditect_core::RetryOptions::default(),
        source,
        |ttx| async move {
            record::insert(
                &ttx,
                admin(&p),
                Task::new(project, "metered", p.admin_member.id),
            )
            .await
        },
    )
    .await
    .expect("a metered transaction");
    let totals = |tenant: TenantId| async move {
        let tx = db.begin().await.expect("begin");
        meter::read_totals(tx.as_ref(), tenant)
            .await
            .expect("meter totals")
    };
    let metered = totals(source).await;
    assert_eq!(metered.commits, 1);
    assert!(metered.writes > 0 && metered.bytes_written > 0 && metered.point_reads > 0);

    let bytes = export_bytes(db, source, &ExportOptions::default()).await;
    let target = TenantId::generate();
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(target, "metered-copy.test"),
        &chunk(1_000_000),
    )
    .await
    .expect("import");
    check::assert_checks_clean(db, target).await;
    check::assert_checks_clean(db, source).await;
    assert_eq!(
        totals(target).await,
        metered,
        "the import carries the meters"
    );

    ops::erase(
        db,
        source,
        "test operator",
        &EraseOptions {
            chunk: chunk(1_000_000),
        },
    )
    .await
    .expect("erase");
    let meters = coditect_core::keys::meters_prefix(&source.prefix());
    let meters_end = coditect_core::prefix_end(&meters).expect("end");
    assert!(scan(db, &meters, &meters_end).await.is_empty());
    assert_eq!(totals(source).await, MeterTotals::default());
    assert_eq!(totals(target).await, metered, "the copy keeps its own");
}
