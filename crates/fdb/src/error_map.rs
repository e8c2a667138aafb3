//! FoundationDB error codes and their mapping onto [`coditect_core::KvError`].
//!
//! Pure functions over FoundationDB's `fdb_error_t` (an `i32`): nothing here calls the client
//! library, so this module builds and is tested without libfdb_c
//! (`cargo test -p coditect-fdb --no-default-features`).
//!
//! Codes and names are FoundationDB 7.3.79's own: `flow/include/flow/error_definitions.h` at
//! tag 7.3.79 of github.com/apple/foundationdb (every code is listed, with its line, in the
//! test-only `error_map/codes_7_3.rs`, generated from that file).
//! Retryability comes from the loaded client library when there is one: the backend asks
//! `fdb_error_predicate` (what `FdbError::is_retryable_not_committed` / `is_maybe_committed` of
//! the `foundationdb` crate call) for every code without a kind of its own, so a newer client
//! is followed without a change here ([`map_fdb_error_with`]); 7.4.6's predicate adds
//! `transaction_throttled_hot_shard` (1235) and `transaction_rejected_range_locked` (1242),
//! codes 7.3.79 leaves undefined or gives another meaning (1235 is 7.3.79's
//! `finish_move_keys_too_many_retries`). The pure table below is the fallback and what the
//! tests check: `fdb_error_predicate` of 7.3.79, `bindings/c/fdb_c.cpp` lines 78-95:
//!
//! ```text
//! RETRYABLE                = MAYBE_COMMITTED || RETRYABLE_NOT_COMMITTED           (79-82)
//! MAYBE_COMMITTED          = commit_unknown_result || cluster_version_changed     (83-85)
//! RETRYABLE_NOT_COMMITTED  = not_committed || transaction_too_old || future_version
//!                            || database_locked || grv_proxy_memory_limit_exceeded
//!                            || commit_proxy_memory_limit_exceeded
//!                            || batch_transaction_throttled || process_behind
//!                            || tag_throttled || proxy_tag_throttled             (86-93)
//! ```
//!
//! 7.2's predicate had `unknown_tenant` (2137) where 7.3 has `proxy_tag_throttled` (1223);
//! 7.3.79 defines no code 2137 at all (`error_definitions.h` goes from 2136 to 2138, lines
//! 273-274). `Transaction::onError` in 7.3.79 (`fdbclient/NativeAPI.actor.cpp` lines 7949-7953)
//! also retries `blob_granule_request_failed` (1079), which the predicate does not list; it maps
//! to [`KvError::Unavailable`] here too. (`onError` there leaves `cluster_version_changed` to
//! `MultiVersionTransaction::onError`, `fdbclient/MultiVersionTransaction.actor.cpp` line 1741.)

use coditect_core::limits::{MAX_KEY_SIZE, MAX_TRANSACTION_SIZE, MAX_VALUE_SIZE};
use coditect_core::KvError;

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
/// `proxy_tag_throttled`: the transaction's tag was throttled at a proxy for too long (7.3).
pub const PROXY_TAG_THROTTLED: i32 = 1223;
/// `accessed_unreadable`: a read of keys this transaction's versionstamped keys may become.
pub const ACCESSED_UNREADABLE: i32 = 1036;
/// `blob_granule_request_failed`: retried by 7.3's `onError`, not by its predicate.
pub const BLOB_GRANULE_REQUEST_FAILED: i32 = 1079;
/// `transaction_too_large`: more than 10,000,000 bytes of mutations and conflict ranges.
pub const TRANSACTION_TOO_LARGE: i32 = 2101;
/// `key_too_large`: a key longer than 10,000 bytes.
pub const KEY_TOO_LARGE: i32 = 2102;
/// `value_too_large`: a value longer than 100,000 bytes.
pub const VALUE_TOO_LARGE: i32 = 2103;

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
            | PROXY_TAG_THROTTLED
    )
}

/// FoundationDB's retryable predicate (`fdb_error_predicate(FDB_ERROR_PREDICATE_RETRYABLE,
/// code)`, what `fdb_transaction_on_error` retries): maybe-committed or retryable-not-committed.
pub fn is_retryable_code(code: i32) -> bool {
    is_maybe_committed_code(code) || is_retryable_not_committed_code(code)
}

