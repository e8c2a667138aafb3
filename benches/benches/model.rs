//! The model bench: the record layer of coditect-core on the in-memory backend, through
//! `Arc<dyn KvBackend>` as the CLI uses it.
//!
//! Each figure is a whole transaction as a caller pays it: begin, open the `TenantTx` (one
//! registry read), the operation, and commit for writes (reads just drop the transaction).
//! The tenant holds 1,000 users and 10,000 tasks over 20 projects (500 each) before anything
//! is measured.
//!
//! `cargo bench -p coditect-benches --bench model` (short); `CODITECT_BENCH_LONG=1` for long.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coditect_benches::criterion;
use coditect_core::audit::Actor;
use coditect_core::ids::TaskId;
use coditect_core::model::{
    project, role, task, user, Entity, EntityKind, Member, MemberKind, Plan, Project,
    RoleAssignment, Task, User, UserRole,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record::{self, PageRequest};
use coditect_core::{KvBackend, TenantId, TenantTx};
use coditect_engine::EngineOptions;
use coditect_mem::new_backend;
use criterion::{criterion_group, Criterion};

const USERS: usize = 1_000;
const PROJECTS: usize = 20;
const TASKS_PER_PROJECT: usize = 500;

fn new_tenant(n: u64) -> NewTenant {
    NewTenant {
        id: TenantId::generate(),
        name: format!("Tenant {n}"),
        domain: format!("t{n}.bench.test"),
        plan: Plan::Enterprise,
        root_code: "ROOT".into(),
        admin_email: "admin@bench.test".into(),
        admin_name: "Admin".into(),
    }
}

struct Fixture {
    db: Arc<dyn KvBackend>,
    /// A Guest (no user-level rights) holding "contributor" at the root Corporation, and
    /// tasks of a project in a Team three levels below it (Team < Department < Division <
    /// Corporation): every update by them walks the tree up to the grant.
    contributor: Actor,
    team_tasks: Vec<Task>,
    tenant: Provisioned,
    actor: Actor,
    emails: Vec<String>,
    projects: Vec<Project>,
    tasks: Vec<TaskId>,
}

async fn fixture() -> Fixture {
    let db: Arc<dyn KvBackend> = Arc::new(new_backend(EngineOptions::default()));
    let tx = db.begin().await.expect("begin");
    let tenant = provision(tx.as_ref(), new_tenant(0))
        .await
        .expect("provision");
    tx.commit().await.expect("commit");
    let actor = Actor::Member(tenant.admin_member.id);
    let id = tenant.tenant.id;

    let mut emails = Vec::new();
    for chunk in 0..USERS / 100 {
        let tx = db.begin().await.expect("begin");
        let ttx = TenantTx::open(tx.as_ref(), id).await.expect("open");
        for i in 0..100 {
            let email = format!("user{}@bench.test", chunk * 100 + i);
            record::insert(
                &ttx,
                actor,
                User::new(email.clone(), "User", UserRole::Developer),
            )
            .await
            .expect("user");
            emails.push(email);
        }
        drop(ttx);
        tx.commit().await.expect("commit");
    }

    let mut projects = Vec::new();
    let mut tasks = Vec::new();
    for p in 0..PROJECTS {
        let tx = db.begin().await.expect("begin");
        let ttx = TenantTx::open(tx.as_ref(), id).await.expect("open");
        let proj = Project::new(
            format!("P{p}"),
            "Project",
            tenant.root.id,
            tenant.admin_member.id,
        );
        let proj = record::insert(&ttx, actor, proj).await.expect("project");
        for t in 0..TASKS_PER_PROJECT {
            let mut new = Task::new(proj.id, format!("Task {t}"), tenant.admin_member.id);
            new.assignee = Some(tenant.admin_member.id);
            tasks.push(record::insert(&ttx, actor, new).await.expect("task").id);
        }
        drop(ttx);
        tx.commit().await.expect("commit");
        projects.push(proj);
    }
    let (contributor, team_tasks) = org_fixture(&db, &tenant).await;
    Fixture {
        db,
        contributor,
        team_tasks,
        tenant,
        actor,
        emails,
        projects,
        tasks,
    }
}

async fn org_fixture(db: &Arc<dyn KvBackend>, tenant: &Provisioned) -> (Actor, Vec<Task>) {
    let admin = Actor::Member(tenant.admin_member.id);
    let tx = db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), tenant.tenant.id)
        .await
        .expect("open");
    let mut parent = tenant.root.id;
    for (code, kind) in [
        ("DIV", EntityKind::Division),
        ("DEPT", EntityKind::Department),
        ("TEAM", EntityKind::Team),
    ] {
        let entity = Entity::new(code, code, kind, Some(parent));
        parent = record::insert(&ttx, admin, entity)
            .await
            .expect("entity")
            .id;
    }
    let user = User::new("contributor@bench.test", "Contributor", UserRole::Guest);
    let user = record::insert(&ttx, admin, user).await.expect("user");
    let member = Member::new(MemberKind::Human(user.id), "Contributor");
    let member = record::insert(&ttx, admin, member).await.expect("member");
    let contributor = role::by_name(&ttx, Actor::System, "contributor")
        .await
        .expect("role")
        .expect("built in");
    let grant = RoleAssignment::new(member.id, contributor.id, tenant.root.id);
    record::insert(&ttx, admin, grant).await.expect("grant");
    let proj = Project::new("TEAMP", "Team project", parent, tenant.admin_member.id);
    let proj = record::insert(&ttx, admin, proj).await.expect("project");
    let mut tasks = Vec::new();
    for t in 0..100 {
        let new = Task::new(proj.id, format!("Team task {t}"), member.id);
        tasks.push(record::insert(&ttx, admin, new).await.expect("task"));
    }
    drop(ttx);
    tx.commit().await.expect("commit");
    (Actor::Member(member.id), tasks)
}

