//! Shared set-up of the coditect-data criterion benchmarks (the benches live in `benches/`).
//!
//! Runs are short by default so a bench finishes in a minute or two on a 2-core machine; set
//! `CODITECT_BENCH_LONG=1` for criterion's full defaults (more samples, longer measurement).

#![forbid(unsafe_code)]

use std::time::Duration;

use criterion::Criterion;

/// Criterion configured for a short run, or criterion's defaults when `CODITECT_BENCH_LONG`
/// is set to anything but `0`.
pub fn criterion() -> Criterion {
    let long = std::env::var("CODITECT_BENCH_LONG").is_ok_and(|v| v != "0");
    let base = Criterion::default().configure_from_args();
    if long {
        base
    } else {
        base.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
    }
}

/// The key of preloaded row `i`: `b"kv/"` and `i` as 8 big-endian bytes, so keys sort by `i`.
pub fn row_key(i: u64) -> Vec<u8> {
    let mut key = b"kv/".to_vec();
    key.extend_from_slice(&i.to_be_bytes());
    key
}

/// The `main` of a bench: its `targets` in one criterion group named `benches`, configured by
/// [`criterion()`](fn@criterion). The group's function is public and undocumented (criterion's macro), hence
/// each bench's `#![allow(missing_docs)]`.
#[macro_export]
macro_rules! bench_main {
    ($($target:path),+ $(,)?) => {
        ::criterion::criterion_group! {
            name = benches;
            config = $crate::criterion();
            targets = $($target),+
        }
        ::criterion::criterion_main!(benches);
    };
}
