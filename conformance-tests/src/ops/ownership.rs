//! Tenant operations own the tenant while they run, and a refused operation leaves it as it
//! was (issue 13, items 4 and 7).
//!
//! For each operation that spans several transactions (an export's quiesce, an import's
//! staging, an erase, a migration) a crash is simulated with [`Probe::crash_in`]: every
//! commit from that point on fails, so the operation stops part way and not even its own
//! clean-up reaches the store, as when the process is killed. The tenant must then be held:
//! activate, suspend, a settings update and a writer are all refused with
//! [`Error::OperationPending`] naming the operation, and the refusals change nothing. Running
//! the operation again finishes it, and the status afterwards is the one the tenant had
//! before the operation began. A refused migration or import changes no status and writes
//! no event.
//!
//! The regression cases for the findings of issue 13 are here too (each says which one);
//! [`index_problems`] is the index walk the kill tests of the command also use.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use coditect_core::ids::RecordId;
use coditect_core::keys::{KeyPart, TenantId};
use coditect_core::model::{
    role, tenant, AgentConfig, AgentExecution, AgentInstance, ApiKey, Comment, Conversation,
    Entity, File, Member, Message, Plan, Project, RoleAssignment, Session, Setting, Task, Tenant,
    TenantStatus, Usage, User, Workflow,
};
use coditect_core::record::{self, Model};
use coditect_core::{value, Error, KvBackend, Principal, Result, TenantTx};
use coditect_ops::{
    self as ops, ChunkOptions, EraseOptions, ExportOptions, ImportTarget, OpKind, Progress,
};
use foundationdb_tuple::{pack, pack_into, Element};

use super::{export_bytes, populate, provisioned, split, tenant_rows, Probe};
use crate::support::assert_matches;
use crate::Harness;

// ---------------------------------------------------------------------------------------
// the index walk

/// The index entries one model's records should have, added to `expected`, and the names
/// of its indexes, added to `names`. `rows` are a tenant's pairs, keys relative to its
/// prefix.
fn expected_entries<M: Model>(
    rows: &[(Vec<u8>, Vec<u8>)],
    expected: &mut BTreeSet<Vec<u8>>,
    names: &mut BTreeSet<&'static str>,
    problems: &mut Vec<String>,
) {
    let collection = pack(&M::COLLECTION);
    for def in M::INDEXES {
        names.insert(def.name);
    }
    for (key, bytes) in rows {
        // A record is `(COLLECTION, id)`: a string element and a 17-byte UUID element.
        if !key.starts_with(&collection) || key.len() != collection.len() + 17 {
            continue;
        }
        let record: M = match value::decode(bytes) {
            Ok(record) => record,
            Err(error) => {
                problems.push(format!("{} record does not decode: {error}", M::WHAT));
                continue;
            }
        };
        let id = record.id().uuid();
        for def in M::INDEXES {
            let Some(values) = (def.values)(&record) else {
                continue;
            };
            let mut entry = pack(&("idx", def.name));
            for part in &values {
                let element = match part {
                    KeyPart::Str(s) => Element::String(s.as_str().into()),
                    KeyPart::Uuid(u) => Element::Uuid(*u),
                    KeyPart::Int(i) => Element::Int(*i),
                    KeyPart::Null => Element::Nil,
                };
                pack_into(&element, &mut entry);
            }
            pack_into(&id, &mut entry);
            expected.insert(entry);
        }
    }
}

