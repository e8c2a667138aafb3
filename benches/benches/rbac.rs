//! The authorization bench: what a checked read costs a member by how many role assignments it
//! holds. Two Guest members (no user-level rights) read the same task, three levels below the
//! root, through the checked API: one holds a single assignment (`contributor` at the root),
//! the other the same and `ASSIGNMENTS - 1` more at other entities. A check reads only the
//! assignments on the path from the task's entity to the root, so the two should cost alike.
//!
//! `cargo bench -p coditect-benches --bench rbac` (short); `CODITECT_BENCH_LONG=1` for long.
//! `CODITECT_BENCH_ASSIGNMENTS` sets the wide member's count (default 100,000).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

mod support;

use std::hint::black_box;
use std::sync::Arc;

use coditect_core::ids::{MemberId, RoleId, TaskId};
use coditect_core::model::{
    role, Entity, EntityKind, Member, MemberKind, Plan, Project, RoleAssignment, Task, User,
    UserRole,
};
use coditect_core::provision::NewTenant;
use coditect_core::record::{self, Model};
use coditect_core::{KvBackend, Principal, TenantId, TenantTx};
use criterion::Criterion;
use support::{provision_one, read_in, team_three_levels_down, write_in};

/// Records written per set-up transaction (well under the 10 MB transaction limit).
const PER_TRANSACTION: usize = 500;

struct Fixture {
    db: Arc<dyn KvBackend>,
    tenant: TenantId,
    narrow: MemberId,
    wide: MemberId,
    task: TaskId,
    assignments: usize,
}

/// Inserts `records` as the system, `PER_TRANSACTION` a transaction.
async fn insert_all<M: Model>(db: &Arc<dyn KvBackend>, tenant: TenantId, records: Vec<M>) {
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        write_in(db.as_ref(), tenant, async |ttx| {
            for record in records.by_ref().take(PER_TRANSACTION) {
                record::insert(ttx, Principal::system(), record)
                    .await
                    .expect("insert");
            }
        })
        .await;
    }
}

async fn guest(ttx: &TenantTx<'_>, email: &str) -> MemberId {
    let user = User::new(email, "Guest", UserRole::Guest);
    let user = record::insert(ttx, Principal::system(), user)
        .await
        .expect("user");
    let member = Member::new(MemberKind::Human(user.id), "Guest");
    record::insert(ttx, Principal::system(), member)
        .await
        .expect("member")
        .id
}

async fn fixture(assignments: usize) -> Fixture {
    let db = support::mem_store();
    let new = NewTenant::new("Wide", "wide.bench.test", "admin@wide.bench.test");
    let new = NewTenant {
        plan: Plan::Enterprise,
        ..new
    };
    let p = provision_one(db.as_ref(), new).await;
    let tenant = p.tenant.id;
    let sys = Principal::system();

    let (task, narrow, wide, roles) = write_in(db.as_ref(), tenant, async |ttx| {
        let team = team_three_levels_down(ttx, sys, p.root.id).await;
        let project = Project::new("TEAMP", "Team project", team, p.admin_member.id);
        let project = record::insert(ttx, sys, project).await.expect("project");
        let task = Task::new(project.id, "The task", p.admin_member.id);
        let task = record::insert(ttx, sys, task).await.expect("task").id;
        let narrow = guest(ttx, "narrow@wide.bench.test").await;
        let wide = guest(ttx, "wide@wide.bench.test").await;
        let mut roles: Vec<RoleId> = Vec::new();
        for name in ["admin", "maintainer", "contributor", "viewer"] {
            let role = role::by_name(ttx, sys, name)
                .await
                .expect("role")
                .expect("built in");
            roles.push(role.id);
        }
        let contributor = roles[2];
        for member in [narrow, wide] {
            let grant = RoleAssignment::new(member, contributor, p.root.id);
            record::insert(ttx, sys, grant).await.expect("grant");
        }
        (task, narrow, wide, roles)
    })
    .await;

    // The wide member's other assignments: every built-in role at each of enough entities
    // beside the task's branch.
    let others = assignments.saturating_sub(1);
    let entities: Vec<Entity> = (0..others.div_ceil(roles.len()))
        .map(|i| {
            Entity::new(
                format!("E{i}"),
                "Elsewhere",
                EntityKind::Team,
                Some(p.root.id),
            )
        })
        .collect();
    let ids: Vec<_> = entities.iter().map(|e| e.id).collect();
    insert_all(&db, tenant, entities).await;
    let grants: Vec<RoleAssignment> = ids
        .iter()
        .flat_map(|e| roles.iter().map(move |r| RoleAssignment::new(wide, *r, *e)))
        .take(others)
        .collect();
    insert_all(&db, tenant, grants).await;
    Fixture {
        db,
        tenant,
        narrow,
        wide,
        task,
        assignments,
    }
}

/// Reads the task as `member` through the checked API, in a whole transaction.
async fn checked_read(f: &Fixture, member: MemberId) -> Task {
    read_in(f.db.as_ref(), f.tenant, async |ttx| {
        record::require::<Task>(ttx, Principal::member(member), f.task)
            .await
            .expect("allowed: contributor at the root")
    })
    .await
}

fn bench_rbac(c: &mut Criterion) {
    let runtime = support::runtime();
    let assignments = std::env::var("CODITECT_BENCH_ASSIGNMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let f = runtime.block_on(fixture(assignments));
    let mut group = c.benchmark_group("rbac");
    group.bench_function("checked_read_member_with_1_assignment", |b| {
        b.iter(|| runtime.block_on(async { black_box(checked_read(&f, f.narrow).await) }))
    });
    group.bench_function(
        format!("checked_read_member_with_{}_assignments", f.assignments),
        |b| b.iter(|| runtime.block_on(async { black_box(checked_read(&f, f.wide).await) })),
    );
    group.finish();
}

coditect_benches::bench_main!(bench_rbac);
