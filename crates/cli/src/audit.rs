//! `coditect audit ...`: a tenant's audit trail: the newest events, sealing the trail into its
//! SHA-256 chain, verifying the chain (against a receipt kept elsewhere, if given) and issuing
//! such a receipt.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use coditect_core::audit::verify::{
    verify, verify_receipt, Receipt, Tamper, Verdict, Verified, VerifyOptions,
};
use coditect_core::audit::{query, seal, Actor, AuditEntry, AuditQuery, SealOptions, SealReport};
use coditect_core::{KvBackend, Principal, TenantId, TenantTx};
use serde_json::json;

use crate::output::{hex, path_text, text, Output, Render};
use crate::safe_file;
use crate::store::{self, StoreSpec};
use crate::tenant::{parse_tenant_id, require};

/// `coditect audit ...`
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The tenant's newest audit events, oldest of them first.
    Tail {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// How many events.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        n: usize,
    },
    /// Extend the tenant's hash chain over every event not sealed yet.
    Seal {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// Recompute the chain; exit 1 naming the first bad event when it is broken.
    Verify {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// Also check the chain still reaches this receipt (from `audit receipt`).
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
    },
    /// Write the chain's head (tenant, sealed count, hash) to a file, to keep elsewhere.
    Receipt {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Runs one `audit` subcommand.
pub async fn run(spec: &StoreSpec, out: &Output, command: AuditCommand) -> anyhow::Result<()> {
    // A file to write is checked before any work (and before the store is opened).
    let receipt_to = match &command {
        AuditCommand::Receipt { out: path, .. } => Some(safe_file::check(path, spec.local_path())?),
        _ => None,
    };
    let db = store::open(spec, store::Missing::Refuse).await?;
    let db = &*db;
    match command {
        AuditCommand::Tail { id, n } => out.print(&tail(db, id, n).await?),
        AuditCommand::Seal { id } => {
            require(db, id).await?;
            let report = seal(db, id, &SealOptions::default()).await?;
            out.print(&Sealed { id, report });
        }
        AuditCommand::Verify { id, receipt } => {
            let verdict = verify_chain(db, id, receipt.as_deref()).await?;
            match verdict {
                Verdict::Clean(verified) => out.print(&Intact {
                    id,
                    verified,
                    with_receipt: receipt.is_some(),
                }),
                Verdict::Tampered(t) => {
                    let broken = Broken { id, tampered: t };
                    out.print(&broken);
                    bail!("{}", broken.message());
                }
            }
        }
        AuditCommand::Receipt { id, out: path } => {
            let target = receipt_to.context("the receipt's file was checked above")?;
            require(db, id).await?;
            let receipt = coditect_core::audit::verify::receipt(db, id).await?;
            target
                .write(format!("{}\n", receipt.to_text()).as_bytes())
                .with_context(|| format!("writing receipt {}", path_text(&path)))?;
            out.print(&Written { id, receipt, path });
        }
    }
    Ok(())
}

/// The newest `n` events of tenant `id`, oldest of them first, read as the operator.
async fn tail(db: &dyn KvBackend, id: TenantId, n: usize) -> anyhow::Result<Tail> {
    require(db, id).await?;
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, id).await?;
    let mut entries = query::by_time(&ttx, Principal::operator(), &AuditQuery::newest(n.max(1)))
        .await?
        .items;
    entries.reverse();
    Ok(Tail { id, entries })
}

/// Verifies the chain of tenant `id`, against the receipt in file `receipt` if one is given.
async fn verify_chain(
    db: &dyn KvBackend,
    id: TenantId,
    receipt: Option<&Path>,
) -> anyhow::Result<Verdict> {
    require(db, id).await?;
    Ok(match receipt {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading receipt {}", path_text(path)))?;
            let receipt =
                Receipt::parse(&text).with_context(|| format!("receipt {}", path_text(path)))?;
            verify_receipt(db, id, &receipt, VerifyOptions::default().chunk_events).await?
        }
        None => verify(db, id, &VerifyOptions::default()).await?,
    })
}

/// `audit tail`'s result.
struct Tail {
    id: TenantId,
    entries: Vec<AuditEntry>,
}

impl Render for Tail {
    fn json(&self) -> serde_json::Value {
        json!({"tenant": self.id.uuid(), "events": self.entries.iter().map(entry_json).collect::<Vec<_>>()})
    }
    fn text(&self) -> Vec<String> {
        if self.entries.is_empty() {
            return vec!["no audit events".into()];
        }
        self.entries
            .iter()
            .map(|entry| {
                let e = &entry.event;
                format!(
                    "{:<10} {}  {:<10} {:<16} {} by {}",
                    entry.position.to_string(),
                    utc(e.at_ms),
                    e.action.to_string(),
                    text(&e.model),
                    e.record_id,
                    actor_name(e.actor)
                )
            })
            .collect()
    }
}

