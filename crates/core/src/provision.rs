//! Tenant provisioning: everything a new tenant starts with, in one transaction, audited with
//! the system actor: the registry entry and its global domain index, the root Corporation
//! entity, and a first Admin user (invited, without a password: setting one costs an Argon2id
//! hash, tens of milliseconds, and is its own operation) with their member, and the built-in
//! access roles (admin, maintainer, contributor, viewer), which the tenant may then edit.

use crate::audit::{self, Actor, AuditAction};
use crate::error::Result;
use crate::keys::TenantId;
use crate::kv::Transaction;
use crate::model::entity::{self, Entity, EntityKind};
use crate::model::member::{self, Member, MemberKind};
use crate::model::role::built_in_roles;
use crate::model::tenant::{self, normalize_domain, Plan, Tenant, TenantStatus};
use crate::model::user::{self, User, UserRole};
use crate::principal::Principal;
use crate::record::{self, now_ms, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// What a new tenant is made of.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Its id: generate it ([`TenantId::generate`]) once, outside a retry loop, so that a retry
    /// after an unknown commit result finds the tenant it may already have made
    /// ([`Error::AlreadyExists`](crate::Error::AlreadyExists) on `id`).
    pub id: TenantId,
    /// Display name; also the root entity's name.
    pub name: String,
    /// Its globally unique domain.
    pub domain: String,
    /// Its plan, which sets its quotas.
    pub plan: Plan,
    /// The code of the root Corporation entity.
    pub root_code: String,
    /// The first Admin's email.
    pub admin_email: String,
    /// The first Admin's name.
    pub admin_name: String,
}

impl NewTenant {
    /// A tenant named `name` at `domain` on the Free plan, its first Admin at `admin_email`
    /// (named after the address's local part), with a fresh id (drawn once per
    /// [`run`](crate::run), so a retried provisioning finds the tenant it made) and a root
    /// code derived from the name ([`root_code`]). Change the public fields for the rest.
    pub fn new(
        name: impl Into<String>,
        domain: impl Into<String>,
        admin_email: impl Into<String>,
    ) -> Self {
        let name = name.into();
        let admin_email = admin_email.into();
        let admin_name = admin_email
            .split('@')
            .next()
            .filter(|local| !local.is_empty())
            .unwrap_or("admin")
            .to_owned();
        NewTenant {
            id: TenantId::generate(),
            root_code: root_code(&name),
            name,
            domain: domain.into(),
            plan: Plan::Free,
            admin_email,
            admin_name,
        }
    }

    /// The same, on `plan`.
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plan = plan;
        self
    }
}

/// The code of a tenant's root entity from its name: its ASCII letters and digits,
/// upper-cased, at most 64 of them; `ROOT` when the name has none.
pub fn root_code(name: &str) -> String {
    let code: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(64)
        .collect();
    if code.is_empty() {
        "ROOT".into()
    } else {
        code
    }
}

/// What provisioning made.
#[derive(Clone, Debug)]
pub struct Provisioned {
    /// The registry entry.
    pub tenant: Tenant,
    /// The first Admin (invited).
    pub admin: User,
    /// The Admin's member.
    pub admin_member: Member,
    /// The root Corporation.
    pub root: Entity,
}

/// Provisions a tenant in `tx` (commit it to make it so). Fails with
/// [`Error::AlreadyExists`](crate::Error::AlreadyExists) when the id or the domain is taken,
/// and with [`Error::InvalidInput`](crate::Error::InvalidInput) on bad input; nothing is
/// written then (drop the transaction). Idempotent: when the tenant was already provisioned
/// exactly as `new` asks (the same id, name, domain and plan: a retry after
/// `CommitUnknownResult`), it returns that tenant and writes nothing.
pub async fn provision(tx: &dyn Transaction, new: NewTenant) -> Result<Provisioned> {
    if let Some(done) = already_provisioned(tx, &new).await? {
        return Ok(done);
    }
    let now = now_ms();
    let tenant = Tenant {
        id: new.id,
        name: new.name.clone(),
        domain: normalize_domain(&new.domain)?,
        plan: new.plan,
        quotas: new.plan.default_quotas(),
        status: TenantStatus::Active,
        stamps: Timestamps {
            created_at_ms: now,
            updated_at_ms: now,
        },
    };
    let bytes = tenant::register(tx, &tenant).await?;
    // Read-your-writes: the registry entry just written makes the tenant openable.
    let ttx = TenantTx::open(tx, tenant.id).await?;
    audit::seal::start_chain(&ttx).await?;
    audit::write(
        &ttx,
        Actor::System,
        AuditAction::Create,
        Tenant::WHAT,
        tenant.id.uuid(),
        None,
        Some(&bytes),
    )?;
    let root = record::insert(
        &ttx,
        Actor::System,
        Entity::new(new.root_code, new.name, EntityKind::Corporation, None),
    )
    .await?;
    let admin = record::insert(
        &ttx,
        Actor::System,
        User::new(new.admin_email, new.admin_name, UserRole::Admin),
    )
    .await?;
    let admin_member = record::insert(
        &ttx,
        Actor::System,
        Member::new(MemberKind::Human(admin.id), admin.name.clone()),
    )
    .await?;
    for role in built_in_roles() {
        record::insert(&ttx, Actor::System, role).await?;
    }
    Ok(Provisioned {
        tenant,
        admin,
        admin_member,
        root,
    })
}

/// The tenant `new` describes, when it was already provisioned exactly as asked (same id,
/// name, domain and plan, with its root entity, admin and admin member): provisioning is
/// retried after `CommitUnknownResult`, and the retry must find the earlier attempt's tenant
/// rather than refuse it as taken. Anything else under that id is left to `register`, which
/// refuses it.
async fn already_provisioned(tx: &dyn Transaction, new: &NewTenant) -> Result<Option<Provisioned>> {
    let Some(tenant) = tenant::get(tx, new.id).await? else {
        return Ok(None);
    };
    if tenant.name != new.name
        || tenant.domain != normalize_domain(&new.domain)?
        || tenant.plan != new.plan
        || tenant.status != TenantStatus::Active
    {
        return Ok(None);
    }
    let ttx = TenantTx::open(tx, tenant.id).await?;
    let mut root = Entity::new(
        new.root_code.clone(),
        new.name.clone(),
        EntityKind::Corporation,
        None,
    );
    record::Model::normalize(&mut root);
    let Some(root) = entity::by_code(&ttx, Principal::system(), &root.code).await? else {
        return Ok(None);
    };
    let Some(admin) = user::by_email(&ttx, Principal::system(), &new.admin_email).await? else {
        return Ok(None);
    };
    let Some(admin_member) = member::by_user(&ttx, Principal::system(), admin.id).await? else {
        return Ok(None);
    };
    Ok(Some(Provisioned {
        tenant,
        admin,
        admin_member,
        root,
    }))
}
