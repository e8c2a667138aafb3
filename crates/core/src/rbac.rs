//! Role-based access control with inheritance down the entity tree.
//!
//! A member may do [`Action`] A on a resource whose scope is entity E when one of their
//! [`RoleAssignment`](crate::model::RoleAssignment)s, at E or at any ancestor of E, names a [`Role`] granting A on the
//! resource's [`ResourceKind`]. Tenant Admin users (the user role `Admin`, not disabled) hold
//! everything in their tenant. Humans and agents are checked alike: both are members.
//!
//! ```text
//!   Corporation ─┬─ Division A ── Department ── Team X     grant "maintainer" at Division A:
//!                └─ Division B ── Team Y                    allowed in A, its Department, Team X;
//!                                                           not in Division B nor Team Y
//! ```
//!
//! Records of tenant-wide models (roles, users, agent configurations, ...) have the
//! [`Scope::Tenant`]: only assignments at a root entity (a Corporation) reach them.
//!
//! The decision ([`Access`]) weighs, in this order:
//!
//! 1. the principal ([`Principal`]): the system may do everything, the platform operator
//!    only read; a member goes on;
//! 2. the member: it must exist, and a human's user must not be
//!    [`Disabled`](crate::model::UserStatus::Disabled) (a disabled user may do nothing, and its
//!    sessions and keys stop authenticating);
//! 3. the credential, checked again in the transaction: a session or API key must still be
//!    valid, and a key's scopes (when it has any) bound every action; a key never creates,
//!    changes or deletes sessions or keys;
//! 4. ownership, for models with an author or owner ([`Model::owner`]): acting on another
//!    member's content (creating it in their name, editing, deleting; for private models such
//!    as sessions and keys, also reading) needs [`Action::ManageOthers`] on top of the
//!    action; a member's own sessions and keys are self-service;
//! 5. grants: a tenant Admin user holds every action; a user's role grants its tenant-wide
//!    baseline ([`UserRole`]: Manager, Developer and Viewer
//!    hold the built-in maintainer, contributor and viewer permissions everywhere, a Guest
//!    nothing); otherwise a role held at the resource's entity or an ancestor must grant it.
//!
//! What one check reads, all in the caller's transaction (so moving an entity, or changing a
//! role, an assignment, a user's status or a credential, conflicts with a check that read the
//! old state, and a check never sees a stale cache): the member record and, for a human, their
//! user record; the session or key; the member's assignments, as one range read of an index
//! whose keys carry the entity and the role; one record per distinct role held; then one
//! entity per hierarchy level, walking up from the resource's entity. An [`Access`] keeps
//! what it read for the rest of its transaction, so a list checks 50 items for little more
//! than one. Nothing is cached across transactions.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::ids::{EntityId, MemberId, ProjectId, RoleId};
use crate::model::api_key::ApiKey;
use crate::model::entity::{self, Entity};
use crate::model::member;
use crate::model::project::Project;
use crate::model::role::{built_in_roles, Role};
use crate::model::role_assignment;
use crate::model::session::Session;
use crate::model::user::UserRole;
use crate::principal::{Credential, Principal};
use crate::record::{self, Model};
use crate::tenant_tx::TenantTx;

/// What a member does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    /// Read it.
    Read,
    /// Create it.
    Create,
    /// Change it.
    Update,
    /// Delete it.
    Delete,
    /// Act on another member's content: create it in their name, edit or delete what they
    /// authored, read their private records (sessions, keys, personal settings), set their
    /// password. Checked on top of the action itself.
    ManageOthers,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::ManageOthers,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::ManageOthers => "manage others'",
        })
    }
}

/// What kind of resource a permission is about: one per model, or any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)] // each variant is the model of the same name
pub enum ResourceKind {
    /// Every kind of resource.
    Any,
    Entity,
    User,
    Member,
    Project,
    Task,
    Comment,
    File,
    AgentConfig,
    AgentInstance,
    AgentExecution,
    Workflow,
    Conversation,
    Message,
    Role,
    RoleAssignment,
    Session,
    ApiKey,
    AuditEvent,
    Usage,
    Setting,
    /// The tenant's own settings (name, domain, plan, quotas): tenant Admins'.
    Tenant,
}

