//! The policy against a reference model: random actors (humans and agents, some disabled,
//! some through scoped API keys) holding random roles at random entities, asking about random
//! actions on tasks and comments, while grants, revocations, disables and entity moves change
//! the world; every decision of [`rbac::is_allowed`] must equal the model's, which is written
//! from the policy's statement in `coditect_core::rbac`, not from its code.
//!
//! Replay a failure with `CODITECT_POLICY_SEED=<seed>`.

use std::collections::BTreeSet;

use coditect_core::ids::{ApiKeyId, CommentId, EntityId, MemberId, RoleId};
use coditect_core::model::role::Role as AccessRole;
use coditect_core::model::Comment;
use coditect_core::rbac::{self, Resource};

use super::*;
use crate::Harness;

/// Decisions asked per run (mutations of the world come on top).
const QUESTIONS: usize = 10_000;
/// One in this many steps changes the world instead of asking.
const MUTATE_ONE_IN: u32 = 10;

/// What the model knows of one actor.
struct ActorModel {
    member: MemberId,
    user: Option<coditect_core::ids::UserId>,
    disabled: bool,
    /// `(role index, entity index)` held.
    held: BTreeSet<(usize, usize)>,
    /// Its API key and the key's scopes (empty: unscoped).
    key: (ApiKeyId, Vec<Permission>),
}

/// The world: entities (index 0 the root) with their parents, the built-in roles' permissions.
struct World {
    tenant: TenantId,
    entities: Vec<EntityId>,
    parents: Vec<Option<usize>>,
    roles: Vec<(RoleId, Vec<Permission>)>,
    actors: Vec<ActorModel>,
    /// One task per entity, and a comment on it by each actor.
    tasks: Vec<(usize, TaskId)>,
    comments: Vec<(usize, usize, CommentId)>,
}

fn permits(permissions: &[Permission], action: Action, kind: ResourceKind) -> bool {
    permissions
        .iter()
        .any(|p| p.action == action && (p.resource == kind || p.resource == ResourceKind::Any))
}

impl World {
    fn ancestors(&self, mut entity: usize) -> Vec<usize> {
        let mut chain = vec![entity];
        while let Some(parent) = self.parents[entity] {
            chain.push(parent);
            entity = parent;
        }
        chain
    }

    /// The model's decision, from the policy's statement.
    fn allows(
        &self,
        actor: usize,
        by_key: bool,
        action: Action,
        kind: ResourceKind,
        entity: usize,
        owner: Option<usize>,
    ) -> bool {
        let a = &self.actors[actor];
        if a.disabled {
            return false;
        }
        let in_scope = |action| !by_key || a.key.1.is_empty() || permits(&a.key.1, action, kind);
        let granted = |action| {
            in_scope(action)
                && self.ancestors(entity).iter().any(|e| {
                    a.held
                        .iter()
                        .any(|(r, at)| at == e && permits(&self.roles[*r].1, action, kind))
                })
        };
        let others = owner.is_some_and(|o| o != actor);
        if others && action != Action::Read && !granted(Action::ManageOthers) {
            return false;
        }
        granted(action)
    }
}

