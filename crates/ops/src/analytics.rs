//! Cross-tenant analytics over aggregates only, with k-anonymity.
//!
//! The per-tenant aggregates already exist and are exact: the record layer keeps one counter
//! per collection (records per model) and the usage model keeps per-metric totals, all at
//! `(tenant, "meta", "count", name)` and all moved by atomic adds in the transaction that
//! writes the record, so they never conflict and no extra hot key is written. A report walks
//! the tenant registry in chunks and, for each tenant, reads only its plan and those counters
//! (records per model and usage totals; per-day usage is left out), never a record. Nothing
//! is written, so a report cannot slow writers down.
//!
//! Groups are by plan. A group with fewer than `k` tenants is left out entirely, and inside a
//! reported group a counter is reported only when at least `k` of its tenants have it
//! (non-zero), so a metric only one tenant uses never shows. No grand total is reported (it
//! would give away a suppressed group by subtraction). `k` is at least 2 ([`MIN_K`]): with
//! `k = 1` a group of one would single its tenant out. Tenants being staged by an import are
//! not counted. What k-anonymity does not cover: comparing two reports taken before and after
//! one tenant joins a group reveals that tenant's contribution; reports are for trends, and
//! callers that publish them over time should add noise or coarsen them.

use std::collections::BTreeMap;

use crate::export::counters;
use coditect_core::kv::RetryOptions;
use coditect_core::kv::{KvBackend, RangeOptions, Transaction};
use coditect_core::model::tenant::{Plan, Tenant};
use coditect_core::registry::{self, OpKind};
use coditect_core::run;
use coditect_core::value;
use coditect_core::walk::RangeWalk;
use coditect_core::{Error, Result};

/// The smallest `k` a report accepts.
pub const MIN_K: usize = 2;

/// How [`report`] works.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Groups (and counters within a group) with fewer tenants than this are suppressed.
    pub k: usize,
    /// Tenants read in one transaction.
    pub chunk_tenants: usize,
    /// The retry loop each chunk runs in.
    pub retry: RetryOptions,
}

impl Default for ReportOptions {
    /// k = 5, 500 tenants a transaction.
    fn default() -> Self {
        ReportOptions {
            k: 5,
            chunk_tenants: 500,
            retry: RetryOptions::default(),
        }
    }
}

/// One reported group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupReport {
    /// The plan its tenants are on.
    pub plan: Plan,
    /// How many tenants it holds (at least k).
    pub tenants: u64,
    /// Sums of the counters at least k of its tenants have: records per model (by collection
    /// name) and usage totals (`usage.<metric>.total.quantity` / `.cost`).
    pub totals: BTreeMap<String, i64>,
}

/// A report: only groups of at least k tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyticsReport {
    /// The k it was made with.
    pub k: usize,
    /// The groups that passed, in plan order.
    pub groups: Vec<GroupReport>,
}

#[derive(Default)]
struct Group {
    tenants: u64,
    sums: BTreeMap<String, (i64, u64)>,
}

/// Whether a counter is an aggregate a report may show.
fn reportable(name: &str) -> bool {
    match name.strip_prefix("usage.") {
        Some(rest) => rest.ends_with(".total.quantity") || rest.ends_with(".total.cost"),
        None => true,
    }
}

fn plan_rank(plan: Plan) -> u8 {
    match plan {
        Plan::Free => 0,
        Plan::Starter => 1,
        Plan::Professional => 2,
        Plan::Enterprise => 3,
    }
}

/// The report over every tenant of `db`, grouped by plan, as [`ReportOptions`] say.
pub async fn report(db: &dyn KvBackend, options: &ReportOptions) -> Result<AnalyticsReport> {
    if options.k < MIN_K {
        return Err(Error::InvalidInput {
            field: "k",
            reason: format!("k must be at least {MIN_K}: a group of one singles its tenant out"),
        });
    }
    let (begin, end) = coditect_core::keys::tenant_registry_range();
    let mut cursor = begin;
    let mut groups: BTreeMap<u8, (Plan, Group)> = BTreeMap::new();
    let limit = options.chunk_tenants.max(1);
    loop {
        let (from, end_ref) = (&cursor, &end);
        let ((rows, next), _) = run(db, &options.retry, |tx| async move {
            let tx: &dyn Transaction = &*tx;
            // One page of registry entries a transaction; the next goes on where it stopped.
            let mut walk = RangeWalk::new(from, end_ref, RangeOptions::limit(limit).snapshot());
            let page = walk.next_page(tx).await?.unwrap_or_default();
            let next = walk.resume_key().map(<[u8]>::to_vec);
            let mut rows = Vec::with_capacity(page.len());
            for kv in page {
                let tenant: Tenant = value::decode(&kv.value)?;
                if let Some(op) = registry::get_op(tx, tenant.id).await? {
                    if let OpKind::Import { .. } = op.kind {
                        continue;
                    }
                }
                rows.push((tenant.plan, counters(tx, tenant.id, true).await?));
            }
            Ok((rows, next))
        })
        .await?;
        for (plan, counters) in rows {
            let (_, group) = groups
                .entry(plan_rank(plan))
                .or_insert_with(|| (plan, Group::default()));
            group.tenants += 1;
            for (name, value) in counters {
                if value != 0 && reportable(&name) {
                    let entry = group.sums.entry(name).or_default();
                    entry.0 = entry.0.saturating_add(value);
                    entry.1 += 1;
                }
            }
        }
        match next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    let k = options.k as u64;
    let groups = groups
        .into_values()
        .filter(|(_, group)| group.tenants >= k)
        .map(|(plan, group)| GroupReport {
            plan,
            tenants: group.tenants,
            totals: group
                .sums
                .into_iter()
                .filter(|(_, (_, tenants))| *tenants >= k)
                .map(|(name, (sum, _))| (name, sum))
                .collect(),
        })
        .collect();
    Ok(AnalyticsReport {
        k: options.k,
        groups,
    })
}
