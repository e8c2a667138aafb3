//! `coditect demo`: the seed's scenario as ready tenants. TechStartup Inc with users alice
//! (admin) and bob, the project mobile_app, an AI agent member ai_assistant_1 that is assigned
//! a task, starts it and comments on it; and a second tenant with the same project code, to
//! show that tenants are isolated. Running it again makes fresh tenants under the next free
//! domains (techstartup-2.example, ...), so it never fails on an existing store.

use anyhow::{bail, Context};
use coditect_core::audit::Actor;
use coditect_core::ids::ProjectId;
use coditect_core::model::tenant::get_by_domain;
use coditect_core::model::{
    comment, project, task, AgentConfig, AgentType, Comment, Member, MemberKind, Plan, Priority,
    Project, Role, RoleAssignment, Task, TaskStatus, TaskType, User,
};
use coditect_core::record::{self, PageRequest};
use coditect_core::{run_in_tenant, KvBackend, Principal, RetryOptions, TenantId, TenantTx};
use serde_json::json;

use crate::output::Output;
use crate::store::{self, StoreSpec};
use crate::tenant::{create, role_id};

/// How many `-N` suffixes to try before giving up on finding a free domain.
const MAX_DOMAIN_TRIES: u32 = 10_000;

/// Runs the demo on `spec`.
pub async fn run(spec: &StoreSpec, out: &Output) -> anyhow::Result<()> {
    let db = store::open(spec, store::Missing::Create).await?;
    let db = &*db;

    let domain = free_domain(db, "techstartup", "example").await?;
    let made = create(
        db,
        "TechStartup Inc",
        &domain,
        Plan::Professional,
        &format!("alice@{domain}"),
        "Alice",
    )
    .await?;
    let tenant = made.tenant.id;
    let alice = made.admin_member.id;
    let as_alice = Actor::Member(alice);

    // Records are built (and so their ids chosen) before the retry loop: a retry after an
    // unknown commit result then finds its own writes instead of making duplicates.
    let bob = User::new(format!("bob@{domain}"), "Bob", Role::Developer);
    let bob_member = Member::new(MemberKind::Human(bob.id), "Bob");
    let mut agent_config =
        AgentConfig::new("ai_assistant_1", AgentType::Coder, "anthropic", "claude");
    agent_config.capabilities = ["code", "comment", "review"].map(String::from).into();
    let agent = Member::new(MemberKind::Agent(agent_config.id), "ai_assistant_1");
    // Bob and the agent work as contributors across the company (the root entity and below);
    // alice, the tenant's Admin, may do everything anyway.
    let contributor = role_id(db, tenant, "contributor").await?;
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

    let records = (
        bob.clone(),
        bob_member.clone(),
        agent_config.clone(),
        agent.clone(),
        grants,
        mobile.clone(),
        login.clone(),
        push.clone(),
        note.clone(),
    );
    let ((login, comments), _) =
        run_in_tenant(db, &RetryOptions::default(), tenant, |ttx| async move {
            let (bob, bob_member, agent_config, agent, grants, mobile, login, push, note) = records;
            record::insert(&ttx, as_alice, bob).await?;
            record::insert(&ttx, as_alice, bob_member).await?;
            record::insert(&ttx, as_alice, agent_config).await?;
            record::insert(&ttx, as_alice, agent.clone()).await?;
            for grant in grants {
                record::insert(&ttx, as_alice, grant).await?;
            }
            record::insert(&ttx, as_alice, mobile).await?;
            let mut login = record::insert(&ttx, as_alice, login).await?;
            record::insert(&ttx, as_alice, push).await?;
            // The agent acts like any member: it starts its task and comments on it.
            let as_agent = Actor::Member(agent.id);
            login.status = TaskStatus::InProgress;
            let login = record::update(&ttx, as_agent, login).await?;
            record::insert(&ttx, as_agent, note).await?;
            let comments = comment::by_task(
                &ttx,
                Principal::operator(),
                login.id,
                &PageRequest::first(10),
            )
            .await?;
            Ok((login, comments.items))
        })
        .await
        .context("filling TechStartup Inc")?;

    // A second tenant with the same project code: codes are unique per tenant, not globally.
    let other_domain = free_domain(db, "rivallabs", "example").await?;
    let other = create(
        db,
        "Rival Labs",
        &other_domain,
        Plan::Starter,
        &format!("carol@{other_domain}"),
        "Carol",
    )
    .await?;
    let rival_project = Project::new(
        "mobile_app",
        "Rival Mobile",
        other.root.id,
        other.admin_member.id,
    );
    let (rival_project, _) = run_in_tenant(db, &RetryOptions::default(), other.tenant.id, |ttx| {
        let p = rival_project.clone();
        let owner = Actor::Member(other.admin_member.id);
        async move { record::insert(&ttx, owner, p).await }
    })
    .await
    .context("filling Rival Labs")?;

    // Isolation: the same code finds a different project, with different tasks, per tenant.
    let seen_a = mobile_app_in(db, tenant).await?;
    let seen_b = mobile_app_in(db, other.tenant.id).await?;
    if seen_a.0 == seen_b.0 || seen_a.0 != mobile.id || seen_b.0 != rival_project.id {
        bail!(
            "isolation check failed: both tenants see project {}",
            seen_a.0
        );
    }

    let store_flag = match spec {
        s if *s == StoreSpec::default() => String::new(),
        s => format!(" --store {s}"),
    };
    let next = vec![
        format!("coditect{store_flag} tenant list"),
        format!("coditect{store_flag} tenant show {tenant}"),
        format!("coditect{store_flag} kv range --tenant {tenant} --collection task"),
        format!("coditect{store_flag} kv range --tenant {tenant} --hex --limit 5"),
        "coditect bench".to_owned(),
    ];
    if out.json {
        out.json(&json!({
            "store": spec.to_string(),
            "tenant": {
                "id": tenant.uuid(), "name": made.tenant.name, "domain": domain,
                "users": [
                    {"name": "alice", "email": made.admin.email, "role": "admin", "member_id": alice.uuid()},
                    {"name": "bob", "email": bob.email, "role": "developer", "member_id": bob_member.id.uuid()},
                ],
                "agent": {
                    "name": agent.display_name, "member_id": agent.id.uuid(), "config_id": agent_config.id.uuid(),
                    "provider": agent_config.provider, "model": agent_config.model, "role": "contributor",
                },
                "project": {"code": mobile.code, "id": mobile.id.uuid()},
                "tasks": [
                    {"id": login.id.uuid(), "title": login.title, "assignee": agent.id.uuid(), "status": login.status.code()},
                    {"id": push.id.uuid(), "title": push.title, "assignee": bob_member.id.uuid(), "status": push.status.code()},
                ],
                "comments": comments.iter().map(|c| json!({"id": c.id.uuid(), "author": c.author.uuid(), "body": c.body})).collect::<Vec<_>>(),
            },
            "second_tenant": {
                "id": other.tenant.id.uuid(), "name": other.tenant.name, "domain": other_domain,
                "project": {"code": rival_project.code, "id": rival_project.id.uuid()},
            },
            "isolation": {
                "same_code_different_projects": true,
                "tasks_seen": [seen_a.1, seen_b.1],
            },
            "next": next,
        }));
        return Ok(());
    }
    println!("Demo provisioned in {spec}");
    println!();
    println!("TechStartup Inc  tenant {tenant}  ({domain}, professional plan)");
    let width = made.admin.email.len().max(bob.email.len());
    println!(
        "  users     alice  {:<width$}  admin      member {alice}",
        made.admin.email
    );
    println!(
        "            bob    {:<width$}  developer  member {}",
        bob.email, bob_member.id
    );
    println!(
        "  agent     ai_assistant_1  AI coder ({}/{}), member {}",
        agent_config.provider, agent_config.model, agent.id
    );
    println!(
        "  roles     bob and ai_assistant_1 are contributors company-wide; alice is the Admin"
    );
    println!("  project   mobile_app  {}", mobile.id);
    println!(
        "  tasks     \"{}\"  assigned to ai_assistant_1, now {}",
        login.title,
        login.status.code()
    );
    println!(
        "            \"{}\"  assigned to bob, {}",
        push.title,
        push.status.code()
    );
    for c in &comments {
        println!(
            "  comment   ai_assistant_1 on \"{}\": {}",
            login.title, c.body
        );
    }
    println!();
    println!(
        "Rival Labs       tenant {}  ({other_domain}, starter plan)",
        other.tenant.id
    );
    println!(
        "  project   mobile_app  {}  (same code, its own project)",
        rival_project.id
    );
    println!();
    println!(
        "Isolation: \"mobile_app\" is {} with {} tasks in TechStartup Inc and {} with {} tasks in Rival Labs.",
        seen_a.0, seen_a.1, seen_b.0, seen_b.1
    );
    println!("Every write above is in each tenant's audit trail, the agent's as its own actor.");
    println!();
    if *spec == StoreSpec::Mem {
        println!(
            "(--store mem keeps nothing once this command ends: use a sled store to look again)"
        );
    }
    println!("Next, try:");
    for line in &next {
        println!("  {line}");
    }
    Ok(())
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
