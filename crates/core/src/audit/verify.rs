//! Verification: recompute a tenant's chain ([`seal`](mod@super::seal)) from the events as they
//! are stored, and name the first one that is not as it was sealed.
//!
//! The walk merges two streams in key order: the events stored now, and the sealed events as
//! the chain's windows recorded them (position and digest). The first disagreement is the
//! answer: a stored event whose digest differs was modified (or reordered, when its bytes are
//! those of another sealed event), a sealed position with no event was removed, an event at a
//! position never sealed was inserted. Recomputing the chain hash across the walk and
//! comparing it with every checkpoint and the head catches an edit of the windows themselves.
//!
//! Someone with write access to the database could still rewrite events, windows and head
//! consistently; a [`Receipt`] (tenant, count, head hash) kept outside the system catches that:
//! [`verify_receipt`] recomputes the chain from the start and compares its hash after the
//! receipt's count of events.
//!
//! Events after the head are not sealed yet: they are counted, not judged. Each chunk of the
//! walk is its own read-only transaction of snapshot reads.
//!
//! The head exists from the tenant's first event on (provisioning and import start the chain),
//! so events stored without a head are [`TamperKind::SealMissing`]: the seal state was
//! deleted, not "nothing sealed yet". The walk also checks the two audit indexes that queries
//! read: over the walked positions, each index must hold exactly the entries the walked events
//! (sealed or not) call for, by actor and by target, compared by count and by an order-free
//! sum of the entries' digests (range reads only); when one disagrees, a second walk names the
//! first entry that points at no event, or at one of another actor or target, or else the
//! first event without its entry ([`TamperKind::IndexMismatch`]). The index walks are chunked
//! like the event walk.
//!
//! A receipt taken before a restore (`coditect_ops::import`) still verifies after
//! it: the import keeps the source chain's positions of the events it carried over, and
//! [`verify_receipt`] recomputes the source chain from the events stored now; see
//! [`carried`].

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::position::AuditPosition;
use super::seal::{self, genesis, link, SealHead, SealWindow, CHECKPOINT_EVERY};
use super::{carried, digest, index_keys, AuditEvent};
use crate::error::{Error, Result};
use crate::keys::{self, TenantId, AUDIT_BY_ACTOR, AUDIT_BY_TARGET};
use crate::kv::{KvBackend, RangeOptions};
use crate::tenant_tx::TenantTx;
use crate::value;
use crate::walk::RangeWalk;

/// A tenant's chain head as exported for safekeeping outside the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The tenant.
    pub tenant: Uuid,
    /// Events sealed when it was issued.
    pub count: u64,
    /// The chain hash after them.
    pub head: [u8; 32],
}

impl Receipt {
    const TAG: &'static str = "coditect-audit-receipt/1";

    /// One line of text: `coditect-audit-receipt/1 <tenant> <count> <head hex>`.
    pub fn to_text(&self) -> String {
        let mut hex = String::with_capacity(64);
        for byte in self.head {
            hex.push_str(&format!("{byte:02x}"));
        }
        format!("{} {} {} {}", Self::TAG, self.tenant, self.count, hex)
    }

    /// Parses what [`to_text`](Receipt::to_text) wrote; [`Error::InvalidInput`] otherwise.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidInput {
            field: "receipt",
            reason: reason.into(),
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [tag, tenant, count, head] = parts[..] else {
            return Err(bad("expected four fields"));
        };
        if tag != Self::TAG {
            return Err(bad("unknown receipt format"));
        }
        let tenant = Uuid::parse_str(tenant).map_err(|_| bad("tenant is not a UUID"))?;
        let count = count.parse().map_err(|_| bad("count is not a number"))?;
        if head.len() != 64 || !head.is_ascii() {
            return Err(bad("head is not 64 hex digits"));
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&head[2 * i..2 * i + 2], 16)
                .map_err(|_| bad("head is not 64 hex digits"))?;
        }
        Ok(Receipt {
            tenant,
            count,
            head: hash,
        })
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What was wrong with the first bad event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TamperKind {
    /// Its bytes are not those sealed.
    Modified,
    /// Its bytes are those sealed for another event, at position `moved_from`.
    Reordered {
        /// Where those bytes were sealed.
        moved_from: u64,
    },
    /// It was sealed and is gone.
    Removed,
    /// It was never sealed, yet sits among sealed events.
    Inserted,
    /// The events agree with the windows, but the chain recomputed from them does not reach
    /// the stored checkpoint or head: the seal's state itself was edited.
    SealAltered,
    /// The chain does not reach the receipt's hash after the receipt's count of events (or
    /// holds fewer events): it was rewritten or truncated since the receipt was issued.
    ReceiptMismatch,
    /// Events are stored but the seal's head is gone: the seal state was deleted (a tenant's
    /// head exists from its first event on).
    SealMissing,
    /// The audit indexes disagree with the events: this event (its key) lacks its entry by
    /// actor or by target, or does not decode; or an index entry (its key) points at no
    /// event, or at one of another actor or target.
    IndexMismatch,
}

