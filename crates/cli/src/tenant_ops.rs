//! `coditect tenant export|import|migrate|copy|erase|abort|check` and `coditect analytics`: the tenant
//! operations of `coditect_ops`, each walking a tenant in chunked transactions, with a
//! progress bar (records, bytes, rate) when stderr is a terminal and quiet under `--json` or a
//! pipe. Three environment variables tune them: `CODITECT_CHUNK_RECORDS` (most pairs a
//! transaction, default 10,000), `CODITECT_CHUNK_PAUSE_MS` (a pause after each chunk, default
//! none) and `CODITECT_PROGRESS=lines` (one `progress: ...` line per chunk on stderr).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use coditect_core::model::TenantStatus;
use coditect_core::{KvBackend, TenantId};
use coditect_ops::{
    self as ops, Aborted, AnalyticsReport, ChunkOptions, EraseOptions, Erasure, ExportOptions,
    ExportReport, ImportReport, ImportTarget, MigrateReport, Progress, ReportOptions,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output::{hex, path_text, text, Output, Render};
use crate::safe_file::Target;
use crate::tenant::require;

/// Who an erasure record names when `--actor` is not given.
const DEFAULT_ERASE_ACTOR: &str = "coditect-cli operator";

/// Most pairs a transaction of a tenant operation handles (default: the library's 10,000).
const CHUNK_RECORDS_ENV: &str = "CODITECT_CHUNK_RECORDS";
/// Milliseconds to wait after each chunk (default 0): spreads a large operation's load on a
/// store it shares with live traffic.
const CHUNK_PAUSE_ENV: &str = "CODITECT_CHUNK_PAUSE_MS";
/// `lines`: one line per chunk on stderr (`progress: export 200 records 51234 bytes`), for
/// logs and scripts, which cannot see the terminal's bar.
const PROGRESS_ENV: &str = "CODITECT_PROGRESS";

/// A whole number from environment variable `name`, or `None` when it is unset or empty.
fn env_number(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .with_context(|| format!("{name} must be a whole number, not {}", text)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{name} is not valid UTF-8"),
    }
}

/// A progress bar fed by an operation's chunk callback; hidden unless stderr is a terminal
/// and the output is for people. `total_bytes` gives it a length (and so an ETA). The chunk
/// size, a pause after each chunk and progress lines come from the environment
/// (`CODITECT_CHUNK_RECORDS`, `CODITECT_CHUNK_PAUSE_MS`, `CODITECT_PROGRESS=lines`).
fn progress(
    out: &Output,
    what: &str,
    total_bytes: Option<u64>,
) -> anyhow::Result<(ProgressBar, ChunkOptions)> {
    use std::io::IsTerminal;
    let chunk_records = match env_number(CHUNK_RECORDS_ENV)? {
        Some(0) => bail!("{CHUNK_RECORDS_ENV} must be at least 1"),
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        None => None,
    };
    let pause = env_number(CHUNK_PAUSE_ENV)?.map(std::time::Duration::from_millis);
    let lines = match std::env::var(PROGRESS_ENV) {
        Ok(mode) if mode == "lines" => true,
        Ok(mode) if mode.is_empty() => false,
        Ok(mode) => bail!("{PROGRESS_ENV} is `lines` or unset, not {}", text(&mode)),
        Err(_) => false,
    };
    let bar = if out.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let (bar, template) = match total_bytes {
            Some(total) => (
                ProgressBar::new(total),
                format!("{what} {{bar:30}} {{msg}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} ETA {{eta}}"),
            ),
            None => (
                ProgressBar::no_length(),
                format!("{what} {{spinner}} {{msg}} {{bytes}} {{bytes_per_sec}}"),
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    };
    let feed = bar.clone();
    let what = what.to_owned();
    let defaults = ChunkOptions::default();
    let chunk = ChunkOptions {
        chunk_records: chunk_records.unwrap_or(defaults.chunk_records),
        progress: Some(Arc::new(move |p: Progress| {
            feed.set_position(p.bytes);
            feed.set_message(format!("{} records", p.records));
            if lines {
                // Told after the chunk committed: a reader of these lines knows how far the
                // operation got in the store.
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "progress: {what} {} records {} bytes",
                    p.records, p.bytes
                );
                let _ = err.flush();
            }
            if let Some(pause) = pause {
                // The command runs one operation on a single-threaded runtime: blocking it
                // here delays the next chunk and nothing else.
                std::thread::sleep(pause);
            }
        })),
        ..defaults
    };
    Ok((bar, chunk))
}

fn export_json(r: &ExportReport) -> serde_json::Value {
    json!({
        "tenant": r.tenant.uuid(), "records": r.records, "data_bytes": r.data_bytes,
        "file_bytes": r.file_bytes, "frames": r.frames, "consistent": r.consistent,
        "sha256": hex(&r.sha256),
    })
}

fn import_json(r: &ImportReport) -> serde_json::Value {
    json!({
        "tenant": r.tenant.uuid(), "source": r.source.uuid(), "records": r.records,
        "file_bytes": r.file_bytes, "audit_events": r.audit_events, "chunks": r.chunks,
        "sealed": r.sealed,
    })
}

/// `tenant export ID --out FILE`: into a temporary file next to FILE, renamed over it only
/// once the export succeeded (see `safe_file`).
pub async fn export(
    db: &dyn KvBackend,
    out: &Output,
    id: TenantId,
    target: &Target,
) -> anyhow::Result<()> {
    let path = target.shown();
    require(db, id).await?;
    let (bar, chunk) = progress(out, "export", None)?;
    let options = ExportOptions {
        chunk,
        ..ExportOptions::default()
    };
    let report = write_export(db, id, target, &options)
        .await
        .with_context(|| format!("exporting tenant {id} to {}", path_text(path)));
    bar.finish_and_clear();
    out.print(&Exported {
        report: report?,
        path,
    });
    Ok(())
}

/// `tenant export`'s result.
struct Exported<'a> {
    report: ExportReport,
    path: &'a Path,
}

