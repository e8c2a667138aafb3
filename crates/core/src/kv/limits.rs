//! FoundationDB's size and time limits, enforced with the same error kinds by every backend.
//!
//! The numbers are FoundationDB's own (see "Known Limitations" in its documentation), so code
//! that fits on the embedded backends fits in production too.
//!
//! ## How a transaction's size is counted
//!
//! FoundationDB refuses a commit whose size passes [`MAX_TRANSACTION_SIZE`]
//! (`transaction_too_large`, 2101; the `TRANSACTION_SIZE_LIMIT` knob, 1e7,
//! `fdbclient/ClientKnobs.cpp` line 78). Citations here are to tag 7.3.79 of
//! github.com/apple/foundationdb. The size is checked once, at commit
//! (`fdbclient/NativeAPI.actor.cpp` lines 7024-7043), and it is `Transaction::getSize`
//! (lines 7934-7938): the `expectedSize()` of the mutations plus the read conflict ranges plus
//! the write conflict ranges. A `VectorRef`'s `expectedSize()` is `sizeof(T)` per element plus
//! each element's own (`flow/include/flow/Arena.h` lines 1138-1144); a `MutationRef`'s own is
//! its two parameters (`fdbclient/include/fdbclient/CommitTransaction.h` line 119), a
//! `KeyRangeRef`'s its two bounds (`fdbclient/include/fdbclient/FDBTypes.h` line 381). So a
//! mutation costs [`MUTATION_OVERHEAD`] + its parameters ([`mutation_size`]) and a range
//! [`CONFLICT_RANGE_OVERHEAD`] + its bounds ([`conflict_range_size`]). Per call, every backend
//! counts:
//!
//! | call | counted | 7.3.79 |
//! |---|---|---|
//! | `set(k, v)` | mutation `(k, v)` + write range `[k, k\0)` | `Transaction::set`, NativeAPI.actor.cpp 6167-6184 |
//! | `clear(k)` | mutation `(k, k\0)` (a one-key range clear) + write range `[k, k\0)` | `Transaction::clear(KeyRef)`, 6248-6265 |
//! | `clear_range(b, e)` | mutation `(b, e)` + write range `[b, e)` | `Transaction::clear(KeyRangeRef)`, 6217-6247 |
//! | `atomic_add(k, _)` | mutation `(k, 8-byte operand)` + write range `[k, k\0)` | `Transaction::atomicOp`, 6186-6215 |
//! | `set_versionstamped_key(k, _, v)` | mutation `(k ++ 4-byte offset, v)`, no write range: the client adds none (6211; `ReadYourWrites.actor.cpp` 2268), the commit proxy adds it after the stamp | |
//! | `get(k, false)` | read range `[k, k\0)` | |
//! | `get_range(b, e, not snapshot)` | read range: the part of `[b, e)` it covered | |
//! | `add_read_conflict_range`, `add_write_conflict_range` | the range | 6132-6156, 6267-6292 |
//!
//! ## Where the count is an upper bound, and where it is not
//!
//! The read-your-writes layer (`fdbclient/ReadYourWrites.actor.cpp`) does not pass the calls
//! on one by one: it keeps a write map and hands it to the native transaction at commit
//! (`writeRangeToNativeTransaction`, lines 1997-2072, called at 1392), with the read conflict
//! ranges of a coalescing map (1394-1399). Overlapping and adjacent conflict ranges merge,
//! repeated writes of one key leave one mutation, a clear removes the writes it covers, and a
//! read of a key the transaction wrote adds no read range. All of that only makes FoundationDB's
//! figure smaller than the per-call count. Two cases make it larger, and every backend adds
//! them too:
//!
//! - a set or atomic operation on a key inside a range this transaction cleared splits that
//!   clear in two at commit (the key's entry is not a cleared range, lines 2005-2018), one more
//!   mutation with the key twice in its bounds, while the key's write range merges into the
//!   clear's: [`CLEARED_KEY_SPLIT`] more than the per-call count;
//! - `set_versionstamped_key` hands the write map's part over the range its key may become to
//!   the native transaction at once and resets it (lines 2266-2271), so a cleared range or
//!   write conflict range crossing either end of that range is split there:
//!   [`versionstamp_split_size`] per end, counted when that end lies in a range this
//!   transaction cleared or declared as a write conflict range.
//!
//! With these, the count is an upper bound of 7.3.79's `getSize`, and equal to it for
//! transactions that write each key once, clear nothing they write, and read nothing twice
//! (the conformance cases): a transaction that fits here fits on FoundationDB.
//!
//! The overheads are `sizeof(MutationRef)` and `sizeof(KeyRangeRef)` on a 64-bit client of
//! 7.3.79 (x86_64 or aarch64: a `StringRef` is a pointer and an `int` packed to 4 bytes, 12
//! bytes, `flow/include/flow/Arena.h` lines 346-608). `MutationRef` (CommitTransaction.h line 67, members
//! lines 103-107) has, besides its type byte and two `StringRef`s, an `Optional<uint32_t>` checksum,
//! an `Optional<uint16_t>` index and a `bool` since 7.3.34: 44 bytes (7.3.0 to 7.3.33: 28).
//! These sizes were measured by compiling those members (the `Optional`s as the one
//! `std::optional` each holds, `flow/include/flow/Optional.h` line 267) with g++ on x86_64,
//! not by building FoundationDB; taking the larger `MutationRef` keeps the count an upper bound
//! for every 7.3 client.

