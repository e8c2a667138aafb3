//! Atomic model operations, as a careless caller finds them: random sequences of model
//! operations in shared transactions, a fraction made to fail (oversize, over quota,
//! forbidden, missing reference, a unique value taken, the transaction full part way), every
//! error ignored and every transaction committed: `tenant check` finds nothing.

use coditect_core::ids::{ConversationId, ProjectId};
use coditect_core::model::{Conversation, Message, MessageRole, Usage};
use coditect_core::{run_in_tenant, KvError};
use coditect_ops::{self as ops, CheckOptions};

use super::*;

/// Operations in all, over every transaction of the run.
const OPERATIONS: usize = 10_000;

/// What the run did, by outcome.
#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    failed: BTreeSet<&'static str>,
    failures: usize,
    /// Operations that failed part way and poisoned their transaction.
    poisoned: usize,
    commits: usize,
    refused_commits: usize,
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::TooLarge { .. } => "too large",
        Error::QuotaExceeded { .. } => "over quota",
        Error::Forbidden { .. } => "forbidden",
        Error::InvalidReference { .. } => "missing reference",
        Error::AlreadyExists { .. } => "already exists",
        Error::Kv(KvError::TransactionTooLarge { .. }) => "transaction full",
        Error::Kv(KvError::TransactionPoisoned { .. }) => "poisoned",
        Error::NotFound { .. } => "not found",
        Error::StillReferenced { .. } => "still referenced",
        Error::InvalidInput { .. } => "invalid",
        _ => "other",
    }
}

/// Fills `tx` with write conflict ranges (no data) until less than `room` bytes of its size
/// limit are left.
fn fill(tx: &dyn Transaction, room: usize) {
    for size in [9_000, room.max(40) / 2 - 16] {
        let begin = vec![b'p'; size];
        let mut end = begin.clone();
        *end.last_mut().expect("not empty") = b'q';
        while tx.add_write_conflict_range(&begin, &end).is_ok() {}
    }
}

