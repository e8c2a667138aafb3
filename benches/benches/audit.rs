//! The audit bench, on the in-memory backend: what the trail costs a write, and how fast it is
//! sealed and verified.
//!
//! - `append/*`: a task create as a whole transaction (begin, open the tenant, write, commit).
//!   `create_task` is the record layer's insert by the system actor (no RBAC reads), audit
//!   included. `raw_task_write` does the same store work without any audit (the same reads of
//!   the record and its references, the record, its index entries and counter); and
//!   `raw_task_write_plus_audit` adds exactly what the audit writer adds (the event built,
//!   digested and encoded, and its three versionstamped keys). The audit's cost per write is
//!   the difference of the two (`raw_task_write_plus_audit_event` writes the event without its
//!   index entries, to tell their share); the record layer has no switch to skip its audit, by
//!   design, so the comparison is made on the raw write.
//! - `seal/events`: sealing a 20,000-event trail from scratch (the seal state is cleared
//!   before each run, untimed), in chunks of 10,000; throughput in events.
//! - `verify/events`: verifying the sealed trail from the start; throughput in events.
//!
//! `cargo bench -p coditect-benches --bench audit` (short); `CODITECT_BENCH_LONG=1` for long.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coditect_core::audit::{self, Actor, AuditAction, AuditEvent, SealOptions, VerifyOptions};
use coditect_core::keys::KeyPart;
use coditect_core::model::{Plan, Project, Task};
use coditect_core::provision::{NewTenant, Provisioned};
use coditect_core::record::{self, Model};
use coditect_core::value::{self, Versioned};
use coditect_core::{prefix_end, KvBackend, TenantId, TenantTx};
use criterion::{Criterion, Throughput};
use foundationdb_tuple::{pack, pack_into, Element, Versionstamp, VersionstampOffset};
use support::{provision_one, read_in, write_in};

/// Events in the trail the seal and verify figures walk.
const EVENTS: u64 = 20_000;

struct Fixture {
    db: Arc<dyn KvBackend>,
    tenant: Provisioned,
    project: Project,
}

async fn fixture() -> Fixture {
    let db = support::mem_store();
    let new = NewTenant {
        id: TenantId::generate(),
        name: "Audited".into(),
        domain: "audit.bench.test".into(),
        plan: Plan::Enterprise,
        root_code: "ROOT".into(),
        admin_email: "admin@bench.test".into(),
        admin_name: "Admin".into(),
    };
    let tenant = provision_one(db.as_ref(), new).await;
    let project = write_in(db.as_ref(), tenant.tenant.id, async |ttx| {
        let project = Project::new("BENCH", "Bench", tenant.root.id, tenant.admin_member.id);
        record::insert(ttx, Actor::System, project)
            .await
            .expect("project")
    })
    .await;
    Fixture {
        db,
        tenant,
        project,
    }
}

fn new_task(f: &Fixture) -> Task {
    Task::new(f.project.id, "bench", f.tenant.admin_member.id)
}

/// The record layer's create.
async fn create_task(f: &Fixture) {
    let task = new_task(f);
    write_in(f.db.as_ref(), f.tenant.tenant.id, async |ttx| {
        record::insert(ttx, Actor::System, task)
            .await
            .expect("insert")
    })
    .await;
}

/// One tuple element of a key.
fn part(key: &mut Vec<u8>, part: &KeyPart) {
    match part {
        KeyPart::Str(s) => pack_into(&s.as_str(), key),
        KeyPart::Uuid(u) => pack_into(u, key),
        KeyPart::Int(i) => pack_into(i, key),
        KeyPart::Null => pack_into(&Element::Nil, key),
    };
}

