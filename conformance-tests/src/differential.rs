//! Differential testing of the engine against a naive model of FoundationDB's semantics.
//!
//! The [`Model`] is written to be obviously right rather than fast: it keeps a full copy of the
//! database for every version, a transaction is the ordered list of what it did, a read
//! replays that list over the snapshot at its read version, and a commit is checked against the
//! write ranges of every later commit by brute force. Nothing in it shares code with the
//! engine (no window, no resolver, no write buffer), so a bug in one of those shows up as a
//! difference.
//!
//! [`run_sequence`] runs one sequence of [`Op`]s on an [`Engine`] and on the model side by
//! side, several transactions open and interleaved, and reports the first result that
//! differs: every read's rows and `more` flag, every commit's version, versionstamp and
//! outcome (ok, `Conflict`, `TransactionTooOld`, `AccessedUnreadable`), and at the end the whole database. Sequences
//! come from bytes ([`ops_from_bytes`]), so the stable proptest, the fuzz target and the
//! corpus replay all run the same decoder and the same runner.
//!
//! The key space is tiny on purpose (eight keys, with the empty key, `0x00`-suffixed and `0xFF`
//! edges): with so few keys, concurrent transactions touch the same keys and ranges all the
//! time, which is where conflicts, phantoms and snapshot reads are decided.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coditect_core::limits::MAX_READ_VERSION_AGE;
use coditect_core::{key_after, versionstamp, KeyValue, KvError, RangeOptions};
use coditect_engine::{BaseStore, Engine, EngineOptions, EngineTx, ManualClock};

/// The keys sequences use: few, so that transactions collide, and with the edges of the key
/// order (empty key, a key and its `0x00` successor, `0xFF`).
pub const KEYS: [&[u8]; 8] = [b"", b"a", b"a\x00", b"b", b"ba", b"c", b"d", b"\xff"];

/// Versionstamped keys are `STAMP_PREFIX` followed by the 10-byte stamp (offset 1), so they
/// sort between `d` and `0xFF` and some range clears and reads cover them.
pub const STAMP_PREFIX: u8 = b'v';

/// Most transactions open at once.
pub const MAX_OPEN: usize = 4;

/// Most operations taken from one byte string (a fuzz input may be long).
pub const MAX_OPS: usize = 256;

/// One step of a sequence. `tx` picks one of the open transactions (modulo how many are open;
/// one is begun when none is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Begins a transaction (ignored when [`MAX_OPEN`] are open).
    Begin,
    /// `get(key, snapshot)`.
    Get {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        key: u8,
        /// Snapshot read.
        snapshot: bool,
    },
    /// `get_range(begin, end, options)`.
    Range {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        begin: u8,
        /// Index into [`KEYS`].
        end: u8,
        /// Row limit (0 = none).
        limit: u8,
        /// Read backwards.
        reverse: bool,
        /// Snapshot read.
        snapshot: bool,
    },
    /// `set(key, [value])`.
    Set {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        key: u8,
        /// The one-byte value.
        value: u8,
    },
    /// `clear(key)`.
    Clear {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        key: u8,
    },
    /// `clear_range(begin, end)`.
    ClearRange {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        begin: u8,
        /// Index into [`KEYS`].
        end: u8,
    },
    /// `atomic_add(key, delta)`.
    Add {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        key: u8,
        /// The addend.
        delta: i8,
    },
    /// `set_versionstamped_key(STAMP_PREFIX ++ placeholder, 1, [value])`.
    Stamped {
        /// Which open transaction.
        tx: u8,
        /// The one-byte value.
        value: u8,
    },
    /// `add_read_conflict_range(begin, end)`.
    ReadConflict {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        begin: u8,
        /// Index into [`KEYS`].
        end: u8,
    },
    /// `add_write_conflict_range(begin, end)`.
    WriteConflict {
        /// Which open transaction.
        tx: u8,
        /// Index into [`KEYS`].
        begin: u8,
        /// Index into [`KEYS`].
        end: u8,
    },
    /// Commits (and so closes) a transaction.
    Commit {
        /// Which open transaction.
        tx: u8,
    },
    /// Drops a transaction without committing.
    Drop {
        /// Which open transaction.
        tx: u8,
    },
    /// Moves the clock forward by this many seconds (2 or 6), aging open transactions toward
    /// or past the 5 s read-version limit.
    Advance {
        /// Seconds.
        seconds: u8,
    },
}

