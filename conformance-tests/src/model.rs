//! The model layer's cases: the record layer of coditect-core over any backend. Each case
//! takes a [`Harness`] whose backend starts empty and states what must hold and why.
//!
//! Tenants are made by provisioning, as in production; every case that writes uses its own
//! tenants, so the cases also run side by side on one shared cluster.

use std::collections::BTreeSet;

use coditect_core::audit::{self, Actor, AuditAction};
use coditect_core::ids::{AgentConfigId, EntityId, MemberId, TaskId, UserId};
use coditect_core::keys::{self, TenantId};
use coditect_core::model::comment::{self, CommentV1};
use coditect_core::model::{
    entity, file, member, project, role, task, tenant, user, AgentConfig, AgentType, Comment,
    Entity, EntityKind, File, Member, MemberKind, Plan, Project, RoleAssignment, Task, TaskStatus,
    TenantStatus, User, UserRole, UserStatus,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record::{self, PageRequest};
use coditect_core::{
    prefix_end, run, Error, KvBackend, RangeOptions, Result, RetryOptions, TenantTx, Transaction,
};
use foundationdb_tuple::Element;
use uuid::Uuid;

use crate::faults::{FaultPlan, FaultyBackend};
use crate::recording::Recording;
use crate::Harness;

// ---------------------------------------------------------------------------------------
// helpers

/// Runs `$body` (an expression, awaited inside an async block) with `$ttx` scoped to
/// `$tenant` in a fresh transaction, and commits when it returns `Ok`.
macro_rules! in_tenant {
    ($db:expr, $tenant:expr, |$ttx:ident| $body:expr) => {{
        let tx = $db.begin().await.expect("begin");
        let result = {
            let $ttx = TenantTx::open(tx.as_ref(), $tenant)
                .await
                .expect("open tenant");
            async { $body }.await
        };
        if result.is_ok() {
            tx.commit().await.expect("commit");
        }
        result
    }};
}

fn new_tenant(domain: &str, plan: Plan) -> NewTenant {
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

/// Provisions a tenant through the retry loop, as an application would.
pub(crate) async fn provisioned(db: &dyn KvBackend, domain: &str, plan: Plan) -> Provisioned {
    let new = new_tenant(domain, plan);
    let (made, _) = run(db, &RetryOptions::default(), |tx| {
        let new = new.clone();
        async move { provision(&*tx, new).await }
    })
    .await
    .expect("provision");
    made
}

fn admin(p: &Provisioned) -> Actor {
    Actor::Member(p.admin_member.id)
}

fn tid(p: &Provisioned) -> TenantId {
    p.tenant.id
}

/// Argon2id parameters cheap enough for tests (8 KiB, 1 pass); production uses the default.
pub(crate) fn cheap_argon2() -> argon2::Params {
    argon2::Params::new(8, 1, 1, None).expect("argon2 params")
}

/// A division, a project under it, owned by the tenant's admin.
async fn project_in(db: &dyn KvBackend, p: &Provisioned, code: &str) -> Project {
    in_tenant!(db, tid(p), |ttx| {
        record::insert(
            &ttx,
            admin(p),
            Project::new(
                code,
                format!("Project {code}"),
                p.root.id,
                p.admin_member.id,
            ),
        )
        .await
    })
    .expect("project")
}

/// A new agent configuration named `name`, created by the tenant's admin.
pub(crate) async fn agent_config_in(
    db: &dyn KvBackend,
    p: &Provisioned,
    name: &str,
) -> AgentConfigId {
    in_tenant!(db, tid(p), |ttx| {
        record::insert(
            &ttx,
            admin(p),
            AgentConfig::new(name, AgentType::Coder, "anthropic", "claude"),
        )
        .await
    })
    .expect("agent config")
    .id
}

/// A new agent member named `name`, running the configuration `config`, created by the
/// tenant's admin.
pub(crate) async fn agent_member_in(
    db: &dyn KvBackend,
    p: &Provisioned,
    config: AgentConfigId,
    name: &str,
) -> Member {
    in_tenant!(db, tid(p), |ttx| {
        record::insert(&ttx, admin(p), Member::new(MemberKind::Agent(config), name)).await
    })
    .expect("agent member")
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

async fn all_audit(db: &dyn KvBackend, tenant: TenantId) -> Vec<audit::AuditEvent> {
    in_tenant!(db, tenant, |ttx| coditect_core::model::audit_event::list(
        &ttx,
        coditect_core::Principal::system(),
        &PageRequest::first(1000)
    )
    .await)
    .expect("audit list")
    .items
}

/// Every committed row of `[begin, end)`.
pub(crate) async fn scan(db: &dyn KvBackend, begin: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
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

// Models 9 to 21 and access control, in files of their own (after the helpers above, which
// they use).
mod access;
mod ai;
mod atomic;
mod integrity;
pub use access::*;
pub use ai::*;
pub use atomic::*;
pub use integrity::*;

// ---------------------------------------------------------------------------------------
// tenants and provisioning

/// Provisioning makes, in one transaction, the registry entry, the domain index, the root
/// Corporation, an invited Admin and their member, each audited with the system actor.
pub async fn provisioning_makes_a_whole_tenant(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "Acme.Test", Plan::Starter).await;
    assert_eq!(p.tenant.domain, "acme.test");
    assert_eq!(p.tenant.quotas, Plan::Starter.default_quotas());
    assert_eq!(p.admin.role, UserRole::Admin);
    assert_eq!(p.admin.status, UserStatus::Invited);
    assert_eq!(p.admin_member.kind, MemberKind::Human(p.admin.id));
    assert_eq!(p.root.kind, EntityKind::Corporation);
    let tx = db.begin().await.expect("begin");
    let by_domain = tenant::get_by_domain(tx.as_ref(), "ACME.test")
        .await
        .expect("by domain")
        .expect("registered");
    assert_eq!(by_domain, p.tenant);
    drop(tx);
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(
        events.len(),
        8,
        "tenant, root entity, admin user, admin member, four built-in roles"
    );
    assert!(events
        .iter()
        .all(|e| e.actor == Actor::System && e.action == AuditAction::Create));
    let models: Vec<&str> = events.iter().map(|e| e.model.as_str()).collect();
    assert_eq!(
        models,
        ["tenant", "entity", "user", "member", "role", "role", "role", "role"]
    );
    let admin_user = in_tenant!(db, tid(&p), |ttx| user::by_email(
        &ttx,
        Actor::System,
        "ADMIN@acme.test"
    )
    .await)
    .expect("lookup")
    .expect("admin");
    assert_eq!(admin_user, p.admin);
}

/// A domain is unique across tenants (any case); the failed provisioning writes nothing.
pub async fn provisioning_a_taken_domain_fails(h: &dyn Harness) {
    let db = h.backend();
    provisioned(db.as_ref(), "taken.test", Plan::Free).await;
    let second = new_tenant("TAKEN.test", Plan::Free);
    let tx = db.begin().await.expect("begin");
    let error = provision(tx.as_ref(), second.clone())
        .await
        .expect_err("duplicate domain");
    assert!(
        matches!(
            error,
            Error::AlreadyExists {
                model: "tenant",
                field: "domain"
            }
        ),
        "{error:?}"
    );
    drop(tx);
    let tx = db.begin().await.expect("begin");
    assert!(tenant::get(tx.as_ref(), second.id)
        .await
        .expect("get")
        .is_none());
    let (begin, end) = second.id.range();
    drop(tx);
    assert!(scan(db.as_ref(), &begin, &end).await.is_empty());
}

/// Ids are never nil, unknown tenants cannot be opened, suspended ones neither.
pub async fn nil_unknown_and_suspended_tenants_are_refused(h: &dyn Harness) {
    let db = h.backend();
    assert!(matches!(
        TenantId::new(Uuid::nil()),
        Err(Error::InvalidInput {
            field: "tenant_id",
            ..
        })
    ));
    assert!(matches!(
        MemberId::new(Uuid::nil()),
        Err(Error::InvalidInput {
            field: "member_id",
            ..
        })
    ));
    assert!(matches!(
        TaskId::new(Uuid::nil()),
        Err(Error::InvalidInput { .. })
    ));
    let tx = db.begin().await.expect("begin");
    let unknown = TenantId::generate();
    let error = TenantTx::open(tx.as_ref(), unknown)
        .await
        .err()
        .expect("unknown tenant");
    assert!(matches!(error, Error::TenantNotFound { .. }), "{error:?}");
    drop(tx);

    let p = provisioned(db.as_ref(), "suspend.test", Plan::Free).await;
    let tx = db.begin().await.expect("begin");
    tenant::set_status(
        tx.as_ref(),
        Actor::System,
        p.tenant.id,
        TenantStatus::Suspended,
    )
    .await
    .expect("suspend");
    tx.commit().await.expect("commit");
    let tx = db.begin().await.expect("begin");
    let error = TenantTx::open(tx.as_ref(), tid(&p))
        .await
        .err()
        .expect("suspended");
    assert!(matches!(error, Error::TenantInactive { .. }), "{error:?}");
}

// ---------------------------------------------------------------------------------------
// users

/// Users: create (email lower-cased), get, lookup by email, update, list, delete.
pub async fn user_crud_and_email_lookup(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "users.test", Plan::Professional).await;
    let created = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            User::new("  Dev@Example.TEST ", "Dev", UserRole::Developer),
        )
        .await
    })
    .expect("create");
    assert_eq!(created.email, "dev@example.test");
    assert!(created.stamps.created_at_ms > 0);
    let found = in_tenant!(db, tid(&p), |ttx| user::by_email(
        &ttx,
        Actor::System,
        "DEV@example.test"
    )
    .await)
    .expect("lookup")
    .expect("found");
    assert_eq!(found, created);
    let mut renamed = found.clone();
    renamed.name = "Developer".into();
    renamed.email = "dev2@example.test".into();
    in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        renamed.clone()
    )
    .await)
    .expect("update");
    let got = in_tenant!(db, tid(&p), |ttx| record::require::<User>(
        &ttx,
        Actor::System,
        created.id
    )
    .await)
    .expect("get");
    assert_eq!(got.name, "Developer");
    assert_eq!(got.stamps.created_at_ms, created.stamps.created_at_ms);
    let old = in_tenant!(db, tid(&p), |ttx| user::by_email(
        &ttx,
        Actor::System,
        "dev@example.test"
    )
    .await)
    .expect("old");
    assert!(old.is_none(), "the old email's index entry moved");
    let listed = in_tenant!(db, tid(&p), |ttx| record::list::<User>(
        &ttx,
        Actor::System,
        &PageRequest::first(10)
    )
    .await)
    .expect("list");
    assert_eq!(listed.items.len(), 2);
    in_tenant!(db, tid(&p), |ttx| record::delete::<User>(
        &ttx,
        admin(&p),
        created.id
    )
    .await)
    .expect("delete");
    let gone = in_tenant!(db, tid(&p), |ttx| record::get::<User>(
        &ttx,
        Actor::System,
        created.id
    )
    .await)
    .expect("get");
    assert!(gone.is_none());
    let error = in_tenant!(db, tid(&p), |ttx| record::require::<User>(
        &ttx,
        Actor::System,
        created.id
    )
    .await)
    .expect_err("gone");
    assert!(matches!(error, Error::NotFound { model: "user", .. }));
}

