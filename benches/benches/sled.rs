//! The sled bench: the durable embedded backend against the disk it runs on.
//!
//! - `sled/durable`: whole transactions with `sync` (commit returns once on disk).
//! - `sled/non_durable`: the same commit without `sync`.
//! - `sled/read`: a point read and a 100-row range (no commit).
//! - `sled/floor`: overwrite 128 bytes of a plain file in the same directory and
//!   `sync_data` it: the least any durable commit can cost on this disk.
//! - `sled/throughput/{1,8}_committers`: durable 1-key commits from 1 and 8 threads at once
//!   (elements/s = commits/s); with group commit, 8 committers share flushes.
//!
//! After criterion, a latency summary (p50/p99/max of single durable commits and of the
//! floor) and the flushes-per-commit of the 8-committer run go to stderr, since criterion
//! reports means only.
//!
//! Stores live under the bench's target tmp directory (a real disk, whatever /tmp is).
//! `cargo bench -p coditect-benches --bench sled` (short); `CODITECT_BENCH_LONG=1` for long.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use coditect_benches::row_key;
use coditect_core::RangeOptions;
use coditect_sled::{SledBackend, SledOptions};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};

const VALUE: [u8; 100] = [7; 100];
const ROWS: u64 = 10_000;
/// Commits per measured iteration of the throughput benches, split over the committers.
const COMMITS_PER_ITER: u64 = 64;

fn open(dir: &Path, name: &str, sync: bool) -> SledBackend {
    let db = coditect_sled::open(
        dir.join(name),
        SledOptions {
            sync,
            ..SledOptions::default()
        },
    )
    .expect("open the bench store");
    let mut i = 0;
    while i < ROWS {
        let tx = db.begin_tx();
        for j in i..(i + 1_000).min(ROWS) {
            tx.set(&row_key(j), &VALUE).expect("set");
        }
        tx.commit().expect("preload commit");
        i += 1_000;
    }
    db
}

fn random_row() -> Vec<u8> {
    row_key(fastrand::u64(0..ROWS))
}

fn commit_keys(db: &SledBackend, keys: usize) {
    let tx = db.begin_tx();
    for _ in 0..keys {
        tx.set(&random_row(), &VALUE).expect("set");
    }
    black_box(tx.commit().expect("commit"));
}

/// A plain file next to the stores, for the `sync_data` floor.
struct Floor(File);

impl Floor {
    fn new(dir: &Path) -> Self {
        let file = File::create(dir.join("floor")).expect("floor file");
        file.write_all_at(&[0; 4096], 0).expect("write");
        file.sync_all().expect("sync");
        Floor(file)
    }

    fn write_and_sync(&self) {
        self.0
            .write_all_at(&[fastrand::u8(..); 128], 0)
            .expect("write");
        self.0.sync_data().expect("sync_data");
    }
}

/// Runs `commits` durable 1-key commits split over `committers` threads; returns the time.
fn concurrent_commits(db: &SledBackend, committers: u64, commits: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..committers {
            scope.spawn(|| {
                for _ in 0..commits / committers {
                    commit_keys(db, 1);
                }
            });
        }
    });
    start.elapsed()
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:?}, p99 {:?}, max {:?} ({} samples)",
        at(0.5),
        at(0.99),
        at(1.0),
        samples.len()
    )
}

fn bench_sled(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench directory");
    let durable = open(dir.path(), "durable", true);
    let fast = open(dir.path(), "non_durable", false);
    let floor = Floor::new(dir.path());

    let mut group = c.benchmark_group("sled");
    group.bench_function(BenchmarkId::new("durable", "commit_1_key"), |b| {
        b.iter(|| commit_keys(&durable, 1))
    });
    group.bench_function(BenchmarkId::new("durable", "commit_10_keys"), |b| {
        b.iter(|| commit_keys(&durable, 10))
    });
    group.bench_function(BenchmarkId::new("non_durable", "commit_1_key"), |b| {
        b.iter(|| commit_keys(&fast, 1))
    });
    group.bench_function(BenchmarkId::new("read", "get"), |b| {
        b.iter(|| {
            let tx = durable.begin_tx();
            black_box(tx.get(&random_row(), false).expect("get"))
        })
    });
    group.bench_function(BenchmarkId::new("read", "range_100"), |b| {
        b.iter(|| {
            let tx = durable.begin_tx();
            let start = row_key(fastrand::u64(0..ROWS - 100));
            black_box(
                tx.get_range(&start, b"kv0", RangeOptions::limit(100))
                    .expect("range"),
            )
        })
    });
    group.bench_function(BenchmarkId::new("floor", "write_128b_sync_data"), |b| {
        b.iter(|| floor.write_and_sync())
    });
    group.finish();

    let mut group = c.benchmark_group("sled/throughput");
    group.throughput(Throughput::Elements(COMMITS_PER_ITER));
    // An iteration is tens of milliseconds: criterion's default linear sampling would run
    // for minutes.
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for committers in [1u64, 8] {
        group.bench_function(format!("{committers}_committers"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| concurrent_commits(&durable, committers, COMMITS_PER_ITER))
                    .sum()
            })
        });
    }
    group.finish();

    let time = |f: &dyn Fn()| {
        (0..1_000)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect::<Vec<_>>()
    };
    eprintln!(
        "durable commit_1_key: {}",
        percentiles(time(&|| commit_keys(&durable, 1)))
    );
    eprintln!(
        "floor write_128b_sync_data: {}",
        percentiles(time(&|| floor.write_and_sync()))
    );
    let flushes = durable.store().flushes();
    concurrent_commits(&durable, 8, 8 * 200);
    eprintln!(
        "8 committers: {} flushes for 1600 durable commits",
        durable.store().flushes() - flushes
    );
}

coditect_benches::bench_main!(bench_sled);
