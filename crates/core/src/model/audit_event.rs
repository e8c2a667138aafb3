//! AuditEvent, read-only: the [`audit`](crate::audit) module writes one per mutation (and
//! per denial); this model only reads them, by time (key order: commit order), by actor and
//! by target record. No model API creates, changes or deletes an audit event.
//!
//! Events are keyed by versionstamp only, so the lookups by actor and by target walk the
//! events in order and keep those that match, reading at most [`SCAN_BUDGET`] events per
//! call: a page may then hold fewer items than asked for, with a cursor to go on from.

use uuid::Uuid;

use crate::audit::Actor;
pub use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::keys;
use crate::rbac::{self, Action, Resource, ResourceKind, Scope};
use crate::record::{page_of_rows, Cursor, Page, PageRequest, DEFAULT_PAGE, MAX_PAGE};
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};

/// Most events one filtered lookup reads before it returns what it found.
pub const SCAN_BUDGET: usize = 10_000;

/// One page of the tenant's audit events, oldest first.
pub async fn list(ttx: &TenantTx<'_>, request: &PageRequest) -> Result<Page<AuditEvent>> {
    filtered(ttx, request, |_| true).await
}

/// [`list`] on behalf of `actor`, who needs the right to read audit events tenant-wide.
pub async fn list_as(
    ttx: &TenantTx<'_>,
    actor: Actor,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    let resource = Resource {
        kind: ResourceKind::AuditEvent,
        model: AuditEvent::WHAT,
        id: Uuid::nil(),
        scope: Scope::Tenant,
    };
    rbac::check(ttx, actor, Action::Read, &resource).await?;
    list(ttx, request).await
}

/// One page of the events whose actor is `actor`, oldest first.
pub async fn by_actor(
    ttx: &TenantTx<'_>,
    actor: Actor,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    filtered(ttx, request, |event| event.actor == actor).await
}

/// One page of the events about record `id` (of any model), oldest first.
pub async fn by_target(
    ttx: &TenantTx<'_>,
    id: Uuid,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    filtered(ttx, request, |event| event.record_id == id).await
}

async fn filtered(
    ttx: &TenantTx<'_>,
    request: &PageRequest,
    keep: impl Fn(&AuditEvent) -> bool,
) -> Result<Page<AuditEvent>> {
    let limit = match request.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let prefix = keys::audit_prefix(ttx.prefix());
    let mut items = Vec::new();
    let mut after = request.after.clone();
    let mut scanned = 0;
    loop {
        let chunk = PageRequest {
            after: after.clone(),
            limit: MAX_PAGE,
        };
        let (rows, next) = page_of_rows(ttx, &prefix, &chunk).await?;
        for (i, kv) in rows.iter().enumerate() {
            scanned += 1;
            let event: AuditEvent = value::decode(&kv.value)?;
            if keep(&event) {
                items.push(event);
                if items.len() == limit {
                    let here = Cursor::from_bytes(kv.key[prefix.len()..].to_vec());
                    // Whether anything follows is only known by reading on; a cursor at the
                    // last event gives an empty last page at worst.
                    let more = next.is_some() || i + 1 < rows.len();
                    return Ok(Page {
                        items,
                        next: more.then_some(here),
                    });
                }
            }
        }
        match next {
            Some(cursor) if scanned < SCAN_BUDGET => after = Some(cursor),
            Some(cursor) => {
                return Ok(Page {
                    items,
                    next: Some(cursor),
                })
            }
            None => return Ok(Page { items, next: None }),
        }
    }
}
