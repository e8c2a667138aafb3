//! [`foundationdb::FdbError`] to [`coditect_core::Error`]: the pure mapping of
//! [`error_map`](crate::error_map), plus the native error kept as the source.

use coditect_core::Error;
use foundationdb::FdbError;

use crate::error_map::map_fdb_error;

/// The contract's error for a FoundationDB error. A [`Error::Backend`] keeps the `FdbError` as
/// its source, so its chain still shows FoundationDB's own text.
pub(crate) fn from_fdb(err: FdbError) -> Error {
    match map_fdb_error(err.code(), err.message()) {
        Error::Backend {
            code,
            message,
            source: None,
        } => Error::Backend {
            code,
            message,
            source: Some(Box::new(err)),
        },
        mapped => mapped,
    }
}

/// [`from_fdb`] for an error raised at commit or by a mutation, where the backend knows the
/// transaction's size and FoundationDB does not say it.
pub(crate) fn from_fdb_sized(err: FdbError, mutation_bytes: usize) -> Error {
    match from_fdb(err) {
        Error::TransactionTooLarge { limit, .. } => Error::TransactionTooLarge {
            size: mutation_bytes,
            limit,
        },
        other => other,
    }
}
