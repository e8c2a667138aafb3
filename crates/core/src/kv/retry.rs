//! The retry loop: run a transaction body until it commits, retrying only what may succeed.
//!
//! As in FoundationDB's `Database::run`, the body may run more than once, and after a
//! [`CommitUnknownResult`](KvError::CommitUnknownResult) an earlier attempt may already
//! have committed: a body must be idempotent (write a unique idempotency key and check it when
//! [`RetryTx::maybe_committed`] says so).

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::error::{KvError, RetryError};
use super::replay::{replaying, Draws};
use super::{CommitInfo, KvBackend, Transaction};

/// How [`run`] retries.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Attempts in all, the first included; at least 1 is always made.
    pub max_attempts: u32,
    /// Back-off before the first retry; it doubles with each retry up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The cap of the back-off.
    pub max_backoff: Duration,
    /// Back-off before the first retry after the store said it is throttling or lagging
    /// ([`KvError::is_throttled`]); it doubles up to `throttled_max_backoff`. Longer than
    /// `initial_backoff`, because retrying a shedding cluster at once adds to its load.
    pub throttled_initial_backoff: Duration,
    /// The cap of the back-off after a throttling error.
    pub throttled_max_backoff: Duration,
    /// Counters the loop adds to; share one `Arc` between calls to read their totals.
    pub stats: Arc<RetryStats>,
}

impl Default for RetryOptions {
    /// 100 attempts, back-off from 1 ms doubling to at most 200 ms (after a throttling error
    /// from 50 ms to at most 2 s), fresh counters.
    fn default() -> Self {
        RetryOptions {
            max_attempts: 100,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(200),
            throttled_initial_backoff: Duration::from_millis(50),
            throttled_max_backoff: Duration::from_secs(2),
            stats: Arc::default(),
        }
    }
}

impl RetryOptions {
    /// The same options adding to the given counters.
    pub fn with_stats(self, stats: Arc<RetryStats>) -> Self {
        RetryOptions { stats, ..self }
    }

    /// The back-off before retry number `retry` (1 for the first retry), with jitter: a uniform
    /// pick in `[d/2, d]` of the capped exponential `d`, so that contending clients spread out.
    fn backoff(&self, retry: u32, throttled: bool) -> Duration {
        let (initial, max) = if throttled {
            (
                self.throttled_initial_backoff.max(self.initial_backoff),
                self.throttled_max_backoff.max(self.max_backoff),
            )
        } else {
            (self.initial_backoff, self.max_backoff)
        };
        let doubled = initial.saturating_mul(1u32 << retry.saturating_sub(1).min(30));
        let capped = doubled.min(max);
        let half = capped / 2;
        let jitter_nanos = fastrand::u64(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64);
        half + Duration::from_nanos(jitter_nanos)
    }
}

/// Counters of [`run`] calls, safe to share between tasks.
#[derive(Debug, Default)]
pub struct RetryStats {
    attempts: AtomicU64,
    retries: AtomicU64,
    conflicts: AtomicU64,
    too_old: AtomicU64,
    maybe_committed: AtomicU64,
    throttled: AtomicU64,
    commits: AtomicU64,
}

