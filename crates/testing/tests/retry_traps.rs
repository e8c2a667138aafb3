//! Traps a retried body meets under the scripted fault a service meets on FoundationDB (a
//! commit that applied and then reported `CommitUnknownResult`): draws that shift when a
//! retry takes another path, a non-idempotent change applied twice, a question judged on a
//! forged copy. Each failed before its fix (found by review of the handle and the replay).

use std::sync::Arc;

use coditect_core::model::{project, task, ApiKey, Comment};
use coditect_core::prelude::*;
use coditect_testing::faults::{Fault, FaultyBackend};
use coditect_testing::fixture::{memory, Company};

/// A company on a scripted faulty wrapper over memory, with one project `WEB`.
async fn company() -> (Arc<FaultyBackend>, Company, Project) {
    let faulty = Arc::new(FaultyBackend::scripted(memory(), []));
    let acme = Company::onboard(faulty.clone(), "Acme", "acme.test")
        .await
        .expect("onboard");
    let owner = acme.made.admin_member.id;
    let (admin, root) = (acme.admin(), acme.root());
    let web = acme
        .in_tenant(move |ttx| async move {
            record::insert(&ttx, admin, Project::new("WEB", "Website", root, owner)).await
        })
        .await
        .expect("project");
    (faulty, acme, web)
}

async fn tasks_of(acme: &Company, web: ProjectId) -> Vec<Task> {
    let admin = acme.admin();
    acme.in_tenant(move |ttx| async move {
        Ok(task::by_project(&ttx, admin, web, &PageRequest::first(100))
            .await?
            .items)
    })
    .await
    .expect("list tasks")
}

/// A body that draws a different number of ids on its second attempt because its first
/// attempt's writes committed (the get-or-create every service writes) must not shift the
/// ids of the records that follow: the task after a found project is the same task.
#[tokio::test(flavor = "current_thread")]
async fn get_or_create_then_insert_makes_the_next_record_once() {
    let faulty = Arc::new(FaultyBackend::scripted(memory(), []));
    let acme = Company::onboard(faulty.clone(), "Acme", "acme.test")
        .await
        .expect("onboard");
    let owner = acme.made.admin_member.id;
    let (admin, root) = (acme.admin(), acme.root());
    faulty.then(1, Fault::UnknownAfterCommit);
    let launch = acme
        .in_tenant(move |ttx| async move {
            let web = match project::by_code(&ttx, admin, "WEB").await? {
                Some(found) => found,
                None => {
                    record::insert(&ttx, admin, Project::new("WEB", "Website", root, owner)).await?
                }
            };
            record::insert(&ttx, admin, Task::new(web.id, "Launch", owner)).await
        })
        .await
        .expect("get-or-create then insert");
    let web = launch.project;
    let tasks = tasks_of(&acme, web).await;
    assert_eq!(tasks.len(), 1, "one Launch task, not two: {tasks:#?}");
    assert_ne!(
        launch.id.uuid(),
        web.uuid(),
        "the task was given the project's id"
    );
}

/// A credential minted after a get-or-create must not be made of values an earlier attempt
/// used as record ids (which every reader of those records sees): the secret of an API key
/// is never two task ids.
#[tokio::test(flavor = "current_thread")]
async fn a_replayed_secret_is_never_made_of_record_ids() {
    let (faulty, acme, web) = company().await;
    let (admin, owner, web) = (acme.admin(), acme.made.admin_member.id, web.id);
    faulty.then(1, Fault::UnknownAfterCommit);
    let secret = acme
        .in_tenant(move |ttx| async move {
            // Onboarding tasks, made once; then a key for the CI.
            if task::by_project(&ttx, admin, web, &PageRequest::first(10))
                .await?
                .items
                .is_empty()
            {
                record::insert(&ttx, admin, Task::new(web, "Set up CI", owner)).await?;
                record::insert(&ttx, admin, Task::new(web, "Write docs", owner)).await?;
            }
            let (key, secret) = ApiKey::generate(owner, "ci");
            record::insert(&ttx, admin, key).await?;
            Ok(secret)
        })
        .await
        .expect("tasks and a key");
    let tasks = tasks_of(&acme, web).await;
    assert_eq!(tasks.len(), 2);
    let public: String = tasks
        .iter()
        .map(|t| t.id.uuid().simple().to_string())
        .collect();
    assert!(
        !secret.contains(&public[..32]) && !secret.contains(&public[32..]),
        "the API key's secret {secret} is built from the task ids {public}"
    );
    let keys = acme
        .in_tenant(move |ttx| async move {
            Ok(record::list::<ApiKey>(&ttx, admin, &PageRequest::first(10))
                .await?
                .items)
        })
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "one key minted, not two: {keys:#?}");
}

