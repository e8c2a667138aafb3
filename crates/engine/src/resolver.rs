//! The resolver: rejects a commit whose reads were overtaken by a newer commit's writes.
//!
//! It keeps the write conflict ranges of every commit that a live transaction might have
//! missed (those after the oldest live read version). A committing transaction with read
//! version `rv` conflicts when one of its read conflict ranges intersects a write range of a
//! commit with version `> rv`:
//!
//! ```text
//! versions:    10        11           12
//! T1 reads k at rv=10 ........................ commits -> checks writes of 11, 12
//! T2                 writes k, commits @11            -> T1 conflicts
//! ```
//!
//! Blind writes add no read range, so they never conflict; snapshot reads add none either.

use std::collections::VecDeque;

use crate::ranges::{KeyRange, RangeSet};

/// Write ranges of recent commits.
#[derive(Debug, Default)]
pub struct Resolver {
    history: VecDeque<(u64, Vec<KeyRange>)>,
    /// Commits at or below this version were forgotten.
    horizon: u64,
}

/// What the resolver decided about a commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No newer write touched what the transaction read.
    Clear,
    /// A commit after the read version wrote into a read range.
    Conflict,
    /// Commits the transaction might conflict with were already forgotten.
    TooOld,
}

impl Resolver {
    /// Checks reads made at `read_version` against the writes committed after it.
    pub fn check(&self, read_version: u64, reads: &RangeSet) -> Verdict {
        if reads.is_empty() {
            return Verdict::Clear;
        }
        if read_version < self.horizon {
            return Verdict::TooOld;
        }
        let newer = self.history.partition_point(|(v, _)| *v <= read_version);
        let overtaken = self
            .history
            .range(newer..)
            .flat_map(|(_, writes)| writes)
            .any(|w| reads.overlaps(&w.begin, &w.end));
        if overtaken {
            Verdict::Conflict
        } else {
            Verdict::Clear
        }
    }

    /// Remembers the write ranges of the commit at `version` (higher than any before).
    pub fn record(&mut self, version: u64, writes: Vec<KeyRange>) {
        if !writes.is_empty() {
            self.history.push_back((version, writes));
        }
    }

    /// Forgets commits at or below `horizon`.
    pub fn forget_through(&mut self, horizon: u64) {
        while self.history.front().is_some_and(|(v, _)| *v <= horizon) {
            self.history.pop_front();
        }
        self.horizon = self.horizon.max(horizon);
    }

    /// How many commits are remembered: for tests of bounded memory.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether no commit is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(ranges: &[(&[u8], &[u8])]) -> RangeSet {
        let mut set = RangeSet::default();
        for (b, e) in ranges {
            set.insert(KeyRange::new(b, e));
        }
        set
    }

    #[test]
    fn only_writes_after_the_read_version_conflict() {
        let mut r = Resolver::default();
        r.record(11, vec![KeyRange::single(b"k")]);
        assert_eq!(r.check(10, &reads(&[(b"a", b"z")])), Verdict::Conflict);
        assert_eq!(r.check(11, &reads(&[(b"a", b"z")])), Verdict::Clear);
        assert_eq!(r.check(10, &reads(&[(b"l", b"z")])), Verdict::Clear);
        assert_eq!(r.check(10, &RangeSet::default()), Verdict::Clear);
        r.forget_through(11);
        assert_eq!(r.check(10, &reads(&[(b"a", b"b")])), Verdict::TooOld);
        assert!(r.is_empty());
    }
}
