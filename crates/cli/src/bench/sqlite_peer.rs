//! `--peer sqlite`: the same workload on SQLite, in the same run, so the report can say how
//! this layer compares with what a user would pick instead on one machine.
//!
//! The schema is the multi-tenant one a careful SQLite user would write: `tenant_id` leads
//! every primary key and index, tables are `WITHOUT ROWID` (clustered by that key, as our
//! keys are), WAL mode with `synchronous=FULL` (a commit is durable when it returns, as ours
//! is on sled). The data has the same shape (per tenant 20 users, 5 projects, 200 tasks), the
//! mix the same kinds in the same shares:
//!
//! - lookup: a task by `(tenant_id, id)` or a user by `(tenant_id, email)`, half each (no
//!   authorization check: SQLite's schema has none; ours checks RBAC on every read);
//! - write: a task inserted, or a task's status moved, each with one audit row, in one
//!   `BEGIN IMMEDIATE` transaction;
//! - list: the first 50 tasks of a project, in id order;
//! - onboarding: the tenant row, its root entity, its first admin user and member and four
//!   roles, in one transaction.
//!
//! Each worker has its own connection (WAL lets readers run beside the one writer); writers
//! wait for each other through SQLite's busy timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::mix::{Kind, Mix};
use super::setup::{PROJECTS, TASKS, USERS};
use super::workers;
use super::workload::{Recorder, LIST_PAGE};

/// What the peer's workload needs of one tenant.
struct PeerTenant {
    id: [u8; 16],
    emails: Vec<String>,
    members: Vec<[u8; 16]>,
    projects: Vec<[u8; 16]>,
    tasks: Vec<[u8; 16]>,
}