impl fmt::Display for TamperKind {
    /// A few words for people: `modified`, `reordered, sealed at #3`, `removed`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TamperKind::Modified => f.write_str("modified"),
            TamperKind::Reordered { moved_from } => write!(f, "reordered, sealed at #{moved_from}"),
            TamperKind::Removed => f.write_str("removed"),
            TamperKind::Inserted => f.write_str("inserted"),
            TamperKind::SealAltered => f.write_str("seal state altered"),
            TamperKind::ReceiptMismatch => f.write_str("does not reach the receipt"),
            TamperKind::SealMissing => f.write_str("seal state missing"),
            TamperKind::IndexMismatch => f.write_str("audit index disagrees"),
        }
    }
}

/// The first event of a chain that is not as sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tamper {
    /// What is wrong.
    pub kind: TamperKind,
    /// Its position in the chain, from 0 (for a checkpoint, head or receipt: the number of
    /// events the hash covers).
    pub position: u64,
    /// Its key (for a checkpoint, head or receipt: the last event's key the hash covers).
    pub key: Vec<u8>,
}

/// A chain that verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Events checked: those sealed from the starting checkpoint on.
    pub verified: u64,
    /// The sealed events in all.
    pub count: u64,
    /// The head hash, recomputed.
    pub head: [u8; 32],
    /// Events after the head, not sealed yet.
    pub unsealed: u64,
    /// For a receipt taken before a restore: the restore it was followed across.
    pub restored: Option<Restored>,
}

/// The restore a receipt of the source tenant was followed across
/// ([`verify_receipt`]): what the lineage record of the import says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The tenant the backup was taken of (the receipt's).
    pub source: Uuid,
    /// When the backup was taken, milliseconds since the Unix epoch.
    pub exported_at_ms: i64,
    /// When it was imported.
    pub imported_at_ms: i64,
    /// SHA-256 of the backup (its trailer's).
    pub backup_sha256: [u8; 32],
    /// Events the import carried over from the source.
    pub carried: u64,
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every sealed event is as sealed.
    Clean(Verified),
    /// The first one that is not.
    Tampered(Tamper),
}

/// How [`verify`] walks.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Start at this checkpoint: a multiple of [`CHECKPOINT_EVERY`] no larger than the sealed
    /// count (0: the start of the chain). Events before it are not checked.
    pub from: u64,
    /// Most events read in one transaction.
    pub chunk_events: usize,
}

impl Default for VerifyOptions {
    /// The whole chain, 10,000 events a transaction.
    fn default() -> Self {
        VerifyOptions {
            from: 0,
            chunk_events: 10_000,
        }
    }
}

/// The receipt of the tenant's chain as sealed now.
pub async fn receipt(db: &dyn KvBackend, tenant: TenantId) -> Result<Receipt> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open_any_status(tx.as_ref(), tenant).await?;
    let head = seal::load_head(&ttx, true).await?;
    Ok(Receipt {
        tenant: tenant.uuid(),
        count: head.count,
        head: head.hash,
    })
}

/// Verifies the tenant's chain as `options` say.
pub async fn verify(
    db: &dyn KvBackend,
    tenant: TenantId,
    options: &VerifyOptions,
) -> Result<Verdict> {
    Walk::start(db, tenant, options, None).await?.run(db).await
}