/// What the client library's `fdb_error_predicate` says about a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Predicates {
    /// `FDB_ERROR_PREDICATE_MAYBE_COMMITTED`.
    pub maybe_committed: bool,
    /// `FDB_ERROR_PREDICATE_RETRYABLE_NOT_COMMITTED`.
    pub retryable_not_committed: bool,
}

impl Predicates {
    /// The pure 7.3 table's answer for `code`, for when no library is loaded.
    pub fn of_7_3(code: i32) -> Self {
        Predicates {
            maybe_committed: is_maybe_committed_code(code),
            retryable_not_committed: is_retryable_not_committed_code(code),
        }
    }
}

/// Maps a FoundationDB error code (and the library's message for it) onto the contract's
/// kinds, with the pure 7.3 predicate table ([`map_fdb_error_with`]).
pub fn map_fdb_error(code: i32, message: &str) -> KvError {
    map_fdb_error_with(code, message, Predicates::of_7_3(code))
}

/// Maps a FoundationDB error code onto the contract's kinds, `predicates` being what the
/// client library says about the code.
///
/// | code | FoundationDB name | kind |
/// |---|---|---|
/// | 1020 | `not_committed` | [`KvError::Conflict`] |
/// | 1007 | `transaction_too_old` | [`KvError::TransactionTooOld`] |
/// | 1021, 1039 | `commit_unknown_result`, `cluster_version_changed` | [`KvError::CommitUnknownResult`] |
/// | 1031 | `transaction_timed_out` | [`KvError::Timeout`] (the backend reports one during commit as [`KvError::CommitUnknownResult`]) |
/// | 1036 | `accessed_unreadable` | [`KvError::AccessedUnreadable`] |
/// | 2101 | `transaction_too_large` | [`KvError::TransactionTooLarge`] |
/// | 2102 | `key_too_large` | [`KvError::KeyTooLarge`] |
/// | 2103 | `value_too_large` | [`KvError::ValueTooLarge`] |
/// | 1079 | `blob_granule_request_failed` | [`KvError::Unavailable`] (7.3's `onError` retries it) |
/// | any other the library calls maybe committed | | [`KvError::CommitUnknownResult`] |
/// | any other the library calls retryable, not committed | throttling, lagging, locked (7.3: 1009, 1037, 1038, 1042, 1051, 1078, 1213, 1223) | [`KvError::Unavailable`] |
/// | any other | | [`KvError::Backend`] with the code and message |
///
/// FoundationDB does not say how large the rejected key, value or transaction was: the three
/// limit kinds carry `size: 0` here, and the backend fills in the size it knows. It checks every
/// size before sending, so these codes reach a caller only if the cluster runs with limits other
/// than FoundationDB's defaults.
pub fn map_fdb_error_with(code: i32, message: &str, predicates: Predicates) -> KvError {
    match code {
        NOT_COMMITTED => KvError::Conflict,
        TRANSACTION_TOO_OLD => KvError::TransactionTooOld,
        COMMIT_UNKNOWN_RESULT | CLUSTER_VERSION_CHANGED => KvError::CommitUnknownResult,
        TRANSACTION_TIMED_OUT => KvError::Timeout,
        ACCESSED_UNREADABLE => KvError::AccessedUnreadable,
        TRANSACTION_TOO_LARGE => KvError::TransactionTooLarge {
            size: 0,
            limit: MAX_TRANSACTION_SIZE,
        },
        KEY_TOO_LARGE => KvError::KeyTooLarge {
            size: 0,
            limit: MAX_KEY_SIZE,
        },
        VALUE_TOO_LARGE => KvError::ValueTooLarge {
            size: 0,
            limit: MAX_VALUE_SIZE,
        },
        _ if predicates.maybe_committed => KvError::CommitUnknownResult,
        _ if predicates.retryable_not_committed || code == BLOB_GRANULE_REQUEST_FAILED => {
            KvError::Unavailable {
                code: Some(code),
                message: message.to_owned(),
            }
        }
        _ => KvError::Backend {
            code: Some(code),
            message: message.to_owned(),
            source: None,
        },
    }
}

