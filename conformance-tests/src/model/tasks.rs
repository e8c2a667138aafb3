//! Tasks: their lookups, their parents, and their assignees.

use super::*;

/// Tasks: every lookup (project, assignee, status, parent) follows updates.
pub async fn task_crud_and_lookups(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "tasks.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let config = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, config, "Bot").await;
    // An agent acts under the same rules as a person: it needs a role to write tasks.
    grant(db.as_ref(), &p, bot.id, "contributor", p.root.id).await;
    let (parent, child) = in_tenant!(db, tid(&p), |ttx| {
        let mut parent = Task::new(web.id, "Parent", p.admin_member.id);
        parent.assignee = Some(bot.id);
        let parent = record::insert(&ttx, admin(&p), parent).await?;
        let mut child = Task::new(web.id, "Child", bot.id);
        child.parent = Some(parent.id);
        let child = record::insert(&ttx, Actor::Member(bot.id), child).await?;
        Ok::<_, Error>((parent, child))
    })
    .expect("tasks");
    let (tenant, web_id, bot_id, parent_id) = (tid(&p), web.id, bot.id, parent.id);
    let lookups = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| {
            Ok::<_, Error>((
                task::by_project(&ttx, Actor::System, web_id, &page_of(10))
                    .await?
                    .items
                    .len(),
                task::by_assignee(&ttx, Actor::System, bot_id, &page_of(10))
                    .await?
                    .items,
                task::by_status(&ttx, Actor::System, TaskStatus::Done, &page_of(10))
                    .await?
                    .items,
                task::subtasks(&ttx, Actor::System, parent_id, &page_of(10))
                    .await?
                    .items,
            ))
        })
        .expect("lookups")
    };
    let (in_project, assigned, done, subtasks) = lookups(db.clone()).await;
    assert_eq!(in_project, 2);
    assert_eq!(assigned, vec![parent.clone()]);
    assert!(done.is_empty());
    assert_eq!(subtasks, vec![child.clone()]);
    let mut finished = parent.clone();
    finished.status = TaskStatus::Done;
    finished.assignee = None;
    let finished = in_tenant!(db, tid(&p), |ttx| {
        record::update(&ttx, Actor::Member(bot.id), finished.clone()).await
    })
    .expect("update");
    let (_, assigned, done, _) = lookups(db.clone()).await;
    assert!(assigned.is_empty());
    assert_eq!(done, vec![finished]);
    let error = at(db.as_ref(), &p)
        .delete::<Task>(parent.id)
        .await
        .expect_err("has subtasks");
    assert_still_referenced(&error, "task", "task", "parent");
    at(db.as_ref(), &p)
        .delete::<Task>(child.id)
        .await
        .expect("delete child");
    at(db.as_ref(), &p)
        .delete::<Task>(parent.id)
        .await
        .expect("delete parent");
    let (in_project, ..) = lookups(db.clone()).await;
    assert_eq!(in_project, 0);
}

/// A parent task is in the same project, and parents never form a cycle.
pub async fn task_parent_rules(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "subtasks.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let (one, two) = (
        project_in(db.as_ref(), &p, "ONE").await,
        project_in(db.as_ref(), &p, "TWO").await,
    );
    let (a, b) = in_tenant!(db, tid(&p), |ttx| {
        let a = record::insert(&ttx, admin(&p), Task::new(one.id, "A", p.admin_member.id)).await?;
        let mut b = Task::new(one.id, "B", p.admin_member.id);
        b.parent = Some(a.id);
        Ok::<_, Error>((a, record::insert(&ttx, admin(&p), b).await?))
    })
    .expect("tasks");
    let mut elsewhere = Task::new(two.id, "C", p.admin_member.id);
    elsewhere.parent = Some(a.id);
    let error = in_p
        .insert(elsewhere.clone())
        .await
        .expect_err("other project");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "parent",
            ..
        }
    );
    let mut looped = a.clone();
    looped.parent = Some(b.id);
    let error = in_p.update(looped.clone()).await.expect_err("cycle");
    assert!(
        matches!(&error, Error::InvalidInput { field: "parent", reason } if reason.contains("cycle")),
        "{error:?}"
    );
    let mut moved = a.clone();
    moved.project = two.id;
    let error = in_p.update(moved.clone()).await.expect_err("subtasks stay");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "project",
            ..
        }
    );
}

/// An assignee from another tenant does not exist here: the create fails, naming the field,
/// and writes nothing.
pub async fn cross_tenant_assignee_fails(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.cross.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.cross.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &a, "WEB").await;
    let mut stolen = Task::new(web.id, "Cross", a.admin_member.id);
    stolen.assignee = Some(b.admin_member.id);
    let error = at(db.as_ref(), &a)
        .insert(stolen.clone())
        .await
        .expect_err("cross-tenant");
    assert!(
        matches!(error, Error::InvalidReference { model: "task", field: "assignee", target: "member", id } if id == b.admin_member.id.uuid()),
        "{error:?}"
    );
    let error = in_tenant!(db, tid(&a), |ttx| {
        record::insert(
            &ttx,
            Actor::Member(b.admin_member.id),
            Task::new(web.id, "Acted", a.admin_member.id),
        )
        .await
    })
    .expect_err("cross-tenant actor");
    assert_matches!(error, Error::InvalidReference { field: "actor", .. });
    let tasks = in_tenant!(db, tid(&a), |ttx| {
        task::by_project(&ttx, Actor::System, web.id, &page_of(10)).await
    })
    .expect("list");
    assert!(tasks.items.is_empty());
}
