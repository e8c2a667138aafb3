//! Quotas of the plan.

use super::*;

/// Quotas of the plan are enforced on create with `QuotaExceeded`; deleting frees a slot,
/// and -1 is unlimited.
pub async fn quotas_are_enforced(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "quota.test", Plan::Free).await;
    let in_p = at(db.as_ref(), &p);
    let quotas = Plan::Free.default_quotas();
    let mut users = Vec::new();
    for i in 1..quotas.max_users {
        let u = in_p
            .insert(User::new(format!("u{i}@quota.test"), "U", UserRole::Viewer))
            .await
            .expect("within quota");
        users.push(u);
    }
    let error = in_p
        .insert(User::new("over@quota.test", "O", UserRole::Viewer))
        .await
        .expect_err("over quota");
    assert!(
        matches!(error, Error::QuotaExceeded { resource: "users", limit } if limit == quotas.max_users),
        "{error:?}"
    );
    in_p.delete::<User>(users[0].id).await.expect("delete");
    in_p.insert(User::new("again@quota.test", "A", UserRole::Viewer))
        .await
        .expect("a freed slot");

    for i in 0..quotas.max_projects {
        project_in(db.as_ref(), &p, &format!("P{i}")).await;
    }
    let error = in_p
        .insert(Project::new("PX", "X", p.root.id, p.admin_member.id))
        .await
        .expect_err("over project quota");
    assert_matches!(
        error,
        Error::QuotaExceeded {
            resource: "projects",
            ..
        }
    );

    let config = agent_config_in(db.as_ref(), &p, "bots").await;
    for _ in 0..quotas.max_agents {
        in_p.insert(Member::new(MemberKind::Agent(config), "bot"))
            .await
            .expect("agent within quota");
    }
    let error = in_p
        .insert(Member::new(MemberKind::Agent(config), "bot"))
        .await
        .expect_err("over agent quota");
    assert_matches!(
        error,
        Error::QuotaExceeded {
            resource: "agents",
            ..
        }
    );

    // Lift the project quota: -1 is unlimited.
    let tx = db.begin().await.expect("begin");
    let mut entry = p.tenant.clone();
    entry.quotas.max_projects = -1;
    tenant::update(tx.as_ref(), Actor::System, entry)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    project_in(db.as_ref(), &p, "UNLIMITED").await;
}