/// `audit seal`'s result.
struct Sealed {
    id: TenantId,
    report: SealReport,
}

impl Render for Sealed {
    fn json(&self) -> serde_json::Value {
        let r = &self.report;
        json!({
            "tenant": self.id.uuid(), "sealed": r.sealed, "count": r.head.count,
            "head": hex(&r.head.hash), "chunks": r.chunks,
        })
    }
    fn text(&self) -> Vec<String> {
        let r = &self.report;
        vec![format!(
            "sealed {} new event(s) of tenant {} in {} transaction(s); the chain holds {} event(s), head {}",
            r.sealed,
            self.id,
            r.chunks,
            r.head.count,
            hex(&r.head.hash)
        )]
    }
}

/// `audit verify`'s result when the chain is intact.
struct Intact {
    id: TenantId,
    verified: Verified,
    with_receipt: bool,
}

impl Render for Intact {
    fn json(&self) -> serde_json::Value {
        let v = &self.verified;
        let mut report = json!({
            "tenant": self.id.uuid(), "ok": true, "verified": v.verified, "count": v.count,
            "head": hex(&v.head), "unsealed": v.unsealed,
        });
        if let Some(r) = &v.restored {
            report["restored"] = json!({
                "source": r.source, "exported_at": utc(r.exported_at_ms),
                "imported_at": utc(r.imported_at_ms),
                "backup_sha256": hex(&r.backup_sha256), "carried": r.carried,
            });
        }
        report
    }
    fn text(&self) -> Vec<String> {
        let v = &self.verified;
        // A receipt followed across a restore says so: its chain is the source's, recomputed
        // from the events carried over.
        let restored = match &v.restored {
            Some(r) => format!(
                " across the restore from tenant {} (backup of {}, sha256 {}, imported {}, {} event(s) carried over)",
                r.source,
                utc(r.exported_at_ms),
                hex(&r.backup_sha256),
                utc(r.imported_at_ms),
                r.carried
            ),
            None => String::new(),
        };
        vec![format!(
            "audit chain of tenant {} is intact: {} sealed event(s) verified{}{restored}, head {}; {} event(s) not sealed yet",
            self.id,
            v.verified,
            if self.with_receipt { " and the receipt matches" } else { "" },
            hex(&v.head),
            v.unsealed
        )]
    }
}

/// `audit verify`'s result when the chain is broken: JSON for scripts, and for people only
/// the error line (on stderr, exit code 1).
struct Broken {
    id: TenantId,
    tampered: Tamper,
}

impl Broken {
    fn message(&self) -> String {
        format!(
            "audit chain of tenant {} is broken: the first bad event is #{} ({}), key {}",
            self.id,
            self.tampered.position,
            self.tampered.kind,
            hex(&self.tampered.key)
        )
    }
}

impl Render for Broken {
    fn json(&self) -> serde_json::Value {
        let t = &self.tampered;
        json!({
            "tenant": self.id.uuid(), "ok": false, "kind": t.kind.to_string(),
            "position": t.position, "key": hex(&t.key),
        })
    }
    fn text(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `audit receipt`'s result.
struct Written {
    id: TenantId,
    receipt: Receipt,
    path: PathBuf,
}

impl Render for Written {
    fn json(&self) -> serde_json::Value {
        json!({
            "tenant": self.id.uuid(), "count": self.receipt.count, "head": hex(&self.receipt.head),
            "file": self.path.display().to_string(),
        })
    }
    fn text(&self) -> Vec<String> {
        vec![format!(
            "receipt of tenant {} ({} sealed event(s), head {}) written to {}",
            self.id,
            self.receipt.count,
            hex(&self.receipt.head),
            path_text(&self.path)
        )]
    }
}

/// `ms` since the Unix epoch as UTC, `2026-11-28T23:31:16.123Z` (days to a civil date by
/// Howard Hinnant's algorithm, to need no date crate for one column).
fn utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

fn actor_name(actor: Actor) -> String {
    match actor {
        Actor::System => "system".into(),
        Actor::Member(m) => format!("member {m}"),
    }
}

fn entry_json(entry: &AuditEntry) -> serde_json::Value {
    let e = &entry.event;
    json!({
        "position": entry.position.to_string(),
        "at_ms": e.at_ms,
        "at": utc(e.at_ms),
        "actor": match e.actor { Actor::System => serde_json::Value::Null, Actor::Member(m) => json!(m.uuid()) },
        "action": e.action.to_string(),
        "model": e.model,
        "record_id": e.record_id,
        "before": e.before.map(|d| hex(&d)),
        "after": e.after.map(|d| hex(&d)),
    })
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_civil_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(1_795_908_717_082), "2026-11-28T23:31:57.082Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
    }
}