/// What is wrong with a tenant's model indexes: every index entry must point at a record
/// that holds the entry's values (the entry is one its record would have), and every record
/// must be listed in each of its model's indexes. `rows` are the tenant's pairs, keys
/// relative to its prefix (as a backup holds them). The audit indexes are the audit
/// module's and are left out. Empty when the indexes and the records agree.
pub fn index_problems(rows: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
    let mut expected = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    macro_rules! walk {
        ($($model:ty),+ $(,)?) => {
            $(expected_entries::<$model>(rows, &mut expected, &mut names, &mut problems);)+
        };
    }
    walk!(
        AgentConfig,
        AgentExecution,
        AgentInstance,
        ApiKey,
        Comment,
        Conversation,
        Entity,
        File,
        Member,
        Message,
        Project,
        role::Role,
        RoleAssignment,
        Session,
        Setting,
        Task,
        Usage,
        User,
        Workflow,
    );
    let index = pack(&"idx");
    let audit = [
        pack(&("idx", "audit_by_actor")),
        pack(&("idx", "audit_by_target")),
    ];
    let stored: BTreeSet<Vec<u8>> = rows
        .iter()
        .map(|(key, _)| key)
        .filter(|key| key.starts_with(&index) && !audit.iter().any(|a| key.starts_with(a)))
        .cloned()
        .collect();
    for entry in stored.difference(&expected) {
        problems.push(format!(
            "index entry {:?} points at no record holding its values",
            coditect_core::keys::decode_key(entry)
        ));
    }
    for entry in expected.difference(&stored) {
        problems.push(format!(
            "a record is not listed: index entry {:?} is missing",
            coditect_core::keys::decode_key(entry)
        ));
    }
    if names.is_empty() {
        problems.push("no model index is known".into());
    }
    problems
}

// ---------------------------------------------------------------------------------------
// helpers

async fn entry(db: &dyn KvBackend, id: TenantId) -> Option<Tenant> {
    let tx = db.begin().await.expect("begin");
    tenant::get(tx.as_ref(), id).await.expect("registry")
}

async fn status(db: &dyn KvBackend, id: TenantId) -> TenantStatus {
    entry(db, id).await.expect("registered").status
}

/// The tenant is as `before` (after a refusal named `what`).
async fn unchanged(db: &dyn KvBackend, id: TenantId, before: &Snapshot, what: &str) {
    let now = snapshot(db, id).await;
    assert_eq!(now.0, before.0, "{what}: the registry entry changed");
    assert_eq!(
        split(now.1.clone()).events.len(),
        split(before.1.clone()).events.len(),
        "{what}: audit events were written"
    );
    assert!(now == *before, "{what}: the tenant changed");
}

/// `result` is [`Error::OperationPending`] for `operation`, with a hint naming a command.
fn assert_pending<T: std::fmt::Debug>(result: Result<T>, operation: &str) {
    match result {
        Err(Error::OperationPending {
            operation: op,
            hint,
            ..
        }) => {
            assert_eq!(op, operation, "the pending operation");
            assert!(hint.contains("coditect tenant"), "hint: {hint}");
        }
        other => panic!("expected OperationPending({operation}), got {other:?}"),
    }
}

/// A tenant's registry entry, rows and operation marker.
type Snapshot = (
    Option<Tenant>,
    Vec<(Vec<u8>, Vec<u8>)>,
    Option<ops::TenantOp>,
);

/// Everything of a tenant a refused operation must leave as it was: its registry entry,
/// every row (its audit trail included) and the marker of an operation under way.
async fn snapshot(db: &dyn KvBackend, id: TenantId) -> Snapshot {
    (
        entry(db, id).await,
        tenant_rows(db, id).await,
        ops::pending_operation(db, id).await.expect("marker"),
    )
}

/// The tenant is held by `operation`: activate, suspend, a settings update (even by the
/// system) and a writer are refused, naming it, and the refusals change nothing.
async fn assert_held(db: &dyn KvBackend, id: TenantId, operation: &str) {
    let before = snapshot(db, id).await;
    let registered = before.0.clone().expect("registered");
    for wanted in [TenantStatus::Active, TenantStatus::Suspended] {
        assert_pending(
            tenant::change_status(db, Principal::operator(), id, wanted).await,
            operation,
        );
    }
    let renamed = Tenant {
        name: "Renamed meanwhile".into(),
        ..registered
    };
    assert_pending(
        tenant::update_settings(db, Principal::system(), renamed).await,
        operation,
    );
    let tx = db.begin().await.expect("begin");
    assert_pending(TenantTx::open(tx.as_ref(), id).await.map(|_| ()), operation);
    drop(tx);
    assert!(
        snapshot(db, id).await == before,
        "a refusal changed the tenant"
    );
}

