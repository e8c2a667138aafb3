//! Arbitrary bytes -> a sequence of interleaved transactions, run on the in-memory engine and
//! on the naive model (`coditect_conformance::differential`); any difference is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let run = coditect_conformance::differential::run_bytes_on(
        |options| Ok(coditect_mem::new_backend(options)),
        data,
    );
    if let Err(divergence) = run {
        panic!("{divergence}");
    }
});
