//! [`foundationdb::FdbError`] to [`coditect_core::KvError`]: the pure mapping of
//! [`error_map`](crate::error_map), plus the native error kept as the source.

use coditect_core::KvError;
use foundationdb::FdbError;

use crate::error_map::{map_fdb_error_with, Predicates};

/// The contract's error for a FoundationDB error, retryability decided by the loaded client
/// library's `fdb_error_predicate` for codes without a kind of their own. A [`KvError::Backend`]
/// keeps the `FdbError` as its source, so its chain still shows FoundationDB's own text.
pub(crate) fn from_fdb(err: FdbError) -> KvError {
    let predicates = Predicates {
        maybe_committed: err.is_maybe_committed(),
        retryable_not_committed: err.is_retryable_not_committed(),
    };
    match map_fdb_error_with(err.code(), err.message(), predicates) {
        KvError::Backend {
            code,
            message,
            source: None,
        } => KvError::Backend {
            code,
            message,
            source: Some(Box::new(err)),
        },
        mapped => mapped,
    }
}

/// [`from_fdb`] for an error raised by the commit, where the backend knows the transaction's
/// size and FoundationDB does not say it. A time-out during the commit is reported as maybe
/// committed: the commit may have reached the proxies before the time-out fired.
pub(crate) fn from_fdb_at_commit(err: FdbError, size: usize) -> KvError {
    match from_fdb(err) {
        KvError::TransactionTooLarge { limit, .. } => KvError::TransactionTooLarge { size, limit },
        KvError::Timeout => KvError::CommitUnknownResult,
        other => other,
    }
}
