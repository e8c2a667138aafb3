//! The model layer's error: the contract's [`KvError`] (which the store reports) wrapped as
//! [`Error::Kv`], and what records, tenants, members and tenant operations can get wrong.
//!
//! The contract (the [`kv`](crate::kv) module tree) knows nothing of this type; everything
//! above it returns this one, so a caller matches one enum whatever layer refused.

use crate::kv::{KvError, RetryError};

/// Result alias used throughout the model layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in coditect-data.
///
/// [`Error::is_retryable`] tells whether running the whole transaction again may succeed; it is
/// what [`run`](crate::run) uses to decide between retrying and giving up: only contract
/// errors ([`Error::Kv`]) ever are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// What the store or the transaction reported (conflicts, limits, time-outs, I/O...): see
    /// [`KvError`].
    #[error(transparent)]
    Kv(#[from] KvError),

    /// The retry loop gave up after its attempt limit; `last` is the final attempt's error.
    #[error("gave up after {attempts} attempts")]
    RetryLimitReached {
        /// Attempts made.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<Error>,
    },

    /// A [`TenantTx`](crate::TenantTx) was asked to touch a key (or a range reaching) outside
    /// its tenant's prefix. Nothing was read or written.
    #[error("tenant violation: a key outside the prefix of tenant {tenant}")]
    TenantViolation {
        /// The tenant the transaction is scoped to.
        tenant: uuid::Uuid,
        /// The offending key (or range bound).
        key: Vec<u8>,
    },

    /// The tenant is not in the registry.
    #[error("tenant {tenant} does not exist")]
    TenantNotFound {
        /// The tenant asked for.
        tenant: uuid::Uuid,
    },

    /// The tenant exists but is not active (suspended): its data cannot be used.
    #[error("tenant {tenant} is not active")]
    TenantInactive {
        /// The tenant asked for.
        tenant: uuid::Uuid,
    },

    /// A tenant operation that spans several transactions (an export's quiesce, a staged
    /// import, an erase or a migration) holds the tenant and has not finished, so its status,
    /// settings and data are refused to everyone else until it does: letting them change
    /// mid-way would tear the backup, lose what is written when the import resumes, or bring
    /// a half-erased tenant back. Nothing was written. Not retryable: the operation has to be
    /// finished (or dropped) first, as `hint` says.
    #[error("tenant {tenant} is held by an unfinished {operation}: {hint}")]
    OperationPending {
        /// The tenant held.
        tenant: uuid::Uuid,
        /// Which operation holds it: `"export"`, `"import"`, `"erase"` or `"migrate"`.
        operation: &'static str,
        /// How to finish it (or drop it).
        hint: &'static str,
    },

    /// No record of this model has this id in the tenant.
    #[error("{model} {id} not found")]
    NotFound {
        /// The model's name.
        model: &'static str,
        /// The id asked for.
        id: uuid::Uuid,
    },

    /// A unique field already holds this value in another record.
    #[error("a {model} with this {field} already exists")]
    AlreadyExists {
        /// The model's name.
        model: &'static str,
        /// The unique field (or index) that would be duplicated.
        field: &'static str,
    },

    /// A reference does not point to an existing record of the same tenant.
    #[error("{model}.{field} refers to {target} {id}, which does not exist in this tenant")]
    InvalidReference {
        /// The referring model.
        model: &'static str,
        /// The referring field.
        field: &'static str,
        /// The model referred to.
        target: &'static str,
        /// The id referred to.
        id: uuid::Uuid,
    },

    /// A record, a field of it or an index key made from it is larger than the store or the
    /// model allows: a field over its documented byte cap, a record whose encoding passes
    /// [`MAX_VALUE_SIZE`](crate::limits::MAX_VALUE_SIZE) (`field` is then its largest field),
    /// or an index value that makes its key pass
    /// [`MAX_KEY_SIZE`](crate::limits::MAX_KEY_SIZE). Sizes are bytes (UTF-8 for text).
    /// Refused before anything of the operation was written; not retryable.
    #[error("{model}.{field} is too large: {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// The model's name.
        model: &'static str,
        /// The field at fault (the largest one when the whole record is too large).
        field: &'static str,
        /// The size found, in bytes (of the field, the encoded record or the key).
        size: usize,
        /// The limit it exceeded, in bytes.
        limit: usize,
    },

    /// A tenant an import (or a migration or copy) was about to activate fails its
    /// check (`coditect_ops::check`): it stays staged, not active. `first` is the first
    /// violation found. Not retryable.
    #[error("tenant {tenant} fails its check ({violations} violations; the first: {first}): it stays staged, not active (`tenant check` lists them, `tenant abort` drops it)")]
    Inconsistent {
        /// The tenant.
        tenant: uuid::Uuid,
        /// Violations found.
        violations: u64,
        /// The first of them, in words.
        first: String,
    },

    /// A record cannot be deleted while other records still refer to it: `by` names the
    /// first few of them (each as its model's collection, the referring field and its id).
    /// Delete them or change their references first. Nothing was written; not retryable.
    #[error("{model} {id} is still referred to by {}{}: delete or change them first", referrers(by), if *more { " and more" } else { "" })]
    StillReferenced {
        /// The model of the record that was to be deleted.
        model: &'static str,
        /// Its id.
        id: uuid::Uuid,
        /// The first records found referring to it (at most [`MAX_REFERRERS`](crate::MAX_REFERRERS)).
        by: Vec<Referrer>,
        /// Whether more records than `by` names refer to it.
        more: bool,
    },

    /// Input that breaks a rule of the model (length, format, nil id, hierarchy, cycle...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field at fault.
        field: &'static str,
        /// Which rule it breaks.
        reason: String,
    },

    /// The principal may not do the action ([`rbac`](crate::rbac): a disabled user, a key's
    /// scopes, another member's content, no grant at the resource's entity or above it, the
    /// operator writing records). Nothing of the operation was written;
    /// [`run_in_tenant`](crate::run_in_tenant) records the denial as an audit event in a
    /// transaction of its own ([`audit::record_denial`](crate::audit::record_denial)).
    #[error("forbidden: {actor} may not {action} {model} {id}")]
    Forbidden {
        /// Who tried (the system stands for the platform operator).
        actor: crate::audit::Actor,
        /// What they tried to do.
        action: crate::rbac::Action,
        /// The model of the resource.
        model: &'static str,
        /// The record's id.
        id: uuid::Uuid,
    },

    /// A session or API key that does not exist, has expired or was revoked.
    #[error("not authenticated: {reason}")]
    Unauthenticated {
        /// Why the credential was refused.
        reason: &'static str,
    },

    /// Creating one more record would exceed the tenant plan's quota.
    #[error("quota exceeded: at most {limit} {resource} on this plan")]
    QuotaExceeded {
        /// What is counted (`users`, `projects`, `agents`).
        resource: &'static str,
        /// The plan's limit.
        limit: i64,
    },

    /// Stored bytes that do not decode: an unknown schema version or corrupt data.
    #[error("cannot decode a stored {what}: {reason}")]
    Decode {
        /// What was being decoded (a model name, `key`, `cursor`...).
        what: &'static str,
        /// Why it failed.
        reason: String,
        /// The decoder's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// A value could not be encoded (postcard) or hashed (Argon2).
    #[error("cannot encode a {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An I/O failure outside the store: a backup file being written or read.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// The most referrers a [`Error::StillReferenced`] names.
pub const MAX_REFERRERS: usize = 5;

/// A record that refers to another, as [`Error::StillReferenced`] names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The collection of the referring record (its model's storage name, e.g. `task`).
    pub collection: String,
    /// The referring field (e.g. `reporter`).
    pub field: String,
    /// The referring record's id.
    pub id: uuid::Uuid,
}

