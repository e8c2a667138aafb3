//! What the cases share: a tenant transaction in one statement ([`in_tenant!`]), tenants
//! provisioned as an application would, the tenant's admin as an actor, cheap password
//! hashes, a raw scan of committed rows, and the test functions of a suite
//! ([`suite_cases!`](crate::suite_cases)).

use std::sync::Arc;

use crate::Harness;
use coditect_core::audit::{self, Actor};
use coditect_core::ids::{AgentConfigId, EntityId, MemberId};
use coditect_core::keys::TenantId;
use coditect_core::model::workflow::{Step, Trigger, WorkflowDefinition};
use coditect_core::model::{
    role, AgentConfig, AgentType, Member, MemberKind, Plan, Project, RoleAssignment, TaskStatus,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record::{self, Model, Page, PageRequest};
use coditect_core::{run, Error, KvBackend, RangeOptions, Result, RetryOptions};

/// Runs `$body` (an expression, awaited inside an async block) with `$ttx` scoped to
/// `$tenant` in a fresh transaction, and commits when it returns `Ok`; the result is
/// `$body`'s.
///
macro_rules! in_tenant {
    ($db:expr, $tenant:expr, |$ttx:ident| $body:expr) => {
        $crate::support::in_tenant!(@run $db, $tenant, |$ttx| $body, |result| result.is_ok())
    };
    (@run $db:expr, $tenant:expr, |$ttx:ident| $body:expr, |$result:ident| $commit:expr) => {{
        let tx = $db.begin().await.expect("begin");
        let $result = {
            let $ttx = ::coditect_core::TenantTx::open(tx.as_ref(), $tenant)
                .await
                .expect("open tenant");
            async { $body }.await
        };
        if $commit {
            tx.commit().await.expect("commit");
        }
        $result
    }};
}
pub(crate) use in_tenant;

/// [`in_tenant!`] that commits whatever `$body` returns, as a careless caller who ignores
/// the error would.
macro_rules! in_tenant_committed {
    ($db:expr, $tenant:expr, |$ttx:ident| $body:expr) => {
        $crate::support::in_tenant!(@run $db, $tenant, |$ttx| $body, |_result| true)
    };
}
pub(crate) use in_tenant_committed;

/// Asserts that `$value` matches `$pattern`, showing the value when it does not.
macro_rules! assert_matches {
    ($value:expr, $pattern:pat) => {
        match &$value {
            value => assert!(matches!(value, $pattern), "{value:?}"),
        }
    };
}
pub(crate) use assert_matches;

/// Provisions `new` through the retry loop, as an application would.
pub(crate) async fn provision_tenant(db: &dyn KvBackend, new: NewTenant) -> Provisioned {
    let (made, _) = run(db, &RetryOptions::default(), |tx| {
        let new = new.clone();
        async move { provision(&*tx, new).await }
    })
    .await
    .expect("provision");
    made
}

/// The tenant Acme at `domain` on `plan`, its admin Ada Admin (admin@acme.test).
pub(crate) fn new_tenant(domain: &str, plan: Plan) -> NewTenant {
    NewTenant {
        id: TenantId::generate(),
        name: "Acme".into(),
        domain: domain.into(),
        plan,
        root_code: "ROOT".into(),
        admin_email: "admin@acme.test".into(),
        admin_name: "Ada Admin".into(),
    }
}

/// Provisions [`new_tenant`] through the retry loop, as an application would.
pub(crate) async fn provisioned(db: &dyn KvBackend, domain: &str, plan: Plan) -> Provisioned {
    provision_tenant(db, new_tenant(domain, plan)).await
}

/// The tenant's admin, as the actor of a write.
pub(crate) fn admin(p: &Provisioned) -> Actor {
    Actor::Member(p.admin_member.id)
}

/// The tenant's id.
pub(crate) fn tid(p: &Provisioned) -> TenantId {
    p.tenant.id
}

/// Argon2id parameters cheap enough for tests (8 KiB, 1 pass); production uses the default.
pub(crate) fn cheap_argon2() -> argon2::Params {
    argon2::Params::new(8, 1, 1, None).expect("argon2 params")
}

/// A division, a project under it, owned by the tenant's admin.
pub(crate) async fn project_in(db: &dyn KvBackend, p: &Provisioned, code: &str) -> Project {
    let project = Project::new(
        code,
        format!("Project {code}"),
        p.root.id,
        p.admin_member.id,
    );
    at(db, p).insert(project).await.expect("project")
}

/// A new agent configuration named `name`, created by the tenant's admin.
pub(crate) async fn agent_config_in(
    db: &dyn KvBackend,
    p: &Provisioned,
    name: &str,
) -> AgentConfigId {
    let config = AgentConfig::new(name, AgentType::Coder, "anthropic", "claude");
    at(db, p).insert(config).await.expect("agent config").id
}

/// A new agent member named `name`, running the configuration `config`, created by the
/// tenant's admin.
pub(crate) async fn agent_member_in(
    db: &dyn KvBackend,
    p: &Provisioned,
    config: AgentConfigId,
    name: &str,
) -> Member {
    let member = Member::new(MemberKind::Agent(config), name);
    at(db, p).insert(member).await.expect("agent member")
}

/// Gives `member` the built-in role `role` at `entity`, by the tenant's admin.
pub(crate) async fn grant(
    db: &dyn KvBackend,
    p: &Provisioned,
    member: MemberId,
    role: &str,
    entity: EntityId,
) -> RoleAssignment {
    in_tenant!(db, tid(p), |ttx| {
        let role = role::by_name(&ttx, Actor::System, role)
            .await?
            .expect("built-in role");
        record::insert(&ttx, admin(p), RoleAssignment::new(member, role.id, entity)).await
    })
    .expect("grant")
}

/// The tenant's audit events (the first thousand), read by the system.
pub(crate) async fn all_audit(db: &dyn KvBackend, tenant: TenantId) -> Vec<audit::AuditEvent> {
    let first = PageRequest::first(1000);
    let system = coditect_core::Principal::system();
    in_tenant!(db, tenant, |ttx| {
        coditect_core::model::audit_event::list(&ttx, system, &first).await
    })
    .expect("audit list")
    .items
}

/// Every committed row of `[begin, end)`.
pub async fn scan(db: &dyn KvBackend, begin: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let tx = db.begin().await.expect("begin");
    let (mut lo, hi) = (begin.to_vec(), end.to_vec());
    let mut rows = Vec::new();
    loop {
        let page = tx
            .get_range(&lo, &hi, RangeOptions::default())
            .await
            .expect("range");
        let next = page.next_range(&lo, &hi, false);
        rows.extend(page.kvs.into_iter().map(|kv| (kv.key, kv.value)));
        match next {
            Some((l, _)) => lo = l,
            None => return rows,
        }
    }
}

/// The `#[tokio::test]` functions of a suite: one per case, each running the case of the
/// same name in `$crate::$path` on a fresh `$harness`, on `$threads` worker threads. With
/// `mod $name`, inside a module of that name that sees the including file's items; without
/// it, `$alias` names the cases' module where the tests stand.
#[doc(hidden)]
#[macro_export]
macro_rules! suite_cases {
    (mod $name:ident, $threads:literal, $harness:expr, $($seg:ident)::+; $($case:ident),+ $(,)?) => {
        mod $name {
            // The harness expression may name items of the including test file.
            #[allow(unused_imports)]
            use super::*;
            $crate::suite_cases!(cases = $($seg)::+, $threads, $harness; $($case),+);
        }
    };
    ($alias:ident = $($seg:ident)::+, $threads:literal, $harness:expr; $($case:ident),+ $(,)?) => {
        use $crate::$($seg)::+ as $alias;
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn $case() {
                let harness = $harness;
                $alias::$case(&harness).await;
            }
        )+
    };
}

