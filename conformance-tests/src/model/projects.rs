//! Members and projects: their lookups, their rules and their references.

use super::*;

/// Members: one per user (unique), agents by configuration, the user must exist.
pub async fn member_lookups_and_rules(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "members.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let agent = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, agent, "Bot").await;
    let (by_user, by_agent) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            member::by_user(&ttx, Actor::System, p.admin.id).await?,
            member::by_agent(&ttx, Actor::System, agent, &page_of(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_user, Some(p.admin_member.clone()));
    assert_eq!(by_agent.items, vec![bot]);
    let error = in_p
        .insert(Member::new(MemberKind::Human(p.admin.id), "Twice"))
        .await
        .expect_err("second member of a user");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "member",
            field: "user"
        }
    );
    let ghost = UserId::generate();
    let error = in_p
        .insert(Member::new(MemberKind::Human(ghost), "Ghost"))
        .await
        .expect_err("missing user");
    assert_matches!(
        error,
        Error::InvalidReference {
            field: "user",
            target: "user",
            ..
        }
    );
    let error = in_p
        .delete::<User>(p.admin.id)
        .await
        .expect_err("user with a member");
    assert_still_referenced(&error, "user", "member", "user");
    let web = project_in(db.as_ref(), &p, "OWNED").await;
    let error = in_p
        .delete::<Member>(p.admin_member.id)
        .await
        .expect_err("owner of a project");
    assert_still_referenced(&error, "member", "project", "owner");
    in_p.delete::<Project>(web.id)
        .await
        .expect("delete project");
    let bot_id = by_agent.items[0].id;
    in_p.delete::<Member>(bot_id)
        .await
        .expect("delete agent member");
}

/// Projects: unique code, lookups by entity and owner, references checked, archive, and no
/// delete while tasks remain.
pub async fn project_crud_lookups_and_references(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "projects.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let error = in_p
        .insert(Project::new("WEB", "Again", p.root.id, p.admin_member.id))
        .await
        .expect_err("duplicate code");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "project",
            field: "code"
        }
    );
    let error = in_p
        .insert(Project::new(
            "NOPE",
            "No entity",
            coditect_core::ids::EntityId::generate(),
            p.admin_member.id,
        ))
        .await
        .expect_err("missing entity");
    assert_matches!(
        error,
        Error::InvalidReference {
            field: "entity",
            ..
        }
    );
    let (by_code, by_entity, by_owner) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            project::by_code(&ttx, Actor::System, "WEB").await?,
            project::by_entity(&ttx, Actor::System, p.root.id, &page_of(10)).await?,
            project::by_owner(&ttx, Actor::System, p.admin_member.id, &page_of(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_code, Some(web.clone()));
    assert_eq!(by_entity.items, vec![web.clone()]);
    assert_eq!(by_owner.items, vec![web.clone()]);
    in_p.insert(Task::new(web.id, "t", p.admin_member.id))
        .await
        .expect("task");
    let error = in_p.delete::<Project>(web.id).await.expect_err("has tasks");
    assert_still_referenced(&error, "project", "task", "project");
    let mut archived = web.clone();
    archived.archived = true;
    archived.code = "WEB-OLD".into();
    in_p.update(archived.clone()).await.expect("archive");
    let again = project_in(db.as_ref(), &p, "WEB").await;
    assert_ne!(
        again.id, web.id,
        "a code freed by an update can be taken again"
    );
}