/// An email is unique in its tenant, whatever its case.
pub async fn duplicate_email_fails(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "dup.test", Plan::Professional).await;
    in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        User::new("x@dup.test", "X", UserRole::Viewer)
    )
    .await)
    .expect("first");
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            User::new("X@DUP.test", "Y", UserRole::Viewer),
        )
        .await
    })
    .expect_err("duplicate");
    assert!(
        matches!(
            error,
            Error::AlreadyExists {
                model: "user",
                field: "email"
            }
        ),
        "{error:?}"
    );
    for bad in [
        "no-at-sign",
        "a@b",
        "two@@x.test",
        "sp ace@x.test",
        "@x.test",
    ] {
        let error = in_tenant!(db, tid(&p), |ttx| {
            record::insert(&ttx, admin(&p), User::new(bad, "Bad", UserRole::Viewer)).await
        })
        .expect_err(bad);
        assert!(
            matches!(error, Error::InvalidInput { field: "email", .. }),
            "{bad}: {error:?}"
        );
    }
}

/// Passwords: Argon2id, verified, never stored in the user record nor digested.
pub async fn password_is_hashed_apart_and_verified(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "pw.test", Plan::Free).await;
    let before = all_audit(db.as_ref(), tid(&p)).await.len();
    in_tenant!(db, tid(&p), |ttx| {
        user::set_password_with(
            &ttx,
            admin(&p),
            p.admin.id,
            "correct horse battery",
            cheap_argon2(),
        )
        .await
    })
    .expect("set");
    let (ok, wrong, short) = in_tenant!(db, tid(&p), |ttx| {
        let ok = user::verify_password(&ttx, p.admin.id, "correct horse battery").await?;
        let wrong = user::verify_password(&ttx, p.admin.id, "wrong horse battery").await?;
        let short = user::set_password(&ttx, admin(&p), p.admin.id, "short").await;
        Ok::<_, Error>((ok, wrong, short))
    })
    .expect("verify");
    assert!(ok && !wrong);
    assert!(matches!(
        short,
        Err(Error::InvalidInput {
            field: "password",
            ..
        })
    ));
    let stored = in_tenant!(db, tid(&p), |ttx| record::require::<User>(
        &ttx,
        Actor::System,
        p.admin.id
    )
    .await)
    .expect("user");
    assert_eq!(
        stored.status,
        UserStatus::Active,
        "setting a password activates an invited user"
    );
    let raw = in_tenant!(db, tid(&p), |ttx| ttx
        .get(&record::key_of::<User>(&ttx, p.admin.id), false)
        .await)
    .expect("raw")
    .expect("stored");
    assert!(
        !raw.windows(8).any(|w| w == b"$argon2i"),
        "the hash is not in the user record"
    );
    let events = all_audit(db.as_ref(), tid(&p)).await;
    let set = &events[before];
    assert_eq!(set.action, AuditAction::SetPassword);
    assert_eq!((set.before, set.after), (None, None));
    // The hash is somewhere in the tenant, as a PHC string of Argon2id.
    let (begin, end) = tid(&p).range();
    let rows = scan(db.as_ref(), &begin, &end).await;
    assert!(rows
        .iter()
        .any(|(_, v)| v.windows(9).any(|w| w == b"$argon2id")));
}

// ---------------------------------------------------------------------------------------
// quotas

