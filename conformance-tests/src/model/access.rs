//! Access-control cases: the RBAC matrix (role x level x action), inheritance down the entity
//! tree and its change when an entity moves, denials (nothing written, the denial audited),
//! and agents doing everything a human does. Every case runs for a human member and an agent
//! member alike.

use coditect_core::model::{message, Conversation, Message, MessageRole};
use coditect_core::rbac::{self, Action, Resource, ResourceKind};

use super::*;

/// The two kinds of member every case runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Human,
    Agent,
}

const KINDS: [Kind; 2] = [Kind::Human, Kind::Agent];

/// A new member of `kind` (a user with the Developer role, or an agent), made by the admin.
async fn member_of(db: &dyn KvBackend, p: &Provisioned, kind: Kind, name: &str) -> Member {
    in_tenant!(db, tid(p), |ttx| {
        let member_kind = match kind {
            Kind::Human => {
                let user = record::insert(
                    &ttx,
                    admin(p),
                    User::new(format!("{name}@acme.test"), name, UserRole::Guest),
                )
                .await?;
                MemberKind::Human(user.id)
            }
            Kind::Agent => {
                let config = record::insert(
                    &ttx,
                    admin(p),
                    AgentConfig::new(name, AgentType::Coder, "anthropic", "claude"),
                )
                .await?;
                MemberKind::Agent(config.id)
            }
        };
        record::insert(&ttx, admin(p), Member::new(member_kind, name)).await
    })
    .expect("member")
}

/// Corporation (root) > Division A > Department A > Team X, and Division B > Team Y, with a
/// project and a task in each team.
struct Org {
    div_a: Entity,
    dept_a: Entity,
    team_x: Entity,
    div_b: Entity,
    team_y: Entity,
    task_x: Task,
    task_y: Task,
}

async fn org(db: &dyn KvBackend, p: &Provisioned) -> Org {
    use EntityKind::{Department, Division, Team};
    // Each entity under the one at the index given (`None`: under the root).
    let tree = [
        ("DIV-A", "Division A", Division, None),
        ("DEPT-A", "Department A", Department, Some(0)),
        ("TEAM-X", "Team X", Team, Some(1)),
        ("DIV-B", "Division B", Division, None),
        ("TEAM-Y", "Team Y", Team, Some(3)),
    ];
    in_tenant!(db, tid(p), |ttx| {
        let (a, me) = (admin(p), p.admin_member.id);
        let mut made: Vec<Entity> = Vec::new();
        for (code, name, kind, under) in tree {
            let parent = under.map_or(p.root.id, |i: usize| made[i].id);
            let entity = Entity::new(code, name, kind, Some(parent));
            made.push(record::insert(&ttx, a, entity).await?);
        }
        let [div_a, dept_a, team_x, div_b, team_y] = <[Entity; 5]>::try_from(made).expect("five");
        let px = record::insert(&ttx, a, Project::new("PX", "X", team_x.id, me)).await?;
        let py = record::insert(&ttx, a, Project::new("PY", "Y", team_y.id, me)).await?;
        let task_x = record::insert(&ttx, a, Task::new(px.id, "in X", me)).await?;
        let task_y = record::insert(&ttx, a, Task::new(py.id, "in Y", me)).await?;
        Ok::<_, Error>(Org {
            div_a,
            dept_a,
            team_x,
            div_b,
            team_y,
            task_x,
            task_y,
        })
    })
    .expect("org")
}

/// Renames `task` as `actor` through the generic path, committing when allowed.
async fn rename(db: &dyn KvBackend, p: &Provisioned, actor: MemberId, task: &Task) -> Result<Task> {
    let mut renamed = at(db, p)
        .require::<Task>(task.id)
        .await
        .expect("stored task");
    renamed.title = format!("{} (renamed)", renamed.title);
    in_tenant!(db, tid(p), |ttx| {
        record::update(&ttx, Actor::Member(actor), renamed.clone()).await
    })
}