/// Codes 7.3 retries that are neither a conflict, a too-old read version nor a
/// maybe-committed commit: throttling, lagging storage, a locked database (and 1079, retried
/// by `onError`). They map to [`KvError::Unavailable`], retryable like in FoundationDB.
pub const TRANSIENT_CODES: [i32; 9] = [
    FUTURE_VERSION,
    PROCESS_BEHIND,
    DATABASE_LOCKED,
    COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED,
    BATCH_TRANSACTION_THROTTLED,
    GRV_PROXY_MEMORY_LIMIT_EXCEEDED,
    BLOB_GRANULE_REQUEST_FAILED,
    TAG_THROTTLED,
    PROXY_TAG_THROTTLED,
];

#[cfg(test)]
mod codes_7_3;

#[cfg(test)]
mod tests {
    use super::codes_7_3::ERRORS_7_3_79;
    use super::*;

    /// -1 to 4300 (every 1xxx failure, 15xx platform, 2xxx client misuse and limits and 4xxx
    /// internal code, and the gaps between them), 7.3.79's 6xxx authorization codes and their
    /// neighbours, and nonsense.
    fn codes() -> impl Iterator<Item = i32> {
        (-1..=4300).chain(5999..=6006).chain([i32::MIN, i32::MAX])
    }

    #[test]
    fn the_contract_codes_map_to_their_kinds() {
        assert!(matches!(
            map_fdb_error(1020, "not_committed"),
            KvError::Conflict
        ));
        assert!(matches!(
            map_fdb_error(1007, ""),
            KvError::TransactionTooOld
        ));
        assert!(matches!(
            map_fdb_error(1021, ""),
            KvError::CommitUnknownResult
        ));
        assert!(matches!(
            map_fdb_error(1039, ""),
            KvError::CommitUnknownResult
        ));
        assert!(matches!(map_fdb_error(1031, ""), KvError::Timeout));
        assert!(matches!(
            map_fdb_error(2101, ""),
            KvError::TransactionTooLarge {
                limit: 10_000_000,
                ..
            }
        ));
        assert!(matches!(
            map_fdb_error(2102, ""),
            KvError::KeyTooLarge { limit: 10_000, .. }
        ));
        assert!(matches!(
            map_fdb_error(2103, ""),
            KvError::ValueTooLarge { limit: 100_000, .. }
        ));
    }

