//! The disk's floor for a durable commit: how long a 4 KiB write followed by one
//! `fdatasync` takes in a directory, so that a durable store's commit latency can be read
//! as a multiple of what the disk itself costs.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::report::Summary;

/// Writes and syncs per measurement: about a tenth of a second on a local SSD.
const SAMPLES: usize = 200;

/// Percentiles of `SAMPLES` appends of 4 KiB, each followed by `sync_data` (fdatasync), to a
/// scratch file in `dir` (removed afterwards).
pub fn floor(dir: &Path) -> anyhow::Result<Summary> {
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a scratch file in {}", dir.display()))?;
    let block = [0x5a_u8; 4096];
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .context("histogram bounds")?;
    for _ in 0..SAMPLES {
        let start = Instant::now();
        file.write_all(&block)?;
        file.as_file().sync_data()?;
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram.saturating_record(nanos.max(1));
    }
    Ok(Summary::of(&histogram))
}