/// `prefix` then an incomplete versionstamp; the key and the offset the commit fills in.
fn stamped(mut key: Vec<u8>, user_version: u16) -> (Vec<u8>, u32) {
    let start = key.len() as u32;
    match pack_into(&Versionstamp::incomplete(user_version), &mut key) {
        VersionstampOffset::OneIncomplete { offset } => (key, start + offset),
        _ => unreachable!("one incomplete versionstamp was packed"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How much of the audit writer's work a raw write adds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audit {
    None,
    /// The event only.
    Event,
    /// The event and its two index entries: all the writer does.
    EventAndIndexes,
}

/// The store work of a create, by hand, plus `audit` of the audit writer's work.
async fn raw_task_write(f: &Fixture, audit: Audit) {
    let mut task = new_task(f);
    let tx = f.db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), f.tenant.tenant.id)
        .await
        .expect("open");
    let id = task.id;
    let key = record::key_of::<Task>(&ttx, id);
    // The reads an insert makes: the record (absent) and its two references.
    assert!(ttx.get(&key, false).await.expect("get").is_none());
    let project = record::key_of::<Project>(&ttx, f.project.id);
    assert!(ttx.get(&project, false).await.expect("get").is_some());
    let reporter = record::key_of::<coditect_core::model::Member>(&ttx, f.tenant.admin_member.id);
    assert!(ttx.get(&reporter, false).await.expect("get").is_some());
    let now = now_ms();
    task.stamps.created_at_ms = now;
    task.stamps.updated_at_ms = now;
    let prefix = ttx.prefix().to_vec();
    for index in Task::INDEXES {
        if let Some(values) = (index.values)(&task) {
            let mut entry = prefix.clone();
            pack_into(&("idx", index.name), &mut entry);
            for value in &values {
                part(&mut entry, value);
            }
            pack_into(&id.uuid(), &mut entry);
            ttx.set(&entry, &[]).expect("index");
        }
    }
    let bytes = value::encode(&task).expect("encode");
    ttx.set(&key, &bytes).expect("record");
    let mut counter = prefix.clone();
    pack_into(&("meta", "count", Task::COLLECTION), &mut counter);
    tx.atomic_add(&counter, 1).expect("counter");
    if audit != Audit::None {
        let event = AuditEvent {
            actor: Actor::System,
            action: AuditAction::Create,
            model: Task::WHAT.to_owned(),
            record_id: id.uuid(),
            before: None,
            after: Some(audit::digest(&bytes)),
            at_ms: now_ms(),
        };
        let (event_key, offset) = stamped([prefix.as_slice(), &pack(&"audit")].concat(), 0);
        tx.set_versionstamped_key(&event_key, offset, &value::encode(&event).expect("encode"))
            .expect("event");
    }
    if audit == Audit::EventAndIndexes {
        let mut by_actor = prefix.clone();
        pack_into(&("idx", "audit_by_actor", Element::Nil), &mut by_actor);
        let (by_actor, offset) = stamped(by_actor, 0);
        tx.set_versionstamped_key(&by_actor, offset, &[])
            .expect("by actor");
        let mut by_target = prefix.clone();
        pack_into(
            &("idx", "audit_by_target", Task::WHAT, id.uuid()),
            &mut by_target,
        );
        let (by_target, offset) = stamped(by_target, 0);
        tx.set_versionstamped_key(&by_target, offset, &[])
            .expect("by target");
    }
    drop(ttx);
    tx.commit().await.expect("commit");
}

/// `EVENTS` audit events (task creates, 500 to a transaction), beyond the fixture's own.
async fn fill(f: &Fixture) -> u64 {
    let mut made = 0;
    while made < EVENTS {
        write_in(f.db.as_ref(), f.tenant.tenant.id, async |ttx| {
            for _ in 0..500 {
                record::insert(ttx, Actor::System, new_task(f))
                    .await
                    .expect("insert");
            }
        })
        .await;
        made += 500;
    }
    read_in(f.db.as_ref(), f.tenant.tenant.id, async |ttx| {
        let mut count = 0;
        let mut request = audit::AuditQuery::first(1_000);
        loop {
            let page = audit::query::by_time(ttx, coditect_core::Principal::system(), &request)
                .await
                .expect("query");
            count += page.items.len() as u64;
            match page.next {
                Some(next) => request = request.next_page(next),
                None => return count,
            }
        }
    })
    .await
}

/// Forgets the seal (untimed set-up of each seal run).
async fn clear_seal(f: &Fixture) {
    let meta = pack(&(f.tenant.tenant.id.uuid(), "meta", "audit"));
    let tx = f.db.begin().await.expect("begin");
    tx.clear_range(&meta, &prefix_end(&meta).expect("end"))
        .expect("clear");
    tx.commit().await.expect("commit");
}

#[derive(Clone, Copy)]
enum Variant {
    Create,
    Raw(Audit),
}

fn bench_audit(c: &mut Criterion) {
    let runtime = support::runtime();
    // Each variant writes into a store of its own, so that none pays for the others' rows.
    let mut group = c.benchmark_group("audit/append");
    let variants: [(&str, Variant); 4] = [
        ("raw_task_write", Variant::Raw(Audit::None)),
        (
            "raw_task_write_plus_audit_event",
            Variant::Raw(Audit::Event),
        ),
        (
            "raw_task_write_plus_audit",
            Variant::Raw(Audit::EventAndIndexes),
        ),
        ("create_task", Variant::Create),
    ];
    for (name, variant) in variants {
        let f = runtime.block_on(fixture());
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    match variant {
                        Variant::Create => create_task(&f).await,
                        Variant::Raw(audit) => raw_task_write(&f, audit).await,
                    }
                })
            })
        });
    }
    group.finish();

    // A fresh store for the trail.
    let f = runtime.block_on(fixture());
    let events = runtime.block_on(fill(&f));
    let tenant = f.tenant.tenant.id;
    let mut group = c.benchmark_group("audit/seal");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function("events", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                runtime.block_on(clear_seal(&f));
                let start = Instant::now();
                let report = runtime
                    .block_on(audit::seal(f.db.as_ref(), tenant, &SealOptions::default()))
                    .expect("seal");
                total += start.elapsed();
                assert_eq!(report.sealed, events);
            }
            total
        })
    });
    group.finish();

    let mut group = c.benchmark_group("audit/verify");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function("events", |b| {
        b.iter(|| {
            let verdict = runtime
                .block_on(audit::verify(
                    f.db.as_ref(),
                    tenant,
                    &VerifyOptions::default(),
                ))
                .expect("verify");
            assert!(matches!(verdict, audit::Verdict::Clean(_)));
            black_box(verdict)
        })
    });
    group.finish();
}

coditect_benches::bench_main!(bench_audit);
