//! ApiKey: a member's key for programs. Only the SHA-256 of the secret is stored, indexed
//! (unique) for the lookup; the secret itself is returned once, by [`ApiKey::generate`], and
//! never stored, listed or audited. Keys carry scopes (permissions they are limited to), an
//! optional expiry and a revocation; [`authenticate`] refuses unknown, expired and revoked
//! keys with [`Error::Unauthenticated`].

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::digest;
use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, MemberId};
use crate::keys::KeyPart;
use crate::model::member::Member;
use crate::model::secret;
use crate::principal::Principal;
use crate::rbac::{Permission, ResourceKind};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// What every secret starts with, so leaked keys are easy to recognise.
pub const SECRET_PREFIX: &str = "cdk_";

/// An API key (its secret's hash only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// Whose key it is: it acts as this member.
    pub member: MemberId,
    /// Display name, 1 to 200 bytes (UTF-8).
    pub name: String,
    /// SHA-256 of the secret.
    pub key_hash: [u8; 32],
    /// The first 12 characters of the secret, to recognise it in a list.
    pub hint: String,
    /// What it is limited to (empty: whatever its member may do).
    pub scopes: BTreeSet<Permission>,
    /// When it expires, if ever (milliseconds since the Unix epoch).
    pub expires_at_ms: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// Lower-case hex of `bytes` (how secret hashes are indexed).
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// `prefix` then 64 hex digits: 244 random bits from the operating system's generator (two
/// random v4 UUIDs), the same on every attempt of a [`run`](crate::run) body so that a
/// retried insert of the credential finds the one an earlier attempt committed. The draws
/// belong to the caller's site, so a session token and a key secret never replay each
/// other's bits.
#[track_caller]
pub(crate) fn random_secret(prefix: &str) -> String {
    let mut random = Vec::with_capacity(32);
    random.extend_from_slice(crate::replay::uuid_v4().as_bytes());
    random.extend_from_slice(crate::replay::uuid_v4().as_bytes());
    format!("{prefix}{}", hex(&random))
}

impl ApiKey {
    /// [`Error::Unauthenticated`] unless the key is unrevoked and unexpired at `now_ms`.
    pub fn check_valid(&self, now_ms: i64) -> Result<()> {
        if self.revoked {
            return Err(Error::Unauthenticated {
                reason: "the API key was revoked",
            });
        }
        if self.expires_at_ms.is_some_and(|at| now_ms >= at) {
            return Err(Error::Unauthenticated {
                reason: "the API key expired",
            });
        }
        Ok(())
    }

    /// A new key of `member` and its secret, which is shown this once: only its hash is
    /// kept. The secret holds 244 random bits from the operating system's generator (two
    /// random UUIDs). Call it outside a retry loop, so that a retry inserts the same key.
    #[track_caller]
    pub fn generate(member: MemberId, name: impl Into<String>) -> (ApiKey, String) {
        let secret = random_secret(SECRET_PREFIX);
        let key = ApiKey {
            id: ApiKeyId::generate(),
            member,
            name: name.into(),
            key_hash: digest(secret.as_bytes()),
            hint: secret.chars().take(12).collect(),
            scopes: BTreeSet::new(),
            expires_at_ms: None,
            revoked: false,
            stamps: Timestamps::default(),
        };
        (key, secret)
    }

    /// The key of a secret hash (unique).
    pub const BY_HASH: IndexDef<ApiKey> = IndexDef {
        name: "api_key_by_hash",
        field: "key_hash",
        unique: true,
        values: |k| Some(vec![KeyPart::Str(hex(&k.key_hash))]),
    };
    /// Keys of a member.
    pub const BY_MEMBER: IndexDef<ApiKey> = IndexDef {
        name: "api_key_by_member",
        field: "member",
        unique: false,
        values: |k| Some(vec![KeyPart::Uuid(k.member.uuid())]),
    };
}

impl Versioned for ApiKey {
    const WHAT: &'static str = "api key";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for ApiKey {
    const COLLECTION: &'static str = "api_key";
    const INDEXES: &'static [IndexDef<Self>] = &[ApiKey::BY_HASH, ApiKey::BY_MEMBER];
    const PRIVATE: bool = true;
    const SELF_SERVICE: bool = true;
    type Id = ApiKeyId;
    const RESOURCE: ResourceKind = ResourceKind::ApiKey;

    crate::record::id_and_stamps!(ApiKeyId);
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "name", &self.name, 1, 200)?;
        check_len(Self::WHAT, "hint", &self.hint, 0, 12)?;
        if self.key_hash == [0; 32] {
            return Err(Error::InvalidInput {
                field: "key_hash",
                reason: "not a hash".into(),
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
            if before.key_hash != self.key_hash || before.member != self.member {
                return Err(Error::InvalidInput {
                    field: "key_hash",
                    reason: "a key keeps its secret and member: make a new key".into(),
                });
            }
            if before.revoked && !self.revoked {
                return Err(Error::InvalidInput {
                    field: "revoked",
                    reason: "a revoked key stays revoked".into(),
                });
            }
        }
        Ok(())
    }
}

/// The principal of the key whose secret is `secret`, if the key exists, is not revoked,
/// has not expired at `now_ms` and its member may act (a disabled user's keys stop
/// authenticating); otherwise [`Error::Unauthenticated`]. The principal carries the key, so
/// its scopes bound everything it does. Looks up the hash: one index read.
pub async fn authenticate(ttx: &TenantTx<'_>, secret: &str, now_ms: i64) -> Result<Principal> {
    let key = secret::find_valid::<ApiKey>(ttx, secret, now_ms).await?;
    Ok(Principal::with_api_key(key.member, key.id))
}

impl secret::BySecret for ApiKey {
    const BY_SECRET_HASH: IndexDef<Self> = ApiKey::BY_HASH;
    const UNKNOWN: &'static str = "unknown API key";
    fn member(&self) -> MemberId {
        self.member
    }
    fn check_valid(&self, now_ms: i64) -> Result<()> {
        ApiKey::check_valid(self, now_ms)
    }
}

/// Revokes key `id`.
pub async fn revoke(ttx: &TenantTx<'_>, by: impl Into<Principal>, id: ApiKeyId) -> Result<ApiKey> {
    let by = by.into();
    let mut key = record::require::<ApiKey>(ttx, by, id).await?;
    key.revoked = true;
    record::update(ttx, by, key).await
}

/// One page of the keys of `member`.
pub async fn by_member(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<ApiKey>> {
    record::list_by(
        ttx,
        by,
        &ApiKey::BY_MEMBER,
        &[member.uuid().into()],
        request,
    )
    .await
}