impl ResourceKind {
    /// Sessions and API keys: what an API key may never create.
    pub fn is_credential(self) -> bool {
        matches!(self, ResourceKind::Session | ResourceKind::ApiKey)
    }
}

/// One action on one kind of resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Permission {
    /// The action allowed.
    pub action: Action,
    /// On what ([`ResourceKind::Any`] for everything).
    pub resource: ResourceKind,
}

impl Permission {
    /// `action` on `resource`.
    pub const fn new(action: Action, resource: ResourceKind) -> Self {
        Permission { action, resource }
    }

    /// Whether this permission allows `action` on `kind`.
    pub fn allows(self, action: Action, kind: ResourceKind) -> bool {
        self.action == action && (self.resource == ResourceKind::Any || self.resource == kind)
    }
}

/// Where a resource sits in the organisation: under an entity, or tenant-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Tenant-wide: reached by assignments at a root entity, and by tenant Admins.
    Tenant,
    /// Under this entity: reached by assignments at it or at any ancestor.
    Entity(EntityId),
}

/// The resource an action is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Its kind, which permissions name.
    pub kind: ResourceKind,
    /// Its model's name (for errors and the audit event of a denial).
    pub model: &'static str,
    /// Its record id.
    pub id: Uuid,
    /// Where it sits.
    pub scope: Scope,
    /// The member whose content it is ([`Model::owner`]), if its model has owners.
    pub owner: Option<MemberId>,
    /// Whether reading it, when it is another member's, needs [`Action::ManageOthers`].
    pub private: bool,
    /// Whether its owner may act on it without a grant (their own sessions and keys).
    pub self_service: bool,
}

impl Resource {
    /// The resource that `record` is, with its scope read in the transaction.
    pub async fn of<M: Model>(ttx: &TenantTx<'_>, record: &M) -> Result<Self> {
        Ok(Resource {
            kind: M::RESOURCE,
            model: <M as crate::value::Versioned>::WHAT,
            id: crate::ids::RecordId::uuid(record.id()),
            scope: record.scope(ttx).await?,
            owner: record.owner(),
            private: M::PRIVATE,
            self_service: M::SELF_SERVICE,
        })
    }

    /// A resource of `kind` with no owner (for special operations and questions such as
    /// "may this member create tasks under that entity").
    pub fn new(kind: ResourceKind, model: &'static str, id: Uuid, scope: Scope) -> Self {
        Resource {
            kind,
            model,
            id,
            scope,
            owner: None,
            private: false,
            self_service: false,
        }
    }
}

/// The permissions `role` grants tenant-wide: those of the built-in access role it names,
/// computed once per process.
fn baseline(role: UserRole) -> &'static [Permission] {
    static BASELINES: OnceLock<Vec<(UserRole, Vec<Permission>)>> = OnceLock::new();
    let all = BASELINES.get_or_init(|| {
        let built_in = built_in_roles();
        [
            UserRole::Admin,
            UserRole::Manager,
            UserRole::Developer,
            UserRole::Viewer,
            UserRole::Guest,
        ]
        .into_iter()
        .map(|role| {
            let permissions = role
                .built_in_role()
                .and_then(|name| built_in.iter().find(|r| r.name == name))
                .map(|r| r.permissions.iter().copied().collect())
                .unwrap_or_default();
            (role, permissions)
        })
        .collect()
    });
    all.iter()
        .find(|(r, _)| *r == role)
        .map_or(&[], |(_, permissions)| permissions.as_slice())
}

/// How far up the tree a walk goes before the tree is taken to be corrupt (the levels allow 4).
const MAX_DEPTH: usize = 64;

/// Fails with [`Error::Forbidden`] unless `by` may do `action` on `resource`
/// ([`is_allowed`]). The denial is not audited here (the caller's transaction will not
/// commit); see [`audit::record_denial`](crate::audit::record_denial).
pub async fn authorize(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    action: Action,
    resource: &Resource,
) -> Result<()> {
    let by = by.into();
    Access::load(ttx, by)
        .await?
        .require(ttx, action, resource)
        .await
}

