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
//! Nothing is unbounded in one transaction, whatever a tenant's size: a transaction reads one
//! page of registry entries ([`ReportOptions::chunk_tenants`]), or at most
//! [`ReportOptions::chunk_counters`] of one tenant's counters (snapshot reads, going on where
//! the last stopped). A tenant's per-day usage counters grow without bound (one per metric a
//! day), so a tenant with millions of them takes many transactions, each of the same bounded
//! cost, and the report's memory holds only the reportable totals. The price: a tenant whose
//! counters span several transactions is summed from several read versions, which for a
//! report of trends is immaterial.
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

use crate::export::{counter_range, decode_counter};
use coditect_core::keys::TenantId;
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
    /// Registry entries read in one transaction.
    pub chunk_tenants: usize,
    /// A tenant's counters read in one transaction, at most.
    pub chunk_counters: usize,
    /// The retry loop each chunk runs in.
    pub retry: RetryOptions,
}

impl Default for ReportOptions {
    /// k = 5, 500 registry entries or 10,000 counters (under a MB) a transaction.
    fn default() -> Self {
        ReportOptions {
            k: 5,
            chunk_tenants: 500,
            chunk_counters: 10_000,
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
    loop {
        let (tenants, next) = registry_page(db, &cursor, &end, options).await?;
        for (tenant, plan) in tenants {
            let counters = reportable_counters(db, tenant, options).await?;
            let (_, group) = groups
                .entry(plan_rank(plan))
                .or_insert_with(|| (plan, Group::default()));
            group.tenants += 1;
            for (name, value) in counters {
                if value != 0 {
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

/// One transaction's page of the registry from `from`: the tenants to report (not those an
/// import is staging) with their plans, and where the next page starts.
async fn registry_page(
    db: &dyn KvBackend,
    from: &[u8],
    end: &[u8],
    options: &ReportOptions,
) -> Result<(Vec<(TenantId, Plan)>, Option<Vec<u8>>)> {
    let limit = options.chunk_tenants.max(1);
    let (page, _) = run(db, &options.retry, |tx| async move {
        let tx: &dyn Transaction = &*tx;
        let mut walk = RangeWalk::new(from, end, RangeOptions::limit(limit).snapshot());
        let page = walk.next_page(tx).await?.unwrap_or_default();
        let next = walk.resume_key().map(<[u8]>::to_vec);
        let mut tenants = Vec::with_capacity(page.len());
        for kv in page {
            let tenant: Tenant = value::decode(&kv.value)?;
            let staged = registry::get_op(tx, tenant.id)
                .await?
                .is_some_and(|op| matches!(op.kind, OpKind::Import { .. }));
            if !staged {
                tenants.push((tenant.id, tenant.plan));
            }
        }
        Ok((tenants, next))
    })
    .await?;
    Ok(page)
}

/// The reportable counters of `tenant` (records per model, usage totals), read at most
/// [`ReportOptions::chunk_counters`] a transaction, each going on where the last stopped.
async fn reportable_counters(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &ReportOptions,
) -> Result<Vec<(String, i64)>> {
    let (mut from, end) = counter_range(tenant)?;
    let mut kept = Vec::new();
    loop {
        let (chunk, _) = run(db, &options.retry, |tx| {
            let (from, end) = (from.clone(), end.clone());
            async move {
                let range = RangeOptions::limit(options.chunk_counters.max(1)).snapshot();
                let mut walk = RangeWalk::new(&from, &end, range);
                let mut rows = Vec::new();
                while let Some(page) = walk.next_page(&*tx).await? {
                    rows.extend(page);
                }
                Ok((rows, walk.resume_key().map(<[u8]>::to_vec)))
            }
        })
        .await?;
        let (rows, next) = chunk;
        for kv in rows {
            let (name, value) = decode_counter(tenant, &kv.key, &kv.value)?;
            if reportable(&name) {
                kept.push((name, value));
            }
        }
        match next {
            Some(next) => from = next,
            None => return Ok(kept),
        }
    }
}
