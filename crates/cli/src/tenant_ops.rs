//! `coditect tenant export|import|migrate|copy|erase|abort|check` and `coditect analytics`: the tenant
//! operations of `coditect_core::ops`, each walking a tenant in chunked transactions, with a
//! progress bar (records, bytes, rate) when stderr is a terminal and quiet under `--json` or a
//! pipe. Three environment variables tune them: `CODITECT_CHUNK_RECORDS` (most pairs a
//! transaction, default 10,000), `CODITECT_CHUNK_PAUSE_MS` (a pause after each chunk, default
//! none) and `CODITECT_PROGRESS=lines` (one `progress: ...` line per chunk on stderr).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use coditect_core::model::TenantStatus;
use coditect_core::ops::{
    self, Aborted, AnalyticsReport, ChunkOptions, EraseOptions, ExportOptions, ExportReport,
    ImportReport, ImportTarget, MigrateReport, Progress, ReportOptions,
};
use coditect_core::{KvBackend, TenantId};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::output::{path_text, text, Output};
use crate::safe_file::Target;
use crate::tenant::{plan_name, require};

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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let report = report?;
    if out.json {
        let mut value = export_json(&report);
        value["file"] = json!(path.display().to_string());
        out.json(&value);
    } else {
        println!(
            "exported tenant {id} to {}: {} records ({} bytes of data) in {} frames, {} bytes, sha256 {}{}",
            path_text(path),
            report.records,
            report.data_bytes,
            report.frames,
            report.file_bytes,
            hex(&report.sha256),
            if report.consistent { ", one consistent cut" } else { "" }
        );
    }
    Ok(())
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
    let report = report?;
    if out.json {
        out.json(&import_json(&report));
    } else {
        println!(
            "imported tenant {} from {} (taken of tenant {}): {} records, {} audit events re-stamped, chain sealed over {} events",
            report.tenant,
            path_text(path),
            report.source,
            report.records,
            report.audit_events,
            report.sealed
        );
    }
    Ok(())
}

/// The domain a migrated tenant gets when none is given: a new first label naming the new id.
fn migrated_domain(old: &str, new_id: TenantId) -> String {
    let short: String = new_id.uuid().simple().to_string().chars().take(8).collect();
    format!("m{short}.{old}")
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
    let domain = domain.unwrap_or_else(|| migrated_domain(&old.domain, new_id));
    let (bar, chunk) = progress(out, "migrate", None)?;
    let options = ExportOptions {
        chunk,
        ..ExportOptions::default()
    };
    let report = ops::migrate(db, id, new_id, &domain, &options)
        .await
        .with_context(|| format!("migrating tenant {id} to {new_id}"));
    bar.finish_and_clear();
    print_moved(out, "migrated", &report?, &domain, None);
    if !out.json {
        println!("tenant {id} stays suspended: erase it (`coditect tenant erase {id} --yes`) once {new_id} is checked");
    }
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
    print_moved(out, "copied", &report?, &domain, Some(to_name));
    Ok(())
}