/// Quotas of the plan are enforced on create with `QuotaExceeded`; deleting frees a slot,
/// and -1 is unlimited.
pub async fn quotas_are_enforced(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "quota.test", Plan::Free).await;
    let quotas = Plan::Free.default_quotas();
    let mut users = Vec::new();
    for i in 1..quotas.max_users {
        let u = in_tenant!(db, tid(&p), |ttx| {
            record::insert(
                &ttx,
                admin(&p),
                User::new(format!("u{i}@quota.test"), "U", UserRole::Viewer),
            )
            .await
        })
        .expect("within quota");
        users.push(u);
    }
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            User::new("over@quota.test", "O", UserRole::Viewer),
        )
        .await
    })
    .expect_err("over quota");
    assert!(
        matches!(error, Error::QuotaExceeded { resource: "users", limit } if limit == quotas.max_users),
        "{error:?}"
    );
    in_tenant!(db, tid(&p), |ttx| record::delete::<User>(
        &ttx,
        admin(&p),
        users[0].id
    )
    .await)
    .expect("delete");
    in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            User::new("again@quota.test", "A", UserRole::Viewer),
        )
        .await
    })
    .expect("a freed slot");

    for i in 0..quotas.max_projects {
        project_in(db.as_ref(), &p, &format!("P{i}")).await;
    }
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new("PX", "X", p.root.id, p.admin_member.id),
        )
        .await
    })
    .expect_err("over project quota");
    assert!(
        matches!(
            error,
            Error::QuotaExceeded {
                resource: "projects",
                ..
            }
        ),
        "{error:?}"
    );

    let config = agent_config_in(db.as_ref(), &p, "bots").await;
    for _ in 0..quotas.max_agents {
        in_tenant!(db, tid(&p), |ttx| {
            record::insert(
                &ttx,
                admin(&p),
                Member::new(MemberKind::Agent(config), "bot"),
            )
            .await
        })
        .expect("agent within quota");
    }
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Agent(config), "bot"),
        )
        .await
    })
    .expect_err("over agent quota");
    assert!(
        matches!(
            error,
            Error::QuotaExceeded {
                resource: "agents",
                ..
            }
        ),
        "{error:?}"
    );

    // Lift the project quota: -1 is unlimited.
    let tx = db.begin().await.expect("begin");
    let mut entry = p.tenant.clone();
    entry.quotas.max_projects = -1;
    tenant::update(tx.as_ref(), Actor::System, entry)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    project_in(db.as_ref(), &p, "UNLIMITED").await;
}

// ---------------------------------------------------------------------------------------
// entities

/// The entity tree: levels only go down, only a Corporation is a root, codes are unique, and
/// the lookups by code, parent and kind answer.
pub async fn entity_hierarchy_rules_and_lookups(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "tree.test", Plan::Professional).await;
    let (division, team) = in_tenant!(db, tid(&p), |ttx| {
        let division = record::insert(
            &ttx,
            admin(&p),
            Entity::new("ENG", "Engineering", EntityKind::Division, Some(p.root.id)),
        )
        .await?;
        let team = record::insert(
            &ttx,
            admin(&p),
            Entity::new("CORE", "Core", EntityKind::Team, Some(division.id)),
        )
        .await?;
        Ok::<_, Error>((division, team))
    })
    .expect("tree");
    let cases = [
        (
            Entity::new("D1", "Dept", EntityKind::Department, Some(team.id)),
            "parent",
        ),
        (
            Entity::new("C2", "Corp", EntityKind::Corporation, Some(p.root.id)),
            "parent",
        ),
        (
            Entity::new("D2", "Div", EntityKind::Division, None),
            "parent",
        ),
        (
            Entity::new("bad code!", "Bad", EntityKind::Team, Some(division.id)),
            "code",
        ),
    ];
    for (bad, field) in cases {
        let error = in_tenant!(db, tid(&p), |ttx| record::insert(
            &ttx,
            admin(&p),
            bad.clone()
        )
        .await)
        .expect_err("rule");
        assert!(
            matches!(&error, Error::InvalidInput { field: f, .. } if *f == field),
            "{bad:?}: {error:?}"
        );
    }
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Entity::new("ENG", "Again", EntityKind::Division, Some(p.root.id)),
        )
        .await
    })
    .expect_err("duplicate code");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "entity",
            field: "code"
        }
    ));
    let (by_code, children, teams) = in_tenant!(db, tid(&p), |ttx| {
        let by_code = entity::by_code(&ttx, Actor::System, "CORE").await?;
        let children =
            entity::children(&ttx, Actor::System, division.id, &PageRequest::first(10)).await?;
        let teams = entity::by_kind(
            &ttx,
            Actor::System,
            EntityKind::Team,
            &PageRequest::first(10),
        )
        .await?;
        Ok::<_, Error>((by_code, children, teams))
    })
    .expect("lookups");
    assert_eq!(by_code, Some(team.clone()));
    assert_eq!(children.items, vec![team.clone()]);
    assert_eq!(teams.items, vec![team]);
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Entity>(
        &ttx,
        admin(&p),
        division.id
    )
    .await)
    .expect_err("has children");
    assert!(
        matches!(
        &error,
                Error::StillReferenced { model: "entity", by, .. }
                                if by.iter().any(|r| r.collection == "entity" && r.field == "parent")
                    ),
        "{error:?}"
    );
}

/// Re-parenting an entity under its own descendant is a cycle, refused; so is a kind change
/// that would put a child at its parent's level.
pub async fn entity_cycle_is_refused(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "cycle.test", Plan::Professional).await;
    let (a, b, c) = in_tenant!(db, tid(&p), |ttx| {
        let a = record::insert(
            &ttx,
            admin(&p),
            Entity::new("A", "A", EntityKind::Division, Some(p.root.id)),
        )
        .await?;
        let b = record::insert(
            &ttx,
            admin(&p),
            Entity::new("B", "B", EntityKind::Department, Some(a.id)),
        )
        .await?;
        let c = record::insert(
            &ttx,
            admin(&p),
            Entity::new("C", "C", EntityKind::Team, Some(b.id)),
        )
        .await?;
        Ok::<_, Error>((a, b, c))
    })
    .expect("chain");
    for (moved, under) in [(&a, &c), (&b, &c), (&a, &b)] {
        let mut moved = moved.clone();
        moved.parent = Some(under.id);
        let error = in_tenant!(db, tid(&p), |ttx| record::update(
            &ttx,
            admin(&p),
            moved.clone()
        )
        .await)
        .expect_err("cycle");
        assert!(
            matches!(&error, Error::InvalidInput { field: "parent", reason } if reason.contains("cycle")),
            "{error:?}"
        );
    }
    let mut self_parent = c.clone();
    self_parent.parent = Some(c.id);
    assert!(in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        self_parent.clone()
    )
    .await)
    .is_err());
    let mut flattened = b.clone();
    flattened.kind = EntityKind::Team;
    let error = in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        flattened.clone()
    )
    .await)
    .expect_err("level");
    assert!(
        matches!(error, Error::InvalidInput { field: "kind", .. }),
        "{error:?}"
    );
    // A legal move: the team goes directly under the division.
    let mut moved = c.clone();
    moved.parent = Some(a.id);
    in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        moved.clone()
    )
    .await)
    .expect("re-parent");
    let children = in_tenant!(db, tid(&p), |ttx| entity::children(
        &ttx,
        Actor::System,
        a.id,
        &PageRequest::first(10)
    )
    .await)
    .expect("children");
    assert_eq!(children.items.len(), 2);
}

// ---------------------------------------------------------------------------------------
// members, projects

