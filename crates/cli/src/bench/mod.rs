//! `coditect bench`: provisions N tenants with realistic data, runs a mixed workload over all
//! of them from C concurrent workers and reports latency percentiles per operation kind
//! against the seed's targets (lookup p99 1 ms, write transaction p99 5 ms, onboarding p99
//! 1 s).
//!
//! Each worker is an OS thread with its own single-threaded async runtime: the sled store's
//! group commit blocks its committer until the flush, and a blocked worker must not stall the
//! others. Without `--store` the bench runs on a fresh temporary sled directory (durable
//! commits), deleted afterwards, so it never touches the data of `coditect demo`.

mod fsync;
mod mix;
mod plot;
mod report;
mod setup;
mod sqlite_peer;
mod workers;
mod workload;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use coditect_core::KvBackend;
use indicatif::{ProgressBar, ProgressStyle};

use self::mix::Mix;
use self::report::Report;
use self::setup::BenchTenant;
use self::workload::Recorder;
use crate::output::{path_text, Output, Render};
use crate::safe_file;
use crate::store::{self, StoreSpec};

/// `coditect bench` options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Tenants to provision, each with 20 users, 5 projects and 200 tasks.
    #[arg(long, default_value_t = 100)]
    tenants: usize,
    /// Seconds the mixed workload runs.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Concurrent workers (threads).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Exit with code 1 when a target is missed (or an operation failed).
    #[arg(long)]
    check: bool,
    /// Write the latency-percentile chart to this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// The shares of the operation kinds.
    #[arg(long, default_value_t = Mix::default())]
    mix: Mix,
    /// Run the same workload on a peer afterwards, in the same run, and report ours beside
    /// it as ratios: `sqlite` (WAL, synchronous=FULL, tenant_id-led keys).
    #[arg(long, value_enum)]
    peer: Option<Peer>,
}

/// A store the bench compares with.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// SQLite (bundled), WAL mode, `synchronous=FULL`.
    Sqlite,
}

/// Runs the bench; the exit code says whether `--check` found the targets met.
pub async fn run(
    spec: Option<StoreSpec>,
    out: &Output,
    args: BenchArgs,
) -> anyhow::Result<ExitCode> {
    check_args(&args)?;
    // The plot's file is checked before hours of work are spent.
    let plot_to = match &args.plot {
        Some(path) => {
            let store = spec.as_ref().and_then(StoreSpec::local_path);
            Some(safe_file::check(path, store)?)
        }
        None => None,
    };
    // `_scratch` is removed when it drops, after the store is closed below.
    let (spec, _scratch) = store_or_scratch(spec)?;
    let db = store::open(&spec, store::Missing::Create).await?;
    let progress = !out.json && std::io::stderr().is_terminal();
    let run_id = format!("{:08x}", fastrand::u32(..));

    let mut recorder = Recorder::new();
    let setup_start = Instant::now();
    let tenants = provision_all(&db, &run_id, &args, progress, &mut recorder)?;
    let setup_s = setup_start.elapsed().as_secs_f64();

    let duration_s = run_workload(&db, &tenants, &run_id, &args, progress, &mut recorder)?;
    drop(db);

    // The disk's floor for a durable commit, measured where the store lives (or in a temp
    // directory for mem and fdb): a 4 KiB write and one fdatasync.
    let floor_dir = match spec.local_path() {
        Some(path) => path.to_path_buf(),
        None => std::env::temp_dir(),
    };
    let fsync_floor = fsync::floor(&floor_dir).context("measuring the fdatasync floor")?;
    let peer = match args.peer {
        Some(Peer::Sqlite) => Some(run_sqlite_peer(&args, &floor_dir, &run_id, progress)?),
        None => None,
    };

    let mut report = Report::new(
        spec.to_string(),
        tenants.len(),
        args.concurrency,
        args.mix.to_string(),
        setup_s,
        duration_s,
        &recorder,
    );
    report.fsync_floor = Some(fsync_floor);
    report.peer = peer.map(Box::new);
    if let Some(target) = &plot_to {
        let title = format!(
            "coditect bench: {}, {} tenants, {} workers, {:.0} s",
            report.store, report.tenants, report.concurrency, report.duration_s
        );
        plot::write(target, &title, &recorder)?;
    }
    out.print(&Benched {
        report: &report,
        plot: args.plot.as_deref(),
    });
    Ok(if args.check && !report.targets_met() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Refuses options out of range before anything is opened.
fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.tenants == 0 || args.tenants > 1_000_000 {
        bail!("--tenants must be between 1 and 1000000");
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        bail!("--concurrency must be between 1 and 1024");
    }
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 86_400.0) {
        bail!("--duration must be a number of seconds above 0 and at most 86400");
    }
    Ok(())
}

/// The store to bench: `spec`, or without `--store` a fresh temporary sled directory,
/// returned beside it so that it lives (and is removed) with the caller's binding.
fn store_or_scratch(
    spec: Option<StoreSpec>,
) -> anyhow::Result<(StoreSpec, Option<tempfile::TempDir>)> {
    Ok(match spec {
        Some(spec) => (spec, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("coditect-bench-")
                .tempdir()
                .context("creating a temporary directory for the bench's store")?;
            (StoreSpec::Sled(dir.path().to_path_buf()), Some(dir))
        }
    })
}

