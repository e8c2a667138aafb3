//! The contract's error: what a [`KvBackend`](super::KvBackend) and its
//! [`Transaction`](super::Transaction)s can report, and what the retry loop decides on.
//!
//! Every backend maps its native failures onto these kinds, so callers (and the retry loop)
//! decide what to do without knowing which store they run on. The model layer's
//! `coditect_core::Error` wraps this one (`Error::Kv`) and adds what
//! only records, tenants and members can get wrong; nothing here knows about them.

/// Result alias of the KV contract.
pub type Result<T, E = KvError> = std::result::Result<T, E>;

/// Everything a store or a transaction can report.
///
/// [`KvError::is_retryable`] tells whether running the whole transaction again may succeed;
/// it is what [`run`](super::run) uses to decide between retrying and giving up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
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

    /// The tenant is over its request-unit budget: refused before the transaction did
    /// anything (the model layer's resource control in this process, or a store's own tag
    /// throttling). Nothing was committed; retrying after `retry_after` may succeed, and the
    /// retry loop waits at least that long before it tries again.
    #[error("throttled: over the request-unit budget; retry after {} ms", retry_after.as_millis())]
    Throttled {
        /// How long until the budget has refilled enough to admit a transaction.
        retry_after: std::time::Duration,
    },

    /// A key longer than [`MAX_KEY_SIZE`](super::limits::MAX_KEY_SIZE).
    #[error("key of {size} bytes exceeds the limit of {limit} bytes")]
    KeyTooLarge {
        /// The key's length.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// A value longer than [`MAX_VALUE_SIZE`](super::limits::MAX_VALUE_SIZE).
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge {
        /// The value's length.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },

    /// The transaction's mutations and conflict ranges add up to more than
    /// [`MAX_TRANSACTION_SIZE`](super::limits::MAX_TRANSACTION_SIZE), counted as the
    /// [limits](super::limits) module says.
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
    /// outside its range ([`versionstamp_unreadable_range`](super::versionstamp_unreadable_range)).
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
        last: Box<KvError>,
    },

    /// An operation of a [`run`](super::run) body failed after it had buffered part of its
    /// writes (the transaction's size limit refused one of them part way) and
    /// [poisoned](super::RetryTx::poison) the attempt, so the transaction holds half an
    /// operation and the loop refuses to commit it, naming the operation. Drop it and run
    /// again, with less in one transaction. Not retryable: the same body fails the same way.
    #[error("transaction poisoned: {operation} failed part way ({cause}), so nothing of this transaction may commit")]
    TransactionPoisoned {
        /// The operation that failed (e.g. "insert of task 0192...").
        operation: String,
        /// Its error, in words.
        cause: String,
    },

    /// An I/O failure of the underlying store.
    #[error("storage I/O error")]
    Io(#[source] std::io::Error),

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

impl From<std::io::Error> for KvError {
    fn from(error: std::io::Error) -> Self {
        KvError::Io(error)
    }
}

impl KvError {
    /// Whether running the whole transaction again may succeed.
    ///
    /// True for [`Conflict`](KvError::Conflict), [`TransactionTooOld`](KvError::TransactionTooOld),
    /// [`CommitUnknownResult`](KvError::CommitUnknownResult) and
    /// [`Unavailable`](KvError::Unavailable), exactly as FoundationDB's
    /// `fdb_error_predicate(RETRYABLE)` is for their native codes, and for
    /// [`Throttled`](KvError::Throttled), which refused before doing anything. Everything else
    /// (limits, time-outs, I/O) fails the same way again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KvError::Conflict
                | KvError::TransactionTooOld
                | KvError::CommitUnknownResult
                | KvError::Unavailable { .. }
                | KvError::Throttled { .. }
        )
    }

    /// Whether the transaction may have committed although this error was returned
    /// (FoundationDB's `is_maybe_committed`). A retry after such an error must not apply its
    /// effect twice.
    pub fn is_maybe_committed(&self) -> bool {
        matches!(self, KvError::CommitUnknownResult)
    }

    /// Whether the store is shedding load or lagging ([`Unavailable`](KvError::Unavailable)):
    /// the retry loop waits longer before trying again, as FoundationDB's `onError` does for
    /// its throttling codes.
    pub fn is_throttled(&self) -> bool {
        matches!(self, KvError::Unavailable { .. })
    }

    /// How long the loop must wait before retrying, when the error says
    /// ([`Throttled`](KvError::Throttled)).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            KvError::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// A [`Backend`](KvError::Backend) error with a message and no native code.
    pub fn backend(message: impl Into<String>) -> Self {
        KvError::Backend {
            code: None,
            message: message.into(),
            source: None,
        }
    }
}

/// An error the [retry loop](super::run) can run a body with: it can hold the contract's
/// errors (`From<KvError>`), say which contract error it is, if any, and wrap the last one
/// when the loop gives up. [`KvError`] is one; the model layer's `coditect_core::Error` is
/// the other.
pub trait RetryError: From<KvError> {
    /// The contract error this is, if it is one: the loop retries exactly those that
    /// [are retryable](KvError::is_retryable).
    fn as_kv(&self) -> Option<&KvError>;

    /// The error the loop returns when it gave up after `attempts` attempts, the last of
    /// which failed with `last`.
    fn retry_limit_reached(attempts: u32, last: Self) -> Self;
}

impl RetryError for KvError {
    fn as_kv(&self) -> Option<&KvError> {
        Some(self)
    }

    fn retry_limit_reached(attempts: u32, last: Self) -> Self {
        KvError::RetryLimitReached {
            attempts,
            last: Box::new(last),
        }
    }
}
