//! `coditect demo`: the seed's scenario as ready tenants. TechStartup Inc with users alice
//! (admin) and bob, the project mobile_app, an AI agent member ai_assistant_1 that is assigned
//! a task, starts it and comments on it; and a second tenant with the same project code, to
//! show that tenants are isolated. Running it again makes fresh tenants under the next free
//! domains (techstartup-2.example, ...), so it never fails on an existing store.

use anyhow::{bail, Context};
use coditect_core::audit::Actor;
use coditect_core::ids::{ProjectId, RoleId};
use coditect_core::model::tenant::get_by_domain;
use coditect_core::model::{
    comment, project, task, AgentConfig, AgentType, Comment, Member, MemberKind, Plan, Priority,
    Project, RoleAssignment, Task, TaskStatus, TaskType, User, UserRole,
};
use coditect_core::provision::Provisioned;
use coditect_core::record::{self, PageRequest};
use coditect_core::{run_in_tenant, KvBackend, Principal, RetryOptions, TenantId, TenantTx};
use serde_json::json;

use crate::output::{Output, Render};
use crate::store::{self, StoreSpec};
use crate::tenant::{create, role_id};

/// How many `-N` suffixes to try before giving up on finding a free domain.
const MAX_DOMAIN_TRIES: u32 = 10_000;

/// Runs the demo on `spec`.
pub async fn run(spec: &StoreSpec, out: &Output) -> anyhow::Result<()> {
    let db = store::open(spec, store::Missing::Create).await?;
    let db = &*db;
    let startup = fill_techstartup(db).await?;
    let rival = fill_rival(db).await?;

    // Isolation: the same code finds a different project, with different tasks, per tenant.
    let seen = [
        mobile_app_in(db, startup.made.tenant.id).await?,
        mobile_app_in(db, rival.made.tenant.id).await?,
    ];
    if seen[0].0 == seen[1].0 || seen[0].0 != startup.mobile.id || seen[1].0 != rival.project.id {
        bail!(
            "isolation check failed: both tenants see project {}",
            seen[0].0
        );
    }
    out.print(&Demo {
        next: next_commands(spec, startup.made.tenant.id),
        store: spec.clone(),
        startup,
        rival,
        seen,
    });
    Ok(())
}

/// TechStartup Inc as the demo leaves it.
struct TechStartup {
    made: Provisioned,
    domain: String,
    bob: User,
    bob_member: Member,
    agent_config: AgentConfig,
    agent: Member,
    mobile: Project,
    login: Task,
    push: Task,
    comments: Vec<Comment>,
}

/// Rival Labs, the second tenant, with a project of the same code.
struct Rival {
    made: Provisioned,
    domain: String,
    project: Project,
}

/// The demo's result.
struct Demo {
    store: StoreSpec,
    startup: TechStartup,
    rival: Rival,
    /// Project mobile_app and its task count, as each tenant sees it.
    seen: [(ProjectId, usize); 2],
    next: Vec<String>,
}

/// Provisions TechStartup Inc: alice (its Admin), bob, the agent ai_assistant_1 (both
/// contributors company-wide), project mobile_app with two tasks; the agent starts its task
/// and comments on it.
async fn fill_techstartup(db: &dyn KvBackend) -> anyhow::Result<TechStartup> {
    let (domain, made) = provision(
        db,
        "TechStartup Inc",
        "techstartup",
        Plan::Professional,
        "alice",
        "Alice",
    )
    .await?;
    let contributor = role_id(db, made.tenant.id, "contributor").await?;
    let records = TechStartupRecords::new(&domain, &made, contributor);
    let (login, comments) = write_techstartup(db, &made, records.clone()).await?;
    Ok(TechStartup {
        made,
        domain,
        bob: records.bob,
        bob_member: records.bob_member,
        agent_config: records.agent_config,
        agent: records.agent,
        mobile: records.mobile,
        login,
        push: records.push,
        comments,
    })
}