/// Verifies the whole chain and that it still reaches `receipt`.
///
/// A receipt taken before a restore is followed across it: when the tenant was imported
/// from the receipt's tenant (its lineage record names it) and the receipt covers no more
/// events than the import carried over, the source chain is recomputed from the events
/// stored now, at their source positions ([`carried`]), and must reach the
/// receipt's hash; then the tenant's own chain is verified as [`verify`] does, and a clean
/// verdict names the restore ([`Verified::restored`]). A receipt of the tenant's own id is
/// first checked against its own chain, and followed across a restore under the same id
/// only when that chain does not reach it. A receipt of another tenant that this one was
/// not restored from is [`Error::InvalidInput`].
pub async fn verify_receipt(
    db: &dyn KvBackend,
    tenant: TenantId,
    receipt: &Receipt,
    chunk_events: usize,
) -> Result<Verdict> {
    if receipt.tenant != tenant.uuid() {
        return match carried::verify_across_restore(db, tenant, receipt, chunk_events).await? {
            Some(verdict) => Ok(verdict),
            None => Err(Error::InvalidInput {
                field: "receipt",
                reason: format!(
                    "issued for tenant {}, not {tenant}, which was not restored from it",
                    receipt.tenant
                ),
            }),
        };
    }
    let options = VerifyOptions {
        from: 0,
        chunk_events,
    };
    let verdict = Walk::start(db, tenant, &options, Some(*receipt))
        .await?
        .run(db)
        .await?;
    if let Verdict::Tampered(Tamper {
        kind: TamperKind::ReceiptMismatch,
        ..
    }) = verdict
    {
        if let Some(across) =
            carried::verify_across_restore(db, tenant, receipt, chunk_events).await?
        {
            return Ok(across);
        }
    }
    Ok(verdict)
}

/// Most point reads one transaction of an index walk makes (only when an index disagrees and
/// the walk looks for the entry to name): well inside FoundationDB's 5 s even at a
/// millisecond a read.
const POINT_READS_PER_CHUNK: usize = 1_000;

/// Adds `digest` to `sum`, both read as 256-bit big-endian numbers, modulo 2^256: an order-free
/// digest of a set of keys, which a walk in key order of the events and a walk of an index
/// (ordered by actor or target) compute alike.
fn add_digest(sum: &mut [u8; 32], digest: &[u8; 32]) {
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let total = u16::from(sum[i]) + u16::from(digest[i]) + carry;
        sum[i] = total as u8;
        carry = total >> 8;
    }
}

/// The state of a walk, carried from one chunk's transaction to the next.
struct Walk {
    tenant: TenantId,
    events: Vec<u8>,
    end: Vec<u8>,
    head: SealHead,
    from: u64,
    chunk_events: usize,
    /// Sealed events checked so far (the position of the next one).
    n: u64,
    /// The chain hash after them.
    hash: [u8; 32],
    last_key: Vec<u8>,
    /// The window holding position `n`, by index.
    window: Option<(u64, SealWindow)>,
    /// Where the next chunk reads from.
    lo: Vec<u8>,
    unsealed: u64,
    receipt: Option<Receipt>,
    /// The stored head did not decode.
    head_altered: bool,
    /// No head is stored.
    head_missing: bool,
    /// The tenant's key prefix.
    prefix: Vec<u8>,
    /// Events walked whose index entries are accounted in `index_sums`.
    indexed: u64,
    /// Per index (by actor, by target): the sum (mod 2^256) of the SHA-256 of every entry
    /// the walked events call for.
    index_sums: [[u8; 32]; 2],
    /// Where the walk started reading events.
    start_lo: Vec<u8>,
    /// The position before the first event walked (the starting checkpoint's), if any: index
    /// entries at or before it are not counted.
    index_after: Option<AuditPosition>,
    /// The position of the last event walked.
    last_position: Option<AuditPosition>,
    /// The first event found not indexed as it should be.
    index_finding: Option<Tamper>,
}

