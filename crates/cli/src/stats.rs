//! `coditect tenant stats ID` and `coditect stats`: the tenants' durable meters
//! ([`coditect_core::meter`]), read by the operator (who holds the store) with snapshot
//! reads, so reading them never conflicts with the tenants' commits.

use coditect_core::meter::{self, MeterTotals, COUNTERS};
use coditect_core::model::tenant::Tenant;
use coditect_core::{KvBackend, TenantId};
use serde_json::json;

use crate::output::{text, Output, Render};
use crate::tenant;

/// The meters of one tenant.
struct TenantStats {
    tenant: Tenant,
    totals: MeterTotals,
}

/// `coditect tenant stats ID`: one tenant's meter totals.
pub async fn tenant_stats(db: &dyn KvBackend, out: &Output, id: TenantId) -> anyhow::Result<()> {
    let tenant = tenant::require(db, id).await?;
    let totals = read(db, id).await?;
    out.print(&TenantStats { tenant, totals });
    Ok(())
}

async fn read(db: &dyn KvBackend, id: TenantId) -> anyhow::Result<MeterTotals> {
    let tx = db.begin().await?;
    Ok(meter::read_totals(&*tx, id).await?)
}

fn totals_json(totals: &MeterTotals) -> serde_json::Value {
    serde_json::to_value(totals).unwrap_or(serde_json::Value::Null)
}

fn totals_lines(totals: &MeterTotals) -> impl Iterator<Item = String> + '_ {
    COUNTERS
        .iter()
        .map(|c| format!("  {:<14} {}", c.name(), totals.get(*c)))
}

impl Render for TenantStats {
    fn json(&self) -> serde_json::Value {
        json!({
            "tenant": self.tenant.id.to_string(),
            "domain": self.tenant.domain,
            "meters": totals_json(&self.totals),
        })
    }
    fn text(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "tenant {} ({})",
            self.tenant.id,
            text(&self.tenant.domain)
        )];
        lines.extend(totals_lines(&self.totals));
        lines
    }
}

/// Every tenant's meters: the `top` busiest by operations, the rest summed, and the total.
struct Stats {
    top: Vec<TenantStats>,
    rest_tenants: usize,
    rest: MeterTotals,
    total: MeterTotals,
}

/// `coditect stats [--top N]`: the busiest tenants' meters, the others summed (so the report
/// stays bounded however many tenants there are).
pub async fn stats(db: &dyn KvBackend, out: &Output, top: usize) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for tenant in tenant::list(db).await? {
        let totals = read(db, tenant.id).await?;
        all.push(TenantStats { tenant, totals });
    }
    all.sort_by(|a, b| {
        b.totals
            .operations()
            .cmp(&a.totals.operations())
            .then_with(|| a.tenant.id.cmp(&b.tenant.id))
    });
    let (mut rest, mut total) = (MeterTotals::default(), MeterTotals::default());
    for entry in &all {
        add(&mut total, &entry.totals);
    }
    let rest_entries = all.split_off(top.min(all.len()));
    for entry in &rest_entries {
        add(&mut rest, &entry.totals);
    }
    out.print(&Stats {
        top: all,
        rest_tenants: rest_entries.len(),
        rest,
        total,
    });
    Ok(())
}

fn add(sum: &mut MeterTotals, more: &MeterTotals) {
    let MeterTotals {
        point_reads,
        range_reads,
        rows_read,
        writes,
        bytes_read,
        bytes_written,
        commits,
        retries,
        conflicts,
        denials,
    } = more;
    sum.point_reads += point_reads;
    sum.range_reads += range_reads;
    sum.rows_read += rows_read;
    sum.writes += writes;
    sum.bytes_read += bytes_read;
    sum.bytes_written += bytes_written;
    sum.commits += commits;
    sum.retries += retries;
    sum.conflicts += conflicts;
    sum.denials += denials;
}

impl Render for Stats {
    fn json(&self) -> serde_json::Value {
        json!({
            "top": self.top.iter().map(Render::json).collect::<Vec<_>>(),
            "rest": {"tenants": self.rest_tenants, "meters": totals_json(&self.rest)},
            "total": totals_json(&self.total),
        })
    }
    fn text(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for entry in &self.top {
            lines.extend(entry.text());
        }
        if self.rest_tenants > 0 {
            lines.push(format!("the other {} tenants", self.rest_tenants));
            lines.extend(totals_lines(&self.rest));
        }
        lines.push("all tenants".into());
        lines.extend(totals_lines(&self.total));
        lines
    }
}