fn small_export() -> ExportOptions {
    ExportOptions {
        chunk: ChunkOptions {
            chunk_records: 100,
            ..ChunkOptions::default()
        },
        ..ExportOptions::default()
    }
}

// ---------------------------------------------------------------------------------------
// the cases

/// Regression (issue 13: "during an export the consistent backup comes out torn"). An
/// export crashed after its quiesce (before any chunk, and after one) holds the tenant:
/// activate, suspend, settings and writers are refused, naming the export, and an erase
/// too, changing nothing. Exporting again finishes it: the file is one cut, the tenant is
/// active again (as before the export), its marker gone.
pub async fn an_interrupted_export_holds_the_tenant_until_run_again(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "held-export.test", Plan::Starter).await;
    let id = p.tenant.id;
    populate(db.as_ref(), &p, 300).await;
    for crash in [2, 4] {
        let probe = Probe::new(db.clone());
        probe.crash_in(crash);
        ops::export(&probe, id, Vec::new(), &small_export())
            .await
            .expect_err("the crash stops the export");
        let op = ops::pending_operation(db.as_ref(), id)
            .await
            .expect("read")
            .expect("the quiesce's marker");
        assert_eq!(op.kind, OpKind::Export);
        assert_eq!(op.previous, TenantStatus::Active);
        assert_held(db.as_ref(), id, "export").await;
        let before = snapshot(db.as_ref(), id).await;
        assert_pending(
            ops::erase(db.as_ref(), id, "dpo", &EraseOptions::default()).await,
            "export",
        );
        assert!(snapshot(db.as_ref(), id).await == before);
        assert!(ops::erasure_record(db.as_ref(), id)
            .await
            .expect("read")
            .is_none());

        let bytes = export_bytes(db.as_ref(), id, &small_export()).await;
        let summary = ops::verify_backup(&bytes).expect("verifies");
        assert!(summary.header.consistent);
        let saved: Tenant = value::decode(&summary.header.entry).expect("entry");
        assert_eq!(saved.status, TenantStatus::Active);
        assert_eq!(status(db.as_ref(), id).await, TenantStatus::Active);
        assert!(ops::pending_operation(db.as_ref(), id)
            .await
            .expect("read")
            .is_none());
        let tx = db.begin().await.expect("begin");
        assert!(TenantTx::open(tx.as_ref(), id).await.is_ok());
    }
}

/// Regression (issue 13: "an export resumed after a crash un-suspends a tenant an operator
/// had suspended"). While a crashed export holds an active tenant, the operator's suspend is
/// refused instead of reported done and then undone by the resumed export; a tenant the
/// operator suspended before an export is held by a marker too (activate refused mid-way)
/// and stays suspended when the resumed export ends.
pub async fn a_resumed_export_restores_exactly_the_status_before_it(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "suspended-export.test", Plan::Starter).await;
    let id = p.tenant.id;
    populate(db, &p, 300).await;
    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::export(&probe, id, Vec::new(), &small_export())
        .await
        .expect_err("crashed");
    assert_pending(
        tenant::change_status(db, Principal::operator(), id, TenantStatus::Suspended).await,
        "export",
    );
    export_bytes(db, id, &small_export()).await;
    assert_eq!(status(db, id).await, TenantStatus::Active);

    tenant::change_status(db, Principal::operator(), id, TenantStatus::Suspended)
        .await
        .expect("suspend");
    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::export(&probe, id, Vec::new(), &small_export())
        .await
        .expect_err("crashed");
    let op = ops::pending_operation(db, id)
        .await
        .expect("read")
        .expect("an export of a suspended tenant holds it too");
    assert_eq!(op.kind, OpKind::Export);
    assert_eq!(op.previous, TenantStatus::Suspended);
    assert_held(db, id, "export").await;
    let bytes = export_bytes(db, id, &small_export()).await;
    assert_eq!(status(db, id).await, TenantStatus::Suspended);
    assert!(ops::pending_operation(db, id)
        .await
        .expect("read")
        .is_none());
    let summary = ops::verify_backup(&bytes).expect("verifies");
    assert!(summary.header.consistent);
    let saved: Tenant = value::decode(&summary.header.entry).expect("entry");
    assert_eq!(saved.status, TenantStatus::Suspended);
}

