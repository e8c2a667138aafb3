//! What a retried body draws at random, drawn once per [`run`](crate::run) and replayed on
//! every attempt: record ids, tenant ids, secrets and salts.
//!
//! FoundationDB's advice for `commit_unknown_result` is to make each transaction idempotent,
//! typically with an id chosen *before* the first attempt. A body written the natural way
//! (`Task::new(..)` inside the closure) draws a fresh id on every attempt, so an attempt that
//! follows a commit that did commit creates the record a second time. This module removes the
//! trap by construction: while a [`run`](crate::run) body is being polled, every id and
//! secret the crate draws comes from the run's list of draws. The first attempt draws fresh
//! values and appends them; each later attempt replays the same values in the same order, so
//! the n-th record a body builds has the same id on every attempt, and the record layer's
//! insert recognises the one an earlier attempt committed (see
//! [`record::insert`](crate::record::insert)).
//!
//! The scope is the body's own future: work the body hands to another task (`tokio::spawn`)
//! draws fresh values. A body that builds its records in a different order on different
//! attempts still gets unique ids, only not the same ones per record. Outside a run, every
//! draw is fresh.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use uuid::Uuid;

/// The values drawn by the attempts of one run, in drawing order.
#[derive(Default)]
pub(crate) struct Draws {
    values: Mutex<Vec<Uuid>>,
}

/// One attempt's position in its run's [`Draws`].
struct Attempt {
    draws: Arc<Draws>,
    next: usize,
}

thread_local! {
    /// The attempt whose body is being polled on this thread, if any.
    static CURRENT: RefCell<Option<Attempt>> = const { RefCell::new(None) };
}

/// The next value of the attempt being polled, or `fresh()` outside a run.
fn draw(fresh: fn() -> Uuid) -> Uuid {
    CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(attempt) => {
            let mut values = attempt
                .draws
                .values
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let value = match values.get(attempt.next) {
                Some(value) => *value,
                None => {
                    let value = fresh();
                    values.push(value);
                    value
                }
            };
            attempt.next += 1;
            value
        }
        None => fresh(),
    })
}

/// A UUID v7 (time-ordered), replayed across the attempts of a run.
pub(crate) fn uuid_v7() -> Uuid {
    draw(Uuid::now_v7)
}

/// A random UUID v4 (122 bits from the operating system's generator), replayed across the
/// attempts of a run: tenant ids, secrets, salts.
pub(crate) fn uuid_v4() -> Uuid {
    draw(Uuid::new_v4)
}

/// `future` with `draws` installed as the current run's draws whenever it is polled, each
/// attempt starting from the first draw.
pub(crate) fn replaying<F: Future>(draws: Arc<Draws>, future: F) -> Replaying<F> {
    Replaying {
        future: Box::pin(future),
        attempt: Some(Attempt { draws, next: 0 }),
    }
}

/// The future [`replaying`] returns.
pub(crate) struct Replaying<F> {
    // Boxed so this wrapper is `Unpin` and needs no pin projection (the crate forbids unsafe).
    future: Pin<Box<F>>,
    /// Taken out while the inner future is polled, put back afterwards.
    attempt: Option<Attempt>,
}

/// Puts the outer attempt back when a poll ends, even by a panic.
struct Restore<'a> {
    outer: Option<Attempt>,
    slot: &'a mut Option<Attempt>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let ours = CURRENT.with(|current| current.replace(self.outer.take()));
        *self.slot = ours;
    }
}

impl<F: Future> Future for Replaying<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let ours = this.attempt.take();
        let outer = CURRENT.with(|current| current.replace(ours));
        let _restore = Restore {
            outer,
            slot: &mut this.attempt,
        };
        this.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn each_attempt_replays_the_first_attempts_draws_in_order() {
        let draws = Arc::new(Draws::default());
        let first = block_on(replaying(draws.clone(), async { (uuid_v7(), uuid_v4()) }));
        let second = block_on(replaying(draws.clone(), async {
            (uuid_v7(), uuid_v4(), uuid_v4())
        }));
        assert_eq!((first.0, first.1), (second.0, second.1));
        assert_ne!(
            second.1, second.2,
            "a draw past the first attempt's is fresh"
        );
        assert_ne!(first.0, first.1);
    }

    #[test]
    fn draws_outside_a_run_are_fresh_and_a_nested_run_keeps_its_own() {
        assert_ne!(uuid_v4(), uuid_v4());
        let outer = Arc::new(Draws::default());
        let inner = Arc::new(Draws::default());
        let run = |outer: Arc<Draws>, inner: Arc<Draws>| {
            replaying(outer, async move {
                let a = uuid_v4();
                let b = replaying(inner, async { uuid_v4() }).await;
                let c = uuid_v4();
                (a, b, c)
            })
        };
        let once = block_on(run(outer.clone(), inner.clone()));
        let again = block_on(run(outer, inner));
        assert_eq!(once, again);
        assert_ne!(
            once.0, once.2,
            "the nested run's draw did not take the outer slot"
        );
        assert_ne!(uuid_v4(), once.0, "after the run, draws are fresh again");
    }
}
