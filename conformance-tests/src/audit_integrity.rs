//! Audit integrity end to end (issue 13, item 6), one case per finding:
//!
//! - the audit indexes and the seal state are written only by the audit module: `TenantTx`'s
//!   public writes refuse them as they refuse events, and change nothing;
//! - with raw access below `TenantTx` (a plain transaction, as someone with database access
//!   has), a cleared index or a cleared seal head is reported by `verify`, not "intact";
//! - a backup whose audit events were edited and re-checksummed with the public writer is
//!   refused on import, and the store is unchanged;
//! - a receipt taken before a restore verifies after it (under a new id, and under the same
//!   id after an erase) and reports the restore; a rewrite of the restored history, even
//!   resealed, is caught by that receipt.

use std::io::Cursor;

use coditect_core::audit::{
    self, Actor, AuditEvent, Receipt, SealOptions, Tamper, TamperKind, Verdict, Verified,
    VerifyOptions,
};
use coditect_core::keys::TenantId;
use coditect_core::model::{Plan, Project, Task};
use coditect_core::provision::Provisioned;
use coditect_core::record;
use coditect_core::{prefix_end, run_in_tenant, value, Error, KvBackend, RetryOptions, TenantTx};
use coditect_ops::backup::{BackupReader, BackupWriter};
use coditect_ops::{self as ops, ChunkOptions, EraseOptions, ExportOptions, ImportTarget};
use foundationdb_tuple::{pack, Element};

use crate::support::assert_matches;
use crate::support::{provisioned, scan};
use crate::Harness;

/// The reverse references are the record layer's too: clearing them through `TenantTx`
/// (all of them, one target's, one entry) is refused, so a project's delete is still refused
/// while its tasks refer to it.
pub async fn clearing_the_reverse_references_is_refused(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "refs.integrity.test", 3).await;
    let t = p.tenant.id;
    let before = tenant_rows(db, t).await;
    let refs = pack(&(t.uuid(), "ref"));
    let entry = before
        .iter()
        .map(|(k, _)| k.clone())
        .find(|k| k.starts_with(&refs))
        .expect("a reverse reference");
    let (begin, end) = range_of(&refs);
    refused_through_tenant_tx(db, t, "every reference", move |ttx| {
        ttx.clear_range(&begin, &end)
    })
    .await;
    let (begin, end) = range_of(&pack(&(t.uuid(), "ref", "project")));
    refused_through_tenant_tx(db, t, "a project's", move |ttx| {
        ttx.clear_range(&begin, &end)
    })
    .await;
    let key = entry.clone();
    refused_through_tenant_tx(db, t, "one entry", move |ttx| ttx.clear(&key)).await;
    let (begin, end) = t.range();
    refused_through_tenant_tx(db, t, "the whole tenant", move |ttx| {
        ttx.clear_range(&begin, &end)
    })
    .await;
    assert!(
        tenant_rows(db, t).await == before,
        "a refused write changed nothing"
    );
    let admin = Actor::Member(p.admin_member.id);
    let project = run_in_tenant(db, &RetryOptions::default(), t, |ttx| async move {
        let page = record::list::<Project>(&ttx, admin, &record::PageRequest::first(5)).await?;
        Ok(page.items[0].id)
    })
    .await
    .expect("the project")
    .0;
    let refused = run_in_tenant(db, &RetryOptions::default(), t, |ttx| async move {
        record::delete::<Project>(&ttx, admin, project).await
    })
    .await;
    assert_matches!(refused, Err(Error::StillReferenced { .. }));
}

// ---------------------------------------------------------------------------------------
// helpers

/// A tenant with a project and `n` tasks created by its admin member, sealed.
async fn sealed_tenant(db: &dyn KvBackend, domain: &str, n: usize) -> Provisioned {
    let p = provisioned(db, domain, Plan::Enterprise).await;
    let (admin, root) = (p.admin_member.id, p.root.id);
    let actor = Actor::Member(admin);
    run_in_tenant(
        db,
        &RetryOptions::default(),
        p.tenant.id,
        |ttx| async move {
            let project = Project::new("P", "Project", root, admin);
            let project = record::insert(&ttx, actor, project).await?;
            for i in 0..n {
                record::insert(
                    &ttx,
                    actor,
                    Task::new(project.id, format!("task {i}"), admin),
                )
                .await?;
            }
            Ok(())
        },
    )
    .await
    .expect("tasks");
    seal(db, p.tenant.id).await;
    p
}

