//! `coditect tenant ...`: create, list, show, suspend and activate tenants.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use coditect_core::ids::RoleId;
use coditect_core::model::role;
use coditect_core::model::tenant::{self as tenant_model, Tenant, TenantStatus};
use coditect_core::model::{Member, Plan, Project, Task, User};
use coditect_core::provision::{self, provision, NewTenant, Provisioned};
use coditect_core::record;
use coditect_core::{KvBackend, Principal, RetryOptions, TenantId, TenantTx};
use coditect_ops::ImportTarget;
use serde_json::json;
use uuid::Uuid;

use crate::output::{text, Output, Render};
use crate::safe_file;
use crate::store::{self, Missing, StoreSpec};
use crate::tenant_ops;

/// `coditect tenant ...`
#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Provision a tenant: registry entry, domain, root entity, an invited admin.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Its domain, unique across tenants.
        #[arg(long)]
        domain: String,
        /// Its plan, which sets its quotas.
        #[arg(long, value_enum, default_value_t = PlanArg::Starter)]
        plan: PlanArg,
        /// The first admin's email (default admin@DOMAIN).
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// Every tenant in the registry.
    List,
    /// One tenant: registry entry and record counts.
    Show {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// Block a tenant: its data can no longer be opened.
    Suspend {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// Unblock a suspended tenant.
    Activate {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// Back one tenant up to a file (versioned header, checksummed frames; writers wait
    /// while it runs, so the file is one consistent cut).
    Export {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// The backup file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup file: under its own id and domain, or as a new tenant.
    Import {
        /// The backup file.
        file: PathBuf,
        /// Import under this new tenant id (a UUID) instead of the backup's.
        #[arg(long = "as", value_name = "NEW_ID", value_parser = parse_tenant_id)]
        as_id: Option<TenantId>,
        /// The domain to give it (default: the backup's, which must then be free).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Re-key a tenant under a new id in the same store, audited on both sides; the old one
    /// stays suspended until erased.
    Migrate {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// The new id (a UUID).
        #[arg(long, value_name = "NEW_ID", value_parser = parse_tenant_id)]
        to: TenantId,
        /// The new tenant's domain (default: mXXXXXXXX.OLD-DOMAIN, XXXXXXXX from the new id).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Copy a tenant into another store (e.g. sled to FoundationDB); the source is unchanged.
    Copy {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// The store to copy into: mem, sled:PATH or `fdb[:CLUSTER_FILE]`.
        #[arg(long, value_name = "STORE")]
        to_store: StoreSpec,
        /// Copy under this tenant id (a UUID) instead of the same one.
        #[arg(long = "as", value_name = "NEW_ID", value_parser = parse_tenant_id)]
        as_id: Option<TenantId>,
        /// The domain to give the copy (default: the same).
        #[arg(long)]
        domain: Option<String>,
    },
    /// Drop the export, import or migration that holds a tenant instead of finishing it: an
    /// export's quiesce is released (the status from before it restored), a staged import is
    /// erased, a migration is cancelled (its staged copy erased). Audited.
    Abort {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// Who asked, for the erasure record of what is erased.
        #[arg(long)]
        actor: Option<String>,
    },
    /// Check a tenant's invariants, walking it in chunks: every index entry points at a record
    /// holding its values, every record is in its indexes, counters equal what they count,
    /// every reference resolves (both directions), the audit trail verifies. Each violation
    /// is printed with its key; any violation is exit code 1.
    Check {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// A tenant's meters: reads, range reads and rows, writes, bytes read and written,
    /// commits, retries, conflicts and denials, summed over its committed transactions.
    Stats {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
    },
    /// Erase a tenant for good (GDPR): all of its data, leaving an erasure record without any.
    Erase {
        /// The tenant's id (a UUID).
        #[arg(value_parser = parse_tenant_id)]
        id: TenantId,
        /// Yes, erase it.
        #[arg(long)]
        yes: bool,
        /// Who asked, for the erasure record (an operator or a request reference).
        #[arg(long)]
        actor: Option<String>,
    },
}

/// A plan on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanArg {
    /// 5 users, 3 projects, 1 agent.
    Free,
    /// 25 users, 20 projects, 5 agents.
    Starter,
    /// 250 users, 200 projects, 50 agents.
    Professional,
    /// Unlimited.
    Enterprise,
}

impl From<PlanArg> for Plan {
    fn from(plan: PlanArg) -> Plan {
        match plan {
            PlanArg::Free => Plan::Free,
            PlanArg::Starter => Plan::Starter,
            PlanArg::Professional => Plan::Professional,
            PlanArg::Enterprise => Plan::Enterprise,
        }
    }
}

/// Parses a tenant id: a UUID, not nil.
pub fn parse_tenant_id(text: &str) -> Result<TenantId, String> {
    let uuid =
        Uuid::parse_str(text.trim()).map_err(|e| format!("not a tenant id (a UUID): {e}"))?;
    TenantId::new(uuid).map_err(|e| e.to_string())
}

impl TenantCommand {
    /// Whether the command creates a tenant, and so may create the store it goes into.
    fn creates(&self) -> bool {
        matches!(
            self,
            TenantCommand::Create { .. } | TenantCommand::Import { .. }
        )
    }
}

/// Runs one `tenant` subcommand.
pub async fn run(spec: &StoreSpec, out: &Output, command: TenantCommand) -> anyhow::Result<()> {
    // A file to write is checked before any work (and before the store is opened).
    let export_to = match &command {
        TenantCommand::Export { out: path, .. } => Some(safe_file::check(path, spec.local_path())?),
        _ => None,
    };
    let missing = if command.creates() {
        Missing::Create
    } else {
        Missing::Refuse
    };
    let db = store::open(spec, missing).await?;
    let db = &*db;
    match command {
        TenantCommand::Create {
            name,
            domain,
            plan,
            admin_email,
        } => {
            let admin_email = admin_email.unwrap_or_else(|| format!("admin@{}", domain.trim()));
            let made = create(db, &name, &domain, plan.into(), &admin_email, "Admin").await?;
            out.print(&Created(made));
        }
        TenantCommand::List => out.print(&Listed {
            tenants: list(db).await?,
            store: spec.to_string(),
        }),
        TenantCommand::Show { id } => out.print(&show(db, id).await?),
        TenantCommand::Export { id, .. } => {
            let target = export_to.context("the export's file was checked above")?;
            tenant_ops::export(db, out, id, &target).await?;
        }
        TenantCommand::Import {
            file,
            as_id,
            domain,
        } => tenant_ops::import(db, out, &file, as_id, domain).await?,
        TenantCommand::Migrate { id, to, domain } => {
            tenant_ops::migrate(db, out, id, to, domain).await?
        }
        TenantCommand::Copy {
            id,
            to_store,
            as_id,
            domain,
        } => {
            if to_store == *spec {
                bail!("--to-store {to_store} is the store the tenant is in: use `tenant migrate` to re-key it there");
            }
            let to = store::open(&to_store, Missing::Create).await?;
            let target = ImportTarget { id: as_id, domain };
            tenant_ops::copy(db, &*to, &to_store.to_string(), out, id, target).await?;
        }
        TenantCommand::Abort { id, actor } => tenant_ops::abort(db, out, id, actor).await?,
        TenantCommand::Check { id } => tenant_ops::check(db, out, id).await?,
        TenantCommand::Stats { id } => crate::stats::tenant_stats(db, out, id).await?,
        TenantCommand::Erase { id, yes, actor } => {
            tenant_ops::erase(db, out, id, yes, actor).await?
        }
        TenantCommand::Suspend { id } => {
            out.print(&set_status(db, id, TenantStatus::Suspended).await?)
        }
        TenantCommand::Activate { id } => {
            out.print(&set_status(db, id, TenantStatus::Active).await?)
        }
    }
    Ok(())
}

/// `tenant create`'s result.
struct Created(Provisioned);

impl Render for Created {
    fn json(&self) -> serde_json::Value {
        let made = &self.0;
        json!({
            "tenant": tenant_json(&made.tenant),
            "admin": {"user_id": made.admin.id.uuid(), "member_id": made.admin_member.id.uuid(), "email": made.admin.email},
            "root_entity": {"id": made.root.id.uuid(), "code": made.root.code},
        })
    }
    fn text(&self) -> Vec<String> {
        let made = &self.0;
        vec![
            format!(
                "created tenant {} ({}, {})",
                made.tenant.id,
                text(&made.tenant.name),
                text(&made.tenant.domain)
            ),
            format!("  plan        {}", made.tenant.plan.as_str()),
            format!(
                "  admin       {} (invited; member {})",
                text(&made.admin.email),
                made.admin_member.id
            ),
            format!("  root entity {} ({})", text(&made.root.code), made.root.id),
        ]
    }
}

/// `tenant list`'s result.
struct Listed {
    tenants: Vec<Tenant>,
    store: String,
}

impl Render for Listed {
    fn json(&self) -> serde_json::Value {
        json!({"tenants": self.tenants.iter().map(tenant_json).collect::<Vec<_>>()})
    }
    fn text(&self) -> Vec<String> {
        if self.tenants.is_empty() {
            return vec![format!(
                "no tenants in {} (try `coditect demo`)",
                text(&self.store)
            )];
        }
        let mut lines = vec![format!(
            "{:<36}  {:<9}  {:<12}  {:<28}  name",
            "id", "status", "plan", "domain"
        )];
        lines.extend(self.tenants.iter().map(|t| {
            format!(
                "{:<36}  {:<9}  {:<12}  {:<28}  {}",
                t.id,
                t.status.as_str(),
                t.plan.as_str(),
                text(&t.domain),
                text(&t.name)
            )
        }));
        lines.push(format!("{} tenant(s)", self.tenants.len()));
        lines
    }
}

/// `tenant show`'s result: the registry entry, its record counts when it is active, and the
/// operation holding it, if any.
struct Shown {
    tenant: Tenant,
    counts: Option<Counts>,
    pending: Option<&'static str>,
}

/// The records of an active tenant, by kind.
struct Counts {
    users: i64,
    members: i64,
    projects: i64,
    tasks: i64,
}

async fn show(db: &dyn KvBackend, id: TenantId) -> anyhow::Result<Shown> {
    let tenant = require(db, id).await?;
    let counts = if tenant.status == TenantStatus::Active {
        Some(counts(db, id).await?)
    } else {
        None
    };
    let pending = pending(db, id).await?;
    Ok(Shown {
        tenant,
        counts,
        pending,
    })
}

impl Render for Shown {
    fn json(&self) -> serde_json::Value {
        let mut value = tenant_json(&self.tenant);
        value["pending"] = json!(self.pending);
        value["counts"] = match &self.counts {
            Some(c) => {
                json!({"users": c.users, "members": c.members, "projects": c.projects, "tasks": c.tasks})
            }
            None => serde_json::Value::Null,
        };
        value
    }
    fn text(&self) -> Vec<String> {
        let mut lines = tenant_lines(&self.tenant);
        match (&self.counts, self.pending) {
            (Some(c), _) => lines.extend(
                [
                    ("users", c.users),
                    ("members", c.members),
                    ("projects", c.projects),
                    ("tasks", c.tasks),
                ]
                .iter()
                .map(|(what, n)| format!("  {what:<11} {n}")),
            ),
            (None, Some(operation)) => lines.push(format!("  (held by an unfinished {operation}: run the same `coditect tenant {operation}` again to finish it; until then it cannot be activated)")),
            (None, None) => lines.push(format!("  (suspended: its records cannot be opened until `coditect tenant activate {}`)", self.tenant.id)),
        }
        lines
    }
}

/// `tenant suspend` and `tenant activate`'s result: the entry as it now is.
struct StatusSet(Tenant);

impl Render for StatusSet {
    fn json(&self) -> serde_json::Value {
        tenant_json(&self.0)
    }
    fn text(&self) -> Vec<String> {
        vec![format!(
            "tenant {} ({}) is {}",
            self.0.id,
            text(&self.0.domain),
            self.0.status.as_str()
        )]
    }
}

/// Provisions a tenant in the retry loop (its id chosen once, before the loop).
pub async fn create(
    db: &dyn KvBackend,
    name: &str,
    domain: &str,
    plan: Plan,
    admin_email: &str,
    admin_name: &str,
) -> anyhow::Result<Provisioned> {
    let new = NewTenant {
        id: TenantId::generate(),
        name: name.to_owned(),
        domain: domain.to_owned(),
        plan,
        root_code: provision::root_code(name),
        admin_email: admin_email.to_owned(),
        admin_name: admin_name.to_owned(),
    };
    let (made, _) = coditect_core::run(db, &RetryOptions::default(), |tx| {
        let new = new.clone();
        async move { provision(&*tx, new).await }
    })
    .await
    .with_context(|| format!("creating tenant {name:?} ({domain})"))?;
    Ok(made)
}

/// The id of the role `name` in `tenant` (provisioning makes the built-in ones: admin,
/// maintainer, contributor, viewer). Read before a write's retry loop, so the records that
/// name it can be built, with their ids, outside the loop.
pub async fn role_id(db: &dyn KvBackend, tenant: TenantId, name: &str) -> anyhow::Result<RoleId> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, tenant).await?;
    let role = role::by_name(&ttx, Principal::operator(), name)
        .await?
        .with_context(|| format!("tenant {tenant} has no role {name:?}"))?;
    Ok(role.id)
}

/// Every tenant of the registry, in id order, a page per transaction.
pub async fn list(db: &dyn KvBackend) -> anyhow::Result<Vec<Tenant>> {
    let mut tenants: Vec<Tenant> = Vec::new();
    loop {
        let tx = db.begin().await?;
        let after = tenants.last().map(|t| t.id);
        let (page, more) = tenant_model::list(&*tx, after, 1_000).await?;
        let done = !more || page.is_empty();
        tenants.extend(page);
        if done {
            return Ok(tenants);
        }
    }
}

/// The registry entry of `id`, or an error naming it.
pub async fn require(db: &dyn KvBackend, id: TenantId) -> anyhow::Result<Tenant> {
    let tx = db.begin().await?;
    tenant_model::get(&*tx, id)
        .await?
        .with_context(|| format!("tenant {id} does not exist"))
}

async fn counts(db: &dyn KvBackend, id: TenantId) -> anyhow::Result<Counts> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, id).await?;
    let by = Principal::operator();
    Ok(Counts {
        users: record::count_of::<User>(&ttx, by).await?,
        members: record::count_of::<Member>(&ttx, by).await?,
        projects: record::count_of::<Project>(&ttx, by).await?,
        tasks: record::count_of::<Task>(&ttx, by).await?,
    })
}

async fn set_status(
    db: &dyn KvBackend,
    id: TenantId,
    status: TenantStatus,
) -> anyhow::Result<StatusSet> {
    let (tenant, _) = coditect_core::run(db, &RetryOptions::default(), |tx| async move {
        tenant_model::set_status(&*tx, Principal::operator(), id, status).await
    })
    .await?;
    Ok(StatusSet(tenant))
}

/// A registry entry for people, a line a field.
fn tenant_lines(t: &Tenant) -> Vec<String> {
    vec![
        format!("tenant {}", t.id),
        format!("  name        {}", text(&t.name)),
        format!("  domain      {}", text(&t.domain)),
        format!("  plan        {}", t.plan.as_str()),
        format!("  status      {}", t.status.as_str()),
        format!(
            "  quotas      users {}, projects {}, agents {} (-1: unlimited)",
            t.quotas.max_users, t.quotas.max_projects, t.quotas.max_agents
        ),
        format!(
            "  created     {} ms since the epoch",
            t.stamps.created_at_ms
        ),
    ]
}

/// The operation that holds tenant `id` (`export`, `import`, `migrate`, `erase`), if one
/// started and has not finished.
async fn pending(db: &dyn KvBackend, id: TenantId) -> anyhow::Result<Option<&'static str>> {
    use coditect_ops as ops;
    if let Some(op) = ops::pending_operation(db, id).await? {
        return Ok(Some(op.kind.as_str()));
    }
    let erasing = ops::erasure_record(db, id)
        .await?
        .is_some_and(|record| record.finished_ms.is_none());
    Ok(erasing.then_some("erase"))
}

/// A registry entry as JSON.
pub fn tenant_json(t: &Tenant) -> serde_json::Value {
    json!({
        "id": t.id.uuid(),
        "name": t.name,
        "domain": t.domain,
        "plan": t.plan.as_str(),
        "status": t.status.as_str(),
        "quotas": {"max_users": t.quotas.max_users, "max_projects": t.quotas.max_projects, "max_agents": t.quotas.max_agents},
        "created_at_ms": t.stamps.created_at_ms,
        "updated_at_ms": t.stamps.updated_at_ms,
    })
}
