//! Half-open key ranges `[begin, end)` and a set of them, kept sorted and merged.

/// A half-open key range `[begin, end)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyRange {
    /// First key in the range.
    pub begin: Vec<u8>,
    /// First key past the range.
    pub end: Vec<u8>,
}

impl KeyRange {
    /// The range `[begin, end)`.
    pub fn new(begin: &[u8], end: &[u8]) -> Self {
        KeyRange {
            begin: begin.to_vec(),
            end: end.to_vec(),
        }
    }

    /// The range holding exactly `key`.
    pub fn single(key: &[u8]) -> Self {
        KeyRange {
            begin: key.to_vec(),
            end: coditect_core::key_after(key),
        }
    }

    /// Whether the range holds no key.
    pub fn is_empty(&self) -> bool {
        self.begin >= self.end
    }
}

/// A set of keys as sorted, disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<KeyRange>,
}

impl RangeSet {
    /// Adds `range` (nothing when it is empty), merging it with what it touches.
    pub fn insert(&mut self, range: KeyRange) {
        if range.is_empty() {
            return;
        }
        // First range whose end reaches range.begin, last whose begin is within range.end.
        let first = self.ranges.partition_point(|r| r.end < range.begin);
        let last = self.ranges.partition_point(|r| r.begin <= range.end);
        if first >= last {
            self.ranges.insert(first, range);
            return;
        }
        let begin = range.begin.min(self.ranges[first].begin.clone());
        let end = range.end.max(self.ranges[last - 1].end.clone());
        self.ranges.splice(first..last, [KeyRange { begin, end }]);
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &[u8]) -> bool {
        let i = self.ranges.partition_point(|r| r.end.as_slice() <= key);
        self.ranges
            .get(i)
            .is_some_and(|r| r.begin.as_slice() <= key)
    }

    /// Whether any key of `[begin, end)` is in the set.
    pub fn overlaps(&self, begin: &[u8], end: &[u8]) -> bool {
        if begin >= end {
            return false;
        }
        let i = self.ranges.partition_point(|r| r.end.as_slice() <= begin);
        self.ranges.get(i).is_some_and(|r| r.begin.as_slice() < end)
    }

    /// The ranges, sorted and disjoint.
    pub fn iter(&self) -> impl Iterator<Item = &KeyRange> {
        self.ranges.iter()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(&[u8], &[u8])]) -> RangeSet {
        let mut set = RangeSet::default();
        for (b, e) in ranges {
            set.insert(KeyRange::new(b, e));
        }
        set
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent_ranges() {
        let s = set(&[(b"a", b"c"), (b"e", b"g"), (b"c", b"e")]);
        assert_eq!(s.iter().count(), 1);
        let s = set(&[(b"e", b"g"), (b"a", b"c"), (b"b", b"f"), (b"x", b"y")]);
        let got: Vec<_> = s.iter().cloned().collect();
        assert_eq!(
            got,
            vec![KeyRange::new(b"a", b"g"), KeyRange::new(b"x", b"y")]
        );
    }

    #[test]
    fn contains_and_overlaps_respect_half_open_ends() {
        let s = set(&[(b"b", b"d")]);
        assert!(!s.contains(b"a"));
        assert!(s.contains(b"b"));
        assert!(s.contains(b"c\xff"));
        assert!(!s.contains(b"d"));
        assert!(s.overlaps(b"a", b"b\0"));
        assert!(!s.overlaps(b"a", b"b"));
        assert!(!s.overlaps(b"d", b"z"));
        assert!(!s.overlaps(b"c", b"c"));
        assert!(set(&[(b"b", b"b")]).is_empty());
    }

    /// Every sequence of three ranges over one-byte keys 0..6, against a naive set of keys.
    #[test]
    fn agrees_with_a_naive_key_set() {
        let ranges: Vec<(u8, u8)> = (0..6).flat_map(|b| (b..7).map(move |e| (b, e))).collect();
        for a in &ranges {
            for b in &ranges {
                for c in &ranges {
                    let mut set = RangeSet::default();
                    let mut naive = [false; 7];
                    for &(lo, hi) in [a, b, c] {
                        set.insert(KeyRange::new(&[lo], &[hi]));
                        (lo..hi).for_each(|k| naive[usize::from(k)] = true);
                    }
                    for k in 0..7u8 {
                        assert_eq!(set.contains(&[k]), naive[usize::from(k)]);
                    }
                    for &(lo, hi) in &ranges {
                        let any = (lo..hi).any(|k| naive[usize::from(k)]);
                        assert_eq!(
                            set.overlaps(&[lo], &[hi]),
                            any,
                            "{a:?} {b:?} {c:?} [{lo},{hi})"
                        );
                    }
                    // Disjoint and not adjacent: merged as far as they can be.
                    let parts: Vec<_> = set.iter().collect();
                    assert!(parts.windows(2).all(|w| w[0].end < w[1].begin));
                }
            }
        }
    }
}
