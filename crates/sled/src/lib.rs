//! # coditect-sled: the durable embedded backend
//!
//! [`SledBackend`] is the [engine](coditect_engine) over [`SledStore`], an ordered map kept
//! in a [sled](https://docs.rs/sled/0.34) database. Every FoundationDB transaction guarantee
//! the engine gives holds here as on the in-memory backend (the same conformance suite runs on
//! both); on top of that, committed transactions survive the process.
//!
//! ```text
//!   commit v ──> engine (resolver, window) ──> SledStore::apply:
//!                                                 [0x00 "commit" -> v, writes]  the commit record
//!                                                 [0x01 ++ key -> value]...     then the writes
//!            ──> SledStore::sync(v): one flush shared by every committer waiting (group commit)
//!                                    + fdatasync of sled's data file and new blob files
//!            ──> acknowledged, visible to new transactions
//! ```
//!
//! ## What a commit promises
//!
//! - **Atomic**: a commit stores its record (version and writes) before its writes, and
//!   opening the store applies the last record again, so a crash leaves no commit in part
//!   (see the `store` module for why this and not a `sled::Batch`).
//! - **Durable** with [`SledOptions::sync`] (the default): `commit` returns only after sled
//!   flushed its log and its data and blob files were `fdatasync`ed. Without `sync`, sled
//!   flushes in the background every 500 ms and a crash loses the commits of that window
//!   (never part of one).
//! - **Versions never repeat**: the commit record is read back on open, so commit versions
//!   and versionstamps keep increasing across restarts and crashes.
//!
//! The crash tests (`tests/crash.rs`) kill a writer process with SIGKILL at many points and
//! check these promises; the repository README says what they do not cover.
//!
//! ## The directory
//!
//! A store is a directory holding sled's files and `coditect-sled.lock`. Opening takes the
//! store's lock first (a registry within the process, an advisory lock on that file across
//! processes), so a second opener gets [`KvError::Backend`](coditect_core::KvError::Backend)
//! naming the path: at once in the same process, within half a second from another one,
//! never a hang. A sled database without this crate's format marker, or a directory holding
//! anything else, is refused too.

#![forbid(unsafe_code)]

mod blobs;
mod commit_record;
mod errors;
mod group_commit;
mod layout;
mod lock;
mod store;

/// The engine's options inside [`SledOptions::engine`], re-exported so a caller needs no
/// dependency on coditect-engine.
pub use coditect_engine::EngineOptions;
pub use store::{SledOptions, SledStore};

use std::path::Path;

use coditect_core::kv::Result;
use coditect_engine::Engine;

/// The durable embedded backend: a [`KvBackend`](coditect_core::KvBackend) via [`Engine`].
pub type SledBackend = Engine<SledStore>;

/// Opens (or, unless [`SledOptions::create`] is `false`, creates) the store in directory
/// `path` and starts the engine on it, continuing from the last version committed there.
///
/// Fails, naming `path`, when the store is open elsewhere (in this or another process), when
/// `path` holds something that is not a coditect-sled store, or when sled cannot open it.
pub fn open(path: impl AsRef<Path>, options: SledOptions) -> Result<SledBackend> {
    let engine_options = options.engine.clone();
    Engine::new(SledStore::open(path, options)?, engine_options)
}
