//! # coditect-core
//!
//! The contract every part of coditect-data stands on:
//!
//! - [`KvBackend`] and [`Transaction`]: an ordered, transactional key-value store with
//!   FoundationDB's semantics (snapshot reads, serializable commits, conflicts, atomic adds,
//!   versionstamps), implemented by the in-memory, sled and FoundationDB backends;
//! - [`Error`], one error type with [`Error::is_retryable`];
//! - [`limits`], FoundationDB's size and time limits, the same on every backend;
//! - [`run`], the retry loop.

#![forbid(unsafe_code)]

mod error;
mod kv;
pub mod limits;
mod retry;

pub use error::{Error, Result};
pub use kv::{
    check_key, check_value, check_versionstamp_offset, key_after, prefix_end, versionstamp,
    CommitInfo, KeyValue, KvBackend, RangeOptions, RangePage, Transaction, RANGE_PAGE_MAX_BYTES,
    RANGE_PAGE_MAX_ROWS,
};
pub use retry::{run, RetryOptions, RetryStats, RetryTx};
