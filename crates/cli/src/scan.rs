//! Reading a key range of any size: pages of rows, a fresh transaction per chunk, so a long
//! range never runs into FoundationDB's 5 s transaction lifetime.

use coditect_core::{KeyValue, KvBackend, RangeOptions, RangeWalk};

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
    let (mut seen, mut lo) = (0usize, begin.to_vec());
    loop {
        let tx = db.begin().await?;
        let rows = match limit {
            0 => ROWS_PER_TRANSACTION,
            limit => (limit - seen).min(ROWS_PER_TRANSACTION),
        };
        let mut walk = RangeWalk::new(&lo, end, RangeOptions::limit(rows).snapshot());
        while let Some(page) = walk.next_page(&*tx).await? {
            for kv in page {
                seen += 1;
                each(kv)?;
            }
        }
        if limit != 0 && seen >= limit {
            break;
        }
        match walk.resume_key() {
            Some(next) => lo = next.to_vec(),
            None => break,
        }
    }
    Ok(seen)
}
