//! A transaction's buffered writes, and how they overlay what it reads (read-your-writes).

use std::collections::BTreeMap;
use std::ops::Bound;

use coditect_core::limits::MAX_TRANSACTION_SIZE;
use coditect_core::{kv::Result, KeyValue, KvError};

use crate::ranges::{KeyRange, RangeSet};

/// A buffered write of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    /// The key gets this value.
    Set(Vec<u8>),
    /// The key is removed.
    Clear,
    /// This is added to whatever the key holds at commit.
    Add(i64),
}

/// What a transaction's own writes say about a key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Local {
    /// The transaction decided the value itself; storage need not be read.
    Known(Option<Vec<u8>>),
    /// Storage decides, with this added on top when `Some` (a buffered atomic add).
    FromStorage(Option<i64>),
}

/// A versionstamped key waiting for its commit's stamp.
#[derive(Debug, Clone)]
pub(crate) struct StampedWrite {
    pub key: Vec<u8>,
    pub offset: usize,
    pub value: Vec<u8>,
    /// Ranges cleared after this write was buffered. Its final key is known only at commit;
    /// FoundationDB applies mutations in order, so a later range clear that covers the final
    /// key removes it.
    pub cleared_after: Vec<KeyRange>,
}

/// Everything a transaction buffers until commit.
#[derive(Debug, Default)]
pub(crate) struct WriteBuffer {
    /// Point writes; a later range clear removes the ones it covers.
    pub writes: BTreeMap<Vec<u8>, Pending>,
    /// Ranges cleared; applied at commit before the point writes.
    pub cleared: RangeSet,
    /// Versionstamped keys, applied last.
    pub stamped: Vec<StampedWrite>,
    /// Explicit write conflict ranges.
    pub write_conflicts: Vec<KeyRange>,
    /// The transaction's size so far, as `coditect_core::limits` counts it (mutations and
    /// conflict ranges, reads included).
    size: usize,
}

/// `delta` added to a little-endian 64-bit integer, as FoundationDB's `ADD` mutation: a missing
/// value is 0, a shorter one zero-extended, a longer one truncated; the sum wraps.
pub(crate) fn add_le(base: Option<&[u8]>, delta: i64) -> Vec<u8> {
    let mut bytes = [0u8; 8];
    if let Some(base) = base {
        let n = base.len().min(8);
        bytes[..n].copy_from_slice(&base[..n]);
    }
    i64::from_le_bytes(bytes)
        .wrapping_add(delta)
        .to_le_bytes()
        .to_vec()
}

impl WriteBuffer {
    /// Counts a write's bytes, refusing it when the transaction would pass the limit.
    pub fn account(&mut self, bytes: usize) -> Result<()> {
        let size = self.size.saturating_add(bytes);
        if size > MAX_TRANSACTION_SIZE {
            return Err(KvError::TransactionTooLarge {
                size,
                limit: MAX_TRANSACTION_SIZE,
            });
        }
        self.size = size;
        Ok(())
    }

    /// Counts a read conflict range's bytes. A read is never refused for its size: like
    /// FoundationDB, the commit is ([`Self::size`]).
    pub fn count_read(&mut self, bytes: usize) {
        self.size = self.size.saturating_add(bytes);
    }

