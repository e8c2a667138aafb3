//! Resource control: a request-unit budget per tenant, so that no tenant takes all of a
//! process's capacity (CockroachDB's per-tenant token bucket, TiDB's request units).
//!
//! Every transaction [`run_in_tenant_with`](crate::run_in_tenant_with) runs under a
//! [`ResourceControl`] is charged, after each attempt, the [request units](request_units) its
//! meter counted, whether it committed or not (work done is work done). Before an attempt
//! starts, the tenant's bucket is asked: a tenant in debt is refused with the retryable
//! [`KvError::Throttled`] carrying how long its refill takes, and the retry loop waits at least
//! that long. Nothing is reserved up front, so concurrent transactions of one tenant may
//! overdraw by what they cost together; the debt is then paid by waiting, as in CockroachDB's
//! tenant-side bucket.
//!
//! Budgets come from the tenant's plan ([`plan_budget`]), read from the registry entry the
//! transaction reads anyway, and can be overridden per tenant ([`ResourceControl::set_budget`]).
//! The buckets are in process: each process serving tenants holds its own, and the budgets
//! are per process (a cluster-wide limit is FoundationDB's tag throttling's job).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::keys::TenantId;
use crate::kv::KvError;
use crate::meter::MeterTotals;
use crate::model::tenant::Plan;

/// A tenant's budget: request units refilled per second, and how many may accumulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Request units added per second.
    pub refill_per_sec: u64,
    /// The bucket's capacity: what an idle tenant may spend at once.
    pub burst: u64,
}

/// The budget of a tenant on `plan`, unless overridden: about 10 request units make a small
/// write transaction and 2 a lookup, so Free sustains ~50 writes/s, Enterprise ~5,000.
///
/// | plan | refill (RU/s) | burst (RU) |
/// |---|---|---|
/// | free | 500 | 5,000 |
/// | starter | 2,000 | 20,000 |
/// | professional | 10,000 | 100,000 |
/// | enterprise | 50,000 | 500,000 |
pub fn plan_budget(plan: Plan) -> Budget {
    let refill_per_sec = match plan {
        Plan::Free => 500,
        Plan::Starter => 2_000,
        Plan::Professional => 10_000,
        Plan::Enterprise => 50_000,
    };
    Budget {
        refill_per_sec,
        burst: refill_per_sec * 10,
    }
}

/// What a transaction's counts cost in request units: 1 per point read or range page,
/// 1 per 16 rows and per 16 KiB read, 2 per write and 1 per KiB written, 2 per commit.
/// Writes cost more than reads because they are replicated, logged and resolved.
pub fn request_units(t: &MeterTotals) -> u64 {
    t.point_reads
        + t.range_reads
        + t.rows_read / 16
        + t.bytes_read / (16 * 1024)
        + 2 * t.writes
        + t.bytes_written / 1024
        + 2 * t.commits
}

/// The buckets of one process, per tenant, and the budget overrides.
#[derive(Debug, Default)]
pub struct ResourceControl {
    shards: [Mutex<HashMap<TenantId, Bucket>>; SHARDS],
    overrides: Mutex<HashMap<TenantId, Budget>>,
}

/// Buckets are spread over this many locks, so tenants rarely wait for each other's.
const SHARDS: usize = 16;

#[derive(Debug)]
struct Bucket {
    /// Millionths of a request unit available; negative is debt. Integers, so that waiting
    /// exactly the `retry_after` given is always enough.
    tokens: i128,
    /// When `tokens` was last brought up to date.
    at: Instant,
    budget: Budget,
    /// Attempts refused so far.
    throttled: u64,
    /// Request units charged so far.
    charged: u64,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_nanos() as i128;
        // refill_per_sec RU/s is refill_per_sec / 1000 millionths per nanosecond.
        let added = elapsed * i128::from(self.budget.refill_per_sec) / 1000;
        self.tokens = (self.tokens + added).min(micro(self.budget.burst));
        self.at = now;
    }

    /// The wait until the debt is refilled, rounded up to the nanosecond.
    fn refill_time(&self) -> Duration {
        let rate = i128::from(self.budget.refill_per_sec.max(1));
        let nanos = (-self.tokens * 1000 + rate - 1) / rate;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// `units` request units in millionths.
fn micro(units: u64) -> i128 {
    i128::from(units) * 1_000_000
}

/// What a [`ResourceControl`] has done to one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantControlStats {
    /// Attempts refused with [`KvError::Throttled`].
    pub throttled: u64,
    /// Request units charged.
    pub charged: u64,
}

impl ResourceControl {
    /// No buckets yet: each tenant's is made full on its first charge.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `tenant` `budget` instead of its plan's, from now on.
    pub fn set_budget(&self, tenant: TenantId, budget: Budget) {
        self.lock_overrides().insert(tenant, budget);
        if let Some(bucket) = self.lock_shard(tenant).get_mut(&tenant) {
            bucket.budget = budget;
        }
    }

    /// Returns `tenant` to its plan's budget (from its next charge).
    pub fn clear_budget(&self, tenant: TenantId) {
        self.lock_overrides().remove(&tenant);
    }

