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
//! What one check reads, all in the caller's transaction (so moving an entity, or changing a
//! role or an assignment, conflicts with a check that read the old state, and a check never
//! sees a stale cache): the actor's member record and, for a human, their user record; the
//! actor's assignments, as one range read of an index whose keys carry the entity and the
//! role; one record per distinct role held; then one entity per hierarchy level, walking up
//! from the resource's entity. Nothing is cached across transactions.
//!
//! The generic store checks every mutation by a member ([`record::insert`],
//! [`record::update`], [`record::delete`]) and checked reads ([`record::get_as`]); the system
//! actor (provisioning, tenant operations) is not checked. A denial is
//! [`Error::Forbidden`] naming the action; see [`audit::record_denial`](crate::audit::record_denial)
//! for how it is audited although the denied transaction is not committed.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::Actor;
use crate::error::{Error, Result};
use crate::ids::{EntityId, MemberId, ProjectId, RoleId};
use crate::model::entity::Entity;
use crate::model::member::{Member, MemberKind};
use crate::model::project::Project;
use crate::model::role::Role;
use crate::model::role_assignment;
use crate::model::user::{self, User, UserStatus};
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
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [Action::Read, Action::Create, Action::Update, Action::Delete];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
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
}

impl Resource {
    /// The resource that `record` is, with its scope read in the transaction.
    pub async fn of<M: Model>(ttx: &TenantTx<'_>, record: &M) -> Result<Self> {
        Ok(Resource {
            kind: M::RESOURCE,
            model: <M as crate::value::Versioned>::WHAT,
            id: crate::ids::RecordId::uuid(record.id()),
            scope: record.scope(ttx).await?,
        })
    }
}

/// How far up the tree a walk goes before the tree is taken to be corrupt (the levels allow 4).
const MAX_DEPTH: usize = 64;

/// Fails with [`Error::Forbidden`] unless `actor` may do `action` on `resource`: the actor is
/// a tenant Admin user, or holds a role granting it at the resource's entity or an ancestor
/// (for a [`Scope::Tenant`] resource: at a root entity). The denial is not audited here (the
/// caller's transaction will not commit); see [`audit::record_denial`](crate::audit::record_denial).
pub async fn authorize(
    ttx: &TenantTx<'_>,
    actor: MemberId,
    action: Action,
    resource: &Resource,
) -> Result<()> {
    if is_allowed(ttx, actor, action, resource).await? {
        Ok(())
    } else {
        Err(Error::Forbidden {
            actor,
            action,
            model: resource.model,
            id: resource.id,
        })
    }
}

/// [`authorize`] for any [`Actor`]: the system actor is always allowed.
pub async fn check(
    ttx: &TenantTx<'_>,
    actor: Actor,
    action: Action,
    resource: &Resource,
) -> Result<()> {
    match actor {
        Actor::System => Ok(()),
        Actor::Member(member) => authorize(ttx, member, action, resource).await,
    }
}

/// Whether `actor` may do `action` on `resource` (no error for a denial).
pub async fn is_allowed(
    ttx: &TenantTx<'_>,
    actor: MemberId,
    action: Action,
    resource: &Resource,
) -> Result<bool> {
    let Some(member) = record::get::<Member>(ttx, actor).await? else {
        return Ok(false);
    };
    if let MemberKind::Human(user_id) = member.kind {
        if let Some(user) = record::get::<User>(ttx, user_id).await? {
            if user.role == user::Role::Admin && user.status != UserStatus::Disabled {
                return Ok(true);
            }
        }
    }
    let held = role_assignment::held_by(ttx, actor).await?;
    // The entities where a role granting the action is held; each role read once.
    let mut granting: Vec<EntityId> = Vec::new();
    let mut roles: Vec<(RoleId, bool)> = Vec::new();
    for (entity, role_id) in held {
        let grants = match roles.iter().find(|(id, _)| *id == role_id) {
            Some((_, grants)) => *grants,
            None => {
                let grants = record::get::<Role>(ttx, role_id)
                    .await?
                    .is_some_and(|role| role.grants(action, resource.kind));
                roles.push((role_id, grants));
                grants
            }
        };
        if grants {
            granting.push(entity);
        }
    }
    if granting.is_empty() {
        return Ok(false);
    }
    match resource.scope {
        Scope::Entity(start) => {
            let mut cursor = Some(start);
            let mut steps = 0;
            while let Some(id) = cursor {
                if granting.contains(&id) {
                    return Ok(true);
                }
                steps += 1;
                if steps > MAX_DEPTH {
                    break;
                }
                cursor = record::get::<Entity>(ttx, id)
                    .await?
                    .and_then(|entity| entity.parent);
            }
            Ok(false)
        }
        Scope::Tenant => {
            for id in granting {
                if let Some(entity) = record::get::<Entity>(ttx, id).await? {
                    if entity.parent.is_none() {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
    }
}

/// The scope of a record that belongs to `project`: the project's entity.
pub(crate) async fn project_scope(ttx: &TenantTx<'_>, project: ProjectId) -> Result<Scope> {
    let project = record::require::<Project>(ttx, project).await?;
    Ok(Scope::Entity(project.entity))
}
