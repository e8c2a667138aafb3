//! Members and projects: their lookups, their rules and their references.

use super::*;

/// Members: one per user (unique), agents by configuration, the user must exist.
pub async fn member_lookups_and_rules(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "members.test", Plan::Professional).await;
    let agent = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, agent, "Bot").await;
    let (by_user, by_agent) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            member::by_user(&ttx, Actor::System, p.admin.id).await?,
            member::by_agent(&ttx, Actor::System, agent, &PageRequest::first(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_user, Some(p.admin_member.clone()));
    assert_eq!(by_agent.items, vec![bot]);
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Human(p.admin.id), "Twice"),
        )
        .await
    })
    .expect_err("second member of a user");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "member",
            field: "user"
        }
    ));
    let ghost = UserId::generate();
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Human(ghost), "Ghost"),
        )
        .await
    })
    .expect_err("missing user");
    assert!(
        matches!(
            error,
            Error::InvalidReference {
                field: "user",
                target: "user",
                ..
            }
        ),
        "{error:?}"
    );
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<User>(
        &ttx,
        admin(&p),
        p.admin.id
    )
    .await)
    .expect_err("user with a member");
    assert!(matches!(
&error, Error::StillReferenced { model: "user", by, .. }
                if by.iter().any(|r| r.collection == "member" && r.field == "user")));
    let web = project_in(db.as_ref(), &p, "OWNED").await;
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Member>(
        &ttx,
        admin(&p),
        p.admin_member.id
    )
    .await)
    .expect_err("owner of a project");
    assert!(
        matches!(
        &error,
                Error::StillReferenced { model: "member", by, .. }
                                if by.iter().any(|r| r.collection == "project" && r.field == "owner")
                        ),
        "{error:?}"
    );
    in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect("delete project");
    let bot_id = by_agent.items[0].id;
    in_tenant!(db, tid(&p), |ttx| record::delete::<Member>(
        &ttx,
        admin(&p),
        bot_id
    )
    .await)
    .expect("delete agent member");
}

/// Projects: unique code, lookups by entity and owner, references checked, archive, and no
/// delete while tasks remain.
pub async fn project_crud_lookups_and_references(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "projects.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new("WEB", "Again", p.root.id, p.admin_member.id),
        )
        .await
    })
    .expect_err("duplicate code");
    assert!(matches!(
        error,
        Error::AlreadyExists {
            model: "project",
            field: "code"
        }
    ));
    let error = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            admin(&p),
            Project::new(
                "NOPE",
                "No entity",
                coditect_core::ids::EntityId::generate(),
                p.admin_member.id,
            ),
        )
        .await
    })
    .expect_err("missing entity");
    assert!(matches!(
        error,
        Error::InvalidReference {
            field: "entity",
            ..
        }
    ));
    let (by_code, by_entity, by_owner) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            project::by_code(&ttx, Actor::System, "WEB").await?,
            project::by_entity(&ttx, Actor::System, p.root.id, &PageRequest::first(10)).await?,
            project::by_owner(
                &ttx,
                Actor::System,
                p.admin_member.id,
                &PageRequest::first(10),
            )
            .await?,
        ))
    })
    .expect("lookups");
    assert_eq!(by_code, Some(web.clone()));
    assert_eq!(by_entity.items, vec![web.clone()]);
    assert_eq!(by_owner.items, vec![web.clone()]);
    in_tenant!(db, tid(&p), |ttx| record::insert(
        &ttx,
        admin(&p),
        Task::new(web.id, "t", p.admin_member.id)
    )
    .await)
    .expect("task");
    let error = in_tenant!(db, tid(&p), |ttx| record::delete::<Project>(
        &ttx,
        admin(&p),
        web.id
    )
    .await)
    .expect_err("has tasks");
    assert!(matches!(
    &error,
        Error::StillReferenced { model: "project", by, .. }
                        if by.iter().any(|r| r.collection == "task" && r.field == "project")
            ));
    let mut archived = web.clone();
    archived.archived = true;
    archived.code = "WEB-OLD".into();
    in_tenant!(db, tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        archived.clone()
    )
    .await)
    .expect("archive");
    let again = project_in(db.as_ref(), &p, "WEB").await;
    assert_ne!(
        again.id, web.id,
        "a code freed by an update can be taken again"
    );
}