async fn seal(db: &dyn KvBackend, tenant: TenantId) {
    audit::seal(db, tenant, &SealOptions::default())
        .await
        .expect("seal");
}

async fn verify(db: &dyn KvBackend, tenant: TenantId) -> Verdict {
    audit::verify(db, tenant, &VerifyOptions::default())
        .await
        .expect("verify")
}

fn clean(what: &str, verdict: Verdict) -> Verified {
    match verdict {
        Verdict::Clean(verified) => verified,
        Verdict::Tampered(tamper) => panic!("{what}: expected a clean chain, found {tamper:?}"),
    }
}

fn tampered(what: &str, verdict: Verdict) -> Tamper {
    match verdict {
        Verdict::Tampered(tamper) => tamper,
        Verdict::Clean(verified) => panic!("{what}: expected a finding, got clean {verified:?}"),
    }
}

/// The range of every key starting with `prefix`.
fn range_of(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (prefix.to_vec(), prefix_end(prefix).expect("end"))
}

fn by_actor(tenant: TenantId) -> Vec<u8> {
    pack(&(tenant.uuid(), "idx", "audit_by_actor"))
}

fn seal_state(tenant: TenantId) -> Vec<u8> {
    pack(&(tenant.uuid(), "meta", "audit"))
}

fn seal_head(tenant: TenantId) -> Vec<u8> {
    pack(&(tenant.uuid(), "meta", "audit", "head"))
}

/// Every row of the tenant, as anyone with database access sees them.
async fn tenant_rows(db: &dyn KvBackend, tenant: TenantId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (begin, end) = tenant.range();
    scan(db, &begin, &end).await
}

/// Clears `[begin, end)` and sets `writes` in one plain transaction, below `TenantTx`.
async fn raw(db: &dyn KvBackend, clears: &[(Vec<u8>, Vec<u8>)], writes: &[(Vec<u8>, Vec<u8>)]) {
    let tx = db.begin().await.expect("begin");
    for (begin, end) in clears {
        tx.clear_range(begin, end).expect("clear");
    }
    for (key, value) in writes {
        tx.set(key, value).expect("set");
    }
    tx.commit().await.expect("commit");
}

