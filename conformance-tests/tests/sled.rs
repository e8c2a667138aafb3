//! The whole conformance suite, kv and model layer, on the sled backend, each case in its own
//! temporary directory.
//!
//! Commits are durable (`sync: true`, the default users get), so the suite also drives group
//! commit through its concurrent cases (bank transfers, concurrent atomic adds); the crash
//! tests in crates/sled check what durability means.

use std::sync::Arc;

use async_trait::async_trait;
use coditect_conformance::{EngineHarness, Harness};
use coditect_core::KvBackend;
use coditect_sled::{SledOptions, SledStore};
use tempfile::TempDir;

/// An [`EngineHarness`] over a sled store that owns the store's directory, removed when the
/// case ends.
struct SledHarness {
    // Declared first so the store closes before its directory is removed.
    engine: EngineHarness<SledStore>,
    _dir: TempDir,
}

impl SledHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("store");
        let engine = EngineHarness::new(|engine| {
            coditect_sled::open(
                &path,
                SledOptions {
                    engine,
                    ..SledOptions::default()
                },
            )
        });
        SledHarness { engine, _dir: dir }
    }
}

#[async_trait]
impl Harness for SledHarness {
    fn backend(&self) -> Arc<dyn KvBackend> {
        self.engine.backend()
    }

    async fn age_past_read_version_limit(&self) {
        self.engine.age_past_read_version_limit().await;
    }
}

coditect_conformance::kv_suite!(SledHarness::new());
coditect_conformance::model_suite!(SledHarness::new());
coditect_conformance::audit_suite!(SledHarness::new());
coditect_conformance::ops_suite!(SledHarness::new());
coditect_conformance::security_suite!(SledHarness::new());
coditect_conformance::audit_integrity_suite!(SledHarness::new());
