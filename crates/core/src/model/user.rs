//! User: a human login of a tenant. Email unique in the tenant (lower-cased, validated); role;
//! Argon2id password hash.
//!
//! The hash lives apart from the record, at `(tenant, "cred", user_id)`: the `User` struct has
//! no hash field, so no get, listing or audit digest can ever carry it. Hashing costs tens of
//! milliseconds by design, so it is its own operation ([`set_password`]), never part of
//! creating a user (invited users have no password yet).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id cost parameters, for [`set_password_with`] and [`hash_password`]
/// (`Argon2Params::default()` is the production choice).
pub use argon2::Params as Argon2Params;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditAction};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::keys::{self, KeyPart};
use crate::model::member::Member;
use crate::principal::Principal;
use crate::rbac::{self, Action, Resource, ResourceKind, Scope};
use crate::record::{self, check_len, check_quota, IndexDef, Model, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};

/// What a user may do anywhere in the tenant, before any role assignment: a tenant-wide
/// baseline, as if the user held the built-in access role of the same standing
/// ([`built_in_roles`](crate::model::role::built_in_roles)) at the root entity. UserRole
/// assignments add to it, at the entities they name. The baseline is fixed by the code (a
/// tenant's edits of its built-in roles change assignments, not this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserRole {
    /// Everything in the tenant (the built-in `admin` role, and nothing can narrow it but an
    /// API key's scopes).
    Admin,
    /// Does the work everywhere: the built-in `contributor` role's permissions tenant-wide
    /// (reads everything; creates and updates tasks, comments, files, agent runs,
    /// conversations and messages).
    Developer,
    /// Runs the work everywhere: the built-in `maintainer` role's permissions tenant-wide.
    Manager,
    /// Reads everything: the built-in `viewer` role's permissions tenant-wide.
    Viewer,
    /// Nothing beyond the user's role assignments: for users whose rights are given per
    /// entity (a contractor on one team), exactly as an agent's are.
    Guest,
}

impl UserRole {
    /// The built-in access role whose permissions this user role grants tenant-wide
    /// (`None`: a guest, granted nothing by its user role).
    pub fn built_in_role(self) -> Option<&'static str> {
        match self {
            UserRole::Admin => Some("admin"),
            UserRole::Manager => Some("maintainer"),
            UserRole::Developer => Some("contributor"),
            UserRole::Viewer => Some("viewer"),
            UserRole::Guest => None,
        }
    }
}

/// Whether the user can log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserStatus {
    /// Created, no password set yet.
    Invited,
    /// Has a password.
    Active,
    /// Blocked.
    Disabled,
}

/// A user of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Lower-case email, unique in the tenant.
    pub email: String,
    /// Display name, 1 to 200 bytes (UTF-8).
    pub name: String,
    /// Its role.
    pub role: UserRole,
    /// Invited, active or disabled.
    pub status: UserStatus,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl User {
    /// An invited user with a fresh id.
    #[track_caller]
    pub fn new(email: impl Into<String>, name: impl Into<String>, role: UserRole) -> Self {
        User {
            id: UserId::generate(),
            email: email.into(),
            name: name.into(),
            role,
            status: UserStatus::Invited,
            stamps: Timestamps::default(),
        }
    }

    /// The unique email index.
    pub const BY_EMAIL: IndexDef<User> = IndexDef {
        name: "user_by_email",
        field: "email",
        unique: true,
        values: |u| Some(vec![KeyPart::Str(u.email.clone())]),
    };
}

impl Versioned for User {
    const WHAT: &'static str = "user";
    /// 2: the user role grants its tenant-wide baseline. Version 1 stored the same fields,
    /// but only `Admin` had any effect, so a v1 Developer, Manager or Viewer reads back as a
    /// [`Guest`](UserRole::Guest): an upgrade changes no one's rights.
    const SCHEMA_VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self> {
        match version {
            1 => {
                let mut user: User = value::postcard_exact(Self::WHAT, bytes)?;
                if user.role != UserRole::Admin {
                    user.role = UserRole::Guest;
                }
                Ok(user)
            }
            other => Err(value::unknown_version(Self::WHAT, other)),
        }
    }
}