/// Runs `write` on a `TenantTx` of `tenant` in the retry loop, and expects it refused as a
/// write to the audit trail (nothing commits).
async fn refused_through_tenant_tx<F>(db: &dyn KvBackend, tenant: TenantId, what: &str, write: F)
where
    F: Fn(&TenantTx<'_>) -> coditect_core::Result<()> + Clone + Send + Sync,
{
    let result = run_in_tenant(db, &RetryOptions::default(), tenant, |ttx| {
        let write = write.clone();
        async move { write(&ttx) }
    })
    .await;
    match result {
        Err(Error::InvalidInput { field: "key", .. }) => {}
        other => panic!("{what}: expected a refusal of the key, got {other:?}"),
    }
}

async fn export(db: &dyn KvBackend, tenant: TenantId) -> Vec<u8> {
    let mut out = Vec::new();
    ops::export(db, tenant, &mut out, &ExportOptions::default())
        .await
        .expect("export");
    out
}

/// The backup `bytes` with `edit` applied to every pair (keys relative to the tenant), then
/// written again with the public writer: every frame check and the SHA-256 are rebuilt.
fn rewritten(bytes: &[u8], mut edit: impl FnMut(&[u8], &mut Vec<u8>) -> bool) -> Vec<u8> {
    let mut reader = BackupReader::open(bytes).expect("open");
    let header = reader.header().clone();
    let mut writer = BackupWriter::new(Vec::new(), &header).expect("writer");
    while let Some(frame) = reader.next_data().expect("frame") {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = frame
            .pairs
            .into_iter()
            .filter_map(|(key, mut value)| edit(&key, &mut value).then_some((key, value)))
            .collect();
        writer.data(frame.read_version, &pairs).expect("data");
    }
    let (out, _, _) = writer.finish().expect("finish");
    ops::verify_backup(&out).expect("the rewritten file is well formed");
    out
}

// ---------------------------------------------------------------------------------------
// cases

/// A member's transaction cannot clear the by-actor (or by-target) index, an entry of it, or a
/// range covering it (the whole "idx" collection): each is refused with an error about the
/// key, nothing changes, and the trail still verifies with every event found by actor.
pub async fn clearing_the_by_actor_index_is_refused(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "index.integrity.test", 5).await;
    let t = p.tenant.id;
    let before = tenant_rows(db, t).await;
    let actor_index = by_actor(t);
    let entry = before
        .iter()
        .map(|(k, _)| k.clone())
        .find(|k| k.starts_with(&actor_index))
        .expect("an entry by actor");
    let target_index = pack(&(t.uuid(), "idx", "audit_by_target"));
    let whole_idx = pack(&(t.uuid(), "idx"));
    for (what, prefix) in [
        ("by actor", actor_index.clone()),
        ("by target", target_index),
        ("every index", whole_idx),
    ] {
        let (begin, end) = range_of(&prefix);
        refused_through_tenant_tx(db, t, what, move |ttx| ttx.clear_range(&begin, &end)).await;
    }
    let key = entry.clone();
    refused_through_tenant_tx(db, t, "one entry", move |ttx| ttx.clear(&key)).await;
    let key = entry.clone();
    refused_through_tenant_tx(db, t, "overwrite an entry", move |ttx| {
        ttx.set(&key, b"forged")
    })
    .await;
    assert!(
        tenant_rows(db, t).await == before,
        "a refused write changed nothing"
    );
    let verified = clean("after the refusals", verify(db, t).await);
    assert_eq!(verified.count as usize, {
        let events = pack(&(t.uuid(), "audit"));
        before
            .iter()
            .filter(|(k, _)| k.starts_with(&events))
            .count()
    });
}

/// A member's transaction cannot clear or overwrite the seal state (head, windows, the whole
/// `("meta", "audit")` range, or a range of `"meta"` covering it), nor write a lineage
/// record: refused, nothing changes, the chain still verifies.
pub async fn clearing_the_seal_state_is_refused(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "seal.integrity.test", 5).await;
    let t = p.tenant.id;
    let before = tenant_rows(db, t).await;
    let head = seal_head(t);
    let window = pack(&(t.uuid(), "meta", "audit", "window", 0i64));
    let lineage = pack(&(t.uuid(), "meta", "lineage", t.uuid()));
    for (what, prefix) in [
        ("the seal state", seal_state(t)),
        ("all of meta", pack(&(t.uuid(), "meta"))),
    ] {
        let (begin, end) = range_of(&prefix);
        refused_through_tenant_tx(db, t, what, move |ttx| ttx.clear_range(&begin, &end)).await;
    }
    for (what, key) in [("the head", head), ("a window", window)] {
        let k = key.clone();
        refused_through_tenant_tx(db, t, what, move |ttx| ttx.clear(&k)).await;
        refused_through_tenant_tx(db, t, what, move |ttx| ttx.set(&key, b"forged")).await;
    }
    refused_through_tenant_tx(db, t, "a lineage record", move |ttx| {
        ttx.set(&lineage, b"forged")
    })
    .await;
    assert!(
        tenant_rows(db, t).await == before,
        "a refused write changed nothing"
    );
    let verified = clean("after the refusals", verify(db, t).await);
    assert!(verified.count > 5, "{verified:?}");
}

