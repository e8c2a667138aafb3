//! Quickstart: a tenant, a member with a role, writes and reads as that member, pages.

use std::sync::Arc;

use coditect_core::prelude::*;

#[tokio::main]
async fn main() -> Result<()> {
    // The embedded in-memory store: FoundationDB's semantics, nothing to install.
    let db = Db::new(Arc::new(coditect_mem::new_backend(Default::default())));

    // A tenant: registry entry, root entity, first Admin and their member, built-in roles.
    let acme = db
        .provision(NewTenant::new("Acme", "acme.example", "ada@acme.example"))
        .await?;
    let ada = db.tenant(acme.tenant.id).as_member(acme.admin_member.id);

    // A human who may do the work everywhere (a Developer: the contributor role tenant-wide).
    let bob = ada
        .transaction(|ttx, admin| async move {
            let user = User::new("bob@acme.example", "Bob", UserRole::Developer);
            let user = record::insert(&ttx, admin, user).await?;
            record::insert(&ttx, admin, Member::new(MemberKind::Human(user.id), "Bob")).await
        })
        .await?;

    // Write and read as Bob: every call is checked, audited and retried for him.
    let web = ada
        .insert(Project::new(
            "WEB",
            "Website",
            acme.root.id,
            acme.admin_member.id,
        ))
        .await?;
    let as_bob = db.tenant(acme.tenant.id).as_member(bob.id);
    for n in 1..=3 {
        as_bob
            .insert(Task::new(web.id, format!("Task {n}"), bob.id))
            .await?;
    }
    assert!(
        !as_bob.can(Action::Delete, &web).await?,
        "a Developer does not delete projects"
    );

    // List with paging: pages of two, one transaction each.
    let mut pages = as_bob.pages::<Task>(2);
    while let Some(page) = pages.next().await? {
        for task in page {
            println!("{} {:?}", task.title, task.status);
        }
    }
    Ok(())
}
