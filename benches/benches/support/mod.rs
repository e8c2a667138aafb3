//! Set-up shared by the benches: a runtime, the in-memory store, tenants to provision, and
//! whole transactions in a tenant as a caller pays them.
//!
//! Each bench includes this module with `mod support;`; as `benches/support/mod.rs` it is not
//! a bench target of its own. Not every bench uses every helper.
#![allow(dead_code)]

use std::sync::Arc;

use coditect_core::ids::EntityId;
use coditect_core::model::{Entity, EntityKind, Plan};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record;
use coditect_core::{KvBackend, Principal, TenantId, TenantTx};
use coditect_engine::EngineOptions;

/// A single-threaded runtime: the benches time one caller, not a scheduler.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// A fresh in-memory store, behind `Arc<dyn KvBackend>` as the CLI holds it.
pub fn mem_store() -> Arc<dyn KvBackend> {
    Arc::new(coditect_mem::new_backend(EngineOptions::default()))
}

/// Tenant `n` of a bench: `Tenant n` at `tn.bench.test`, on the Enterprise plan.
pub fn numbered_tenant(n: u64) -> NewTenant {
    NewTenant {
        id: TenantId::generate(),
        name: format!("Tenant {n}"),
        domain: format!("t{n}.bench.test"),
        plan: Plan::Enterprise,
        root_code: "ROOT".into(),
        admin_email: "admin@bench.test".into(),
        admin_name: "Admin".into(),
    }
}

/// Provisions `new` in one committed transaction.
pub async fn provision_one(db: &dyn KvBackend, new: NewTenant) -> Provisioned {
    let tx = db.begin().await.expect("begin");
    let made = provision(tx.as_ref(), new).await.expect("provision");
    tx.commit().await.expect("commit");
    made
}

/// Runs `body` in a transaction of `tenant` (begin, open the tenant) and commits it.
pub async fn write_in<T>(
    db: &dyn KvBackend,
    tenant: TenantId,
    body: impl AsyncFnOnce(&TenantTx<'_>) -> T,
) -> T {
    in_tenant(db, tenant, true, body).await
}

/// Runs `body` in a transaction of `tenant` that is dropped, not committed: a read.
pub async fn read_in<T>(
    db: &dyn KvBackend,
    tenant: TenantId,
    body: impl AsyncFnOnce(&TenantTx<'_>) -> T,
) -> T {
    in_tenant(db, tenant, false, body).await
}

/// `body` in a whole transaction of `tenant`, committed if `commit`, else dropped.
async fn in_tenant<T>(
    db: &dyn KvBackend,
    tenant: TenantId,
    commit: bool,
    body: impl AsyncFnOnce(&TenantTx<'_>) -> T,
) -> T {
    let tx = db.begin().await.expect("begin");
    let ttx = TenantTx::open(tx.as_ref(), tenant).await.expect("open");
    let out = body(&ttx).await;
    drop(ttx);
    if commit {
        tx.commit().await.expect("commit");
    }
    out
}

/// A Division, a Department below it and a Team below that, under `root`, inserted by `by`;
/// returns the Team: a record there is three levels below the root, so an access check on it
/// walks the tree up.
pub async fn team_three_levels_down(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal> + Copy,
    root: EntityId,
) -> EntityId {
    let mut parent = root;
    for (code, kind) in [
        ("DIV", EntityKind::Division),
        ("DEPT", EntityKind::Department),
        ("TEAM", EntityKind::Team),
    ] {
        let entity = Entity::new(code, code, kind, Some(parent));
        parent = record::insert(ttx, by, entity).await.expect("entity").id;
    }
    parent
}
