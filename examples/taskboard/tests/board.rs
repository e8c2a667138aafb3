//! The board's behaviour on the in-memory backend, as its developer tests it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use coditect_core::prelude::*;
use coditect_testing::faults::{Fault, FaultyBackend};
use taskboard::{Board, Company};

fn memory() -> Arc<dyn KvBackend> {
    Arc::new(coditect_mem::new_backend(
        coditect_mem::EngineOptions::default(),
    ))
}

async fn acme(board: &Board) -> Company {
    board
        .onboard("Acme", "acme.test", "ada@acme.test")
        .await
        .expect("onboard")
}

/// Acme, its Admin's handle and its project WEB.
async fn acme_with_web(board: &Board) -> (Company, AsPrincipal, Project) {
    let acme = acme(board).await;
    let admin = board.as_member(&acme, acme.admin);
    let web = board
        .create_project(&admin, &acme, "WEB", "Website")
        .await
        .expect("project");
    (acme, admin, web)
}

/// The agent `builder`, a contributor of `company`.
async fn add_builder(board: &Board, company: &Company) -> MemberId {
    board
        .add_agent(company, "builder", "contributor")
        .await
        .expect("agent")
}

#[tokio::test]
async fn an_agent_is_assigned_a_task_and_moves_it() {
    let board = Board::new(memory());
    let (acme, admin, web) = acme_with_web(&board).await;
    let agent = add_builder(&board, &acme).await;
    let launch = board
        .create_task(&admin, web.id, "Launch", Some(agent))
        .await
        .expect("task");

    let builder = board.as_member(&acme, agent);
    let mine = board.my_tasks(&builder, 10).await.expect("my tasks");
    assert_eq!(mine, vec![launch.clone()]);
    assert!(board
        .can(&builder, Action::Update, &launch)
        .await
        .expect("can"));
    let moved = board
        .move_task(&builder, launch.id, TaskStatus::InProgress)
        .await
        .expect("the agent moves its task");
    assert_eq!(moved.status, TaskStatus::InProgress);
    let stored: Task = admin.require(launch.id).await.expect("read back");
    assert_eq!(stored.status, TaskStatus::InProgress);
}

