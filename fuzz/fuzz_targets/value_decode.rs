//! Arbitrary bytes into the versioned-value decoder of every stored type.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    coditect_conformance::decoders::value(data);
});