    /// Admits a transaction of `tenant` now, or refuses it with [`KvError::Throttled`] when
    /// the tenant is in debt, saying how long the refill takes. A tenant not charged yet is
    /// admitted.
    pub fn admit(&self, tenant: TenantId) -> Result<(), KvError> {
        self.admit_at(tenant, Instant::now())
    }

    fn admit_at(&self, tenant: TenantId, now: Instant) -> Result<(), KvError> {
        let mut shard = self.lock_shard(tenant);
        let Some(bucket) = shard.get_mut(&tenant) else {
            return Ok(());
        };
        bucket.refill(now);
        if bucket.tokens >= 0 {
            return Ok(());
        }
        bucket.throttled += 1;
        Err(KvError::Throttled {
            retry_after: bucket.refill_time(),
        })
    }

    /// Charges `tenant`, on `plan`, `units` request units.
    pub fn charge(&self, tenant: TenantId, plan: Plan, units: u64) {
        self.charge_at(tenant, plan, units, Instant::now());
    }

    fn charge_at(&self, tenant: TenantId, plan: Plan, units: u64, now: Instant) {
        let budget = self
            .lock_overrides()
            .get(&tenant)
            .copied()
            .unwrap_or_else(|| plan_budget(plan));
        let mut shard = self.lock_shard(tenant);
        let bucket = shard.entry(tenant).or_insert_with(|| Bucket {
            tokens: micro(budget.burst),
            at: now,
            budget,
            throttled: 0,
            charged: 0,
        });
        // A plan changed since the last charge takes effect here.
        bucket.budget = budget;
        bucket.refill(now);
        bucket.tokens -= micro(units);
        bucket.charged += units;
    }

    /// What this control has done to `tenant`.
    pub fn stats(&self, tenant: TenantId) -> TenantControlStats {
        self.lock_shard(tenant)
            .get(&tenant)
            .map(|b| TenantControlStats {
                throttled: b.throttled,
                charged: b.charged,
            })
            .unwrap_or_default()
    }

    fn lock_shard(&self, tenant: TenantId) -> std::sync::MutexGuard<'_, HashMap<TenantId, Bucket>> {
        let shard = tenant.uuid().as_u128() as usize % SHARDS;
        // A panic while holding a bucket cannot leave it inconsistent beyond one charge.
        self.shards[shard].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_overrides(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Budget>> {
        self.overrides.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::generate()
    }

    #[test]
    fn a_tenant_within_its_burst_is_admitted_and_one_in_debt_is_told_the_refill_time() {
        let control = ResourceControl::new();
        let t = tenant();
        control.set_budget(
            t,
            Budget {
                refill_per_sec: 100,
                burst: 50,
            },
        );
        assert!(control.admit(t).is_ok(), "never charged");
        let now = Instant::now();
        control.charge_at(t, Plan::Free, 50, now);
        assert!(
            control.admit_at(t, now).is_ok(),
            "exactly spent is not debt"
        );
        control.charge_at(t, Plan::Free, 30, now);
        let Err(KvError::Throttled { retry_after }) = control.admit_at(t, now) else {
            panic!("30 RU in debt must be throttled");
        };
        // 30 RU at 100 RU/s.
        assert_eq!(retry_after, Duration::from_millis(300));
        let early = now + retry_after - Duration::from_millis(10);
        assert!(control.admit_at(t, early).is_err(), "before the refill");
        assert!(control.admit_at(t, now + retry_after).is_ok());
        assert_eq!(
            control.stats(t),
            TenantControlStats {
                throttled: 2,
                charged: 80
            }
        );
    }

    #[test]
    fn refill_stops_at_the_burst() {
        let control = ResourceControl::new();
        let t = tenant();
        control.set_budget(
            t,
            Budget {
                refill_per_sec: 1_000,
                burst: 10,
            },
        );
        let now = Instant::now();
        control.charge_at(t, Plan::Free, 5, now);
        // A minute idle refills to the burst of 10, not to 60,005: 11 RU then is debt.
        let later = now + Duration::from_secs(60);
        control.charge_at(t, Plan::Free, 11, later);
        assert!(control.admit_at(t, later).is_err());
    }

    #[test]
    fn other_tenants_are_not_charged_for_one_tenants_debt() {
        let control = ResourceControl::new();
        let (noisy, quiet) = (tenant(), tenant());
        control.charge(noisy, Plan::Free, 1_000_000);
        assert!(control.admit(noisy).is_err());
        control.charge(quiet, Plan::Free, 1);
        assert!(control.admit(quiet).is_ok());
    }

    #[test]
    fn request_units_follow_the_documented_prices() {
        let t = MeterTotals {
            point_reads: 3,
            range_reads: 2,
            rows_read: 32,
            bytes_read: 32 * 1024,
            writes: 4,
            bytes_written: 3 * 1024,
            commits: 1,
            ..MeterTotals::default()
        };
        assert_eq!(request_units(&t), 3 + 2 + 2 + 2 + 8 + 3 + 2);
    }
}
