//! The fuzz targets of `fuzz/` on stable: every file of `fuzz/corpus/<target>/` is replayed
//! through the same function the target calls, then a bounded number of proptest cases feeds
//! it fresh inputs. A decoder may return an error, never panic; the differential runner must
//! agree with its model.

use std::path::{Path, PathBuf};

use coditect_conformance::{decoders, differential};
use proptest::prelude::*;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bytes)));
        assert!(outcome.is_ok(), "{} fails {target}", path.display());
    }
}

fn mem(
    options: coditect_engine::EngineOptions,
) -> coditect_core::kv::Result<coditect_mem::MemBackend> {
    Ok(coditect_mem::new_backend(options))
}

fn differential_case(data: &[u8]) {
    if let Err(divergence) = differential::run_bytes_on(mem, data) {
        panic!("{divergence}");
    }
}

#[test]
fn tuple_key_decode_corpus() {
    replay("tuple_key_decode", |data| {
        decoders::tuple_key(data);
    });
}

#[test]
fn value_decode_corpus() {
    replay("value_decode", |data| {
        decoders::value(data);
    });
}

#[test]
fn backup_import_corpus() {
    replay("backup_import", |data| {
        decoders::backup(data);
    });
}

/// The checked-in valid backup verifies, so the replay above reaches the end of the format.
#[test]
fn the_seed_backup_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/backup_import");
    let bytes = std::fs::read(dir.join("valid_backup")).unwrap();
    coditect_ops::verify_backup(&bytes).unwrap();
    assert!(coditect_ops::verify_backup(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn differential_corpus() {
    replay("differential", differential_case);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tuple_key_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        decoders::tuple_key(&data);
    }

    /// Keys that start like real ones (a tenant UUID, then strings), so the decoder gets past
    /// the first byte.
    #[test]
    fn tuple_key_decode_of_tenant_shaped_keys(
        uuid in any::<[u8; 16]>(),
        tail in proptest::collection::vec(prop_oneof![Just(0x00u8), Just(0x02), Just(0xFF), any::<u8>()], 0..48),
    ) {
        let mut key = vec![0x30];
        key.extend_from_slice(&uuid);
        key.extend_from_slice(&tail);
        decoders::tuple_key(&key);
    }

    #[test]
    fn backup_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        decoders::backup(&data);
    }

    /// The seed backup with one byte changed: an error (or, rarely, still valid), never a panic.
    #[test]
    fn damaged_backups_are_errors(at in any::<usize>(), xor in 1u8..) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/backup_import");
        let mut bytes = std::fs::read(dir.join("valid_backup")).unwrap();
        let at = at % bytes.len();
        bytes[at] ^= xor;
        prop_assert!(coditect_ops::verify_backup(&bytes).is_err());
    }

    #[test]
    fn value_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
        decoders::value(&data);
    }

    /// Values whose first byte is a schema version a type knows, so postcard gets to decode.
    #[test]
    fn value_decode_of_known_versions(version in 0u8..4, body in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut data = vec![version];
        data.extend_from_slice(&body);
        decoders::value(&data);
    }
}