/// Regression (issue 13: "during an export the consistent backup comes out torn"): an
/// activate and a writer tried while the export is between chunks are refused, and the
/// backup restores to a tenant whose indexes and records agree.
pub async fn activate_during_an_export_is_refused_and_the_backup_is_one_cut(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "torn.test", Plan::Starter).await;
    let id = p.tenant.id;
    let project = populate(db.as_ref(), &p, 300).await;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (during, log) = (db.clone(), seen.clone());
    let member = p.admin_member.id;
    let callback = move |_: Progress| {
        if !log.lock().expect("log").is_empty() {
            return;
        }
        let db = during.clone();
        // The callback is synchronous; the suite runs on a multi-threaded runtime.
        let outcome = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let activated = tenant::change_status(
                    db.as_ref(),
                    Principal::operator(),
                    id,
                    TenantStatus::Active,
                )
                .await;
                let tx = db.begin().await.expect("begin");
                let written = match TenantTx::open(tx.as_ref(), id).await {
                    Ok(ttx) => {
                        // What the torn backup got: a record written mid-export.
                        let task = Task::new(project, "written mid-export", member);
                        record::insert(&ttx, coditect_core::audit::Actor::Member(member), task)
                            .await
                            .map(|_| ())
                    }
                    Err(error) => Err(error),
                };
                let written = match written {
                    Ok(()) => tx.commit().await.map(|_| ()).map_err(Error::from),
                    Err(error) => Err(error),
                };
                (format!("{activated:?}"), written)
            })
        });
        let mut log = log.lock().expect("log");
        log.push(outcome.0);
        log.push(format!("{:?}", outcome.1));
    };
    let options = ExportOptions {
        chunk: ChunkOptions {
            chunk_records: 100,
            progress: Some(Arc::new(callback)),
            ..ChunkOptions::default()
        },
        ..ExportOptions::default()
    };
    let bytes = export_bytes(db.as_ref(), id, &options).await;
    let log = seen.lock().expect("log").clone();
    assert_eq!(log.len(), 2, "{log:?}");
    for outcome in &log {
        assert!(
            outcome.contains("OperationPending") && outcome.contains("\"export\""),
            "refused while exporting: {log:?}"
        );
    }
    let copy = TenantId::generate();
    ops::import(
        db.as_ref(),
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "torn-copy.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("restore");
    super::check::assert_checks_clean(db.as_ref(), copy).await;
    let problems = index_problems(&tenant_rows(db.as_ref(), copy).await);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(status(db.as_ref(), id).await, TenantStatus::Active);
}