/// One record operation at a time in tenant `p`, each in a fresh transaction of its own
/// ([`in_tenant!`]): writes by the tenant's admin, reads by the system.
pub(crate) fn at<'a>(db: &'a dyn KvBackend, p: &Provisioned) -> At<'a> {
    At {
        db,
        tenant: tid(p),
        admin: admin(p),
    }
}

/// See [`at`].
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    db: &'a dyn KvBackend,
    tenant: TenantId,
    admin: Actor,
}

impl At<'_> {
    /// [`record::insert`] by the admin.
    pub(crate) async fn insert<M: Model>(self, record: M) -> Result<M> {
        in_tenant!(self.db, self.tenant, |ttx| {
            record::insert(&ttx, self.admin, record).await
        })
    }

    /// [`record::update`] by the admin.
    pub(crate) async fn update<M: Model>(self, record: M) -> Result<M> {
        in_tenant!(self.db, self.tenant, |ttx| {
            record::update(&ttx, self.admin, record).await
        })
    }

    /// [`record::delete`] by the admin.
    pub(crate) async fn delete<M: Model>(self, id: M::Id) -> Result<M> {
        in_tenant!(self.db, self.tenant, |ttx| {
            record::delete::<M>(&ttx, self.admin, id).await
        })
    }

    /// [`record::get`] by the system.
    pub(crate) async fn get<M: Model>(self, id: M::Id) -> Result<Option<M>> {
        in_tenant!(self.db, self.tenant, |ttx| {
            record::get::<M>(&ttx, Actor::System, id).await
        })
    }

    /// [`record::require`] by the system.
    pub(crate) async fn require<M: Model>(self, id: M::Id) -> Result<M> {
        in_tenant!(self.db, self.tenant, |ttx| {
            record::require::<M>(&ttx, Actor::System, id).await
        })
    }

    /// [`record::list`] of the first `limit` by the system.
    pub(crate) async fn list<M: Model>(self, limit: usize) -> Result<Page<M>> {
        let first = page_of(limit);
        in_tenant!(self.db, self.tenant, |ttx| {
            record::list::<M>(&ttx, Actor::System, &first).await
        })
    }
}