use std::time::Duration;

/// Largest key, in bytes. A longer key is [`KvError::KeyTooLarge`](super::KvError::KeyTooLarge).
pub const MAX_KEY_SIZE: usize = 10_000;

/// Largest key given to [`set_versionstamped_key`](super::Transaction::set_versionstamped_key),
/// in bytes: FoundationDB checks the key with its 4-byte offset suffix against
/// [`MAX_KEY_SIZE`] (7.3.79, `fdbclient/ReadYourWrites.actor.cpp` line 2237 in `atomicOp`,
/// where the key still carries the suffix; `getMaxWriteKeySize`, `fdbclient/NativeAPI.actor.cpp`
/// lines 11833-11837; `KEY_SIZE_LIMIT` 1e4, `fdbclient/ClientKnobs.cpp` line 79), so 9,996.
pub const MAX_VERSIONSTAMPED_KEY_SIZE: usize = MAX_KEY_SIZE - 4;

/// Largest value, in bytes. A longer value is
/// [`KvError::ValueTooLarge`](super::KvError::ValueTooLarge).
pub const MAX_VALUE_SIZE: usize = 100_000;

/// Largest size of one transaction, counted as the module docs say. A transaction that
/// buffers more is [`KvError::TransactionTooLarge`](super::KvError::TransactionTooLarge).
pub const MAX_TRANSACTION_SIZE: usize = 10_000_000;

/// How long a read version stays valid. A transaction that reads later than this after it got
/// its read version, or commits that late with read conflict ranges, fails with
/// [`KvError::TransactionTooOld`](super::KvError::TransactionTooOld).
pub const MAX_READ_VERSION_AGE: Duration = Duration::from_secs(5);

/// Length of a FoundationDB versionstamp: 8 bytes of commit version, 2 bytes of batch order.
pub const VERSIONSTAMP_LEN: usize = 10;

/// Bytes counted for each mutation besides its two parameters: `sizeof(MutationRef)` on a
/// 64-bit FoundationDB 7.3.79 client (see the module docs).
pub const MUTATION_OVERHEAD: usize = 44;

/// Bytes counted for each conflict range besides its two bounds: `sizeof(KeyRangeRef)` (two
/// 12-byte `StringRef`s) on a 64-bit FoundationDB 7.3.79 client.
pub const CONFLICT_RANGE_OVERHEAD: usize = 24;

/// What a set or atomic operation adds beyond [`set_size`] / [`atomic_size`] when its key lies
/// in a range this transaction cleared: FoundationDB splits the clear there (one more mutation,
/// whose bounds hold the key twice) while the key's write conflict range merges into the
/// clear's (see the module docs).
pub const CLEARED_KEY_SPLIT: usize = MUTATION_OVERHEAD - CONFLICT_RANGE_OVERHEAD;

/// What one end (of `boundary` bytes) of the range a versionstamped key may become adds when it
/// lies in a range this transaction cleared or declared as a write conflict range: the clear
/// mutation and the conflict range are split there, one more of each with the end twice in
/// their bounds (see the module docs). An upper bound: a write conflict range alone is split
/// without a mutation.
pub const fn versionstamp_split_size(boundary: usize) -> usize {
    MUTATION_OVERHEAD + CONFLICT_RANGE_OVERHEAD + 4 * boundary
}

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
        // key + value + [key, key\0) + sizeof(MutationRef) 44 + sizeof(KeyRangeRef) 24.
        assert_eq!(set_size(10, 5), 10 + 5 + 44 + 10 + 11 + 24);
        assert_eq!(clear_size(3), 3 + 4 + 44 + 3 + 4 + 24);
        assert_eq!(clear_range_size(2, 3), 2 * (2 + 3) + 44 + 24);
        assert_eq!(atomic_size(4, 8), 4 + 8 + 44 + 4 + 5 + 24);
        assert_eq!(versionstamped_key_size(20, 1), 24 + 1 + 44);
        assert_eq!(CLEARED_KEY_SPLIT, 20);
        assert_eq!(versionstamp_split_size(7), 44 + 24 + 28);
        assert_eq!(MAX_VERSIONSTAMPED_KEY_SIZE, 9_996);
    }
}
