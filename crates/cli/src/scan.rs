//! Reading a key range of any size: pages of rows, a fresh transaction per chunk, so a long
//! range never runs into FoundationDB's 5 s transaction lifetime.

use coditect_core::{KeyValue, KvBackend, RangeOptions};

/// Rows read in one transaction before the next chunk starts a new one.
const ROWS_PER_TRANSACTION: usize = 10_000;

/// Reads `[begin, end)` in key order as snapshot reads (no conflicts: an inspection never
/// disturbs writers), calling `each` for every row, at most `limit` rows (0: all). Rows of
/// different chunks come from different read versions.
pub async fn scan(
    db: &dyn KvBackend,
    begin: &[u8],
    end: &[u8],
    limit: usize,
    mut each: impl FnMut(KeyValue) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut seen = 0usize;
    let mut lo = begin.to_vec();
    'chunks: loop {
        let tx = db.begin().await?;
        let mut in_tx = 0usize;
        loop {
            let want = match limit {
                0 => 0,
                limit => limit - seen,
            };
            let page = tx
                .get_range(
                    &lo,
                    end,
                    RangeOptions {
                        limit: want,
                        reverse: false,
                        snapshot: true,
                    },
                )
                .await?;
            let next = page.next_range(&lo, end, false);
            for kv in page.kvs {
                seen += 1;
                in_tx += 1;
                each(kv)?;
            }
            if limit != 0 && seen >= limit {
                break 'chunks;
            }
            match next {
                Some((next_lo, _)) => lo = next_lo,
                None => break 'chunks,
            }
            if in_tx >= ROWS_PER_TRANSACTION {
                continue 'chunks;
            }
        }
    }
    Ok(seen)
}