/// What the demo writes into TechStartup Inc. Records are built (and so their ids chosen)
/// before the retry loop: a retry after an unknown commit result then finds its own writes
/// instead of making duplicates.
#[derive(Clone)]
struct TechStartupRecords {
    bob: User,
    bob_member: Member,
    agent_config: AgentConfig,
    agent: Member,
    grants: Vec<RoleAssignment>,
    mobile: Project,
    login: Task,
    push: Task,
    note: Comment,
}

impl TechStartupRecords {
    /// The records of TechStartup Inc (`made`, under `domain`); `contributor` is its
    /// contributor role.
    fn new(domain: &str, made: &Provisioned, contributor: RoleId) -> Self {
        let alice = made.admin_member.id;
        let bob = User::new(format!("bob@{domain}"), "Bob", UserRole::Developer);
        let bob_member = Member::new(MemberKind::Human(bob.id), "Bob");
        let mut agent_config =
            AgentConfig::new("ai_assistant_1", AgentType::Coder, "anthropic", "claude");
        agent_config.capabilities = ["code", "comment", "review"].map(String::from).into();
        let agent = Member::new(MemberKind::Agent(agent_config.id), "ai_assistant_1");
        // Bob and the agent work as contributors across the company (the root entity and
        // below); alice, the tenant's Admin, may do everything anyway.
        let grants = vec![
            RoleAssignment::new(bob_member.id, contributor, made.root.id),
            RoleAssignment::new(agent.id, contributor, made.root.id),
        ];
        let mut mobile = Project::new("mobile_app", "Mobile App", made.root.id, alice);
        mobile.description = "The iOS and Android app".into();
        let mut login = Task::new(mobile.id, "Build the login screen", alice);
        login.assignee = Some(agent.id);
        login.priority = Priority::High;
        login.description = "Email and password, with a forgotten-password link".into();
        let mut push = Task::new(mobile.id, "Set up push notifications", alice);
        push.assignee = Some(bob_member.id);
        push.kind = TaskType::Chore;
        let note = Comment::new(
            login.id,
            agent.id,
            "Started: layout drafted, validation next. I will ask Bob to review.",
        );
        TechStartupRecords {
            bob,
            bob_member,
            agent_config,
            agent,
            grants,
            mobile,
            login,
            push,
            note,
        }
    }
}

/// Writes `records` into TechStartup Inc (`made`) in one transaction, as alice; then the
/// agent starts its task and comments on it. Returns the started task and its comments.
async fn write_techstartup(
    db: &dyn KvBackend,
    made: &Provisioned,
    records: TechStartupRecords,
) -> anyhow::Result<(Task, Vec<Comment>)> {
    let as_alice = Actor::Member(made.admin_member.id);
    let ((login, comments), _) = run_in_tenant(
        db,
        &RetryOptions::default(),
        made.tenant.id,
        |ttx| async move {
            record::insert(&ttx, as_alice, records.bob).await?;
            record::insert(&ttx, as_alice, records.bob_member).await?;
            record::insert(&ttx, as_alice, records.agent_config).await?;
            record::insert(&ttx, as_alice, records.agent.clone()).await?;
            for grant in records.grants {
                record::insert(&ttx, as_alice, grant).await?;
            }
            record::insert(&ttx, as_alice, records.mobile).await?;
            let mut login = record::insert(&ttx, as_alice, records.login).await?;
            record::insert(&ttx, as_alice, records.push).await?;
            // The agent acts like any member: it starts its task and comments on it.
            let as_agent = Actor::Member(records.agent.id);
            login.status = TaskStatus::InProgress;
            let login = record::update(&ttx, as_agent, login).await?;
            record::insert(&ttx, as_agent, records.note).await?;
            let comments = comment::by_task(
                &ttx,
                Principal::operator(),
                login.id,
                &PageRequest::first(10),
            )
            .await?;
            Ok((login, comments.items))
        },
    )
    .await
    .context("filling TechStartup Inc")?;
    Ok((login, comments))
}

