//! Crash fuzzing: random workloads killed with SIGKILL at random points, the store's
//! invariants checked after each reopen.
//!
//! As in `crash.rs`, the test binary is its own writer: re-run with [`CHILD_STORE`] set,
//! [`fuzz_child_entry_point`] commits numbered transactions from several threads through
//! [`coditect_core::run`] and prints `ACK <n> <version> <delta> <scratch> <transfers>
//! <attempt>` once each has committed. Transaction `n` follows a [`Plan`] drawn from the
//! round's workload seed and `n`; it always writes a marker `m/<n>` (its plan) and a
//! versionstamped log key `l/<stamp>` -> `n`, and, as the plan says, makes transfers between
//! [`ACCOUNTS`] accounts (non-snapshot read-modify-write, so concurrent transactions conflict
//! and are retried), adds `delta` to the counter `c`, and writes, clears part of and rewrites
//! its scratch range `s/<n>/`.
//!
//! After each kill the parent reopens the store and checks: the account total is unchanged
//! and no balance is negative; every acknowledged transaction is present with the plan and
//! version it reported; every transaction present is present whole (marker iff log entry,
//! scratch exactly as planned); the counter is the sum of the present markers' deltas; a
//! commit after reopening gets a version above every version seen.
//!
//! [`FUZZ_SEED`] replays one seed (printed on every run and in every failure).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use coditect_core::RetryOptions;
use coditect_sled::{SledBackend, SledOptions};
use support::{child_command, scan_all, KillAt, Rows};

/// Set (to the store directory) in the re-executed child.
const CHILD_STORE: &str = "CODITECT_SLED_FUZZ_STORE";
const CHILD_THREADS: &str = "CODITECT_SLED_FUZZ_THREADS";
const CHILD_FIRST: &str = "CODITECT_SLED_FUZZ_FIRST";
const CHILD_SYNC: &str = "CODITECT_SLED_FUZZ_SYNC";
const CHILD_WORKLOAD: &str = "CODITECT_SLED_FUZZ_WORKLOAD";
/// Runs only this seed (kill schedule and workloads), to replay a failure.
const FUZZ_SEED: &str = "CODITECT_CRASH_FUZZ_SEED";

const ACCOUNTS: u8 = 8;
const INITIAL_BALANCE: i64 = 1_000;
/// Transaction numbers of round `r` start at `r * ROUND_STRIDE`: rounds never collide, and
/// `n / ROUND_STRIDE` names the round (so its workload seed) of any transaction found.
const ROUND_STRIDE: u64 = 10_000_000;
const ROUNDS_PER_SEED: u64 = 10;
const SEEDS_PER_RUN: usize = 3;
/// A child that is never killed stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

/// What transaction `n` does besides its marker and log entry; a function of the workload
/// seed and `n`, so every retry and the checker agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    transfers: u8,
    delta: i64,
    scratch: bool,
}