/// Below `TenantTx`: clearing a member's entries from the by-actor index (hiding their events
/// from `by_actor` queries) is reported as an index mismatch naming one of their events; so
/// is clearing the by-target index; and an entry forged into the index (pointing at an event
/// of another actor), added or moved there from the event's own entry, is named by its key.
pub async fn a_cleared_index_is_reported_by_verify(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "cleared-index.integrity.test", 5).await;
    let t = p.tenant.id;
    let admin = pack(&(t.uuid(), "idx", "audit_by_actor", p.admin_member.id.uuid()));
    raw(db, &[range_of(&admin)], &[]).await;
    let found = tampered("by-actor entries cleared", verify(db, t).await);
    assert_eq!(found.kind, TamperKind::IndexMismatch, "{found:?}");
    let events = pack(&(t.uuid(), "audit"));
    assert!(found.key.starts_with(&events), "names the event: {found:?}");
    let event: AuditEvent = value::decode(
        &tenant_rows(db, t)
            .await
            .into_iter()
            .find(|(k, _)| *k == found.key)
            .expect("the event named")
            .1,
    )
    .expect("event");
    assert_eq!(event.actor, Actor::Member(p.admin_member.id));

    let p = sealed_tenant(db, "cleared-target.integrity.test", 3).await;
    let t = p.tenant.id;
    let target = pack(&(t.uuid(), "idx", "audit_by_target"));
    raw(db, &[range_of(&target)], &[]).await;
    let found = tampered("by-target index cleared", verify(db, t).await);
    assert_eq!(found.kind, TamperKind::IndexMismatch, "{found:?}");

    // An extra entry: the admin's first event also listed under the system actor.
    let p = sealed_tenant(db, "forged-entry.integrity.test", 3).await;
    let t = p.tenant.id;
    let clean_before = clean("before the forgery", verify(db, t).await);
    let admin = pack(&(t.uuid(), "idx", "audit_by_actor", p.admin_member.id.uuid()));
    let rows = tenant_rows(db, t).await;
    let entry = rows
        .iter()
        .find(|(k, _)| k.starts_with(&admin))
        .map(|(k, _)| k.clone())
        .expect("an entry of the admin");
    let stamp = &entry[entry.len() - 13..];
    let mut forged = pack(&(t.uuid(), "idx", "audit_by_actor", Element::Nil));
    forged.extend_from_slice(stamp);
    assert!(!rows.iter().any(|(k, _)| *k == forged), "a new key");
    raw(db, &[], &[(forged.clone(), Vec::new())]).await;
    let found = tampered("a forged entry", verify(db, t).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (
            TamperKind::IndexMismatch,
            clean_before.count + clean_before.unsealed,
            &forged
        )
    );
    // The same entry moved rather than added (the admin's event listed under the system
    // instead): as many entries as events, yet not the events' entries.
    raw(
        db,
        &[(entry.clone(), value_after(&entry))],
        &[(forged.clone(), Vec::new())],
    )
    .await;
    let found = tampered("a moved entry", verify(db, t).await);
    assert_eq!(
        (found.kind, &found.key),
        (TamperKind::IndexMismatch, &forged)
    );
}

/// Below `TenantTx`: clearing the seal head, or the whole seal state, beside events is
/// reported (`SealMissing`), not "intact, 0 events checked"; a tenant's head exists from
/// provisioning on, so a tenant never sealed still verifies clean.
pub async fn a_cleared_seal_head_is_reported_by_verify(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let fresh = provisioned(db, "fresh.integrity.test", Plan::Enterprise).await;
    let never_sealed = clean("never sealed", verify(db, fresh.tenant.id).await);
    assert_eq!(never_sealed.count, 0);
    assert!(never_sealed.unsealed > 0, "provisioning's events, unsealed");

    let p = sealed_tenant(db, "cleared-head.integrity.test", 5).await;
    let t = p.tenant.id;
    let head = seal_head(t);
    raw(db, &[(head.clone(), value_after(&head))], &[]).await;
    let found = tampered("head cleared", verify(db, t).await);
    assert_eq!((found.kind, found.position), (TamperKind::SealMissing, 0));

    let p = sealed_tenant(db, "cleared-state.integrity.test", 5).await;
    let t = p.tenant.id;
    raw(db, &[range_of(&seal_state(t))], &[]).await;
    let found = tampered("seal state cleared", verify(db, t).await);
    assert_eq!((found.kind, found.position), (TamperKind::SealMissing, 0));
}

/// The end of the one-key range `[key, key + 0x00)`.
fn value_after(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    end.push(0);
    end
}