/// Provisions Rival Labs with its own project mobile_app: codes are unique per tenant, not
/// globally.
async fn fill_rival(db: &dyn KvBackend) -> anyhow::Result<Rival> {
    let (domain, made) = provision(
        db,
        "Rival Labs",
        "rivallabs",
        Plan::Starter,
        "carol",
        "Carol",
    )
    .await?;
    let project = Project::new(
        "mobile_app",
        "Rival Mobile",
        made.root.id,
        made.admin_member.id,
    );
    let (project, _) = run_in_tenant(db, &RetryOptions::default(), made.tenant.id, |ttx| {
        let p = project.clone();
        let owner = Actor::Member(made.admin_member.id);
        async move { record::insert(&ttx, owner, p).await }
    })
    .await
    .context("filling Rival Labs")?;
    Ok(Rival {
        made,
        domain,
        project,
    })
}

/// What to run next, on the same store.
fn next_commands(spec: &StoreSpec, tenant: TenantId) -> Vec<String> {
    let store_flag = match spec {
        s if *s == StoreSpec::default() => String::new(),
        s => format!(" --store {s}"),
    };
    vec![
        format!("coditect{store_flag} tenant list"),
        format!("coditect{store_flag} tenant show {tenant}"),
        format!("coditect{store_flag} kv range --tenant {tenant} --collection task"),
        format!("coditect{store_flag} kv range --tenant {tenant} --hex --limit 5"),
        "coditect bench".to_owned(),
    ]
}

impl Render for Demo {
    fn json(&self) -> serde_json::Value {
        let a = &self.startup;
        let b = &self.rival;
        json!({
            "store": self.store.to_string(),
            "tenant": {
                "id": a.made.tenant.id.uuid(), "name": a.made.tenant.name, "domain": a.domain,
                "users": [
                    {"name": "alice", "email": a.made.admin.email, "role": "admin", "member_id": a.made.admin_member.id.uuid()},
                    {"name": "bob", "email": a.bob.email, "role": "developer", "member_id": a.bob_member.id.uuid()},
                ],
                "agent": {
                    "name": a.agent.display_name, "member_id": a.agent.id.uuid(), "config_id": a.agent_config.id.uuid(),
                    "provider": a.agent_config.provider, "model": a.agent_config.model, "role": "contributor",
                },
                "project": {"code": a.mobile.code, "id": a.mobile.id.uuid()},
                "tasks": [
                    {"id": a.login.id.uuid(), "title": a.login.title, "assignee": a.agent.id.uuid(), "status": a.login.status.code()},
                    {"id": a.push.id.uuid(), "title": a.push.title, "assignee": a.bob_member.id.uuid(), "status": a.push.status.code()},
                ],
                "comments": a.comments.iter().map(|c| json!({"id": c.id.uuid(), "author": c.author.uuid(), "body": c.body})).collect::<Vec<_>>(),
            },
            "second_tenant": {
                "id": b.made.tenant.id.uuid(), "name": b.made.tenant.name, "domain": b.domain,
                "project": {"code": b.project.code, "id": b.project.id.uuid()},
            },
            "isolation": {
                "same_code_different_projects": true,
                "tasks_seen": [self.seen[0].1, self.seen[1].1],
            },
            "next": self.next,
        })
    }