impl RetryStats {
    /// Attempts started (the body was called this often).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
    /// Attempts that failed with a retryable error and were retried.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    /// Attempts that failed with [`KvError::Conflict`].
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }
    /// Attempts that failed with [`KvError::TransactionTooOld`].
    pub fn too_old(&self) -> u64 {
        self.too_old.load(Ordering::Relaxed)
    }
    /// Attempts that failed with [`KvError::CommitUnknownResult`].
    pub fn maybe_committed(&self) -> u64 {
        self.maybe_committed.load(Ordering::Relaxed)
    }
    /// Attempts that failed because the store was throttling or lagging
    /// ([`KvError::is_throttled`]) or the tenant was over its budget
    /// ([`KvError::Throttled`]).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
    /// Attempts that committed.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn count_failure(&self, error: &KvError) {
        let counter = match error {
            KvError::Conflict => &self.conflicts,
            KvError::TransactionTooOld => &self.too_old,
            KvError::CommitUnknownResult => &self.maybe_committed,
            KvError::Unavailable { .. } | KvError::Throttled { .. } => &self.throttled,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The transaction handed to one attempt of a [`run`] body. It dereferences to
/// [`Transaction`]; clones share the same transaction and must be dropped by the time the
/// body's future completes, since the loop then commits it.
#[derive(Clone)]
pub struct RetryTx {
    tx: Arc<Box<dyn Transaction>>,
    attempt: u32,
    maybe_committed: bool,
    /// How many earlier attempts of this run failed with [`KvError::Conflict`].
    conflicts: u32,
    idempotency_memo: IdempotencyMemo,
    /// Set when a model operation failed part way ([`KvError::TransactionPoisoned`]): the
    /// loop then refuses to commit this attempt.
    poison: Poison,
}

/// The poisoning of one attempt: the operation that failed part way, and its error.
type Poison = Arc<Mutex<Option<(String, String)>>>;

/// The idempotency memo of one [`run`] call: what its attempts leave for each other, by key, in
/// memory only, so that a retry after `CommitUnknownResult` can tell what an earlier attempt did
/// ([`RetryTx::remember`], [`RetryTx::recall`]).
type IdempotencyMemo = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

impl RetryTx {
    /// Keeps `value` under `key` for the later attempts of this same operation (this [`run`]
    /// call), in memory. After `CommitUnknownResult` a retry may find that an earlier attempt
    /// committed; what that attempt remembered tells the retry what it did (e.g. the record a
    /// delete removed, which the retry must return but can no longer read).
    pub fn remember(&self, key: &[u8], value: &[u8]) {
        self.idempotency_memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_vec(), value.to_vec());
    }

    /// What an earlier attempt of this operation [remembered](Self::remember) under `key`.
    pub fn recall(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.idempotency_memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Marks this attempt poisoned by `operation`, which failed with `cause` after buffering
    /// part of its writes: the loop refuses to commit it ([`KvError::TransactionPoisoned`]).
    pub fn poison(&self, operation: &str, cause: &str) {
        let mut poison = self.poison.lock().unwrap_or_else(|p| p.into_inner());
        if poison.is_none() {
            *poison = Some((operation.to_owned(), cause.to_owned()));
        }
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether an earlier attempt ended in
    /// [`CommitUnknownResult`](KvError::CommitUnknownResult) and so may have committed.
    pub fn maybe_committed(&self) -> bool {
        self.maybe_committed
    }

    /// How many earlier attempts of this run failed with [`KvError::Conflict`] (the tenant
    /// meters count them).
    pub fn conflicts(&self) -> u32 {
        self.conflicts
    }
}

impl Deref for RetryTx {
    type Target = dyn Transaction;

    fn deref(&self) -> &Self::Target {
        self.tx.as_ref().as_ref()
    }
}

/// Runs `body` in a transaction of `backend` and commits it, retrying on retryable errors
/// (from the body or from the commit) with capped exponential back-off and jitter, up to
/// `options.max_attempts`. A non-retryable error is returned at once; running out of attempts
/// is [`KvError::RetryLimitReached`] (or the body's error type's own, see [`RetryError`])
/// carrying the last error. The body's error type `E` is any that holds the contract's
/// errors: [`KvError`] itself, or the model layer's error (whose `coditect_core::run` is this
/// loop with that type fixed).
///
/// ```
/// # async fn demo(db: &dyn coditect_core::KvBackend) -> coditect_core::kv::Result<()> {
/// use coditect_core::kv::{run, KvError, RetryOptions};
/// let (value, _commit) = run(db, &RetryOptions::default(), |tx| async move {
///     let old = tx.get(b"counter", false).await?;
///     tx.set(b"counter", b"1")?;
///     Ok::<_, KvError>(old)
/// })
/// .await?;
/// # let _ = value; Ok(()) }
/// ```
pub async fn run<T, E, F, Fut>(
    backend: &dyn KvBackend,
    options: &RetryOptions,
    mut body: F,
) -> Result<(T, CommitInfo), E>
where
    E: RetryError,
    F: FnMut(RetryTx) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let stats = &options.stats;
    let mut maybe_committed = false;
    let mut attempt = 0u32;
    let mut conflicts = 0u32;
    let idempotency_memo = IdempotencyMemo::default();
    let draws = Arc::new(Draws::default());
    loop {
        attempt += 1;
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let error = match attempt_once(
            backend,
            &mut body,
            Attempt {
                number: attempt,
                maybe_committed,
                conflicts,
            },
            &idempotency_memo,
            &draws,
        )
        .await
        {
            Ok(done) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                return Ok(done);
            }
            Err(error) => error,
        };
        // Only the contract's errors are counted and retried: the model layer's (bad input,
        // a denial) fail the same way again.
        let Some(kv) = error.as_kv() else {
            return Err(error);
        };
        stats.count_failure(kv);
        if !kv.is_retryable() {
            return Err(error);
        }
        let (maybe, throttled) = (kv.is_maybe_committed(), kv.is_throttled());
        let retry_after = kv.retry_after();
        if attempt >= options.max_attempts.max(1) {
            return Err(E::retry_limit_reached(attempt, error));
        }
        maybe_committed |= maybe;
        conflicts += u32::from(matches!(kv, KvError::Conflict));
        stats.retries.fetch_add(1, Ordering::Relaxed);
        // A budget's refill time is a floor, not a hint: waiting less is refused again.
        let wait = match retry_after {
            Some(floor) => floor + options.backoff(1, false),
            None => options.backoff(attempt, throttled),
        };
        tokio::time::sleep(wait).await;
    }
}

