//! Helpers shared by the crash tests (`crash.rs`) and the crash fuzzer (`crash_fuzz.rs`):
//! both re-run their own test binary as a writer child, kill it with SIGKILL at a chosen
//! point, collect the commits it acknowledged on stdout, and read the store back.
//!
//! Each test file includes this module with `mod support;`; as `tests/support/mod.rs` it is
//! not a test target of its own.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use coditect_core::RangeOptions;
use coditect_sled::SledBackend;

/// Key-value rows, in key order.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// When a round kills its child.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// This long after the child started: early ones land while it opens and recovers.
    Spawned(Duration),
    /// Once this many commits were acknowledged.
    Acks(usize),
    /// This long after the first acknowledged commit: under full load, mid-commit,
    /// mid-flush.
    AfterFirstAck(Duration),
}

/// Reads the `u64` environment variable `name` in a re-executed child, panicking (naming
/// `child`, e.g. "crash child") if it is missing or malformed.
pub fn env_u64(name: &str, child: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} must be set in the {child}"))
}

/// A command that re-runs this test binary with only the test `entry_point` (the child's
/// writer), its stdout piped back to the parent and its stderr inherited. The caller adds the
/// environment that turns the entry point into a writer.
pub fn child_command(entry_point: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args(["--exact", entry_point, "--nocapture", "--test-threads", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Spawns `command` (from [`child_command`]), runs the child until `kill_at`, SIGKILLs it, and
/// returns every commit it acknowledged: each stdout line for which `parse_ack` returns
/// `Some`, including lines written just before the kill. `child` names the child in panic
/// messages (e.g. "crash child"). Panics if the child ends by itself or does not reach its
/// kill point within 20 seconds.
pub fn run_and_kill<A, P>(
    mut command: Command,
    child: &str,
    kill_at: KillAt,
    parse_ack: P,
) -> Vec<A>
where
    A: Send + 'static,
    P: Fn(&str) -> Option<A> + Send + 'static,
{
    let started = Instant::now();
    let mut process = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the {child}: {e:?}"));
    let stdout = process.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ack(&line) {
                if tx.send(ack).is_err() {
                    break;
                }
            }
        }
    });
    let mut acks = Vec::new();
    let give_up = started + Duration::from_secs(20);
    let mut first_ack: Option<Instant> = None;
    loop {
        let due = match kill_at {
            KillAt::Spawned(after) => Instant::now() >= started + after,
            KillAt::Acks(count) => acks.len() >= count,
            KillAt::AfterFirstAck(after) => first_ack.is_some_and(|t| Instant::now() >= t + after),
        };
        if due {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the child did not reach its kill point {kill_at:?} in time ({} acks)",
            acks.len()
        );
        match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(ack) => {
                first_ack.get_or_insert_with(Instant::now);
                acks.push(ack);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.wait().expect("child status");
                panic!("the {child} ended before its kill point {kill_at:?}: {status}");
            }
        }
    }
    process.kill().expect("SIGKILL the child");
    process.wait().expect("reap the child");
    reader.join().expect("reader thread");
    // Lines the child wrote before it died are acknowledgements too.
    acks.extend(rx.try_iter());
    acks
}

/// Every row of `[begin, end)`, read page by page in one snapshot transaction, so a check
/// sees the whole range however many pages it takes.
pub fn scan_all(db: &SledBackend, begin: &[u8], end: &[u8]) -> Rows {
    let tx = db.begin_tx();
    let mut rows = Vec::new();
    let (mut b, mut e) = (begin.to_vec(), end.to_vec());
    loop {
        let page = tx
            .get_range(&b, &e, RangeOptions::snapshot(RangeOptions::default()))
            .expect("range");
        let next = page.next_range(&b, &e, false);
        rows.extend(page.kvs.into_iter().map(|kv| (kv.key, kv.value)));
        match next {
            Some((nb, ne)) => (b, e) = (nb, ne),
            None => return rows,
        }
    }
}

/// The writers of a re-executed child: opens the store at `store` (durable commits when
/// `sync`), then `threads` threads take transaction numbers from `first` up until `lifetime`
/// has passed. Each thread makes its own committer with `writer()`; `commit(db, n)` commits
/// number `n` and returns its acknowledgement line, printed once the commit has returned.
pub fn run_child_writers<W>(
    store: &str,
    sync: bool,
    threads: u64,
    first: u64,
    lifetime: Duration,
    writer: impl Fn() -> W + Sync,
) where
    W: FnMut(&SledBackend, u64) -> String,
{
    let db = coditect_sled::open(
        store,
        coditect_sled::SledOptions {
            sync,
            ..coditect_sled::SledOptions::default()
        },
    )
    .expect("child opens the store");
    let next = AtomicU64::new(first);
    let deadline = Instant::now() + lifetime;
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut commit = writer();
                    while Instant::now() < deadline {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        let line = commit(&db, n);
                        // One write per line, under the lock: lines never interleave. A
                        // failed write means the parent is gone.
                        let mut out = std::io::stdout().lock();
                        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer thread");
        }
    });
}

/// Commits one write on the reopened store and returns its version, which must be above
/// `max_version_seen` (every version used before the kill): a store that hands out a used
/// version again would let two commits share it.
pub fn probe_version_above(db: &SledBackend, max_version_seen: u64) -> Result<u64, String> {
    let tx = db.begin_tx();
    tx.set(b"probe", b"after the crash")
        .map_err(|e| e.to_string())?;
    let next_version = tx
        .commit()
        .map_err(|e| format!("commit after reopen failed: {e}"))?
        .version;
    if next_version <= max_version_seen {
        return Err(format!(
            "the commit after reopening got version {next_version}, not above {max_version_seen}"
        ));
    }
    Ok(next_version)
}
