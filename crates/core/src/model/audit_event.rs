//! AuditEvent, read-only: the [`audit`](crate::audit) module writes one per mutation (and
//! per denial) and indexes them; this model only reads them, by time (commit order), by actor
//! and by target record, in the record layer's [`PageRequest`] pages. No model API creates,
//! changes or deletes an audit event. The reads are [`audit::query`](crate::audit::query)'s (positions, ranges,
//! newest-first); the reads here are checked: only a principal allowed to read audit events
//! tenant-wide sees them.

use uuid::Uuid;

use crate::audit::query::{self, AuditEntry, AuditQuery};
use crate::audit::Actor;
pub use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::principal::Principal;
use crate::rbac::{self, Action, Resource, ResourceKind, Scope};
use crate::record::{Page, PageRequest};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

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

/// Fails with [`Error::Forbidden`](crate::Error::Forbidden) unless `by` may read the
/// tenant's audit trail (a tenant-wide read of audit events).
async fn check_read(ttx: &TenantTx<'_>, by: Principal) -> Result<()> {
    let resource = Resource::new(
        ResourceKind::AuditEvent,
        AuditEvent::WHAT,
        Uuid::nil(),
        Scope::Tenant,
    );
    rbac::authorize(ttx, by, Action::Read, &resource).await
}

/// One page of the tenant's audit events, oldest first, read by `by`, who needs the right
/// to read audit events tenant-wide.
pub async fn list(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    check_read(ttx, by.into()).await?;
    query::by_time(ttx, &query_of(request)).await.map(events)
}

/// One page of the events whose actor is `actor`, oldest first, read by `by` (as [`list`]).
pub async fn by_actor(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    actor: Actor,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    check_read(ttx, by.into()).await?;
    query::by_actor(ttx, actor, &query_of(request))
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
    check_read(ttx, by.into()).await?;
    query::by_target(ttx, model, id, &query_of(request))
        .await
        .map(events)
}