/// What one attempt is told of the attempts before it.
struct Attempt {
    number: u32,
    maybe_committed: bool,
    conflicts: u32,
}

async fn attempt_once<T, E, F, Fut>(
    backend: &dyn KvBackend,
    body: &mut F,
    attempt: Attempt,
    idempotency_memo: &IdempotencyMemo,
    draws: &Arc<Draws>,
) -> Result<(T, CommitInfo), E>
where
    E: RetryError,
    F: FnMut(RetryTx) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let tx = Arc::new(backend.begin().await?);
    let poison = Poison::default();
    let handle = RetryTx {
        tx: Arc::clone(&tx),
        attempt: attempt.number,
        maybe_committed: attempt.maybe_committed,
        conflicts: attempt.conflicts,
        idempotency_memo: Arc::clone(idempotency_memo),
        poison: Arc::clone(&poison),
    };
    // The body is called inside the replaying scope too, so records it builds before its
    // first `.await` also get the run's ids.
    let value = replaying(Arc::clone(draws), async { body(handle).await }).await?;
    let tx = Arc::try_unwrap(tx).map_err(|_| {
        KvError::TransactionClosed("a clone of the RetryTx outlived the body, so it cannot commit")
    })?;
    let poisoned = poison.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((operation, cause)) = poisoned {
        return Err(KvError::TransactionPoisoned { operation, cause }.into());
    }
    let commit = tx.commit().await?;
    Ok((value, commit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let options = RetryOptions {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..RetryOptions::default()
        };
        for _ in 0..100 {
            let first = options.backoff(1, false);
            assert!(first >= Duration::from_millis(5) && first <= Duration::from_millis(10));
            let third = options.backoff(3, false);
            assert!(third >= Duration::from_millis(20) && third <= Duration::from_millis(40));
            let capped = options.backoff(40, false);
            assert!(capped >= Duration::from_millis(25) && capped <= Duration::from_millis(50));
        }
    }

    #[test]
    fn throttling_backs_off_from_its_own_longer_start_and_cap() {
        let options = RetryOptions::default();
        for _ in 0..100 {
            let first = options.backoff(1, true);
            assert!(first >= Duration::from_millis(25) && first <= Duration::from_millis(50));
            let capped = options.backoff(40, true);
            assert!(capped >= Duration::from_secs(1) && capped <= Duration::from_secs(2));
            assert!(options.backoff(1, false) <= Duration::from_millis(1));
        }
    }
}