/// Fails with [`Error::Forbidden`](crate::Error::Forbidden) unless `by` may read `kind`
/// tenant-wide: the check for what no single record guards, such as the audit trail, a
/// model's totals or a collection's counter, which only a principal allowed to read every
/// record of the kind may see.
pub(crate) async fn authorize_tenant_read(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    kind: ResourceKind,
    model: &'static str,
) -> Result<()> {
    let resource = Resource::new(kind, model, Uuid::nil(), Scope::Tenant);
    authorize(ttx, by, Action::Read, &resource).await
}

/// Whether `by` may do `action` on `resource` (no error for a denial): the one decision of
/// [the module documentation](self). An invalid credential (an expired or revoked session
/// or key) is [`Error::Unauthenticated`], not a denial.
pub async fn is_allowed(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    action: Action,
    resource: &Resource,
) -> Result<bool> {
    Access::load(ttx, by.into())
        .await?
        .allows(ttx, action, resource)
        .await
}

/// A member holding at most this many role assignments has them read at once (one small
/// range read, cheaper than a read per entity on a resource's path); one holding more has
/// them read per entity, so a check costs the same whatever the member holds elsewhere.
const FEW_ASSIGNMENTS: usize = 8;

/// What one principal may do, loaded once in one transaction and asked many times (a list
/// checks each of its items against one `Access`). Caches live as long as the value, which
/// never outlives its transaction.
pub struct Access {
    principal: Principal,
    state: State,
}

enum State {
    /// The system: everything.
    All,
    /// The platform operator: reads only, through the record layer.
    ReadOnly,
    /// A member that cannot act: unknown, or its user is disabled.
    Nothing,
    /// A member, with its grants.
    Member(Box<Grants>),
}

/// A member's grants and what checking them has read so far.
struct Grants {
    member: MemberId,
    /// A tenant Admin user: every action on everything (still within a key's scopes).
    admin: bool,
    /// What the user's role grants tenant-wide (empty for agents and guests).
    baseline: &'static [Permission],
    /// The key's scopes, when it came with an API key that has some.
    scopes: Option<BTreeSet<Permission>>,
    /// Whether it authenticated with an API key (which may not mint credentials).
    by_api_key: bool,
    /// Every `(entity, role)` the member holds, when it holds few ([`FEW_ASSIGNMENTS`]): read
    /// at once, in one small range read.
    all_held: Option<Vec<(EntityId, RoleId)>>,
    /// Otherwise the roles held at each entity asked about so far: an assignment is read only
    /// where a check needs it, on the path from a resource to the root or at a root.
    held_at: Vec<(EntityId, Vec<RoleId>)>,
    /// The tenant's root entities, once a tenant-wide check has read them.
    roots: Option<Vec<EntityId>>,
    /// Roles read so far (`None`: deleted).
    roles: Vec<(RoleId, Option<BTreeSet<Permission>>)>,
    /// Entities' parents read so far.
    parents: Vec<(EntityId, Option<EntityId>)>,
}

impl Access {
    /// Loads what `principal` may do: for a member, its record, its user's status, its
    /// credential (checked again: [`Error::Unauthenticated`] when no longer valid); its role
    /// assignments are read as checks need them, only at the entities on the path from a
    /// resource to its root (so a check costs the same whatever the member holds elsewhere).
    /// Reads are not snapshots, so a concurrent revoke,
    /// disable or grant change conflicts with a transaction that relied on the old state.
    pub async fn load(ttx: &TenantTx<'_>, principal: Principal) -> Result<Self> {
        let state = match principal {
            Principal::System => State::All,
            Principal::Operator => State::ReadOnly,
            Principal::Member { member, credential } => {
                match Grants::load(ttx, member, credential).await? {
                    Some(grants) => State::Member(Box::new(grants)),
                    None => State::Nothing,
                }
            }
        };
        Ok(Access { principal, state })
    }

