//! What sessions and API keys share: each is found by the SHA-256 of a secret its holder
//! presents (never stored), is valid until revoked or expired, and speaks for one member, who
//! must still be able to act. [`find_valid`] is the one lookup both `authenticate`s use.

use crate::audit::digest;
use crate::error::{Error, Result};
use crate::ids::MemberId;
use crate::model::api_key::hex;
use crate::model::member;
use crate::record::{self, IndexDef, Model};
use crate::tenant_tx::TenantTx;

/// A credential record looked up by its secret's hash.
pub(crate) trait BySecret: Model {
    /// The unique index of the secret's hash (lower-case hex).
    const BY_SECRET_HASH: IndexDef<Self>;
    /// What [`Error::Unauthenticated`] says when no record has the hash.
    const UNKNOWN: &'static str;
    /// The member it speaks for.
    fn member(&self) -> MemberId;
    /// [`Error::Unauthenticated`] unless unrevoked and unexpired at `now_ms`.
    fn check_valid(&self, now_ms: i64) -> Result<()>;
}

/// The credential whose secret is `secret`, if one exists, is valid at `now_ms` and its member
/// may act (a disabled user's credentials stop working); otherwise
/// [`Error::Unauthenticated`]. One index read, then the member.
pub(crate) async fn find_valid<C: BySecret>(
    ttx: &TenantTx<'_>,
    secret: &str,
    now_ms: i64,
) -> Result<C> {
    let hash = hex(&digest(secret.as_bytes()));
    let found = record::find_unique_unchecked(ttx, &C::BY_SECRET_HASH, &[hash.into()])
        .await?
        .ok_or(Error::Unauthenticated { reason: C::UNKNOWN })?;
    found.check_valid(now_ms)?;
    member::check_may_act(ttx, found.member()).await?;
    Ok(found)
}