/// Asserts that `error` refuses the delete of a `model` record because a record's
/// `collection.field` refers to it.
#[track_caller]
pub(crate) fn assert_still_referenced(error: &Error, model: &str, collection: &str, field: &str) {
    assert!(
        matches!(
            error,
            Error::StillReferenced { model: m, by, .. }
                if *m == model && by.iter().any(|r| r.collection == collection && r.field == field)
        ),
        "{error:?}"
    );
}

/// The first page of at most `limit` items.
pub(crate) fn page_of(limit: usize) -> PageRequest {
    PageRequest::first(limit)
}

/// A workflow of `steps` (each an instruction to "do" it), run by hand or when a task is done.
pub(crate) fn definition(steps: &[&str]) -> WorkflowDefinition {
    WorkflowDefinition {
        steps: steps
            .iter()
            .map(|name| Step {
                name: (*name).into(),
                instruction: format!("do {name}"),
                agent: None,
            })
            .collect(),
        triggers: vec![Trigger::Manual, Trigger::TaskStatus(TaskStatus::Done)],
    }
}

/// A workflow of the one step `step`, run by hand.
pub(crate) fn manual_workflow(step: &str) -> WorkflowDefinition {
    WorkflowDefinition {
        steps: vec![Step {
            name: step.into(),
            instruction: format!("do {step}"),
            agent: None,
        }],
        triggers: vec![Trigger::Manual],
    }
}

/// The backend of the case `h` and a tenant of it ([`provisioned`]).
pub(crate) async fn tenant_of(
    h: &dyn Harness,
    domain: &str,
    plan: Plan,
) -> (Arc<dyn KvBackend>, Provisioned) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), domain, plan).await;
    (db, p)
}
