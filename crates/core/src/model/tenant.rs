//! Tenant: a company, registered in the system keyspace (`("sys", "tenant", id)`), with a
//! globally unique domain (`("sys", "tenant_by_domain", domain)`), a plan and the quotas the
//! record layer enforces on create. Tenants are created by
//! [`provision`](crate::provision::provision); suspended tenants cannot be opened.

use serde::{Deserialize, Serialize};

use crate::audit::{self, Actor, AuditAction};
use crate::error::{Error, Result};
use crate::keys::{self, TenantId};
use crate::kv::RetryOptions;
use crate::kv::{KvBackend, Transaction};
use crate::principal::Principal;
use crate::rbac::{self, Action, Resource, ResourceKind, Scope};
use crate::record::{check_len, now_ms, Timestamps};
use crate::run;
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};

/// A subscription plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Plan {
    /// Free.
    Free,
    /// Small teams.
    Starter,
    /// Companies.
    Professional,
    /// No limits.
    Enterprise,
}

/// What a tenant may hold; -1 is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    /// Most users.
    pub max_users: i64,
    /// Most projects.
    pub max_projects: i64,
    /// Most agent members.
    pub max_agents: i64,
}

/// The quota value meaning "no limit".
pub const UNLIMITED: i64 = -1;

impl Plan {
    /// Its lower-case name: `free`, `starter`, `professional`, `enterprise`.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Professional => "professional",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The quotas a tenant on this plan starts with.
    pub fn default_quotas(self) -> Quotas {
        let (max_users, max_projects, max_agents) = match self {
            Plan::Free => (5, 3, 1),
            Plan::Starter => (25, 20, 5),
            Plan::Professional => (250, 200, 50),
            Plan::Enterprise => (UNLIMITED, UNLIMITED, UNLIMITED),
        };
        Quotas {
            max_users,
            max_projects,
            max_agents,
        }
    }
}

/// Whether a tenant's data can be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantStatus {
    /// In use.
    Active,
    /// Blocked: [`TenantTx::open`] refuses it.
    Suspended,
}

impl TenantStatus {
    /// Its lower-case name: `active`, `suspended`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }
}

/// A tenant's registry entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id, the prefix of all its data.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Its domain, lower-case, unique across tenants.
    pub domain: String,
    /// Its plan.
    pub plan: Plan,
    /// Its quotas (from the plan unless changed).
    pub quotas: Quotas,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Versioned for Tenant {
    const WHAT: &'static str = "tenant";
    const SCHEMA_VERSION: u8 = 1;
}

/// Lower-cases and checks a domain name: labels of `a-z`, `0-9` and `-` joined by dots, at
/// least two labels, at most 253 bytes.
pub fn normalize_domain(domain: &str) -> Result<String> {
    let domain = domain.trim().to_ascii_lowercase();
    let invalid = |reason: &str| Error::InvalidInput {
        field: "domain",
        reason: reason.into(),
    };
    check_len("tenant", "domain", &domain, 3, 253)?;
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid("needs at least two labels"));
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("empty or overlong label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("only a-z, 0-9 and - are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label cannot start or end with -"));
        }
    }
    Ok(domain)
}

impl Tenant {
    /// Checks the entry on its own.
    pub fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "name", &self.name, 1, 200)?;
        if normalize_domain(&self.domain)? != self.domain {
            return Err(Error::InvalidInput {
                field: "domain",
                reason: "must be lower-case and trimmed".into(),
            });
        }
        for (field, quota) in [
            ("max_users", self.quotas.max_users),
            ("max_projects", self.quotas.max_projects),
            ("max_agents", self.quotas.max_agents),
        ] {
            if quota < UNLIMITED {
                return Err(Error::InvalidInput {
                    field,
                    reason: "a quota is -1 (unlimited) or at least 0".into(),
                });
            }
        }
        Ok(())
    }
}

/// The registry entry of `id`, or `None`.
pub async fn get(tx: &dyn Transaction, id: TenantId) -> Result<Option<Tenant>> {
    crate::registry::get_entry(tx, id).await
}

/// One page of the registry in tenant-id order: up to `limit` entries (at most one range page)
/// after `after` (from the first when `None`), and whether more follow. Snapshot reads: listing
/// tenants never conflicts with provisioning or suspending one. Page with a fresh transaction
/// each time to list a registry of any size.
pub async fn list(
    tx: &dyn Transaction,
    after: Option<TenantId>,
    limit: usize,
) -> Result<(Vec<Tenant>, bool)> {
    let (mut begin, end) = keys::tenant_registry_range();
    if let Some(after) = after {
        begin = crate::kv::key_after(&keys::tenant_registry_key(after));
    }
    let options = crate::kv::RangeOptions::limit(limit.max(1)).snapshot();
    let page = tx.get_range(&begin, &end, options).await?;
    let tenants = page
        .kvs
        .iter()
        .map(|kv| value::decode::<Tenant>(&kv.value))
        .collect::<Result<Vec<_>>>()?;
    Ok((tenants, page.more))
}