impl Render for Exported<'_> {
    fn json(&self) -> serde_json::Value {
        let mut value = export_json(&self.report);
        value["file"] = json!(self.path.display().to_string());
        value
    }
    fn text(&self) -> Vec<String> {
        let r = &self.report;
        vec![format!(
            "exported tenant {} to {}: {} records ({} bytes of data) in {} frames, {} bytes, sha256 {}{}",
            r.tenant,
            path_text(self.path),
            r.records,
            r.data_bytes,
            r.frames,
            r.file_bytes,
            hex(&r.sha256),
            if r.consistent { ", one consistent cut" } else { "" }
        )]
    }
}

/// The export itself, into `target`'s temporary file, committed only when it succeeded.
async fn write_export(
    db: &dyn KvBackend,
    id: TenantId,
    target: &Target,
    options: &ExportOptions,
) -> anyhow::Result<ExportReport> {
    let mut pending = target.begin()?;
    let mut writer = std::io::BufWriter::new(pending.file());
    let report = ops::export(db, id, &mut writer, options).await?;
    writer.flush()?;
    drop(writer);
    pending.commit()?;
    Ok(report)
}

/// `tenant import FILE [--as NEW_ID] [--domain D]`.
pub async fn import(
    db: &dyn KvBackend,
    out: &Output,
    path: &Path,
    id: Option<TenantId>,
    domain: Option<String>,
) -> anyhow::Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading backup {}", path_text(path)))?
        .len();
    let (bar, chunk) = progress(out, "import", Some(size))?;
    let target = ImportTarget { id, domain };
    let report = ops::import_from_path(db, path, &target, &chunk)
        .await
        .with_context(|| format!("importing backup {}", path_text(path)));
    bar.finish_and_clear();
    out.print(&Imported {
        report: report?,
        path,
    });
    Ok(())
}

/// `tenant import`'s result.
struct Imported<'a> {
    report: ImportReport,
    path: &'a Path,
}

impl Render for Imported<'_> {
    fn json(&self) -> serde_json::Value {
        import_json(&self.report)
    }
    fn text(&self) -> Vec<String> {
        let r = &self.report;
        vec![format!(
            "imported tenant {} from {} (taken of tenant {}): {} records, {} audit events re-stamped, chain sealed over {} events",
            r.tenant,
            path_text(self.path),
            r.source,
            r.records,
            r.audit_events,
            r.sealed
        )]
    }
}

/// `tenant migrate ID --to NEW_ID [--domain D]`.
pub async fn migrate(
    db: &dyn KvBackend,
    out: &Output,
    id: TenantId,
    new_id: TenantId,
    domain: Option<String>,
) -> anyhow::Result<()> {
    let old = require(db, id).await?;
    let domain = domain.unwrap_or_else(|| ops::migrated_domain(&old.domain, new_id));
    let (bar, chunk) = progress(out, "migrate", None)?;
    let options = ExportOptions {
        chunk,
        ..ExportOptions::default()
    };
    let report = ops::migrate(db, id, new_id, &domain, &options)
        .await
        .with_context(|| format!("migrating tenant {id} to {new_id}"));
    bar.finish_and_clear();
    out.print(&Moved {
        verb: "migrated",
        report: report?,
        domain,
        store: None,
    });
    Ok(())
}