/// Trims and lower-cases an email and checks its shape: one `@`, a non-empty local part, a
/// domain with a dot, no spaces or control characters, at most 254 characters.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let invalid = |reason: &str| Error::InvalidInput {
        field: "email",
        reason: reason.into(),
    };
    check_len("user", "email", &email, 3, 254)?;
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains spaces or control characters"));
    }
    let (local, domain) = email.split_once('@').ok_or_else(|| invalid("has no @"))?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(invalid("needs one @ after a local part of 1 to 64 bytes"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err(invalid("the domain needs dot-separated, non-empty labels"));
    }
    Ok(email)
}

#[async_trait]
impl Model for User {
    const COLLECTION: &'static str = "user";
    const INDEXES: &'static [IndexDef<Self>] = &[User::BY_EMAIL];
    type Id = UserId;
    const RESOURCE: ResourceKind = ResourceKind::User;

    crate::record::id_and_stamps!(UserId);
    fn normalize(&mut self) {
        // Only canonicalises; validate() reports a malformed address.
        self.email = self.email.trim().to_lowercase();
    }
    fn validate(&self) -> Result<()> {
        normalize_email(&self.email)?;
        check_len(Self::WHAT, "name", &self.name, 1, 200)
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if before.is_none() {
            check_quota(
                ttx,
                "users",
                Self::COLLECTION,
                ttx.tenant().quotas.max_users,
            )
            .await?;
        }
        Ok(())
    }
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        ttx.clear(&credential_key(ttx, self.id))
    }
}

/// The user with `email` (any case), or `None`.
pub async fn by_email(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    email: &str,
) -> Result<Option<User>> {
    let email = normalize_email(email)?;
    record::find_unique(ttx, by, &User::BY_EMAIL, &[KeyPart::Str(email)]).await
}

/// A stored password hash (PHC string: algorithm, parameters, salt and hash).
#[derive(Serialize, Deserialize)]
struct Credential {
    phc: String,
}

impl Versioned for Credential {
    const WHAT: &'static str = "credential";
    const SCHEMA_VERSION: u8 = 1;
}

fn credential_key(ttx: &TenantTx<'_>, user: UserId) -> Vec<u8> {
    keys::record_key(ttx.prefix(), keys::CREDENTIALS, user.uuid())
}

/// Argon2id with the given parameters (v0x13).
fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with Argon2id and `params` and a fresh random salt, as a PHC string.
pub fn hash_password(password: &str, params: Params) -> Result<String> {
    check_len("user", "password", password, 8, 1024)?;
    // A v4 UUID is 122 bits from the operating system's CSPRNG: a unique salt. Replayed
    // across a run's attempts, so a retried password change stores the same hash.
    let salt =
        SaltString::encode_b64(crate::replay::uuid_v4().as_bytes()).map_err(|e| Error::Encode {
            what: "password salt",
            source: Box::new(e),
        })?;
    let hash = argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Encode {
            what: "password hash",
            source: Box::new(e),
        })?;
    Ok(hash.to_string())
}

/// Sets the password of `user` with the production Argon2id parameters
/// ([`Params::default`]: 19 MiB, 2 passes, 1 lane, OWASP's recommendation).
pub async fn set_password(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    user: UserId,
    password: &str,
) -> Result<()> {
    set_password_with(ttx, by, user, password, Params::default()).await
}

/// Sets the password of `user` hashed with `params` (tests use cheaper ones; verification
/// reads the parameters from the stored hash). An invited user becomes active. Audited
/// without any digest of the hash. Setting the password a user already has changes nothing.
pub async fn set_password_with(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    user: UserId,
    password: &str,
    params: Params,
) -> Result<()> {
    let operation = || format!("password change of user {}", user.uuid());
    let change = set_password_inner(ttx, by.into(), user, password, params);
    ttx.atomically(operation, change).await
}