fn print_moved(
    out: &Output,
    verb: &str,
    report: &MigrateReport,
    domain: &str,
    store: Option<&str>,
) {
    if out.json {
        out.json(&json!({
            "tenant": report.import.tenant.uuid(), "source": report.import.source.uuid(),
            "domain": domain, "store": store,
            "export": export_json(&report.export), "import": import_json(&report.import),
        }));
    } else {
        println!(
            "{verb} tenant {} to {}{} ({}): {} records, audit chain re-sealed over {} events",
            report.import.source,
            report.import.tenant,
            store
                .map(|s| format!(" in store {}", text(s)))
                .unwrap_or_default(),
            text(domain),
            report.import.records,
            report.import.sealed
        );
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
    let record = record?;
    if out.json {
        out.json(&json!({
            "tenant": record.tenant, "actor": record.actor, "started_ms": record.started_ms,
            "finished_ms": record.finished_ms, "keys": record.keys, "bytes": record.bytes,
            "chunks": record.chunks,
        }));
    } else {
        println!(
            "erased tenant {id}: {} keys ({} bytes) in {} transactions; the erasure record (no tenant data) names \"{}\"",
            record.keys, record.bytes, record.chunks, text(&record.actor)
        );
    }
    Ok(())
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
    let status_name = |s: TenantStatus| match s {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    };
    let (operation, text_out, status, to) = match aborted {
        Aborted::Export { status } => (
            "export",
            format!("dropped the export of tenant {id}; it is {} again", status_name(status)),
            Some(status),
            None,
        ),
        Aborted::Import => (
            "import",
            format!("dropped the staged import of tenant {id}: what was staged is erased"),
            None,
            None,
        ),
        Aborted::Migrate { to, status } => (
            "migrate",
            format!(
                "cancelled the migration of tenant {id} to {to}: its staged copy is erased, {id} is {} again",
                status_name(status)
            ),
            Some(status),
            Some(to),
        ),
    };
    if out.json {
        out.json(&json!({
            "tenant": id.uuid(), "aborted": operation,
            "status": status.map(status_name), "to": to,
        }));
    } else {
        println!("{text_out}");
    }
    Ok(())
}

/// `tenant check ID`: every violation with its key (escaped for people, hex in JSON); exit
/// code 1 when there is any.
pub async fn check(db: &dyn KvBackend, out: &Output, id: TenantId) -> anyhow::Result<()> {
    let report = ops::check(db, id, &ops::CheckOptions::default())
        .await
        .with_context(|| format!("checking tenant {id}"))?;
    if out.json {
        out.json(&json!({
            "tenant": id.uuid(), "ok": report.is_clean(),
            "keys": report.keys, "records": report.records, "counters": report.counters,
            "unrecognised": report.unrecognised, "chunks": report.chunks,
            "audit_events": report.audit_events,
            "violation_count": report.violation_count,
            "violations": report.violations.iter().map(|v| json!({
                "kind": v.kind.name(), "key": v.key_hex(), "key_escaped": v.key_escaped(),
                "detail": v.detail,
            })).collect::<Vec<_>>(),
        }));
    } else {
        for v in &report.violations {
            println!(
                "{:<26} {}  {}",
                v.kind.name(),
                text(&v.key_escaped()),
                text(&v.detail)
            );
        }
        println!(
            "checked tenant {id}: {} keys ({} records, {} counters) in {} transactions, {} audit events verified, {} keys no model accounts for: {} violations",
            report.keys,
            report.records,
            report.counters,
            report.chunks,
            report
                .audit_events
                .map_or_else(|| "no".to_owned(), |n| n.to_string()),
            report.unrecognised,
            report.violation_count
        );
    }
    if !report.is_clean() {
        bail!(
            "tenant {id} fails its check: {} violations",
            report.violation_count
        );
    }
    Ok(())
}

/// `analytics [--k K]`.
pub async fn analytics(db: &dyn KvBackend, out: &Output, k: usize) -> anyhow::Result<()> {
    let options = ReportOptions {
        k,
        ..ReportOptions::default()
    };
    let report: AnalyticsReport = ops::report(db, &options).await?;
    if out.json {
        out.json(&json!({
            "k": report.k,
            "groups": report.groups.iter().map(|g| json!({
                "plan": plan_name(g.plan), "tenants": g.tenants, "totals": g.totals,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "Cross-tenant report by plan (groups and counters of fewer than {} tenants are left out)",
        report.k
    );
    if report.groups.is_empty() {
        println!("no group has {} tenants or more", report.k);
    }
    for g in &report.groups {
        println!();
        println!("{} plan: {} tenants", plan_name(g.plan), g.tenants);
        for (name, total) in &g.totals {
            println!("  {:<32} {total}", text(name));
        }
    }
    Ok(())
}
