//! [`Principal`]: who is asking, and how they proved it.
//!
//! Every operation of the record layer, reads included, takes a principal, and
//! [`rbac`](crate::rbac) decides from it. A principal is one of:
//!
//! | principal | made by | may |
//! |---|---|---|
//! | [`Principal::system`] | the crate's own operations (provisioning, tenant operations) and trusted tools | everything |
//! | [`Principal::operator`] | the platform operator (the `coditect` command) | read; change a tenant's status; run tenant operations; never write a tenant's records |
//! | [`Principal::member`] | a service that authenticated the member itself (a password check it did) | what the member's grants allow |
//! | [`session::authenticate`](crate::model::session::authenticate) | a session token | the same, while the session is valid |
//! | [`api_key::authenticate`](crate::model::api_key::authenticate) | an API-key secret | the member's rights intersected with the key's scopes, while the key is valid |
//!
//! The credential travels with the principal and is checked again in every transaction that
//! uses it (one read of the session or key, in the read set: a revocation conflicts with a
//! request still using the credential). A key-authenticated principal cannot forget its
//! scopes: there is no way to turn it into a plain member principal but by building one with
//! [`Principal::member`], which a request handler holding only a secret has no reason to do.

use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::ids::{ApiKeyId, MemberId, SessionId};

/// How a member principal proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Credential {
    /// The calling service authenticated the member itself and vouches for it.
    Trusted,
    /// A session token, looked up by its hash.
    Session(SessionId),
    /// An API-key secret, looked up by its hash; the key's scopes narrow the member's rights.
    ApiKey(ApiKeyId),
}

/// Who is asking: see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Principal {
    /// The platform itself: the crate's own operations. Allowed everything.
    System,
    /// The platform operator: reads, tenant status and tenant operations, no record writes.
    Operator,
    /// A member of the tenant (human or agent), with how it authenticated.
    Member {
        /// The member.
        member: MemberId,
        /// How it proved it.
        credential: Credential,
    },
}

impl Principal {
    /// The platform itself (provisioning, tenant operations, tools that own the store).
    pub const fn system() -> Self {
        Principal::System
    }

    /// The platform operator.
    pub const fn operator() -> Self {
        Principal::Operator
    }

    /// Member `member`, authenticated by the calling service itself ([`Credential::Trusted`]).
    pub const fn member(member: MemberId) -> Self {
        Principal::Member {
            member,
            credential: Credential::Trusted,
        }
    }

    /// Member `member` acting through session `session`.
    pub const fn with_session(member: MemberId, session: SessionId) -> Self {
        Principal::Member {
            member,
            credential: Credential::Session(session),
        }
    }

    /// Member `member` acting through API key `key` (its scopes apply).
    pub const fn with_api_key(member: MemberId, key: ApiKeyId) -> Self {
        Principal::Member {
            member,
            credential: Credential::ApiKey(key),
        }
    }

    /// Who the audit trail names: the member, or the system for the platform and operator.
    pub const fn actor(self) -> Actor {
        match self {
            Principal::System | Principal::Operator => Actor::System,
            Principal::Member { member, .. } => Actor::Member(member),
        }
    }

    /// The member acting, if a member is.
    pub const fn member_id(self) -> Option<MemberId> {
        match self {
            Principal::Member { member, .. } => Some(member),
            _ => None,
        }
    }
}

/// An [`Actor`] as a principal: the system, or a member the caller authenticated itself
/// ([`Principal::member`]).
impl From<Actor> for Principal {
    fn from(actor: Actor) -> Self {
        match actor {
            Actor::System => Principal::System,
            Actor::Member(member) => Principal::member(member),
        }
    }
}

impl From<&Principal> for Principal {
    fn from(principal: &Principal) -> Self {
        *principal
    }
}
