//! The engine against the naive model of FoundationDB semantics
//! ([`coditect_conformance::differential`]): random interleavings of several transactions must
//! give the same reads, the same commit outcomes and the same final database.

use coditect_conformance::differential::{run_bytes_on, run_sequence, Op};
use proptest::prelude::*;

fn mem(
    options: coditect_engine::EngineOptions,
) -> coditect_core::kv::Result<coditect_mem::MemBackend> {
    Ok(coditect_mem::new_backend(options))
}

proptest! {
    // 10,000 sequences of up to ~100 operations over 8 keys: conflicts are frequent.
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_the_model(data in proptest::collection::vec(any::<u8>(), 0..320)) {
        if let Err(divergence) = run_bytes_on(mem, &data) {
            prop_assert!(false, "{divergence}\ninput: {data:?}");
        }
    }
}

proptest! {
    // The same on sled (each sequence in its own directory, commits not synced): fewer cases,
    // since opening a sled store costs milliseconds. Catches sled's scans or batch application
    // disagreeing with the in-memory store under the same engine.
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_on_sled_matches_the_model(data in proptest::collection::vec(any::<u8>(), 0..320)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let open = |engine| {
            coditect_sled::open(
                &path,
                coditect_sled::SledOptions {
                    engine,
                    sync: false,
                    ..coditect_sled::SledOptions::default()
                },
            )
        };
        if let Err(divergence) = run_bytes_on(open, &data) {
            prop_assert!(false, "{divergence}\ninput: {data:?}");
        }
    }
}

/// The anomaly the model is most likely to be asked about, spelled out: a range read is
/// overtaken by an insert into it (a phantom), so the reader's commit conflicts.
#[test]
fn phantom_insert_conflicts_in_both() {
    let ops = [
        Op::Begin,
        Op::Begin,
        Op::Range {
            tx: 0,
            begin: 1,
            end: 6,
            limit: 0,
            reverse: false,
            snapshot: false,
        },
        Op::Set {
            tx: 1,
            key: 4,
            value: 1,
        },
        Op::Commit { tx: 1 },
        Op::Set {
            tx: 0,
            key: 7,
            value: 2,
        },
        Op::Commit { tx: 0 },
    ];
    run_sequence(mem, &ops).unwrap();
}