impl std::fmt::Display for Referrer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} {}", self.collection, self.field, self.id)
    }
}

fn referrers(by: &[Referrer]) -> String {
    let names: Vec<String> = by.iter().map(Referrer::to_string).collect();
    names.join(", ")
}

impl Error {
    /// The contract error this is, if it is one.
    pub fn as_kv(&self) -> Option<&KvError> {
        match self {
            Error::Kv(error) => Some(error),
            _ => None,
        }
    }

    /// Whether running the whole transaction again may succeed: a contract error that
    /// [is retryable](KvError::is_retryable); nothing of the model layer is.
    pub fn is_retryable(&self) -> bool {
        self.as_kv().is_some_and(KvError::is_retryable)
    }

    /// Whether the transaction may have committed although this error was returned
    /// ([`KvError::is_maybe_committed`]).
    pub fn is_maybe_committed(&self) -> bool {
        self.as_kv().is_some_and(KvError::is_maybe_committed)
    }

    /// Whether the store is shedding load or lagging ([`KvError::is_throttled`]).
    pub fn is_throttled(&self) -> bool {
        self.as_kv().is_some_and(KvError::is_throttled)
    }
}

impl RetryError for Error {
    fn as_kv(&self) -> Option<&KvError> {
        Error::as_kv(self)
    }

    fn retry_limit_reached(attempts: u32, last: Self) -> Self {
        Error::RetryLimitReached {
            attempts,
            last: Box::new(last),
        }
    }
}
