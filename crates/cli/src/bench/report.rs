//! The bench's report: per kind count, throughput and latency percentiles next to the seed's
//! targets, for people or as one JSON object.

use hdrhistogram::Histogram;
use serde_json::json;

use super::workload::Recorder;

/// The seed's target for a lookup's p99, in microseconds.
pub const LOOKUP_P99_US: f64 = 1_000.0;
/// The seed's target for a write transaction's p99, in microseconds.
pub const WRITE_P99_US: f64 = 5_000.0;
/// The seed's target for onboarding a tenant, p99, in microseconds.
pub const ONBOARDING_P99_US: f64 = 1_000_000.0;

/// Percentiles of one kind, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Operations recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

fn us(nanos: u64) -> f64 {
    // One decimal: sub-microsecond digits are noise at this resolution.
    (nanos as f64 / 100.0).round() / 10.0
}

impl Summary {
    /// The percentiles of `h` (nanoseconds), in microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            p50: us(h.value_at_quantile(0.50)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"p50": self.p50, "p99": self.p99, "p999": self.p999, "max": self.max})
    }
}

/// Everything the bench measured.
pub struct Report {
    /// The store, as `--store` names it.
    pub store: String,
    /// Tenants provisioned at setup.
    pub tenants: usize,
    /// Workers.
    pub concurrency: usize,
    /// The mix, as `--mix` takes it.
    pub mix: String,
    /// How long setup took, in seconds.
    pub setup_s: f64,
    /// How long the workload ran, in seconds.
    pub duration_s: f64,
    /// Lookups.
    pub lookup: Summary,
    /// Write transactions.
    pub write: Summary,
    /// List pages.
    pub list: Summary,
    /// Onboarding, setup and during the run.
    pub onboarding: Summary,
    /// Failed operations.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// A 4 KiB write and one fdatasync where the store lives: a durable commit's floor.
    pub fsync_floor: Option<Summary>,
    /// The same workload on a peer store, in the same run.
    pub peer: Option<Box<Report>>,
}

impl Report {
    /// The report of a run.
    pub fn new(
        store: String,
        tenants: usize,
        concurrency: usize,
        mix: String,
        setup_s: f64,
        duration_s: f64,
        recorder: &Recorder,
    ) -> Self {
        Report {
            store,
            tenants,
            concurrency,
            mix,
            setup_s,
            duration_s,
            lookup: Summary::of(&recorder.lookup),
            write: Summary::of(&recorder.write),
            list: Summary::of(&recorder.list),
            onboarding: Summary::of(&recorder.onboarding),
            errors: recorder.errors,
            first_error: recorder.first_error.clone(),
            fsync_floor: None,
            peer: None,
        }
    }

    /// Ours over the peer's, per figure (ops/s: higher is better for us; latencies: lower
    /// is better for us), rounded to three decimals; `None` without a peer.
    pub fn ratios(&self) -> Option<Vec<(&'static str, f64)>> {
        let peer = self.peer.as_deref()?;
        let ratio = |ours: f64, theirs: f64| {
            if theirs > 0.0 {
                (ours / theirs * 1000.0).round() / 1000.0
            } else {
                f64::NAN
            }
        };
        Some(vec![
            ("ops_per_s", ratio(self.ops_per_s(), peer.ops_per_s())),
            ("lookup_p50", ratio(self.lookup.p50, peer.lookup.p50)),
            ("lookup_p99", ratio(self.lookup.p99, peer.lookup.p99)),
            ("write_tx_p50", ratio(self.write.p50, peer.write.p50)),
            ("write_tx_p99", ratio(self.write.p99, peer.write.p99)),
            ("write_tx_p999", ratio(self.write.p999, peer.write.p999)),
            ("list_p50", ratio(self.list.p50, peer.list.p50)),
            ("list_p99", ratio(self.list.p99, peer.list.p99)),
            (
                "onboarding_p50",
                ratio(self.onboarding.p50, peer.onboarding.p50),
            ),
            (
                "onboarding_p99",
                ratio(self.onboarding.p99, peer.onboarding.p99),
            ),
        ])
    }

    /// Workload operations completed.
    pub fn ops(&self) -> u64 {
        self.lookup.count + self.write.count + self.list.count
    }

    /// Operations per second over the run.
    pub fn ops_per_s(&self) -> f64 {
        if self.duration_s > 0.0 {
            (self.ops() as f64 / self.duration_s).round()
        } else {
            0.0
        }
    }

    /// Whether every target holds and no operation failed (a failure misses its target).
    pub fn targets_met(&self) -> bool {
        self.errors == 0
            && self.lookup.p99 <= LOOKUP_P99_US
            && self.write.p99 <= WRITE_P99_US
            && self.onboarding.p99 <= ONBOARDING_P99_US
    }