async fn set_password_inner(
    ttx: &TenantTx<'_>,
    by: Principal,
    user: UserId,
    password: &str,
    params: Params,
) -> Result<()> {
    let actor = by.actor();
    audit::check_actor(ttx, actor).await?;
    let mut record = record::require_unchecked::<User>(ttx, user).await?;
    check_password_change(ttx, by, &record).await?;
    if record.status != UserStatus::Invited && stored_password_matches(ttx, user, password).await? {
        // The password is already this one: nothing changes, nothing is audited (as for an
        // update that changes nothing). This costs one verification per change, and is what
        // makes a retry after CommitUnknownResult exactly-once: whether the earlier attempt
        // committed or not, the outcome is the same (without it, a retry hashed again with a
        // new salt and audited the change twice).
        return Ok(());
    }
    let phc = hash_password(password, params)?;
    ttx.set(
        &credential_key(ttx, user),
        &value::encode(&Credential { phc })?,
    )?;
    audit::write(
        ttx,
        actor,
        AuditAction::SetPassword,
        User::WHAT,
        user.uuid(),
        None,
        None,
    )?;
    if record.status == UserStatus::Invited {
        // Activation is part of the password change authorized above.
        record.status = UserStatus::Active;
        record::update_authorized(ttx, by, record).await?;
    }
    Ok(())
}

/// Who may set a user's password: the user's own member (within its key's scopes), or a
/// member who may act for others on users (tenant Admins), or the system.
async fn check_password_change(ttx: &TenantTx<'_>, by: Principal, user: &User) -> Result<()> {
    let owner = record::find_unique_unchecked(ttx, &Member::BY_USER, &[user.id.uuid().into()])
        .await?
        .map(|member: Member| member.id);
    let resource = Resource {
        owner,
        private: true,
        self_service: true,
        ..Resource::new(
            ResourceKind::User,
            User::WHAT,
            user.id.uuid(),
            Scope::Tenant,
        )
    };
    rbac::authorize(ttx, by, Action::Update, &resource).await
}

/// Whether `password` is the password of `user`. False when the user has no password or is
/// disabled; [`Error::NotFound`] when there is no such user.
pub async fn verify_password(ttx: &TenantTx<'_>, user: UserId, password: &str) -> Result<bool> {
    let record = record::require_unchecked::<User>(ttx, user).await?;
    if record.status == UserStatus::Disabled {
        return Ok(false);
    }
    stored_password_matches(ttx, user, password).await
}

/// Whether `user` has a stored password hash and `password` matches it.
async fn stored_password_matches(ttx: &TenantTx<'_>, user: UserId, password: &str) -> Result<bool> {
    let Some(bytes) = ttx.get(&credential_key(ttx, user), false).await? else {
        return Ok(false);
    };
    let credential: Credential = value::decode(&bytes)?;
    let hash = PasswordHash::new(&credential.phc).map_err(|e| Error::Decode {
        what: "password hash",
        reason: "not a PHC string".into(),
        source: Some(Box::new(e)),
    })?;
    match Argon2::default().verify_password(password.as_bytes(), &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Decode {
            what: "password hash",
            reason: "cannot be verified".into(),
            source: Some(Box::new(e)),
        }),
    }
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;

    fn stored_as_v1(user: &User) -> Vec<u8> {
        let mut bytes = vec![1];
        bytes.extend(postcard::to_stdvec(user).expect("encode"));
        bytes
    }

    #[test]
    fn a_v1_user_keeps_its_rights_as_a_guest_unless_admin() {
        for (stored, read) in [
            (UserRole::Developer, UserRole::Guest),
            (UserRole::Manager, UserRole::Guest),
            (UserRole::Viewer, UserRole::Guest),
            (UserRole::Admin, UserRole::Admin),
        ] {
            let user = User::new("old@acme.test", "Old", stored);
            let back: User = value::decode(&stored_as_v1(&user)).expect("decode v1");
            assert_eq!(back.role, read, "{stored:?}");
            assert_eq!(back.email, user.email);
        }
        let user = User::new("new@acme.test", "New", UserRole::Developer);
        let back: User = value::decode(&value::encode(&user).expect("encode")).expect("decode");
        assert_eq!(
            back.role,
            UserRole::Developer,
            "today's version keeps the role"
        );
    }
}
