//! FoundationDB's size and time limits, enforced with the same error kinds by every backend.
//!
//! The numbers are FoundationDB's own (see "Known Limitations" in its documentation), so code
//! that fits on the embedded backends fits in production too.
//!
//! ## How a transaction's size is counted
//!
//! FoundationDB refuses a commit whose size passes [`MAX_TRANSACTION_SIZE`]
//! (`transaction_too_large`, 2101). That size is not the bytes of the mutations alone:
//! `Transaction::getSize` in `fdbclient/NativeAPI.actor.cpp` adds the mutations, the read
//! conflict ranges and the write conflict ranges. So every backend counts, per call:
//!
//! | call | counted |
//! |---|---|
//! | `set(k, v)` | mutation `(k, v)` + write range `[k, k\0)` |
//! | `clear(k)` | mutation `(k, k\0)` (a one-key range clear) + write range `[k, k\0)` |
//! | `clear_range(b, e)` | mutation `(b, e)` + write range `[b, e)` |
//! | `atomic_add(k, _)` | mutation `(k, 8-byte operand)` + write range `[k, k\0)` |
//! | `set_versionstamped_key(k, _, v)` | mutation `(k ++ 4-byte offset, v)`; its write range is added by the commit proxy, after the client's check |
//! | `get(k, false)` | read range `[k, k\0)` |
//! | `get_range(b, e, not snapshot)` | read range: the part of `[b, e)` it covered |
//! | `add_read_conflict_range`, `add_write_conflict_range` | the range |
//!
//! where a mutation costs [`mutation_size`] and a range [`conflict_range_size`]. It is an
//! upper bound of FoundationDB's figure: FoundationDB's read-your-writes layer coalesces
//! overlapping and adjacent conflict ranges and repeated sets of one key before counting, which
//! only makes its figure smaller, and each entry carries the in-memory size of its struct
//! ([`MUTATION_OVERHEAD`], [`CONFLICT_RANGE_OVERHEAD`]), which the count includes in case the
//! vector's `expectedSize` does (`NativeAPI.actor.cpp` at 7.3 and `flow/Arena.h` could not be
//! read where this was written, so the overheads are the safe assumption, not a transcription).
//! A transaction that fits here fits on FoundationDB.

use std::time::Duration;

/// Largest key, in bytes. A longer key is [`Error::KeyTooLarge`](crate::Error::KeyTooLarge).
pub const MAX_KEY_SIZE: usize = 10_000;

/// Largest key given to [`set_versionstamped_key`](crate::Transaction::set_versionstamped_key),
/// in bytes: FoundationDB checks the key with its 4-byte offset suffix against
/// [`MAX_KEY_SIZE`] (`fdbclient/ReadYourWrites.actor.cpp`, `atomicOp`), so 9,996.
pub const MAX_VERSIONSTAMPED_KEY_SIZE: usize = MAX_KEY_SIZE - 4;

/// Largest value, in bytes. A longer value is
/// [`Error::ValueTooLarge`](crate::Error::ValueTooLarge).
pub const MAX_VALUE_SIZE: usize = 100_000;

/// Largest size of one transaction, counted as the module docs say. A transaction that
/// buffers more is [`Error::TransactionTooLarge`](crate::Error::TransactionTooLarge).
pub const MAX_TRANSACTION_SIZE: usize = 10_000_000;

/// How long a read version stays valid. A transaction that reads later than this after it got
/// its read version, or commits that late with read conflict ranges, fails with
/// [`Error::TransactionTooOld`](crate::Error::TransactionTooOld).
pub const MAX_READ_VERSION_AGE: Duration = Duration::from_secs(5);

/// Length of a FoundationDB versionstamp: 8 bytes of commit version, 2 bytes of batch order.
pub const VERSIONSTAMP_LEN: usize = 10;

/// Bytes counted for each mutation besides its two parameters: the size of FoundationDB's
/// `MutationRef` (a type byte and two `StringRef`s) on a 64-bit client.
pub const MUTATION_OVERHEAD: usize = 40;

/// Bytes counted for each conflict range besides its two bounds: the size of FoundationDB's
/// `KeyRangeRef` (two `StringRef`s) on a 64-bit client.
pub const CONFLICT_RANGE_OVERHEAD: usize = 32;

/// The bytes one mutation adds to its transaction's size: its two parameters (key and value,
/// or a range clear's bounds) plus [`MUTATION_OVERHEAD`].
pub const fn mutation_size(key_or_begin: usize, value_or_end: usize) -> usize {
    MUTATION_OVERHEAD + key_or_begin + value_or_end
}

/// The bytes one read or write conflict range `[begin, end)` adds to its transaction's size:
/// its two bounds plus [`CONFLICT_RANGE_OVERHEAD`].
pub const fn conflict_range_size(begin: usize, end: usize) -> usize {
    CONFLICT_RANGE_OVERHEAD + begin + end
}

/// The conflict range of one key, `[key, key\0)`.
pub const fn key_conflict_size(key: usize) -> usize {
    conflict_range_size(key, key + 1)
}

/// What `set(key, value)` adds: the mutation and its write conflict range.
pub const fn set_size(key: usize, value: usize) -> usize {
    mutation_size(key, value) + key_conflict_size(key)
}

/// What `clear(key)` adds: FoundationDB sends it as a clear of `[key, key\0)`, plus that range
/// as a write conflict range.
pub const fn clear_size(key: usize) -> usize {
    mutation_size(key, key + 1) + key_conflict_size(key)
}

/// What `clear_range(begin, end)` adds: the mutation and the range as a write conflict range.
pub const fn clear_range_size(begin: usize, end: usize) -> usize {
    mutation_size(begin, end) + conflict_range_size(begin, end)
}

/// What an atomic operation on `key` with an operand of `operand` bytes adds.
pub const fn atomic_size(key: usize, operand: usize) -> usize {
    mutation_size(key, operand) + key_conflict_size(key)
}

/// What `set_versionstamped_key(key, _, value)` adds: the key travels with its 4-byte offset
/// suffix; the write conflict range is the commit proxy's, not counted by the client.
pub const fn versionstamped_key_size(key: usize, value: usize) -> usize {
    mutation_size(key + 4, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_counts_its_mutation_and_its_write_conflict_range() {
        // key + value + [key, key\0) + the two structs.
        assert_eq!(set_size(10, 5), 10 + 5 + 40 + 10 + 11 + 32);
        assert_eq!(clear_size(3), 3 + 4 + 40 + 3 + 4 + 32);
        assert_eq!(clear_range_size(2, 3), 2 * (2 + 3) + 40 + 32);
        assert_eq!(versionstamped_key_size(20, 1), 24 + 1 + 40);
        assert_eq!(MAX_VERSIONSTAMPED_KEY_SIZE, 9_996);
    }
}