    /// The one JSON object `--json` prints.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "store": self.store,
            "tenants": self.tenants,
            "duration_s": (self.duration_s * 1000.0).round() / 1000.0,
            "ops": self.ops(),
            "ops_per_s": self.ops_per_s(),
            "lookup_us": self.lookup.json(),
            "write_tx_us": self.write.json(),
            "list_us": self.list.json(),
            "onboarding_us": self.onboarding.json(),
            "targets": {
                "lookup_p99_us": LOOKUP_P99_US as u64,
                "write_tx_p99_us": WRITE_P99_US as u64,
                "onboarding_p99_us": ONBOARDING_P99_US as u64,
            },
            "targets_met": self.targets_met(),
            "fsync_floor_us": self.fsync_floor.map(|f| f.json()),
            "peer": self.peer.as_deref().map(Report::json),
            "vs_peer": self.ratios().map(|ratios| {
                ratios
                    .into_iter()
                    .map(|(name, r)| (name.to_owned(), json!(r)))
                    .collect::<serde_json::Map<_, _>>()
            }),
        })
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut lines = self.header_lines();
        lines.extend(self.kind_rows());
        lines.push(String::new());
        lines.extend(self.verdict_lines());
        if let (Some(peer), Some(ratios)) = (self.peer.as_deref(), self.ratios()) {
            lines.push(String::new());
            lines.extend(peer.peer_lines(&ratios));
        }
        lines.join("\n")
    }

    /// What ran, on what, and the totals; then the kind table's header.
    fn header_lines(&self) -> Vec<String> {
        vec![
            format!(
                "coditect bench: store {}, {} tenants ({} users, {} projects, {} tasks each), {} workers, mix {}",
                self.store,
                self.tenants,
                super::setup::USERS,
                super::setup::PROJECTS,
                super::setup::TASKS,
                self.concurrency,
                self.mix
            ),
            format!(
                "setup {:.2} s ({} records in batches of one tenant), workload {:.2} s: {} operations, {} ops/s",
                self.setup_s,
                self.tenants * super::setup::RECORDS_PER_TENANT,
                self.duration_s,
                self.ops(),
                self.ops_per_s()
            ),
            String::new(),
            format!(
                "{:<11} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}   {:<12} {}",
                "kind", "count", "ops/s", "p50", "p99", "p99.9", "max", "target p99", "result"
            ),
        ]
    }

    /// The kind table: one row per kind, its percentiles beside its target and verdict.
    fn kind_rows(&self) -> Vec<String> {
        [
            ("lookup", &self.lookup, Some(LOOKUP_P99_US)),
            ("write_tx", &self.write, Some(WRITE_P99_US)),
            ("list", &self.list, None),
            ("onboarding", &self.onboarding, Some(ONBOARDING_P99_US)),
        ]
        .into_iter()
        .map(|(name, s, target)| {
            // Onboardings are not part of the mix: a rate of them would mean nothing.
            let ops_s = if name == "onboarding" {
                "-".into()
            } else {
                self.rate(s)
            };
            let (target_text, verdict) = verdict(s, target);
            format!(
                "{:<11} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10}   {:<12} {}",
                name,
                s.count,
                ops_s,
                duration(s.p50),
                duration(s.p99),
                duration(s.p999),
                duration(s.max),
                target_text,
                verdict
            )
        })
        .collect()
    }

    /// A kind's operations per second over the run, or `-` for a run of no length.
    fn rate(&self, s: &Summary) -> String {
        if self.duration_s > 0.0 {
            format!("{:.0}", s.count as f64 / self.duration_s)
        } else {
            "-".into()
        }
    }

    /// The failures, whether the targets held, and the disk's fdatasync floor.
    fn verdict_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.errors > 0 {
            lines.push(format!(
                "{} operations FAILED; the first: {}",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        lines.push(if self.targets_met() {
            "all targets met".into()
        } else {
            "targets MISSED".into()
        });
        if let Some(floor) = &self.fsync_floor {
            lines.push(format!(
                "fdatasync floor here (4 KiB write + fdatasync): p50 {}, p99 {}; write_tx p50 is {:.1}x the floor's p50",
                duration(floor.p50),
                duration(floor.p99),
                if floor.p50 > 0.0 { self.write.p50 / floor.p50 } else { f64::NAN }
            ));
        }
        lines
    }

    /// This report as the peer of another: its totals, its percentiles per kind, its
    /// failures, and `ratios` (ours over this one's).
    fn peer_lines(&self, ratios: &[(&'static str, f64)]) -> Vec<String> {
        let mut lines = vec![
            format!(
                "peer: {}, the same data and mix, setup {:.2} s, workload {:.2} s: {} operations, {} ops/s",
                self.store,
                self.setup_s,
                self.duration_s,
                self.ops(),
                self.ops_per_s()
            ),
            format!(
                "{:<11} {:>10} {:>10} {:>10} {:>10}",
                "peer kind", "p50", "p99", "p99.9", "max"
            ),
        ];
        for (name, s) in [
            ("lookup", &self.lookup),
            ("write_tx", &self.write),
            ("list", &self.list),
            ("onboarding", &self.onboarding),
        ] {
            lines.push(format!(
                "{:<11} {:>10} {:>10} {:>10} {:>10}",
                name,
                duration(s.p50),
                duration(s.p99),
                duration(s.p999),
                duration(s.max)
            ));
        }
        if self.errors > 0 {
            lines.push(format!(
                "peer: {} operations FAILED; the first: {}",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        let shown: Vec<String> = ratios
            .iter()
            .map(|(name, r)| format!("{name} {r:.3}x"))
            .collect();
        lines.push(format!(
            "ours / peer (ops/s: above 1 is faster; latencies: below 1 is faster): {}",
            shown.join(", ")
        ));
        lines
    }
}

/// A kind's target p99 as text and its verdict: PASS, FAIL, `no samples`, or nothing for a
/// kind without a target.
fn verdict(s: &Summary, target: Option<f64>) -> (String, String) {
    match target {
        Some(t) if s.count == 0 => (duration(t), "no samples".to_owned()),
        Some(t) if s.p99 <= t => (duration(t), "PASS".to_owned()),
        Some(t) => (duration(t), "FAIL".to_owned()),
        None => ("-".into(), String::new()),
    }
}

/// A latency in microseconds, in the unit that reads best.
pub fn duration(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1_000_000.0)
    } else if us >= 1_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{us:.1} µs")
    }
}
