//! Audit events: every mutation through the record layer writes one, in the same transaction.
//!
//! The key is `(tenant, "audit", versionstamp)`, written with `set_versionstamped_key`: the
//! commit fills in the stamp, so appending reads nothing and two writers in one tenant never
//! conflict on it, and events sort in commit order. The user version of the stamp orders the
//! events of one transaction. Values hold SHA-256 digests of the record bytes before and
//! after, never the records themselves (password hashes live apart from user records, so no
//! digest covers them).
//!
//! Each event also writes one entry in each of two indexes, by actor and by target record,
//! at versionstamped keys ending in the event's own stamp: still no read, no conflict.
//! [`query`] reads the trail by time, actor or target; [`seal`](mod@seal) extends a per-tenant SHA-256
//! hash chain over the events; [`verify`](mod@verify) recomputes it and names the first event that was
//! changed, removed, inserted or reordered, checks the indexes against the events, and checks a
//! [`Receipt`] kept outside the system, across a restore too ([`carried`]). Only this module
//! (and import, which regenerates the trail) writes any of it: [`TenantTx`]'s public writes
//! refuse the events, the indexes and the seal state.

pub mod carried;
mod position;
pub mod query;
pub mod seal;
pub mod verify;

pub use position::AuditPosition;
pub use query::{AuditEntry, AuditQuery};
pub use seal::{seal, SealHead, SealOptions, SealReport};
pub use verify::{
    receipt, verify, verify_receipt, Receipt, Restored, Tamper, TamperKind, Verdict, Verified,
    VerifyOptions,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ids::MemberId;
use crate::keys::{self, KeyPart, TenantId};
use crate::kv::RetryOptions;
use crate::kv::{KvBackend, Transaction};
use crate::model::member::Member;
use crate::rbac::Action;
use crate::record::{self, now_ms};
use crate::run;
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};

/// Who did it: a member of the tenant (human or agent) or the system itself (provisioning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// The platform, acting on no member's behalf.
    System,
    /// A member of the tenant.
    Member(MemberId),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::System => f.write_str("the platform"),
            Actor::Member(member) => write!(f, "member {member}"),
        }
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    /// A record was created.
    Create,
    /// A record was replaced.
    Update,
    /// A record was deleted.
    Delete,
    /// A user's password was set (digests cover nothing of the hash).
    SetPassword,
    /// The member was refused the action ([`Error::Forbidden`]); nothing was written.
    Denied(Action),
}

impl std::fmt::Display for AuditAction {
    /// `create`, `update`, `delete`, `password`, or `denied:` and the refused action in lower
    /// case (`denied:update`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditAction::Create => f.write_str("create"),
            AuditAction::Update => f.write_str("update"),
            AuditAction::Delete => f.write_str("delete"),
            AuditAction::SetPassword => f.write_str("password"),
            AuditAction::Denied(action) => {
                write!(f, "denied:{}", format!("{action:?}").to_lowercase())
            }
        }
    }
}

/// One audited mutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who did it.
    pub actor: Actor,
    /// What was done.
    pub action: AuditAction,
    /// The model's name.
    pub model: String,
    /// The record's id.
    pub record_id: Uuid,
    /// SHA-256 of the stored bytes before, if the record existed.
    pub before: Option<[u8; 32]>,
    /// SHA-256 of the stored bytes after, if the record still exists.
    pub after: Option<[u8; 32]>,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl Versioned for AuditEvent {
    const WHAT: &'static str = "audit event";
    const SCHEMA_VERSION: u8 = 1;
}

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Fails unless `actor` is the system or a member of this tenant.
pub(crate) async fn check_actor(ttx: &TenantTx<'_>, actor: Actor) -> Result<()> {
    if let Actor::Member(member) = actor {
        if !record::exists::<Member>(ttx, member).await? {
            return Err(Error::InvalidReference {
                model: AuditEvent::WHAT,
                field: "actor",
                target: "member",
                id: member.uuid(),
            });
        }
    }
    Ok(())
}