/// Regression (issue 13: "after a crashed import a half-imported tenant goes live, and what
/// is written then is silently deleted when the import is resumed"). A staged import holds
/// its tenant: activate, suspend, settings and writers are refused, naming the import.
/// Importing again finishes it, active as the source was, equal to the source.
pub async fn an_interrupted_import_holds_the_tenant_until_run_again(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "held-import.test", Plan::Starter).await;
    populate(db, &p, 400).await;
    let small = ChunkOptions {
        chunk_records: 200,
        ..ChunkOptions::default()
    };
    let bytes = export_bytes(db, p.tenant.id, &small_export()).await;
    let target = TenantId::generate();
    let into = ImportTarget::new_tenant(target, "held-import-copy.test");
    for crash in [2, 4] {
        let probe = Probe::new(h.backend());
        probe.crash_in(crash);
        ops::import(&probe, Cursor::new(&bytes), &into, &small)
            .await
            .expect_err("the crash stops the import");
        let op = ops::pending_operation(db, target)
            .await
            .expect("read")
            .expect("a staged import");
        assert_eq!(
            op.kind,
            OpKind::Import {
                source: p.tenant.id.uuid()
            }
        );
        assert_held(db, target, "import").await;
    }
    ops::import(db, Cursor::new(&bytes), &into, &small)
        .await
        .expect("the import resumes");
    super::check::assert_checks_clean(db, target).await;
    assert_eq!(status(db, target).await, TenantStatus::Active);
    assert!(ops::pending_operation(db, target)
        .await
        .expect("read")
        .is_none());
    let source = split(tenant_rows(db, p.tenant.id).await);
    let copy = split(tenant_rows(db, target).await);
    assert!(source.rest == copy.rest);
    let problems = index_problems(&tenant_rows(db, target).await);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Regression (issue 13: "after a crashed erase a tenant without its audit trail goes
/// live"). An unfinished erase holds the tenant: activate, suspend, settings and writers
/// are refused, naming the erase, and so are an export and a migration. Erasing again
/// finishes it.
pub async fn an_interrupted_erase_holds_the_tenant_until_run_again(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "held-erase.test", Plan::Starter).await;
    let id = p.tenant.id;
    populate(db, &p, 300).await;
    let options = EraseOptions {
        chunk: ChunkOptions {
            chunk_records: 100,
            ..ChunkOptions::default()
        },
    };
    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::erase(&probe, id, "dpo@platform", &options)
        .await
        .expect_err("the crash stops the erase");
    let record = ops::erasure_record(db, id)
        .await
        .expect("read")
        .expect("an unfinished record");
    assert_eq!(record.finished_ms, None);
    assert_held(db, id, "erase").await;
    let before = snapshot(db, id).await;
    assert_pending(
        ops::export(db, id, Vec::new(), &ExportOptions::default()).await,
        "erase",
    );
    assert_pending(
        ops::migrate(
            db,
            id,
            TenantId::generate(),
            "erased-elsewhere.test",
            &ExportOptions::default(),
        )
        .await,
        "erase",
    );
    assert!(snapshot(db, id).await == before);
    let done = ops::erase(db, id, "dpo@platform", &options)
        .await
        .expect("the erase resumes");
    assert!(done.finished_ms.is_some());
    assert!(entry(db, id).await.is_none());
    assert!(tenant_rows(db, id).await.is_empty());
}

