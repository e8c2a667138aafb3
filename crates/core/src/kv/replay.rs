//! What a retried body draws at random, drawn once per [`run`](super::run) and replayed on
//! every attempt: record ids, tenant ids, secrets and salts.
//!
//! FoundationDB's advice for `commit_unknown_result` is to make each transaction idempotent,
//! typically with an id chosen *before* the first attempt. A body written the natural way
//! (`Task::new(..)` inside the closure) draws a fresh id on every attempt, so an attempt that
//! follows a commit that did commit creates the record a second time. This module removes the
//! trap by construction: while a [`run`](super::run) body is being polled, every id and
//! secret the crate draws comes from the run's draws. The draws are kept per drawing site
//! (the source location of the call that builds the record, since the model constructors
//! pass their caller's location on; ids and random values apart: each its own list): the first attempt draws fresh values and appends
//! them; each later attempt replays each site's values in the same order, so the n-th task a
//! body builds has the same id on every attempt, and the record layer's insert recognises the
//! one an earlier attempt committed (see the record layer's `record::insert`).
//!
//! Keeping sites apart matters when attempts take different paths: a body that creates a
//! member only if missing and then an API key draws, on a retry after its first attempt
//! committed, no member id; with one shared list the key would then get the member's id and
//! a secret made of the first key's id. Per site, the key gets the first attempt's key id and
//! secret, and a value drawn for an id is never handed out as a secret.
//!
//! The scope is the body's own future: work the body hands to another task (`tokio::spawn`)
//! draws fresh values. Outside a run, every draw is fresh.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use uuid::Uuid;

/// Where a value is drawn: a source location, and whether it is an id (v7) or a random
/// value (v4), so that an id and a secret drawn at one site never share a list.
type Site = (&'static str, u32, u32, bool);

/// The values drawn by the attempts of one run, per site, in drawing order.
#[derive(Default)]
pub(crate) struct Draws {
    values: Mutex<BTreeMap<Site, Vec<Uuid>>>,
}

/// One attempt's position in each site's list of its run's [`Draws`].
struct Attempt {
    draws: Arc<Draws>,
    next: BTreeMap<Site, usize>,
}

thread_local! {
    /// The attempt whose body is being polled on this thread, if any.
    static CURRENT: RefCell<Option<Attempt>> = const { RefCell::new(None) };
}

/// The next value at `site` of the attempt being polled, or `fresh()` outside a run.
fn draw(site: &'static Location<'static>, random: bool, fresh: fn() -> Uuid) -> Uuid {
    let site = (site.file(), site.line(), site.column(), random);
    CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(attempt) => {
            let next = attempt.next.entry(site).or_insert(0);
            let mut values = attempt
                .draws
                .values
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let drawn = values.entry(site).or_default();
            let value = match drawn.get(*next) {
                Some(value) => *value,
                None => {
                    let value = fresh();
                    drawn.push(value);
                    value
                }
            };
            *next += 1;
            value
        }
        None => fresh(),
    })
}

/// A UUID v7 (time-ordered), replayed across the attempts of a run per calling site.
#[track_caller]
pub(crate) fn uuid_v7() -> Uuid {
    draw(Location::caller(), false, Uuid::now_v7)
}

/// A random UUID v4 (122 bits from the operating system's generator), replayed across the
/// attempts of a run per calling site: tenant ids, secrets, salts.
#[track_caller]
pub(crate) fn uuid_v4() -> Uuid {
    draw(Location::caller(), true, Uuid::new_v4)
}

/// `future` with `draws` installed as the current run's draws whenever it is polled, each
/// attempt starting from the first draw.
pub(crate) fn replaying<F: Future>(draws: Arc<Draws>, future: F) -> Replaying<F> {
    Replaying {
        future: Box::pin(future),
        attempt: Some(Attempt {
            draws,
            next: BTreeMap::new(),
        }),
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
    fn sites_replay_apart_so_a_skipped_draw_shifts_nothing() {
        fn member_id() -> Uuid {
            uuid_v7()
        }
        fn key_id() -> Uuid {
            uuid_v7()
        }
        fn secret() -> Uuid {
            uuid_v4()
        }
        let draws = Arc::new(Draws::default());
        let first = block_on(replaying(draws.clone(), async {
            (member_id(), key_id(), secret())
        }));
        // The retry finds the member made and draws no member id.
        let second = block_on(replaying(draws, async { (key_id(), secret()) }));
        assert_eq!(
            (first.1, first.2),
            second,
            "the key keeps its id and its secret"
        );
        assert_ne!(second.0, first.0, "the key does not take the member's id");
        assert_ne!(second.1, first.0, "no secret is an id drawn elsewhere");
    }

    #[test]
    fn each_attempt_replays_the_first_attempts_draws_in_order() {
        fn id() -> Uuid {
            uuid_v7()
        }
        fn secret() -> Uuid {
            uuid_v4()
        }
        let draws = Arc::new(Draws::default());
        let first = block_on(replaying(draws.clone(), async { (id(), id(), secret()) }));
        let second = block_on(replaying(draws.clone(), async {
            (id(), id(), secret(), secret())
        }));
        assert_eq!((first.0, first.1, first.2), (second.0, second.1, second.2));
        assert_ne!(first.0, first.1, "two draws at one site differ");
        assert_ne!(
            second.2, second.3,
            "a draw past the first attempt's is fresh"
        );
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