/// Renames a random task of `tasks` as `actor`, in a whole transaction.
async fn update_task(f: &Fixture, actor: Actor, tasks: &[Task]) -> Task {
    let tx = f.db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), f.tenant.tenant.id)
        .await
        .expect("open");
    let mut task = tasks[fastrand::usize(..tasks.len())].clone();
    task.title = format!("Renamed {}", fastrand::u32(..));
    let updated = record::update(&ttx, actor, task).await.expect("update");
    drop(ttx);
    tx.commit().await.expect("commit");
    updated
}

fn bench_model(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let f = runtime.block_on(fixture());
    let tenant = f.tenant.tenant.id;
    let mut group = c.benchmark_group("model");

    group.bench_function("get_task_by_id", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
                let id = f.tasks[fastrand::usize(..f.tasks.len())];
                black_box(
                    record::require::<Task>(&ttx, Actor::System, id)
                        .await
                        .expect("get"),
                )
            })
        })
    });

    group.bench_function("get_user_by_email", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
                let email = &f.emails[fastrand::usize(..f.emails.len())];
                black_box(
                    user::by_email(&ttx, Actor::System, email)
                        .await
                        .expect("lookup"),
                )
            })
        })
    });

    group.bench_function("get_project_by_code", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
                let code = format!("P{}", fastrand::usize(..PROJECTS));
                black_box(
                    project::by_code(&ttx, Actor::System, &code)
                        .await
                        .expect("lookup"),
                )
            })
        })
    });

    group.bench_function("create_task", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
                let proj = &f.projects[fastrand::usize(..f.projects.len())];
                let mut new = Task::new(proj.id, "Benchmarked", f.tenant.admin_member.id);
                new.assignee = Some(f.tenant.admin_member.id);
                let created = record::insert(&ttx, f.actor, new).await.expect("create");
                drop(ttx);
                tx.commit().await.expect("commit");
                black_box(created)
            })
        })
    });

    group.bench_function("list_50_tasks_of_a_project", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
                let proj = &f.projects[fastrand::usize(..f.projects.len())];
                let page = task::by_project(&ttx, Actor::System, proj.id, &PageRequest::first(50))
                    .await
                    .expect("list");
                assert_eq!(page.items.len(), 50);
                black_box(page)
            })
        })
    });

    // The same update by the tenant Admin (allowed at once) and by a member whose role is
    // granted three levels above the task's Team: the difference is the access check's walk.
    group.bench_function("update_task_as_tenant_admin", |b| {
        b.iter(|| {
            runtime.block_on(async { black_box(update_task(&f, f.actor, &f.team_tasks).await) })
        })
    });
    group.bench_function("authorized_task_update_grant_3_levels_up", |b| {
        b.iter(|| {
            runtime
                .block_on(async { black_box(update_task(&f, f.contributor, &f.team_tasks).await) })
        })
    });

    // What setting a password costs, by design: Argon2id with the production parameters.
    group.bench_function("hash_password_argon2id", |b| {
        b.iter(|| {
            black_box(
                user::hash_password(
                    "correct horse battery staple",
                    user::Argon2Params::default(),
                )
                .expect("hash"),
            )
        })
    });

    let counter = AtomicU64::new(1);
    group.bench_function("provision_tenant", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tx = f.db.begin().await.expect("begin");
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let made = provision(tx.as_ref(), new_tenant(n))
                    .await
                    .expect("provision");
                tx.commit().await.expect("commit");
                black_box(made)
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = bench_model
}
criterion::criterion_main!(benches);