/// Decodes a byte string into operations: one opcode byte, then a few argument bytes (missing
/// bytes read as 0). Every byte string is a valid sequence, so a fuzzer explores sequences, not
/// parse errors.
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    let mut bytes = data.iter().copied();
    let mut ops = Vec::new();
    while let Some(code) = bytes.next() {
        if ops.len() >= MAX_OPS {
            break;
        }
        let mut arg = || bytes.next().unwrap_or(0);
        let key = |b: u8| b % KEYS.len() as u8;
        let op = match code % 32 {
            0..=2 => Op::Begin,
            3..=5 => {
                let (tx, k) = (arg(), arg());
                Op::Get {
                    tx,
                    key: key(k),
                    snapshot: k & 0x80 != 0,
                }
            }
            6..=8 => {
                let (tx, b, e, flags) = (arg(), arg(), arg(), arg());
                Op::Range {
                    tx,
                    begin: key(b),
                    end: key(e),
                    limit: flags % 4,
                    reverse: flags & 0x10 != 0,
                    snapshot: flags & 0x20 != 0,
                }
            }
            9..=12 => Op::Set {
                tx: arg(),
                key: key(arg()),
                value: arg(),
            },
            13..=14 => Op::Clear {
                tx: arg(),
                key: key(arg()),
            },
            15..=16 => Op::ClearRange {
                tx: arg(),
                begin: key(arg()),
                end: key(arg()),
            },
            17..=18 => Op::Add {
                tx: arg(),
                key: key(arg()),
                delta: arg() as i8,
            },
            19 => Op::Stamped {
                tx: arg(),
                value: arg(),
            },
            20 => Op::ReadConflict {
                tx: arg(),
                begin: key(arg()),
                end: key(arg()),
            },
            21 => Op::WriteConflict {
                tx: arg(),
                begin: key(arg()),
                end: key(arg()),
            },
            22..=27 => Op::Commit { tx: arg() },
            28..=30 => Op::Drop { tx: arg() },
            _ => Op::Advance {
                seconds: if arg() % 2 == 0 { 2 } else { 6 },
            },
        };
        ops.push(op);
    }
    ops
}

/// Where engine and model disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the operation in the sequence (`ops.len()` for the final database check).
    pub step: usize,
    /// The operation (or "final state").
    pub op: String,
    /// What the engine did.
    pub engine: String,
    /// What the model did.
    pub model: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} ({}): engine gave {}, model gave {}",
            self.step, self.op, self.engine, self.model
        )
    }
}

/// What an operation returned, in a form both sides produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    Value(Option<Vec<u8>>),
    Rows(Vec<KeyValue>, bool),
    Committed(u64, [u8; 10]),
    Conflict,
    TooOld,
    /// A read where the transaction's own versionstamped keys may land.
    Unreadable,
    /// Any other error: never expected here.
    Other(String),
}

fn outcome_of_error(error: KvError) -> Outcome {
    match error {
        KvError::Conflict => Outcome::Conflict,
        KvError::TransactionTooOld => Outcome::TooOld,
        KvError::AccessedUnreadable => Outcome::Unreadable,
        other => Outcome::Other(other.to_string()),
    }
}

/// A half-open range `[begin, end)`.
type Span = (Vec<u8>, Vec<u8>);

fn intersects(a: &Span, b: &Span) -> bool {
    let begin = a.0.as_slice().max(b.0.as_slice());
    let end = a.1.as_slice().min(b.1.as_slice());
    begin < end
}

fn single(key: &[u8]) -> Span {
    (key.to_vec(), key_after(key))
}

/// One buffered mutation, in the order the transaction made it.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Vec<u8>, Vec<u8>),
    Clear(Vec<u8>),
    ClearRange(Vec<u8>, Vec<u8>),
    Add(Vec<u8>, i64),
    Stamped(Vec<u8>, Vec<u8>),
    WriteConflict(Vec<u8>, Vec<u8>),
}

/// FoundationDB's `ADD`: little-endian, missing = 0, shorter zero-extended, longer truncated,
/// wrapping. Written again here rather than shared with the engine.
fn add_bytes(base: Option<&[u8]>, delta: i64) -> Vec<u8> {
    let mut buf = [0u8; 8];
    for (i, b) in base.unwrap_or(&[]).iter().take(8).enumerate() {
        buf[i] = *b;
    }
    i64::from_le_bytes(buf)
        .wrapping_add(delta)
        .to_le_bytes()
        .to_vec()
}

