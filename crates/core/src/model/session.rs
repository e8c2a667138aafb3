//! Session: a member's login session, with an expiry and a revocation. [`authenticate`]
//! refuses an unknown, expired or revoked session with [`Error::Unauthenticated`]; a revoked
//! session stays revoked.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::error::{Error, Result};
use crate::ids::{MemberId, SessionId};
use crate::keys::KeyPart;
use crate::model::member::Member;
use crate::rbac::ResourceKind;
use crate::record::{
    self, check_len, now_ms, IndexDef, Model, Page, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// A login session of a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id (the session token's lookup key).
    pub id: SessionId,
    /// Whose session it is.
    pub member: MemberId,
    /// When it expires, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
    /// The client that opened it, up to 500 characters.
    pub user_agent: String,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Session {
    /// A session of `member` valid until `expires_at_ms`, with a fresh id.
    pub fn new(member: MemberId, expires_at_ms: i64) -> Self {
        Session {
            id: SessionId::generate(),
            member,
            expires_at_ms,
            revoked_at_ms: None,
            user_agent: String::new(),
            stamps: Timestamps::default(),
        }
    }

    /// Sessions of a member.
    pub const BY_MEMBER: IndexDef<Session> = IndexDef {
        name: "session_by_member",
        field: "member",
        unique: false,
        values: |s| Some(vec![KeyPart::Uuid(s.member.uuid())]),
    };
}

impl Versioned for Session {
    const WHAT: &'static str = "session";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Session {
    const COLLECTION: &'static str = "session";
    const INDEXES: &'static [IndexDef<Self>] = &[Session::BY_MEMBER];
    type Id = SessionId;
    const RESOURCE: ResourceKind = ResourceKind::Session;

    fn id(&self) -> SessionId {
        self.id
    }
    fn timestamps(&self) -> Timestamps {
        self.stamps
    }
    fn timestamps_mut(&mut self) -> &mut Timestamps {
        &mut self.stamps
    }
    fn validate(&self) -> Result<()> {
        check_len("user_agent", &self.user_agent, 0, 500)?;
        if self.expires_at_ms <= 0 {
            return Err(Error::InvalidInput {
                field: "expires_at_ms",
                reason: "must be a time after the Unix epoch".into(),
            });
        }
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        vec![Reference::to::<Member>("member", self.member)]
    }
    async fn before_write(&self, _ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(before) = before {
            if before.member != self.member {
                return Err(Error::InvalidInput {
                    field: "member",
                    reason: "a session keeps its member".into(),
                });
            }
            if before.revoked_at_ms.is_some() && self.revoked_at_ms != before.revoked_at_ms {
                return Err(Error::InvalidInput {
                    field: "revoked_at_ms",
                    reason: "a revoked session stays revoked".into(),
                });
            }
        }
        Ok(())
    }
}

/// The session `id` if it exists, is not revoked and has not expired at `now_ms`; otherwise
/// [`Error::Unauthenticated`].
pub async fn authenticate(ttx: &TenantTx<'_>, id: SessionId, now_ms: i64) -> Result<Session> {
    let session = record::get::<Session>(ttx, id)
        .await?
        .ok_or(Error::Unauthenticated {
            reason: "unknown session",
        })?;
    if session.revoked_at_ms.is_some() {
        return Err(Error::Unauthenticated {
            reason: "the session was revoked",
        });
    }
    if now_ms >= session.expires_at_ms {
        return Err(Error::Unauthenticated {
            reason: "the session expired",
        });
    }
    Ok(session)
}

/// Revokes session `id` now (revoking it again changes nothing).
pub async fn revoke(ttx: &TenantTx<'_>, actor: Actor, id: SessionId) -> Result<Session> {
    let mut session = record::require::<Session>(ttx, id).await?;
    if session.revoked_at_ms.is_none() {
        session.revoked_at_ms = Some(now_ms());
    }
    record::update(ttx, actor, session).await
}

/// One page of the sessions of `member`.
pub async fn by_member(
    ttx: &TenantTx<'_>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<Session>> {
    record::list_by(ttx, &Session::BY_MEMBER, &[member.uuid().into()], request).await
}
