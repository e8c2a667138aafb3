//! # coditect-mem
//!
//! [`MemBackend`]: the [engine](coditect_engine) over an in-memory ordered map. Everything a
//! FoundationDB transaction guarantees holds here (snapshot reads, serializable commits,
//! conflicts, atomic adds, versionstamps, the size and time limits); nothing survives the
//! process.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use coditect_core::{kv::Result, KeyValue};
/// The engine's options (limits, conflict window), re-exported so a caller of
/// [`new_backend`] needs no dependency on coditect-engine.
pub use coditect_engine::EngineOptions;
use coditect_engine::{BaseStore, CommitBatch, Engine};
use smallvec::SmallVec;

/// A key stored inline up to 64 bytes (a tenant-scoped tuple key usually fits), so that a
/// lookup compares keys inside the B-tree's nodes instead of chasing one heap pointer per
/// comparison: at a million keys that is the difference between a few and dozens of cache
/// misses per lookup.
type InlineKey = SmallVec<[u8; 64]>;

/// The in-memory backend: a [`KvBackend`](coditect_core::KvBackend) via [`Engine`].
pub type MemBackend = Engine<MemStore>;

/// Creates an empty in-memory backend.
pub fn new_backend(options: EngineOptions) -> MemBackend {
    match Engine::new(MemStore::default(), options) {
        Ok(engine) => engine,
        // MemStore::recovered_version cannot fail.
        Err(_) => unreachable!("an empty in-memory store always opens"),
    }
}

/// An ordered map of bytes behind a read-write lock: the base store of [`MemBackend`].
#[derive(Debug, Default)]
pub struct MemStore {
    map: RwLock<BTreeMap<InlineKey, Vec<u8>>>,
}

impl MemStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<InlineKey, Vec<u8>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl BaseStore for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn scan(&self, begin: &[u8], end: &[u8], reverse: bool, limit: usize) -> Result<Vec<KeyValue>> {
        if begin >= end {
            return Ok(Vec::new());
        }
        let map = self.read();
        let range = map.range::<[u8], _>((Bound::Included(begin), Bound::Excluded(end)));
        let row = |(k, v): (&InlineKey, &Vec<u8>)| KeyValue {
            key: k.to_vec(),
            value: v.clone(),
        };
        Ok(if reverse {
            range.rev().take(limit.max(1)).map(row).collect()
        } else {
            range.take(limit.max(1)).map(row).collect()
        })
    }

    fn apply(&self, batch: CommitBatch) -> Result<()> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for (key, value) in batch.writes {
            match value {
                Some(value) => map.insert(InlineKey::from_vec(key), value),
                None => map.remove(key.as_slice()),
            };
        }
        Ok(())
    }
}