/// Regression (issue 13: "a refused `tenant migrate` (onto an existing id, onto itself)
/// leaves the source suspended and audits a migration that never happened"). A migration
/// onto an existing id, onto itself, onto a taken or invalid domain, or of a tenant held by
/// an export, and an import onto an existing id or a taken domain, are refused and change
/// nothing: no status, no event, no marker, nothing of the target.
pub async fn refused_migrations_and_imports_change_nothing(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let a = provisioned(db, "stays.test", Plan::Starter).await;
    let b = provisioned(db, "taken.test", Plan::Starter).await;
    let id = a.tenant.id;
    populate(db, &a, 20).await;
    let backup = export_bytes(db, id, &ExportOptions::default()).await;
    let before = snapshot(db, id).await;
    let other = snapshot(db, b.tenant.id).await;
    let fresh = TenantId::generate();
    let options = ExportOptions::default();

    let onto_existing = ops::migrate(db, id, b.tenant.id, "fresh.test", &options).await;
    assert_matches!(onto_existing, Err(Error::AlreadyExists { field: "id", .. }));
    unchanged(db, id, &before, "onto existing").await;
    let onto_itself = ops::migrate(db, id, id, "fresh.test", &options).await;
    assert_matches!(onto_itself, Err(Error::InvalidInput { .. }));
    unchanged(db, id, &before, "onto itself").await;
    let taken_domain = ops::migrate(db, id, fresh, "taken.test", &options).await;
    assert_matches!(
        taken_domain,
        Err(Error::AlreadyExists {
            field: "domain",
            ..
        })
    );
    unchanged(db, id, &before, "taken domain").await;
    let bad_domain = ops::migrate(db, id, fresh, "not a domain", &options).await;
    assert_matches!(bad_domain, Err(Error::InvalidInput { .. }));
    unchanged(db, id, &before, "bad domain").await;
    let restore_over = ops::import(
        db,
        Cursor::new(&backup),
        &ImportTarget::restore(),
        &ChunkOptions::default(),
    )
    .await;
    assert_matches!(restore_over, Err(Error::AlreadyExists { field: "id", .. }));
    unchanged(db, id, &before, "restore over").await;
    let import_taken = ops::import(
        db,
        Cursor::new(&backup),
        &ImportTarget::new_tenant(fresh, "taken.test"),
        &ChunkOptions::default(),
    )
    .await;
    assert_matches!(
        import_taken,
        Err(Error::AlreadyExists {
            field: "domain",
            ..
        })
    );
    unchanged(db, id, &before, "import taken").await;
    assert!(snapshot(db, id).await == before, "the source changed");
    assert!(
        snapshot(db, b.tenant.id).await == other,
        "the target changed"
    );
    assert!(entry(db, fresh).await.is_none());
    assert!(tenant_rows(db, fresh).await.is_empty());
    assert_eq!(status(db, id).await, TenantStatus::Active);

    // A migration of a tenant that a crashed export holds.
    let probe = Probe::new(h.backend());
    probe.crash_in(2);
    ops::export(&probe, id, Vec::new(), &small_export())
        .await
        .expect_err("crashed");
    let held = snapshot(db, id).await;
    assert_pending(
        ops::migrate(db, id, fresh, "fresh.test", &options).await,
        "export",
    );
    assert!(snapshot(db, id).await == held);
    assert!(entry(db, fresh).await.is_none());
}

/// A migration crashed part way (before the export read anything, and in the middle of the
/// import) holds the old tenant under its marker (activate refused, naming the migration);
/// the new one, if staged, is held by its import. Running the migration again finishes it:
/// the old tenant suspended with its marker gone and an event naming the new id, the new
/// one active and equal to it.
pub async fn an_interrupted_migration_holds_the_source_until_run_again(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let options = small_export();
    // How many commits a whole migration takes, to crash at the end of its import (its last
    // commits are the import's: a crash there always finds the copy staged, however many
    // chunks the export and the import take).
    let twin = provisioned(db, "twin.test", Plan::Starter).await;
    populate(db, &twin, 50).await;
    let probe = Probe::new(h.backend());
    ops::migrate(
        &probe,
        twin.tenant.id,
        TenantId::generate(),
        "twin-moved.test",
        &options,
    )
    .await
    .expect("migrate the twin");
    let total = probe
        .stats
        .commits
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(total > 8, "{total} commits");
    for (n, crash) in [3, total - 1].into_iter().enumerate() {
        let p = provisioned(db, &format!("moving{n}.test"), Plan::Starter).await;
        let id = p.tenant.id;
        populate(db, &p, 50).await;
        let new_id = TenantId::generate();
        let domain = format!("moved{n}.test");
        let probe = Probe::new(h.backend());
        probe.crash_in(crash);
        ops::migrate(&probe, id, new_id, &domain, &options)
            .await
            .expect_err("the crash stops the migration");
        let op = ops::pending_operation(db, id)
            .await
            .expect("read")
            .expect("the migration's marker");
        assert_eq!(op.kind, OpKind::Migrate { to: new_id.uuid() });
        assert_eq!(op.previous, TenantStatus::Active);
        assert_held(db, id, "migrate").await;
        // The second crash point is at the import's end: the copy is staged, held by it.
        assert_eq!(
            entry(db, new_id).await.is_some(),
            n == 1,
            "crash at {crash}"
        );
        if n == 1 {
            assert_held(db, new_id, "import").await;
        }
        let last_before = split(tenant_rows(db, id).await).events.last().cloned();
        assert_ne!(
            last_before.map(|e| e.model),
            Some(ops::migrate::MIGRATE_EVENT_MODEL.to_string()),
            "no migration event before it happened"
        );

        a_resumed_migration_completes(db, id, new_id, &domain, &options).await;
    }
}