/// On this backend: 10,000 random model operations in transactions of 1 to 60, about one in
/// three made to fail, errors ignored, each transaction committed (a poisoned one is
/// refused): the tenant checks clean, every kind of failure happened, and some operations
/// failed part way (the transaction full in the middle of their writes).
// Length: one random run, its loop one arm a kind of model operation, and its tally checked
// at the end; the arms share the run's state (tasks and users made so far, the rng).
pub async fn random_operations_with_ignored_failures_leave_a_clean_tenant(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "careless.test", Plan::Starter).await;
    let t = tid(&p);
    let by = admin(&p);
    let me = p.admin_member.id;
    let (project, agent, chat): (ProjectId, MemberId, ConversationId) = in_tenant!(db, t, |ttx| {
        let project = record::insert(&ttx, by, Project::new("RND", "Random", p.root.id, me))
            .await?
            .id;
        let config = AgentConfig::new("rnd", AgentType::Coder, "anthropic", "claude");
        let config = record::insert(&ttx, by, config).await?.id;
        let agent = Member::new(MemberKind::Agent(config), "no rights");
        let agent = record::insert(&ttx, by, agent).await?.id;
        let chat = record::insert(&ttx, by, Conversation::new(me, "rnd"))
            .await?
            .id;
        Ok::<_, Error>((project, agent, chat))
    })
    .expect("setup");
    let seed = fastrand::u64(..);
    println!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tasks: Vec<TaskId> = Vec::new();
    let mut users: Vec<UserId> = Vec::new();
    let emails = |n: u64| format!("u{n}@careless.test");
    let huge = "\u{1D11E}".repeat(50_000);
    let statuses = [
        TaskStatus::Todo,
        TaskStatus::InProgress,
        TaskStatus::InReview,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];
    let mut tally = Tally::default();
    let mut done = 0;
    while done < OPERATIONS {
        let ops_here = rng.usize(1..=60).min(OPERATIONS - done);
        let tx = db.begin().await.expect("begin");
        let mut filled = false;
        let poisoned = {
            let ttx = TenantTx::open(tx.as_ref(), t).await.expect("open");
            for i in 0..ops_here {
                let pick = |rng: &mut fastrand::Rng, from: &[TaskId]| {
                    (!from.is_empty()).then(|| from[rng.usize(..from.len())])
                };
                // The transaction full part way: the last operation of one in ten.
                let full = i + 1 == ops_here && rng.u8(..10) == 0;
                if full {
                    fill(tx.as_ref(), rng.usize(200..4_000));
                    filled = true;
                }
                let result: Result<()> = match if full { 0 } else { rng.u8(..14) } {
                    0 => {
                        let mut task = Task::new(project, "task", me).assigned_to(me);
                        task.parent = pick(&mut rng, &tasks).filter(|_| rng.bool());
                        let id = task.id;
                        let inserted = record::insert(&ttx, by, task).await.map(|_| ());
                        if inserted.is_ok() {
                            tasks.push(id);
                        }
                        inserted
                    }
                    1 => record::insert(&ttx, by, Task::new(project, "big", me).described(&*huge))
                        .await
                        .map(|_| ()),
                    2 => {
                        let ghost = MemberId::new(Uuid::now_v7()).expect("id");
                        let task = Task::new(project, "ghost", me).assigned_to(ghost);
                        record::insert(&ttx, by, task).await.map(|_| ())
                    }
                    3 => record::insert(&ttx, Actor::Member(agent), Task::new(project, "no", me))
                        .await
                        .map(|_| ()),
                    4 | 5 => match pick(&mut rng, &tasks) {
                        Some(id) => match record::get::<Task>(&ttx, by, id).await {
                            Ok(Some(mut task)) => {
                                task.status = statuses[rng.usize(..statuses.len())];
                                if rng.u8(..3) == 0 {
                                    task.description = huge.clone();
                                }
                                record::update(&ttx, by, task).await.map(|_| ())
                            }
                            Ok(None) => Ok(()),
                            Err(e) => Err(e),
                        },
                        None => Ok(()),
                    },
                    6 => {
                        let user = User::new(emails(rng.u64(..40)), "someone", UserRole::Viewer);
                        let id = user.id;
                        let inserted = record::insert(&ttx, by, user).await.map(|_| ());
                        if inserted.is_ok() {
                            users.push(id);
                        }
                        inserted
                    }
                    7 => match users.get(rng.usize(..users.len().max(1))) {
                        Some(&id) => match record::get::<User>(&ttx, by, id).await {
                            Ok(Some(mut user)) => {
                                user.email = emails(rng.u64(..40));
                                record::update(&ttx, by, user).await.map(|_| ())
                            }
                            Ok(None) => Ok(()),
                            Err(e) => Err(e),
                        },
                        None => Ok(()),
                    },
                    8 => match pick(&mut rng, &tasks) {
                        Some(id) => record::delete::<Task>(&ttx, by, id).await.map(|_| ()),
                        None => Ok(()),
                    },
                    9 => match pick(&mut rng, &tasks) {
                        Some(id) => record::insert(&ttx, by, Comment::new(id, me, "note"))
                            .await
                            .map(|_| ()),
                        None => Ok(()),
                    },
                    10 => {
                        let metric = ["calls", "tokens"][rng.usize(..2)];
                        let usage = Usage::new(metric, rng.i64(20_000..20_003), 3, 7);
                        record::insert(&ttx, by, usage).await.map(|_| ())
                    }
                    11 => record::insert(&ttx, by, Message::new(chat, me, MessageRole::User, "hi"))
                        .await
                        .map(|_| ()),
                    12 => match users.get(rng.usize(..users.len().max(1))) {
                        Some(&id) => record::delete::<User>(&ttx, by, id).await.map(|_| ()),
                        None => Ok(()),
                    },
                    _ => {
                        let code = format!("P{}", rng.u32(..1_000_000));
                        record::insert(&ttx, by, Project::new(code, "More", p.root.id, me))
                            .await
                            .map(|_| ())
                    }
                };
                match result {
                    Ok(()) => tally.ok += 1,
                    Err(error) => {
                        tally.failures += 1;
                        tally.failed.insert(kind(&error));
                    }
                }
                if full {
                    break;
                }
            }
            // Only the transaction's size limit can stop an operation part way: any other
            // failure after a buffered key is a check made too late.
            if let Some((operation, cause)) = ttx.poisoned() {
                assert!(
                    filled && cause.starts_with("transaction of"),
                    "{operation} failed part way with {cause}"
                );
            }
            ttx.poisoned().is_some()
        };
        tally.poisoned += usize::from(poisoned);
        done += ops_here;
        match tx.commit().await {
            Ok(_) => {
                assert!(!poisoned, "a poisoned transaction committed");
                tally.commits += 1
            }
            Err(error) => {
                assert!(
                    matches!(error, KvError::TransactionTooLarge { .. }),
                    "a commit refused otherwise: {error:?}"
                );
                tally.refused_commits += 1;
            }
        }
    }
    println!("{tally:?}");
    let report = ops::check(db, t, &CheckOptions::default())
        .await
        .expect("check");
    assert!(
        report.is_clean(),
        "seed {seed}: {} violations, the first: {:#?}",
        report.violation_count,
        &report.violations[..report.violations.len().min(5)]
    );
    for kind in [
        "too large",
        "over quota",
        "forbidden",
        "missing reference",
        "already exists",
        "transaction full",
    ] {
        assert!(tally.failed.contains(kind), "no {kind} failure: {tally:?}");
    }
    assert!(
        tally.failures * 5 > OPERATIONS,
        "a fraction fails: {tally:?}"
    );
    assert!(tally.poisoned > 0, "some failed part way: {tally:?}");
    // Refused: every poisoned one, and any whose reads took it past the limit.
    assert!(tally.refused_commits >= tally.poisoned, "{tally:?}");
}

