//! The kv bench: the in-memory backend with 10,000 and 1,000,000 preloaded keys.
//!
//! Each figure is a whole transaction (begin, the operation, commit or drop), since that is
//! what a caller pays. `direct/*` calls the engine's typed transaction; `dyn/*` goes through
//! `Arc<dyn KvBackend>` and `Box<dyn Transaction>` on a tokio runtime, as the model layer and
//! the CLI do, so the difference is the cost of run-time backend choice.
//!
//! `cargo bench -p coditect-benches --bench kv` (short); `CODITECT_BENCH_LONG=1` for long.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod support;

use std::hint::black_box;
use std::sync::Arc;

use coditect_benches::row_key;
use coditect_core::{KvBackend, RangeOptions};
use coditect_engine::EngineOptions;
use coditect_mem::{new_backend, MemBackend};
use criterion::{BenchmarkId, Criterion};

const VALUE: [u8; 100] = [7; 100];

fn preload(rows: u64) -> MemBackend {
    let db = new_backend(EngineOptions::default());
    let mut i = 0;
    while i < rows {
        let tx = db.begin_tx();
        for j in i..(i + 10_000).min(rows) {
            tx.set(&row_key(j), &VALUE).expect("set");
        }
        tx.commit().expect("preload commit");
        i += 10_000;
    }
    db
}

fn bench_kv(c: &mut Criterion) {
    let runtime = support::runtime();
    for rows in [10_000u64, 1_000_000] {
        let db = preload(rows);
        let dyn_db: Arc<dyn KvBackend> = Arc::new(db.clone());
        let mut group = c.benchmark_group(format!("kv/{rows}"));
        let random_row = move || row_key(fastrand::u64(0..rows));

        group.bench_function(BenchmarkId::new("direct", "get_hit"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                black_box(tx.get(&random_row(), false).expect("get"))
            })
        });
        group.bench_function(BenchmarkId::new("direct", "get_miss"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                // Between two stored keys, so the search walks as deep as a hit does.
                let mut absent = row_key(fastrand::u64(0..rows));
                absent.push(0);
                black_box(tx.get(&absent, false).expect("get"))
            })
        });
        group.bench_function(BenchmarkId::new("direct", "range_100"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                let start = row_key(fastrand::u64(0..rows - 100));
                black_box(
                    tx.get_range(&start, b"kv0", RangeOptions::limit(100))
                        .expect("range"),
                )
            })
        });
        group.bench_function(BenchmarkId::new("direct", "commit_1_key"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                tx.set(&random_row(), &VALUE).expect("set");
                black_box(tx.commit().expect("commit"))
            })
        });
        group.bench_function(BenchmarkId::new("direct", "commit_10_keys"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                for _ in 0..10 {
                    tx.set(&random_row(), &VALUE).expect("set");
                }
                black_box(tx.commit().expect("commit"))
            })
        });
        group.bench_function(BenchmarkId::new("direct", "read_modify_write"), |b| {
            b.iter(|| {
                let tx = db.begin_tx();
                let key = random_row();
                let mut value = tx.get(&key, false).expect("get").unwrap_or_default();
                value[0] = value[0].wrapping_add(1);
                tx.set(&key, &value).expect("set");
                black_box(tx.commit().expect("commit"))
            })
        });
        group.bench_function(BenchmarkId::new("dyn", "get_hit"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tx = dyn_db.begin().await.expect("begin");
                    black_box(tx.get(&random_row(), false).await.expect("get"))
                })
            })
        });
        group.bench_function(BenchmarkId::new("dyn", "commit_1_key"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tx = dyn_db.begin().await.expect("begin");
                    tx.set(&random_row(), &VALUE).expect("set");
                    black_box(tx.commit().await.expect("commit"))
                })
            })
        });
        group.finish();
    }
}

coditect_benches::bench_main!(bench_kv);
