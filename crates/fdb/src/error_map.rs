//! FoundationDB error codes and their mapping onto [`coditect_core::Error`].
//!
//! Pure functions over FoundationDB's `fdb_error_t` (an `i32`): nothing here calls the client
//! library, so this module builds and is tested without libfdb_c
//! (`cargo test -p coditect-fdb --no-default-features`).
//!
//! Codes and names are FoundationDB's own, from `flow/include/flow/error_definitions.h`. The
//! retry predicates are copied from `fdb_error_predicate` in `bindings/c/fdb_c.cpp` (release
//! 7.3), which is what `FdbError::is_retryable` / `is_maybe_committed` of the `foundationdb`
//! crate call:
//!
//! ```text
//! MAYBE_COMMITTED          = commit_unknown_result || cluster_version_changed
//! RETRYABLE_NOT_COMMITTED  = not_committed || transaction_too_old || future_version
//!                            || database_locked || grv_proxy_memory_limit_exceeded
//!                            || commit_proxy_memory_limit_exceeded
//!                            || batch_transaction_throttled || process_behind
//!                            || tag_throttled || unknown_tenant
//! RETRYABLE                = MAYBE_COMMITTED || RETRYABLE_NOT_COMMITTED
//! ```

use coditect_core::limits::{MAX_KEY_SIZE, MAX_TRANSACTION_SIZE, MAX_VALUE_SIZE};
use coditect_core::Error;

/// `transaction_too_old`: the read version is older than the MVCC window (5 s).
pub const TRANSACTION_TOO_OLD: i32 = 1007;
/// `future_version`: a storage server has not caught up with the read version yet.
pub const FUTURE_VERSION: i32 = 1009;
/// `not_committed`: a conflict with a newer commit.
pub const NOT_COMMITTED: i32 = 1020;
/// `commit_unknown_result`: the commit may or may not have been applied.
pub const COMMIT_UNKNOWN_RESULT: i32 = 1021;
/// `transaction_timed_out`: the transaction's time-out option fired.
pub const TRANSACTION_TIMED_OUT: i32 = 1031;
/// `process_behind`: a storage process lags behind recent mutations.
pub const PROCESS_BEHIND: i32 = 1037;
/// `database_locked`: the database is locked (for instance by a restore).
pub const DATABASE_LOCKED: i32 = 1038;
/// `cluster_version_changed`: the cluster's protocol version changed under the commit, which
/// may or may not have been applied.
pub const CLUSTER_VERSION_CHANGED: i32 = 1039;
/// `commit_proxy_memory_limit_exceeded`: a commit proxy sheds load.
pub const COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED: i32 = 1042;
/// `batch_transaction_throttled`: batch-priority read versions are rate limited.
pub const BATCH_TRANSACTION_THROTTLED: i32 = 1051;
/// `grv_proxy_memory_limit_exceeded`: a read-version proxy sheds load.
pub const GRV_PROXY_MEMORY_LIMIT_EXCEEDED: i32 = 1078;
/// `tag_throttled`: the transaction's tag is throttled.
pub const TAG_THROTTLED: i32 = 1213;
/// `transaction_too_large`: more than 10,000,000 bytes of mutations and conflict ranges.
pub const TRANSACTION_TOO_LARGE: i32 = 2101;
/// `key_too_large`: a key longer than 10,000 bytes.
pub const KEY_TOO_LARGE: i32 = 2102;
/// `value_too_large`: a value longer than 100,000 bytes.
pub const VALUE_TOO_LARGE: i32 = 2103;
/// `unknown_tenant` (7.1 to 7.3, removed with native tenants afterwards; we use none, but the
/// 7.3 predicate lists it).
pub const UNKNOWN_TENANT: i32 = 2137;

/// Whether FoundationDB reports the code as "the transaction may have committed"
/// (`fdb_error_predicate(FDB_ERROR_PREDICATE_MAYBE_COMMITTED, code)`).
pub fn is_maybe_committed_code(code: i32) -> bool {
    matches!(code, COMMIT_UNKNOWN_RESULT | CLUSTER_VERSION_CHANGED)
}