/// The interrupted migration of `id` to `new_id` run again completes: the copy checks clean
/// and is active, the source suspended with the same records and the migration event last,
/// and the source can then be erased.
async fn a_resumed_migration_completes(
    db: &dyn KvBackend,
    id: TenantId,
    new_id: TenantId,
    domain: &str,
    options: &ExportOptions,
) {
    ops::migrate(db, id, new_id, domain, options)
        .await
        .expect("the migration resumes");
    super::check::assert_checks_clean(db, new_id).await;
    assert!(ops::pending_operation(db, id)
        .await
        .expect("read")
        .is_none());
    assert_eq!(status(db, id).await, TenantStatus::Suspended);
    assert_eq!(status(db, new_id).await, TenantStatus::Active);
    let old = split(tenant_rows(db, id).await);
    let new = split(tenant_rows(db, new_id).await);
    assert!(old.rest == new.rest);
    let left = old.events.last().expect("events");
    assert_eq!(left.model, ops::migrate::MIGRATE_EVENT_MODEL);
    assert_eq!(left.record_id, new_id.uuid());
    let problems = index_problems(&tenant_rows(db, new_id).await);
    assert!(problems.is_empty(), "{problems:#?}");
    // The old tenant can now be erased (nothing holds it any more).
    ops::erase(db, id, "ops", &EraseOptions::default())
        .await
        .expect("erase the old tenant");
}

/// The index walk finds what it is for: an index entry whose record is gone and a record
/// missing from an index.
pub async fn the_index_walk_finds_dangling_and_missing_entries(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "walk.test", Plan::Starter).await;
    populate(db, &p, 5).await;
    let rows = tenant_rows(db, p.tenant.id).await;
    assert!(index_problems(&rows).is_empty());
    let tasks = pack(&Task::COLLECTION);
    let task_at = rows
        .iter()
        .position(|(k, _)| k.starts_with(&tasks) && k.len() == tasks.len() + 17)
        .expect("a task");
    let mut dangling = rows.clone();
    dangling.remove(task_at);
    assert!(index_problems(&dangling)
        .iter()
        .any(|p| p.contains("points at no record")));
    let entry_prefix = pack(&("idx", "task_by_project"));
    let mut unlisted = rows.clone();
    unlisted.retain(|(k, _)| !k.starts_with(&entry_prefix));
    assert!(index_problems(&unlisted)
        .iter()
        .any(|p| p.contains("not listed")));
}

/// `ops::abort` drops what holds a tenant instead of finishing it: a crashed export's quiesce
/// (the prior status back, audited), a staged import (erased, domain freed) and a crashed
/// migration (its staged copy erased, the old tenant's status back). With nothing pending it
/// is refused, and an unfinished erase cannot be aborted; neither changes anything.
pub async fn abort_drops_an_export_an_import_and_a_migration(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "abort.test", Plan::Starter).await;
    let id = p.tenant.id;
    populate(db, &p, 100).await;
    let chunk = small_export().chunk;

    let before = snapshot(db, id).await;
    let nothing = ops::abort(db, id, "ops", &chunk).await;
    assert_matches!(nothing, Err(Error::InvalidInput { .. }));
    assert!(snapshot(db, id).await == before);

    an_aborted_export_reactivates(h, db, id, &chunk).await;
    an_aborted_import_leaves_nothing(h, db, id, &chunk).await;
    an_aborted_migration_reactivates(h, db, id, &chunk).await;

    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::erase(
        &probe,
        id,
        "dpo",
        &EraseOptions {
            chunk: chunk.clone(),
        },
    )
    .await
    .expect_err("crashed");
    let before = snapshot(db, id).await;
    assert_pending(ops::abort(db, id, "ops", &chunk).await, "erase");
    assert!(snapshot(db, id).await == before);
}