fn txn_rng(workload: u64, n: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(workload ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn plan(workload: u64, n: u64) -> Plan {
    let mut rng = txn_rng(workload, n);
    Plan {
        transfers: rng.u8(0..=3),
        delta: if rng.bool() { rng.i64(1..=5) } else { 0 },
        scratch: rng.bool(),
    }
}

fn encode_plan(plan: Plan) -> Vec<u8> {
    let mut value = plan.delta.to_be_bytes().to_vec();
    value.push(plan.transfers);
    value.push(u8::from(plan.scratch));
    value
}

fn decode_plan(value: &[u8]) -> Option<Plan> {
    let delta = i64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    match value.get(8..)? {
        &[transfers, scratch] if scratch <= 1 => Some(Plan {
            transfers,
            delta,
            scratch: scratch == 1,
        }),
        _ => None,
    }
}

fn numbered(prefix: &[u8], n: u64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&n.to_be_bytes());
    key
}

fn account_key(i: u8) -> Vec<u8> {
    vec![b'a', b'/', i]
}

fn marker_key(n: u64) -> Vec<u8> {
    numbered(b"m/", n)
}

fn scratch_key(n: u64, i: u8) -> Vec<u8> {
    let mut key = numbered(b"s/", n);
    key.push(b'/');
    key.push(i);
    key
}

fn scratch_value(n: u64, i: u8, rewritten: bool) -> Vec<u8> {
    let mut value = n.to_be_bytes().to_vec();
    value.push(i);
    value.resize(
        8 + usize::from(i) * 40 + if rewritten { 300 } else { 0 },
        i ^ 0x5a,
    );
    value
}

/// What a planned scratch range holds after its transaction: keys 0..5 written, 1..3 cleared,
/// 2 written again.
fn expected_scratch(n: u64) -> Rows {
    vec![
        (scratch_key(n, 0), scratch_value(n, 0, false)),
        (scratch_key(n, 2), scratch_value(n, 2, true)),
        (scratch_key(n, 3), scratch_value(n, 3, false)),
        (scratch_key(n, 4), scratch_value(n, 4, false)),
    ]
}

/// `l/` + a 10-byte versionstamp placeholder at offset 2.
fn log_key() -> Vec<u8> {
    let mut key = b"l/".to_vec();
    key.extend_from_slice(&[0; 10]);
    key
}

fn balance(value: Option<Vec<u8>>) -> i64 {
    let bytes = value.expect("every account exists");
    i64::from_be_bytes(bytes.as_slice().try_into().expect("an 8-byte balance"))
}

/// One attempt of transaction `n`; returns the attempt number.
async fn txn_body(tx: coditect_core::RetryTx, workload: u64, n: u64) -> coditect_core::Result<u32> {
    let plan = plan(workload, n);
    // A fresh generator per attempt, so every attempt makes the same draws.
    let mut rng = txn_rng(workload, n);
    let _ = (rng.u8(0..=3), rng.bool(), rng.i64(1..=5), rng.bool());
    for _ in 0..plan.transfers {
        let from = rng.u8(0..ACCOUNTS);
        let to = (from + rng.u8(1..ACCOUNTS)) % ACCOUNTS;
        let fraction = rng.i64(0..=100);
        let from_balance = balance(tx.get(&account_key(from), false).await?);
        let to_balance = balance(tx.get(&account_key(to), false).await?);
        let amount = from_balance * fraction / 100;
        tx.set(&account_key(from), &(from_balance - amount).to_be_bytes())?;
        tx.set(&account_key(to), &(to_balance + amount).to_be_bytes())?;
    }
    if plan.delta != 0 {
        tx.atomic_add(b"c", plan.delta)?;
    }
    if plan.scratch {
        let (begin, end) = (scratch_key(n, 0), numbered(b"s/", n + 1));
        tx.clear_range(&begin, &end)?;
        for i in 0..5 {
            tx.set(&scratch_key(n, i), &scratch_value(n, i, false))?;
        }
        tx.clear_range(&scratch_key(n, 1), &scratch_key(n, 3))?;
        tx.set(&scratch_key(n, 2), &scratch_value(n, 2, true))?;
    }
    tx.set(&marker_key(n), &encode_plan(plan))?;
    tx.set_versionstamped_key(&log_key(), 2, &n.to_be_bytes())?;
    Ok(tx.attempt())
}

/// The writer, when this binary runs as the child; an empty pass otherwise.
#[test]
fn fuzz_child_entry_point() {
    let Ok(store) = std::env::var(CHILD_STORE) else {
        return;
    };
    let env_u64 = |name: &str| support::env_u64(name, "fuzz child");
    let workload = env_u64(CHILD_WORKLOAD);
    support::run_child_writers(
        &store,
        env_u64(CHILD_SYNC) == 1,
        env_u64(CHILD_THREADS),
        env_u64(CHILD_FIRST),
        CHILD_LIFETIME,
        || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            let options = RetryOptions::default();
            move |db: &SledBackend, n| {
                let (attempt, commit) = runtime
                    .block_on(coditect_core::run(db, &options, |tx| {
                        txn_body(tx, workload, n)
                    }))
                    .expect("child transaction");
                let p = plan(workload, n);
                format!(
                    "ACK {n} {} {} {} {} {attempt}",
                    commit.version,
                    p.delta,
                    u8::from(p.scratch),
                    p.transfers
                )
            }
        },
    );
}

