//! # coditect-testing
//!
//! A kit for testing a service built on coditect-data without a cluster:
//!
//! - [`faults::FaultyBackend`] wraps any backend and makes FoundationDB's transient failures
//!   happen on purpose: at random from a seeded plan, or scripted ("the next commit applies,
//!   then reports `CommitUnknownResult`"), which is how a retry path is tested;
//! - [`fixture::Company`] onboards a tenant with its Admin and adds humans and agents holding
//!   given roles, one call each.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> coditect_core::Result<()> {
//! use coditect_testing::faults::{Fault, FaultyBackend};
//! use coditect_testing::fixture::{memory, Company};
//!
//! let db = std::sync::Arc::new(FaultyBackend::scripted(memory(), []));
//! let acme = Company::onboard(db.clone(), "Acme", "acme.test").await?;
//! let viewer = acme.human("vera", "viewer").await?;
//! db.then(1, Fault::UnknownAfterCommit); // the next commit applies, then "fails"
//! let agent = acme.agent("builder", "contributor").await?;
//! # let _ = (viewer, agent); Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod faults;
pub mod fixture;