/// `tenant copy ID --to-store STORE [--as NEW_ID] [--domain D]`.
pub async fn copy(
    from: &dyn KvBackend,
    to: &dyn KvBackend,
    to_name: &str,
    out: &Output,
    id: TenantId,
    target: ImportTarget,
) -> anyhow::Result<()> {
    let tenant = require(from, id).await?;
    let domain = target.domain.clone().unwrap_or(tenant.domain);
    let (bar, chunk) = progress(out, "copy", None)?;
    let options = ExportOptions {
        chunk,
        ..ExportOptions::default()
    };
    let report = ops::copy(from, to, id, &target, &options)
        .await
        .with_context(|| format!("copying tenant {id} to store {to_name}"));
    bar.finish_and_clear();
    out.print(&Moved {
        verb: "copied",
        report: report?,
        domain,
        store: Some(to_name),
    });
    Ok(())
}

/// `tenant migrate` and `tenant copy`'s result.
struct Moved<'a> {
    verb: &'static str,
    report: MigrateReport,
    domain: String,
    /// The store copied into (`None`: the same store, a migration).
    store: Option<&'a str>,
}

impl Render for Moved<'_> {
    fn json(&self) -> serde_json::Value {
        let r = &self.report;
        json!({
            "tenant": r.import.tenant.uuid(), "source": r.import.source.uuid(),
            "domain": self.domain, "store": self.store,
            "export": export_json(&r.export), "import": import_json(&r.import),
        })
    }
    fn text(&self) -> Vec<String> {
        let r = &self.report;
        let mut lines = vec![format!(
            "{} tenant {} to {}{} ({}): {} records, audit chain re-sealed over {} events",
            self.verb,
            r.import.source,
            r.import.tenant,
            self.store
                .map(|s| format!(" in store {}", text(s)))
                .unwrap_or_default(),
            text(&self.domain),
            r.import.records,
            r.import.sealed
        )];
        if self.store.is_none() {
            let (old, new) = (r.import.source, r.import.tenant);
            lines.push(format!("tenant {old} stays suspended: erase it (`coditect tenant erase {old} --yes`) once {new} is checked"));
        }
        lines
    }
}

/// `tenant erase ID --yes [--actor WHO]`.
pub async fn erase(
    db: &dyn KvBackend,
    out: &Output,
    id: TenantId,
    yes: bool,
    actor: Option<String>,
) -> anyhow::Result<()> {
    if !yes {
        bail!("erasing tenant {id} removes all of its data for good: add --yes to do it");
    }
    let (bar, chunk) = progress(out, "erase", None)?;
    let actor = actor.unwrap_or_else(|| DEFAULT_ERASE_ACTOR.to_owned());
    let record = ops::erase(db, id, &actor, &EraseOptions { chunk })
        .await
        .with_context(|| format!("erasing tenant {id}"));
    bar.finish_and_clear();
    out.print(&Erased(record?));
    Ok(())
}

/// `tenant erase`'s result: the erasure record.
struct Erased(Erasure);

impl Render for Erased {
    fn json(&self) -> serde_json::Value {
        let r = &self.0;
        json!({
            "tenant": r.tenant, "actor": r.actor, "started_ms": r.started_ms,
            "finished_ms": r.finished_ms, "keys": r.keys, "bytes": r.bytes,
            "chunks": r.chunks,
        })
    }
    fn text(&self) -> Vec<String> {
        let r = &self.0;
        vec![format!(
            "erased tenant {}: {} keys ({} bytes) in {} transactions; the erasure record (no tenant data) names \"{}\"",
            r.tenant, r.keys, r.bytes, r.chunks, text(&r.actor)
        )]
    }
}

/// `tenant abort ID [--actor WHO]`.
pub async fn abort(
    db: &dyn KvBackend,
    out: &Output,
    id: TenantId,
    actor: Option<String>,
) -> anyhow::Result<()> {
    let actor = actor.unwrap_or_else(|| DEFAULT_ERASE_ACTOR.to_owned());
    let aborted = ops::abort(db, id, &actor, &ChunkOptions::default())
        .await
        .with_context(|| format!("aborting the operation on tenant {id}"))?;
    out.print(&AbortedOp { id, aborted });
    Ok(())
}

