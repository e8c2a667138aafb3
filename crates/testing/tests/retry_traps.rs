//! Traps a retried body meets under the scripted fault a service meets on FoundationDB (a
//! commit that applied and then reported `CommitUnknownResult`): draws that shift when a
//! retry takes another path, a non-idempotent change applied twice, a question judged on a
//! forged copy. Each failed before its fix (found by review of the handle and the replay).

use std::sync::Arc;

use coditect_core::model::{project, task, ApiKey, Comment};
use coditect_core::prelude::*;
use coditect_testing::faults::{Fault, FaultyBackend};
use coditect_testing::fixture::{memory, Company};

/// A company on a scripted faulty wrapper over memory (no fault scripted yet).
async fn onboard() -> (Arc<FaultyBackend>, Company) {
    let faulty = Arc::new(FaultyBackend::scripted(memory(), []));
    let acme = Company::onboard(faulty.clone(), "Acme", "acme.test")
        .await
        .expect("onboard");
    (faulty, acme)
}

/// A company on a scripted faulty wrapper over memory, with one project `WEB`.
async fn company() -> (Arc<FaultyBackend>, Company, Project) {
    let (faulty, acme) = onboard().await;
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

/// Whether `web` has no task yet, as `admin` lists them: how the bodies below make their
/// first tasks only once.
async fn no_tasks_yet(ttx: &TenantTx<'_>, admin: Principal, web: ProjectId) -> Result<bool> {
    let page = task::by_project(ttx, admin, web, &PageRequest::first(10)).await?;
    Ok(page.items.is_empty())
}

/// A body that draws a different number of ids on its second attempt because its first
/// attempt's writes committed (the get-or-create every service writes) must not shift the
/// ids of the records that follow: the task after a found project is the same task.
#[tokio::test(flavor = "current_thread")]
async fn get_or_create_then_insert_makes_the_next_record_once() {
    let (faulty, acme) = onboard().await;
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
            if no_tasks_yet(&ttx, admin, web).await? {
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
            if no_tasks_yet(&ttx, admin, web).await? {
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

/// A script's "the n-th commit applies, then reports an unknown result" is the fault a test
/// asked for: when that commit cannot apply (it conflicts with a concurrent writer), the
/// fault has not happened, and it must not be used up by a plain conflict, or the test that
/// scripted it never exercises the retry path it was written for.
#[tokio::test(flavor = "current_thread")]
async fn a_scripted_unknown_after_commit_is_not_used_up_by_a_conflict() {
    use coditect_core::{run, RetryOptions};
    let inner = memory();
    let faulty = FaultyBackend::scripted(inner.clone(), [(1, Fault::UnknownAfterCommit)]);
    run(&faulty, &RetryOptions::default(), |tx| {
        let inner = inner.clone();
        async move {
            tx.get(b"counter", false).await?;
            if tx.attempt() == 1 {
                // A concurrent writer commits first: this attempt's commit conflicts.
                let other = inner.begin().await?;
                other.set(b"counter", b"theirs")?;
                other.commit().await?;
            }
            tx.set(b"counter", b"mine")?;
            Ok(())
        }
    })
    .await
    .expect("the run commits");
    let (unknown_after_commit, ..) = faulty.stats().snapshot();
    assert_eq!(
        unknown_after_commit, 1,
        "the scripted fault was never injected"
    );
}

/// `Pages::next` promises a page that is never empty but when the principal may read
/// nothing at all; a reader who may see only a few records behind a long run of hidden ones
/// gets an empty page first (the list's scan budget ran out), and a caller that stops at
/// the first empty page misses what it may read.
#[tokio::test(flavor = "current_thread")]
async fn pages_are_not_empty_when_something_readable_follows() {
    let (faulty, acme, web) = company().await;
    let owner = acme.made.admin_member.id;
    let (admin, root) = (acme.admin(), acme.root());
    let team = acme
        .in_tenant(move |ttx| async move {
            let team = Entity::new("OPS", "Ops", EntityKind::Team, Some(root));
            record::insert(&ttx, admin, team).await
        })
        .await
        .expect("team");
    let ops = acme
        .in_tenant(move |ttx| async move {
            record::insert(&ttx, admin, Project::new("OPS", "Ops", team.id, owner)).await
        })
        .await
        .expect("ops project");
    let db = Db::new(faulty.clone());
    let ada = db.tenant(acme.tenant()).as_member(owner);
    for n in 0..20 {
        ada.insert(Task::new(web.id, format!("hidden {n}"), owner))
            .await
            .expect("hidden task");
    }
    ada.insert(Task::new(ops.id, "visible", owner))
        .await
        .expect("visible task");
    // A guest whose only right is reading in the Ops team.
    let gus = acme
        .in_tenant(move |ttx| async move {
            let user = User::new("gus@acme.test", "Gus", UserRole::Guest);
            let user = record::insert(&ttx, admin, user).await?;
            record::insert(&ttx, admin, Member::new(MemberKind::Human(user.id), "Gus")).await
        })
        .await
        .expect("gus");
    acme.grant(gus.id, "viewer", team.id).await.expect("grant");
    let gus = db.tenant(acme.tenant()).as_member(gus.id);
    let mut pages = gus.pages::<Task>(1);
    let first = pages.next().await.expect("a page").expect("not the end");
    assert_eq!(
        first.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
        ["visible"],
        "the first page is the one task gus may read"
    );
}

/// Replay holds on a multi-threaded runtime, where the body's future moves between worker
/// threads between polls, and in a body that runs two inserts concurrently (`join!`): every
/// poll installs the run's draws on the thread doing it. Four tasks made once, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_holds_when_the_body_moves_between_threads() {
    let (faulty, acme, web) = company().await;
    let (admin, owner, web) = (acme.admin(), acme.made.admin_member.id, web.id);
    faulty.then(1, Fault::UnknownAfterCommit);
    let made = acme
        .in_tenant(move |ttx| async move {
            let mut made = Vec::new();
            for title in ["one", "two"] {
                // Yield to the scheduler, so that the next poll may be on another worker.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                tokio::task::yield_now().await;
                made.push(record::insert(&ttx, admin, Task::new(web, title, owner)).await?);
            }
            let (three, four) = tokio::join!(
                async {
                    tokio::task::yield_now().await;
                    record::insert(&ttx, admin, Task::new(web, "three", owner)).await
                },
                async {
                    tokio::task::yield_now().await;
                    record::insert(&ttx, admin, Task::new(web, "four", owner)).await
                }
            );
            made.extend([three?, four?]);
            Ok(made)
        })
        .await
        .expect("four tasks");
    let stored = tasks_of(&acme, web).await;
    assert_eq!(stored.len(), 4, "each task once: {stored:#?}");
    for task in &made {
        assert!(stored.contains(task), "returned what it stored: {task:?}");
    }
}