impl Walk {
    async fn start(
        db: &dyn KvBackend,
        tenant: TenantId,
        options: &VerifyOptions,
        receipt: Option<Receipt>,
    ) -> Result<Self> {
        let tx = db.begin().await?;
        let ttx = TenantTx::open_any_status(tx.as_ref(), tenant).await?;
        // A head that does not decode is seal state someone edited, and a missing one is seal
        // state someone deleted (once there are events): verdicts, not errors.
        let (head, head_altered, head_missing) = match seal::stored_head(&ttx, true).await {
            Ok(Some(head)) => (head, false, false),
            Ok(None) => (seal::genesis_head(tenant), false, true),
            Err(Error::Decode { .. }) => (seal::genesis_head(tenant), true, false),
            Err(error) => return Err(error),
        };
        let events = keys::audit_prefix(ttx.prefix());
        let end = keys::prefix_range_end(&events)?;
        let from = options.from;
        if from % CHECKPOINT_EVERY != 0 || from > head.count {
            return Err(Error::InvalidInput {
                field: "from",
                reason: format!(
                    "{from} is not a checkpoint (a multiple of {CHECKPOINT_EVERY} up to {})",
                    head.count
                ),
            });
        }
        let mut walk = Walk {
            tenant,
            events: events.clone(),
            end,
            head,
            from,
            chunk_events: options.chunk_events.max(1),
            n: from,
            hash: genesis(tenant),
            last_key: Vec::new(),
            window: None,
            lo: events,
            unsealed: 0,
            receipt,
            head_altered,
            head_missing,
            prefix: tenant.prefix(),
            indexed: 0,
            index_sums: [[0; 32]; 2],
            start_lo: Vec::new(),
            index_after: None,
            last_position: None,
            index_finding: None,
        };
        if from > 0 {
            // Trusting the checkpoint is what starting from it means.
            // (A checkpoint missing below the head shows as the seal altered at it, on the
            // first step.)
            let stored = walk
                .window_at(&ttx, from)
                .await?
                .map(|window| (window.start_hash, window.after));
            let checkpoint = match stored {
                None if from == head.count => Some((head.hash, head.last)),
                stored => stored,
            };
            if let Some((hash, after)) = checkpoint {
                walk.hash = hash;
                if let Some(after) = after {
                    walk.lo = after.key_after_under(&walk.events);
                    walk.last_key = after.key_under(&walk.events);
                    walk.index_after = Some(after);
                }
            }
        }
        walk.start_lo.clone_from(&walk.lo);
        Ok(walk)
    }

    async fn run(mut self, db: &dyn KvBackend) -> Result<Verdict> {
        if self.head_altered {
            return Ok(Verdict::Tampered(
                self.tamper_at_last(TamperKind::SealAltered),
            ));
        }
        if let Some(tamper) = self.check_receipt() {
            return Ok(Verdict::Tampered(tamper));
        }
        loop {
            let tx = db.begin().await?;
            let ttx = TenantTx::open_any_status(tx.as_ref(), self.tenant).await?;
            let options = RangeOptions::limit(self.chunk_events).snapshot();
            let mut walk = RangeWalk::new(&self.lo, &self.end, options);
            let page = walk.next_page(&ttx).await?.unwrap_or_default();
            for kv in &page {
                if let Some(tamper) = self.step(&ttx, &kv.key, &kv.value).await? {
                    return Ok(Verdict::Tampered(tamper));
                }
            }
            match walk.resume_key() {
                Some(lo) => self.lo = lo.to_vec(),
                None => return self.finish(db, &ttx).await,
            }
        }
    }

