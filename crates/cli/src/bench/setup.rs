//! The bench's data: N tenants, each provisioned (that is the timed onboarding) and then
//! filled with 20 users and their members, 5 projects and 200 tasks in one transaction
//! (about 250 records, their index entries and audit events: a few hundred KB, far below
//! FoundationDB's 10 MB, and milliseconds, far below its 5 s).

use std::time::Instant;

use anyhow::Context;
use coditect_core::audit::Actor;
use coditect_core::ids::{EntityId, MemberId, ProjectId, TaskId};
use coditect_core::model::{
    Member, MemberKind, Plan, Project, RoleAssignment, Task, TaskStatus, User, UserRole,
};
use coditect_core::record;
use coditect_core::{run_in_tenant, KvBackend, RetryOptions, TenantId};

use crate::tenant::{create, role_id};

/// Users per tenant, the first admin included.
pub const USERS: usize = 20;
/// Projects per tenant.
pub const PROJECTS: usize = 5;
/// Tasks per tenant, spread evenly over its projects.
pub const TASKS: usize = 200;
/// Records one tenant's data transaction writes: users, their members and role assignments,
/// projects, tasks.
pub const RECORDS_PER_TENANT: usize = (USERS - 1) * 3 + PROJECTS + TASKS;

/// What the workload needs to know of one tenant.
#[derive(Clone, Debug)]
pub struct BenchTenant {
    /// Its id.
    pub id: TenantId,
    /// Every member (assignees).
    pub members: Vec<MemberId>,
    /// The members who are not the admin: contributors at the root entity, the actors of
    /// the workload (so every write and checked read walks the full RBAC path).
    pub contributors: Vec<MemberId>,
    /// Every user's email.
    pub emails: Vec<String>,
    /// Its projects.
    pub projects: Vec<ProjectId>,
    /// Its tasks made at setup.
    pub tasks: Vec<TaskId>,
}

/// A tenant just provisioned.
#[derive(Clone, Debug)]
pub struct Onboarded {
    /// How long provisioning took, in nanoseconds.
    pub nanos: u64,
    /// Its id.
    pub id: TenantId,
    /// The first admin's member.
    pub admin: MemberId,
    /// The first admin's email.
    pub admin_email: String,
    /// The root entity.
    pub root: EntityId,
}

/// Provisions tenant number `n` of run `run_id`, timed: this is the onboarding the seed
/// wants under a second.
pub async fn onboard(db: &dyn KvBackend, run_id: &str, n: usize) -> anyhow::Result<Onboarded> {
    let domain = format!("t{n}-{run_id}.bench.example");
    let admin_email = format!("admin@{domain}");
    let start = Instant::now();
    let made = create(
        db,
        &format!("Bench tenant {n}"),
        &domain,
        Plan::Enterprise,
        &admin_email,
        "Admin",
    )
    .await?;
    Ok(Onboarded {
        nanos: u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
        id: made.tenant.id,
        admin: made.admin_member.id,
        admin_email: made.admin.email,
        root: made.root.id,
    })
}

/// Fills a freshly provisioned tenant with the bench's data in one transaction.
pub async fn fill(
    db: &dyn KvBackend,
    tenant: Onboarded,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<BenchTenant> {
    let admin = tenant.admin;
    let mut users = Vec::with_capacity(USERS);
    let mut members = Vec::with_capacity(USERS);
    for u in 1..USERS {
        // Guests: their rights come from the contributor assignment below, so every check
        // walks the assignments (a Developer's tenant-wide baseline would answer first).
        let user = User::new(
            format!("user{u}@bench.example"),
            format!("User {u}"),
            UserRole::Guest,
        );
        members.push(Member::new(MemberKind::Human(user.id), format!("User {u}")));
        users.push(user);
    }
    let contributor = role_id(db, tenant.id, "contributor").await?;
    let grants: Vec<RoleAssignment> = members
        .iter()
        .map(|m| RoleAssignment::new(m.id, contributor, tenant.root))
        .collect();
    let contributors: Vec<MemberId> = members.iter().map(|m| m.id).collect();
    let mut member_ids = contributors.clone();
    member_ids.push(admin);
    let mut emails: Vec<String> = users.iter().map(|u| u.email.clone()).collect();
    emails.push(tenant.admin_email.clone());
    // Records (and so ids) are made before the retry loop, so a retry writes the same ones.
    let projects: Vec<Project> = (0..PROJECTS)
        .map(|p| Project::new(format!("P{p}"), format!("Project {p}"), tenant.root, admin))
        .collect();
    let statuses = [
        TaskStatus::Todo,
        TaskStatus::InProgress,
        TaskStatus::InReview,
        TaskStatus::Done,
    ];
    let tasks: Vec<Task> = (0..TASKS)
        .map(|t| {
            let mut task = Task::new(projects[t % PROJECTS].id, format!("Task {t}"), admin);
            task.assignee = Some(member_ids[rng.usize(0..member_ids.len())]);
            task.status = statuses[rng.usize(0..statuses.len())];
            task
        })
        .collect();
    let project_ids: Vec<ProjectId> = projects.iter().map(|p| p.id).collect();
    let task_ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();

    run_in_tenant(db, &RetryOptions::default(), tenant.id, |ttx| async move {
        let actor = Actor::Member(admin);
        for user in users {
            record::insert(&ttx, actor, user).await?;
        }
        for member in members {
            record::insert(&ttx, actor, member).await?;
        }
        for grant in grants {
            record::insert(&ttx, actor, grant).await?;
        }
        for project in projects {
            record::insert(&ttx, actor, project).await?;
        }
        for task in tasks {
            record::insert(&ttx, actor, task).await?;
        }
        Ok(())
    })
    .await
    .with_context(|| format!("filling bench tenant {}", tenant.id))?;
    Ok(BenchTenant {
        id: tenant.id,
        members: member_ids,
        contributors,
        emails,
        projects: project_ids,
        tasks: task_ids,
    })
}
