//! `tenant check` ([`ops::check()`]): a clean tenant checks clean; a broken index entry, a wrong
//! counter and a dangling reference, each written through the raw [`KvBackend`] (past every
//! guard of `TenantTx`), are each reported with their key; an import of the broken tenant is
//! refused and the copy stays staged.

use std::io::Cursor;

use coditect_core::audit::Actor;
use coditect_core::keys::TenantId;
use coditect_core::model::{Plan, Project, Task, User};
use coditect_core::provision::Provisioned;
use coditect_core::record;
use coditect_core::{uuid::Uuid, value, Error, KvBackend, TenantTx};
use coditect_ops::{
    self as ops, CheckOptions, CheckReport, ExportOptions, ImportTarget, ViolationKind,
};
use foundationdb_tuple::pack;

use super::{export_bytes, provisioned};
use crate::support::assert_matches;
use crate::Harness;

/// Checks `tenant` (its audit trail too) and fails unless it is clean: what the ops cases
/// run after every import, migration and copy.
pub async fn assert_checks_clean(db: &dyn KvBackend, tenant: TenantId) -> CheckReport {
    let report = ops::check(db, tenant, &CheckOptions::default())
        .await
        .expect("check");
    assert!(
        report.is_clean(),
        "tenant {tenant} fails its check: {:#?}",
        report.violations
    );
    assert!(report.records > 0 && report.audit_events.is_some());
    report
}

fn has(report: &CheckReport, kind: ViolationKind, key: &[u8]) -> bool {
    report
        .violations
        .iter()
        .any(|v| v.kind == kind && v.key == key)
}

/// A tenant provisioned with a project and two tasks checks clean, in small chunks too; then
/// three corruptions written past the record layer are each reported with their key, and an
/// import of a backup of it is refused with [`Error::Inconsistent`], the copy left staged.
pub async fn check_reports_each_violation_with_its_key(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "checked.test", Plan::Professional).await;
    let t = p.tenant.id;
    let admin = Actor::Member(p.admin_member.id);
    let project = Project::new("CHK", "Checked", p.root.id, p.admin_member.id);
    let (first, second) = (
        Task::new(project.id, "first", p.admin_member.id),
        Task::new(project.id, "second", p.admin_member.id),
    );
    let tx = db.begin().await.expect("begin");
    let second_key = {
        let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
        record::insert(&ttx, admin, project.clone())
            .await
            .expect("project");
        record::insert(&ttx, admin, first).await.expect("first");
        record::insert(&ttx, admin, second.clone())
            .await
            .expect("second");
        record::key_of::<Task>(&ttx, second.id)
    };
    tx.commit().await.expect("commit");

    let clean = assert_checks_clean(db, t).await;
    let small = CheckOptions {
        chunk_reads: 3,
        ..CheckOptions::default()
    };
    let chunked = ops::check(db, t, &small)
        .await
        .expect("check in small chunks");
    assert!(chunked.is_clean(), "{:#?}", chunked.violations);
    assert!(chunked.chunks > clean.chunks && chunked.keys == clean.keys);

    // Past every guard: the raw store.
    let (dangling_entry, counter) = corrupt(db, t, &project, &second, &second_key).await;

    // A second user with the admin's email, record and index entry, past the uniqueness
    // check.
    let (email, twin) = twin_of_the_admin(db, &p).await;

    let report = each_violation_by_its_key(
        db,
        t,
        [&email, &twin, &dangling_entry, &counter, &second_key],
    )
    .await;

    // An import of it is refused before it goes live, and left staged for abort.
    import_is_refused_and_staged(db, t, &report).await;
}

/// The check of `t` reports each violation with its key: the email held twice (both of its
/// entries), the dangling index entry, the wrong counter, and the dangling reference (by the
/// referring record's key), which also lacks its index and reverse entries.
async fn each_violation_by_its_key(
    db: &dyn KvBackend,
    t: TenantId,
    [email, twin, dangling_entry, counter, second_key]: [&[u8]; 5],
) -> CheckReport {
    let report = ops::check(db, t, &CheckOptions::default())
        .await
        .expect("check");
    assert!(
        has(&report, ViolationKind::UniqueValueTwice, email)
            && has(&report, ViolationKind::UniqueValueTwice, twin),
        "both entries of the email held twice: {:#?}",
        report.violations
    );
    for violation in &report.violations {
        println!("{violation}");
    }
    assert!(
        has(&report, ViolationKind::IndexEntryDangling, dangling_entry),
        "the broken index entry, by its key: {:#?}",
        report.violations
    );
    assert!(
        has(&report, ViolationKind::CounterMismatch, counter),
        "the wrong counter, by its key: {:#?}",
        report.violations
    );
    assert!(
        has(&report, ViolationKind::DanglingReference, second_key),
        "the dangling reference, by the referring record's key: {:#?}",
        report.violations
    );
    // The same record lacks the entries its new assignee calls for.
    assert!(report
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::IndexEntryMissing));
    assert!(report
        .violations
        .iter()
        .any(|v| v.kind == ViolationKind::ReverseReferenceMissing));
    assert_eq!(report.violation_count as usize, report.violations.len());
    let printed = report.violations[0].to_string();
    assert!(
        printed.contains("\\x"),
        "keys are printed escaped: {printed}"
    );
    report
}

