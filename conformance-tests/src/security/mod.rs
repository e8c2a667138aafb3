//! Security inside a tenant: who may do what, tried as an attacker with a seat in the tenant
//! would. [`matrix`] holds the authorization matrix (its expectations written as data),
//! [`regressions`] one case per finding of the outside review, [`policy`] a property test
//! against a small reference model of the policy.
//!
//! Every case provisions its own tenants, so the cases also run side by side on one cluster.

use coditect_core::audit::query::{self, AuditQuery};
use coditect_core::audit::{Actor, AuditAction, AuditPosition};
use coditect_core::ids::{AgentConfigId, EntityId, MemberId, ProjectId, TaskId, UserId};
use coditect_core::model::{
    role, AgentConfig, AgentType, ApiKey, Conversation, Entity, EntityKind, Member, MemberKind,
    Plan, Project, RoleAssignment, Task, User, UserRole, UserStatus,
};
use coditect_core::provision::Provisioned;
use coditect_core::rbac::{Action, Permission, ResourceKind};
use coditect_core::record;
use coditect_core::{run, Error, KvBackend, Principal, Result, RetryOptions, TenantId, TenantTx};

pub(crate) use crate::support::{cheap_argon2, grant, manual_workflow, provisioned};

pub mod exactly_once;
pub mod matrix;
pub mod policy;
pub mod regressions;

pub use exactly_once::*;
pub use matrix::*;
pub use policy::*;
pub use regressions::*;

/// Runs `body` as one retry-loop transaction in `tenant`, denials audited
/// ([`run_in_tenant`]), and returns its result.
macro_rules! attempt {
    ($db:expr, $tenant:expr, |$ttx:ident| $body:expr) => {{
        coditect_core::run_in_tenant(
            $db,
            &coditect_core::RetryOptions::default(),
            $tenant,
            |$ttx| async move { $body },
        )
        .await
        .map(|(value, _)| value)
    }};
}
pub(crate) use attempt;

/// A tenant on the Enterprise plan (no quotas in the way), provisioned as an application would.
pub(crate) async fn tenant(db: &dyn KvBackend, domain: &str) -> Provisioned {
    provisioned(db, domain, Plan::Enterprise).await
}

/// Who a member is: a human (a user of the Developer role) or an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Human,
    Agent,
}

/// A member of `kind` named `name` holding the built-in `role` (if any) at the root; a human
/// is a [guest](UserRole::Guest) user, so that its grants are its assignments, as an
/// agent's are.
pub(crate) async fn member(
    db: &dyn KvBackend,
    p: &Provisioned,
    kind: Kind,
    name: &str,
    role_name: Option<&str>,
) -> Member {
    member_as(db, p, kind, name, UserRole::Guest, role_name).await
}

/// [`member`] with the user role `user_role` for a human.
pub(crate) async fn member_as(
    db: &dyn KvBackend,
    p: &Provisioned,
    kind: Kind,
    name: &str,
    user_role: UserRole,
    role_name: Option<&str>,
) -> Member {
    let name = name.to_owned();
    let m = attempt!(db, p.tenant.id, |ttx| {
        let member_kind = match kind {
            Kind::Human => {
                let email = format!("{name}@acme.test");
                let user = User::new(email, name.clone(), user_role);
                MemberKind::Human(record::insert(&ttx, Actor::System, user).await?.id)
            }
            Kind::Agent => {
                let config = AgentConfig::new(&name, AgentType::Coder, "anthropic", "claude");
                MemberKind::Agent(record::insert(&ttx, Actor::System, config).await?.id)
            }
        };
        record::insert(&ttx, Actor::System, Member::new(member_kind, &name)).await
    })
    .expect("member");
    if let Some(role_name) = role_name {
        grant(db, p, m.id, role_name, p.root.id).await;
    }
    m
}

/// The user behind a human member.
pub(crate) fn user_of(m: &Member) -> UserId {
    match m.kind {
        MemberKind::Human(user) => user,
        MemberKind::Agent(_) => panic!("{} is an agent", m.display_name),
    }
}

/// Sets the status of `user` (as the system).
pub(crate) async fn set_user_status(
    db: &dyn KvBackend,
    tenant: TenantId,
    user: UserId,
    status: UserStatus,
) {
    attempt!(db, tenant, |ttx| {
        let mut u = record::require::<User>(&ttx, Actor::System, user).await?;
        u.status = status;
        record::update(&ttx, Actor::System, u).await
    })
    .expect("user status");
}

/// An API key of `member` with `scopes` (empty: the member's rights), stored; and its secret.
pub(crate) async fn api_key(
    db: &dyn KvBackend,
    tenant: TenantId,
    member: MemberId,
    scopes: &[Permission],
) -> (ApiKey, String) {
    let (mut key, secret) = ApiKey::generate(member, "key");
    key.scopes = scopes.iter().copied().collect();
    let key = attempt!(db, tenant, |ttx| {
        record::insert(&ttx, Actor::System, key).await
    })
    .expect("api key");
    (key, secret)
}