/// Whether FoundationDB reports the code as "not committed, retrying may succeed"
/// (`fdb_error_predicate(FDB_ERROR_PREDICATE_RETRYABLE_NOT_COMMITTED, code)`).
pub fn is_retryable_not_committed_code(code: i32) -> bool {
    matches!(
        code,
        NOT_COMMITTED
            | TRANSACTION_TOO_OLD
            | FUTURE_VERSION
            | DATABASE_LOCKED
            | GRV_PROXY_MEMORY_LIMIT_EXCEEDED
            | COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED
            | BATCH_TRANSACTION_THROTTLED
            | PROCESS_BEHIND
            | TAG_THROTTLED
            | UNKNOWN_TENANT
    )
}

/// FoundationDB's retryable predicate (`fdb_error_predicate(FDB_ERROR_PREDICATE_RETRYABLE,
/// code)`, what `fdb_transaction_on_error` retries): maybe-committed or retryable-not-committed.
pub fn is_retryable_code(code: i32) -> bool {
    is_maybe_committed_code(code) || is_retryable_not_committed_code(code)
}

/// Maps a FoundationDB error code (and the library's message for it) onto the contract's kinds.
///
/// | code | FoundationDB name | kind |
/// |---|---|---|
/// | 1020 | `not_committed` | [`Error::Conflict`] |
/// | 1007 | `transaction_too_old` | [`Error::TransactionTooOld`] |
/// | 1021, 1039 | `commit_unknown_result`, `cluster_version_changed` | [`Error::CommitUnknownResult`] (both are FoundationDB's "maybe committed") |
/// | 1031 | `transaction_timed_out` | [`Error::Timeout`] |
/// | 2101 | `transaction_too_large` | [`Error::TransactionTooLarge`] |
/// | 2102 | `key_too_large` | [`Error::KeyTooLarge`] |
/// | 2103 | `value_too_large` | [`Error::ValueTooLarge`] |
/// | 1009, 1037, 1038, 1042, 1051, 1078, 1213, 2137 | throttling, lagging, locked | [`Error::Unavailable`] (retryable) |
/// | any other | | [`Error::Backend`] with the code and message |
///
/// FoundationDB does not say how large the rejected key, value or transaction was: the three
/// limit kinds carry `size: 0` here, and the backend fills in the size it knows. It checks every
/// size before sending, so these codes reach a caller only if the cluster runs with limits other
/// than FoundationDB's defaults.
///
/// The transient codes FoundationDB retries without a kind of their own (1009, 1037, 1038,
/// 1042, 1051, 1078, 1213, 2137: see [`TRANSIENT_CODES`]) become the retryable
/// [`Error::Unavailable`] with their code and message.
pub fn map_fdb_error(code: i32, message: &str) -> Error {
    match code {
        NOT_COMMITTED => Error::Conflict,
        TRANSACTION_TOO_OLD => Error::TransactionTooOld,
        COMMIT_UNKNOWN_RESULT | CLUSTER_VERSION_CHANGED => Error::CommitUnknownResult,
        TRANSACTION_TIMED_OUT => Error::Timeout,
        TRANSACTION_TOO_LARGE => Error::TransactionTooLarge {
            size: 0,
            limit: MAX_TRANSACTION_SIZE,
        },
        KEY_TOO_LARGE => Error::KeyTooLarge {
            size: 0,
            limit: MAX_KEY_SIZE,
        },
        VALUE_TOO_LARGE => Error::ValueTooLarge {
            size: 0,
            limit: MAX_VALUE_SIZE,
        },
        _ if TRANSIENT_CODES.contains(&code) => Error::Unavailable {
            code: Some(code),
            message: message.to_owned(),
        },
        _ => Error::Backend {
            code: Some(code),
            message: message.to_owned(),
            source: None,
        },
    }
}