/// Runs the same workload on SQLite, in a directory beside the store (`floor_dir`, so on the
/// same disk) or else in the system's temp directory, and reports it.
fn run_sqlite_peer(
    args: &BenchArgs,
    floor_dir: &Path,
    run_id: &str,
    progress: bool,
) -> anyhow::Result<Report> {
    let dir = tempfile::Builder::new()
        .prefix("coditect-bench-peer-")
        .tempdir_in(floor_dir)
        .or_else(|_| {
            tempfile::Builder::new()
                .prefix("coditect-bench-peer-")
                .tempdir()
        })
        .context("creating a directory for the SQLite peer")?;
    if progress {
        eprintln!("running the same workload on SQLite ...");
    }
    let ran = sqlite_peer::run(
        dir.path(),
        args.tenants,
        args.concurrency,
        args.mix,
        Duration::from_secs_f64(args.duration),
        run_id,
    )?;
    Ok(Report::new(
        "sqlite (WAL, synchronous=FULL)".into(),
        args.tenants,
        args.concurrency,
        args.mix.to_string(),
        ran.setup_s,
        ran.duration_s,
        &ran.recorder,
    ))
}

/// `bench`'s result: the report, and where its plot went.
struct Benched<'a> {
    report: &'a Report,
    plot: Option<&'a Path>,
}

impl Render for Benched<'_> {
    fn json(&self) -> serde_json::Value {
        self.report.json()
    }
    fn text(&self) -> Vec<String> {
        let mut lines = vec![self.report.text()];
        if let Some(path) = self.plot {
            lines.push(format!("plot: {}", path_text(path)));
        }
        lines
    }
}

fn bar(len: u64, template: &str, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// One single-threaded runtime per worker thread (see the module docs).
fn worker_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a worker's async runtime")
}

/// Provisions and fills every tenant, `concurrency` at a time; onboarding times go to the
/// recorder.
fn provision_all(
    db: &Arc<dyn KvBackend>,
    run_id: &str,
    args: &BenchArgs,
    progress: bool,
    recorder: &mut Recorder,
) -> anyhow::Result<Vec<BenchTenant>> {
    let bar = bar(
        args.tenants as u64,
        "setup {bar:40} {pos}/{len} tenants {per_sec} ETA {eta}",
        progress,
    );
    let workers = args.concurrency.min(args.tenants);
    let set_up = |w: usize| -> anyhow::Result<(Vec<BenchTenant>, Recorder)> {
        let runtime = worker_runtime()?;
        let mut rng = fastrand::Rng::new();
        let mut mine = Recorder::new();
        let mut made = Vec::new();
        runtime.block_on(async {
            for n in workers::share(w, workers, args.tenants) {
                let onboarded = setup::onboard(&**db, run_id, n).await?;
                mine.onboarding.saturating_record(onboarded.nanos.max(1));
                made.push(setup::fill(&**db, onboarded, &mut rng).await?);
                bar.inc(1);
            }
            anyhow::Ok(())
        })?;
        Ok((made, mine))
    };
    let results = workers::run_workers(workers, "a setup worker panicked", set_up, || {});
    bar.finish_and_clear();
    workers::gather(results, recorder, "setting up the bench's tenants")
}

/// Runs the workload for `--duration` and returns how long it ran, in seconds.
fn run_workload(
    db: &Arc<dyn KvBackend>,
    tenants: &[BenchTenant],
    run_id: &str,
    args: &BenchArgs,
    progress: bool,
    recorder: &mut Recorder,
) -> anyhow::Result<f64> {
    let duration = Duration::from_secs_f64(args.duration);
    let bar = bar(
        duration.as_millis() as u64,
        "run   {bar:40} {msg}",
        progress,
    );
    let start = Instant::now();
    let deadline = start + duration;
    // Workers 0..concurrency run the mix; one more onboards a few tenants while they do.
    let work = |w: usize| -> anyhow::Result<Recorder> {
        let runtime = worker_runtime()?;
        if w == args.concurrency {
            return Ok(workers::onboard_during_run(start, duration, |k| {
                runtime
                    .block_on(setup::onboard(&**db, run_id, args.tenants + k))
                    .map(|onboarded| onboarded.nanos)
            }));
        }
        let mut rng = fastrand::Rng::new();
        let mut mine = Recorder::new();
        runtime.block_on(workload::run_until(
            &**db, tenants, args.mix, deadline, &mut rng, &mut mine,
        ));
        Ok(mine)
    };
    let show_progress = || {
        while Instant::now() < deadline {
            let elapsed = start.elapsed();
            bar.set_position(elapsed.as_millis() as u64);
            bar.set_message(format!(
                "{:.0}/{:.0} s",
                elapsed.as_secs_f64(),
                duration.as_secs_f64()
            ));
            std::thread::sleep(
                Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
            );
        }
    };
    let results = workers::run_workers(
        args.concurrency + 1,
        "a bench worker panicked",
        work,
        show_progress,
    );
    let elapsed = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    for result in results {
        recorder.merge(&result?);
    }
    Ok(elapsed)
}
