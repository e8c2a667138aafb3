//! AuditEvent, read-only: the [`audit`](crate::audit) module writes one per mutation (and
//! per denial) and indexes them; this model only reads them, by time (commit order), by actor
//! and by target record, in the record layer's [`PageRequest`] pages. No model API creates,
//! changes or deletes an audit event. The reads are [`audit::query`]'s (positions, ranges,
//! newest-first); [`list_as`] is the checked read.

use uuid::Uuid;

use crate::audit::query::{self, AuditEntry, AuditQuery};
use crate::audit::Actor;
pub use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
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

/// One page of the tenant's audit events, oldest first.
pub async fn list(ttx: &TenantTx<'_>, request: &PageRequest) -> Result<Page<AuditEvent>> {
    query::by_time(ttx, &query_of(request)).await.map(events)
}

/// [`list`] on behalf of `actor`, who needs the right to read audit events tenant-wide
/// ([`Error::Forbidden`](crate::Error::Forbidden) otherwise).
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
    query::by_actor(ttx, actor, &query_of(request))
        .await
        .map(events)
}

/// One page of the events about record `id` of `model` (its name, as
/// [`AuditEvent::model`]), oldest first.
pub async fn by_target(
    ttx: &TenantTx<'_>,
    model: &str,
    id: Uuid,
    request: &PageRequest,
) -> Result<Page<AuditEvent>> {
    query::by_target(ttx, model, id, &query_of(request))
        .await
        .map(events)
}