/// Codes FoundationDB retries that are neither a conflict, a too-old read version nor a
/// maybe-committed commit: throttling, lagging storage, a locked database. They map to
/// [`Error::Unavailable`], retryable like in FoundationDB.
pub const TRANSIENT_CODES: [i32; 8] = [
    FUTURE_VERSION,
    PROCESS_BEHIND,
    DATABASE_LOCKED,
    COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED,
    BATCH_TRANSACTION_THROTTLED,
    GRV_PROXY_MEMORY_LIMIT_EXCEEDED,
    TAG_THROTTLED,
    UNKNOWN_TENANT,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code FoundationDB 7.3 defines in the ranges a client sees (1xxx failures, 15xx
    /// platform, 2xxx client misuse and limits, 4xxx internal), plus neighbours and nonsense.
    fn codes() -> impl Iterator<Item = i32> {
        (-1..=4300).chain([6000, 6001, i32::MIN, i32::MAX])
    }

    #[test]
    fn the_contract_codes_map_to_their_kinds() {
        assert!(matches!(
            map_fdb_error(1020, "not_committed"),
            Error::Conflict
        ));
        assert!(matches!(map_fdb_error(1007, ""), Error::TransactionTooOld));
        assert!(matches!(
            map_fdb_error(1021, ""),
            Error::CommitUnknownResult
        ));
        assert!(matches!(
            map_fdb_error(1039, ""),
            Error::CommitUnknownResult
        ));
        assert!(matches!(map_fdb_error(1031, ""), Error::Timeout));
        assert!(matches!(
            map_fdb_error(2101, ""),
            Error::TransactionTooLarge {
                limit: 10_000_000,
                ..
            }
        ));
        assert!(matches!(
            map_fdb_error(2102, ""),
            Error::KeyTooLarge { limit: 10_000, .. }
        ));
        assert!(matches!(
            map_fdb_error(2103, ""),
            Error::ValueTooLarge { limit: 100_000, .. }
        ));
    }

    #[test]
    fn other_codes_keep_their_code_and_message() {
        match map_fdb_error(1510, "Disk i/o operation failed") {
            Error::Backend {
                code,
                message,
                source,
            } => {
                assert_eq!(code, Some(1510));
                assert_eq!(message, "Disk i/o operation failed");
                assert!(source.is_none());
            }
            other => panic!("expected Backend, got {other:?}"),
        }
        let shown = map_fdb_error(2000, "Invalid API call").to_string();
        assert!(
            shown.contains("2000") && shown.contains("Invalid API call"),
            "{shown}"
        );
    }

    #[test]
    fn the_predicates_are_fdb_c_s() {
        let retryable: Vec<i32> = codes().filter(|&c| is_retryable_code(c)).collect();
        assert_eq!(
            retryable,
            [1007, 1009, 1020, 1021, 1037, 1038, 1039, 1042, 1051, 1078, 1213, 2137]
        );
        let maybe: Vec<i32> = codes().filter(|&c| is_maybe_committed_code(c)).collect();
        assert_eq!(maybe, [1021, 1039]);
        assert!(
            !is_retryable_code(TRANSACTION_TIMED_OUT),
            "FDB does not retry a time-out"
        );
        assert!(!is_retryable_code(TRANSACTION_TOO_LARGE));
    }

    #[test]
    fn is_retryable_agrees_with_fdb_for_every_code() {
        for code in codes() {
            let mapped = map_fdb_error(code, "");
            assert_eq!(
                mapped.is_retryable(),
                is_retryable_code(code),
                "code {code}"
            );
            assert_eq!(
                mapped.is_maybe_committed(),
                is_maybe_committed_code(code),
                "code {code}"
            );
        }
        for code in TRANSIENT_CODES {
            assert!(
                matches!(map_fdb_error(code, "busy"), Error::Unavailable { code: Some(c), .. } if c == code)
            );
        }
        assert!(!map_fdb_error(TRANSACTION_TIMED_OUT, "").is_retryable());
    }
}
