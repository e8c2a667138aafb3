//! AuditEvent, read-only: the [`audit`](crate::audit) module writes one per mutation (and
//! per denial) and indexes them; this model only reads them, by time (commit order), by actor
//! and by target record, in the record layer's [`PageRequest`] pages. No model API creates,
//! changes or deletes an audit event. The reads are [`audit::query`](crate::audit::query)'s (positions, ranges,
//! newest-first); the reads here take a [`PageRequest`] instead. Both are checked the same way:
//! only a principal allowed to read audit events tenant-wide sees them.

use uuid::Uuid;

use crate::audit::query::{self, AuditEntry, AuditQuery};
use crate::audit::Actor;
pub use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::principal::Principal;
use crate::record::{Page, PageRequest};
use crate::tenant_tx::TenantTx;

fn query_of(request: &PageRequest) -> AuditQuery {
    AuditQuery {
        after: request.after.clone(),
        limit: request.limit,
        ..AuditQuery::default()
    }
}

fn events(page: Page<AuditEntry>) -> Page<AuditEvent> {
    Page {
        items: page.items.into_iter().map(|entry| entry.event).collect(),
        next: page.next,
    }
}

/// One page of the tenant's audit events, oldest first, read by `by`, who needs the right
/// to read audit events tenant-wide.
pub async fn list(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    query::by_time(ttx, by, &query_of(request))
        .await
        .map(events)
}

/// One page of the events whose actor is `actor`, oldest first, read by `by` (as [`list`]).
pub async fn by_actor(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    actor: Actor,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    query::by_actor(ttx, by, actor, &query_of(request))
        .await
        .map(events)
}

/// One page of the events about record `id` of `model` (its name, as
/// [`AuditEvent::model`]), oldest first, read by `by` (as [`list`]).
pub async fn by_target(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    model: &str,
    id: Uuid,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    query::by_target(ttx, by, model, id, &query_of(request))
        .await
        .map(events)
}
