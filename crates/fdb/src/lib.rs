//! # coditect-fdb
//!
//! The coditect-data contract ([`coditect_core::KvBackend`]) over FoundationDB, the production
//! store, through the `foundationdb` crate 0.11 (API version 730: FoundationDB client
//! libraries 7.3 and later).
//!
//! The mapping is 1:1: one FoundationDB transaction per contract transaction, each contract
//! call one FoundationDB call (the table is in `coditect_core`'s `kv` module). Only what
//! FoundationDB reports later or differently is decided here, in `FdbTransaction`: sizes are
//! checked before sending, so the errors are the same kinds at the same points as on the
//! embedded backends.
//!
//! ## Features
//!
//! - `native` (default): `FdbBackend`, `boot` and the rest of the client. Building it needs
//!   libclang (bindgen); linking a program or test that uses it needs libfdb_c, FoundationDB's
//!   client library, which the `foundationdb-clients` package installs.
//! - without it: only [`error_map`] and [`cluster_file`], pure code that builds and is tested
//!   anywhere: `cargo test -p coditect-fdb --no-default-features`.
//!
//! ## Use
//!
//! ```no_run
//! # #[cfg(feature = "native")]
//! # async fn example() -> coditect_core::kv::Result<()> {
//! use std::time::Duration;
//! use coditect_fdb::{FdbBackend, FdbOptions};
//!
//! // The cluster file from FDB_CLUSTER_FILE (else ./fdb.cluster, else /etc/foundationdb/fdb.cluster).
//! let backend = FdbBackend::connect(&FdbOptions::default(), Duration::from_secs(5)).await?;
//! # let _ = backend;
//! // ... hand `backend` (an `Arc<dyn KvBackend>`) to the layers above ...
//! coditect_fdb::stop_network(); // last, at shutdown
//! # Ok(())
//! # }
//! ```

pub mod boot_state;
pub mod cluster_file;
pub mod error_map;

#[cfg(feature = "native")]
mod backend;
#[cfg(feature = "native")]
mod native_error;
#[cfg(feature = "native")]
mod network;
#[cfg(feature = "native")]
mod transaction;

#[cfg(feature = "native")]
pub use backend::{FdbBackend, FdbOptions, DEFAULT_TRANSACTION_TIMEOUT};
pub use cluster_file::{
    resolve_cluster_file, resolve_cluster_file_from, CLUSTER_FILE_ENV, DEFAULT_CLUSTER_FILE,
    LOCAL_CLUSTER_FILE,
};
pub use error_map::{
    is_maybe_committed_code, is_retryable_code, map_fdb_error, map_fdb_error_with, Predicates,
};
#[cfg(feature = "native")]
pub use network::{boot, stop_network};
#[cfg(feature = "native")]
pub use transaction::FdbTransaction;