/// The same shift within one model: the second task of a body whose first task is
/// get-or-created. Under the fault the retry must still return the task it made (today it
/// gets the first task's id and fails with AlreadyExists after a commit that did commit).
#[tokio::test(flavor = "current_thread")]
async fn get_or_create_then_insert_of_the_same_model_succeeds_once() {
    let (faulty, acme, web) = company().await;
    let (admin, owner, web) = (acme.admin(), acme.made.admin_member.id, web.id);
    faulty.then(1, Fault::UnknownAfterCommit);
    let launch = acme
        .in_tenant(move |ttx| async move {
            if task::by_project(&ttx, admin, web, &PageRequest::first(10))
                .await?
                .items
                .is_empty()
            {
                record::insert(&ttx, admin, Task::new(web, "Set up", owner)).await?;
            }
            record::insert(&ttx, admin, Task::new(web, "Launch", owner)).await
        })
        .await
        .expect("a naive body after an unknown commit");
    assert_eq!(launch.title, "Launch");
    assert_eq!(tasks_of(&acme, web).await.len(), 2);
}

/// `AsPrincipal::modify` re-reads the record on every attempt and applies the change to
/// it, so after a commit that applied and reported an unknown result, a change that is not
/// idempotent (append, increment) is applied twice.
#[tokio::test(flavor = "current_thread")]
async fn modify_applies_its_change_once_after_an_unknown_commit() {
    let (faulty, acme, web) = company().await;
    let db = Db::new(faulty.clone());
    let ada = db
        .tenant(acme.tenant())
        .as_member(acme.made.admin_member.id);
    let launch = ada
        .insert(Task::new(web.id, "Launch", acme.made.admin_member.id))
        .await
        .expect("task");
    faulty.then(1, Fault::UnknownAfterCommit);
    let changed = ada
        .modify::<Task, _>(launch.id, |t| t.title.push('!'))
        .await
        .expect("modify");
    assert_eq!(changed.title, "Launch!", "the change was applied twice");
    let stored = ada.require::<Task>(launch.id).await.expect("stored");
    assert_eq!(stored.title, "Launch!");
}

/// `can` answers "as the record layer would decide it", but it judges the copy it is given:
/// a contributor holding someone else's comment with the author field set to itself is told
/// it may update it, and the record layer then refuses that very update.
#[tokio::test(flavor = "current_thread")]
async fn can_agrees_with_the_record_layer_on_a_forged_copy() {
    let (faulty, acme, web) = company().await;
    let db = Db::new(faulty.clone());
    let owner = acme.made.admin_member.id;
    let ada = db.tenant(acme.tenant()).as_member(owner);
    let launch = ada
        .insert(Task::new(web.id, "Launch", owner))
        .await
        .expect("task");
    let note = ada
        .insert(Comment::new(launch.id, owner, "the admin's note"))
        .await
        .expect("comment");
    let bob = acme.human("bob", "contributor").await.expect("bob");
    let bob = db.tenant(acme.tenant()).as_member(bob.id);
    let mut forged = note.clone();
    forged.author = bob.principal().member_id().expect("a member");
    forged.body = "bob's now".into();
    let said = bob.can(Action::Update, &forged).await.expect("can");
    let did = bob.update(forged).await;
    assert!(
        matches!(did, Err(Error::Forbidden { .. })),
        "the record layer refuses: {did:?}"
    );
    assert!(!said, "can said yes to an update the record layer refuses");
}