/// Applies one mutation to a map, as a storage server would (stamped writes need the stamp:
/// `stamp` is `None` when reading your own writes, which do not show stamped keys).
fn apply(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, m: &Mutation, stamp: Option<&[u8; 10]>) {
    match m {
        Mutation::Set(k, v) => {
            map.insert(k.clone(), v.clone());
        }
        Mutation::Clear(k) => {
            map.remove(k);
        }
        Mutation::ClearRange(b, e) => {
            map.retain(|k, _| !(k >= b && k < e));
        }
        Mutation::Add(k, d) => {
            let next = add_bytes(map.get(k).map(Vec::as_slice), *d);
            map.insert(k.clone(), next);
        }
        Mutation::Stamped(k, v) => {
            if let Some(stamp) = stamp {
                let mut key = k.clone();
                key[1..11].copy_from_slice(stamp);
                map.insert(key, v.clone());
            }
        }
        Mutation::WriteConflict(..) => {}
    }
}

/// A transaction of the model.
#[derive(Debug, Clone)]
struct ModelTx {
    read_version: u64,
    started: Duration,
    mutations: Vec<Mutation>,
    reads: Vec<Span>,
}

/// The naive reference: every version's full database, every commit's write ranges.
#[derive(Debug, Clone)]
pub struct Model {
    /// version -> the whole database after that version's commit.
    versions: BTreeMap<u64, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// (version, write ranges) of every commit.
    commits: Vec<(u64, Vec<Span>)>,
    latest: u64,
    now: Duration,
}

impl Model {
    /// An empty database whose last committed version is `version`.
    pub fn new(version: u64) -> Self {
        Model {
            versions: BTreeMap::from([(version, BTreeMap::new())]),
            commits: Vec::new(),
            latest: version,
            now: Duration::ZERO,
        }
    }

    fn begin(&self) -> ModelTx {
        ModelTx {
            read_version: self.latest,
            started: self.now,
            mutations: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn too_old(&self, tx: &ModelTx) -> bool {
        self.now.saturating_sub(tx.started) > MAX_READ_VERSION_AGE
    }

    /// Every key the transaction's versionstamped keys may become: for each, the key with the
    /// stamp bytes all 0x00 up to the key with them all 0xFF followed by 0x00. FoundationDB
    /// refuses reads there (`accessed_unreadable`).
    fn unreadable(tx: &ModelTx) -> Vec<Span> {
        tx.mutations
            .iter()
            .filter_map(|m| match m {
                Mutation::Stamped(k, _) => {
                    let mut lowest = k.clone();
                    lowest[1..11].fill(0x00);
                    let mut past_highest = k.clone();
                    past_highest[1..11].fill(0xFF);
                    past_highest.push(0x00);
                    Some((lowest, past_highest))
                }
                _ => None,
            })
            .collect()
    }

    fn snapshot(&self, version: u64) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        match self.versions.range(..=version).next_back() {
            Some((_, map)) => map,
            None => unreachable!("the model holds its first version"),
        }
    }

    /// The database as the transaction sees it: its snapshot with its own writes replayed.
    fn view(&self, tx: &ModelTx) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut map = self.snapshot(tx.read_version).clone();
        for m in &tx.mutations {
            apply(&mut map, m, None);
        }
        map
    }

    /// Whether the transaction's own writes decide `key` without reading storage: a set, a
    /// clear or a range clear of it, possibly followed by adds. Adds alone still read storage.
    fn decided_locally(tx: &ModelTx, key: &[u8]) -> bool {
        tx.mutations.iter().any(|m| match m {
            Mutation::Set(k, _) | Mutation::Clear(k) => k == key,
            Mutation::ClearRange(b, e) => key >= b.as_slice() && key < e.as_slice(),
            _ => false,
        })
    }

    fn get(&self, tx: &mut ModelTx, key: &[u8], snapshot: bool) -> Outcome {
        if Self::unreadable(tx)
            .iter()
            .any(|span| intersects(span, &single(key)))
        {
            return Outcome::Unreadable;
        }
        if self.too_old(tx) {
            return Outcome::TooOld;
        }
        if !snapshot && !Self::decided_locally(tx, key) {
            tx.reads.push(single(key));
        }
        Outcome::Value(self.view(tx).get(key).cloned())
    }

