//! # coditect-engine: FoundationDB's transaction semantics over any ordered store
//!
//! The in-memory and sled backends are this engine over two different [`BaseStore`]s; the
//! concurrency control is written once, here. It copies how FoundationDB itself works:
//!
//! ```text
//!            begin: read version rv = latest visible version
//!                │
//!   reads ───────┼──> base store (latest values) ─┐
//!                │    versioned window  ──────────┴─> value as of rv, + own buffered writes
//!                │
//!   writes ──────┼──> buffered in the transaction (read-your-writes)
//!                │
//!   commit ──────┴──> sequencer: one commit at a time, next version v
//!                     resolver:  did a commit after rv write what this one read? -> Conflict
//!                     window:    remember previous values of keys written at v
//!                     base store: apply all writes as one atomic batch
//!                     publish v: new transactions read at v
//! ```
//!
//! ## Versions and snapshots
//!
//! Every commit gets the next version. A transaction reads at the latest version visible when
//! it began. The base store only holds the latest value of each key, so the versioned
//! window (`window.rs`) keeps, for recent commits, what each changed key held before: a reader at
//! `rv` that finds a change newer than `rv` reads the value from before that change.
//!
//! ```text
//! version:   5        7         9
//! key k:   "v1" ──> "v2" ──> "v3" (base)
//!                 window: (7: "v1"), (9: "v2")
//! reader@5 sees "v1", reader@7 sees "v2", reader@9 sees "v3"
//! ```
//!
//! ## Conflicts
//!
//! A transaction records what it read (keys, and for range reads the part of the range it
//! covered, so an insert into it, a phantom, counts) as read conflict ranges. At commit the
//! resolver (`resolver.rs`) checks them against the write ranges of every commit newer than the
//! read version; any overlap is [`KvError::Conflict`](coditect_core::KvError::Conflict), retryable.
//!
//! - Snapshot reads record nothing: they trade serializability for never conflicting.
//! - Blind writes (sets, clears, atomic adds, versionstamped keys) read nothing, so two
//!   transactions that only write never conflict, whatever keys they share. Atomic adds are
//!   applied at commit on top of the latest value, so concurrent adds sum exactly.
//!
//! ## The 5 s window and bounded memory
//!
//! A transaction older than [`MAX_READ_VERSION_AGE`](coditect_core::limits::MAX_READ_VERSION_AGE)
//! (by the injectable [`Clock`]) fails its reads with `TransactionTooOld`, and its commit too
//! when it has read conflict ranges: as in FoundationDB's resolver, a commit that read nothing
//! (or only as snapshots) cannot be overtaken and still commits.
//!
//! ## FoundationDB's limits
//!
//! Sizes are counted as `coditect_core::limits` says (mutations and conflict ranges, reads
//! included), refused at the write that crosses the limit or at commit. A read of a key or
//! range where one of the transaction's own versionstamped keys may land is
//! `AccessedUnreadable`, as in FoundationDB's read-your-writes layer. After each commit, the window
//! and resolver forget every version at or below the oldest read version of a live, not yet
//! too old transaction: with no long reader around, they hold almost nothing.
//!
//! ## Durability
//!
//! A store that needs it is synced after the batch is applied but before the commit is
//! acknowledged or made visible, outside the commit lock, so concurrent committers can share
//! one sync.

#![forbid(unsafe_code)]

mod clock;
mod engine;
mod ranges;
mod resolver;
mod store;
mod tx;
mod window;
mod write_buffer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, EngineOptions, EngineStats};
pub use store::{BaseStore, CommitBatch, Write};
pub use tx::EngineTx;
