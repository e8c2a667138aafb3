//! The entity tree: its levels, its codes, its lookups and its cycles.

use super::*;

/// The entity tree: levels only go down, only a Corporation is a root, codes are unique, and
/// the lookups by code, parent and kind answer.
pub async fn entity_hierarchy_rules_and_lookups(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "tree.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let (division, team) = in_tenant!(db, tid(&p), |ttx| {
        let division = record::insert(
            &ttx,
            admin(&p),
            Entity::new("ENG", "Engineering", EntityKind::Division, Some(p.root.id)),
        )
        .await?;
        let team = record::insert(
            &ttx,
            admin(&p),
            Entity::new("CORE", "Core", EntityKind::Team, Some(division.id)),
        )
        .await?;
        Ok::<_, Error>((division, team))
    })
    .expect("tree");
    let cases = [
        (
            Entity::new("D1", "Dept", EntityKind::Department, Some(team.id)),
            "parent",
        ),
        (
            Entity::new("C2", "Corp", EntityKind::Corporation, Some(p.root.id)),
            "parent",
        ),
        (
            Entity::new("D2", "Div", EntityKind::Division, None),
            "parent",
        ),
        (
            Entity::new("bad code!", "Bad", EntityKind::Team, Some(division.id)),
            "code",
        ),
    ];
    for (bad, field) in cases {
        let error = in_p.insert(bad.clone()).await.expect_err("rule");
        assert!(
            matches!(&error, Error::InvalidInput { field: f, .. } if *f == field),
            "{bad:?}: {error:?}"
        );
    }
    let error = in_p
        .insert(Entity::new(
            "ENG",
            "Again",
            EntityKind::Division,
            Some(p.root.id),
        ))
        .await
        .expect_err("duplicate code");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "entity",
            field: "code"
        }
    );
    let (by_code, children, teams) = in_tenant!(db, tid(&p), |ttx| {
        let by_code = entity::by_code(&ttx, Actor::System, "CORE").await?;
        let children = entity::children(&ttx, Actor::System, division.id, &page_of(10)).await?;
        let teams = entity::by_kind(&ttx, Actor::System, EntityKind::Team, &page_of(10)).await?;
        Ok::<_, Error>((by_code, children, teams))
    })
    .expect("lookups");
    assert_eq!(by_code, Some(team.clone()));
    assert_eq!(children.items, vec![team.clone()]);
    assert_eq!(teams.items, vec![team]);
    let error = in_p
        .delete::<Entity>(division.id)
        .await
        .expect_err("has children");
    assert_still_referenced(&error, "entity", "entity", "parent");
}

/// Re-parenting an entity under its own descendant is a cycle, refused; so is a kind change
/// that would put a child at its parent's level.
pub async fn entity_cycle_is_refused(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "cycle.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let (a, b, c) = in_tenant!(db, tid(&p), |ttx| {
        let a = record::insert(
            &ttx,
            admin(&p),
            Entity::new("A", "A", EntityKind::Division, Some(p.root.id)),
        )
        .await?;
        let b = record::insert(
            &ttx,
            admin(&p),
            Entity::new("B", "B", EntityKind::Department, Some(a.id)),
        )
        .await?;
        let c = record::insert(
            &ttx,
            admin(&p),
            Entity::new("C", "C", EntityKind::Team, Some(b.id)),
        )
        .await?;
        Ok::<_, Error>((a, b, c))
    })
    .expect("chain");
    for (moved, under) in [(&a, &c), (&b, &c), (&a, &b)] {
        let mut moved = moved.clone();
        moved.parent = Some(under.id);
        let error = in_p.update(moved.clone()).await.expect_err("cycle");
        assert!(
            matches!(&error, Error::InvalidInput { field: "parent", reason } if reason.contains("cycle")),
            "{error:?}"
        );
    }
    let mut self_parent = c.clone();
    self_parent.parent = Some(c.id);
    assert!(in_p.update(self_parent.clone()).await.is_err());
    let mut flattened = b.clone();
    flattened.kind = EntityKind::Team;
    let error = in_p.update(flattened.clone()).await.expect_err("level");
    assert_matches!(error, Error::InvalidInput { field: "kind", .. });
    // A legal move: the team goes directly under the division.
    let mut moved = c.clone();
    moved.parent = Some(a.id);
    in_p.update(moved.clone()).await.expect("re-parent");
    let children = in_tenant!(db, tid(&p), |ttx| {
        entity::children(&ttx, Actor::System, a.id, &page_of(10)).await
    })
    .expect("children");
    assert_eq!(children.items.len(), 2);
}
