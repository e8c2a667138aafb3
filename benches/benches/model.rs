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

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coditect_core::audit::Actor;
use coditect_core::ids::TaskId;
use coditect_core::model::{
    project, role, task, user, Member, MemberKind, Project, RoleAssignment, Task, User, UserRole,
};
use coditect_core::provision::Provisioned;
use coditect_core::record::{self, PageRequest};
use coditect_core::KvBackend;
use criterion::Criterion;
use support::{numbered_tenant, provision_one, read_in, team_three_levels_down, write_in};

const USERS: usize = 1_000;
const PROJECTS: usize = 20;
const TASKS_PER_PROJECT: usize = 500;

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
    let db = support::mem_store();
    let tenant = provision_one(db.as_ref(), numbered_tenant(0)).await;
    let actor = Actor::Member(tenant.admin_member.id);
    let id = tenant.tenant.id;

    let mut emails = Vec::new();
    for chunk in 0..USERS / 100 {
        write_in(db.as_ref(), id, async |ttx| {
            for i in 0..100 {
                let email = format!("user{}@bench.test", chunk * 100 + i);
                let user = User::new(email.clone(), "User", UserRole::Developer);
                record::insert(ttx, actor, user).await.expect("user");
                emails.push(email);
            }
        })
        .await;
    }

    let mut projects = Vec::new();
    let mut tasks = Vec::new();
    for p in 0..PROJECTS {
        let admin = tenant.admin_member.id;
        let proj = write_in(db.as_ref(), id, async |ttx| {
            let proj = Project::new(format!("P{p}"), "Project", tenant.root.id, admin);
            let proj = record::insert(ttx, actor, proj).await.expect("project");
            for t in 0..TASKS_PER_PROJECT {
                let mut new = Task::new(proj.id, format!("Task {t}"), admin);
                new.assignee = Some(admin);
                tasks.push(record::insert(ttx, actor, new).await.expect("task").id);
            }
            proj
        })
        .await;
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
    write_in(db.as_ref(), tenant.tenant.id, async |ttx| {
        let team = team_three_levels_down(ttx, admin, tenant.root.id).await;
        let user = User::new("contributor@bench.test", "Contributor", UserRole::Guest);
        let user = record::insert(ttx, admin, user).await.expect("user");
        let member = Member::new(MemberKind::Human(user.id), "Contributor");
        let member = record::insert(ttx, admin, member).await.expect("member");
        let contributor = role::by_name(ttx, Actor::System, "contributor")
            .await
            .expect("role")
            .expect("built in");
        let grant = RoleAssignment::new(member.id, contributor.id, tenant.root.id);
        record::insert(ttx, admin, grant).await.expect("grant");
        let proj = Project::new("TEAMP", "Team project", team, tenant.admin_member.id);
        let proj = record::insert(ttx, admin, proj).await.expect("project");
        let mut tasks = Vec::new();
        for t in 0..100 {
            let new = Task::new(proj.id, format!("Team task {t}"), member.id);
            tasks.push(record::insert(ttx, admin, new).await.expect("task"));
        }
        (Actor::Member(member.id), tasks)
    })
    .await
}

/// Renames a random task of `tasks` as `actor`, in a whole transaction.
async fn update_task(f: &Fixture, actor: Actor, tasks: &[Task]) -> Task {
    write_in(f.db.as_ref(), f.tenant.tenant.id, async |ttx| {
        let mut task = tasks[fastrand::usize(..tasks.len())].clone();
        task.title = format!("Renamed {}", fastrand::u32(..));
        record::update(ttx, actor, task).await.expect("update")
    })
    .await
}

fn bench_model(c: &mut Criterion) {
    let runtime = support::runtime();
    let f = runtime.block_on(fixture());
    let tenant = f.tenant.tenant.id;
    let mut group = c.benchmark_group("model");

    group.bench_function("get_task_by_id", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let task = read_in(f.db.as_ref(), tenant, async |ttx| {
                    let id = f.tasks[fastrand::usize(..f.tasks.len())];
                    record::require::<Task>(ttx, Actor::System, id).await
                });
                black_box(task.await.expect("get"))
            })
        })
    });

    group.bench_function("get_user_by_email", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let user = read_in(f.db.as_ref(), tenant, async |ttx| {
                    let email = &f.emails[fastrand::usize(..f.emails.len())];
                    user::by_email(ttx, Actor::System, email).await
                });
                black_box(user.await.expect("lookup"))
            })
        })
    });

    group.bench_function("get_project_by_code", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let project = read_in(f.db.as_ref(), tenant, async |ttx| {
                    let code = format!("P{}", fastrand::usize(..PROJECTS));
                    project::by_code(ttx, Actor::System, &code).await
                });
                black_box(project.await.expect("lookup"))
            })
        })
    });

    group.bench_function("create_task", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let created = write_in(f.db.as_ref(), tenant, async |ttx| {
                    let proj = &f.projects[fastrand::usize(..f.projects.len())];
                    let mut new = Task::new(proj.id, "Benchmarked", f.tenant.admin_member.id);
                    new.assignee = Some(f.tenant.admin_member.id);
                    record::insert(ttx, f.actor, new).await.expect("create")
                });
                black_box(created.await)
            })
        })
    });

    group.bench_function("list_50_tasks_of_a_project", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let page = read_in(f.db.as_ref(), tenant, async |ttx| {
                    let proj = &f.projects[fastrand::usize(..f.projects.len())];
                    task::by_project(ttx, Actor::System, proj.id, &PageRequest::first(50)).await
                });
                let page = page.await.expect("list");
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
                let n = counter.fetch_add(1, Ordering::Relaxed);
                black_box(provision_one(f.db.as_ref(), numbered_tenant(n)).await)
            })
        })
    });
    group.finish();
}

coditect_benches::bench_main!(bench_model);
