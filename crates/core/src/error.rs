//! The one error type of coditect-data.
//!
//! Every backend maps its native failures onto these kinds, so callers (and the retry loop)
//! decide what to do without knowing which store they run on.

/// Result alias used throughout coditect-data.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in coditect-data.
///
/// [`Error::is_retryable`] tells whether running the whole transaction again may succeed; it is
/// what [`run`](crate::run) uses to decide between retrying and giving up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key or range this transaction read (not as a snapshot) was written by a transaction
    /// that committed after this one's read version (FoundationDB `not_committed`, 1020).
    #[error("transaction conflict: a key it read was written by a newer commit")]
    Conflict,

    /// The transaction's read version is older than the 5 s window
    /// (FoundationDB `transaction_too_old`, 1007).
    #[error("transaction too old: its read version is more than 5 s behind")]
    TransactionTooOld,

    /// The commit may or may not have been applied (FoundationDB `commit_unknown_result`,
    /// 1021). Retryable, so code run in the retry loop must be idempotent.
    #[error("commit result unknown: the transaction may or may not have committed")]
    CommitUnknownResult,

    /// The transaction ran past its time-out (FoundationDB `transaction_timed_out`, 1031).
    /// Not retryable, as in FoundationDB: the time-out is the caller's own budget.
    #[error("transaction timed out")]
    Timeout,

    /// The store is briefly unable to serve the transaction (FoundationDB's throttling and
    /// lagging codes: `future_version` 1009, `process_behind` 1037, `database_locked` 1038,
    /// proxy memory limits 1042 and 1078, `batch_transaction_throttled` 1051, `tag_throttled`
    /// 1213, ...). Nothing was committed; retrying after a back-off may succeed.
    #[error("store temporarily unavailable{}: {message}", code.map(|c| format!(" ({c})")).unwrap_or_default())]
    Unavailable {
        /// The store's native error code, if any.
        code: Option<i32>,
        /// What the store said.
        message: String,
    },

    /// A key longer than [`MAX_KEY_SIZE`](crate::limits::MAX_KEY_SIZE).
    #[error("key of {size} bytes exceeds the limit of {limit} bytes")]
    KeyTooLarge {
        /// The key's length.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// A value longer than [`MAX_VALUE_SIZE`](crate::limits::MAX_VALUE_SIZE).
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge {
        /// The value's length.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// The transaction's mutations and conflict ranges add up to more than
    /// [`MAX_TRANSACTION_SIZE`](crate::limits::MAX_TRANSACTION_SIZE), counted as the
    /// [limits](crate::limits) module says.
    #[error("transaction of {size} bytes (mutations and conflict ranges) exceeds the limit of {limit} bytes")]
    TransactionTooLarge {
        /// The size the transaction reached.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// A versionstamped key whose placeholder does not fit inside the key.
    #[error(
        "versionstamp offset {offset} does not leave 10 bytes inside a key of {key_len} bytes"
    )]
    InvalidVersionstampOffset {
        /// The offset given.
        offset: u32,
        /// The key's length.
        key_len: usize,
    },

    /// A read touched keys that one of this transaction's own versionstamped keys may become
    /// (FoundationDB `accessed_unreadable`, 1036): their final keys are known only at commit,
    /// so FoundationDB refuses to answer. Read before writing the versionstamped key, or
    /// outside its range ([`versionstamp_unreadable_range`](crate::versionstamp_unreadable_range)).
    /// Not retryable: the same body fails the same way again.
    #[error("read of a range that may hold this transaction's own versionstamped keys")]
    AccessedUnreadable,

    /// The transaction was used after it committed or failed to commit, or a handle to it was
    /// still held when the retry loop wanted to commit it.
    #[error("transaction already finished or still in use: {0}")]
    TransactionClosed(&'static str),

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

    /// A model operation failed after it had buffered part of its writes (the transaction's
    /// size limit refused one of them part way), so the transaction holds half an
    /// operation: it is poisoned, refuses every further write through its
    /// [`TenantTx`](crate::TenantTx), and cannot commit (through
    /// [`run_in_tenant`](crate::run_in_tenant) with this error naming the operation; a
    /// transaction committed by its owner is refused as
    /// [`TransactionTooLarge`](Error::TransactionTooLarge)). Drop it and run again, with
    /// less in one transaction. Not retryable: the same body fails the same way.
    #[error("transaction poisoned: {operation} failed part way ({cause}), so nothing of this transaction may commit")]
    TransactionPoisoned {
        /// The operation that failed (e.g. "insert of task 0192...").
        operation: String,
        /// Its error, in words.
        cause: String,
    },

    /// A tenant an import (or a migration or copy) was about to activate fails its
    /// [check](crate::ops::check()): it stays staged, not active. `first` is the first
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

    /// An I/O failure of the underlying store.
    #[error("storage I/O error")]
    Io(#[from] std::io::Error),

    /// Any other failure of the underlying store, with its native code where it has one.
    #[error("backend error{}: {message}", code.map(|c| format!(" {c}")).unwrap_or_default())]
    Backend {
        /// The store's native error code, if any (FoundationDB's `fdb_error_t`).
        code: Option<i32>,
        /// What the store said.
        message: String,
        /// The store's own error, kept for its chain.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
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
    /// Whether running the whole transaction again may succeed.
    ///
    /// True for [`Conflict`](Error::Conflict), [`TransactionTooOld`](Error::TransactionTooOld),
    /// [`CommitUnknownResult`](Error::CommitUnknownResult) and
    /// [`Unavailable`](Error::Unavailable), exactly as FoundationDB's
    /// `fdb_error_predicate(RETRYABLE)` is for their native codes. Everything else (bad input,
    /// limits, time-outs, I/O) fails the same way again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict
                | Error::TransactionTooOld
                | Error::CommitUnknownResult
                | Error::Unavailable { .. }
        )
    }

    /// Whether the transaction may have committed although this error was returned
    /// (FoundationDB's `is_maybe_committed`). A retry after such an error must not apply its
    /// effect twice.
    pub fn is_maybe_committed(&self) -> bool {
        matches!(self, Error::CommitUnknownResult)
    }

    /// Whether the store is shedding load or lagging ([`Unavailable`](Error::Unavailable)):
    /// the retry loop waits longer before trying again, as FoundationDB's `onError` does for
    /// its throttling codes.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// A [`Backend`](Error::Backend) error with a message and no native code.
    pub fn backend(message: impl Into<String>) -> Self {
        Error::Backend {
            code: None,
            message: message.into(),
            source: None,
        }
    }
}