/// The matrix: each built-in role, granted at each level of the tree, against each action on a
/// task of Team X. Allowed exactly when the role grants the action and the grant is at Team X
/// or an ancestor (not in Division B, a sibling branch). The check agrees with what the
/// generic path does (a real update and a checked read for every cell).
pub async fn rbac_matrix_role_level_action(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "matrix.test", Plan::Enterprise).await;
    let o = org(db.as_ref(), &p).await;
    let levels = [
        ("root", p.root.id, true),
        ("division", o.div_a.id, true),
        ("department", o.dept_a.id, true),
        ("team", o.team_x.id, true),
        ("sibling division", o.div_b.id, false),
    ];
    // What each built-in role grants on tasks: read, create, update, delete.
    let grants = [
        ("admin", [true, true, true, true]),
        ("maintainer", [true, true, true, true]),
        ("contributor", [true, true, true, false]),
        ("viewer", [true, false, false, false]),
    ];
    let mut n = 0;
    for kind in KINDS {
        for (role_name, allowed) in grants {
            for (level, entity, above_x) in levels {
                n += 1;
                let m = member_of(db.as_ref(), &p, kind, &format!("m{n}")).await;
                grant(db.as_ref(), &p, m.id, role_name, entity).await;
                let cell = format!("{kind:?} {role_name} at {level}");
                let resource = in_tenant!(db, tid(&p), |ttx| Resource::of(&ttx, &o.task_x).await)
                    .expect("resource");
                for (action, role_allows) in Action::ALL.into_iter().zip(allowed) {
                    let got = in_tenant!(db, tid(&p), |ttx| {
                        rbac::is_allowed(&ttx, Actor::Member(m.id), action, &resource).await
                    })
                    .expect("check");
                    assert_eq!(got, role_allows && above_x, "{cell}: {action}");
                }
                let update = rename(db.as_ref(), &p, m.id, &o.task_x).await;
                assert_eq!(update.is_ok(), allowed[2] && above_x, "{cell}: real update");
                if let Err(error) = update {
                    assert!(
                        matches!(
                            error,
                            Error::Forbidden {
                                action: Action::Update,
                                model: "task",
                                ..
                            }
                        ),
                        "{cell}: {error:?}"
                    );
                }
                let read = in_tenant!(db, tid(&p), |ttx| {
                    record::get::<Task>(&ttx, Actor::Member(m.id), o.task_x.id).await
                });
                assert_eq!(read.is_ok(), above_x, "{cell}: checked read");
            }
        }
    }
}

/// A grant at Division A allows the action in Team X below it and not in Team Y under the
/// sibling Division B; moving Team X under Division B takes the right away, and moving Team Y
/// under Division A gives it.
pub async fn grant_inherits_down_the_tree_and_follows_moves(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "inherit.test", Plan::Enterprise).await;
    let o = org(db.as_ref(), &p).await;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let m = member_of(db.as_ref(), &p, kind, &format!("dev{i}")).await;
        let assignment = grant(db.as_ref(), &p, m.id, "contributor", o.div_a.id).await;
        rename(db.as_ref(), &p, m.id, &o.task_x)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: Team X is below Division A: {e:?}"));
        let error = rename(db.as_ref(), &p, m.id, &o.task_y)
            .await
            .expect_err("Team Y is in the sibling division");
        assert_matches!(
            error,
            Error::Forbidden {
                action: Action::Update,
                ..
            }
        );

        // Re-parent both teams (as the admin); effective rights follow the tree.
        let move_team = |team: &Entity, to: EntityId| {
            let mut moved = team.clone();
            moved.parent = Some(to);
            moved
        };
        let (x_to_b, y_to_a) = (
            move_team(&o.team_x, o.div_b.id),
            move_team(&o.team_y, o.div_a.id),
        );
        in_tenant!(db, tid(&p), |ttx| {
            record::update(&ttx, admin(&p), x_to_b.clone()).await?;
            record::update(&ttx, admin(&p), y_to_a.clone()).await
        })
        .expect("move teams");
        let error = rename(db.as_ref(), &p, m.id, &o.task_x)
            .await
            .expect_err("Team X moved out of Division A");
        assert_matches!(error, Error::Forbidden { .. });
        rename(db.as_ref(), &p, m.id, &o.task_y)
            .await
            .expect("Team Y moved under Division A");

        // Back, for the next kind; and the assignment goes.
        let (x_back, y_back) = (
            move_team(&o.team_x, o.dept_a.id),
            move_team(&o.team_y, o.div_b.id),
        );
        in_tenant!(db, tid(&p), |ttx| {
            record::update(&ttx, admin(&p), x_back.clone()).await?;
            record::update(&ttx, admin(&p), y_back.clone()).await?;
            record::delete::<RoleAssignment>(&ttx, admin(&p), assignment.id).await
        })
        .expect("move back");
        let error = rename(db.as_ref(), &p, m.id, &o.task_x)
            .await
            .expect_err("assignment removed");
        assert_matches!(error, Error::Forbidden { .. });
    }
}