    /// The transaction's counted size.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        self.writes
            .insert(key.to_vec(), Pending::Set(value.to_vec()));
    }

    pub fn clear(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), Pending::Clear);
    }

    pub fn clear_range(&mut self, begin: &[u8], end: &[u8]) {
        if begin >= end {
            return;
        }
        let covered: Vec<Vec<u8>> = self
            .writes
            .range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in covered {
            self.writes.remove(&key);
        }
        self.cleared.insert(KeyRange::new(begin, end));
        for stamped in &mut self.stamped {
            stamped.cleared_after.push(KeyRange::new(begin, end));
        }
    }

    pub fn add(&mut self, key: &[u8], delta: i64) {
        let next = match self.writes.get(key) {
            Some(Pending::Set(value)) => Pending::Set(add_le(Some(value), delta)),
            Some(Pending::Clear) => Pending::Set(add_le(None, delta)),
            Some(Pending::Add(earlier)) => Pending::Add(earlier.wrapping_add(delta)),
            None if self.cleared.contains(key) => Pending::Set(add_le(None, delta)),
            None => Pending::Add(delta),
        };
        self.writes.insert(key.to_vec(), next);
    }

    /// What this transaction's writes say about `key`.
    pub fn local(&self, key: &[u8]) -> Local {
        match self.writes.get(key) {
            Some(Pending::Set(value)) => Local::Known(Some(value.clone())),
            Some(Pending::Clear) => Local::Known(None),
            Some(Pending::Add(delta)) => Local::FromStorage(Some(*delta)),
            None if self.cleared.contains(key) => Local::Known(None),
            None => Local::FromStorage(None),
        }
    }

    /// Whether any write of this transaction falls in `[begin, end)`.
    fn touches(&self, begin: &[u8], end: &[u8]) -> bool {
        begin < end
            && (self.cleared.overlaps(begin, end)
                || self
                    .writes
                    .range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)))
                    .next()
                    .is_some())
    }

    /// Overlays this transaction's writes on `stored`, the complete stored contents of
    /// `[begin, end)` at the read version, in the read's direction.
    pub fn overlay(
        &self,
        begin: &[u8],
        end: &[u8],
        stored: Vec<KeyValue>,
        reverse: bool,
    ) -> Vec<KeyValue> {
        if !self.touches(begin, end) {
            return stored;
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored
            .into_iter()
            .filter(|kv| !self.cleared.contains(&kv.key))
            .map(|kv| (kv.key, kv.value))
            .collect();
        let local = self
            .writes
            .range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)));
        for (key, pending) in local {
            match pending {
                Pending::Set(value) => {
                    merged.insert(key.clone(), value.clone());
                }
                Pending::Clear => {
                    merged.remove(key);
                }
                Pending::Add(delta) => {
                    let sum = add_le(merged.get(key).map(Vec::as_slice), *delta);
                    merged.insert(key.clone(), sum);
                }
            }
        }
        let rows = merged
            .into_iter()
            .map(|(key, value)| KeyValue { key, value });
        if reverse {
            rows.rev().collect()
        } else {
            rows.collect()
        }
    }

    /// Whether the commit has nothing to apply and no write conflict to publish.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.cleared.is_empty()
            && self.stamped.is_empty()
            && self.write_conflicts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_le_extends_truncates_and_wraps() {
        assert_eq!(add_le(None, 5), 5i64.to_le_bytes().to_vec());
        assert_eq!(add_le(Some(&[1]), 1), 2i64.to_le_bytes().to_vec());
        let long = [1, 0, 0, 0, 0, 0, 0, 0, 9, 9];
        assert_eq!(add_le(Some(&long), 1), 2i64.to_le_bytes().to_vec());
        assert_eq!(
            add_le(Some(&i64::MAX.to_le_bytes()), 1),
            i64::MIN.to_le_bytes().to_vec()
        );
    }

    #[test]
    fn range_clear_hides_earlier_writes_and_later_adds_start_from_zero() {
        let mut buffer = WriteBuffer::default();
        buffer.set(b"b", b"1");
        buffer.clear_range(b"a", b"c");
        assert_eq!(buffer.local(b"b"), Local::Known(None));
        buffer.add(b"b", 3);
        assert_eq!(buffer.local(b"b"), Local::Known(Some(add_le(None, 3))));
        buffer.add(b"x", 1);
        buffer.add(b"x", 2);
        assert_eq!(buffer.local(b"x"), Local::FromStorage(Some(3)));
    }

    #[test]
    fn the_size_limit_refuses_the_mutation_that_crosses_it() {
        let mut buffer = WriteBuffer::default();
        assert!(buffer.account(MAX_TRANSACTION_SIZE).is_ok());
        assert!(matches!(
            buffer.account(1),
            Err(KvError::TransactionTooLarge { .. })
        ));
        assert_eq!(buffer.size, MAX_TRANSACTION_SIZE);
        buffer.count_read(1);
        assert_eq!(buffer.size(), MAX_TRANSACTION_SIZE + 1);
    }
}