    fn text(&self) -> Vec<String> {
        let (a, b, seen) = (&self.startup, &self.rival, &self.seen);
        let alice = a.made.admin_member.id;
        let width = a.made.admin.email.len().max(a.bob.email.len());
        let mut lines = vec![
            format!("Demo provisioned in {}", self.store),
            String::new(),
            format!(
                "TechStartup Inc  tenant {}  ({}, professional plan)",
                a.made.tenant.id, a.domain
            ),
            format!(
                "  users     alice  {:<width$}  admin      member {alice}",
                a.made.admin.email
            ),
            format!(
                "            bob    {:<width$}  developer  member {}",
                a.bob.email, a.bob_member.id
            ),
            format!(
                "  agent     ai_assistant_1  AI coder ({}/{}), member {}",
                a.agent_config.provider, a.agent_config.model, a.agent.id
            ),
            "  roles     bob and ai_assistant_1 are contributors company-wide; alice is the Admin"
                .to_owned(),
            format!("  project   mobile_app  {}", a.mobile.id),
            format!(
                "  tasks     \"{}\"  assigned to ai_assistant_1, now {}",
                a.login.title,
                a.login.status.code()
            ),
            format!(
                "            \"{}\"  assigned to bob, {}",
                a.push.title,
                a.push.status.code()
            ),
        ];
        lines.extend(a.comments.iter().map(|c| {
            format!(
                "  comment   ai_assistant_1 on \"{}\": {}",
                a.login.title, c.body
            )
        }));
        lines.extend([
            String::new(),
            format!(
                "Rival Labs       tenant {}  ({}, starter plan)",
                b.made.tenant.id, b.domain
            ),
            format!(
                "  project   mobile_app  {}  (same code, its own project)",
                b.project.id
            ),
            String::new(),
            format!(
                "Isolation: \"mobile_app\" is {} with {} tasks in TechStartup Inc and {} with {} tasks in Rival Labs.",
                seen[0].0, seen[0].1, seen[1].0, seen[1].1
            ),
            "Every write above is in each tenant's audit trail, the agent's as its own actor."
                .to_owned(),
            String::new(),
        ]);
        if self.store == StoreSpec::Mem {
            lines.push(
                "(--store mem keeps nothing once this command ends: use a sled store to look again)"
                    .to_owned(),
            );
        }
        lines.push("Next, try:".to_owned());
        lines.extend(self.next.iter().map(|line| format!("  {line}")));
        lines
    }
}

/// Provisions tenant `name` under the first free domain `<label>[-N].example`, its first
/// admin `<first>@<domain>` named `admin_name`; returns the domain and the tenant.
async fn provision(
    db: &dyn KvBackend,
    name: &str,
    label: &str,
    plan: Plan,
    first: &str,
    admin_name: &str,
) -> anyhow::Result<(String, Provisioned)> {
    let domain = free_domain(db, label, "example").await?;
    let made = create(
        db,
        name,
        &domain,
        plan,
        &format!("{first}@{domain}"),
        admin_name,
    )
    .await?;
    Ok((domain, made))
}

/// The first of `name.tld`, `name-2.tld`, `name-3.tld`, ... no tenant has.
async fn free_domain(db: &dyn KvBackend, name: &str, tld: &str) -> anyhow::Result<String> {
    for n in 1..=MAX_DOMAIN_TRIES {
        let domain = match n {
            1 => format!("{name}.{tld}"),
            n => format!("{name}-{n}.{tld}"),
        };
        let tx = db.begin().await?;
        if get_by_domain(&*tx, &domain).await?.is_none() {
            return Ok(domain);
        }
    }
    bail!("no free domain among {MAX_DOMAIN_TRIES} tries for {name}.{tld}")
}

/// The project mobile_app of `tenant` and how many tasks of it one page lists (a read-only
/// transaction, through the tenant's own scope).
async fn mobile_app_in(db: &dyn KvBackend, tenant: TenantId) -> anyhow::Result<(ProjectId, usize)> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, tenant).await?;
    let project = project::by_code(&ttx, Principal::operator(), "mobile_app")
        .await?
        .with_context(|| {
            format!("tenant {tenant} has no project mobile_app right after the demo wrote it")
        })?;
    let tasks = task::by_project(
        &ttx,
        Principal::operator(),
        project.id,
        &PageRequest::first(50),
    )
    .await?;
    Ok((project.id, tasks.items.len()))
}
