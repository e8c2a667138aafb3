//! Sealing: a per-tenant SHA-256 hash chain over the audit events, in key (commit) order.
//!
//! ```text
//! seal_0 = SHA-256("coditect-audit-chain/1" || tenant uuid)
//! seal_n = SHA-256(seal_(n-1) || SHA-256(bytes of event n) || key of event n)
//! ```
//!
//! Hashing the event's digest rather than its bytes binds the same content (the digest is
//! collision resistant) and lets the chain's state keep one 32-byte digest per event, which is
//! what lets [`verify`](mod@super::verify) name *which* event changed rather than only that the
//! chain broke somewhere. The state lives under `(tenant, "meta", "audit", ...)`, apart from
//! the events:
//!
//! - the head: how many events are sealed, the last one's position, the chain hash after it;
//! - windows of [`CHECKPOINT_EVERY`] events: the checkpoint hash the window starts from (the
//!   chain after the window before it) and, per event, its position and digest (about 44 KB a
//!   window, under the 100 KB value limit).
//!
//! Writers never read any of it, so sealing never makes them conflict. The sealer reads the
//! head (not a snapshot: a second sealer, or a retry after an unknown commit result, conflicts
//! or re-reads it, so every event is chained exactly once), then the events after it as
//! snapshot reads (appends at later stamps must not abort the sealer). It seals only events
//! its read version sees, whose stamps are therefore final: a commit still in flight gets a
//! later version than any read version already handed out, so its events sort after
//! everything sealed and can never appear behind the head. Each chunk is one transaction,
//! bounded in events and bytes to stay well inside FoundationDB's 5 s and 10 MB.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::digest;
use super::position::AuditPosition;
use crate::error::{Error, Result};
use crate::keys::{self, TenantId};
use crate::kv::RetryOptions;
use crate::kv::{KeyValue, KvBackend, RangeOptions, Transaction};
use crate::run;
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};
use crate::walk::RangeWalk;

/// Events per window: the chain's checkpoints are this many events apart.
pub const CHECKPOINT_EVERY: u64 = 1_000;

/// The end of the sealed part of a tenant's trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealHead {
    /// Events sealed.
    pub count: u64,
    /// The chain hash after the last sealed event (the genesis hash when none is).
    pub hash: [u8; 32],
    /// The position of the last sealed event.
    pub last: Option<AuditPosition>,
}

impl Versioned for SealHead {
    const WHAT: &'static str = "audit seal head";
    const SCHEMA_VERSION: u8 = 1;
}

/// One sealed event as the chain's state remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SealedEvent {
    /// Where the event is.
    pub(crate) position: AuditPosition,
    /// SHA-256 of its stored bytes.
    pub(crate) digest: [u8; 32],
}

/// Events `k * CHECKPOINT_EVERY ..` of the chain: the checkpoint it starts from and what each
/// of its events was when sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SealWindow {
    /// The chain hash before the window's first event.
    pub(crate) start_hash: [u8; 32],
    /// The position of the event before the window's first, if any.
    pub(crate) after: Option<AuditPosition>,
    /// The window's events in key order.
    pub(crate) entries: Vec<SealedEvent>,
}

impl Versioned for SealWindow {
    const WHAT: &'static str = "audit seal window";
    const SCHEMA_VERSION: u8 = 1;
}

/// The chain hash before any event: bound to the tenant, so no other tenant's chain (or a
/// copy of it) verifies here.
pub fn genesis(tenant: TenantId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"coditect-audit-chain/1");
    hasher.update(tenant.uuid().as_bytes());
    hasher.finalize().into()
}

/// The next chain hash: `SHA-256(previous || event digest || event key)`.
pub fn link(previous: &[u8; 32], event_digest: &[u8; 32], key: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(event_digest);
    hasher.update(key);
    hasher.finalize().into()
}

/// How [`seal`] works through a trail.
#[derive(Clone, Debug)]
pub struct SealOptions {
    /// Most events sealed in one transaction (at most [`MAX_CHUNK_EVENTS`]; 0 counts as 1).
    pub chunk_events: usize,
    /// A chunk stops after the event that brings the bytes it read to this many.
    pub chunk_bytes: usize,
    /// The retry loop each chunk runs in.
    pub retry: RetryOptions,
}

