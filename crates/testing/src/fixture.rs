//! A tenant set up for a test in one call: [`Company::onboard`] provisions it (Enterprise
//! plan, so no quota gets in the way) and [`Company::human`] / [`Company::agent`] add members
//! holding a built-in access role (`admin`, `maintainer`, `contributor`, `viewer`) at the
//! root entity. Members are made by the tenant's Admin, so the audit trail reads as an
//! application's would.

use std::sync::Arc;

use coditect_core::ids::{EntityId, MemberId};
use coditect_core::model::{
    role_assignment, AgentConfig, AgentType, Member, MemberKind, Plan, RoleAssignment, User,
    UserRole,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::{
    record, run, run_in_tenant, KvBackend, Principal, Result, RetryOptions, TenantId,
};

/// A fresh in-memory backend with the default limits.
pub fn memory() -> Arc<dyn KvBackend> {
    Arc::new(coditect_mem::new_backend(
        coditect_mem::EngineOptions::default(),
    ))
}

/// A provisioned tenant and the backend it lives on.
pub struct Company {
    db: Arc<dyn KvBackend>,
    /// What provisioning made: the registry entry, the first Admin and its member, the root.
    pub made: Provisioned,
}

impl Company {
    /// Provisions the tenant `name` at `domain` (its Admin `admin@<domain>`) on the
    /// Enterprise plan.
    pub async fn onboard(db: Arc<dyn KvBackend>, name: &str, domain: &str) -> Result<Company> {
        let new =
            NewTenant::new(name, domain, format!("admin@{domain}")).with_plan(Plan::Enterprise);
        let (made, _) = run(db.as_ref(), &RetryOptions::default(), |tx| {
            let new = new.clone();
            async move { provision(&*tx, new).await }
        })
        .await?;
        Ok(Company { db, made })
    }

    /// The tenant's id.
    pub fn tenant(&self) -> TenantId {
        self.made.tenant.id
    }

    /// The backend the tenant lives on.
    pub fn db(&self) -> &dyn KvBackend {
        self.db.as_ref()
    }

    /// The first Admin, as a principal.
    pub fn admin(&self) -> Principal {
        Principal::member(self.made.admin_member.id)
    }

    /// The root Corporation entity.
    pub fn root(&self) -> EntityId {
        self.made.root.id
    }

    /// A human member `name` (user `name@<domain>`) holding `role` at the root.
    pub async fn human(&self, name: &str, role: &str) -> Result<Member> {
        let email = format!("{name}@{}", self.made.tenant.domain);
        let (admin, name) = (self.admin(), name.to_owned());
        let member = self
            .in_tenant(move |ttx| async move {
                let user = User::new(email, name.clone(), UserRole::Guest);
                let user = record::insert(&ttx, admin, user).await?;
                let member = Member::new(MemberKind::Human(user.id), name);
                record::insert(&ttx, admin, member).await
            })
            .await?;
        self.grant(member.id, role, self.root()).await?;
        Ok(member)
    }

    /// An AI agent member `name` (an agent configuration of that name) holding `role` at
    /// the root.
    pub async fn agent(&self, name: &str, role: &str) -> Result<Member> {
        let (admin, name) = (self.admin(), name.to_owned());
        let member = self
            .in_tenant(move |ttx| async move {
                let config = AgentConfig::new(&name, AgentType::Coder, "anthropic", "claude");
                let config = record::insert(&ttx, admin, config).await?;
                record::insert(&ttx, admin, Member::new(MemberKind::Agent(config.id), name)).await
            })
            .await?;
        self.grant(member.id, role, self.root()).await?;
        Ok(member)
    }

    /// Grants `member` the access role named `role` at `entity`.
    pub async fn grant(
        &self,
        member: MemberId,
        role: &str,
        entity: EntityId,
    ) -> Result<RoleAssignment> {
        let (admin, role) = (self.admin(), role.to_owned());
        self.in_tenant(move |ttx| async move {
            role_assignment::grant(&ttx, admin, member, &role, entity).await
        })
        .await
    }

    /// Runs `body` in one retried transaction of the tenant and returns its value.
    pub async fn in_tenant<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnOnce(coditect_core::TenantTx<'static>) -> Fut + Clone,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let (value, _) =
            run_in_tenant(self.db(), &RetryOptions::default(), self.tenant(), body).await?;
        Ok(value)
    }
}