/// An acknowledged commit, as the child reported it.
#[derive(Debug, Clone, Copy)]
struct Ack {
    n: u64,
    version: u64,
    plan: Plan,
    attempt: u32,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.split_whitespace();
    if words.next() != Some("ACK") {
        return None; // the test harness's own lines
    }
    let mut number = || words.next().and_then(|w| w.parse::<i64>().ok());
    // A line cut short by the kill was never acknowledged in full.
    let (n, version, delta, scratch, transfers, attempt) = (
        number()?,
        number()?,
        number()?,
        number()?,
        number()?,
        number()?,
    );
    Some(Ack {
        n: u64::try_from(n).ok()?,
        version: u64::try_from(version).ok()?,
        plan: Plan {
            transfers: u8::try_from(transfers).ok()?,
            delta,
            scratch: scratch == 1,
        },
        attempt: u32::try_from(attempt).ok()?,
    })
}

struct Round {
    threads: usize,
    first: u64,
    workload: u64,
    sync: bool,
    kill_at: KillAt,
}

/// Runs one child until its kill point, SIGKILLs it, and returns every commit it acknowledged.
fn run_and_kill(store: &Path, round: &Round) -> Vec<Ack> {
    let mut command = child_command("fuzz_child_entry_point");
    command
        .env(CHILD_STORE, store)
        .env(CHILD_THREADS, round.threads.to_string())
        .env(CHILD_FIRST, round.first.to_string())
        .env(CHILD_WORKLOAD, round.workload.to_string())
        .env(CHILD_SYNC, if round.sync { "1" } else { "0" });
    support::run_and_kill(command, "fuzz child", round.kill_at, parse_ack)
}

fn be_u64(bytes: Option<&[u8]>) -> Option<u64> {
    Some(u64::from_be_bytes(bytes?.try_into().ok()?))
}

/// Creates the accounts of a fresh store.
fn initialize(store: &Path) {
    let db = coditect_sled::open(store, SledOptions::default()).expect("open");
    let tx = db.begin_tx();
    for i in 0..ACCOUNTS {
        tx.set(&account_key(i), &INITIAL_BALANCE.to_be_bytes())
            .expect("set");
    }
    tx.commit().expect("create the accounts");
}

/// What a store held after a crash.
#[derive(Debug)]
struct Recovered {
    present: usize,
    counter: i64,
    max_version_seen: u64,
    next_version: u64,
}

