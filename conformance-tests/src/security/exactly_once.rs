//! Exactly once by construction: a retry body written the naive way (the record built inside
//! the body, so a fresh id on every attempt unless the run replays them) writes each record
//! once when a commit reported `CommitUnknownResult` had in fact applied. Every model's
//! create, update and delete, a password change, and the record layer's own example run under
//! a [`FaultyBackend`] scripted to make exactly that happen.

use std::fmt::Debug;

use coditect_core::model::audit_event;
use coditect_core::model::{task, user, Plan, Project, Task};
use coditect_core::provision::{provision, NewTenant};
use coditect_core::record::{Model, PageRequest};
use coditect_core::{run, run_in_tenant, Principal};

use super::matrix::{subjects, unique, Cast, Crud};
use super::*;
use crate::faults::{Fault, FaultyBackend};
use crate::Harness;

/// Every model's create, update and delete, written naively, under a commit that applies
/// and then reports an unknown result: one record made, one change, one removal, one audit
/// event each, and each call returns what it did.
pub async fn naive_retry_bodies_write_each_record_once(h: &dyn Harness) {
    let db = h.backend();
    let cast = Cast::new(db.as_ref(), "exactly-once.test").await;
    let faulty = FaultyBackend::scripted(db.clone(), []);
    let rows = subjects();
    for row in &rows {
        row.exactly_once(db.as_ref(), &faulty, &cast).await;
    }
    // Each row went through three retried commits (the faulted one and its retry).
    assert!(
        faulty.commits() >= 6 * rows.len() as u64,
        "every fault was hit"
    );
}

/// [`naive_retry_bodies_write_each_record_once`] for one model.
pub(crate) async fn create_update_delete<M: Model + Debug>(
    row: &Crud<M>,
    db: &dyn KvBackend,
    faulty: &FaultyBackend,
    cast: &Cast,
) {
    let (t, name) = (cast.org.tenant(), row.name);
    let owner = cast.org.p.admin_member.id;
    let admin = Principal::member(owner);
    let n = unique();
    let (records, events) = (count::<M>(db, t).await, audit_events(db, t).await);

    faulty.then(1, Fault::UnknownAfterCommit);
    let made = attempt!(faulty, t, |ttx| {
        // Built inside the body, as a newcomer writes it.
        record::insert(&ttx, admin, (row.make)(cast, owner, n)).await
    })
    .unwrap_or_else(|e| panic!("{name}: create after an unknown result: {e:?}"));
    assert_eq!(count::<M>(db, t).await, records + 1, "{name}: created once");
    assert_eq!(
        stored::<M>(db, t, made.id()).await.as_ref(),
        Some(&made),
        "{name}: returned what it made"
    );
    assert_eq!(
        audit_events(db, t).await,
        events + 1,
        "{name}: one create audited"
    );

    faulty.then(1, Fault::UnknownAfterCommit);
    let id = made.id();
    let updated = attempt!(faulty, t, |ttx| {
        let mut record = record::require::<M>(&ttx, admin, id).await?;
        (row.change)(cast, &mut record);
        record::update(&ttx, admin, record).await
    })
    .unwrap_or_else(|e| panic!("{name}: update after an unknown result: {e:?}"));
    assert_ne!(updated, made, "{name}: the change is a change");
    assert_eq!(
        stored::<M>(db, t, id).await.as_ref(),
        Some(&updated),
        "{name}: returned what it stored"
    );
    assert_eq!(
        audit_events(db, t).await,
        events + 2,
        "{name}: one update audited"
    );

    faulty.then(1, Fault::UnknownAfterCommit);
    let deleted = attempt!(faulty, t, |ttx| record::delete::<M>(&ttx, admin, id).await)
        .unwrap_or_else(|e| panic!("{name}: delete after an unknown result: {e:?}"));
    assert_eq!(deleted, updated, "{name}: returned what it deleted");
    assert_eq!(stored::<M>(db, t, id).await, None, "{name}: deleted");
    assert_eq!(
        count::<M>(db, t).await,
        records,
        "{name}: nothing else made or removed"
    );
    assert_eq!(
        audit_events(db, t).await,
        events + 3,
        "{name}: one delete audited"
    );
}

