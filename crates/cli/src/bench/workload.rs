//! The mixed workload: one operation at a time per worker, each on a random tenant, its
//! latency recorded in the histogram of its kind.
//!
//! - lookup: a task by id, read on behalf of a member (the record, then the RBAC check: the
//!   member, its user, its role assignments and role, the task's project and entity), or a
//!   user by unique email (the index entry, then the record), half each; read-only, never
//!   committed.
//! - write: creating a task (4 index entries, 4 reference checks, the RBAC check, a counter,
//!   an audit event) or moving a task to its next status (two index entries moved, the RBAC
//!   check, an audit event), half each, by a contributor member, through the retry loop,
//!   committed.
//! - list: the first page of 50 tasks of a project (the index range, then each record).

use std::time::Instant;

use anyhow::Context;
use coditect_core::audit::Actor;
use coditect_core::model::{task, user, Task, TaskStatus};
use coditect_core::record::{self, PageRequest};
use coditect_core::{run_in_tenant, KvBackend, RetryOptions, TenantTx};
use hdrhistogram::Histogram;

use super::mix::{Kind, Mix};
use super::setup::BenchTenant;

/// Tasks per list page.
pub const LIST_PAGE: usize = 50;

/// Latencies (nanoseconds) of one worker, or of all of them merged.
pub struct Recorder {
    /// Lookups.
    pub lookup: Histogram<u64>,
    /// Write transactions.
    pub write: Histogram<u64>,
    /// List pages.
    pub list: Histogram<u64>,
    /// Tenant onboarding (provisioning).
    pub onboarding: Histogram<u64>,
    /// Operations that failed (their latency is not recorded).
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

/// A histogram from 1 ns to an hour with 3 significant digits.
fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 3_600_000_000_000, 3) {
        Ok(h) => h,
        // The bounds are constants hdrhistogram accepts (low >= 1, high >= 2 * low).
        Err(_) => unreachable!("constant histogram bounds are valid"),
    }
}

impl Recorder {
    /// Empty histograms.
    pub fn new() -> Self {
        Recorder {
            lookup: histogram(),
            write: histogram(),
            list: histogram(),
            onboarding: histogram(),
            errors: 0,
            first_error: None,
        }
    }

    /// Records one operation's latency.
    pub fn record(&mut self, kind: Kind, nanos: u64) {
        let h = match kind {
            Kind::Lookup => &mut self.lookup,
            Kind::Write => &mut self.write,
            Kind::List => &mut self.list,
        };
        h.saturating_record(nanos.max(1));
    }

    /// Records one failed operation.
    pub fn error(&mut self, error: &anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(crate::output::one_line(error));
        }
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds everywhere, so adding cannot fail; saturate rather than lose a worker.
        for (mine, theirs) in [
            (&mut self.lookup, &other.lookup),
            (&mut self.write, &other.write),
            (&mut self.list, &other.list),
            (&mut self.onboarding, &other.onboarding),
        ] {
            for v in theirs.iter_recorded() {
                mine.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// Runs operations until `deadline`, each on a random tenant.
pub async fn run_until(
    db: &dyn KvBackend,
    tenants: &[BenchTenant],
    mix: Mix,
    deadline: Instant,
    rng: &mut fastrand::Rng,
    recorder: &mut Recorder,
) {
    let options = RetryOptions::default();
    loop {
        // Offer the core to another runnable thread between operations, as a server thread
        // does while it waits for its next request: with more workers than cores, the
        // scheduler then switches threads here rather than in the middle of an operation.
        std::thread::yield_now();
        let start = Instant::now();
        if start >= deadline {
            break;
        }
        let kind = mix.pick(rng);
        let tenant = &tenants[rng.usize(0..tenants.len())];
        let result = match kind {
            Kind::Lookup => lookup(db, tenant, rng).await,
            Kind::Write => write(db, &options, tenant, rng).await,
            Kind::List => list(db, tenant, rng).await,
        };
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match result {
            Ok(()) => recorder.record(kind, nanos),
            Err(error) => recorder.error(&error),
        }
    }
}

fn pick<T: Copy>(items: &[T], rng: &mut fastrand::Rng) -> anyhow::Result<T> {
    match items.len() {
        0 => anyhow::bail!("nothing to pick from"),
        n => Ok(items[rng.usize(0..n)]),
    }
}

async fn lookup(
    db: &dyn KvBackend,
    t: &BenchTenant,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, t.id).await?;
    // Every read is checked, as the member asking.
    let actor = Actor::Member(pick(&t.contributors, rng)?);
    if rng.bool() {
        let id = pick(&t.tasks, rng)?;
        record::get::<Task>(&ttx, actor, id)
            .await?
            .with_context(|| format!("task {id} is missing"))?;
    } else {
        let email = &t.emails[rng.usize(0..t.emails.len())];
        user::by_email(&ttx, actor, email)
            .await?
            .with_context(|| format!("user {email} is missing"))?;
    }
    Ok(())
}

async fn write(
    db: &dyn KvBackend,
    options: &RetryOptions,
    t: &BenchTenant,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let member = pick(&t.contributors, rng)?;
    let actor = Actor::Member(member);
    if rng.bool() {
        let mut new = Task::new(pick(&t.projects, rng)?, "A task made by the bench", member);
        new.assignee = Some(pick(&t.members, rng)?);
        run_in_tenant(db, options, t.id, |ttx| async move {
            record::insert(&ttx, actor, new).await.map(drop)
        })
        .await?;
    } else {
        let id = pick(&t.tasks, rng)?;
        run_in_tenant(db, options, t.id, |ttx| async move {
            let mut task = record::require::<Task>(&ttx, actor, id).await?;
            task.status = next_status(task.status);
            record::update(&ttx, actor, task).await.map(drop)
        })
        .await?;
    }
    Ok(())
}

fn next_status(status: TaskStatus) -> TaskStatus {
    match status {
        TaskStatus::Todo => TaskStatus::InProgress,
        TaskStatus::InProgress => TaskStatus::InReview,
        TaskStatus::InReview => TaskStatus::Done,
        TaskStatus::Done | TaskStatus::Cancelled => TaskStatus::Todo,
    }
}

async fn list(db: &dyn KvBackend, t: &BenchTenant, rng: &mut fastrand::Rng) -> anyhow::Result<()> {
    let tx = db.begin().await?;
    let ttx = TenantTx::open(&*tx, t.id).await?;
    let actor = Actor::Member(pick(&t.contributors, rng)?);
    let page = task::by_project(
        &ttx,
        actor,
        pick(&t.projects, rng)?,
        &PageRequest::first(LIST_PAGE),
    )
    .await?;
    if page.items.is_empty() {
        anyhow::bail!("a project of tenant {} lists no tasks", t.id);
    }
    Ok(())
}