/// Opens the store and checks its invariants and every acknowledgement so far; `workloads[r]`
/// is round `r`'s workload seed. `Err` says what broke.
fn check_store(
    store: &Path,
    acked: &BTreeMap<u64, Ack>,
    workloads: &[u64],
) -> Result<Recovered, String> {
    let db = coditect_sled::open(store, SledOptions::default())
        .map_err(|e| format!("reopen failed: {e} ({e:?})"))?;
    let tx = db.begin_tx();

    let mut total = 0;
    for i in 0..ACCOUNTS {
        let value = tx
            .get(&account_key(i), true)
            .map_err(|e| e.to_string())?
            .ok_or(format!("account {i} is missing"))?;
        let balance = i64::from_be_bytes(
            value
                .as_slice()
                .try_into()
                .map_err(|_| format!("account {i} holds {value:?}"))?,
        );
        if balance < 0 {
            return Err(format!("account {i} is negative: {balance}"));
        }
        total += balance;
    }
    if total != INITIAL_BALANCE * i64::from(ACCOUNTS) {
        return Err(format!("the accounts hold {total} in all"));
    }

    let mut markers = BTreeMap::new();
    for (key, value) in scan_all(&db, b"m/", b"m0") {
        let n = be_u64(key.get(2..)).ok_or(format!("malformed marker key {key:?}"))?;
        let found = decode_plan(&value).ok_or(format!("txn {n}: malformed marker {value:?}"))?;
        let workload = usize::try_from(n / ROUND_STRIDE)
            .ok()
            .and_then(|r| workloads.get(r))
            .ok_or(format!("txn {n} belongs to no round"))?;
        if found != plan(*workload, n) {
            return Err(format!("txn {n}: marker {found:?} is not its plan"));
        }
        markers.insert(n, found);
    }

    let mut logged = BTreeMap::new();
    for (key, value) in scan_all(&db, b"l/", b"l0") {
        let (Some(version), Some(n)) = (be_u64(key.get(2..10)), be_u64(Some(&value))) else {
            return Err(format!("malformed log row {key:?}"));
        };
        if logged.insert(n, version).is_some() {
            return Err(format!("txn {n} has two log entries"));
        }
        if !markers.contains_key(&n) {
            return Err(format!(
                "txn {n} is present in part: a log entry without its marker"
            ));
        }
    }

    let mut scratch: BTreeMap<u64, Rows> = BTreeMap::new();
    for (key, value) in scan_all(&db, b"s/", b"s0") {
        let n = be_u64(key.get(2..10)).ok_or(format!("malformed scratch key {key:?}"))?;
        scratch.entry(n).or_default().push((key, value));
    }

    let mut counter_expected = 0;
    for (n, p) in &markers {
        if !logged.contains_key(n) {
            return Err(format!(
                "txn {n} is present in part: a marker without its log entry"
            ));
        }
        let rows = scratch.remove(n);
        match (p.scratch, rows) {
            (false, None) => {}
            (true, Some(rows)) if rows == expected_scratch(*n) => {}
            (planned, rows) => {
                return Err(format!(
                    "txn {n} is present in part: scratch planned {planned}, {} rows found",
                    rows.map_or(0, |r| r.len())
                ))
            }
        }
        counter_expected += p.delta;
    }
    if let Some(n) = scratch.keys().next() {
        return Err(format!(
            "txn {n} is present in part: scratch rows without its marker"
        ));
    }
    let counter = match tx.get(b"c", true).map_err(|e| e.to_string())? {
        None => 0,
        Some(bytes) => i64::from_le_bytes(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| format!("counter holds {bytes:?}"))?,
        ),
    };
    if counter != counter_expected {
        return Err(format!(
            "the counter is {counter}, the markers add up to {counter_expected}"
        ));
    }

    let mut max_version_seen = logged.values().copied().max().unwrap_or(0);
    for (n, ack) in acked {
        match (markers.get(n), logged.get(n)) {
            (Some(p), Some(&version)) if *p == ack.plan && version == ack.version => {}
            (None, _) | (_, None) => {
                return Err(format!(
                    "acknowledged txn {n} (version {}) is missing",
                    ack.version
                ))
            }
            (Some(p), Some(version)) => {
                return Err(format!(
                    "txn {n} was acknowledged as {:?} at {} but stored as {p:?} at {version}",
                    ack.plan, ack.version
                ))
            }
        }
        max_version_seen = max_version_seen.max(ack.version);
    }
    drop(tx);

    let next_version = support::probe_version_above(&db, max_version_seen)?;
    Ok(Recovered {
        present: markers.len(),
        counter,
        max_version_seen,
        next_version,
    })
}