impl Default for SealOptions {
    /// 10,000 events or 4 MB a chunk (tens of milliseconds, a few hundred KB of writes), the
    /// default retry loop.
    fn default() -> Self {
        SealOptions {
            chunk_events: 10_000,
            chunk_bytes: 4_000_000,
            retry: RetryOptions::default(),
        }
    }
}

/// The cap on [`SealOptions::chunk_events`]: a chunk writes one window of about 44 KB per
/// [`CHECKPOINT_EVERY`] events, so 100,000 events stay under 5 MB of writes, half of
/// FoundationDB's 10 MB.
pub const MAX_CHUNK_EVENTS: usize = 100_000;

/// What one [`seal`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealReport {
    /// Events it added to the chain.
    pub sealed: u64,
    /// The chain's head afterwards.
    pub head: SealHead,
    /// Transactions it committed.
    pub chunks: u32,
}

/// Seals every event of `tenant` not yet sealed (those committed before it started, and any
/// that land while it runs), one chunk per transaction, each in the retry loop. Idempotent: a
/// repeated or concurrent call extends the same chain, never seals an event twice. Works on a
/// suspended tenant too.
pub async fn seal(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &SealOptions,
) -> Result<SealReport> {
    let max_events = options.chunk_events.clamp(1, MAX_CHUNK_EVENTS);
    let max_bytes = options.chunk_bytes.max(1);
    let mut report = SealReport {
        sealed: 0,
        head: SealHead {
            count: 0,
            hash: genesis(tenant),
            last: None,
        },
        chunks: 0,
    };
    loop {
        let (chunk, _) = run(db, &options.retry, |tx| async move {
            seal_chunk(&*tx, tenant, max_events, max_bytes).await
        })
        .await?;
        report.sealed += chunk.sealed;
        report.head = chunk.head;
        report.chunks += 1;
        if chunk.done {
            return Ok(report);
        }
    }
}

/// What one chunk did.
struct Chunk {
    sealed: u64,
    head: SealHead,
    /// Whether it reached the end of the events its transaction sees.
    done: bool,
}

/// Seals up to `max_events` events after the head, in `tx`.
async fn seal_chunk(
    tx: &dyn Transaction,
    tenant: TenantId,
    max_events: usize,
    max_bytes: usize,
) -> Result<Chunk> {
    let read_version = tx.read_version().await?;
    let ttx = TenantTx::open_any_status(tx, tenant).await?;
    let mut head = load_head(&ttx, false).await?;
    let mut window = open_window(&ttx, &head).await?;
    let events = keys::audit_prefix(ttx.prefix());
    let end = keys::prefix_range_end(&events)?;
    let lo = match head.last {
        Some(last) => last.key_after_under(&events),
        None => events.clone(),
    };
    let (mut sealed, mut bytes) = (0usize, 0usize);
    let mut walk = RangeWalk::new(&lo, &end, RangeOptions::limit(max_events).snapshot());
    // Whether every event there is now is sealed (the walk reached the end of the trail).
    let done = 'scan: {
        while let Some(page) = walk.next_page(&ttx).await? {
            for kv in &page {
                let position = AuditPosition::of_key(&kv.key)?;
                // Never the case (a read sees only commits at or below its version, all final):
                // stated so that no event past the read version is ever sealed.
                if position.commit_version() > read_version {
                    break 'scan true;
                }
                extend(&ttx, &mut head, &mut window, position, kv)?;
                sealed += 1;
                bytes += kv.key.len() + kv.value.len();
                if sealed >= max_events || bytes >= max_bytes {
                    break 'scan false;
                }
            }
        }
        true
    };
    if sealed > 0 {
        if !window.entries.is_empty() {
            store_window(&ttx, head.count / CHECKPOINT_EVERY, &window)?;
        }
        ttx.set_protected(&head_key(&ttx), &value::encode(&head)?)?;
    }
    Ok(Chunk {
        sealed: sealed as u64,
        head,
        done,
    })
}