/// Members: one per user (unique), agents by configuration, the user must exist.
pub async fn member_lookups_and_rules(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "members.test", Plan::Professional).await;
    let agent = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, agent, "Bot").await;
    let (by_user, by_agent) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            member::by_user(&ttx, Actor::System, p.admin.id).await?,
            member::by_agent(&ttx, Actor::System, agent, &PageRequest::first(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_user, Some(p.admin_member.clone()));
    assert_eq!(by_agent.items, vec![bot]);
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Human(p.admin.id), "Twice"),
        )
        .await
    })
    .expect_err("second member of a user");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "member",
            field: "user"
        }
    ));
    let ghost = UserId::generate();
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Human(ghost), "Ghost"),
        )
        .await
    })
    .expect_err("missing user");
    assert!(
        matches!(
            error,
            Error::InvalidReference {
                field: "user",
                target: "user",
                ..
            }
        ),
        "{error:?}"
    );
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<User>(
        &ttx,
        admin(&p),
        p.admin.id
    )
    .await)
    .expect_err("user with a member");
    assert!(matches!(
&error, Error::StillReferenced { model: "user", by, .. }
                if by.iter().any(|r| r.collection == "member" && r.field == "user")));
    let web = project_in(db.as_ref(), &p, "OWNED").await;
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Member>(
        &ttx,
        admin(&p),
        p.admin_member.id
    )
    .await)
    .expect_err("owner of a project");
    assert!(
        matches!(
        &error,
                Error::StillReferenced { model: "member", by, .. }
                                if by.iter().any(|r| r.collection == "project" && r.field == "owner")
                        ),
        "{error:?}"
    );
    in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect("delete project");
    let bot_id = by_agent.items[0].id;
    in_tenant!(db, tid(&p), |ttx| record::delete::<Member>(
        &ttx,
        admin(&p),
        bot_id
    )
    .await)
    .expect("delete agent member");
}

/// Projects: unique code, lookups by entity and owner, references checked, archive, and no
/// delete while tasks remain.
pub async fn project_crud_lookups_and_references(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "projects.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new("WEB", "Again", p.root.id, p.admin_member.id),
        )
        .await
    })
    .expect_err("duplicate code");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "project",
            field: "code"
        }
    ));
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new(
                "NOPE",
                "No entity",
                coditect_core::ids::EntityId::generate(),
                p.admin_member.id,
            ),
        )
        .await
    })
    .expect_err("missing entity");
    assert!(matches!(
        error,
        Error::InvalidReference {
            field: "entity",
            ..
        }
    ));
    let (by_code, by_entity, by_owner) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            project::by_code(&ttx, Actor::System, "WEB").await?,
            project::by_entity(&ttx, Actor::System, p.root.id, &PageRequest::first(10)).await?,
            project::by_owner(
                &ttx,
                Actor::System,
                p.admin_member.id,
                &PageRequest::first(10),
            )
            .await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_code, Some(web.clone()));
    assert_eq!(by_entity.items, vec![web.clone()]);
    assert_eq!(by_owner.items, vec![web.clone()]);
    in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        Task::new(web.id, "t", p.admin_member.id)
    )
    .await)
    .expect("task");
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect_err("has tasks");
    assert!(matches!(
    &error,
        Error::StillReferenced { model: "project", by, .. }
                        if by.iter().any(|r| r.collection == "task" && r.field == "project")
            ));
    let mut archived = web.clone();
    archived.archived = true;
    archived.code = "WEB-OLD".into();
    in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        archived.clone()
    )
    .await)
    .expect("archive");
    let again = project_in(db.as_ref(), &p, "WEB").await;
    assert_ne!(
        again.id, web.id,
        "a code freed by an update can be taken again"
    );
}

// ---------------------------------------------------------------------------------------
// tasks

/// Tasks: every lookup (project, assignee, status, parent) follows updates.
pub async fn task_crud_and_lookups(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "tasks.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let config = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, config, "Bot").await;
    // An agent acts under the same rules as a person: it needs a role to write tasks.
    grant(db.as_ref(), &p, bot.id, "contributor", p.root.id).await;
    let (parent, child) = in_tenant!(db, tid(&p), |ttx| {
        let mut parent = Task::new(web.id, "Parent", p.admin_member.id);
        parent.assignee = Some(bot.id);
        let parent = record::insert(&ttx, admin(&p), parent).await?;
        let mut child = Task::new(web.id, "Child", bot.id);
        child.parent = Some(parent.id);
        let child = record::insert(&ttx, Actor::Member(bot.id), child).await?;
        Ok::<_, Error>((parent, child))
    })
    .expect("tasks");
    let (tenant, web_id, bot_id, parent_id) = (tid(&p), web.id, bot.id, parent.id);
    let lookups = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| {
            Ok::<_, Error>((
                task::by_project(&ttx, Actor::System, web_id, &PageRequest::first(10))
                    .await?
                    .items
                    .len(),
                task::by_assignee(&ttx, Actor::System, bot_id, &PageRequest::first(10))
                    .await?
                    .items,
                task::by_status(
                    &ttx,
                    Actor::System,
                    TaskStatus::Done,
                    &PageRequest::first(10),
                )
                .await?
                .items,
                task::subtasks(&ttx, Actor::System, parent_id, &PageRequest::first(10))
                    .await?
                    .items,
            ))
        })
        .expect("lookups")
    };
    let (in_project, assigned, done, subtasks) = lookups(db.clone()).await;
    assert_eq!(in_project, 2);
    assert_eq!(assigned, vec![parent.clone()]);
    assert!(done.is_empty());
    assert_eq!(subtasks, vec![child.clone()]);
    let mut finished = parent.clone();
    finished.status = TaskStatus::Done;
    finished.assignee = None;
    let finished = in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        Actor::Member(bot.id),
        finished.clone()
    )
    .await)
    .expect("update");
    let (_, assigned, done, _) = lookups(db.clone()).await;
    assert!(assigned.is_empty());
    assert_eq!(done, vec![finished]);
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Task>(
        &ttx,
        admin(&p),
        parent.id
    )
    .await)
    .expect_err("has subtasks");
    assert!(matches!(
&error, Error::StillReferenced { model: "task", by, .. }
                if by.iter().any(|r| r.collection == "task" && r.field == "parent")));
    in_tenant!(db, tid(&p), |ttx| record::delete::<Task>(
        &ttx,
        admin(&p),
        child.id
    )
    .await)
    .expect("delete child");
    in_tenant!(db, tid(&p), |ttx| record::delete::<Task>(
        &ttx,
        admin(&p),
        parent.id
    )
    .await)
    .expect("delete parent");
    let (in_project, ..) = lookups(db.clone()).await;
    assert_eq!(in_project, 0);
}

/// A parent task is in the same project, and parents never form a cycle.
pub async fn task_parent_rules(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "subtasks.test", Plan::Professional).await;
    let (one, two) = (
        project_in(db.as_ref(), &p, "ONE").await,
        project_in(db.as_ref(), &p, "TWO").await,
    );
    let (a, b) = in_tenant!(db, tid(&p), |ttx| {
        let a = record::insert(&ttx, admin(&p), Task::new(one.id, "A", p.admin_member.id)).await?;
        let mut b = Task::new(one.id, "B", p.admin_member.id);
        b.parent = Some(a.id);
        Ok::<_, Error>((a, record::insert(&ttx, admin(&p), b).await?))
    })
    .expect("tasks");
    let mut elsewhere = Task::new(two.id, "C", p.admin_member.id);
    elsewhere.parent = Some(a.id);
    let error = in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        elsewhere.clone()
    )
    .await)
    .expect_err("other project");
    assert!(
        matches!(
            error,
            Error::InvalidInput {
                field: "parent",
                ..
            }
        ),
        "{error:?}"
    );
    let mut looped = a.clone();
    looped.parent = Some(b.id);
    let error = in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        looped.clone()
    )
    .await)
    .expect_err("cycle");
    assert!(
        matches!(&error, Error::InvalidInput { field: "parent", reason } if reason.contains("cycle")),
        "{error:?}"
    );
    let mut moved = a.clone();
    moved.project = two.id;
    let error = in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        moved.clone()
    )
    .await)
    .expect_err("subtasks stay");
    assert!(matches!(
        error,
        Error::InvalidInput {
            field: "project",
            ..
        }
    ));
}