/// One seed's run: a fresh store, [`ROUNDS_PER_SEED`] children with random workloads, thread
/// counts and kill points, the store checked after each kill.
fn fuzz_one_seed(seed: u64) {
    let replay = format!("replay with {FUZZ_SEED}={seed}");
    println!("crash fuzz seed: {FUZZ_SEED}={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = dir.path().join("store");
    initialize(&store);
    let mut acked = BTreeMap::new();
    let mut workloads = Vec::new();
    let (mut retried, mut acks_total) = (0, 0);
    for r in 0..ROUNDS_PER_SEED {
        let kill_at = match r {
            0 => KillAt::Spawned(Duration::from_millis(rng.u64(0..40))),
            _ if r % 2 == 0 => KillAt::Acks(rng.usize(0..120)),
            _ => KillAt::AfterFirstAck(Duration::from_millis(rng.u64(0..120))),
        };
        let round = Round {
            threads: rng.usize(2..=6),
            first: r * ROUND_STRIDE,
            workload: rng.u64(..),
            sync: true,
            kill_at,
        };
        workloads.push(round.workload);
        let acks = run_and_kill(&store, &round);
        let count = acks.len();
        for ack in acks {
            retried += usize::from(ack.attempt > 1);
            acks_total += 1;
            assert!(
                acked.insert(ack.n, ack).is_none(),
                "txn {} acknowledged twice ({replay})",
                ack.n
            );
        }
        let recovered = check_store(&store, &acked, &workloads).unwrap_or_else(|e| {
            panic!(
                "seed {seed} round {r} ({} threads, {kill_at:?}): {e} ({replay})",
                round.threads
            )
        });
        println!(
            "seed {seed} round {r}: {} threads, killed at {kill_at:?} after {count} acks; \
             {} txns present, counter {}, max version {}, next {}",
            round.threads,
            recovered.present,
            recovered.counter,
            recovered.max_version_seen,
            recovered.next_version
        );
    }
    println!("seed {seed}: {acks_total} acknowledged commits, {retried} of them retried");
}

/// [`SEEDS_PER_RUN`] random seeds x [`ROUNDS_PER_SEED`] kills (or only the seed in
/// [`FUZZ_SEED`]), every invariant checked after every kill.
#[test]
fn random_workloads_killed_at_random_points_keep_every_invariant() {
    let seeds: Vec<u64> = match std::env::var(FUZZ_SEED).ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (0..SEEDS_PER_RUN).map(|_| fastrand::u64(..)).collect(),
    };
    for seed in seeds {
        fuzz_one_seed(seed);
    }
}

/// The check has teeth: without `sync`, commits are acknowledged before sled writes them
/// (it flushes every 500 ms in the background), so a kill soon after start loses
/// acknowledged commits, and the check must say so. Up to three tries, since a kill right
/// after a background flush could in principle lose nothing.
#[test]
fn the_check_catches_acknowledged_commits_lost_without_sync() {
    let mut caught = None;
    for attempt in 0..3u64 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = dir.path().join("store");
        initialize(&store);
        let workload = fastrand::u64(..);
        let round = Round {
            threads: 3,
            first: 0,
            workload,
            sync: false,
            kill_at: KillAt::Acks(200),
        };
        let acked = run_and_kill(&store, &round)
            .into_iter()
            .map(|a| (a.n, a))
            .collect();
        if let Err(error) = check_store(&store, &acked, &[workload]) {
            caught = Some(error);
            break;
        }
        println!("attempt {attempt}: a non-durable writer lost nothing");
    }
    let error = caught.expect("a non-durable writer lost nothing in three kills");
    assert!(error.contains("is missing"), "unexpected failure: {error}");
}

/// The check finds a transaction present in part (its marker committed by hand without
/// the log entry and scratch rows), a counter off by one, and money created.
#[test]
fn the_check_catches_partial_transactions_and_broken_sums() {
    let workload = 7;
    let broken = |corrupt: &dyn Fn(&SledBackend)| -> String {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = dir.path().join("store");
        initialize(&store);
        {
            let db = coditect_sled::open(&store, SledOptions::default()).expect("open");
            corrupt(&db);
        }
        check_store(&store, &BTreeMap::new(), &[workload]).expect_err("corruption found")
    };
    let error = broken(&|db| {
        let tx = db.begin_tx();
        tx.set(&marker_key(3), &encode_plan(plan(workload, 3)))
            .expect("set");
        tx.commit().expect("commit");
    });
    assert!(error.contains("txn 3 is present in part"), "{error}");
    let error = broken(&|db| {
        let tx = db.begin_tx();
        tx.atomic_add(b"c", 1).expect("add");
        tx.commit().expect("commit");
    });
    assert!(error.contains("the counter is 1"), "{error}");
    let error = broken(&|db| {
        let tx = db.begin_tx();
        tx.set(&account_key(0), &(INITIAL_BALANCE + 1).to_be_bytes())
            .expect("set");
        tx.commit().expect("commit");
    });
    assert!(error.contains("in all"), "{error}");
}
