//! Tenants and provisioning: what provisioning makes, a taken domain, and the tenants a
//! transaction may not open.

use super::*;

/// Provisioning makes, in one transaction, the registry entry, the domain index, the root
/// Corporation, an invited Admin and their member, each audited with the system actor.
pub async fn provisioning_makes_a_whole_tenant(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "Acme.Test", Plan::Starter).await;
    assert_eq!(p.tenant.domain, "acme.test");
    assert_eq!(p.tenant.quotas, Plan::Starter.default_quotas());
    assert_eq!(p.admin.role, UserRole::Admin);
    assert_eq!(p.admin.status, UserStatus::Invited);
    assert_eq!(p.admin_member.kind, MemberKind::Human(p.admin.id));
    assert_eq!(p.root.kind, EntityKind::Corporation);
    let tx = db.begin().await.expect("begin");
    let by_domain = tenant::get_by_domain(tx.as_ref(), "ACME.test")
        .await
        .expect("by domain")
        .expect("registered");
    assert_eq!(by_domain, p.tenant);
    drop(tx);
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(
        events.len(),
        8,
        "tenant, root entity, admin user, admin member, four built-in roles"
    );
    assert!(events
        .iter()
        .all(|e| e.actor == Actor::System && e.action == AuditAction::Create));
    let models: Vec<&str> = events.iter().map(|e| e.model.as_str()).collect();
    assert_eq!(
        models,
        ["tenant", "entity", "user", "member", "role", "role", "role", "role"]
    );
    let admin_user = in_tenant!(db, tid(&p), |ttx| {
        user::by_email(&ttx, Actor::System, "ADMIN@acme.test").await
    })
    .expect("lookup")
    .expect("admin");
    assert_eq!(admin_user, p.admin);
}

/// A domain is unique across tenants (any case); the failed provisioning writes nothing.
pub async fn provisioning_a_taken_domain_fails(h: &dyn Harness) {
    let db = h.backend();
    provisioned(db.as_ref(), "taken.test", Plan::Free).await;
    let second = new_tenant("TAKEN.test", Plan::Free);
    let tx = db.begin().await.expect("begin");
    let error = provision(tx.as_ref(), second.clone())
        .await
        .expect_err("duplicate domain");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "tenant",
            field: "domain"
        }
    );
    drop(tx);
    let tx = db.begin().await.expect("begin");
    assert!(tenant::get(tx.as_ref(), second.id)
        .await
        .expect("get")
        .is_none());
    let (begin, end) = second.id.range();
    drop(tx);
    assert!(scan(db.as_ref(), &begin, &end).await.is_empty());
}

/// Ids are never nil, unknown tenants cannot be opened, suspended ones neither.
pub async fn nil_unknown_and_suspended_tenants_are_refused(h: &dyn Harness) {
    let db = h.backend();
    assert!(matches!(
        TenantId::new(Uuid::nil()),
        Err(Error::InvalidInput {
            field: "tenant_id",
            ..
        })
    ));
    assert!(matches!(
        MemberId::new(Uuid::nil()),
        Err(Error::InvalidInput {
            field: "member_id",
            ..
        })
    ));
    assert!(matches!(
        TaskId::new(Uuid::nil()),
        Err(Error::InvalidInput { .. })
    ));
    let tx = db.begin().await.expect("begin");
    let unknown = TenantId::generate();
    let error = TenantTx::open(tx.as_ref(), unknown)
        .await
        .err()
        .expect("unknown tenant");
    assert_matches!(error, Error::TenantNotFound { .. });
    drop(tx);

    let p = provisioned(db.as_ref(), "suspend.test", Plan::Free).await;
    let tx = db.begin().await.expect("begin");
    tenant::set_status(
        tx.as_ref(),
        Actor::System,
        p.tenant.id,
        TenantStatus::Suspended,
    )
    .await
    .expect("suspend");
    tx.commit().await.expect("commit");
    let tx = db.begin().await.expect("begin");
    let error = TenantTx::open(tx.as_ref(), tid(&p))
        .await
        .err()
        .expect("suspended");
    assert_matches!(error, Error::TenantInactive { .. });
}

/// A status change (what `coditect tenant suspend` runs) reads the tenant's registry entry
/// once in its transaction: the registry module hands the entry it read to the tenant-scoped
/// transaction that audits the change, instead of each layer reading it again.
pub async fn a_status_change_reads_the_registry_entry_once(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "once.test", Plan::Starter).await;
    let recording = Recording::new(db.begin().await.expect("begin"));
    let suspended = tenant::set_status(
        &recording,
        coditect_core::Principal::System,
        tid(&p),
        TenantStatus::Suspended,
    )
    .await
    .expect("suspend");
    assert_eq!(suspended.status, TenantStatus::Suspended);
    let registry = crate::recording::registry_key(tid(&p));
    let reads = recording
        .take()
        .into_iter()
        .filter(|touch| *touch == crate::recording::Touch::Get(registry.clone()))
        .count();
    assert_eq!(
        reads, 1,
        "the registry entry is read once per status change"
    );
}
