//! The versioned window: what recently changed keys held before each change.
//!
//! The base store keeps only the latest value of a key. For a reader at an older read version
//! to see a consistent snapshot, the window remembers, for every change committed after the
//! oldest live read version, the value the key had just before it:
//!
//! ```text
//! key k:  base holds "v3"        window(k): [(v=7, prev "v1"), (v=9, prev "v2")]
//!         reader at rv 5  -> first change after 5 is 7  -> sees "v1"
//!         reader at rv 8  -> first change after 8 is 9  -> sees "v2"
//!         reader at rv 9  -> no change after 9          -> sees base "v3"
//! ```
//!
//! Ordering makes this safe without a global lock: a committer records previous values here
//! *before* it writes the base store, and a reader reads the base store *before* it looks here.
//! Whatever the interleaving, a reader that saw a new base value also sees the window entry
//! that undoes it for its read version.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

/// The changes of one key, oldest first: (version of the change, value it replaced).
type Changes = VecDeque<(u64, Option<Vec<u8>>)>;

/// Previous values of keys changed by recent commits.
#[derive(Debug, Default)]
pub struct VersionedWindow {
    /// Per key, the changes in ascending version order with the value each replaced.
    by_key: BTreeMap<Vec<u8>, Changes>,
    /// The versions held, oldest first, with the keys each changed: what GC walks.
    by_version: VecDeque<(u64, Vec<Vec<u8>>)>,
    /// Every change at or below this version has been dropped.
    horizon: u64,
}

impl VersionedWindow {
    /// Records that the commit at `version` (higher than any recorded before) replaced each
    /// key's `previous` value.
    pub fn record(&mut self, version: u64, changes: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        let mut keys = Vec::with_capacity(changes.len());
        for (key, previous) in changes {
            self.by_key
                .entry(key.clone())
                .or_default()
                .push_back((version, previous));
            keys.push(key);
        }
        self.by_version.push_back((version, keys));
    }

    /// Removes what [`record`](Self::record) added for `version` when its commit failed to apply.
    pub fn unrecord(&mut self, version: u64) {
        let Some((last, _)) = self.by_version.back() else {
            return;
        };
        if *last != version {
            return;
        }
        let Some((_, keys)) = self.by_version.pop_back() else {
            return;
        };
        for key in keys {
            if let Some(changes) = self.by_key.get_mut(&key) {
                changes.pop_back();
                if changes.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// What `key` held at `read_version` if a change after that version is recorded:
    /// `Some(previous)` (where `previous` may be `None`, the key was absent), or `None` when
    /// the base store's latest value is the one to read.
    pub fn value_at(&self, key: &[u8], read_version: u64) -> Option<&Option<Vec<u8>>> {
        first_change_after(self.by_key.get(key)?, read_version)
    }

    /// For every key in `[begin, end)` changed after `read_version`, the value it held at that
    /// version, in key order.
    pub fn values_at<'a>(
        &'a self,
        begin: &'a [u8],
        end: &'a [u8],
        read_version: u64,
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a {
        let range = if begin < end {
            Some(
                self.by_key
                    .range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end))),
            )
        } else {
            None
        };
        range
            .into_iter()
            .flatten()
            .filter_map(move |(key, changes)| {
                first_change_after(changes, read_version).map(|value| (key, value))
            })
    }

    /// Drops every change at or below `horizon`: no reader that can still read needs them.
    pub fn forget_through(&mut self, horizon: u64) {
        while self.by_version.front().is_some_and(|(v, _)| *v <= horizon) {
            let Some((version, keys)) = self.by_version.pop_front() else {
                break;
            };
            for key in keys {
                if let Some(changes) = self.by_key.get_mut(&key) {
                    while changes.front().is_some_and(|(v, _)| *v <= version) {
                        changes.pop_front();
                    }
                    if changes.is_empty() {
                        self.by_key.remove(&key);
                    }
                }
            }
        }
        self.horizon = self.horizon.max(horizon);
    }

    /// Changes at or below this version are gone; a reader below it cannot be served.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// How many (key, version) changes are held: for tests of bounded memory.
    pub fn len(&self) -> usize {
        self.by_key.values().map(VecDeque::len).sum()
    }

    /// Whether no change is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

fn first_change_after(changes: &Changes, read_version: u64) -> Option<&Option<Vec<u8>>> {
    let i = changes.partition_point(|(v, _)| *v <= read_version);
    changes.get(i).map(|(_, previous)| previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_value_before_the_first_change_after_its_version() {
        let mut w = VersionedWindow::default();
        w.record(7, vec![(b"k".to_vec(), Some(b"v1".to_vec()))]);
        w.record(9, vec![(b"k".to_vec(), Some(b"v2".to_vec()))]);
        assert_eq!(w.value_at(b"k", 5), Some(&Some(b"v1".to_vec())));
        assert_eq!(w.value_at(b"k", 7), Some(&Some(b"v2".to_vec())));
        assert_eq!(w.value_at(b"k", 9), None);
        assert_eq!(w.value_at(b"other", 1), None);
    }

    #[test]
    fn forgetting_drops_old_changes_and_unrecord_undoes_the_last() {
        let mut w = VersionedWindow::default();
        w.record(1, vec![(b"a".to_vec(), None)]);
        w.record(
            2,
            vec![(b"a".to_vec(), Some(b"x".to_vec())), (b"b".to_vec(), None)],
        );
        w.record(3, vec![(b"c".to_vec(), None)]);
        w.unrecord(3);
        assert_eq!(w.len(), 3);
        w.forget_through(1);
        assert_eq!(w.len(), 2);
        assert_eq!(w.horizon(), 1);
        let got: Vec<_> = w.values_at(b"a", b"z", 1).map(|(k, _)| k.clone()).collect();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        w.forget_through(10);
        assert!(w.is_empty());
    }
}