    fn range(&self, tx: &mut ModelTx, begin: &[u8], end: &[u8], options: RangeOptions) -> Outcome {
        let read = (begin.to_vec(), end.to_vec());
        if Self::unreadable(tx)
            .iter()
            .any(|span| intersects(span, &read))
        {
            return Outcome::Unreadable;
        }
        if self.too_old(tx) {
            return Outcome::TooOld;
        }
        if begin >= end {
            return Outcome::Rows(Vec::new(), false);
        }
        let mut rows: Vec<KeyValue> = self
            .view(tx)
            .range::<[u8], _>((
                std::ops::Bound::Included(begin),
                std::ops::Bound::Excluded(end),
            ))
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        if options.reverse {
            rows.reverse();
        }
        let limit = if options.limit == 0 {
            usize::MAX
        } else {
            options.limit
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        if !options.snapshot {
            // Only what the page covered: up to and including its last row.
            let read = match rows.last() {
                Some(last) if more && options.reverse => (last.key.clone(), end.to_vec()),
                Some(last) if more => (begin.to_vec(), key_after(&last.key)),
                _ => (begin.to_vec(), end.to_vec()),
            };
            tx.reads.push(read);
        }
        Outcome::Rows(rows, more)
    }

    fn commit(&mut self, tx: ModelTx) -> Outcome {
        // A read-only commit never reaches the resolver, however old.
        if tx.mutations.is_empty() {
            return Outcome::Committed(tx.read_version, versionstamp(tx.read_version, 0));
        }
        // The resolver finds a commit too old only when it has read conflict ranges
        // (FoundationDB 7.3.79's fdbserver/SkipList.cpp line 837).
        let has_reads = tx.reads.iter().any(|(b, e)| b < e);
        if has_reads && self.too_old(&tx) {
            return Outcome::TooOld;
        }
        let overtaken = self
            .commits
            .iter()
            .filter(|(v, _)| *v > tx.read_version)
            .any(|(_, writes)| {
                writes
                    .iter()
                    .any(|w| tx.reads.iter().any(|r| intersects(r, w)))
            });
        if overtaken {
            return Outcome::Conflict;
        }
        let version = self.latest + 1;
        let stamp = versionstamp(version, 0);
        let mut map = self.snapshot(self.latest).clone();
        let mut writes = Vec::new();
        // Mutations apply in the order they were made, as in FoundationDB: a range clear made
        // after a versionstamped key in the same transaction removes that key. (The engine once
        // applied versionstamped keys last; this test found it, corpus
        // `stamped_key_then_clear_range`.)
        for m in &tx.mutations {
            apply(&mut map, m, Some(&stamp));
            writes.push(match m {
                Mutation::Set(k, _) | Mutation::Clear(k) | Mutation::Add(k, _) => single(k),
                Mutation::ClearRange(b, e) | Mutation::WriteConflict(b, e) => {
                    (b.clone(), e.clone())
                }
                Mutation::Stamped(k, _) => {
                    let mut key = k.clone();
                    key[1..11].copy_from_slice(&stamp);
                    single(&key)
                }
            });
        }
        self.versions.insert(version, map);
        self.commits.push((version, writes));
        self.latest = version;
        Outcome::Committed(version, stamp)
    }

    /// The latest committed database.
    pub fn latest(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        self.snapshot(self.latest)
    }
}

fn key(i: u8) -> &'static [u8] {
    KEYS[usize::from(i) % KEYS.len()]
}

fn stamp_placeholder() -> Vec<u8> {
    let mut key = vec![STAMP_PREFIX];
    key.extend_from_slice(&[0xFF; 10]);
    key
}