/// An assignee from another tenant does not exist here: the create fails, naming the field,
/// and writes nothing.
pub async fn cross_tenant_assignee_fails(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.cross.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.cross.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &a, "WEB").await;
    let mut stolen = Task::new(web.id, "Cross", a.admin_member.id);
    stolen.assignee = Some(b.admin_member.id);
    let error = in_tenant!(db, tid(&a), |ttx| record::insert(
        &ttx,
        admin(&a),
        stolen.clone()
    )
    .await)
    .expect_err("cross-tenant");
    assert!(
        matches!(error, Error::InvalidReference { model: "task", field: "assignee", target: "member", id } if id == b.admin_member.id.uuid()),
        "{error:?}"
    );
    let error = in_tenant!(db, tid(&a), |ttx| {
        record::insert(
            &ttx,
            Actor::Member(b.admin_member.id),
            Task::new(web.id, "Acted", a.admin_member.id),
        )
        .await
    })
    .expect_err("cross-tenant actor");
    assert!(
        matches!(error, Error::InvalidReference { field: "actor", .. }),
        "{error:?}"
    );
    let tasks = in_tenant!(db, tid(&a), |ttx| task::by_project(
        &ttx,
        Actor::System,
        web.id,
        &PageRequest::first(10)
    )
    .await)
    .expect("list");
    assert!(tasks.items.is_empty());
}

// ---------------------------------------------------------------------------------------
// comments, files

/// Comments list in the order they were written.
pub async fn comments_are_in_time_order(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "comments.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let t = in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        Task::new(web.id, "T", p.admin_member.id)
    )
    .await)
    .expect("task");
    let mut written = Vec::new();
    for i in 0..12 {
        let c = in_tenant!(db, tid(&p), |ttx| {
            record::insert(
                &ttx,
                admin(&p),
                Comment::new(t.id, p.admin_member.id, format!("comment {i}")),
            )
            .await
        })
        .expect("comment");
        written.push(c.id);
    }
    let mut read = Vec::new();
    let mut request = PageRequest::first(5);
    loop {
        let page = in_tenant!(db, tid(&p), |ttx| comment::by_task(
            &ttx,
            Actor::System,
            t.id,
            &request
        )
        .await)
        .expect("page");
        read.extend(page.items.iter().map(|c| c.id));
        match page.next {
            Some(next) => request = PageRequest::after(next, 5),
            None => break,
        }
    }
    assert_eq!(read, written);
    let edited = in_tenant!(db, tid(&p), |ttx| comment::edit(
        &ttx,
        admin(&p),
        written[0],
        "changed"
    )
    .await)
    .expect("edit");
    assert!(edited.edited_at_ms.is_some());
}

/// Schema evolution: version-1 comment bytes read as version 2 (through the frozen v1 struct
/// and the upgrade function), and the next write stores version 2.
pub async fn comment_v1_bytes_upgrade_to_v2(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "schema.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let c = in_tenant!(db, tid(&p), |ttx| {
        let t = record::insert(&ttx, admin(&p), Task::new(web.id, "T", p.admin_member.id)).await?;
        record::insert(
            &ttx,
            admin(&p),
            Comment::new(t.id, p.admin_member.id, "hello"),
        )
        .await
    })
    .expect("comment");
    let v1 = CommentV1 {
        id: c.id,
        task: c.task,
        author: c.author,
        body: "written by version 1".into(),
        stamps: c.stamps,
    };
    in_tenant!(db, tid(&p), |ttx| {
        let bytes = v1.to_stored_bytes()?;
        ttx.set(&record::key_of::<Comment>(&ttx, c.id), &bytes)
    })
    .expect("store v1 bytes");
    let (tenant, comment_id) = (tid(&p), c.id);
    let raw = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| ttx
            .get(&record::key_of::<Comment>(&ttx, comment_id), false)
            .await)
        .expect("raw")
        .expect("stored")
    };
    assert_eq!(raw(db.clone()).await[0], 1);
    let read = in_tenant!(db, tid(&p), |ttx| record::require::<Comment>(
        &ttx,
        Actor::System,
        c.id
    )
    .await)
    .expect("read v1");
    assert_eq!(read.body, "written by version 1");
    assert_eq!(read.edited_at_ms, None);
    in_tenant!(db, tid(&p), |ttx| comment::edit(
        &ttx,
        admin(&p),
        c.id,
        "written by version 2"
    )
    .await)
    .expect("write");
    let bytes = raw(db.clone()).await;
    assert_eq!(bytes[0], 2, "the next write stores version 2");
    let read = in_tenant!(db, tid(&p), |ttx| record::require::<Comment>(
        &ttx,
        Actor::System,
        c.id
    )
    .await)
    .expect("read v2");
    assert_eq!(read.body, "written by version 2");
    assert!(read.edited_at_ms.is_some());
}

/// Unknown schema versions and corrupt bytes are `Decode` errors, never a panic.
pub async fn unknown_version_and_corrupt_bytes_are_decode_errors(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "decode.test", Plan::Professional).await;
    for bad in [
        vec![99u8, 1, 2, 3],
        vec![1u8, 0xFF, 0xFF, 0xFF],
        vec![],
        vec![1u8],
    ] {
        let error = in_tenant!(db, tid(&p), |ttx| {
            ttx.set(&record::key_of::<Entity>(&ttx, p.root.id), &bad)?;
            record::require::<Entity>(&ttx, Actor::System, p.root.id).await
        })
        .expect_err("bad bytes");
        assert!(
            matches!(error, Error::Decode { what: "entity", .. }),
            "{bad:?}: {error:?}"
        );
    }
}

/// Files: the path is unique within a project (the same path in another project is fine),
/// lookups by path and by project.
pub async fn file_path_unique_within_project(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "files.test", Plan::Professional).await;
    let (one, two) = (
        project_in(db.as_ref(), &p, "ONE").await,
        project_in(db.as_ref(), &p, "TWO").await,
    );
    let f = in_tenant!(db, tid(&p), |ttx| {
        let f = record::insert(
            &ttx,
            admin(&p),
            File::new(one.id, "/docs/a.md", 10, [1; 32], "s3://b/1"),
        )
        .await?;
        record::insert(
            &ttx,
            admin(&p),
            File::new(one.id, "/docs/b.md", 20, [2; 32], "s3://b/2"),
        )
        .await?;
        record::insert(
            &ttx,
            admin(&p),
            File::new(two.id, "/docs/a.md", 30, [3; 32], "s3://b/3"),
        )
        .await?;
        Ok::<_, Error>(f)
    })
    .expect("files");
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            File::new(one.id, "/docs/a.md", 1, [0; 32], "s3://b/4"),
        )
        .await
    })
    .expect_err("duplicate path");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "file",
            field: "path"
        }
    ));
    for bad in ["docs/a.md", "/docs/../x", "/a//b", "/a/"] {
        let error = in_tenant!(db, tid(&p), |ttx| {
            record::insert(
                &ttx,
                admin(&p),
                File::new(one.id, bad, 1, [0; 32], "s3://b/5"),
            )
            .await
        })
        .expect_err(bad);
        assert!(
            matches!(error, Error::InvalidInput { field: "path", .. }),
            "{bad}"
        );
    }
    let (found, listed) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            file::by_path(&ttx, Actor::System, one.id, "/docs/a.md").await?,
            file::by_project(&ttx, Actor::System, one.id, &PageRequest::first(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(found, Some(f));
    let paths: Vec<&str> = listed.items.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/docs/a.md", "/docs/b.md"]);
}

// ---------------------------------------------------------------------------------------
// paging, isolation, the tenant guard, keys, audit

/// Lists page by an opaque cursor: more than one page, every record exactly once.
pub async fn pagination_over_several_pages(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "pages.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let created: BTreeSet<TaskId> = in_tenant!(db, tid(&p), |ttx| {
        let mut ids = BTreeSet::new();
        for i in 0..25 {
            ids.insert(
                record::insert(
                    &ttx,
                    admin(&p),
                    Task::new(web.id, format!("task {i}"), p.admin_member.id),
                )
                .await?
                .id,
            );
        }
        Ok::<_, Error>(ids)
    })
    .expect("tasks");
    for limit in [10usize, 7] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut request = PageRequest::first(limit);
        loop {
            let page = in_tenant!(db, tid(&p), |ttx| task::by_project(
                &ttx,
                Actor::System,
                web.id,
                &request
            )
            .await)
            .expect("page");
            pages += 1;
            assert!(page.items.len() <= limit);
            seen.extend(page.items.iter().map(|t| t.id));
            match page.next {
                Some(next) => request = PageRequest::after(next, limit),
                None => break,
            }
        }
        assert_eq!(pages, 25usize.div_ceil(limit));
        assert_eq!(seen.len(), 25);
        assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), created);
    }
    let mut all = 0;
    let mut request = PageRequest::first(4);
    loop {
        let page = in_tenant!(db, tid(&p), |ttx| record::list::<Task>(
            &ttx,
            Actor::System,
            &request
        )
        .await)
        .expect("list");
        all += page.items.len();
        match page.next {
            Some(next) => request = PageRequest::after(next, 4),
            None => break,
        }
    }
    assert_eq!(all, 25);
}

