//! The chain an import carried over: how a receipt taken before a restore still verifies
//! after it.
//!
//! An import re-stamps every event of the backup (new keys, in the same order) and seals the
//! copy afresh from the new tenant's genesis (`coditect_ops::import`), so the new
//! chain's hashes are not the source chain's, and a receipt of the source (tenant, count,
//! hash) cannot be matched against them. What the import keeps instead is the one thing the
//! re-stamping loses: the source position of each event it carried over, in windows of
//! [`CHECKPOINT_EVERY`] under the seal state,
//!
//! ```text
//! (t, "meta", "audit", "carried")        CarriedChain: events carried, the backup's SHA-256
//! (t, "meta", "audit", "carried", n)     CarriedWindow: source positions of events n*1000..
//! ```
//!
//! and the n-th event of the new tenant is the n-th event of the source (order is kept; the
//! only change to the bytes is the tenant's own id in events about the tenant record, which
//! an import under a new id rewrites and this module turns back). So the source chain
//! can be recomputed from the events as they are stored *now*:
//! `seal_n = link(seal_(n-1), SHA-256(original bytes of event n), source key of event n)`
//! from the source's genesis, and must reach the receipt's hash after its count of events.
//!
//! Nothing here is trusted: the positions only say where to look, and a forged position, a
//! rewritten event (even with the new chain resealed over it), a removed or inserted one all
//! make the recomputed hash miss the receipt's. The lineage record
//! `(t, "meta", "lineage", source)` says which tenant the carried chain is of; the carried
//! chain records the backup's SHA-256, which must be the lineage's.
//!
//! One hop: a tenant keeps the carried chain of the import that made it. A receipt taken
//! before an earlier restore (of the tenant the backup was taken of) is not followed.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::position::AuditPosition;
use super::seal::{genesis, link, CHECKPOINT_EVERY};
use super::verify::{verify, Receipt, Restored, Tamper, TamperKind, Verdict, VerifyOptions};
use super::{digest, AuditEvent};
use crate::error::Result;
use crate::keys::{self, TenantId};
use crate::kv::{KvBackend, RangeOptions};
use crate::model::tenant::Tenant;
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};
use crate::walk::RangeWalk;

/// How an imported tenant links to the one it was exported from:
/// `(tenant, "meta", "lineage", source uuid)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The tenant the backup was taken of.
    pub source: Uuid,
    /// When the backup was taken.
    pub exported_at_ms: i64,
    /// SHA-256 of the backup (its trailer's).
    pub backup_sha256: [u8; 32],
    /// The source chain's sealed event count and head hash in the backup (checked at import
    /// to be what the backup's events hash to), if the backup carried a head.
    pub source_chain: Option<(u64, [u8; 32])>,
    /// When it was imported.
    pub imported_at_ms: i64,
}

impl Versioned for Lineage {
    const WHAT: &'static str = "tenant lineage";
    const SCHEMA_VERSION: u8 = 1;
}

/// What an import carried over from its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedChain {
    /// Events of the backup, re-stamped in order: the first this many events of the tenant.
    pub events: u64,
    /// SHA-256 of the backup (its trailer's), as in the lineage record.
    pub backup_sha256: [u8; 32],
}

impl Versioned for CarriedChain {
    const WHAT: &'static str = "audit carried chain";
    const SCHEMA_VERSION: u8 = 1;
}

/// The source positions of carried events `n * CHECKPOINT_EVERY ..`, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedWindow {
    /// Where each event was in the source's trail.
    pub positions: Vec<AuditPosition>,
}

impl Versioned for CarriedWindow {
    const WHAT: &'static str = "audit carried window";
    const SCHEMA_VERSION: u8 = 1;
}

/// The key of the carried chain under the tenant `prefix` (empty: relative to the tenant).
pub fn chain_key(prefix: &[u8]) -> Vec<u8> {
    keys::audit_meta_key(prefix, "carried", None)
}

/// The key of carried window `index` under `prefix` (empty: relative to the tenant).
pub fn window_key(prefix: &[u8], index: u64) -> Vec<u8> {
    // Window indexes are event counts over 1,000: far below i64::MAX.
    keys::audit_meta_key(prefix, "carried", Some(index as i64))
}

