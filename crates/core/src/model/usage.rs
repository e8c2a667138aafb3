//! Usage: what a tenant consumed, per (day, metric): each recorded [`Usage`] is a record
//! (quantity and cost, optionally by a member), and the per-tenant counters of its metric and
//! day, and of its metric overall, move with it by atomic adds. Recording reads nothing that
//! another recorder writes, so concurrent recorders never conflict, and the counters stay
//! exact; a series is read from the counters, one day at a time.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{MemberId, UsageId};
use crate::keys::{self, KeyPart};
use crate::model::member::Member;
use crate::model::setting::check_name;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind};
use crate::record::{self, Counter, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// Most days one [`series`] reads.
pub const MAX_SERIES_DAYS: i64 = 366;

/// The day (days since 1970-01-01, UTC) of a time in milliseconds since the Unix epoch.
pub fn day_of_ms(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// One recorded use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Its id.
    pub id: UsageId,
    /// What was used (`api_calls`, `tokens`, `storage.bytes`...).
    pub metric: String,
    /// The day it counts for (days since 1970-01-01, UTC; see [`day_of_ms`]).
    pub day: i64,
    /// How much, not negative.
    pub quantity: i64,
    /// What it cost, in millionths of the billing currency, not negative.
    pub cost_micros: i64,
    /// The member who used it, if any.
    pub member: Option<MemberId>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// The totals of a metric (for a day, or overall).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// The summed quantity.
    pub quantity: i64,
    /// The summed cost, millionths.
    pub cost_micros: i64,
}

impl Usage {
    /// A use of `quantity` of `metric` on `day` costing `cost_micros`, with a fresh id.
    #[track_caller]
    pub fn new(metric: impl Into<String>, day: i64, quantity: i64, cost_micros: i64) -> Self {
        Usage {
            id: UsageId::generate(),
            metric: metric.into(),
            day,
            quantity,
            cost_micros,
            member: None,
            stamps: Timestamps::default(),
        }
    }

    /// Uses by (metric, day).
    pub const BY_METRIC_DAY: IndexDef<Usage> = IndexDef {
        name: "usage_by_metric_day",
        field: "metric",
        unique: false,
        values: |u| Some(vec![KeyPart::Str(u.metric.clone()), KeyPart::Int(u.day)]),
    };

    /// The counters this use adds to, and by how much: its metric's quantity and cost, for
    /// its day and overall.
    fn amounts(&self) -> Vec<(String, i64)> {
        let mut amounts = Vec::with_capacity(4);
        for period in [self.day.to_string(), "total".to_string()] {
            for (measure, amount) in [("quantity", self.quantity), ("cost", self.cost_micros)] {
                amounts.push((counter_name(&self.metric, &period, measure), amount));
            }
        }
        amounts
    }

    /// Adds `sign` times this use to its counters.
    fn add_to_counters(&self, ttx: &TenantTx<'_>, sign: i64) -> Result<()> {
        for (counter, amount) in self.amounts() {
            ttx.atomic_add(
                &keys::counter_key(ttx.prefix(), &counter),
                sign.saturating_mul(amount),
            )?;
        }
        Ok(())
    }
}

fn counter_name(metric: &str, period: &str, measure: &str) -> String {
    format!("usage.{metric}.{period}.{measure}")
}

impl Versioned for Usage {
    const WHAT: &'static str = "usage";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Usage {
    const COLLECTION: &'static str = "usage";
    const INDEXES: &'static [IndexDef<Self>] = &[Usage::BY_METRIC_DAY];
    type Id = UsageId;
    const RESOURCE: ResourceKind = ResourceKind::Usage;

    crate::record::id_and_stamps!(UsageId);
    fn validate(&self) -> Result<()> {
        check_name(Self::WHAT, "metric", &self.metric)?;
        for (field, amount) in [
            ("quantity", self.quantity),
            ("cost_micros", self.cost_micros),
        ] {
            if amount < 0 {
                return Err(Error::InvalidInput {
                    field,
                    reason: "must not be negative".into(),
                });
            }
        }
        // Day 0 is 1970-01-01; 200,000 days is past the year 2500.
        if !(0..200_000).contains(&self.day) {
            return Err(Error::InvalidInput {
                field: "day",
                reason: "outside 1970 to 2500".into(),
            });
        }
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        self.member
            .map(|m| Reference::to::<Member>("member", m))
            .into_iter()
            .collect()
    }
    fn counted(&self) -> Vec<(Counter, i64)> {
        self.amounts()
            .into_iter()
            .map(|(name, amount)| (Counter::Tenant(name), amount))
            .collect()
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(before) = before {
            before.add_to_counters(ttx, -1)?;
        }
        self.add_to_counters(ttx, 1)
    }
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        self.add_to_counters(ttx, -1)
    }
}

async fn totals(ttx: &TenantTx<'_>, metric: &str, period: &str) -> Result<UsageTotals> {
    Ok(UsageTotals {
        quantity: record::count(ttx, &counter_name(metric, period, "quantity")).await?,
        cost_micros: record::count(ttx, &counter_name(metric, period, "cost")).await?,
    })
}

/// Fails with [`Error::Forbidden`] unless `by` may read usage tenant-wide: totals sum
/// every member's records.
async fn check_read(ttx: &TenantTx<'_>, by: impl Into<Principal>) -> Result<()> {
    rbac::authorize_tenant_read(ttx, by, Usage::RESOURCE, Usage::WHAT).await
}

/// The totals of `metric` on `day`, read by `by`, who must be allowed to read usage
/// tenant-wide.
pub async fn day_totals(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    metric: &str,
    day: i64,
) -> Result<UsageTotals> {
    check_read(ttx, by).await?;
    totals(ttx, metric, &day.to_string()).await
}

/// The totals of `metric` over all time, read by `by` (as [`day_totals`]).
pub async fn metric_totals(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    metric: &str,
) -> Result<UsageTotals> {
    check_read(ttx, by).await?;
    totals(ttx, metric, "total").await
}

/// The daily totals of `metric` from day `from` to day `to` included (at most
/// [`MAX_SERIES_DAYS`]), one entry per day, empty days included, read by `by` (as
/// [`day_totals`]).
pub async fn series(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    metric: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, UsageTotals)>> {
    if to < from || to - from >= MAX_SERIES_DAYS {
        return Err(Error::InvalidInput {
            field: "to",
            reason: format!("a series covers 1 to {MAX_SERIES_DAYS} days"),
        });
    }
    check_read(ttx, by).await?;
    let mut out = Vec::new();
    for day in from..=to {
        out.push((day, totals(ttx, metric, &day.to_string()).await?));
    }
    Ok(out)
}

/// One page of the uses of `metric` on `day`.
pub async fn by_metric_day(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    metric: &str,
    day: i64,
    request: &PageRequest,
) -> Result<Page<Usage>> {
    record::list_by(
        ttx,
        by,
        &Usage::BY_METRIC_DAY,
        &[metric.into(), day.into()],
        request,
    )
    .await
}