#[tokio::test]
async fn a_viewer_reads_and_is_refused_changes() {
    let board = Board::new(memory());
    let (acme, admin, web) = acme_with_web(&board).await;
    let vera = board
        .add_human(&acme, "Vera", "vera@acme.test", "viewer")
        .await
        .expect("viewer");
    let launch = board
        .create_task(&admin, web.id, "Launch", None)
        .await
        .expect("task");

    let viewer = board.as_member(&acme, vera);
    assert!(board
        .can(&viewer, Action::Read, &launch)
        .await
        .expect("can read"));
    assert!(!board
        .can(&viewer, Action::Update, &launch)
        .await
        .expect("can update"));
    let read: Task = viewer.require(launch.id).await.expect("a viewer reads");
    assert_eq!(read, launch);
    let refused = board.rename_task(&viewer, launch.id, "Mine now").await;
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    let refused = board.create_task(&viewer, web.id, "Extra", None).await;
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    let stored: Task = admin.require(launch.id).await.expect("read back");
    assert_eq!(stored.title, "Launch", "the refused rename changed nothing");
    assert_eq!(
        board
            .project_tasks(&admin, web.id, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test]
async fn two_companies_with_the_same_project_code_are_isolated() {
    let board = Board::new(memory());
    let acme = acme(&board).await;
    let globex = board
        .onboard("Globex", "globex.test", "hank@globex.test")
        .await
        .expect("onboard globex");
    let (a, g) = (
        board.as_member(&acme, acme.admin),
        board.as_member(&globex, globex.admin),
    );
    let a_web = board
        .create_project(&a, &acme, "WEB", "Acme web")
        .await
        .expect("acme WEB");
    let g_web = board
        .create_project(&g, &globex, "WEB", "Globex web")
        .await
        .expect("globex WEB");
    let a_task = board
        .create_task(&a, a_web.id, "Acme launch", None)
        .await
        .expect("task");
    board
        .create_task(&g, g_web.id, "Globex launch", None)
        .await
        .expect("task");

    let listed = board.project_tasks(&a, a_web.id, 10).await.expect("list");
    assert_eq!(listed, vec![a_task.clone()]);
    // Globex's admin, holding Acme's ids, finds nothing there: the ids resolve in Globex's
    // own keyspace only.
    assert_eq!(g.get::<Task>(a_task.id).await.expect("get"), None);
    assert_eq!(g.get::<Project>(a_web.id).await.expect("get"), None);
    assert!(board
        .project_tasks(&g, a_web.id, 10)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn two_racing_updates_are_retried_and_both_kept() {
    let board = Board::new(memory());
    let (_, admin, web) = acme_with_web(&board).await;
    let launch = board
        .create_task(&admin, web.id, "Launch", None)
        .await
        .expect("task");

    // The rename reads the task; before it commits, a move of the same task commits. The
    // rename's commit conflicts, its retry reads the moved task: both changes are kept.
    let raced = AtomicBool::new(false);
    let (raced, competitor, id) = (&raced, board.clone(), launch.id);
    let rival = admin.clone();
    let renamed = admin
        .transaction(move |ttx, by| async move {
            let mut task = record::require::<Task>(&ttx, by, id).await?;
            if !raced.swap(true, Ordering::SeqCst) {
                competitor.move_task(&rival, id, TaskStatus::Done).await?;
            }
            task.title = "Launched".into();
            record::update(&ttx, by, task).await
        })
        .await
        .expect("rename after a conflict");
    assert_eq!(renamed.title, "Launched");
    assert_eq!(renamed.status, TaskStatus::Done, "the retry saw the move");
    let stored: Task = admin.require(launch.id).await.expect("read back");
    assert_eq!(
        (stored.title.as_str(), stored.status),
        ("Launched", TaskStatus::Done)
    );
}

#[tokio::test]
async fn lists_longer_than_a_page_come_whole() {
    let board = Board::new(memory());
    let (acme, admin, web) = acme_with_web(&board).await;
    let agent = add_builder(&board, &acme).await;
    let mut made = Vec::new();
    for n in 0..7 {
        let task = board
            .create_task(&admin, web.id, &format!("Task {n}"), Some(agent))
            .await
            .expect("task");
        made.push(task.id);
    }
    board
        .create_task(&admin, web.id, "Unassigned", None)
        .await
        .expect("task");
    let mine = board
        .my_tasks(&board.as_member(&acme, agent), 3)
        .await
        .expect("my tasks");
    assert_eq!(
        mine.iter().map(|t| t.id).collect::<Vec<_>>(),
        made,
        "7 tasks over 3 pages, in order"
    );
    let mut pages = admin.pages::<Task>(3);
    let mut sizes = Vec::new();
    while let Some(page) = pages.next().await.expect("page") {
        sizes.push(page.len());
    }
    assert_eq!(sizes, vec![3, 3, 2]);
}

#[tokio::test]
async fn a_retry_after_a_commit_that_applied_creates_nothing_twice() {
    let inner = memory();
    let faulty = Arc::new(FaultyBackend::scripted(inner.clone(), []));
    let board = Board::new(faulty.clone());
    let (acme, admin, web) = acme_with_web(&board).await;

    faulty.then(1, Fault::UnknownAfterCommit);
    let vera = board
        .add_human(&acme, "Vera", "vera@acme.test", "viewer")
        .await
        .expect("a human after an unknown commit");
    faulty.then(1, Fault::UnknownAfterCommit);
    let launch = board
        .create_task(&admin, web.id, "Launch", Some(vera))
        .await
        .expect("a task after an unknown commit");

    let clean = Board::new(inner);
    let admin = clean.as_member(&acme, acme.admin);
    let tasks = clean.project_tasks(&admin, web.id, 10).await.expect("list");
    assert_eq!(tasks, vec![launch], "one task");
    let users = admin.pages::<User>(10).collect().await.expect("users");
    assert_eq!(users.len(), 2, "the admin and Vera, once");
    let members = admin.pages::<Member>(10).collect().await.expect("members");
    assert_eq!(members.len(), 2);
    let grants = admin
        .pages::<RoleAssignment>(10)
        .collect()
        .await
        .expect("grants");
    assert_eq!(grants.len(), 1, "one grant");
}