/// Runs `ops` on a fresh engine from `open` (handed options on a manual clock) and on the
/// model; the first difference is the error.
// Length: the interpreter of the differential run, one arm an operation, each comparing the
// engine with the model on the spot.
pub fn run_sequence<S: BaseStore>(
    open: impl FnOnce(EngineOptions) -> coditect_core::kv::Result<Engine<S>>,
    ops: &[Op],
) -> Result<(), Divergence> {
    let clock = Arc::new(ManualClock::default());
    let engine = match open(EngineOptions {
        clock: clock.clone(),
    }) {
        Ok(engine) => engine,
        Err(error) => {
            return Err(Divergence {
                step: 0,
                op: "open".into(),
                engine: error.to_string(),
                model: "an empty database".into(),
            })
        }
    };
    let mut model = Model::new(engine.stats().visible_version);
    let mut open_txs: Vec<(EngineTx<S>, ModelTx)> = Vec::new();

    for (step, op) in ops.iter().enumerate() {
        let pick = |tx: u8, open_txs: &mut Vec<(EngineTx<S>, ModelTx)>, model: &Model| {
            if open_txs.is_empty() {
                open_txs.push((engine.begin_tx(), model.begin()));
            }
            usize::from(tx) % open_txs.len()
        };
        let (engine_out, model_out) = match op {
            Op::Begin => {
                if open_txs.len() < MAX_OPEN {
                    open_txs.push((engine.begin_tx(), model.begin()));
                }
                (Outcome::Done, Outcome::Done)
            }
            Op::Advance { seconds } => {
                let by = Duration::from_secs(u64::from(*seconds));
                clock.advance(by);
                model.now += by;
                (Outcome::Done, Outcome::Done)
            }
            Op::Get {
                tx,
                key: k,
                snapshot,
            } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let e = etx
                    .get(key(*k), *snapshot)
                    .map_or_else(outcome_of_error, Outcome::Value);
                (e, model.get(mtx, key(*k), *snapshot))
            }
            Op::Range {
                tx,
                begin,
                end,
                limit,
                reverse,
                snapshot,
            } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let options = RangeOptions {
                    limit: usize::from(*limit),
                    reverse: *reverse,
                    snapshot: *snapshot,
                };
                let e = etx
                    .get_range(key(*begin), key(*end), options)
                    .map_or_else(outcome_of_error, |p| Outcome::Rows(p.kvs, p.more));
                (e, model.range(mtx, key(*begin), key(*end), options))
            }
            Op::Set { tx, key: k, value } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let e = etx
                    .set(key(*k), &[*value])
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                mtx.mutations
                    .push(Mutation::Set(key(*k).to_vec(), vec![*value]));
                (e, Outcome::Done)
            }
            Op::Clear { tx, key: k } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let e = etx
                    .clear(key(*k))
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                mtx.mutations.push(Mutation::Clear(key(*k).to_vec()));
                (e, Outcome::Done)
            }
            Op::ClearRange { tx, begin, end } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let (b, e) = (key(*begin), key(*end));
                let out = etx
                    .clear_range(b, e)
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                if b < e {
                    mtx.mutations
                        .push(Mutation::ClearRange(b.to_vec(), e.to_vec()));
                }
                (out, Outcome::Done)
            }
            Op::Add { tx, key: k, delta } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let e = etx
                    .atomic_add(key(*k), i64::from(*delta))
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                mtx.mutations
                    .push(Mutation::Add(key(*k).to_vec(), i64::from(*delta)));
                (e, Outcome::Done)
            }
            Op::Stamped { tx, value } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let placeholder = stamp_placeholder();
                let e = etx
                    .set_versionstamped_key(&placeholder, 1, &[*value])
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                mtx.mutations
                    .push(Mutation::Stamped(placeholder, vec![*value]));
                (e, Outcome::Done)
            }
            Op::ReadConflict { tx, begin, end } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let (b, e) = (key(*begin), key(*end));
                let out = etx
                    .add_read_conflict_range(b, e)
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                mtx.reads.push((b.to_vec(), e.to_vec()));
                (out, Outcome::Done)
            }
            Op::WriteConflict { tx, begin, end } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = &mut open_txs[i];
                let (b, e) = (key(*begin), key(*end));
                let out = etx
                    .add_write_conflict_range(b, e)
                    .map_or_else(outcome_of_error, |()| Outcome::Done);
                if b < e {
                    mtx.mutations
                        .push(Mutation::WriteConflict(b.to_vec(), e.to_vec()));
                }
                (out, Outcome::Done)
            }
            Op::Commit { tx } => {
                let i = pick(*tx, &mut open_txs, &model);
                let (etx, mtx) = open_txs.remove(i);
                let e = etx.commit().map_or_else(outcome_of_error, |info| {
                    Outcome::Committed(info.version, info.versionstamp)
                });
                (e, model.commit(mtx))
            }
            Op::Drop { tx } => {
                let i = pick(*tx, &mut open_txs, &model);
                drop(open_txs.remove(i));
                (Outcome::Done, Outcome::Done)
            }
        };
        if engine_out != model_out {
            return Err(Divergence {
                step,
                op: format!("{op:?}"),
                engine: format!("{engine_out:?}"),
                model: format!("{model_out:?}"),
            });
        }
    }
    drop(open_txs);

    // The whole database, read by a fresh transaction at the latest version.
    let check = engine.begin_tx();
    let everything = check.get_range(b"", b"\xff\xff", RangeOptions::default());
    let expected: Vec<KeyValue> = model
        .latest()
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    match everything {
        Ok(page) if page.kvs == expected && !page.more => Ok(()),
        other => Err(Divergence {
            step: ops.len(),
            op: "final state".into(),
            engine: format!("{other:?}"),
            model: format!("{expected:?}"),
        }),
    }
}

/// [`run_sequence`] on the in-memory store of the engine, from bytes: what the fuzz target and
/// the corpus replay call.
pub fn run_bytes_on<S: BaseStore>(
    open: impl FnOnce(EngineOptions) -> coditect_core::kv::Result<Engine<S>>,
    data: &[u8],
) -> Result<(), Divergence> {
    run_sequence(open, &ops_from_bytes(data))
}