/// The tenant owning `domain` (any case), or `None`.
pub async fn get_by_domain(tx: &dyn Transaction, domain: &str) -> Result<Option<Tenant>> {
    let domain = normalize_domain(domain)?;
    let Some(bytes) = tx.get(&keys::tenant_domain_key(&domain), false).await? else {
        return Ok(None);
    };
    let uuid = uuid::Uuid::from_slice(&bytes).map_err(|e| Error::Decode {
        what: "tenant domain index",
        reason: "not a UUID".into(),
        source: Some(Box::new(e)),
    })?;
    get(tx, TenantId::new(uuid)?).await
}

/// Writes a new registry entry and its domain index; [`Error::AlreadyExists`] when the id or
/// the domain is taken. Used by provisioning, which audits it.
pub(crate) async fn register(tx: &dyn Transaction, tenant: &Tenant) -> Result<Vec<u8>> {
    tenant.validate()?;
    let key = keys::tenant_registry_key(tenant.id);
    if tx.get(&key, false).await?.is_some() {
        return Err(Error::AlreadyExists {
            model: Tenant::WHAT,
            field: "id",
        });
    }
    let domain_key = keys::tenant_domain_key(&tenant.domain);
    if tx.get(&domain_key, false).await?.is_some() {
        return Err(Error::AlreadyExists {
            model: Tenant::WHAT,
            field: "domain",
        });
    }
    let bytes = value::encode(tenant)?;
    tx.set(&key, &bytes)?;
    tx.set(&domain_key, tenant.id.uuid().as_bytes())?;
    Ok(bytes)
}

/// Replaces a tenant's settings (name, domain, plan, quotas), moving the domain index when
/// the domain changes, audited in the tenant. Only the system and the tenant's Admins may
/// ([`Error::Forbidden`] otherwise: the right to update [`ResourceKind::Tenant`] tenant-wide);
/// the status is not a setting: a different status is [`Error::InvalidInput`], and changes
/// through [`set_status`]. A quota lowered below what it counts now (users, projects,
/// agents) is [`Error::InvalidInput`] naming it: down to the current use, never under. While an export, import, erase or migration holds the tenant the
/// update is refused ([`Error::OperationPending`]), changing nothing.
pub async fn update(
    tx: &dyn Transaction,
    by: impl Into<Principal>,
    tenant: Tenant,
) -> Result<Tenant> {
    let by = by.into();
    let (ttx, before_bytes, before) = open_entry(tx, tenant.id).await?;
    if before.status != tenant.status {
        return Err(Error::InvalidInput {
            field: "status",
            reason: "a tenant's status changes only through tenant::set_status, by the platform \
                     operator"
                .into(),
        });
    }
    let resource = Resource::new(
        ResourceKind::Tenant,
        Tenant::WHAT,
        tenant.id.uuid(),
        Scope::Tenant,
    );
    rbac::authorize(&ttx, by, Action::Update, &resource).await?;
    crate::registry::refuse_if_pending(tx, tenant.id).await?;
    refuse_quota_below_use(&ttx, &before.quotas, &tenant.quotas).await?;
    write_entry(tx, &ttx, by.actor(), (&before_bytes, &before), tenant).await
}

/// What each quota counts: its name, the counter and the quota in `quotas`.
pub fn quota_counters(quotas: &Quotas) -> [(&'static str, &'static str, i64); 3] {
    [
        (
            "max_users",
            <crate::model::User as crate::record::Model>::COLLECTION,
            quotas.max_users,
        ),
        (
            "max_projects",
            <crate::model::Project as crate::record::Model>::COLLECTION,
            quotas.max_projects,
        ),
        (
            "max_agents",
            crate::model::member::AGENTS,
            quotas.max_agents,
        ),
    ]
}

/// [`Error::InvalidInput`] naming the quota when a quota is lowered below what it counts now
/// (a quota may come down to the current use, never under it). The counters are read in
/// the transaction, so a concurrent create conflicts with the change instead of slipping
/// past it (and a create reads the registry entry this change writes).
async fn refuse_quota_below_use(ttx: &TenantTx<'_>, before: &Quotas, after: &Quotas) -> Result<()> {
    for ((field, counter, old), (_, _, new)) in quota_counters(before)
        .into_iter()
        .zip(quota_counters(after))
    {
        let lowered = new != UNLIMITED && (old == UNLIMITED || new < old);
        if !lowered {
            continue;
        }
        let used = crate::record::count(ttx, counter).await?;
        if used > new {
            return Err(Error::InvalidInput {
                field,
                reason: format!(
                    "{used} are in use, more than the new quota of {new}: remove some first"
                ),
            });
        }
    }
    Ok(())
}