/// Through `run_in_tenant`: an insert the transaction's size limit stops part way (the body
/// ignoring the error) poisons the attempt: further writes are refused, and the loop refuses
/// to commit it, naming the insert, instead of committing half of it. Filled with range
/// clears of nothing (counted, refused once full, leaving no data) to a random room, until
/// one insert fails part way.
pub async fn run_in_tenant_refuses_a_transaction_an_operation_poisoned(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "poisoned.test", Plan::Starter).await;
    let t = tid(&p);
    let (by, me) = (admin(&p), p.admin_member.id);
    let project = in_tenant!(db, t, |ttx| {
        record::insert(&ttx, by, Project::new("PSN", "Poison", p.root.id, me)).await
    })
    .expect("project")
    .id;
    let mut pad = t.prefix();
    pad.extend(foundationdb_tuple::pack(&"zz_pad"));
    let mut seen = None;
    for attempt in 0..200usize {
        let room = 200 + attempt * 37 % 3_000;
        let pad = pad.clone();
        let task = Task::new(project, "half", me).assigned_to(me);
        let result = run_in_tenant(db, &RetryOptions::default(), t, move |ttx| async move {
            for size in [4_000, room / 4] {
                let mut begin = pad.clone();
                begin.resize(pad.len() + size.max(1), b'a');
                let mut end = begin.clone();
                *end.last_mut().expect("not empty") = b'b';
                while ttx.clear_range(&begin, &end).is_ok() {}
            }
            let failed = record::insert(&ttx, by, task).await.is_err();
            if ttx.poisoned().is_some() {
                assert!(failed);
                let again = Task::new(project, "after", me);
                let refused = record::insert(&ttx, by, again).await;
                assert_matches!(refused, Err(Error::Kv(KvError::TransactionPoisoned { .. })));
            }
            Ok(())
        })
        .await;
        match result {
            Err(Error::Kv(KvError::TransactionPoisoned { operation, cause })) => {
                seen = Some((operation, cause));
                break;
            }
            Ok(_) | Err(Error::Kv(KvError::TransactionTooLarge { .. })) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    let (operation, cause) = seen.expect("an insert failed part way in 200 attempts");
    assert!(operation.starts_with("insert of task"), "{operation}");
    assert!(cause.starts_with("transaction of"), "{cause}");
    let report = ops::check(db, t, &CheckOptions::default())
        .await
        .expect("check");
    assert!(report.is_clean(), "{:#?}", report.violations);
}