const SCHEMA: &str = "
CREATE TABLE tenants (id BLOB PRIMARY KEY, name TEXT NOT NULL, domain TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE entities (tenant_id BLOB NOT NULL, id BLOB NOT NULL, code TEXT NOT NULL,
    name TEXT NOT NULL, kind TEXT NOT NULL, parent BLOB,
    PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE TABLE users (tenant_id BLOB NOT NULL, id BLOB NOT NULL, email TEXT NOT NULL,
    name TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX users_by_email ON users (tenant_id, email);
CREATE TABLE members (tenant_id BLOB NOT NULL, id BLOB NOT NULL, user_id BLOB,
    name TEXT NOT NULL, PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE TABLE roles (tenant_id BLOB NOT NULL, id BLOB NOT NULL, name TEXT NOT NULL,
    permissions TEXT NOT NULL, PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE TABLE role_assignments (tenant_id BLOB NOT NULL, id BLOB NOT NULL,
    member BLOB NOT NULL, role BLOB NOT NULL, entity BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE INDEX role_assignments_by_member ON role_assignments (tenant_id, member);
CREATE TABLE projects (tenant_id BLOB NOT NULL, id BLOB NOT NULL, code TEXT NOT NULL,
    name TEXT NOT NULL, entity BLOB NOT NULL, owner BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX projects_by_code ON projects (tenant_id, code);
CREATE TABLE tasks (tenant_id BLOB NOT NULL, id BLOB NOT NULL, project BLOB NOT NULL,
    title TEXT NOT NULL, description TEXT NOT NULL, status TEXT NOT NULL,
    assignee BLOB, reporter BLOB NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, PRIMARY KEY (tenant_id, id)) WITHOUT ROWID;
CREATE INDEX tasks_by_project ON tasks (tenant_id, project, id);
CREATE INDEX tasks_by_assignee ON tasks (tenant_id, assignee);
CREATE INDEX tasks_by_status ON tasks (tenant_id, status);
CREATE TABLE audit (tenant_id BLOB NOT NULL, seq INTEGER NOT NULL, actor BLOB NOT NULL,
    action TEXT NOT NULL, model TEXT NOT NULL, target BLOB NOT NULL, at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, seq)) WITHOUT ROWID;
";

/// Opens a connection with the peer's settings: WAL, `synchronous=FULL`, a busy timeout.
fn connect(path: &Path) -> anyhow::Result<Connection> {
    let conn =
        Connection::open(path).with_context(|| format!("opening SQLite at {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(30))?;
    Ok(conn)
}

fn id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn nanos(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The next audit sequence number of a tenant, read in the writing transaction.
fn audit(
    tx: &rusqlite::Transaction<'_>,
    tenant: &[u8; 16],
    actor: &[u8; 16],
    action: &str,
    model: &str,
    target: &[u8; 16],
) -> rusqlite::Result<()> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM audit WHERE tenant_id = ?1",
        params![tenant],
        |row| row.get(0),
    )?;
    tx.execute(
        "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![tenant, seq, actor, action, model, target, now_ms()],
    )?;
    Ok(())
}

/// A tenant the peer just onboarded.
struct Onboarded {
    tenant: [u8; 16],
    admin: [u8; 16],
    root: [u8; 16],
    nanos: u64,
}

/// Onboards tenant `n`: what provisioning writes, in one transaction, timed.
fn onboard(conn: &mut Connection, run_id: &str, n: usize) -> anyhow::Result<Onboarded> {
    let start = Instant::now();
    let (tenant, root, admin_user, admin) = (id(), id(), id(), id());
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let domain = format!("t{n}-{run_id}.peer.example");
    tx.execute(
        "INSERT INTO tenants VALUES (?1, ?2, ?3, 'enterprise', 'active', ?4)",
        params![tenant, format!("Bench tenant {n}"), domain, now_ms()],
    )?;
    tx.execute(
        "INSERT INTO entities VALUES (?1, ?2, ?3, ?4, 'corporation', NULL)",
        params![tenant, root, format!("T{n}"), format!("Bench tenant {n}")],
    )?;
    tx.execute(
        "INSERT INTO users VALUES (?1, ?2, ?3, 'Admin', 'admin', 'invited', ?4, ?4)",
        params![tenant, admin_user, format!("admin@{domain}"), now_ms()],
    )?;
    tx.execute(
        "INSERT INTO members VALUES (?1, ?2, ?3, 'Admin')",
        params![tenant, admin, admin_user],
    )?;
    for role in ["admin", "maintainer", "contributor", "viewer"] {
        tx.execute(
            "INSERT INTO roles VALUES (?1, ?2, ?3, 'built in')",
            params![tenant, id(), role],
        )?;
    }
    for (model, target) in [
        ("tenant", tenant),
        ("entity", root),
        ("user", admin_user),
        ("member", admin),
    ] {
        audit(&tx, &tenant, &[0; 16], "create", model, &target)?;
    }
    tx.commit()?;
    Ok(Onboarded {
        tenant,
        admin,
        root,
        nanos: nanos(start),
    })
}

/// Fills a tenant with the bench's data in one transaction, each record with its audit row.
fn fill(
    conn: &mut Connection,
    new: Onboarded,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<PeerTenant> {
    let Onboarded {
        tenant,
        admin,
        root,
        ..
    } = new;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let contributor = id();
    tx.execute(
        "INSERT INTO roles VALUES (?1, ?2, 'bench contributor', 'tasks')",
        params![tenant, contributor],
    )?;
    let (emails, mut members) = fill_users(&tx, &tenant, &admin, &root, &contributor)?;
    members.insert(0, admin);
    // Projects owned by the admin under the root entity.
    let projects = create_each(&tx, &tenant, &admin, "project", PROJECTS, |p, project| {
        tx.execute(
            "INSERT INTO projects VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tenant,
                project,
                format!("P{p}"),
                format!("Project {p}"),
                root,
                admin
            ],
        )
    })?;
    // Tasks dealt round the projects, each with a random status and assignee.
    let statuses = ["todo", "in_progress", "in_review", "done"];
    let tasks = create_each(&tx, &tenant, &admin, "task", TASKS, |t, task| {
        tx.execute(
            "INSERT INTO tasks VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, ?7, ?8, ?8)",
            params![
                tenant,
                task,
                projects[t % PROJECTS],
                format!("Task {t}"),
                statuses[rng.usize(0..statuses.len())],
                members[rng.usize(0..members.len())],
                admin,
                now_ms()
            ],
        )
    })?;
    tx.commit()?;
    Ok(PeerTenant {
        id: tenant,
        emails,
        members,
        projects,
        tasks,
    })
}

/// Creates `count` records of `model` by `actor`, each under a fresh id with its audit row:
/// `insert(i, id)` writes the `i`-th. Returns the ids, in order.
fn create_each(
    tx: &rusqlite::Transaction<'_>,
    tenant: &[u8; 16],
    actor: &[u8; 16],
    model: &str,
    count: usize,
    mut insert: impl FnMut(usize, &[u8; 16]) -> rusqlite::Result<usize>,
) -> rusqlite::Result<Vec<[u8; 16]>> {
    (0..count)
        .map(|i| {
            let made = id();
            insert(i, &made)?;
            audit(tx, tenant, actor, "create", model, &made)?;
            Ok(made)
        })
        .collect()
}

/// The tenant's users besides its admin, each a member who contributes across the
/// company (`contributor` on the `root` entity); returns their emails and member ids.
fn fill_users(
    tx: &rusqlite::Transaction<'_>,
    tenant: &[u8; 16],
    admin: &[u8; 16],
    root: &[u8; 16],
    contributor: &[u8; 16],
) -> rusqlite::Result<(Vec<String>, Vec<[u8; 16]>)> {
    let (mut emails, mut members) = (Vec::new(), Vec::new());
    for u in 1..USERS {
        let (user, member, grant) = (id(), id(), id());
        let email = format!("user{u}@bench.example");
        tx.execute(
            "INSERT INTO users VALUES (?1, ?2, ?3, ?4, 'developer', 'invited', ?5, ?5)",
            params![tenant, user, email, format!("User {u}"), now_ms()],
        )?;
        tx.execute(
            "INSERT INTO members VALUES (?1, ?2, ?3, ?4)",
            params![tenant, member, user, format!("User {u}")],
        )?;
        tx.execute(
            "INSERT INTO role_assignments VALUES (?1, ?2, ?3, ?4, ?5)",
            params![tenant, grant, member, contributor, root],
        )?;
        for (model, target) in [
            ("user", user),
            ("member", member),
            ("role assignment", grant),
        ] {
            audit(tx, tenant, admin, "create", model, &target)?;
        }
        emails.push(email);
        members.push(member);
    }
    Ok((emails, members))
}

/// What the peer measured.
pub struct PeerRun {
    /// Latencies, as ours are recorded.
    pub recorder: Recorder,
    /// Setup seconds.
    pub setup_s: f64,
    /// Workload seconds.
    pub duration_s: f64,
}

/// Runs the whole bench on SQLite in `dir`: `tenants` tenants set up by `concurrency`
/// workers, then the mix for `duration` (with 5 onboardings during it, as ours).
pub fn run(
    dir: &Path,
    tenants: usize,
    concurrency: usize,
    mix: Mix,
    duration: Duration,
    run_id: &str,
) -> anyhow::Result<PeerRun> {
    let path = dir.join("peer.sqlite");
    connect(&path)?
        .execute_batch(SCHEMA)
        .context("creating the SQLite peer's schema")?;
    let mut recorder = Recorder::new();
    let setup_start = Instant::now();
    let all = set_up(&path, tenants, concurrency, run_id, &mut recorder)?;
    let setup_s = setup_start.elapsed().as_secs_f64();

    let start = Instant::now();
    let deadline = start + duration;
    // Workers 0..concurrency run the mix; one more onboards a few tenants while they do.
    let work = |w: usize| -> anyhow::Result<Recorder> {
        let mut conn = connect(&path)?;
        if w < concurrency {
            return Ok(run_mix(&mut conn, &all, mix, deadline));
        }
        Ok(workers::onboard_during_run(start, duration, |k| {
            onboard(&mut conn, run_id, tenants + k).map(|new| new.nanos)
        }))
    };
    let results = workers::run_workers(concurrency + 1, "a peer worker panicked", work, || {});
    let duration_s = start.elapsed().as_secs_f64();
    for result in results {
        recorder.merge(&result?);
    }
    Ok(PeerRun {
        recorder,
        setup_s,
        duration_s,
    })
}

/// Onboards and fills tenants `0..tenants` in the database at `path`, `concurrency` at a
/// time (each worker on its own connection); onboarding times go to `recorder`.
fn set_up(
    path: &Path,
    tenants: usize,
    concurrency: usize,
    run_id: &str,
    recorder: &mut Recorder,
) -> anyhow::Result<Vec<PeerTenant>> {
    let workers = concurrency.min(tenants).max(1);
    let set_up = |w: usize| -> anyhow::Result<(Vec<PeerTenant>, Recorder)> {
        let mut conn = connect(path)?;
        let (mut rng, mut mine, mut made) = (fastrand::Rng::new(), Recorder::new(), Vec::new());
        for n in workers::share(w, workers, tenants) {
            let new = onboard(&mut conn, run_id, n)?;
            mine.onboarding.saturating_record(new.nanos.max(1));
            made.push(fill(&mut conn, new, &mut rng)?);
        }
        Ok((made, mine))
    };
    let made = workers::run_workers(workers, "a peer setup worker panicked", set_up, || {});
    workers::gather(made, recorder, "setting up the SQLite peer's tenants")
}

/// One worker's share of the mix until `deadline`, each operation on a random tenant of
/// `all`.
fn run_mix(conn: &mut Connection, all: &[PeerTenant], mix: Mix, deadline: Instant) -> Recorder {
    let (mut rng, mut mine) = (fastrand::Rng::new(), Recorder::new());
    loop {
        std::thread::yield_now();
        let began = Instant::now();
        if began >= deadline {
            return mine;
        }
        let kind = mix.pick(&mut rng);
        let tenant = &all[rng.usize(0..all.len())];
        match operation(conn, kind, tenant, &mut rng) {
            Ok(()) => mine.record(kind, nanos(began)),
            Err(error) => mine.error(&error),
        }
    }
}

fn pick<'a, T>(items: &'a [T], rng: &mut fastrand::Rng) -> anyhow::Result<&'a T> {
    match items.len() {
        0 => anyhow::bail!("nothing to pick from"),
        n => Ok(&items[rng.usize(0..n)]),
    }
}

/// One operation of the mix.
fn operation(
    conn: &mut Connection,
    kind: Kind,
    t: &PeerTenant,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    match kind {
        Kind::Lookup if rng.bool() => {
            let task = pick(&t.tasks, rng)?;
            let mut statement = conn.prepare_cached(
                "SELECT project, title, description, status, assignee, reporter, created_ms, updated_ms
                 FROM tasks WHERE tenant_id = ?1 AND id = ?2",
            )?;
            let found: Option<String> = statement
                .query_row(params![t.id, task], |row| row.get(1))
                .optional()?;
            found.context("a task of the peer is missing")?;
        }
        Kind::Lookup => {
            let email = pick(&t.emails, rng)?;
            let mut statement = conn.prepare_cached(
                "SELECT id, name, role, status, created_ms, updated_ms FROM users
                 WHERE tenant_id = ?1 AND email = ?2",
            )?;
            let found: Option<Vec<u8>> = statement
                .query_row(params![t.id, email], |row| row.get(0))
                .optional()?;
            found.context("a user of the peer is missing")?;
        }
        Kind::Write => {
            let actor = *pick(&t.members, rng)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if rng.bool() {
                let task = id();
                tx.execute(
                    "INSERT INTO tasks VALUES (?1, ?2, ?3, 'A task made by the bench', '', 'todo', ?4, ?5, ?6, ?6)",
                    params![t.id, task, pick(&t.projects, rng)?, pick(&t.members, rng)?, actor, now_ms()],
                )?;
                audit(&tx, &t.id, &actor, "create", "task", &task)?;
            } else {
                let task = *pick(&t.tasks, rng)?;
                let status: String = tx.query_row(
                    "SELECT status FROM tasks WHERE tenant_id = ?1 AND id = ?2",
                    params![t.id, task],
                    |row| row.get(0),
                )?;
                let next = match status.as_str() {
                    "todo" => "in_progress",
                    "in_progress" => "in_review",
                    "in_review" => "done",
                    _ => "todo",
                };
                tx.execute(
                    "UPDATE tasks SET status = ?3, updated_ms = ?4 WHERE tenant_id = ?1 AND id = ?2",
                    params![t.id, task, next, now_ms()],
                )?;
                audit(&tx, &t.id, &actor, "update", "task", &task)?;
            }
            tx.commit()?;
        }
        Kind::List => {
            let project = pick(&t.projects, rng)?;
            let mut statement = conn.prepare_cached(
                "SELECT id, title, description, status, assignee, reporter, created_ms, updated_ms
                 FROM tasks WHERE tenant_id = ?1 AND project = ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = statement
                .query_map(params![t.id, project, LIST_PAGE as i64], |row| {
                    row.get::<_, Vec<u8>>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if rows.is_empty() {
                anyhow::bail!("a project of the peer lists no tasks");
            }
        }
    }
    Ok(())
}