    /// Checks one stored event: against the chain, then against the indexes.
    async fn step(
        &mut self,
        ttx: &TenantTx<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Tamper>> {
        if self.head_missing {
            // An event with no head: the seal state was deleted. A receipt that covers events
            // is the stronger statement: the chain it vouches for is gone.
            let kind = match self.receipt {
                Some(receipt) if receipt.count > 0 => TamperKind::ReceiptMismatch,
                _ => TamperKind::SealMissing,
            };
            return Ok(Some(self.tamper(kind, key)));
        }
        if let Some(tamper) = self.step_chain(ttx, key, value).await? {
            return Ok(Some(tamper));
        }
        // The chain's verdict comes first (it names what was done to the events): an index
        // mismatch is kept and reported only once the whole chain checked out.
        if self.index_finding.is_none() {
            self.index_finding = self.account_index(key, value);
        }
        Ok(None)
    }

    /// Accounts the index entries the event at `key` (which the chain check found to be an
    /// event key) must have: their digests are summed per index, for
    /// [`check_index_counts`](Walk::check_index_counts) to compare with the stored entries.
    /// An event that does not decode is a finding at once (it has no actor or target).
    fn account_index(&mut self, key: &[u8], value: &[u8]) -> Option<Tamper> {
        let position = AuditPosition::of_key(key).ok()?;
        let Ok(event) = value::decode::<AuditEvent>(value) else {
            return Some(Tamper {
                kind: TamperKind::IndexMismatch,
                // The chain check counted this event, sealed or not.
                position: (self.n + self.unsealed).saturating_sub(1),
                key: key.to_vec(),
            });
        };
        for (slot, entry) in index_keys(&self.prefix, &event, position)
            .iter()
            .enumerate()
        {
            add_digest(&mut self.index_sums[slot], &digest(entry));
        }
        self.indexed += 1;
        self.last_position = Some(position);
        None
    }

    /// After the walk: each index must hold, over the walked positions, exactly the entries
    /// the walked events call for: the same number, and the same sum of their digests (range
    /// reads only, no point read per event). When an index disagrees, a second walk names the
    /// first entry that points at no event or at one of another actor or target, and failing
    /// that a walk of the events names the first one without its entry.
    async fn check_index_counts(&self, db: &dyn KvBackend) -> Result<Option<Tamper>> {
        let Some(last) = self.last_position else {
            return Ok(None);
        };
        for (slot, name) in [AUDIT_BY_ACTOR, AUDIT_BY_TARGET].into_iter().enumerate() {
            let begin = keys::index_prefix(&self.prefix, name, &[]);
            let end = keys::prefix_range_end(&begin)?;
            let (count, sum, found) = self.scan_index(db, &begin, &end, last, slot, false).await?;
            if found.is_some() {
                return Ok(found);
            }
            if count != self.indexed || sum != self.index_sums[slot] {
                let (_, _, found) = self.scan_index(db, &begin, &end, last, slot, true).await?;
                if found.is_some() {
                    return Ok(found);
                }
                return Ok(Some(self.find_unindexed(db, last, slot).await?.unwrap_or(
                    Tamper {
                        kind: TamperKind::IndexMismatch,
                        position: self.n + self.unsealed,
                        key: begin,
                    },
                )));
            }
        }
        Ok(None)
    }

    /// Walks one index in chunks: counts its entries over the walked positions and sums their
    /// digests, and with `check` names the first that is not the entry (`slot` 0: by actor, 1:
    /// by target) of the event at its position (one point read per entry, so in chunks of at
    /// most [`POINT_READS_PER_CHUNK`]). A key that ends in no position is named either way.
    async fn scan_index(
        &self,
        db: &dyn KvBackend,
        begin: &[u8],
        end: &[u8],
        last: AuditPosition,
        slot: usize,
        check: bool,
    ) -> Result<(u64, [u8; 32], Option<Tamper>)> {
        let surplus = |key: &[u8]| Tamper {
            kind: TamperKind::IndexMismatch,
            position: self.n + self.unsealed,
            key: key.to_vec(),
        };
        let limit = if check {
            self.chunk_events.min(POINT_READS_PER_CHUNK)
        } else {
            self.chunk_events
        };
        let (mut lo, mut count, mut sum) = (begin.to_vec(), 0u64, [0u8; 32]);
        loop {
            let tx = db.begin().await?;
            let ttx = TenantTx::open_any_status(tx.as_ref(), self.tenant).await?;
            let options = RangeOptions::limit(limit).snapshot();
            let page = ttx.get_range(&lo, end, options).await?;
            let next = page.next_range(&lo, end, false);
            for kv in &page.kvs {
                let Ok(position) = AuditPosition::of_key(&kv.key) else {
                    return Ok((count, sum, Some(surplus(&kv.key))));
                };
                if position > last || self.index_after.is_some_and(|after| position <= after) {
                    // Outside the walk: events before its checkpoint, or appended since.
                    continue;
                }
                count += 1;
                add_digest(&mut sum, &digest(&kv.key));
                if check {
                    let event = ttx.get(&position.key_under(&self.events), true).await?;
                    let expected = event
                        .and_then(|bytes| value::decode::<AuditEvent>(&bytes).ok())
                        .map(|event| index_keys(&self.prefix, &event, position));
                    if expected.is_none_or(|keys| keys[slot] != kv.key) {
                        return Ok((count, sum, Some(surplus(&kv.key))));
                    }
                }
            }
            match next {
                Some((next_lo, _)) => lo = next_lo,
                None => return Ok((count, sum, None)),
            }
        }
    }

    /// Walks the events again, from where the walk started up to `last`, and names the first
    /// whose entry in index `slot` is missing (one point read per event, in chunks of at most
    /// [`POINT_READS_PER_CHUNK`]).
    async fn find_unindexed(
        &self,
        db: &dyn KvBackend,
        last: AuditPosition,
        slot: usize,
    ) -> Result<Option<Tamper>> {
        let limit = self.chunk_events.min(POINT_READS_PER_CHUNK);
        let (mut lo, mut at) = (self.start_lo.clone(), self.from);
        loop {
            let tx = db.begin().await?;
            let ttx = TenantTx::open_any_status(tx.as_ref(), self.tenant).await?;
            let options = RangeOptions::limit(limit).snapshot();
            let page = ttx.get_range(&lo, &self.end, options).await?;
            let next = page.next_range(&lo, &self.end, false);
            for kv in &page.kvs {
                let Ok(position) = AuditPosition::of_key(&kv.key) else {
                    continue;
                };
                if position > last {
                    return Ok(None);
                }
                if let Ok(event) = value::decode::<AuditEvent>(&kv.value) {
                    let entry = &index_keys(&self.prefix, &event, position)[slot];
                    if ttx.get(entry, true).await?.is_none() {
                        return Ok(Some(Tamper {
                            kind: TamperKind::IndexMismatch,
                            position: at,
                            key: kv.key.clone(),
                        }));
                    }
                }
                at += 1;
            }
            match next {
                Some((next_lo, _)) => lo = next_lo,
                None => return Ok(None),
            }
        }
    }

    /// Checks one stored event against the sealed one expected next.
    async fn step_chain(
        &mut self,
        ttx: &TenantTx<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Tamper>> {
        let Ok(position) = AuditPosition::of_key(key) else {
            // Not an event's key at all, yet in the events' range.
            return Ok(Some(self.tamper(TamperKind::Inserted, key)));
        };
        if self.n == self.head.count {
            // Past the sealed events: anything at or before the head's position was slipped
            // in behind it.
            return Ok(match self.head.last {
                Some(last) if position <= last => Some(self.tamper(TamperKind::Inserted, key)),
                _ => {
                    self.unsealed += 1;
                    None
                }
            });
        }
        let Some(expected) = self.expected(ttx).await? else {
            return Ok(Some(self.tamper_at_last(TamperKind::SealAltered)));
        };
        if position < expected.position {
            return Ok(Some(self.tamper(TamperKind::Inserted, key)));
        }
        if position > expected.position {
            let key = expected.position.key_under(&self.events);
            return Ok(Some(self.tamper(TamperKind::Removed, &key)));
        }
        let event_digest = digest(value);
        if event_digest != expected.digest {
            let kind = match self.sealed_elsewhere(ttx, &event_digest).await? {
                Some(moved_from) => TamperKind::Reordered { moved_from },
                None => TamperKind::Modified,
            };
            return Ok(Some(self.tamper(kind, key)));
        }
        self.hash = link(&self.hash, &event_digest, key);
        self.n += 1;
        self.last_key = key.to_vec();
        if self.n % CHECKPOINT_EVERY == 0 && self.n < self.head.count {
            let start_hash = self.window_at(ttx, self.n).await?.map(|w| w.start_hash);
            if start_hash != Some(self.hash) {
                return Ok(Some(self.tamper_at_last(TamperKind::SealAltered)));
            }
        }
        if self.n == self.head.count && self.hash != self.head.hash {
            return Ok(Some(self.tamper_at_last(TamperKind::SealAltered)));
        }
        Ok(self.check_receipt())
    }

    /// After the last stored event: every sealed one must have been met, and the indexes
    /// hold no entry of their own.
    async fn finish(mut self, db: &dyn KvBackend, ttx: &TenantTx<'_>) -> Result<Verdict> {
        if self.n < self.head.count {
            return Ok(Verdict::Tampered(match self.expected(ttx).await? {
                Some(expected) => {
                    let key = expected.position.key_under(&self.events);
                    self.tamper(TamperKind::Removed, &key)
                }
                None => self.tamper_at_last(TamperKind::SealAltered),
            }));
        }
        if let Some(receipt) = self.receipt {
            if receipt.count > self.n {
                return Ok(Verdict::Tampered(Tamper {
                    kind: TamperKind::ReceiptMismatch,
                    position: receipt.count,
                    key: self.last_key,
                }));
            }
        }
        if let Some(tamper) = self.index_finding.take() {
            return Ok(Verdict::Tampered(tamper));
        }
        if let Some(tamper) = self.check_index_counts(db).await? {
            return Ok(Verdict::Tampered(tamper));
        }
        Ok(Verdict::Clean(Verified {
            verified: self.n - self.from,
            count: self.n,
            head: self.hash,
            unsealed: self.unsealed,
            restored: None,
        }))
    }

    /// The receipt's hash must be the chain's once the walk has covered its count.
    fn check_receipt(&self) -> Option<Tamper> {
        let receipt = self.receipt?;
        (receipt.count == self.n && receipt.head != self.hash)
            .then(|| self.tamper_at_last(TamperKind::ReceiptMismatch))
    }

    /// The sealed event at position `n`, or `None` when the seal's state has no such entry.
    async fn expected(&mut self, ttx: &TenantTx<'_>) -> Result<Option<seal::SealedEvent>> {
        let slot = (self.n % CHECKPOINT_EVERY) as usize;
        Ok(self
            .window_at(ttx, self.n)
            .await?
            .and_then(|window| window.entries.get(slot).copied()))
    }

    /// The window holding position `n`, loaded once.
    async fn window_at(&mut self, ttx: &TenantTx<'_>, n: u64) -> Result<Option<&SealWindow>> {
        let index = n / CHECKPOINT_EVERY;
        if self.window.as_ref().map(|(i, _)| *i) != Some(index) {
            match seal::load_window(ttx, index, true).await {
                Ok(Some(window)) => self.window = Some((index, window)),
                // Missing or undecodable: either way the seal's state was altered, which the
                // caller reports where it needed the window.
                Ok(None) | Err(Error::Decode { .. }) => return Ok(None),
                Err(error) => return Err(error),
            }
        }
        Ok(self.window.as_ref().map(|(_, window)| window))
    }

    /// Where else in this window or the next the chain sealed an event with these bytes.
    async fn sealed_elsewhere(
        &mut self,
        ttx: &TenantTx<'_>,
        event_digest: &[u8; 32],
    ) -> Result<Option<u64>> {
        let index = self.n / CHECKPOINT_EVERY;
        for i in [index, index + 1] {
            let Ok(Some(window)) = seal::load_window(ttx, i, true).await else {
                continue;
            };
            let found = window
                .entries
                .iter()
                .position(|e| &e.digest == event_digest);
            if let Some(slot) = found {
                let at = i * CHECKPOINT_EVERY + slot as u64;
                if at != self.n && at < self.head.count {
                    return Ok(Some(at));
                }
            }
        }
        Ok(None)
    }

    fn tamper(&self, kind: TamperKind, key: &[u8]) -> Tamper {
        Tamper {
            kind,
            position: self.n,
            key: key.to_vec(),
        }
    }

    fn tamper_at_last(&self, kind: TamperKind) -> Tamper {
        Tamper {
            kind,
            position: self.n,
            key: self.last_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_round_trips_through_text_and_refuses_garbage() {
        let receipt = Receipt {
            tenant: Uuid::new_v4(),
            count: 1234,
            head: [0xab; 32],
        };
        let text = receipt.to_text();
        assert_eq!(Receipt::parse(&text).unwrap(), receipt);
        assert_eq!(receipt.to_string(), text);
        for bad in [
            "",
            "coditect-audit-receipt/2 x 1 ab",
            &text.replace("1234", "x"),
            &text[..text.len() - 1],
            &format!("{text} extra"),
        ] {
            assert!(Receipt::parse(bad).is_err(), "{bad}");
        }
    }
}
