//! # coditect
//!
//! The command operators and newcomers run: the demo tenant, tenant administration, a raw view
//! of one tenant's keys, and `coditect bench`, which checks the platform's latency targets.
//!
//! Every command takes `--store mem | sled:PATH | fdb[:CLUSTER_FILE]` (or `CODITECT_STORE`),
//! prints for people by default and one JSON document with `--json`, and fails with exit code 1
//! (2 for a malformed command line) and one line on stderr starting `error: `, never a panic.

#![forbid(unsafe_code)]

mod audit;
mod bench;
mod demo;
mod kv_range;
mod output;
mod safe_file;
mod scan;
mod stats;
mod store;
mod tenant;
mod tenant_ops;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::store::StoreSpec;

/// The `coditect` command line.
#[derive(Parser, Debug)]
#[command(
    name = "coditect",
    version,
    about = "The multi-tenant data layer of CODITECT: demo, tenant administration, inspection, benchmark"
)]
struct Cli {
    /// Where the data lives: `mem` (gone when the command ends), `sled:PATH` (a durable
    /// directory) or `fdb[:CLUSTER_FILE]` (FoundationDB; needs the `fdb` cargo feature).
    /// Default: the `CODITECT_STORE` environment variable if set and not empty, else
    /// `sled:./coditect-data` (`bench`: a fresh temporary sled directory). Only demo, tenant
    /// create, tenant import and bench create a sled store that does not exist.
    #[arg(long, global = true)]
    store: Option<StoreSpec>,
    /// Print one JSON document for scripts instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Provision the demo: TechStartup Inc (alice, bob, project mobile_app, an AI agent with a
    /// task and a comment) and a second tenant with the same project code.
    Demo,
    /// Create, list, show, suspend, activate, export, import, migrate, copy and erase tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// The anonymized cross-tenant report: aggregates by plan, groups of fewer than K
    /// tenants left out.
    Analytics {
        /// The smallest group (and counter) reported; at least 2.
        #[arg(long, default_value_t = 5)]
        k: usize,
    },
    /// Every tenant's meters: the N busiest by operations, the others summed, and the total.
    Stats {
        /// How many of the busiest tenants are listed by name.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// A tenant's audit trail: tail, seal, verify, receipt.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Raw keys and values.
    #[command(subcommand)]
    Kv(kv_range::KvCommand),
    /// Provision tenants with realistic data, run a mixed workload and report latency
    /// percentiles against the targets.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a panic message and a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: internal error: {}",
            info.to_string().replace('\n', " ")
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return output::usage_error(error),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return output::fail(&anyhow::Error::new(error).context("starting the async runtime"))
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(code) => code,
        Err(error) => output::fail(&error),
    }
}

async fn dispatch(mut cli: Cli) -> anyhow::Result<ExitCode> {
    let out = output::Output::new(cli.json);
    cli.store = store::from_flag_or_env(cli.store.take())?;
    match cli.command {
        Command::Demo => {
            let store = cli.store.unwrap_or_default();
            demo::run(&store, &out).await?;
        }
        Command::Tenant(command) => {
            let store = cli.store.unwrap_or_default();
            tenant::run(&store, &out, command).await?;
        }
        Command::Analytics { k } => {
            let store = cli.store.unwrap_or_default();
            let db = store::open(&store, store::Missing::Refuse).await?;
            tenant_ops::analytics(&*db, &out, k).await?;
        }
        Command::Stats { top } => {
            let store = cli.store.unwrap_or_default();
            let db = store::open(&store, store::Missing::Refuse).await?;
            stats::stats(&*db, &out, top).await?;
        }
        Command::Audit(command) => {
            let store = cli.store.unwrap_or_default();
            audit::run(&store, &out, command).await?;
        }
        Command::Kv(command) => {
            let store = cli.store.unwrap_or_default();
            kv_range::run(&store, &out, command).await?;
        }
        Command::Bench(args) => return bench::run(cli.store, &out, args).await,
    }
    Ok(ExitCode::SUCCESS)
}