/// Buffers one audit event at a versionstamped key of the tenant.
pub fn write(
    ttx: &TenantTx<'_>,
    actor: Actor,
    action: AuditAction,
    model: &str,
    record_id: Uuid,
    before: Option<&[u8]>,
    after: Option<&[u8]>,
) -> Result<()> {
    let event = AuditEvent {
        actor,
        action,
        model: model.to_owned(),
        record_id,
        before: before.map(digest),
        after: after.map(digest),
        at_ms: now_ms(),
    };
    let sequence = ttx.next_audit_sequence()?;
    let (key, offset) = keys::audit_key(ttx.prefix(), sequence)?;
    ttx.set_versionstamped_key(&key, offset, &value::encode(&event)?)?;
    // The index entries get the event's stamp (same commit, same user version), which is how
    // a query finds the event from an entry.
    let (key, offset) = keys::audit_index_key(
        ttx.prefix(),
        keys::AUDIT_BY_ACTOR,
        &[actor_key_part(actor)],
        sequence,
    )?;
    ttx.set_versionstamped_key(&key, offset, &[])?;
    let (key, offset) = keys::audit_index_key(
        ttx.prefix(),
        keys::AUDIT_BY_TARGET,
        &[model.into(), record_id.into()],
        sequence,
    )?;
    ttx.set_versionstamped_key(&key, offset, &[])
}

/// How the actor index names an actor: the member's UUID, or nil for the system.
pub(crate) fn actor_key_part(actor: Actor) -> KeyPart {
    match actor {
        Actor::System => KeyPart::Null,
        Actor::Member(member) => KeyPart::Uuid(member.uuid()),
    }
}

/// The keys of the two index entries of `event` at `position`, under the tenant `prefix`:
/// by actor, then by target. [`verify`](verify()) checks the stored entries against them.
pub(crate) fn index_keys(
    prefix: &[u8],
    event: &AuditEvent,
    position: AuditPosition,
) -> [Vec<u8>; 2] {
    let by_actor = keys::index_prefix(prefix, keys::AUDIT_BY_ACTOR, &[actor_key_part(event.actor)]);
    let by_target = keys::index_prefix(
        prefix,
        keys::AUDIT_BY_TARGET,
        &[event.model.as_str().into(), event.record_id.into()],
    );
    [
        position.key_under(&by_actor),
        position.key_under(&by_target),
    ]
}

/// Records the denial that `result` reports, if it is one, in a retry-loop transaction of its
/// own, and hands `result` back: how [`run_in_tenant`](crate::run_in_tenant) and the
/// tenant-level operations ([`tenant::update_settings`](crate::model::tenant::update_settings))
/// audit what they refuse.
pub async fn audit_denial<T>(
    backend: &dyn KvBackend,
    options: &RetryOptions,
    tenant: TenantId,
    result: Result<T>,
) -> Result<T> {
    if let Err(error @ Error::Forbidden { .. }) = &result {
        // The denied attempt was dropped, so its writes are gone; the denial itself is
        // recorded in a small transaction of its own.
        run(backend, options, |tx| async move {
            record_denial(&*tx, tenant, error).await
        })
        .await?;
    }
    result
}

/// Records the denial that `error` reports ([`Error::Forbidden`]) as an audit event
/// ([`AuditAction::Denied`], no digests) in `tx`, a transaction of its own: the denied
/// transaction is dropped, so nothing of it commits, while its denial must. Returns whether
/// `error` was a denial. [`run_in_tenant`](crate::run_in_tenant) calls this for you; code that
/// opens its own [`TenantTx`] calls it on a fresh transaction and commits that.
///
/// After [`KvError::CommitUnknownResult`](crate::KvError::CommitUnknownResult) a retry may record the denial twice: an audit trail
/// with a repeated denial is preferred to one missing it.
pub async fn record_denial(tx: &dyn Transaction, tenant: TenantId, error: &Error) -> Result<bool> {
    let Error::Forbidden {
        actor,
        action,
        model,
        id,
    } = error
    else {
        return Ok(false);
    };
    let ttx = TenantTx::open_any_status(tx, tenant).await?;
    crate::meter::count_denial(tx, tenant)?;
    write(
        &ttx,
        *actor,
        AuditAction::Denied(*action),
        model,
        *id,
        None,
        None,
    )?;
    Ok(true)
}