/// Two tenants with the same codes, emails and names each see only their own records.
pub async fn tenants_with_the_same_names_are_isolated(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.iso.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.iso.test", Plan::Professional).await;
    assert_eq!(a.admin.email, b.admin.email);
    let mut made = Vec::new();
    for p in [&a, &b] {
        let web = project_in(db.as_ref(), p, "WEB").await;
        let dev = in_tenant!(db, tid(p), |ttx| {
            let dev = record::insert(
                &ttx,
                admin(p),
                User::new("dev@same.test", "Same Name", UserRole::Developer),
            )
            .await?;
            record::insert(
                &ttx,
                admin(p),
                Entity::new("ENG", "Engineering", EntityKind::Division, Some(p.root.id)),
            )
            .await?;
            record::insert(
                &ttx,
                admin(p),
                Task::new(web.id, "Same title", p.admin_member.id),
            )
            .await?;
            Ok::<_, Error>(dev)
        })
        .expect("same names");
        made.push((web, dev));
    }
    for (p, (web, dev)) in [&a, &b].into_iter().zip(&made) {
        let (project, user, admin_user, users, tasks, entities) = in_tenant!(db, tid(p), |ttx| {
            Ok::<_, Error>((
                project::by_code(&ttx, Actor::System, "WEB").await?,
                user::by_email(&ttx, Actor::System, "dev@same.test").await?,
                user::by_email(&ttx, Actor::System, "admin@acme.test").await?,
                record::list::<User>(&ttx, Actor::System, &PageRequest::first(100))
                    .await?
                    .items,
                record::list::<Task>(&ttx, Actor::System, &PageRequest::first(100))
                    .await?
                    .items,
                record::list::<Entity>(&ttx, Actor::System, &PageRequest::first(100))
                    .await?
                    .items,
            ))
        })
        .expect("reads");
        assert_eq!(project.as_ref().map(|x| x.id), Some(web.id));
        assert_eq!(user.as_ref().map(|x| x.id), Some(dev.id));
        assert_eq!(admin_user.map(|x| x.id), Some(p.admin.id));
        assert_eq!(users.len(), 2);
        assert!(users.iter().all(|u| u.id == p.admin.id || u.id == dev.id));
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].project, web.id);
        assert_eq!(entities.len(), 2);
    }
    // The other tenant's record ids do not resolve here.
    let other = in_tenant!(db, tid(&a), |ttx| record::get::<Project>(
        &ttx,
        Actor::System,
        made[1].0.id
    )
    .await)
    .expect("get");
    assert!(other.is_none());
}