/// A denied action changes nothing: the transaction it ran in (which also made a comment, an
/// allowed write) is not committed; and the denial itself is audited, with the member as
/// actor, the action and the record, in a transaction of its own.
pub async fn denied_action_changes_nothing_and_is_audited(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "denied.test", Plan::Enterprise).await;
    let o = org(db.as_ref(), &p).await;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let m = member_of(db.as_ref(), &p, kind, &format!("c{i}")).await;
        grant(db.as_ref(), &p, m.id, "contributor", o.team_x.id).await;
        let (begin, end) = tid(&p).range();
        let audit_prefix_rows = all_audit(db.as_ref(), tid(&p)).await.len();
        let before = scan(db.as_ref(), &begin, &end).await;
        let (actor, task_id) = (Actor::Member(m.id), o.task_x.id);
        let comment = Comment::new(task_id, m.id, "allowed, but in a denied transaction");
        let error = coditect_core::run_in_tenant(
            db.as_ref(),
            &RetryOptions::default(),
            tid(&p),
            |ttx| async move {
                record::insert(&ttx, actor, comment).await?;
                // Contributors may not delete tasks.
                record::delete::<Task>(&ttx, actor, task_id).await
            },
        )
        .await
        .expect_err("denied");
        assert!(
            matches!(error, Error::Forbidden { action: Action::Delete, model: "task", id, actor }
                if id == task_id.uuid() && actor == Actor::Member(m.id)),
            "{kind:?}: {error:?}"
        );
        let after = scan(db.as_ref(), &begin, &end).await;
        let events = all_audit(db.as_ref(), tid(&p)).await;
        assert_eq!(
            events.len(),
            audit_prefix_rows + 1,
            "{kind:?}: one event, the denial"
        );
        let denial = events.last().expect("denial");
        assert_eq!(denial.actor, actor);
        assert_eq!(denial.action, AuditAction::Denied(Action::Delete));
        assert_eq!(
            (denial.model.as_str(), denial.record_id),
            ("task", task_id.uuid())
        );
        assert_eq!((denial.before, denial.after), (None, None));
        // Everything else is exactly as before: no comment, no index entry, no counter.
        // (Audit events and any index the audit module keeps of them are the denial's, and
        // so is the tenant meter counting it, `("meta", "meter", "denials")`.)
        let not_audit = |rows: &[(Vec<u8>, Vec<u8>)]| {
            rows.iter()
                .filter(|(k, _)| {
                    let elements = keys::decode_key(k).expect("tuple key");
                    let name = |i: usize| elements.get(i).and_then(|e| e.as_str());
                    !(name(1) == Some("audit")
                        || (name(1) == Some("idx")
                            && name(2).is_some_and(|n| n.starts_with("audit")))
                        || (name(1) == Some("meta") && name(2) == Some("meter")))
                })
                .cloned()
                .collect::<Vec<_>>()
        };
        let (after, before) = (not_audit(&after), not_audit(&before));
        assert!(
            after == before,
            "{kind:?}: nothing else changed ({} rows before, {} after)",
            before.len(),
            after.len()
        );
    }
}

/// Agents are members like humans: each kind owns a project, is assigned a task, writes a
/// comment and a message, holds a role, and is the audit actor of what it does.
pub async fn agents_do_everything_humans_do(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "equals.test", Plan::Enterprise).await;
    let o = org(db.as_ref(), &p).await;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let m = member_of(db.as_ref(), &p, kind, &format!("peer{i}")).await;
        let held = grant(db.as_ref(), &p, m.id, "maintainer", o.div_a.id).await;
        let actor = Actor::Member(m.id);
        let code = format!("OWN{i}");
        let (project, task, comment, chat, msg) =
            owned_records(db.as_ref(), &p, &m, &code, o.team_x.id, kind).await;
        let (owned, assigned, comments, messages, roles) = in_tenant!(db, tid(&p), |ttx| {
            Ok::<_, Error>((
                project::by_owner(&ttx, Actor::System, m.id, &page_of(10))
                    .await?
                    .items,
                task::by_assignee(&ttx, Actor::System, m.id, &page_of(10))
                    .await?
                    .items,
                comment::by_task(&ttx, Actor::System, task.id, &page_of(10))
                    .await?
                    .items,
                message::by_conversation(&ttx, Actor::System, chat.id, &page_of(10))
                    .await?
                    .items,
                coditect_core::model::role_assignment::by_member(
                    &ttx,
                    Actor::System,
                    m.id,
                    &page_of(10),
                )
                .await?
                .items,
            ))
        })
        .expect("lookups");
        assert_eq!(owned, vec![project.clone()], "{kind:?} owns");
        assert_eq!(assigned, vec![task.clone()], "{kind:?} is assigned");
        assert_eq!(comments, vec![comment.clone()], "{kind:?} comments");
        assert_eq!(messages, vec![msg.clone()], "{kind:?} writes messages");
        assert_eq!(roles, vec![held], "{kind:?} holds a role");
        let acted: Vec<(String, Uuid)> = all_audit(db.as_ref(), tid(&p))
            .await
            .into_iter()
            .filter(|e| e.actor == actor)
            .map(|e| (e.model, e.record_id))
            .collect();
        assert_eq!(
            acted,
            [
                ("project".to_string(), project.id.uuid()),
                ("task".into(), task.id.uuid()),
                ("comment".into(), comment.id.uuid()),
                ("conversation".into(), chat.id.uuid()),
                ("message".into(), msg.id.uuid()),
            ],
            "{kind:?} is the audit actor"
        );
        // Outside its grant, the same member is refused, whatever its kind.
        let error = rename(db.as_ref(), &p, m.id, &o.task_y)
            .await
            .expect_err("outside the grant");
        assert!(matches!(error, Error::Forbidden { .. }), "{kind:?}");
    }
}