/// A backup whose audit events were edited (an admin's event made the system's, one event
/// removed, the seal head dropped) and re-checksummed with the public writer is refused on
/// import with an error saying its history does not hash to its head, and the store is
/// unchanged; the untouched backup imports.
pub async fn an_edited_backup_is_refused_on_import(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "edited.integrity.test", 5).await;
    let source = p.tenant.id;
    let bytes = export(db, source).await;
    let events = pack(&"audit");
    let admin = Actor::Member(p.admin_member.id);
    let mut edited_one = false;
    let hide_the_admin = rewritten(&bytes, |key, value| {
        if key.starts_with(&events) && !edited_one {
            let mut event: AuditEvent = value::decode(value).expect("event");
            if event.actor == admin {
                event.actor = Actor::System;
                *value = value::encode(&event).expect("encode");
                edited_one = true;
            }
        }
        true
    });
    assert!(edited_one, "an event of the admin was in the backup");
    let mut seen = 0;
    let drop_one = rewritten(&bytes, |key, _| {
        if key.starts_with(&events) {
            seen += 1;
            return seen != 3;
        }
        true
    });
    let head = pack(&("meta", "audit", "head"));
    let no_head = rewritten(&bytes, |key, _| key != head.as_slice());
    let before = tenant_rows(db, source).await;
    let store_before = scan(db, &[], &[0xFF]).await;
    for (what, file, says) in [
        ("an event edited", &hide_the_admin, "does not hash"),
        ("an event removed", &drop_one, "does not hash"),
        ("the head dropped", &no_head, "no seal head"),
    ] {
        let target = TenantId::generate();
        let error = ops::import(
            db,
            Cursor::new(file),
            &ImportTarget::new_tenant(target, "copy.edited.integrity.test"),
            &ChunkOptions::default(),
        )
        .await
        .expect_err(what);
        assert!(
            matches!(error, Error::Decode { .. }) && error.to_string().contains(says),
            "{what}: {error}"
        );
        assert!(
            scan(db, &[], &[0xFF]).await == store_before,
            "{what}: the store is unchanged"
        );
    }
    assert!(tenant_rows(db, source).await == before);
    let target = TenantId::generate();
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(target, "copy.edited.integrity.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("the untouched backup imports");
    clean("the copy", verify(db, target).await);
}

/// A receipt of the source taken before its backup verifies against the copy imported under
/// a new id and against the tenant restored under its own id (after an erase), and says so:
/// the restore's source, backup and carried events. A receipt of the restored tenant taken
/// after the restore verifies through its own chain, naming no restore.
pub async fn an_old_receipt_verifies_after_a_restore_and_reports_it(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "receipt.integrity.test", 5).await;
    let source = p.tenant.id;
    let receipt = audit::receipt(db, source).await.expect("receipt");
    assert!(receipt.count > 5);
    let bytes = export(db, source).await;
    let summary = ops::verify_backup(&bytes).expect("backup");
    let check = |verdict: Verdict, what: &str| {
        let verified = clean(what, verdict);
        let restored = verified
            .restored
            .unwrap_or_else(|| panic!("{what}: no restore"));
        assert_eq!(restored.source, source.uuid(), "{what}");
        assert_eq!(restored.backup_sha256, summary.trailer.sha256, "{what}");
        assert!(restored.carried >= receipt.count, "{what}: {restored:?}");
        assert!(
            verified.count > receipt.count,
            "{what}: its own chain verified"
        );
    };

    let copy = TenantId::generate();
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "copy.receipt.integrity.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("import under a new id");
    let verdict = audit::verify_receipt(db, copy, &receipt, 7)
        .await
        .expect("verify the old receipt against the copy");
    check(verdict, "the copy");

    ops::erase(db, source, "operator", &EraseOptions::default())
        .await
        .expect("erase");
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::restore(),
        &ChunkOptions::default(),
    )
    .await
    .expect("restore under the same id");
    let verdict = audit::verify_receipt(db, source, &receipt, 1_000)
        .await
        .expect("verify the old receipt after the restore");
    check(verdict, "the restore");

    let after = audit::receipt(db, source).await.expect("receipt after");
    let verified = clean(
        "a receipt taken after the restore",
        audit::verify_receipt(db, source, &after, 1_000)
            .await
            .expect("verify"),
    );
    assert_eq!(verified.restored, None);
    // A receipt of a tenant this one was never restored from is still refused outright.
    let stranger = Receipt {
        tenant: TenantId::generate().uuid(),
        ..receipt
    };
    assert!(audit::verify_receipt(db, copy, &stranger, 1_000)
        .await
        .is_err());
}