/// A `TenantTx` asked for another tenant's key, a system key, or a range crossing its prefix
/// fails with `TenantViolation` before the store sees anything; and everything the model layer
/// does stays inside the tenant.
pub async fn tenant_tx_refuses_keys_outside_its_tenant(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.guard.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.guard.test", Plan::Professional).await;
    let b_key = in_tenant!(db, tid(&b), |ttx| Ok::<_, Error>(record::key_of::<User>(
        &ttx, b.admin.id
    )))
    .expect("key");
    let b_value = scan(db.as_ref(), &b_key, &coditect_core::key_after(&b_key)).await;
    assert_eq!(b_value.len(), 1);
    let (a_begin, a_end) = tid(&a).range();
    let (b_begin, b_end) = tid(&b).range();
    let system_key = foundationdb_tuple::pack(&("sys", "tenant", tid(&b).uuid()));

    let recording = Box::new(Recording::new(db.begin().await.expect("begin")));
    let ttx = TenantTx::open(recording.as_ref(), tid(&a))
        .await
        .expect("open");
    recording.touched();
    let is_violation = |r: Result<()>| matches!(r, Err(Error::TenantViolation { tenant, .. }) if tenant == tid(&a).uuid());
    assert!(is_violation(ttx.get(&b_key, false).await.map(|_| ())));
    assert!(is_violation(ttx.get(&system_key, true).await.map(|_| ())));
    assert!(is_violation(ttx.set(&b_key, b"stolen")));
    assert!(is_violation(ttx.clear(&b_key)));
    let crossing_up = vec![0xFF];
    assert!(is_violation(
        ttx.get_range(&a_begin, &crossing_up, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    assert!(is_violation(
        ttx.get_range(&b_begin, &b_end, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    let below = prefix_end(&[0x2F]).expect("end");
    assert!(is_violation(
        ttx.get_range(&below, &a_end, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    assert!(is_violation(ttx.clear_range(&a_begin, &b_end)));
    assert!(is_violation(ttx.clear_range(&[], &a_end)));
    // Audit events are append-only, even inside the tenant.
    let audit_prefix = foundationdb_tuple::pack(&(tid(&a).uuid(), "audit"));
    let append_only = |r: Result<()>| matches!(r, Err(Error::InvalidInput { field: "key", .. }));
    assert!(append_only(ttx.set(&audit_prefix, b"forged")));
    assert!(append_only(ttx.clear(&audit_prefix)));
    assert!(append_only(ttx.clear_range(&a_begin, &a_end)));
    assert!(recording.touched().is_empty(), "nothing reached the store");

    // The model layer itself touches only the tenant's keys.
    let web = record::insert(
        &ttx,
        admin(&a),
        Project::new("WEB", "Web", a.root.id, a.admin_member.id),
    )
    .await
    .expect("project");
    task::by_project(&ttx, Actor::System, web.id, &PageRequest::first(10))
        .await
        .expect("list");
    let touched = recording.touched();
    assert!(!touched.is_empty());
    assert!(
        touched
            .iter()
            .all(|k| k.starts_with(&a_begin) || *k == a_end),
        "every key inside tenant a"
    );
    drop(ttx);
    recording.commit().await.expect("commit");
    assert_eq!(
        scan(db.as_ref(), &b_key, &coditect_core::key_after(&b_key)).await,
        b_value
    );
}

/// Stored keys decode with the tuple layer: tenant keys start with the tenant's UUID, system
/// keys with "sys"; nothing else is stored.
pub async fn stored_keys_decode_with_the_tenant_uuid_first(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.keys.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.keys.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &a, "WEB").await;
    in_tenant!(db, tid(&a), |ttx| record::insert(
        &ttx,
        admin(&a),
        Task::new(web.id, "T", a.admin_member.id)
    )
    .await)
    .expect("task");
    for p in [&a, &b] {
        let (begin, end) = tid(p).range();
        let rows = scan(db.as_ref(), &begin, &end).await;
        assert!(rows.len() > 8);
        let mut collections = BTreeSet::new();
        for (key, _) in &rows {
            let elements: Vec<Element> = foundationdb_tuple::unpack(key).expect("a tuple");
            assert_eq!(elements[0].as_uuid(), Some(&tid(p).uuid()), "tenant first");
            collections.insert(elements[1].as_str().expect("a collection").to_owned());
            assert_eq!(keys::tenant_of_key(key), Some(tid(p)));
        }
        for expected in ["audit", "entity", "idx", "member", "meta", "user"] {
            assert!(
                collections.contains(expected),
                "{expected} in {collections:?}"
            );
        }
    }
    let sys = foundationdb_tuple::pack(&("sys",));
    let sys_begin = &sys[..sys.len() - 1];
    let rows = scan(db.as_ref(), sys_begin, &prefix_end(sys_begin).expect("end")).await;
    assert_eq!(rows.len(), 4, "two registry entries, two domain entries");
    for (key, _) in rows {
        let elements: Vec<Element> = foundationdb_tuple::unpack(&key).expect("a tuple");
        assert_eq!(elements[0].as_str(), Some("sys"));
    }
}

/// Every mutation writes exactly one audit event in its transaction: actor, action, model,
/// id, and SHA-256 digests of the stored bytes before and after.
pub async fn every_mutation_writes_one_audit_event(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "audit.test", Plan::Professional).await;
    let start = all_audit(db.as_ref(), tid(&p)).await.len();
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let (tenant, web_id) = (tid(&p), web.id);
    let stored = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| ttx
            .get(&record::key_of::<Project>(&ttx, web_id), false)
            .await)
        .expect("raw")
    };
    let created_bytes = stored(db.clone()).await.expect("stored");
    let mut renamed = web.clone();
    renamed.name = "Renamed".into();
    in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        renamed.clone()
    )
    .await)
    .expect("update");
    let updated_bytes = stored(db.clone()).await.expect("stored");
    in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect("delete");
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(events.len(), start + 3);
    let [create, update, delete] = &events[start..] else {
        unreachable!("three events")
    };
    for (event, action) in [
        (create, AuditAction::Create),
        (update, AuditAction::Update),
        (delete, AuditAction::Delete),
    ] {
        assert_eq!(event.action, action);
        assert_eq!(event.actor, admin(&p));
        assert_eq!(event.model, "project");
        assert_eq!(event.record_id, web.id.uuid());
        assert!(event.at_ms > 0);
    }
    assert_eq!(
        (create.before, create.after),
        (None, Some(audit::digest(&created_bytes)))
    );
    assert_eq!(
        (update.before, update.after),
        (
            Some(audit::digest(&created_bytes)),
            Some(audit::digest(&updated_bytes))
        )
    );
    assert_eq!(
        (delete.before, delete.after),
        (Some(audit::digest(&updated_bytes)), None)
    );
    // A failed mutation leaves no event.
    let _ = in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect_err("gone");
    assert_eq!(all_audit(db.as_ref(), tid(&p)).await.len(), start + 3);
}

/// Audit appends are versionstamped: two writers in one tenant, each adding a comment to the
/// same task, both commit (the audit key never makes them conflict).
pub async fn concurrent_writers_in_one_tenant_do_not_conflict_on_audit(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "concurrent.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let t = in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        Task::new(web.id, "T", p.admin_member.id)
    )
    .await)
    .expect("task");
    let before = all_audit(db.as_ref(), tid(&p)).await.len();
    let (tx1, tx2) = (
        db.begin().await.expect("begin"),
        db.begin().await.expect("begin"),
    );
    for (tx, body) in [(&tx1, "one"), (&tx2, "two")] {
        let ttx = TenantTx::open(tx.as_ref(), tid(&p)).await.expect("open");
        record::insert(&ttx, admin(&p), Comment::new(t.id, p.admin_member.id, body))
            .await
            .expect("comment");
    }
    tx1.commit().await.expect("first commit");
    tx2.commit().await.expect("second commit: no conflict");
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(events.len(), before + 2);
    let comments = in_tenant!(db, tid(&p), |ttx| comment::by_task(
        &ttx,
        Actor::System,
        t.id,
        &PageRequest::first(10)
    )
    .await)
    .expect("list");
    assert_eq!(comments.items.len(), 2);
}

/// Isolation, adversarially: random operations of many tenants that share every code, email
/// and title, each through a recording transaction; every key any operation touches (after the
/// registry read that opens the tenant) belongs to the acting tenant, references to another
/// tenant's members fail, and each tenant's records are exactly the ones it made.
pub async fn random_operations_touch_only_the_acting_tenant(h: &dyn Harness) {
    use std::collections::BTreeMap;

    const TENANTS: usize = 6;
    const OPERATIONS: usize = 240;
    let db = h.backend();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        tenants.push(
            provisioned(
                db.as_ref(),
                &format!("t{i}.random.test"),
                Plan::Professional,
            )
            .await,
        );
    }
    // What each tenant should hold, tracked beside the store.
    let mut emails: Vec<BTreeSet<String>> = vec![BTreeSet::new(); TENANTS];
    let mut projects: Vec<BTreeMap<String, Project>> = vec![BTreeMap::new(); TENANTS];
    let mut tasks: Vec<BTreeMap<TaskId, Task>> = vec![BTreeMap::new(); TENANTS];

    for step in 0..OPERATIONS {
        let i = rng.usize(..TENANTS);
        let p = &tenants[i];
        let (begin, end) = tid(p).range();
        let recording = Box::new(Recording::new(db.begin().await.expect("begin")));
        let ttx = TenantTx::open(recording.as_ref(), tid(p))
            .await
            .expect("open");
        recording.touched();
        let context = format!("seed {seed}, step {step}, tenant {i}");
        match rng.u8(..7) {
            0 => {
                let email = format!("user{}@same.test", rng.u8(..8));
                let result = record::insert(
                    &ttx,
                    admin(p),
                    User::new(email.clone(), "Same", UserRole::Developer),
                )
                .await;
                let fresh = emails[i].insert(email);
                assert_eq!(result.is_ok(), fresh, "{context}: {result:?}");
            }
            1 => {
                let code = format!("P{}", rng.u8(..4));
                let result = record::insert(
                    &ttx,
                    admin(p),
                    Project::new(code.clone(), "Same", p.root.id, p.admin_member.id),
                )
                .await;
                match result {
                    Ok(made) => assert!(projects[i].insert(code, made).is_none(), "{context}"),
                    Err(error) => {
                        assert!(projects[i].contains_key(&code), "{context}: {error:?}");
                        assert!(
                            matches!(error, Error::AlreadyExists { field: "code", .. }),
                            "{context}"
                        );
                    }
                }
            }
            2 => {
                let Some(project) = projects[i]
                    .values()
                    .nth(rng.usize(..projects[i].len().max(1)))
                    .cloned()
                else {
                    continue;
                };
                let j = rng.usize(..TENANTS);
                let mut new = Task::new(project.id, "Same title", p.admin_member.id);
                new.assignee = Some(tenants[j].admin_member.id);
                match record::insert(&ttx, admin(p), new).await {
                    Ok(made) => {
                        assert_eq!(i, j, "{context}: another tenant's member was accepted");
                        tasks[i].insert(made.id, made);
                    }
                    Err(error) => {
                        assert_ne!(i, j, "{context}: {error:?}");
                        assert!(
                            matches!(
                                error,
                                Error::InvalidReference {
                                    field: "assignee",
                                    ..
                                }
                            ),
                            "{context}"
                        );
                    }
                }
            }
            3 => {
                let Some(mut t) = tasks[i]
                    .values()
                    .nth(rng.usize(..tasks[i].len().max(1)))
                    .cloned()
                else {
                    continue;
                };
                t.status = TaskStatus::Done;
                let updated = record::update(&ttx, admin(p), t).await.expect(&context);
                tasks[i].insert(updated.id, updated);
            }
            4 => {
                let Some(id) = tasks[i]
                    .keys()
                    .nth(rng.usize(..tasks[i].len().max(1)))
                    .copied()
                else {
                    continue;
                };
                record::delete::<Task>(&ttx, admin(p), id)
                    .await
                    .expect(&context);
                tasks[i].remove(&id);
            }
            5 => {
                let email = format!("user{}@same.test", rng.u8(..8));
                let found = user::by_email(&ttx, Actor::System, &email)
                    .await
                    .expect(&context);
                assert_eq!(found.is_some(), emails[i].contains(&email), "{context}");
                let listed = record::list::<Task>(&ttx, Actor::System, &PageRequest::first(1000))
                    .await
                    .expect(&context);
                let ids: BTreeSet<TaskId> = listed.items.iter().map(|t| t.id).collect();
                assert_eq!(ids, tasks[i].keys().copied().collect(), "{context}");
            }
            _ => {
                // Another tenant's task id resolves to nothing here.
                let j = rng.usize(..TENANTS);
                if let Some(id) = tasks[j].keys().next().copied() {
                    let got = record::get::<Task>(&ttx, Actor::System, id)
                        .await
                        .expect(&context);
                    assert_eq!(got.is_some(), i == j, "{context}");
                }
            }
        }
        let touched = recording.touched();
        for key in &touched {
            assert!(
                key.starts_with(&begin) || *key == end,
                "{context}: touched a key outside the tenant: {key:?}"
            );
        }
        drop(ttx);
        recording.commit().await.expect("commit");
    }
    for (i, p) in tenants.iter().enumerate() {
        let (users, listed_projects, listed_tasks) = in_tenant!(db, tid(p), |ttx| {
            Ok::<_, Error>((
                record::list::<User>(&ttx, Actor::System, &PageRequest::first(1000))
                    .await?
                    .items,
                record::list::<Project>(&ttx, Actor::System, &PageRequest::first(1000))
                    .await?
                    .items,
                record::list::<Task>(&ttx, Actor::System, &PageRequest::first(1000))
                    .await?
                    .items,
            ))
        })
        .expect("final lists");
        assert_eq!(
            users.len(),
            emails[i].len() + 1,
            "seed {seed}: users of tenant {i}"
        );
        assert_eq!(
            listed_projects.len(),
            projects[i].len(),
            "seed {seed}: projects of tenant {i}"
        );
        let ids: BTreeSet<TaskId> = listed_tasks.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            tasks[i].keys().copied().collect(),
            "seed {seed}: tasks of tenant {i}"
        );
        assert!(listed_tasks
            .iter()
            .all(|t| t.assignee == Some(p.admin_member.id)));
    }
}

