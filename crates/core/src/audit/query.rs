//! Reading the trail: by time (commit order), by actor, by target record; forward or
//! backward, in pages.
//!
//! Every read is checked: the principal `by` must be allowed to read audit events
//! tenant-wide (a tenant Admin, a role granting it at a root entity, the operator or the
//! system); anyone else gets [`Error::Forbidden`], audited like every denial. The trail names
//! who did what to which record, so it is not for every member to read.
//!
//! All three walk keys that end in an event's versionstamp: the events themselves, or the
//! entries of the two audit indexes (`audit_by_actor`, `audit_by_target`), which the writer
//! puts in the event's own transaction. The reads are snapshot reads: events are immutable and
//! only ever appended at later stamps, so a read conflict on them would buy nothing and would
//! make a transaction that queries the trail and then writes conflict with every concurrent
//! append in its tenant.

use uuid::Uuid;

use super::position::AuditPosition;
use super::{actor_key_part, Actor, AuditEvent};
use crate::error::{Error, Result};
use crate::keys::{self, KeyPart};
use crate::kv::{KeyValue, RangeOptions};
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind};
use crate::record::{Cursor, Page, DEFAULT_PAGE, MAX_PAGE};
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};
use crate::walk::RangeWalk;

/// One event and where it sits in the trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its position (commit order).
    pub position: AuditPosition,
    /// The event.
    pub event: AuditEvent,
}

/// Which part of a trail to read, in which direction, and which page.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only events at or after this position (e.g. [`AuditPosition::of_commit`]).
    pub from: Option<AuditPosition>,
    /// Only events before this position.
    pub to: Option<AuditPosition>,
    /// Newest first instead of oldest first.
    pub reverse: bool,
    /// The cursor of the previous page (same query), or `None` for the first page.
    pub after: Option<Cursor>,
    /// The most events in a page: 0 means [`DEFAULT_PAGE`]; more than [`MAX_PAGE`] is capped.
    pub limit: usize,
}

impl AuditQuery {
    /// The first page of at most `limit` events, oldest first.
    pub fn first(limit: usize) -> Self {
        AuditQuery {
            limit,
            ..AuditQuery::default()
        }
    }

    /// The first page of at most `limit` events, newest first.
    pub fn newest(limit: usize) -> Self {
        AuditQuery {
            reverse: true,
            ..AuditQuery::first(limit)
        }
    }

    /// The same query, for the page after `cursor`.
    pub fn next_page(&self, cursor: Cursor) -> Self {
        AuditQuery {
            after: Some(cursor),
            ..self.clone()
        }
    }
}

/// Fails with [`Error::Forbidden`] unless `by` may read the tenant's audit trail.
async fn check_read(ttx: &TenantTx<'_>, by: Principal) -> Result<()> {
    rbac::authorize_tenant_read(ttx, by, ResourceKind::AuditEvent, AuditEvent::WHAT).await
}

/// One page of the tenant's events in commit order, within the query's positions, read by
/// `by` (see the [module documentation](self)).
pub async fn by_time(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    query: &AuditQuery,
) -> Result<Page<AuditEntry>> {
    check_read(ttx, by.into()).await?;
    let prefix = keys::audit_prefix(ttx.prefix());
    let (rows, next) = stamped_page(ttx, &prefix, query).await?;
    let items = rows
        .iter()
        .map(|kv| {
            Ok(AuditEntry {
                position: AuditPosition::of_key(&kv.key)?,
                event: value::decode(&kv.value)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { items, next })
}

/// One page of the events `actor` caused, in commit order, read by `by` (as [`by_time`]).
pub async fn by_actor(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    actor: Actor,
    query: &AuditQuery,
) -> Result<Page<AuditEntry>> {
    check_read(ttx, by.into()).await?;
    let prefix = keys::index_prefix(ttx.prefix(), keys::AUDIT_BY_ACTOR, &[actor_key_part(actor)]);
    through_index(ttx, &prefix, query).await
}

/// One page of the events about record `record_id` of `model` (its name, as in
/// [`AuditEvent::model`]), in commit order, read by `by` (as [`by_time`]).
pub async fn by_target(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    model: &str,
    record_id: Uuid,
    query: &AuditQuery,
) -> Result<Page<AuditEntry>> {
    check_read(ttx, by.into()).await?;
    let values: [KeyPart; 2] = [model.into(), record_id.into()];
    let prefix = keys::index_prefix(ttx.prefix(), keys::AUDIT_BY_TARGET, &values);
    through_index(ttx, &prefix, query).await
}

/// Resolves a page of index entries to their events.
async fn through_index(
    ttx: &TenantTx<'_>,
    prefix: &[u8],
    query: &AuditQuery,
) -> Result<Page<AuditEntry>> {
    let (rows, next) = stamped_page(ttx, prefix, query).await?;
    let events = keys::audit_prefix(ttx.prefix());
    let mut items = Vec::with_capacity(rows.len());
    for kv in &rows {
        let position = AuditPosition::of_key(&kv.key)?;
        let bytes = ttx
            .get(&position.key_under(&events), true)
            .await?
            .ok_or_else(|| Error::Decode {
                what: "audit index",
                reason: format!("entry points at missing event {position}"),
                source: None,
            })?;
        items.push(AuditEntry {
            position,
            event: value::decode(&bytes)?,
        });
    }
    Ok(Page { items, next })
}

/// One page of the keys under `prefix` that end in a versionstamp, as `query` selects them.
/// The cursor is the last row's position, so it never leads outside `prefix`.
async fn stamped_page(
    ttx: &TenantTx<'_>,
    prefix: &[u8],
    query: &AuditQuery,
) -> Result<(Vec<KeyValue>, Option<Cursor>)> {
    let limit = match query.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    let mut lo = match query.from {
        Some(from) => from.key_under(prefix),
        None => prefix.to_vec(),
    };
    let mut hi = match query.to {
        Some(to) => to.key_under(prefix),
        None => keys::prefix_range_end(prefix)?,
    };
    if let Some(cursor) = &query.after {
        let last = cursor_position(cursor)?;
        if query.reverse {
            hi = hi.min(last.key_under(prefix));
        } else {
            lo = lo.max(last.key_after_under(prefix));
        }
    }
    // One row past the limit tells whether another page follows.
    let options = RangeOptions {
        limit: limit + 1,
        reverse: query.reverse,
        snapshot: true,
    };
    let mut rows: Vec<KeyValue> = RangeWalk::new(&lo, &hi, options).collect(ttx).await?;
    let cursor = if rows.len() > limit {
        rows.truncate(limit);
        match rows.last() {
            Some(kv) => Some(Cursor::from_bytes(
                AuditPosition::of_key(&kv.key)?.to_bytes().to_vec(),
            )),
            None => None,
        }
    } else {
        None
    };
    Ok((rows, cursor))
}

fn cursor_position(cursor: &Cursor) -> Result<AuditPosition> {
    let bytes: [u8; 12] = cursor
        .as_bytes()
        .try_into()
        .map_err(|_| Error::InvalidInput {
            field: "cursor",
            reason: format!(
                "an audit cursor is 12 bytes, not {}",
                cursor.as_bytes().len()
            ),
        })?;
    Ok(AuditPosition::from_bytes(bytes))
}