    #[test]
    fn other_codes_keep_their_code_and_message() {
        match map_fdb_error(1510, "Disk i/o operation failed") {
            KvError::Backend {
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

    /// The code of a 7.3.79 error by its name in `error_definitions.h`.
    fn code_of(name: &str) -> i32 {
        match ERRORS_7_3_79.iter().find(|(_, n, _)| *n == name) {
            Some((code, _, _)) => *code,
            None => panic!("7.3.79 defines no error named {name}"),
        }
    }

    /// `fdb_error_predicate(FDB_ERROR_PREDICATE_MAYBE_COMMITTED, code)` in 7.3.79,
    /// `bindings/c/fdb_c.cpp` line 84, by name.
    const MAYBE_COMMITTED_7_3: [&str; 2] = ["commit_unknown_result", "cluster_version_changed"];
    /// `fdb_error_predicate(FDB_ERROR_PREDICATE_RETRYABLE_NOT_COMMITTED, code)` in 7.3.79,
    /// `bindings/c/fdb_c.cpp` lines 87-92, by name, in the source's order.
    const RETRYABLE_NOT_COMMITTED_7_3: [&str; 10] = [
        "not_committed",
        "transaction_too_old",
        "future_version",
        "database_locked",
        "grv_proxy_memory_limit_exceeded",
        "commit_proxy_memory_limit_exceeded",
        "batch_transaction_throttled",
        "process_behind",
        "tag_throttled",
        "proxy_tag_throttled",
    ];
    /// Retried by 7.3.79's `Transaction::onError` (`fdbclient/NativeAPI.actor.cpp` line 7953)
    /// but not listed by the predicate.
    const ON_ERROR_ALSO_7_3: [&str; 1] = ["blob_granule_request_failed"];

    #[test]
    fn the_table_is_the_whole_of_error_definitions_h() {
        // 344 `ERROR(` lines, 0 (success, line 34) to 6005 (pkey_encode_error, line 403),
        // each code and each name once.
        assert_eq!(ERRORS_7_3_79.len(), 344);
        assert_eq!(ERRORS_7_3_79[0], (0, "success", 34));
        assert_eq!(ERRORS_7_3_79[343], (6005, "pkey_encode_error", 403));
        let mut codes: Vec<i32> = ERRORS_7_3_79.iter().map(|e| e.0).collect();
        let mut names: Vec<&str> = ERRORS_7_3_79.iter().map(|e| e.1).collect();
        codes.sort_unstable();
        codes.dedup();
        names.sort_unstable();
        names.dedup();
        assert_eq!((codes.len(), names.len()), (344, 344));
        assert!(ERRORS_7_3_79.windows(2).all(|w| w[0].2 < w[1].2));
    }

    #[test]
    fn the_named_constants_are_7_3_79_s_codes() {
        let constants = [
            (TRANSACTION_TOO_OLD, "transaction_too_old"),
            (FUTURE_VERSION, "future_version"),
            (NOT_COMMITTED, "not_committed"),
            (COMMIT_UNKNOWN_RESULT, "commit_unknown_result"),
            (TRANSACTION_TIMED_OUT, "transaction_timed_out"),
            (PROCESS_BEHIND, "process_behind"),
            (DATABASE_LOCKED, "database_locked"),
            (CLUSTER_VERSION_CHANGED, "cluster_version_changed"),
            (
                COMMIT_PROXY_MEMORY_LIMIT_EXCEEDED,
                "commit_proxy_memory_limit_exceeded",
            ),
            (BATCH_TRANSACTION_THROTTLED, "batch_transaction_throttled"),
            (
                GRV_PROXY_MEMORY_LIMIT_EXCEEDED,
                "grv_proxy_memory_limit_exceeded",
            ),
            (TAG_THROTTLED, "tag_throttled"),
            (PROXY_TAG_THROTTLED, "proxy_tag_throttled"),
            (ACCESSED_UNREADABLE, "accessed_unreadable"),
            (BLOB_GRANULE_REQUEST_FAILED, "blob_granule_request_failed"),
            (TRANSACTION_TOO_LARGE, "transaction_too_large"),
            (KEY_TOO_LARGE, "key_too_large"),
            (VALUE_TOO_LARGE, "value_too_large"),
        ];
        for (code, name) in constants {
            assert_eq!(code, code_of(name), "{name}");
        }
        assert!(
            ERRORS_7_3_79.iter().all(|e| e.0 != 2137),
            "unknown_tenant (2137) is 7.2's, gone in 7.3.79"
        );
    }

    /// The kind 7.3.79's table gives a code: the contract's own kinds by FoundationDB name,
    /// then the predicate (plus `onError`'s extra) for the rest.
    fn expected_kind(code: i32) -> &'static str {
        let name = ERRORS_7_3_79
            .iter()
            .find(|e| e.0 == code)
            .map_or("", |e| e.1);
        let named = |list: &[&str]| list.contains(&name);
        match name {
            "not_committed" => "Conflict",
            "transaction_too_old" => "TransactionTooOld",
            "transaction_timed_out" => "Timeout",
            "accessed_unreadable" => "AccessedUnreadable",
            "transaction_too_large" => "TransactionTooLarge",
            "key_too_large" => "KeyTooLarge",
            "value_too_large" => "ValueTooLarge",
            _ if named(&MAYBE_COMMITTED_7_3) => "CommitUnknownResult",
            _ if named(&RETRYABLE_NOT_COMMITTED_7_3) || named(&ON_ERROR_ALSO_7_3) => "Unavailable",
            _ => "Backend",
        }
    }

    fn kind_of(error: &KvError) -> &'static str {
        match error {
            KvError::Conflict => "Conflict",
            KvError::TransactionTooOld => "TransactionTooOld",
            KvError::Timeout => "Timeout",
            KvError::AccessedUnreadable => "AccessedUnreadable",
            KvError::TransactionTooLarge { .. } => "TransactionTooLarge",
            KvError::KeyTooLarge { .. } => "KeyTooLarge",
            KvError::ValueTooLarge { .. } => "ValueTooLarge",
            KvError::CommitUnknownResult => "CommitUnknownResult",
            KvError::Unavailable { .. } => "Unavailable",
            KvError::Backend { .. } => "Backend",
            _ => "another kind",
        }
    }

    /// Every code from -1 to 4300 (and 7.3.79's 6xxx codes, and nonsense): the pure
    /// predicates are 7.3.79's `fdb_error_predicate` exactly, and the kind, its
    /// retryability and its maybe-committed are what 7.3.79's table says.
    #[test]
    fn every_code_maps_as_7_3_79_says() {
        let maybe: Vec<i32> = MAYBE_COMMITTED_7_3.iter().map(|n| code_of(n)).collect();
        let not_committed: Vec<i32> = RETRYABLE_NOT_COMMITTED_7_3
            .iter()
            .map(|n| code_of(n))
            .collect();
        let also: Vec<i32> = ON_ERROR_ALSO_7_3.iter().map(|n| code_of(n)).collect();
        let mut defined_seen = 0;
        for code in codes() {
            if ERRORS_7_3_79.iter().any(|e| e.0 == code) {
                defined_seen += 1;
            }
            assert_eq!(
                is_maybe_committed_code(code),
                maybe.contains(&code),
                "{code}"
            );
            assert_eq!(
                is_retryable_not_committed_code(code),
                not_committed.contains(&code),
                "{code}"
            );
            assert_eq!(
                is_retryable_code(code),
                maybe.contains(&code) || not_committed.contains(&code),
                "{code}"
            );
            let mapped = map_fdb_error(code, "message");
            assert_eq!(kind_of(&mapped), expected_kind(code), "code {code}");
            assert_eq!(
                mapped.is_retryable(),
                maybe.contains(&code) || not_committed.contains(&code) || also.contains(&code),
                "code {code}"
            );
            assert_eq!(mapped.is_maybe_committed(), maybe.contains(&code), "{code}");
            match mapped {
                KvError::Unavailable { code: c, message }
                | KvError::Backend {
                    code: c, message, ..
                } => {
                    assert_eq!((c, message.as_str()), (Some(code), "message"));
                }
                _ => {}
            }
        }
        // Every code 7.3.79 defines was among them.
        assert_eq!(defined_seen, ERRORS_7_3_79.len());
        for code in TRANSIENT_CODES {
            assert_eq!(expected_kind(code), "Unavailable", "{code}");
        }
        assert_eq!(
            TRANSIENT_CODES.len(),
            (-1..=4300)
                .filter(|c| expected_kind(*c) == "Unavailable")
                .count()
        );
    }

    /// A newer library's predicate decides codes the 7.3 table does not retry (7.4.6's
    /// `transaction_throttled_hot_shard`, 1235, which 7.3.79 calls
    /// `finish_move_keys_too_many_retries`), and cannot turn a code with a kind of its own
    /// into another kind.
    #[test]
    fn the_library_predicate_decides_codes_without_a_kind() {
        let retryable = Predicates {
            maybe_committed: false,
            retryable_not_committed: true,
        };
        assert!(!map_fdb_error(1235, "").is_retryable());
        assert!(matches!(
            map_fdb_error_with(1235, "hot shard", retryable),
            KvError::Unavailable {
                code: Some(1235),
                ..
            }
        ));
        let maybe = Predicates {
            maybe_committed: true,
            retryable_not_committed: false,
        };
        assert!(matches!(
            map_fdb_error_with(4000, "", maybe),
            KvError::CommitUnknownResult
        ));
        assert!(matches!(
            map_fdb_error_with(1031, "", retryable),
            KvError::Timeout
        ));
    }
}
