//! Arbitrary bytes into the backup-file decoder (the import's verification pass), as they come
//! and re-framed with correct checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coditect_conformance::decoders::backup(data);
});