/// The window the next sealed event goes into: a fresh one at a checkpoint, else the
/// head's, which must hold exactly the events sealed since the last checkpoint.
async fn open_window(ttx: &TenantTx<'_>, head: &SealHead) -> Result<SealWindow> {
    match head.count % CHECKPOINT_EVERY {
        0 => Ok(SealWindow {
            start_hash: head.hash,
            after: head.last,
            entries: Vec::new(),
        }),
        filled => {
            let window = load_window(ttx, head.count / CHECKPOINT_EVERY, false)
                .await?
                .ok_or_else(|| corrupt("the head's window is missing"))?;
            if window.entries.len() as u64 != filled {
                return Err(corrupt("the head and its window disagree"));
            }
            Ok(window)
        }
    }
}

/// Links event `kv` at `position` into the chain: the head moves past it, the window
/// records it, and a full window is stored as a checkpoint and a fresh one begun.
fn extend(
    ttx: &TenantTx<'_>,
    head: &mut SealHead,
    window: &mut SealWindow,
    position: AuditPosition,
    kv: &KeyValue,
) -> Result<()> {
    let event_digest = digest(&kv.value);
    head.hash = link(&head.hash, &event_digest, &kv.key);
    head.count += 1;
    head.last = Some(position);
    window.entries.push(SealedEvent {
        position,
        digest: event_digest,
    });
    if head.count % CHECKPOINT_EVERY == 0 {
        store_window(ttx, head.count / CHECKPOINT_EVERY - 1, window)?;
        *window = SealWindow {
            start_hash: head.hash,
            after: head.last,
            entries: Vec::new(),
        };
    }
    Ok(())
}

fn head_key(ttx: &TenantTx<'_>) -> Vec<u8> {
    keys::audit_meta_key(ttx.prefix(), "head", None)
}

fn window_key(ttx: &TenantTx<'_>, index: u64) -> Result<Vec<u8>> {
    let index = i64::try_from(index).map_err(|_| corrupt("window index out of range"))?;
    Ok(keys::audit_meta_key(ttx.prefix(), "window", Some(index)))
}

/// The tenant's seal head: the stored one, or the genesis head when nothing is sealed.
pub async fn head(ttx: &TenantTx<'_>) -> Result<SealHead> {
    load_head(ttx, true).await
}

pub(crate) async fn load_head(ttx: &TenantTx<'_>, snapshot: bool) -> Result<SealHead> {
    Ok(stored_head(ttx, snapshot)
        .await?
        .unwrap_or_else(|| genesis_head(ttx.tenant_id())))
}

/// The stored head, or `None` when there is none: [`verify`](super::verify()) tells a chain
/// never started (no events either) from seal state that was deleted.
pub(crate) async fn stored_head(ttx: &TenantTx<'_>, snapshot: bool) -> Result<Option<SealHead>> {
    match ttx.get(&head_key(ttx), snapshot).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// The head of a chain that holds no event yet.
pub(crate) fn genesis_head(tenant: TenantId) -> SealHead {
    SealHead {
        count: 0,
        hash: genesis(tenant),
        last: None,
    }
}

/// Starts the tenant's chain: stores the genesis head unless a head is stored already.
/// Provisioning and import call it in the transaction that makes the tenant live, so from a
/// tenant's first event on its head exists, and a head missing beside events is seal state
/// someone deleted, never a chain not sealed yet.
pub async fn start_chain(ttx: &TenantTx<'_>) -> Result<()> {
    if ttx.get(&head_key(ttx), false).await?.is_none() {
        let head = genesis_head(ttx.tenant_id());
        ttx.set_protected(&head_key(ttx), &value::encode(&head)?)?;
    }
    Ok(())
}

pub(crate) async fn load_window(
    ttx: &TenantTx<'_>,
    index: u64,
    snapshot: bool,
) -> Result<Option<SealWindow>> {
    match ttx.get(&window_key(ttx, index)?, snapshot).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

fn store_window(ttx: &TenantTx<'_>, index: u64, window: &SealWindow) -> Result<()> {
    ttx.set_protected(&window_key(ttx, index)?, &value::encode(window)?)
}

fn corrupt(reason: &str) -> Error {
    Error::Decode {
        what: SealHead::WHAT,
        reason: reason.into(),
        source: None,
    }
}
