//! The thread plumbing the bench and its SQLite peer share: scoped worker threads joined in
//! order, tenants dealt out to setup workers, and the onboardings spread over a run.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::workload::Recorder;

/// Tenants onboarded while the workload runs (besides the N of the setup), spread evenly
/// over the run.
pub const ONBOARDINGS_DURING_RUN: usize = 5;

/// Runs `work(0)` to `work(n - 1)`, each on its own scoped thread, runs `meanwhile` on this
/// thread while they do, and returns their results in worker order; a worker that panicked
/// is an error saying `panicked`.
pub fn run_workers<T: Send>(
    n: usize,
    panicked: &str,
    work: impl Fn(usize) -> anyhow::Result<T> + Sync,
    meanwhile: impl FnOnce(),
) -> Vec<anyhow::Result<T>> {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n).map(|w| scope.spawn(move || work(w))).collect();
        meanwhile();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("{panicked}")))
            })
            .collect()
    })
}

/// The tenants setup worker `w` of `workers` provisions: every `workers`-th from `w`, so
/// each of `0..tenants` is set up exactly once.
pub fn share(w: usize, workers: usize, tenants: usize) -> impl Iterator<Item = usize> {
    (w..tenants).step_by(workers)
}

/// The setup workers' tenants, in worker order, with their onboarding times merged into
/// `recorder`; the first failed worker's error, with `context`, if any failed.
pub fn gather<T>(
    results: Vec<anyhow::Result<(Vec<T>, Recorder)>>,
    recorder: &mut Recorder,
    context: &'static str,
) -> anyhow::Result<Vec<T>> {
    let mut tenants = Vec::new();
    for result in results {
        let (made, mine) = result.context(context)?;
        tenants.extend(made);
        recorder.merge(&mine);
    }
    Ok(tenants)
}

/// Onboards `ONBOARDINGS_DURING_RUN` tenants over a run of `duration` from `start`, at even
/// intervals (each in the middle of its slot), and records how long each took.
/// `onboard(k)` onboards the `k`-th and returns its nanoseconds; a failure is recorded as
/// one, and the next still runs.
pub fn onboard_during_run(
    start: Instant,
    duration: Duration,
    mut onboard: impl FnMut(usize) -> anyhow::Result<u64>,
) -> Recorder {
    let mut mine = Recorder::new();
    for k in 0..ONBOARDINGS_DURING_RUN {
        let at = start + duration.mul_f64((k as f64 + 0.5) / ONBOARDINGS_DURING_RUN as f64);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        match onboard(k) {
            Ok(nanos) => mine.onboarding.saturating_record(nanos.max(1)),
            Err(error) => mine.error(&error),
        }
    }
    mine
}