    /// The principal this is about.
    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// Whether this is the system, which every check allows (lists skip their filter).
    pub fn is_unrestricted(&self) -> bool {
        matches!(self.state, State::All)
    }

    /// [`Error::Forbidden`] unless [`allows`](Access::allows).
    pub async fn require(
        &mut self,
        ttx: &TenantTx<'_>,
        action: Action,
        resource: &Resource,
    ) -> Result<()> {
        if self.allows(ttx, action, resource).await? {
            return Ok(());
        }
        Err(Error::Forbidden {
            actor: self.principal.actor(),
            action,
            model: resource.model,
            id: resource.id,
        })
    }

    /// Whether the principal may do `action` on `resource`.
    pub async fn allows(
        &mut self,
        ttx: &TenantTx<'_>,
        action: Action,
        resource: &Resource,
    ) -> Result<bool> {
        match &mut self.state {
            State::All => Ok(true),
            State::ReadOnly => Ok(action == Action::Read),
            State::Nothing => Ok(false),
            State::Member(grants) => grants.allows(ttx, action, resource).await,
        }
    }
}

impl Grants {
    /// `None` when the member cannot act at all (no such member, or a disabled user).
    async fn load(
        ttx: &TenantTx<'_>,
        member: MemberId,
        credential: Credential,
    ) -> Result<Option<Grants>> {
        let Some(user_role) = member::acting_as(ttx, member).await? else {
            return Ok(None);
        };
        let admin = user_role == Some(UserRole::Admin);
        let scopes = credential_scopes(ttx, member, credential).await?;
        let all_held = if admin {
            Some(Vec::new())
        } else {
            role_assignment::held_by_if_few(ttx, member, FEW_ASSIGNMENTS).await?
        };
        Ok(Some(Grants {
            member,
            admin,
            baseline: user_role.map_or(&[], baseline),
            scopes,
            by_api_key: matches!(credential, Credential::ApiKey(_)),
            all_held,
            held_at: Vec::new(),
            roots: None,
            roles: Vec::new(),
            parents: Vec::new(),
        }))
    }

    async fn allows(
        &mut self,
        ttx: &TenantTx<'_>,
        action: Action,
        resource: &Resource,
    ) -> Result<bool> {
        let own = resource.owner == Some(self.member);
        if self.by_api_key && action != Action::Read && resource.kind.is_credential() {
            // A key never mints or changes credentials, whatever its scopes: a narrow key
            // could otherwise make itself (or a new key) a wide one.
            return Ok(false);
        }
        if own && resource.self_service {
            return Ok(self.in_scopes(action, resource.kind));
        }
        let others = resource.owner.is_some() && !own;
        if others && (action != Action::Read || resource.private) {
            // Another member's content: acting on it (or reading it, when private) needs
            // the right to act for others as well as the action itself.
            if !self.granted(ttx, Action::ManageOthers, resource).await? {
                return Ok(false);
            }
        }
        self.granted(ttx, action, resource).await
    }

