//! The tenant-operations bench: provisioning a tenant (one transaction: registry entry,
//! domain, root entity, admin user and member, built-in roles, all audited) on mem and on
//! sled with durable commits, and export / import throughput of a tenant on durable sled.
//!
//! The exported tenant holds 4,000 tasks with 1,000-character descriptions (about 5 MB of
//! keys and values with indexes, counters and audit events). Export writes to memory, so the
//! figure is the store and the format, not the disk the file goes to. Import is the whole
//! path: verify the file, stage, write the chunks (durable commits), activate, re-seal the
//! audit chain; each imported copy is erased again outside the timing.
//!
//! `cargo bench -p coditect-benches --bench ops` (short); `CODITECT_BENCH_LONG=1` for long.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod support;

use std::hint::black_box;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coditect_core::audit::Actor;
use coditect_core::model::{Project, Task};
use coditect_core::provision::Provisioned;
use coditect_core::record;
use coditect_core::{KvBackend, TenantId};
use coditect_ops::{self as ops, ChunkOptions, EraseOptions, ExportOptions, ImportTarget};
use coditect_sled::SledOptions;
use criterion::{BenchmarkId, Criterion, Throughput};
use support::{numbered_tenant, write_in};

const TASKS: usize = 4_000;
const DESCRIPTION: usize = 1_000;

static TENANTS: AtomicU64 = AtomicU64::new(0);

/// Provisions the next tenant of [`TENANTS`].
async fn provision_one(db: &dyn KvBackend) -> Provisioned {
    let n = TENANTS.fetch_add(1, Ordering::Relaxed);
    support::provision_one(db, numbered_tenant(n)).await
}

async fn populated(db: &dyn KvBackend) -> Provisioned {
    let p = provision_one(db).await;
    let actor = Actor::Member(p.admin_member.id);
    let project = write_in(db, p.tenant.id, async |ttx| {
        let project = Project::new("BIG", "Big", p.root.id, p.admin_member.id);
        record::insert(ttx, actor, project).await.expect("project")
    })
    .await;
    let text = "d".repeat(DESCRIPTION);
    for _ in 0..TASKS / 500 {
        write_in(db, p.tenant.id, async |ttx| {
            for i in 0..500 {
                let mut task = Task::new(project.id, format!("task {i}"), p.admin_member.id);
                task.description = text.clone();
                record::insert(ttx, actor, task).await.expect("task");
            }
        })
        .await;
    }
    p
}

fn bench_ops(c: &mut Criterion) {
    let runtime = support::runtime();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench directory");
    let mem = support::mem_store();
    let sled: Arc<dyn KvBackend> = Arc::new(
        coditect_sled::open(dir.path().join("durable"), SledOptions::default()).expect("open sled"),
    );

    let mut group = c.benchmark_group("ops/provision");
    for (name, db) in [("mem", &mem), ("sled_durable", &sled)] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| runtime.block_on(async { black_box(provision_one(db.as_ref()).await) }))
        });
    }
    group.finish();

    let p = runtime.block_on(populated(sled.as_ref()));
    let options = ExportOptions::default();
    let mut backup = Vec::new();
    let report = runtime
        .block_on(ops::export(
            sled.as_ref(),
            p.tenant.id,
            &mut backup,
            &options,
        ))
        .expect("export");
    println!(
        "ops: tenant of {} records, {} bytes of keys and values, backup file {} bytes",
        report.records, report.data_bytes, report.file_bytes
    );

    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(report.data_bytes)),
        ("records", Throughput::Elements(report.records)),
    ] {
        let mut group = c.benchmark_group(format!("ops/{unit}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        group.throughput(throughput);
        group.bench_function("export_sled", |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut out = Vec::with_capacity(backup.len());
                    ops::export(sled.as_ref(), p.tenant.id, &mut out, &options)
                        .await
                        .expect("export");
                    black_box(out)
                })
            })
        });
        group.bench_function("import_sled_durable", |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let id = TenantId::generate();
                        let n = TENANTS.fetch_add(1, Ordering::Relaxed);
                        let target = ImportTarget::new_tenant(id, format!("copy{n}.bench.test"));
                        let start = Instant::now();
                        ops::import(
                            sled.as_ref(),
                            Cursor::new(&backup),
                            &target,
                            &ChunkOptions::default(),
                        )
                        .await
                        .expect("import");
                        total += start.elapsed();
                        ops::erase(sled.as_ref(), id, "bench", &EraseOptions::default())
                            .await
                            .expect("erase");
                    }
                    total
                })
            })
        });
        group.finish();
    }
}

coditect_benches::bench_main!(bench_ops);