/// A password change retried after a commit that applied stores one hash (the salt is the
/// run's) and audits one change; the password verifies. The first change of an invited user
/// also activates it: two events, once.
pub async fn a_retried_password_change_is_one_change(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "exactly-once-password.test").await;
    let (t, admin_user) = (org.tenant(), org.p.admin.id);
    let admin = Principal::member(org.p.admin_member.id);
    let faulty = FaultyBackend::scripted(db.clone(), []);
    for (password, new_events) in [("correct horse battery", 2), ("staple battery horse", 1)] {
        let events = audit_events(db.as_ref(), t).await;
        let commits = faulty.commits();
        faulty.then(1, Fault::UnknownAfterCommit);
        attempt!(&faulty, t, |ttx| {
            user::set_password_with(&ttx, admin, admin_user, password, cheap_argon2()).await
        })
        .expect("password after an unknown result");
        assert_eq!(
            faulty.commits(),
            commits + 2,
            "the fault made it retry once"
        );
        assert_eq!(
            audit_events(db.as_ref(), t).await,
            events + new_events,
            "{password}: audited once"
        );
        let ok = attempt!(db.as_ref(), t, |ttx| {
            user::verify_password(&ttx, admin_user, password).await
        })
        .expect("verify");
        assert!(ok, "{password} verifies");
    }
}

/// The record layer's own example (crates/core/src/record.rs), provisioning included, with
/// every commit applied and then reported unknown: one tenant, one project, one task.
pub async fn the_record_layer_example_makes_one_task_under_unknown_commits(h: &dyn Harness) {
    let db = h.backend();
    let faulty = FaultyBackend::scripted(
        db.clone(),
        [
            (1, Fault::UnknownAfterCommit),
            (3, Fault::UnknownAfterCommit),
        ],
    );
    let faulty: &dyn KvBackend = &faulty;
    let new = NewTenant::new("Acme", "acme-example.test", "ada@acme-example.test")
        .with_plan(Plan::Starter);
    let (acme, _) = run(faulty, &RetryOptions::default(), |tx| {
        let new = new.clone();
        async move { provision(&*tx, new).await }
    })
    .await
    .expect("provision after an unknown result");
    let (admin, owner, root) = (
        Actor::Member(acme.admin_member.id),
        acme.admin_member.id,
        acme.root.id,
    );
    let web = Project::new("WEB", "Website", root, owner);
    let (tasks, _) = run_in_tenant(
        faulty,
        &RetryOptions::default(),
        acme.tenant.id,
        |ttx| async move {
            let web = record::insert(&ttx, admin, web).await?;
            record::insert(&ttx, admin, Task::new(web.id, "Launch", owner)).await?;
            task::by_project(&ttx, admin, web.id, &PageRequest::first(50)).await
        },
    )
    .await
    .expect("the example after an unknown result");
    assert_eq!(tasks.items.len(), 1, "the body's own read");
    assert_eq!(
        count::<Task>(db.as_ref(), acme.tenant.id).await,
        1,
        "one task stored"
    );
    assert_eq!(
        count::<Project>(db.as_ref(), acme.tenant.id).await,
        1,
        "one project stored"
    );
}

/// How many records of `M` the tenant holds (read as the system, every page).
async fn count<M: Model>(db: &dyn KvBackend, t: TenantId) -> usize {
    let (mut request, mut total) = (PageRequest::first(500), 0);
    loop {
        let page = attempt!(db, t, |ttx| {
            record::list::<M>(&ttx, Actor::System, &request).await
        })
        .expect("list");
        total += page.items.len();
        match page.next {
            Some(next) => request = PageRequest::after(next, 500),
            None => return total,
        }
    }
}

/// How many audit events the tenant holds.
async fn audit_events(db: &dyn KvBackend, t: TenantId) -> usize {
    let (mut request, mut total) = (PageRequest::first(1_000), 0);
    loop {
        let page = attempt!(db, t, |ttx| {
            audit_event::list(&ttx, Principal::system(), &request).await
        })
        .expect("audit list");
        total += page.items.len();
        match page.next {
            Some(next) => request = PageRequest::after(next, 1_000),
            None => return total,
        }
    }
}

/// Record `id` of `M` as stored.
async fn stored<M: Model>(db: &dyn KvBackend, t: TenantId, id: M::Id) -> Option<M> {
    attempt!(db, t, |ttx| record::get::<M>(&ttx, Actor::System, id).await).expect("read back")
}
