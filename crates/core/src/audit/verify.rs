//! Verification: recompute a tenant's chain ([`seal`](super::seal)) from the events as they
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

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::digest;
use super::position::AuditPosition;
use super::seal::{self, genesis, link, SealHead, SealWindow, CHECKPOINT_EVERY};
use crate::error::{Error, Result};
use crate::keys::{self, TenantId};
use crate::kv::{KvBackend, RangeOptions};
use crate::tenant_tx::TenantTx;

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
pub async fn verify_receipt(
    db: &dyn KvBackend,
    tenant: TenantId,
    receipt: &Receipt,
    chunk_events: usize,
) -> Result<Verdict> {
    if receipt.tenant != tenant.uuid() {
        return Err(Error::InvalidInput {
            field: "receipt",
            reason: format!("issued for tenant {}, not {tenant}", receipt.tenant),
        });
    }
    let options = VerifyOptions {
        from: 0,
        chunk_events,
    };
    Walk::start(db, tenant, &options, Some(*receipt))
        .await?
        .run(db)
        .await
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
        // A head that does not decode is seal state someone edited: a verdict, not an error.
        let (head, head_altered) = match seal::load_head(&ttx, true).await {
            Ok(head) => (head, false),
            Err(Error::Decode { .. }) => (
                SealHead {
                    count: 0,
                    hash: genesis(tenant),
                    last: None,
                },
                true,
            ),
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
                }
            }
        }
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
            let page = ttx.get_range(&self.lo, &self.end, options).await?;
            let next = page.next_range(&self.lo, &self.end, false);
            for kv in &page.kvs {
                if let Some(tamper) = self.step(&ttx, &kv.key, &kv.value).await? {
                    return Ok(Verdict::Tampered(tamper));
                }
            }
            match next {
                Some((lo, _)) => self.lo = lo,
                None => return self.finish(&ttx).await,
            }
        }
    }

    /// Checks one stored event against the sealed one expected next.
    async fn step(
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

    /// After the last stored event: every sealed one must have been met.
    async fn finish(mut self, ttx: &TenantTx<'_>) -> Result<Verdict> {
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
        Ok(Verdict::Clean(Verified {
            verified: self.n - self.from,
            count: self.n,
            head: self.hash,
            unsealed: self.unsealed,
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