/// Writes past every guard (the raw store): an index entry of a task that does not exist, a
/// task counter one too high, and the task `second` assigned to a member who does not exist.
/// Returns the entry's and the counter's keys.
async fn corrupt(
    db: &dyn KvBackend,
    t: TenantId,
    project: &Project,
    second: &Task,
    second_key: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let ghost = Uuid::now_v7();
    let dangling_entry = pack(&(t.uuid(), "idx", "task_by_project", project.id.uuid(), ghost));
    let counter = pack(&(t.uuid(), "meta", "count", "task"));
    let mut broken = second.clone();
    broken.assignee = Some(coditect_core::ids::MemberId::new(ghost).expect("id"));
    let stored = {
        let tx = db.begin().await.expect("begin");
        let bytes = tx
            .get(second_key, false)
            .await
            .expect("get")
            .expect("stored");
        let mut stored: Task = value::decode(&bytes).expect("decode");
        stored.assignee = broken.assignee;
        tx.set(&dangling_entry, &[]).expect("set");
        tx.atomic_add(&counter, 1).expect("add");
        tx.set(second_key, &value::encode(&stored).expect("encode"))
            .expect("set");
        tx.commit().await.expect("commit");
        stored
    };
    assert_eq!(stored.assignee, broken.assignee);
    (dangling_entry, counter)
}

/// A second user with the admin's email, record and index entry, past the uniqueness check.
/// Returns the keys of the two index entries of the email (the admin's, the twin's).
async fn twin_of_the_admin(db: &dyn KvBackend, p: &Provisioned) -> (Vec<u8>, Vec<u8>) {
    let t = p.tenant.id;
    let tx = db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
    let admin_user = p.admin.clone();
    let mut twin = admin_user.clone();
    twin.id = coditect_core::ids::UserId::generate();
    let key = record::key_of::<User>(&ttx, twin.id);
    drop(ttx);
    tx.set(&key, &value::encode(&twin).expect("encode"))
        .expect("set");
    let index = |id: Uuid| pack(&(t.uuid(), "idx", "user_by_email", twin.email.as_str(), id));
    tx.set(&index(twin.id.uuid()), &[]).expect("set");
    tx.atomic_add(&pack(&(t.uuid(), "meta", "count", "user")), 1)
        .expect("add");
    tx.commit().await.expect("commit");
    (index(admin_user.id.uuid()), index(twin.id.uuid()))
}

/// An import of a backup of `t` (whose check is `report`) is refused before it goes live,
/// with the violations that block it, and left staged for abort.
async fn import_is_refused_and_staged(db: &dyn KvBackend, t: TenantId, report: &CheckReport) {
    let bytes = export_bytes(db, t, &ExportOptions::default()).await;
    let copy = TenantId::generate();
    let refused = ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "checked-copy.test"),
        &ops::ChunkOptions::default(),
    )
    .await;
    match refused {
        Err(Error::Inconsistent {
            tenant, violations, ..
        }) => {
            assert_eq!(tenant, copy.uuid());
            // A missing reverse entry is written by the import (a store from before the
            // reverse index has none); everything else refuses it.
            let blocking = report
                .violations
                .iter()
                .filter(|v| v.kind != ViolationKind::ReverseReferenceMissing)
                .count();
            assert_eq!(violations, blocking as u64);
        }
        other => panic!("expected Inconsistent, got {other:?}"),
    }
    let pending = ops::pending_operation(db, copy).await.expect("read marker");
    assert!(pending.is_some(), "the copy stays staged");
    assert!(matches!(
        TenantTx::open(db.begin().await.expect("begin").as_ref(), copy).await,
        Err(Error::OperationPending { .. })
    ));
    ops::abort(db, copy, "test", &ops::ChunkOptions::default())
        .await
        .expect("abort drops it");
}