/// What `m` (of `kind`) makes in its own name: a project `code` at `team`, a task assigned to
/// it, a comment on the task, a conversation of the project and a message in it.
async fn owned_records(
    db: &dyn KvBackend,
    p: &Provisioned,
    m: &Member,
    code: &str,
    team: EntityId,
    kind: Kind,
) -> (Project, Task, Comment, Conversation, Message) {
    let actor = Actor::Member(m.id);
    in_tenant!(db, tid(p), |ttx| {
        let project = record::insert(&ttx, actor, Project::new(code, "Owned", team, m.id)).await?;
        let mut task = Task::new(project.id, "Assigned", m.id);
        task.assignee = Some(m.id);
        let task = record::insert(&ttx, actor, task).await?;
        let comment = record::insert(&ttx, actor, Comment::new(task.id, m.id, "on it")).await?;
        let mut chat = Conversation::new(m.id, "Status");
        chat.project = Some(project.id);
        let chat = record::insert(&ttx, actor, chat).await?;
        let msg = record::insert(
            &ttx,
            actor,
            Message::new(chat.id, m.id, MessageRole::Assistant, "done"),
        )
        .await?;
        Ok::<_, Error>((project, task, comment, chat, msg))
    })
    .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"))
}

/// Tenant Admin users hold everything without any assignment; a member with no role holds
/// nothing (not even reads, through the checked API); the system actor is never checked.
pub async fn tenant_admins_hold_all_and_members_without_roles_nothing(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "admins.test", Plan::Enterprise).await;
    let o = org(db.as_ref(), &p).await;
    let no_assignments = in_tenant!(db, tid(&p), |ttx| {
        coditect_core::model::role_assignment::by_member(
            &ttx,
            coditect_core::Principal::system(),
            p.admin_member.id,
            &page_of(10),
        )
        .await
        .map(|page| page.items)
    })
    .expect("held");
    assert!(no_assignments.is_empty());
    rename(db.as_ref(), &p, p.admin_member.id, &o.task_y)
        .await
        .expect("admin may");
    for kind in KINDS {
        let m = member_of(
            db.as_ref(),
            &p,
            kind,
            &format!("{kind:?}-none").to_lowercase(),
        )
        .await;
        let error = in_tenant!(db, tid(&p), |ttx| {
            record::get::<Task>(&ttx, Actor::Member(m.id), o.task_y.id).await
        })
        .expect_err("no role, no read");
        assert_matches!(
            error,
            Error::Forbidden {
                action: Action::Read,
                ..
            }
        );
        // Nor can it give itself a role.
        let error = in_tenant!(db, tid(&p), |ttx| {
            let admin_role = role::by_name(&ttx, Actor::System, "admin")
                .await?
                .expect("admin role");
            record::insert(
                &ttx,
                Actor::Member(m.id),
                RoleAssignment::new(m.id, admin_role.id, p.root.id),
            )
            .await
        })
        .expect_err("no self-service");
        assert!(
            matches!(
                error,
                Error::Forbidden {
                    action: Action::Create,
                    model: "role assignment",
                    ..
                }
            ),
            "{error:?}"
        );
        let resource = Resource::new(
            ResourceKind::Setting,
            "setting",
            Uuid::nil(),
            rbac::Scope::Tenant,
        );
        in_tenant!(db, tid(&p), |ttx| {
            rbac::authorize(&ttx, Actor::System, Action::Delete, &resource).await
        })
        .expect("system");
    }
}
