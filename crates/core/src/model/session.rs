//! Session: a member's login session, with an expiry and a revocation.
//!
//! The session's bearer token is a random secret ([`Session::generate`] returns it once);
//! only its SHA-256 is stored, indexed (unique) for the lookup. The session's id is not a
//! secret: it names the session in lists and in the audit trail, and cannot log anyone in.
//! [`authenticate`] refuses an unknown, expired or revoked token, and a disabled user's,
//! with [`Error::Unauthenticated`], and returns the [`Principal`] the request acts as; a
//! revoked session stays revoked.
//!
//! Version 1 had no token hash (its id was the token, readable by anyone who could list
//! sessions): such a session decodes with no hash and can never authenticate again.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::digest;
use crate::error::{Error, Result};
use crate::ids::{MemberId, SessionId};
use crate::keys::KeyPart;
use crate::model::api_key::{hex, random_secret};
use crate::model::member::Member;
use crate::model::secret;
use crate::principal::Principal;
use crate::rbac::ResourceKind;
use crate::record::{
    self, check_len, now_ms, IndexDef, Model, Page, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::{postcard_exact, unknown_version, Versioned};

/// A login session of a member (schema version 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id: names the session, is not its token.
    pub id: SessionId,
    /// Whose session it is.
    pub member: MemberId,
    /// SHA-256 of its token (all zeros: no token, never authenticates).
    pub token_hash: [u8; 32],
    /// When it expires, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
    /// The client that opened it, up to 500 bytes (UTF-8).
    pub user_agent: String,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// A session as version 1 stored it. Frozen: it describes bytes on disk.
#[derive(Deserialize)]
struct SessionV1 {
    id: SessionId,
    member: MemberId,
    expires_at_ms: i64,
    revoked_at_ms: Option<i64>,
    user_agent: String,
    stamps: Timestamps,
}

/// What every session token starts with, so a leaked one is easy to recognise.
pub const TOKEN_PREFIX: &str = "cds_";

impl Session {
    /// A new session of `member` valid until `expires_at_ms`, and its token, which is
    /// shown this once: only its hash is kept. The token holds 244 random bits from the
    /// operating system's generator.
    #[track_caller]
    pub fn generate(member: MemberId, expires_at_ms: i64) -> (Session, String) {
        let token = random_secret(TOKEN_PREFIX);
        let session = Session {
            id: SessionId::generate(),
            member,
            token_hash: digest(token.as_bytes()),
            expires_at_ms,
            revoked_at_ms: None,
            user_agent: String::new(),
            stamps: Timestamps::default(),
        };
        (session, token)
    }

    /// [`Error::Unauthenticated`] unless the session is unrevoked and unexpired at `now_ms`.
    pub fn check_valid(&self, now_ms: i64) -> Result<()> {
        if self.revoked_at_ms.is_some() {
            return Err(Error::Unauthenticated {
                reason: "the session was revoked",
            });
        }
        if now_ms >= self.expires_at_ms {
            return Err(Error::Unauthenticated {
                reason: "the session expired",
            });
        }
        Ok(())
    }

    /// Sessions by their token's hash (unique; sessions without a token have no entry).
    pub const BY_TOKEN_HASH: IndexDef<Session> = IndexDef {
        name: "session_by_token_hash",
        field: "token_hash",
        unique: true,
        values: |s| (s.token_hash != [0; 32]).then(|| vec![KeyPart::Str(hex(&s.token_hash))]),
    };

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
    const SCHEMA_VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self> {
        match version {
            1 => {
                let v1: SessionV1 = postcard_exact(Self::WHAT, bytes)?;
                Ok(Session {
                    id: v1.id,
                    member: v1.member,
                    // Its id was its token, readable by anyone who could list sessions: it
                    // gets no token, so it never authenticates again.
                    token_hash: [0; 32],
                    expires_at_ms: v1.expires_at_ms,
                    revoked_at_ms: v1.revoked_at_ms,
                    user_agent: v1.user_agent,
                    stamps: v1.stamps,
                })
            }
            other => Err(unknown_version(Self::WHAT, other)),
        }
    }
}

#[async_trait]
impl Model for Session {
    const COLLECTION: &'static str = "session";
    const INDEXES: &'static [IndexDef<Self>] = &[Session::BY_MEMBER, Session::BY_TOKEN_HASH];
    const PRIVATE: bool = true;
    const SELF_SERVICE: bool = true;
    type Id = SessionId;
    const RESOURCE: ResourceKind = ResourceKind::Session;

    crate::record::id_and_stamps!(SessionId);
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "user_agent", &self.user_agent, 0, 500)?;
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
    fn owner(&self) -> Option<MemberId> {
        Some(self.member)
    }
    async fn before_write(&self, _ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(before) = before {
            if before.member != self.member || before.token_hash != self.token_hash {
                return Err(Error::InvalidInput {
                    field: "member",
                    reason: "a session keeps its member and token".into(),
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

/// The principal of the session whose token is `token`, if the session exists, is not
/// revoked, has not expired at `now_ms` and its member may act (a disabled user's sessions
/// stop authenticating); otherwise [`Error::Unauthenticated`]. Looks up the token's hash:
/// one index read. The principal's credential is checked again by every operation it does.
pub async fn authenticate(ttx: &TenantTx<'_>, token: &str, now_ms: i64) -> Result<Principal> {
    let session = secret::find_valid::<Session>(ttx, token, now_ms).await?;
    Ok(Principal::with_session(session.member, session.id))
}

impl secret::BySecret for Session {
    const BY_SECRET_HASH: IndexDef<Self> = Session::BY_TOKEN_HASH;
    const UNKNOWN: &'static str = "unknown session";
    fn member(&self) -> MemberId {
        self.member
    }
    fn check_valid(&self, now_ms: i64) -> Result<()> {
        Session::check_valid(self, now_ms)
    }
}

/// Revokes session `id` now (revoking it again changes nothing).
pub async fn revoke(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: SessionId,
) -> Result<Session> {
    let by = by.into();
    let mut session = record::require::<Session>(ttx, by, id).await?;
    if session.revoked_at_ms.is_none() {
        session.revoked_at_ms = Some(now_ms());
    }
    record::update(ttx, by, session).await
}

/// One page of the sessions of `member`.
pub async fn by_member(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<Session>> {
    record::list_by(
        ttx,
        by,
        &Session::BY_MEMBER,
        &[member.uuid().into()],
        request,
    )
    .await
}