/// An export crashed part way is aborted: the tenant is active again, nothing pending, the
/// abort audited.
async fn an_aborted_export_reactivates(
    h: &dyn Harness,
    db: &dyn KvBackend,
    id: TenantId,
    chunk: &ChunkOptions,
) {
    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::export(&probe, id, Vec::new(), &small_export())
        .await
        .expect_err("crashed");
    assert_eq!(
        ops::abort(db, id, "ops", chunk).await.expect("abort"),
        ops::Aborted::Export {
            status: TenantStatus::Active
        }
    );
    assert_eq!(status(db, id).await, TenantStatus::Active);
    assert!(ops::pending_operation(db, id)
        .await
        .expect("read")
        .is_none());
    let events = split(tenant_rows(db, id).await).events;
    assert_eq!(
        events.last().map(|e| e.model.as_str()),
        Some(ops::abort::ABORT_EVENT_MODEL)
    );
}

/// An import crashed part way is aborted: nothing of the staged copy is left, not even its
/// domain.
async fn an_aborted_import_leaves_nothing(
    h: &dyn Harness,
    db: &dyn KvBackend,
    id: TenantId,
    chunk: &ChunkOptions,
) {
    let bytes = export_bytes(db, id, &small_export()).await;
    let staged = TenantId::generate();
    let probe = Probe::new(h.backend());
    probe.crash_in(3);
    ops::import(
        &probe,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(staged, "abort-staged.test"),
        chunk,
    )
    .await
    .expect_err("crashed");
    assert_eq!(
        ops::abort(db, staged, "ops", chunk).await.expect("abort"),
        ops::Aborted::Import
    );
    assert!(entry(db, staged).await.is_none());
    assert!(tenant_rows(db, staged).await.is_empty());
    let tx = db.begin().await.expect("begin");
    assert!(tenant::get_by_domain(tx.as_ref(), "abort-staged.test")
        .await
        .expect("get")
        .is_none());
    drop(tx);
}

/// A migration crashed past the export and the import's first chunk is aborted: the source
/// is active again and nothing of the copy is left.
async fn an_aborted_migration_reactivates(
    h: &dyn Harness,
    db: &dyn KvBackend,
    id: TenantId,
    chunk: &ChunkOptions,
) {
    let new_id = TenantId::generate();
    // Past the export's chunks (as many commits as a whole export, less its end), the
    // import's staging and first chunk.
    let counting = Probe::new(h.backend());
    ops::export(&counting, id, Vec::new(), &small_export())
        .await
        .expect("export");
    let export_commits = counting
        .stats
        .commits
        .load(std::sync::atomic::Ordering::SeqCst);
    let probe = Probe::new(h.backend());
    probe.crash_in(export_commits + 4);
    ops::migrate(&probe, id, new_id, "abort-moved.test", &small_export())
        .await
        .expect_err("crashed");
    assert!(
        entry(db, new_id).await.is_some(),
        "the crash left a staged copy"
    );
    assert_eq!(
        ops::abort(db, id, "ops", chunk).await.expect("abort"),
        ops::Aborted::Migrate {
            to: new_id.uuid(),
            status: TenantStatus::Active
        }
    );
    assert_eq!(status(db, id).await, TenantStatus::Active);
    assert!(ops::pending_operation(db, id)
        .await
        .expect("read")
        .is_none());
    assert!(entry(db, new_id).await.is_none());
    assert!(tenant_rows(db, new_id).await.is_empty());
}
