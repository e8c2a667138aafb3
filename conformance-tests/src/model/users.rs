//! Users: their records, their email index, and their passwords.

use super::*;

/// Users: create (email lower-cased), get, lookup by email, update, list, delete.
pub async fn user_crud_and_email_lookup(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "users.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let created = in_p
        .insert(User::new("  Dev@Example.TEST ", "Dev", UserRole::Developer))
        .await
        .expect("create");
    assert_eq!(created.email, "dev@example.test");
    assert!(created.stamps.created_at_ms > 0);
    let found = in_tenant!(db, tid(&p), |ttx| {
        user::by_email(&ttx, Actor::System, "DEV@example.test").await
    })
    .expect("lookup")
    .expect("found");
    assert_eq!(found, created);
    let mut renamed = found.clone();
    renamed.name = "Developer".into();
    renamed.email = "dev2@example.test".into();
    in_p.update(renamed.clone()).await.expect("update");
    let got = in_p.require::<User>(created.id).await.expect("get");
    assert_eq!(got.name, "Developer");
    assert_eq!(got.stamps.created_at_ms, created.stamps.created_at_ms);
    let old = in_tenant!(db, tid(&p), |ttx| {
        user::by_email(&ttx, Actor::System, "dev@example.test").await
    })
    .expect("old");
    assert!(old.is_none(), "the old email's index entry moved");
    let listed = in_p.list::<User>(10).await.expect("list");
    assert_eq!(listed.items.len(), 2);
    in_p.delete::<User>(created.id).await.expect("delete");
    let gone = in_p.get::<User>(created.id).await.expect("get");
    assert!(gone.is_none());
    let error = in_p.require::<User>(created.id).await.expect_err("gone");
    assert_matches!(error, Error::NotFound { model: "user", .. });
}

/// An email is unique in its tenant, whatever its case.
pub async fn duplicate_email_fails(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "dup.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    in_p.insert(User::new("x@dup.test", "X", UserRole::Viewer))
        .await
        .expect("first");
    let error = in_p
        .insert(User::new("X@DUP.test", "Y", UserRole::Viewer))
        .await
        .expect_err("duplicate");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "user",
            field: "email"
        }
    );
    for bad in [
        "no-at-sign",
        "a@b",
        "two@@x.test",
        "sp ace@x.test",
        "@x.test",
    ] {
        let error = in_p
            .insert(User::new(bad, "Bad", UserRole::Viewer))
            .await
            .expect_err(bad);
        assert!(
            matches!(error, Error::InvalidInput { field: "email", .. }),
            "{bad}: {error:?}"
        );
    }
}

/// Passwords: Argon2id, verified, never stored in the user record nor digested.
pub async fn password_is_hashed_apart_and_verified(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "pw.test", Plan::Free).await;
    let before = all_audit(db.as_ref(), tid(&p)).await.len();
    in_tenant!(db, tid(&p), |ttx| {
        user::set_password_with(
            &ttx,
            admin(&p),
            p.admin.id,
            "correct horse battery",
            cheap_argon2(),
        )
        .await
    })
    .expect("set");
    let (ok, wrong, short) = in_tenant!(db, tid(&p), |ttx| {
        let ok = user::verify_password(&ttx, p.admin.id, "correct horse battery").await?;
        let wrong = user::verify_password(&ttx, p.admin.id, "wrong horse battery").await?;
        let short = user::set_password(&ttx, admin(&p), p.admin.id, "short").await;
        Ok::<_, Error>((ok, wrong, short))
    })
    .expect("verify");
    assert!(ok && !wrong);
    assert_matches!(
        short,
        Err(Error::InvalidInput {
            field: "password",
            ..
        })
    );
    let stored = at(db.as_ref(), &p)
        .require::<User>(p.admin.id)
        .await
        .expect("user");
    assert_eq!(
        stored.status,
        UserStatus::Active,
        "setting a password activates an invited user"
    );
    let raw = in_tenant!(db, tid(&p), |ttx| {
        ttx.get(&record::key_of::<User>(&ttx, p.admin.id), false)
            .await
    })
    .expect("raw")
    .expect("stored");
    assert!(
        !raw.windows(8).any(|w| w == b"$argon2i"),
        "the hash is not in the user record"
    );
    let events = all_audit(db.as_ref(), tid(&p)).await;
    let set = &events[before];
    assert_eq!(set.action, AuditAction::SetPassword);
    assert_eq!((set.before, set.after), (None, None));
    // The hash is somewhere in the tenant, as a PHC string of Argon2id.
    let (begin, end) = tid(&p).range();
    let rows = scan(db.as_ref(), &begin, &end).await;
    assert!(rows
        .iter()
        .any(|(_, v)| v.windows(9).any(|w| w == b"$argon2id")));
}