/// `tenant abort`'s result.
struct AbortedOp {
    id: TenantId,
    aborted: Aborted,
}

impl Render for AbortedOp {
    fn json(&self) -> serde_json::Value {
        let (operation, status, to) = match self.aborted {
            Aborted::Export { status } => ("export", Some(status), None),
            Aborted::Import => ("import", None, None),
            Aborted::Migrate { to, status } => ("migrate", Some(status), Some(to)),
        };
        json!({
            "tenant": self.id.uuid(), "aborted": operation,
            "status": status.map(TenantStatus::as_str), "to": to,
        })
    }
    fn text(&self) -> Vec<String> {
        let id = self.id;
        vec![match self.aborted {
            Aborted::Export { status } => {
                format!("dropped the export of tenant {id}; it is {} again", status.as_str())
            }
            Aborted::Import => {
                format!("dropped the staged import of tenant {id}: what was staged is erased")
            }
            Aborted::Migrate { to, status } => format!(
                "cancelled the migration of tenant {id} to {to}: its staged copy is erased, {id} is {} again",
                status.as_str()
            ),
        }]
    }
}

/// `tenant check ID`: every violation with its key (escaped for people, hex in JSON); exit
/// code 1 when there is any.
pub async fn check(db: &dyn KvBackend, out: &Output, id: TenantId) -> anyhow::Result<()> {
    let report = ops::check(db, id, &ops::CheckOptions::default())
        .await
        .with_context(|| format!("checking tenant {id}"))?;
    let clean = report.is_clean();
    let violations = report.violation_count;
    out.print(&Checked { id, report });
    if !clean {
        bail!("tenant {id} fails its check: {violations} violations");
    }
    Ok(())
}

/// `tenant check`'s result.
struct Checked {
    id: TenantId,
    report: ops::CheckReport,
}

impl Render for Checked {
    fn json(&self) -> serde_json::Value {
        let report = &self.report;
        json!({
            "tenant": self.id.uuid(), "ok": report.is_clean(),
            "keys": report.keys, "records": report.records, "counters": report.counters,
            "unrecognised": report.unrecognised, "chunks": report.chunks,
            "audit_events": report.audit_events,
            "violation_count": report.violation_count,
            "violations": report.violations.iter().map(|v| json!({
                "kind": v.kind.name(), "key": v.key_hex(), "key_escaped": v.key_escaped(),
                "detail": v.detail,
            })).collect::<Vec<_>>(),
        })
    }
    fn text(&self) -> Vec<String> {
        let report = &self.report;
        let mut lines: Vec<String> = report
            .violations
            .iter()
            .map(|v| {
                format!(
                    "{:<26} {}  {}",
                    v.kind.name(),
                    text(&v.key_escaped()),
                    text(&v.detail)
                )
            })
            .collect();
        lines.push(format!(
            "checked tenant {}: {} keys ({} records, {} counters) in {} transactions, {} audit events verified, {} keys no model accounts for: {} violations",
            self.id,
            report.keys,
            report.records,
            report.counters,
            report.chunks,
            report
                .audit_events
                .map_or_else(|| "no".to_owned(), |n| n.to_string()),
            report.unrecognised,
            report.violation_count
        ));
        lines
    }
}

/// `analytics [--k K]`.
pub async fn analytics(db: &dyn KvBackend, out: &Output, k: usize) -> anyhow::Result<()> {
    let options = ReportOptions {
        k,
        ..ReportOptions::default()
    };
    out.print(&ops::report(db, &options).await?);
    Ok(())
}

impl Render for AnalyticsReport {
    fn json(&self) -> serde_json::Value {
        json!({
            "k": self.k,
            "groups": self.groups.iter().map(|g| json!({
                "plan": g.plan.as_str(), "tenants": g.tenants, "totals": g.totals,
            })).collect::<Vec<_>>(),
        })
    }
    fn text(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Cross-tenant report by plan (groups and counters of fewer than {} tenants are left out)",
            self.k
        )];
        if self.groups.is_empty() {
            lines.push(format!("no group has {} tenants or more", self.k));
        }
        for g in &self.groups {
            lines.push(String::new());
            lines.push(format!("{} plan: {} tenants", g.plan.as_str(), g.tenants));
            lines.extend(
                g.totals
                    .iter()
                    .map(|(name, total)| format!("  {:<32} {total}", text(name))),
            );
        }
        lines
    }
}