/// After a restore, someone with database access rewrites a carried event and reseals the
/// whole chain consistently (head and windows cleared, sealed anew): the restored tenant
/// verifies on its own, but the receipt taken before the restore, which verified until then,
/// is no longer reached. A forged source position in the carried chain is caught the same way.
pub async fn a_rewrite_of_restored_history_is_caught_by_the_old_receipt(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = sealed_tenant(db, "rewrite.integrity.test", 5).await;
    let source = p.tenant.id;
    let receipt = audit::receipt(db, source).await.expect("receipt");
    let bytes = export(db, source).await;
    let copy = TenantId::generate();
    ops::import(
        db,
        Cursor::new(&bytes),
        &ImportTarget::new_tenant(copy, "copy.rewrite.integrity.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("import");
    let verify_old = || async {
        audit::verify_receipt(db, copy, &receipt, 1_000)
            .await
            .expect("verify")
    };
    clean("before the rewrite", verify_old().await);

    // Rewrite a carried event (the admin's project creation made the system's), then reseal.
    let events = pack(&(copy.uuid(), "audit"));
    let rows = tenant_rows(db, copy).await;
    let (key, value) = rows
        .iter()
        .filter(|(k, _)| k.starts_with(&events))
        .nth(receipt.count as usize - 2)
        .cloned()
        .expect("a carried event");
    let mut event: AuditEvent = value::decode(&value).expect("event");
    event.actor = Actor::System;
    let forged = value::encode(&event).expect("encode");
    assert_ne!(forged, value);
    let head = pack(&(copy.uuid(), "meta", "audit", "head"));
    let windows = pack(&(copy.uuid(), "meta", "audit", "window"));
    raw(
        db,
        &[(head.clone(), value_after(&head)), range_of(&windows)],
        &[(key.clone(), forged)],
    )
    .await;
    seal(db, copy).await;
    // The indexes still name the old actor; put the entry where the rewrite says, as a
    // careful forger would, so that only the receipt can tell.
    let stamp = &key[key.len() - 13..];
    let mut old_entry = pack(&(
        copy.uuid(),
        "idx",
        "audit_by_actor",
        p.admin_member.id.uuid(),
    ));
    old_entry.extend_from_slice(stamp);
    let mut new_entry = pack(&(copy.uuid(), "idx", "audit_by_actor", Element::Nil));
    new_entry.extend_from_slice(stamp);
    raw(
        db,
        &[(old_entry.clone(), value_after(&old_entry))],
        &[(new_entry, Vec::new())],
    )
    .await;
    clean("the rewritten chain on its own", verify(db, copy).await);
    let found = tampered("the old receipt after the rewrite", verify_old().await);
    assert_eq!(
        (found.kind, found.position),
        (TamperKind::ReceiptMismatch, receipt.count)
    );

    // A second copy: one source position of the carried chain forged.
    a_forged_carried_position_is_caught(db, &bytes, &receipt).await;
}

/// A copy imported from `bytes` with one source position of its carried chain forged fails
/// the `receipt` taken of the source.
async fn a_forged_carried_position_is_caught(db: &dyn KvBackend, bytes: &[u8], receipt: &Receipt) {
    let copy2 = TenantId::generate();
    ops::import(
        db,
        Cursor::new(bytes),
        &ImportTarget::new_tenant(copy2, "copy2.rewrite.integrity.test"),
        &ChunkOptions::default(),
    )
    .await
    .expect("import");
    let window = pack(&(copy2.uuid(), "meta", "audit", "carried", 0i64));
    let stored = tenant_rows(db, copy2)
        .await
        .into_iter()
        .find(|(k, _)| *k == window)
        .expect("carried window 0")
        .1;
    let mut forged = stored.clone();
    // The last byte of the first position's stamp (after the version byte and the length).
    forged[1 + 1 + 11] ^= 1;
    raw(db, &[], &[(window, forged)]).await;
    let found = tampered(
        "a forged carried position",
        audit::verify_receipt(db, copy2, receipt, 1_000)
            .await
            .expect("verify"),
    );
    assert_eq!(found.kind, TamperKind::ReceiptMismatch);
}