/// `run_in_tenant` retries a conflicting attempt; only the attempt that commits leaves records
/// and audit events.
pub async fn run_in_tenant_retries_a_conflict(h: &dyn Harness) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let db = h.backend();
    let p = provisioned(db.as_ref(), "retry.test", Plan::Professional).await;
    let audit_before = all_audit(db.as_ref(), tid(&p)).await.len();
    let stats = Arc::new(coditect_core::RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let attempts = Arc::new(AtomicU32::new(0));
    let (tenant, actor) = (tid(&p), admin(&p));
    let mine = User::new("mine@retry.test", "Mine", UserRole::Developer);
    let competing_db = db.clone();
    let (made, _) = coditect_core::run_in_tenant(db.as_ref(), &options, tenant, |ttx| async move {
        // A read of the user counter, which the competing create below writes.
        let users = record::count_of::<User>(&ttx, coditect_core::Principal::system()).await?;
        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
            in_tenant!(competing_db, tenant, |other| {
                record::insert(
                    &other,
                    actor,
                    User::new("theirs@retry.test", "Theirs", UserRole::Viewer),
                )
                .await
            })
            .expect("competing create");
        }
        let made = record::insert(&ttx, actor, mine).await?;
        Ok((users, made))
    })
    .await
    .expect("run_in_tenant");
    assert_eq!(stats.attempts(), 2);
    assert_eq!(stats.conflicts(), 1);
    assert_eq!(
        made.0, 2,
        "the retry saw the competing user (and the admin)"
    );
    let users = in_tenant!(db, tenant, |ttx| record::list::<User>(
        &ttx,
        Actor::System,
        &PageRequest::first(10)
    )
    .await)
    .expect("list");
    assert_eq!(users.items.len(), 3);
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 2);
}

/// After a commit whose result was unknown but which did commit, the retry of an insert or an
/// update finds its own write and succeeds without applying (or auditing) it twice.
pub async fn maybe_committed_retries_do_not_apply_twice(h: &dyn Harness) {
    use std::sync::Arc;

    let db = h.backend();
    let p = provisioned(db.as_ref(), "unknown.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    // Each commit phase below gets exactly one "maybe committed" after a real commit.
    let maybe_committed_once = || {
        let plan = FaultPlan {
            unknown_after_commit: 1.0,
            ..FaultPlan::NONE
        };
        FaultyBackend::new(db.clone(), plan, 0).limited(1)
    };
    let flaky = maybe_committed_once();
    let stats = Arc::new(coditect_core::RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let (tenant, actor) = (tid(&p), admin(&p));
    let audit_before = all_audit(db.as_ref(), tenant).await.len();

    let new = Task::new(web.id, "Exactly once", p.admin_member.id);
    let (made, _) = coditect_core::run_in_tenant(&flaky, &options, tenant, |ttx| async move {
        record::insert(&ttx, actor, new).await
    })
    .await
    .expect("insert after an unknown result");
    assert_eq!((stats.attempts(), stats.maybe_committed()), (2, 1));
    let tasks = in_tenant!(db, tenant, |ttx| task::by_project(
        &ttx,
        Actor::System,
        web.id,
        &PageRequest::first(10)
    )
    .await)
    .expect("list");
    assert_eq!(tasks.items, vec![made.clone()]);
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 1);

    let flaky = maybe_committed_once();
    let mut renamed = made.clone();
    renamed.title = "Renamed once".into();
    let (updated, _) = coditect_core::run_in_tenant(&flaky, &options, tenant, |ttx| async move {
        record::update(&ttx, actor, renamed).await
    })
    .await
    .expect("update after an unknown result");
    assert_eq!(updated.title, "Renamed once");
    assert_eq!((stats.attempts(), stats.maybe_committed()), (4, 2));
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 2);

    // Without the flag, a second insert of the same id is still a duplicate.
    let error = in_tenant!(db, tenant, |ttx| record::insert(&ttx, actor, made.clone())
        .await)
    .expect_err("duplicate id");
    assert!(
        matches!(
            error,
            Error::AlreadyExists {
                model: "task",
                field: "id"
            }
        ),
        "{error:?}"
    );
}