/// The bytes event `bytes` of `tenant` had in `source`: an import under a new id rewrites
/// the tenant's own id in events about the tenant record (and nothing else), so it is turned
/// back here. Bytes that do not decode are returned as they are (and will not hash to any
/// receipt).
pub(crate) fn original_bytes(bytes: &[u8], source: TenantId, tenant: TenantId) -> Vec<u8> {
    if source == tenant {
        return bytes.to_vec();
    }
    match value::decode::<AuditEvent>(bytes) {
        Ok(mut event) if event.model == Tenant::WHAT && event.record_id == tenant.uuid() => {
            event.record_id = source.uuid();
            value::encode(&event).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    }
}

/// Follows `receipt` (of the tenant `tenant` was imported from) across that import; `None`
/// when it does not apply: `tenant` has no lineage record of the receipt's tenant, or (a
/// receipt of `tenant`'s own id) the receipt covers more events than were carried over, so
/// it was taken after the restore.
pub(crate) async fn verify_across_restore(
    db: &dyn KvBackend,
    tenant: TenantId,
    receipt: &Receipt,
    chunk_events: usize,
) -> Result<Option<Verdict>> {
    let source = TenantId::new(receipt.tenant)?;
    let (lineage, chain) = match load_carried(db, tenant, receipt).await? {
        ControlFlow::Continue(carried) => carried,
        ControlFlow::Break(verdict) => return Ok(verdict),
    };
    if receipt.count > chain.events {
        return Ok(if source == tenant {
            None
        } else {
            mismatch(receipt.count, Vec::new())
        });
    }
    if let Some(missed) = recompute_source_chain(db, tenant, source, receipt, chunk_events).await? {
        return Ok(Some(missed));
    }
    let restored = Restored {
        source: lineage.source,
        exported_at_ms: lineage.exported_at_ms,
        imported_at_ms: lineage.imported_at_ms,
        backup_sha256: lineage.backup_sha256,
        carried: chain.events,
    };
    // The receipt's part of the history is as it was; the tenant's own chain must verify too.
    verify_own_chain(db, tenant, chunk_events, restored)
        .await
        .map(Some)
}

/// The verdict of a receipt not reached: [`TamperKind::ReceiptMismatch`] at `position`
/// (`key`: the event there, or empty).
fn mismatch(position: u64, key: Vec<u8>) -> Option<Verdict> {
    Some(Verdict::Tampered(Tamper {
        kind: TamperKind::ReceiptMismatch,
        position,
        key,
    }))
}

/// Reads, in one transaction, the lineage record of the receipt's tenant and the carried
/// chain it vouches for; breaks with [`verify_across_restore`]'s answer when there is no
/// lineage (`None`) or the two cannot be followed (a mismatch).
async fn load_carried(
    db: &dyn KvBackend,
    tenant: TenantId,
    receipt: &Receipt,
) -> Result<ControlFlow<Option<Verdict>, (Lineage, CarriedChain)>> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open_any_status(tx.as_ref(), tenant).await?;
    let lineage_key = keys::lineage_key(ttx.prefix(), receipt.tenant);
    let Some(bytes) = ttx.get(&lineage_key, true).await? else {
        return Ok(ControlFlow::Break(None));
    };
    // Lineage or carried state that is gone or does not decode was edited: the chain the
    // receipt vouches for cannot be followed, which is the receipt not being reached.
    let Ok(lineage) = value::decode::<Lineage>(&bytes) else {
        return Ok(ControlFlow::Break(mismatch(0, Vec::new())));
    };
    let chain = match ttx.get(&chain_key(ttx.prefix()), true).await? {
        Some(bytes) => value::decode::<CarriedChain>(&bytes).ok(),
        None => None,
    };
    let Some(chain) = chain.filter(|c| c.backup_sha256 == lineage.backup_sha256) else {
        return Ok(ControlFlow::Break(mismatch(0, Vec::new())));
    };
    Ok(ControlFlow::Continue((lineage, chain)))
}

/// Recomputes the source chain over the first `receipt.count` events of `tenant`, a
/// transaction a chunk, from the source's genesis with each event's original bytes and
/// carried source position; the mismatch when it does not reach the receipt's hash, `None`
/// when it does.
async fn recompute_source_chain(
    db: &dyn KvBackend,
    tenant: TenantId,
    source: TenantId,
    receipt: &Receipt,
    chunk_events: usize,
) -> Result<Option<Verdict>> {
    let events = keys::audit_prefix(&tenant.prefix());
    let end = keys::prefix_range_end(&events)?;
    let source_events = keys::audit_prefix(&source.prefix());
    let (mut hash, mut n, mut lo, mut last_key) = (genesis(source), 0u64, events, Vec::new());
    let mut window: Option<(u64, CarriedWindow)> = None;
    'walk: while n < receipt.count {
        let tx = db.begin().await?;
        let ttx = TenantTx::open_any_status(tx.as_ref(), tenant).await?;
        let want = (receipt.count - n).min(chunk_events.max(1) as u64) as usize;
        let mut walk = RangeWalk::new(&lo, &end, RangeOptions::limit(want).snapshot());
        let page = walk.next_page(&ttx).await?.unwrap_or_default();
        for kv in &page {
            let Some(old) = carried_position(&ttx, &mut window, n).await? else {
                return Ok(mismatch(n, kv.key.clone()));
            };
            let original = original_bytes(&kv.value, source, tenant);
            hash = link(&hash, &digest(&original), &old.key_under(&source_events));
            n += 1;
            last_key.clone_from(&kv.key);
            if n == receipt.count {
                break 'walk;
            }
        }
        match walk.resume_key() {
            Some(next) => lo = next.to_vec(),
            None => break,
        }
    }
    if n < receipt.count || hash != receipt.head {
        return Ok(mismatch(receipt.count, last_key));
    }
    Ok(None)
}

/// The source position carried for event `n`, reading its window into `window` when `n` is
/// past the one held; `None` when the window is gone, does not decode or lacks the event.
async fn carried_position(
    ttx: &TenantTx<'_>,
    window: &mut Option<(u64, CarriedWindow)>,
    n: u64,
) -> Result<Option<AuditPosition>> {
    let index = n / CHECKPOINT_EVERY;
    if window.as_ref().map(|(i, _)| *i) != Some(index) {
        let stored = ttx.get(&window_key(ttx.prefix(), index), true).await?;
        match stored.and_then(|bytes| value::decode::<CarriedWindow>(&bytes).ok()) {
            Some(loaded) => *window = Some((index, loaded)),
            None => return Ok(None),
        }
    }
    let slot = (n % CHECKPOINT_EVERY) as usize;
    Ok(window
        .as_ref()
        .and_then(|(_, w)| w.positions.get(slot).copied()))
}

/// Verifies `tenant`'s own chain, its clean verdict naming the restore it was carried by.
async fn verify_own_chain(
    db: &dyn KvBackend,
    tenant: TenantId,
    chunk_events: usize,
    restored: Restored,
) -> Result<Verdict> {
    let options = VerifyOptions {
        from: 0,
        chunk_events,
    };
    Ok(match verify(db, tenant, &options).await? {
        Verdict::Clean(verified) => Verdict::Clean(super::Verified {
            restored: Some(restored),
            ..verified
        }),
        tampered => tampered,
    })
}
