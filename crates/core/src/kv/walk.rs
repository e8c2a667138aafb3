//! [`RangeWalk`]: reading a key range page by page inside one transaction, with a row and a
//! byte budget, so that no caller writes its own `get_range` / `next_range` loop.
//!
//! A range read returns at most a page ([`RANGE_PAGE_MAX_ROWS`](super::RANGE_PAGE_MAX_ROWS)
//! rows or [`RANGE_PAGE_MAX_BYTES`](super::RANGE_PAGE_MAX_BYTES) bytes), as
//! FoundationDB's does, and says whether more follows. A walk asks for the next page where the
//! last one ended, stops when the range, the row budget or the byte budget is spent, and
//! remembers where it stopped: [`RangeWalk::resume_key`] starts the next transaction's walk
//! there (the chunked tenant operations), or [`RangeWalk::is_done`] says the range is read.
//!
//! ```
//! # async fn demo(tx: &dyn coditect_core::Transaction) -> coditect_core::kv::Result<usize> {
//! use coditect_core::kv::{RangeOptions, RangeWalk};
//! let mut walk = RangeWalk::new(b"a", b"z", RangeOptions::default()).max_bytes(1 << 20);
//! let mut rows = 0;
//! while let Some(page) = walk.next_page(tx).await? {
//!     rows += page.len();
//! }
//! // Either the whole range was read, or a MiB of it and `walk.resume_key()` says where to go on.
//! # Ok(rows) }
//! ```

use async_trait::async_trait;

use super::{key_after, KeyValue, KvError, RangeOptions, RangePage, Transaction};

/// What a [`RangeWalk`] reads pages from: a transaction, or a view of one above the contract
/// (the model layer's tenant-scoped transaction), with its own error type.
#[async_trait]
pub trait RangeSource: Sync {
    /// What a page read can fail with: the contract's [`KvError`] or an error holding it.
    type Error: From<KvError> + Send;

    /// One page of `[begin, end)`, as [`Transaction::get_range`].
    async fn range_page(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage, Self::Error>;
}

#[async_trait]
impl RangeSource for dyn Transaction + '_ {
    type Error = KvError;

    async fn range_page(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage, KvError> {
        self.get_range(begin, end, options).await
    }
}

/// A walk over `[begin, end)` in pages: see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct RangeWalk {
    /// What is still to read (the walk narrows it from the front, or from the back when
    /// reverse).
    lo: Vec<u8>,
    hi: Vec<u8>,
    options: RangeOptions,
    /// Rows still allowed (`None`: no row budget).
    rows_left: Option<usize>,
    /// Bytes (keys and values) still allowed before the walk pauses (`None`: no byte budget).
    bytes_left: Option<usize>,
    /// The most rows one page asks for (`None`: a whole page of the store's).
    page_rows: Option<usize>,
    /// The range is read to its end.
    exhausted: bool,
}

impl RangeWalk {
    /// A walk over `[begin, end)`: forward unless `options.reverse`, as a snapshot if
    /// `options.snapshot`, and at most `options.limit` rows in all (0: no row budget).
    pub fn new(begin: &[u8], end: &[u8], options: RangeOptions) -> Self {
        RangeWalk {
            lo: begin.to_vec(),
            hi: end.to_vec(),
            rows_left: (options.limit > 0).then_some(options.limit),
            bytes_left: None,
            page_rows: None,
            exhausted: begin >= end,
            options,
        }
    }

    /// The same walk, pausing after the page that brings what it read (keys plus values) to
    /// `bytes` or more: a budget for one transaction's share of a long walk.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.bytes_left = Some(bytes);
        self
    }

    /// The same walk, asking for at most `rows` rows a page (at least 1): for a caller that
    /// does costly work per row and wants to stop early, reading no more than it looks at.
    pub fn page_rows(mut self, rows: usize) -> Self {
        self.page_rows = Some(rows.max(1));
        self
    }

    /// The next page: its rows in walk order (never empty), or `None` when the range is read
    /// to its end or a budget is spent.
    pub async fn next_page<S: RangeSource + ?Sized>(
        &mut self,
        source: &S,
    ) -> Result<Option<Vec<KeyValue>>, S::Error> {
        if self.exhausted || self.rows_left == Some(0) || self.bytes_left == Some(0) {
            return Ok(None);
        }
        let limit = match (self.rows_left, self.page_rows) {
            (Some(left), Some(page)) => left.min(page),
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => 0,
        };
        let options = RangeOptions {
            limit,
            ..self.options
        };
        let page = source.range_page(&self.lo, &self.hi, options).await?;
        match page.kvs.last() {
            Some(last) if page.more => {
                if self.options.reverse {
                    self.hi = last.key.clone();
                } else {
                    self.lo = key_after(&last.key);
                }
            }
            _ => self.exhausted = true,
        }
        if let Some(rows) = &mut self.rows_left {
            *rows = rows.saturating_sub(page.kvs.len());
        }
        if let Some(bytes) = &mut self.bytes_left {
            let read: usize = page
                .kvs
                .iter()
                .map(|kv| kv.key.len() + kv.value.len())
                .sum();
            *bytes = bytes.saturating_sub(read.max(1));
        }
        Ok((!page.kvs.is_empty()).then_some(page.kvs))
    }

    /// Whether the range is read to its end (not merely paused by a budget).
    pub fn is_done(&self) -> bool {
        self.exhausted
    }

    /// Where a forward walk that a budget paused goes on (the first key not read yet), or
    /// `None` when it read its range to the end. For a reverse walk, the end of what is still
    /// to read.
    pub fn resume_key(&self) -> Option<&[u8]> {
        match (self.exhausted, self.options.reverse) {
            (true, _) => None,
            (false, false) => Some(&self.lo),
            (false, true) => Some(&self.hi),
        }
    }

    /// Reads every remaining page into one vector (for small ranges and tests).
    pub async fn collect<S: RangeSource + ?Sized>(
        mut self,
        source: &S,
    ) -> Result<Vec<KeyValue>, S::Error> {
        let mut rows = Vec::new();
        while let Some(page) = self.next_page(source).await? {
            rows.extend(page);
        }
        Ok(rows)
    }
}