/// Sets a tenant's status (suspend, activate): the platform operator's (and the system's)
/// alone, [`Error::Forbidden`] for anyone else, a tenant Admin included. While an export,
/// import, erase or migration holds the tenant any status change is refused
/// ([`Error::OperationPending`]): the operation owns the status and restores it when it ends.
/// Setting the status it already has changes nothing and audits nothing.
pub async fn set_status(
    tx: &dyn Transaction,
    by: impl Into<Principal>,
    id: TenantId,
    status: TenantStatus,
) -> Result<Tenant> {
    let by = by.into();
    let (ttx, before_bytes, before) = open_entry(tx, id).await?;
    if !matches!(by, Principal::System | Principal::Operator) {
        return Err(Error::Forbidden {
            actor: by.actor(),
            action: Action::Update,
            model: "tenant status",
            id: id.uuid(),
        });
    }
    // Before the no-op answer too: "suspend" during an export would otherwise report success
    // and then be undone when the export restores the status it began with.
    crate::registry::refuse_if_pending(tx, id).await?;
    if before.status == status {
        return Ok(before);
    }
    let tenant = Tenant {
        status,
        ..before.clone()
    };
    write_entry(tx, &ttx, by.actor(), (&before_bytes, &before), tenant).await
}

/// [`update`] in the retry loop, its denial audited in the tenant (as
/// [`run_in_tenant`](crate::run_in_tenant) audits one): what a service calls.
pub async fn update_settings(
    backend: &dyn KvBackend,
    by: impl Into<Principal>,
    tenant: Tenant,
) -> Result<Tenant> {
    let by = by.into();
    let id = tenant.id;
    let result = run(backend, &RetryOptions::default(), |tx| {
        let tenant = tenant.clone();
        async move { update(&*tx, by, tenant).await }
    })
    .await;
    audit::audit_denial(backend, &RetryOptions::default(), id, result)
        .await
        .map(|(tenant, _)| tenant)
}

/// [`set_status`] in the retry loop, its denial audited in the tenant: what the operator's
/// tools call.
pub async fn change_status(
    backend: &dyn KvBackend,
    by: impl Into<Principal>,
    id: TenantId,
    status: TenantStatus,
) -> Result<Tenant> {
    let by = by.into();
    let result = run(backend, &RetryOptions::default(), |tx| async move {
        set_status(&*tx, by, id, status).await
    })
    .await;
    audit::audit_denial(backend, &RetryOptions::default(), id, result)
        .await
        .map(|(tenant, _)| tenant)
}

/// The registry entry of `id` (its bytes and decoded), and the tenant scoped whatever its
/// status (a change is audited even when the tenant is, or becomes, suspended).
async fn open_entry(tx: &dyn Transaction, id: TenantId) -> Result<(TenantTx<'_>, Vec<u8>, Tenant)> {
    let (before, before_bytes) = crate::registry::registry_entry(tx, id).await?;
    let ttx = TenantTx::with_entry(tx, before.clone());
    Ok((ttx, before_bytes, before))
}

/// Writes `tenant` over `before` (domain index moved), audited by `actor`.
async fn write_entry(
    tx: &dyn Transaction,
    ttx: &TenantTx<'_>,
    actor: Actor,
    (before_bytes, before): (&[u8], &Tenant),
    mut tenant: Tenant,
) -> Result<Tenant> {
    tenant.domain = normalize_domain(&tenant.domain)?;
    tenant.validate()?;
    audit::check_actor(ttx, actor).await?;
    if before.domain != tenant.domain {
        let new_key = keys::tenant_domain_key(&tenant.domain);
        if tx.get(&new_key, false).await?.is_some() {
            return Err(Error::AlreadyExists {
                model: Tenant::WHAT,
                field: "domain",
            });
        }
        tx.clear(&keys::tenant_domain_key(&before.domain))?;
        tx.set(&new_key, tenant.id.uuid().as_bytes())?;
    }
    tenant.stamps = Timestamps {
        created_at_ms: before.stamps.created_at_ms,
        updated_at_ms: now_ms().max(before.stamps.created_at_ms),
    };
    let bytes = value::encode(&tenant)?;
    tx.set(&keys::tenant_registry_key(tenant.id), &bytes)?;
    audit::write(
        ttx,
        actor,
        AuditAction::Update,
        Tenant::WHAT,
        tenant.id.uuid(),
        Some(before_bytes),
        Some(&bytes),
    )?;
    Ok(tenant)
}
