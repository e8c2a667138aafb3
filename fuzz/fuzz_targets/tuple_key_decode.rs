//! Arbitrary bytes into the tuple-key decoders (`coditect_core::keys`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coditect_conformance::decoders::tuple_key(data);
});