    fn in_scopes(&self, action: Action, kind: ResourceKind) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|scopes| scopes.iter().any(|p| p.allows(action, kind)))
    }

    /// Whether a grant (Admin, or a role held at the resource's entity or above) allows
    /// `action` on the resource's kind, within the key's scopes.
    async fn granted(
        &mut self,
        ttx: &TenantTx<'_>,
        action: Action,
        resource: &Resource,
    ) -> Result<bool> {
        if !self.in_scopes(action, resource.kind) {
            return Ok(false);
        }
        if self.admin
            || self
                .baseline
                .iter()
                .any(|p| p.allows(action, resource.kind))
        {
            return Ok(true);
        }
        if self.all_held.as_ref().is_some_and(Vec::is_empty) {
            // No assignment anywhere: nothing on any path grants (no entity need be read).
            return Ok(false);
        }
        match resource.scope {
            Scope::Entity(start) => {
                let mut cursor = Some(start);
                for _ in 0..MAX_DEPTH {
                    let Some(id) = cursor else { break };
                    if self.grants_at(ttx, id, action, resource.kind).await? {
                        return Ok(true);
                    }
                    cursor = self.parent(ttx, id).await?;
                }
                Ok(false)
            }
            Scope::Tenant => {
                let roots = match &self.roots {
                    Some(roots) => roots.clone(),
                    None => {
                        let roots = entity::roots(ttx).await?;
                        self.roots = Some(roots.clone());
                        roots
                    }
                };
                for root in roots {
                    if self.grants_at(ttx, root, action, resource.kind).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// Whether a role the member holds at `entity` itself grants `action` on `kind`.
    async fn grants_at(
        &mut self,
        ttx: &TenantTx<'_>,
        entity: EntityId,
        action: Action,
        kind: ResourceKind,
    ) -> Result<bool> {
        let held = match (
            &self.all_held,
            self.held_at.iter().find(|(e, _)| *e == entity),
        ) {
            (Some(all), _) => all
                .iter()
                .filter(|(e, _)| *e == entity)
                .map(|(_, role)| *role)
                .collect(),
            (None, Some((_, held))) => held.clone(),
            (None, None) => {
                let held = role_assignment::held_at(ttx, self.member, entity).await?;
                self.held_at.push((entity, held.clone()));
                held
            }
        };
        for role_id in held {
            if self.role_grants(ttx, role_id, action, kind).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether role `id` (read once per check; a deleted role grants nothing) allows
    /// `action` on `kind`: answered from the cached permissions, no copy of them.
    async fn role_grants(
        &mut self,
        ttx: &TenantTx<'_>,
        id: RoleId,
        action: Action,
        kind: ResourceKind,
    ) -> Result<bool> {
        let index = match self.roles.iter().position(|(role, _)| *role == id) {
            Some(index) => index,
            None => {
                let permissions = record::get_unchecked::<Role>(ttx, id)
                    .await?
                    .map(|role| role.permissions);
                self.roles.push((id, permissions));
                self.roles.len() - 1
            }
        };
        Ok(self.roles[index]
            .1
            .as_ref()
            .is_some_and(|p| p.iter().any(|permission| permission.allows(action, kind))))
    }

    async fn parent(&mut self, ttx: &TenantTx<'_>, id: EntityId) -> Result<Option<EntityId>> {
        if let Some((_, parent)) = self.parents.iter().find(|(e, _)| *e == id) {
            return Ok(*parent);
        }
        let parent = record::get_unchecked::<Entity>(ttx, id)
            .await?
            .and_then(|entity| entity.parent);
        self.parents.push((id, parent));
        Ok(parent)
    }
}

/// Checks `credential` of `member` again in this transaction: the key's scopes (`None`: no
/// narrowing), or [`Error::Unauthenticated`] when the session or key is unknown, another
/// member's, revoked or expired.
async fn credential_scopes(
    ttx: &TenantTx<'_>,
    member: MemberId,
    credential: Credential,
) -> Result<Option<BTreeSet<Permission>>> {
    let now = record::now_ms();
    match credential {
        Credential::Trusted => Ok(None),
        Credential::Session(id) => {
            let session = record::get_unchecked::<Session>(ttx, id).await?;
            match session {
                Some(session) if session.member == member => {
                    session.check_valid(now)?;
                    Ok(None)
                }
                _ => Err(Error::Unauthenticated {
                    reason: "unknown session",
                }),
            }
        }
        Credential::ApiKey(id) => {
            let key = record::get_unchecked::<ApiKey>(ttx, id).await?;
            match key {
                Some(key) if key.member == member => {
                    key.check_valid(now)?;
                    Ok((!key.scopes.is_empty()).then_some(key.scopes))
                }
                _ => Err(Error::Unauthenticated {
                    reason: "unknown API key",
                }),
            }
        }
    }
}

/// The scope of a record that belongs to `project`: the project's entity (read without a
/// check: the scope of a question, not an answer).
pub(crate) async fn project_scope(ttx: &TenantTx<'_>, project: ProjectId) -> Result<Scope> {
    let project = record::require_unchecked::<Project>(ttx, project).await?;
    Ok(Scope::Entity(project.entity))
}
