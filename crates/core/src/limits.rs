//! FoundationDB's size and time limits, enforced with the same error kinds by every backend.
//!
//! The numbers are FoundationDB's own (see "Known Limitations" in its documentation), so code
//! that fits on the embedded backends fits in production too.

use std::time::Duration;

/// Largest key, in bytes. A longer key is [`Error::KeyTooLarge`](crate::Error::KeyTooLarge).
pub const MAX_KEY_SIZE: usize = 10_000;

/// Largest value, in bytes. A longer value is
/// [`Error::ValueTooLarge`](crate::Error::ValueTooLarge).
pub const MAX_VALUE_SIZE: usize = 100_000;

/// Largest total of mutation bytes in one transaction (see [`mutation_size`]). A transaction
/// that buffers more is [`Error::TransactionTooLarge`](crate::Error::TransactionTooLarge).
pub const MAX_TRANSACTION_SIZE: usize = 10_000_000;

/// How long a read version stays valid. A transaction that reads or commits later than this
/// after it got its read version fails with
/// [`Error::TransactionTooOld`](crate::Error::TransactionTooOld).
pub const MAX_READ_VERSION_AGE: Duration = Duration::from_secs(5);

/// Length of a FoundationDB versionstamp: 8 bytes of commit version, 2 bytes of batch order.
pub const VERSIONSTAMP_LEN: usize = 10;

/// The bytes one mutation adds to its transaction's size: its key plus its value (or, for a
/// range clear, both of its bounds). Every backend counts the same way so that
/// [`MAX_TRANSACTION_SIZE`] means the same thing everywhere.
pub const fn mutation_size(key_or_begin: usize, value_or_end: usize) -> usize {
    key_or_begin + value_or_end
}