/// Quotas on every path: a quota is lowered to the current use but never under it; a tenant
/// over its quota (its entry edited past the record layer, as a store from before this
/// refusal may hold) is reported by the check, and an import of it is refused before it goes
/// live, so an import, migration or copy never activates more than the quotas allow.
pub async fn quotas_hold_when_lowered_and_on_import(h: &dyn Harness) {
    use coditect_core::model::{tenant, Tenant, UserRole};
    use coditect_core::Principal;
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "quota.test", Plan::Starter).await;
    let t = p.tenant.id;
    let admin = Actor::Member(p.admin_member.id);
    let tx = db.begin().await.expect("begin");
    {
        let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
        for n in 0..2 {
            let user = User::new(format!("u{n}@quota.test"), "User", UserRole::Viewer);
            record::insert(&ttx, admin, user).await.expect("user");
        }
    }
    tx.commit().await.expect("commit");
    let entry = |max_users| {
        let mut entry = p.tenant.clone();
        entry.quotas.max_users = max_users;
        entry
    };
    // Three users: two is below the use, three is the use.
    let refused = tenant::update_settings(db, Principal::System, entry(2)).await;
    assert_matches!(
        refused,
        Err(Error::InvalidInput {
            field: "max_users",
            ..
        })
    );
    let lowered = tenant::update_settings(db, Principal::System, entry(3))
        .await
        .expect("down to the use");
    assert_eq!(lowered.quotas.max_users, 3);
    let tx = db.begin().await.expect("begin");
    {
        let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
        let one_more = User::new("u9@quota.test", "User", UserRole::Viewer);
        assert!(matches!(
            record::insert(&ttx, admin, one_more).await,
            Err(Error::QuotaExceeded { .. })
        ));
    }
    drop(tx);
    assert_checks_clean(db, t).await;

    // Past the record layer: the entry says two.
    let registry = pack(&("sys", "tenant", t.uuid()));
    let tx = db.begin().await.expect("begin");
    let bytes = tx.get(&registry, false).await.expect("get").expect("entry");
    let mut stored: Tenant = value::decode(&bytes).expect("decode");
    stored.quotas.max_users = 2;
    tx.set(&registry, &value::encode(&stored).expect("encode"))
        .expect("set");
    tx.commit().await.expect("commit");
    let report = ops::check(db, t, &CheckOptions::default())
        .await
        .expect("check");
    let counter = pack(&(t.uuid(), "meta", "count", "user"));
    assert!(
        has(&report, ViolationKind::OverQuota, &counter),
        "{:#?}",
        report.violations
    );
    let bytes = export_bytes(db, t, &ExportOptions::default()).await;
    let copy = TenantId::generate();
    let refused = ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "quota-copy.test"),
        &ops::ChunkOptions::default(),
    )
    .await;
    assert_matches!(refused, Err(Error::Inconsistent { violations: 1, .. }));
}

/// A backup of a store written before the reverse-reference index existed (its records'
/// reverse entries absent) imports: the import writes the entries, the imported tenant checks
/// clean, and a delete of a record still referred to is refused there as it would be on a
/// tenant written today.
pub async fn an_import_writes_the_reverse_references_an_old_store_lacks(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "old-store.test", Plan::Professional).await;
    let t = p.tenant.id;
    let admin = Actor::Member(p.admin_member.id);
    let project = Project::new("OLD", "Old", p.root.id, p.admin_member.id);
    let task = Task::new(project.id, "refers to the project", p.admin_member.id);
    let tx = db.begin().await.expect("begin");
    {
        let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
        record::insert(&ttx, admin, project.clone())
            .await
            .expect("project");
        record::insert(&ttx, admin, task).await.expect("task");
    }
    tx.commit().await.expect("commit");
    // The old store: no reverse entries at all (cleared through the raw store).
    let refs = pack(&(t.uuid(), "ref"));
    let refs_end = coditect_core::prefix_end(&refs).expect("an end");
    let tx = db.begin().await.expect("begin");
    tx.clear_range(&refs, &refs_end).expect("clear");
    tx.commit().await.expect("commit");
    let before = ops::check(db, t, &CheckOptions::default())
        .await
        .expect("check");
    let missing = before
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::ReverseReferenceMissing)
        .count();
    assert!(missing >= 2, "the old store lacks its entries: {before:#?}");
    assert_eq!(before.violation_count as usize, missing, "and nothing else");

    let bytes = export_bytes(db, t, &ExportOptions::default()).await;
    let copy = TenantId::generate();
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "old-store-copy.test"),
        &ops::ChunkOptions::default(),
    )
    .await
    .expect("an old store's backup imports");
    assert_checks_clean(db, copy).await;
    let tx = db.begin().await.expect("begin");
    let refused = {
        let ttx = TenantTx::open(tx.as_ref(), copy).await.expect("open");
        record::delete::<Project>(&ttx, Actor::System, project.id).await
    };
    assert!(
        matches!(refused, Err(Error::StillReferenced { .. })),
        "the written entries guard the delete: {refused:?}"
    );
}