/// A tenant laid out for the cases: Corporation > Division > Team, a project in the team, a
/// task, an agent configuration and instance, a conversation; and a member `other` who owns
/// the content the principals act on (so acting on it is acting on another's content).
pub(crate) struct Org {
    pub p: Provisioned,
    pub division: EntityId,
    pub team: EntityId,
    pub project: ProjectId,
    pub task: TaskId,
    pub config: AgentConfigId,
    pub instance: coditect_core::ids::AgentInstanceId,
    pub conversation: coditect_core::ids::ConversationId,
    pub other: Member,
}

impl Org {
    pub(crate) async fn new(db: &dyn KvBackend, domain: &str) -> Org {
        let p = tenant(db, domain).await;
        let other = member(db, &p, Kind::Human, "other", Some("contributor")).await;
        let (root, owner) = (p.root.id, other.id);
        let made = attempt!(db, p.tenant.id, |ttx| {
            let s = Actor::System;
            let division = Entity::new("DIV", "Division", EntityKind::Division, Some(root));
            let division = record::insert(&ttx, s, division).await?.id;
            let team = Entity::new("TEAM", "Team", EntityKind::Team, Some(division));
            let team = record::insert(&ttx, s, team).await?.id;
            let project = Project::new("PRJ", "Project", team, owner);
            let project = record::insert(&ttx, s, project).await?.id;
            let task = record::insert(&ttx, s, Task::new(project, "Task", owner))
                .await?
                .id;
            let config = AgentConfig::new("runner", AgentType::Coder, "anthropic", "claude");
            let config = record::insert(&ttx, s, config).await?.id;
            let instance = coditect_core::model::AgentInstance::new(config, "eu-1");
            let instance = record::insert(&ttx, s, instance).await?.id;
            let chat = Conversation::new(owner, "Chat");
            let chat = record::insert(&ttx, s, chat).await?.id;
            Ok((division, team, project, task, config, instance, chat))
        })
        .expect("org");
        let (division, team, project, task, config, instance, conversation) = made;
        Org {
            p,
            division,
            team,
            project,
            task,
            config,
            instance,
            conversation,
            other,
        }
    }

    pub(crate) fn tenant(&self) -> TenantId {
        self.p.tenant.id
    }
}

/// Follows a tenant's audit trail: how many denials were recorded since the last look.
pub(crate) struct DenialWatch {
    tenant: TenantId,
    seen: Option<AuditPosition>,
}

impl DenialWatch {
    /// Starts after every event the tenant has now.
    pub(crate) async fn new(db: &dyn KvBackend, tenant: TenantId) -> Self {
        let mut watch = DenialWatch { tenant, seen: None };
        watch.take(db).await;
        watch
    }

    /// The denials `(actor, action)` recorded since the last call, oldest first.
    pub(crate) async fn take(&mut self, db: &dyn KvBackend) -> Vec<(Actor, Action)> {
        let seen = self.seen;
        let newest =
            attempt!(db, self.tenant, |ttx| newest_events(&ttx, seen).await).expect("audit read");
        if let Some((position, _)) = newest.first() {
            self.seen = Some(*position);
        }
        newest
            .into_iter()
            .rev()
            .filter_map(|(_, event)| match event.action {
                AuditAction::Denied(action) => Some((event.actor, action)),
                _ => None,
            })
            .collect()
    }
}

/// The events after `seen`, newest first (at most 200: a case makes a handful at a time).
async fn newest_events(
    ttx: &TenantTx<'_>,
    seen: Option<AuditPosition>,
) -> Result<Vec<(AuditPosition, coditect_core::audit::AuditEvent)>> {
    let page = query::by_time(ttx, Principal::system(), &AuditQuery::newest(200)).await?;
    Ok(page
        .items
        .into_iter()
        .take_while(|entry| Some(entry.position) != seen)
        .map(|entry| (entry.position, entry.event))
        .collect())
}

/// Whether `result` is a denial ([`Error::Forbidden`]); any other error fails the case.
pub(crate) fn denied<T: std::fmt::Debug>(what: &str, result: &Result<T>) -> bool {
    match result {
        Ok(_) => false,
        Err(Error::Forbidden { .. }) => true,
        Err(other) => panic!("{what}: not a denial but {other:?}"),
    }
}

/// The permission a narrow key is limited to in the cases: reading tasks and projects.
pub(crate) const NARROW_SCOPES: [Permission; 2] = [
    Permission::new(Action::Read, ResourceKind::Task),
    Permission::new(Action::Read, ResourceKind::Project),
];