/// Random decisions against the reference model, at least `QUESTIONS` of them, with the
/// world changing in between; zero disagreements.
pub async fn authorization_agrees_with_a_reference_model(h: &dyn Harness) {
    let db = h.backend();
    let seed = std::env::var("CODITECT_POLICY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut world = build(db.as_ref(), &mut rng).await;
    let tenant = world.tenant;
    let (mut asked, mut steps) = (0, 0);
    while asked < QUESTIONS {
        steps += 1;
        if rng.u32(..MUTATE_ONE_IN) == 0 {
            mutate(db.as_ref(), tenant, &mut world, &mut rng).await;
            continue;
        }
        let actor = rng.usize(..world.actors.len());
        let by_key = rng.bool();
        let action = Action::ALL[rng.usize(..Action::ALL.len())];
        let a = &world.actors[actor];
        let principal = if by_key {
            Principal::with_api_key(a.member, a.key.0)
        } else {
            Principal::member(a.member)
        };
        let (kind, entity, owner, got) = if rng.bool() {
            let (entity, id) = world.tasks[rng.usize(..world.tasks.len())];
            let got = attempt!(db.as_ref(), tenant, |ttx| {
                let task = record::require::<Task>(&ttx, Actor::System, id).await?;
                let resource = Resource::of(&ttx, &task).await?;
                rbac::is_allowed(&ttx, principal, action, &resource).await
            });
            (ResourceKind::Task, entity, None, got)
        } else {
            let (entity, author, id) = world.comments[rng.usize(..world.comments.len())];
            let got = attempt!(db.as_ref(), tenant, |ttx| {
                let comment = record::require::<Comment>(&ttx, Actor::System, id).await?;
                let resource = Resource::of(&ttx, &comment).await?;
                rbac::is_allowed(&ttx, principal, action, &resource).await
            });
            (ResourceKind::Comment, entity, Some(author), got)
        };
        let got = got.unwrap_or_else(|e| panic!("seed {seed}, step {steps}: {e:?}"));
        let want = world.allows(actor, by_key, action, kind, entity, owner);
        assert_eq!(
            got, want,
            "seed {seed}, step {steps}: actor {actor} (key: {by_key}) {action} on {kind:?} at entity {entity} owned by {owner:?}"
        );
        asked += 1;
    }
    assert!(asked >= QUESTIONS);
}

/// Root > A > A1, root > B; four humans and four agents; one task per entity and a comment
/// on each by every actor; each actor a random key scope.
async fn build(db: &dyn KvBackend, rng: &mut fastrand::Rng) -> World {
    let p = tenant(db, "policy.security.test").await;
    let t = p.tenant.id;
    let root = p.root.id;
    let (entities, tasks, roles) = attempt!(db, t, |ttx| {
        let s = Actor::System;
        let a = record::insert(
            &ttx,
            s,
            Entity::new("A", "A", EntityKind::Division, Some(root)),
        )
        .await?
        .id;
        let a1 = record::insert(&ttx, s, Entity::new("A1", "A1", EntityKind::Team, Some(a)))
            .await?
            .id;
        let b = record::insert(
            &ttx,
            s,
            Entity::new("B", "B", EntityKind::Division, Some(root)),
        )
        .await?
        .id;
        let entities = vec![root, a, a1, b];
        let mut tasks = Vec::new();
        for (i, e) in entities.iter().enumerate() {
            let owner = p.admin_member.id;
            let project =
                record::insert(&ttx, s, Project::new(format!("P{i}"), "P", *e, owner)).await?;
            tasks.push((
                i,
                record::insert(&ttx, s, Task::new(project.id, "T", owner))
                    .await?
                    .id,
            ));
        }
        let mut roles = Vec::new();
        for name in coditect_core::model::role::BUILT_IN {
            let role: AccessRole = role::by_name(&ttx, s, name).await?.expect("built in");
            roles.push((role.id, role.permissions.into_iter().collect::<Vec<_>>()));
        }
        Ok((entities, tasks, roles))
    })
    .expect("world");
    let actors = actors(db, &p, rng).await;
    let mut comments = Vec::new();
    for &(entity, task) in &tasks {
        for (i, a) in actors.iter().enumerate() {
            let author = a.member;
            let c = attempt!(db, t, |ttx| {
                record::insert(&ttx, Actor::System, Comment::new(task, author, "c")).await
            })
            .expect("comment");
            comments.push((entity, i, c.id));
        }
    }
    World {
        tenant: t,
        entities,
        parents: vec![None, Some(0), Some(1), Some(0)],
        roles,
        actors,
        tasks,
        comments,
    }
}

/// Four humans and four agents, alternately, each with an API key of random scopes.
async fn actors(db: &dyn KvBackend, p: &Provisioned, rng: &mut fastrand::Rng) -> Vec<ActorModel> {
    let mut actors = Vec::new();
    for n in 0..8 {
        let kind = if n % 2 == 0 { Kind::Human } else { Kind::Agent };
        let m = member(db, p, kind, &format!("actor{n}"), None).await;
        let scopes: Vec<Permission> = (0..rng.usize(..3))
            .map(|_| {
                let kind =
                    [ResourceKind::Task, ResourceKind::Comment, ResourceKind::Any][rng.usize(..3)];
                Permission::new(Action::ALL[rng.usize(..Action::ALL.len())], kind)
            })
            .collect();
        let (key, _) = api_key(db, p.tenant.id, m.id, &scopes).await;
        let user = match m.kind {
            MemberKind::Human(user) => Some(user),
            MemberKind::Agent(_) => None,
        };
        actors.push(ActorModel {
            member: m.id,
            user,
            disabled: false,
            held: BTreeSet::new(),
            key: (key.id, key.scopes.into_iter().collect()),
        });
    }
    actors
}

/// One random change of the world, mirrored in the model.
async fn mutate(db: &dyn KvBackend, t: TenantId, world: &mut World, rng: &mut fastrand::Rng) {
    let actor = rng.usize(..world.actors.len());
    match rng.u32(..4) {
        0 | 1 => {
            let (role, entity) = (
                rng.usize(..world.roles.len()),
                rng.usize(..world.entities.len()),
            );
            let a = &mut world.actors[actor];
            if a.held.insert((role, entity)) {
                let assignment =
                    RoleAssignment::new(a.member, world.roles[role].0, world.entities[entity]);
                attempt!(db, t, |ttx| {
                    record::insert(&ttx, Actor::System, assignment).await
                })
                .expect("grant");
            }
        }
        2 => {
            let a = &mut world.actors[actor];
            let Some(&(role, entity)) = a.held.iter().nth(rng.usize(..a.held.len().max(1))) else {
                return;
            };
            a.held.remove(&(role, entity));
            let (member, entity_id, role_id) =
                (a.member, world.entities[entity], world.roles[role].0);
            attempt!(db, t, |ttx| {
                let held = coditect_core::model::role_assignment::by_member(
                    &ttx,
                    Actor::System,
                    member,
                    &coditect_core::record::PageRequest::first(100),
                )
                .await?;
                let gone = held
                    .items
                    .into_iter()
                    .find(|x| x.entity == entity_id && x.role == role_id)
                    .expect("held");
                record::delete::<RoleAssignment>(&ttx, Actor::System, gone.id).await
            })
            .expect("revoke");
        }
        _ => {
            if rng.bool() {
                let a = &mut world.actors[actor];
                if let Some(user) = a.user {
                    a.disabled = !a.disabled;
                    let status = if a.disabled {
                        UserStatus::Disabled
                    } else {
                        UserStatus::Active
                    };
                    set_user_status(db, t, user, status).await;
                }
            } else {
                // Move A1 between A and B.
                let to = if world.parents[2] == Some(1) { 3 } else { 1 };
                world.parents[2] = Some(to);
                let (a1, parent) = (world.entities[2], world.entities[to]);
                attempt!(db, t, |ttx| {
                    let mut e = record::require::<Entity>(&ttx, Actor::System, a1).await?;
                    e.parent = Some(parent);
                    record::update(&ttx, Actor::System, e).await
                })
                .expect("move");
            }
        }
    }
}
