//! Isolation under attack: random model operations by random members of 100 tenants, with
//! everything an attacker inside one tenant could try against another: record ids copied from
//! other tenants (get, update, delete, index lookups by them), codes and emails equal across
//! tenants, paging cursors taken from other tenants or made up, references to other tenants'
//! members, and raw ranges at the very edges of the tenant's prefix, next to tenants whose
//! UUIDs are adjacent to it (one tenant's range ends exactly where the next one's begins).
//!
//! Every operation runs through `run_in_tenant` over a [`RecordingBackend`]: afterwards every
//! key any attempt touched must be inside the acting tenant (or its own registry entry), and
//! every record returned must be one the acting tenant made.

use std::collections::BTreeSet;
use std::sync::Arc;

use coditect_conformance::recording::RecordingBackend;
use coditect_core::audit::Actor;
use coditect_core::ids::{MemberId, ProjectId, TaskId, UserId};
use coditect_core::keys::TenantId;
use coditect_core::model::{project, task, user, Plan, Project, Task, User, UserRole};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record::{self, Cursor, PageRequest};
use coditect_core::{run, run_in_tenant, Error, KvBackend, RangeOptions, RetryOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

const TENANTS: usize = 100;
const CASES: u32 = 100;
const OPERATIONS_PER_CASE: usize = 130;

/// What each tenant made, tracked beside the store.
#[derive(Default)]
struct Owned {
    ids: BTreeSet<Uuid>,
    emails: BTreeSet<String>,
    codes: BTreeSet<String>,
    users: Vec<UserId>,
    projects: Vec<ProjectId>,
    tasks: Vec<TaskId>,
}

struct World {
    store: Arc<dyn KvBackend>,
    db: RecordingBackend,
    tenants: Vec<Provisioned>,
    owned: Vec<Owned>,
    operations: usize,
}

/// Tenant ids in adjacent pairs (`x` and `x + 1`: the first one's range ends exactly where the
/// second one's begins), some ending in `0xFF` so that the range end carries.
fn tenant_id(i: usize, rng: &mut fastrand::Rng) -> TenantId {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    bytes[15] = if i % 4 == 0 { 0xFE } else { 0x10 };
    TenantId::new(Uuid::from_bytes(bytes)).unwrap()
}

fn successor(t: TenantId) -> TenantId {
    let next = t.uuid().as_u128().wrapping_add(1);
    TenantId::new(Uuid::from_u128(next)).unwrap()
}

async fn world(seed: u64) -> World {
    let store: Arc<dyn KvBackend> = Arc::new(coditect_mem::new_backend(Default::default()));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tenants = Vec::new();
    let mut owned = Vec::new();
    let mut i = 0;
    while tenants.len() < TENANTS {
        let first = tenant_id(i, &mut rng);
        for id in [first, successor(first)] {
            let new = NewTenant {
                id,
                // The same names, codes and emails in every tenant.
                name: "Same".into(),
                domain: format!("t{}.isolation.test", tenants.len()),
                plan: Plan::Enterprise,
                root_code: "ROOT".into(),
                admin_email: "admin@same.test".into(),
                admin_name: "Same Admin".into(),
            };
            let (p, _) = run(store.as_ref(), &RetryOptions::default(), |tx| {
                let new = new.clone();
                async move { provision(&*tx, new).await }
            })
            .await
            .unwrap();
            let mut mine = Owned::default();
            mine.ids.extend([
                p.admin.id.uuid(),
                p.admin_member.id.uuid(),
                p.root.id.uuid(),
            ]);
            mine.emails.insert("admin@same.test".into());
            mine.users.push(p.admin.id);
            tenants.push(p);
            owned.push(mine);
        }
        i += 1;
    }
    World {
        db: RecordingBackend::new(store.clone()),
        store,
        tenants,
        owned,
        operations: 0,
    }
}

/// One operation: (acting tenant, kind, other tenant, a small number).
type Op = (usize, u8, usize, u8);

fn pick<T: Copy>(v: &[T], n: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(n) % v.len()])
}

impl World {
    fn tid(&self, i: usize) -> TenantId {
        self.tenants[i].tenant.id
    }

    fn admin(&self, i: usize) -> Actor {
        Actor::Member(self.tenants[i].admin_member.id)
    }

    /// Runs one operation and checks it; returns the ids of the records it returned.
    async fn apply(&mut self, (a, kind, c, n): Op) -> Result<(), TestCaseError> {
        let options = RetryOptions::default();
        let (tenant, actor) = (self.tid(a), self.admin(a));
        let context = format!("tenant {a} (other {c}), kind {kind}, n {n}");
        // Whatever an earlier, failed operation left in the log is not this one's.
        self.db.take();
        // Ids the operation returned, each checked to be the acting tenant's.
        let mut returned: Vec<Uuid> = Vec::new();
        match kind % 10 {
            0 => {
                let email = format!("u{}@same.test", n % 8);
                let result = run_in_tenant(&self.db, &options, tenant, |ttx| {
                    let email = email.clone();
                    async move {
                        record::insert(&ttx, actor, User::new(email, "Same", UserRole::Developer))
                            .await
                    }
                })
                .await;
                let fresh = !self.owned[a].emails.contains(&email);
                prop_assert_eq!(result.is_ok(), fresh, "{}: {:?}", context, result);
                if let Ok((made, _)) = result {
                    self.claim(a, made.id.uuid())?;
                    self.owned[a].emails.insert(email);
                    self.owned[a].users.push(made.id);
                }
            }
            1 => {
                let code = format!("P{}", n % 4);
                let (root, owner) = (self.tenants[a].root.id, self.tenants[a].admin_member.id);
                let result = run_in_tenant(&self.db, &options, tenant, |ttx| {
                    let code = code.clone();
                    async move {
                        record::insert(&ttx, actor, Project::new(code, "Same", root, owner)).await
                    }
                })
                .await;
                let fresh = !self.owned[a].codes.contains(&code);
                prop_assert_eq!(result.is_ok(), fresh, "{}: {:?}", context, result);
                if let Ok((made, _)) = result {
                    self.claim(a, made.id.uuid())?;
                    self.owned[a].codes.insert(code);
                    self.owned[a].projects.push(made.id);
                }
            }
            2 => {
                // A task in one's own project, assigned to another tenant's member.
                let Some(project) = pick(&self.owned[a].projects, n) else {
                    return Ok(());
                };
                let reporter = self.tenants[a].admin_member.id;
                let assignee: MemberId = self.tenants[c].admin_member.id;
                let result = run_in_tenant(&self.db, &options, tenant, |ttx| async move {
                    let mut new = Task::new(project, "Same", reporter);
                    new.assignee = Some(assignee);
                    record::insert(&ttx, actor, new).await
                })
                .await;
                if a == c {
                    let (made, _) = result.map_err(|e| fail(&context, e))?;
                    self.claim(a, made.id.uuid())?;
                    self.owned[a].tasks.push(made.id);
                } else {
                    prop_assert!(
                        matches!(result, Err(Error::InvalidReference { .. })),
                        "{}: {:?}",
                        context,
                        result
                    );
                }
            }
            3 => {
                // Get by ids copied from another tenant.
                let (t, p, u) = (
                    pick(&self.owned[c].tasks, n),
                    pick(&self.owned[c].projects, n),
                    pick(&self.owned[c].users, n),
                );
                let ((t, p, u), _) = run_in_tenant(&self.db, &options, tenant, |ttx| async move {
                    let t = match t {
                        Some(id) => record::get::<Task>(&ttx, Actor::System, id).await?,
                        None => None,
                    };
                    let p = match p {
                        Some(id) => record::get::<Project>(&ttx, Actor::System, id).await?,
                        None => None,
                    };
                    let u = match u {
                        Some(id) => record::get::<User>(&ttx, Actor::System, id).await?,
                        None => None,
                    };
                    Ok((t, p, u))
                })
                .await
                .map_err(|e| fail(&context, e))?;
                if a != c {
                    prop_assert!(t.is_none() && p.is_none() && u.is_none(), "{}", context);
                }
                returned.extend(t.map(|r| r.id.uuid()));
                returned.extend(p.map(|r| r.id.uuid()));
                returned.extend(u.map(|r| r.id.uuid()));
            }
            4 => {
                // Lookups by values every tenant uses.
                let email = format!("u{}@same.test", n % 8);
                let code = format!("P{}", n % 4);
                let ((u, p), _) = run_in_tenant(&self.db, &options, tenant, |ttx| {
                    let (email, code) = (email.clone(), code.clone());
                    async move {
                        Ok((
                            user::by_email(&ttx, Actor::System, &email).await?,
                            project::by_code(&ttx, Actor::System, &code).await?,
                        ))
                    }
                })
                .await
                .map_err(|e| fail(&context, e))?;
                prop_assert_eq!(
                    u.is_some(),
                    self.owned[a].emails.contains(&email),
                    "{}",
                    context
                );
                prop_assert_eq!(
                    p.is_some(),
                    self.owned[a].codes.contains(&code),
                    "{}",
                    context
                );
                returned.extend(u.map(|r| r.id.uuid()));
                returned.extend(p.map(|r| r.id.uuid()));
            }
            5 => {
                // A paging cursor from another tenant (or a made-up one) used here.
                let limit = 1 + usize::from(n % 3);
                let (foreign, _) = run_in_tenant(
                    self.store.as_ref(),
                    &options,
                    self.tid(c),
                    |ttx| async move {
                        Ok((
                            record::list::<Task>(&ttx, Actor::System, &PageRequest::first(limit))
                                .await?
                                .next,
                            record::list::<User>(&ttx, Actor::System, &PageRequest::first(limit))
                                .await?
                                .next,
                        ))
                    },
                )
                .await
                .map_err(|e| fail(&context, e))?;
                let made_up = match n % 4 {
                    0 => vec![],
                    1 => vec![0xFF; 20],
                    2 => vec![0x00],
                    _ => self.tenants[c].tenant.id.prefix(),
                };
                let cursors = [foreign.0, foreign.1, Some(Cursor::from_bytes(made_up))];
                for cursor in cursors.into_iter().flatten() {
                    let (items, _) = run_in_tenant(&self.db, &options, tenant, |ttx| {
                        let cursor = cursor.clone();
                        async move {
                            let tasks = record::list::<Task>(
                                &ttx,
                                Actor::System,
                                &PageRequest::after(cursor.clone(), 50),
                            )
                            .await?
                            .items;
                            let users = record::list::<User>(
                                &ttx,
                                Actor::System,
                                &PageRequest::after(cursor, 50),
                            )
                            .await?
                            .items;
                            Ok((tasks, users))
                        }
                    })
                    .await
                    .map_err(|e| fail(&context, e))?;
                    returned.extend(items.0.iter().map(|r| r.id.uuid()));
                    returned.extend(items.1.iter().map(|r| r.id.uuid()));
                }
            }
            6 => {
                // Update another tenant's task, by its id and content.
                let Some(id) = pick(&self.owned[c].tasks, n) else {
                    return Ok(());
                };
                let (theirs, _) = run_in_tenant(
                    self.store.as_ref(),
                    &options,
                    self.tid(c),
                    |ttx| async move { record::require::<Task>(&ttx, Actor::System, id).await },
                )
                .await
                .map_err(|e| fail(&context, e))?;
                let result = run_in_tenant(&self.db, &options, tenant, |ttx| {
                    let mut changed = theirs.clone();
                    changed.title = format!("Changed by {a}");
                    async move { record::update(&ttx, actor, changed).await }
                })
                .await;
                if a == c {
                    let (updated, _) = result.map_err(|e| fail(&context, e))?;
                    returned.push(updated.id.uuid());
                } else {
                    prop_assert!(
                        matches!(result, Err(Error::NotFound { .. })),
                        "{}: {:?}",
                        context,
                        result
                    );
                }
            }
            7 => {
                // Delete by an id copied from another tenant.
                let Some(id) = pick(&self.owned[c].tasks, n) else {
                    return Ok(());
                };
                let result = run_in_tenant(&self.db, &options, tenant, |ttx| async move {
                    record::delete::<Task>(&ttx, actor, id).await
                })
                .await;
                if a == c {
                    let (gone, _) = result.map_err(|e| fail(&context, e))?;
                    returned.push(gone.id.uuid());
                    self.owned[a].tasks.retain(|t| *t != id);
                } else {
                    prop_assert!(
                        matches!(result, Err(Error::NotFound { .. })),
                        "{}: {:?}",
                        context,
                        result
                    );
                }
            }
            8 => {
                // Raw ranges at the edges of the prefix, beside an adjacent tenant.
                let (begin, end) = tenant.range();
                let (other_begin, other_end) = self.tid(c).range();
                let options_range = RangeOptions {
                    limit: usize::from(n % 5),
                    reverse: n & 1 == 1,
                    snapshot: n & 2 == 2,
                };
                let ((keys, refused), _) = run_in_tenant(&self.db, &options, tenant, |ttx| {
                    let (begin, end) = (begin.clone(), end.clone());
                    let (other_begin, other_end) = (other_begin.clone(), other_end.clone());
                    async move {
                        let keys: Vec<Vec<u8>> = ttx
                            .get_range(&begin, &end, options_range)
                            .await?
                            .kvs
                            .into_iter()
                            .map(|kv| kv.key)
                            .collect();
                        // Each of these crosses the tenant's edge or lies outside it.
                        let mut before_begin = begin.clone();
                        before_begin.pop();
                        let attempts = [
                            (before_begin, end.clone()),
                            (begin.clone(), coditect_core::key_after(&end)),
                            (other_begin, other_end),
                            (vec![], vec![0xFF]),
                        ];
                        let mut refused = 0;
                        for (b, e) in attempts {
                            if b.starts_with(&begin) && (e.starts_with(&begin) || e == end) {
                                continue;
                            }
                            match ttx.get_range(&b, &e, options_range).await {
                                Err(Error::TenantViolation { .. }) => refused += 1,
                                other => {
                                    return Err(Error::InvalidInput {
                                        field: "test",
                                        reason: format!("[{b:?}, {e:?}) gave {other:?}"),
                                    })
                                }
                            }
                        }
                        Ok((keys, refused))
                    }
                })
                .await
                .map_err(|e| fail(&context, e))?;
                prop_assert!(refused >= 3, "{}", context);
                for key in keys {
                    prop_assert!(key.starts_with(&begin), "{}: {:?}", context, key);
                }
            }
            _ => {
                // An index lookup by another tenant's project id.
                let Some(project) = pick(&self.owned[c].projects, n) else {
                    return Ok(());
                };
                let (page, _) = run_in_tenant(&self.db, &options, tenant, |ttx| async move {
                    task::by_project(&ttx, Actor::System, project, &PageRequest::first(100)).await
                })
                .await
                .map_err(|e| fail(&context, e))?;
                if a != c {
                    prop_assert!(page.items.is_empty(), "{}", context);
                }
                returned.extend(page.items.iter().map(|r| r.id.uuid()));
            }
        }
        self.operations += 1;
        for id in returned {
            prop_assert!(
                self.owned[a].ids.contains(&id),
                "{}: returned record {} is not the acting tenant's",
                context,
                id
            );
        }
        for touch in self.db.take() {
            prop_assert!(
                touch.within(tenant),
                "{}: touched outside the tenant: {:?}",
                context,
                touch
            );
        }
        Ok(())
    }

    /// Records that tenant `a` made `id`, which no other tenant may hold.
    fn claim(&mut self, a: usize, id: Uuid) -> Result<(), TestCaseError> {
        for (i, other) in self.owned.iter().enumerate() {
            prop_assert!(
                i == a || !other.ids.contains(&id),
                "id {} in two tenants",
                id
            );
        }
        self.owned[a].ids.insert(id);
        Ok(())
    }
}

fn fail(context: &str, error: Error) -> TestCaseError {
    TestCaseError::fail(format!("{context}: {error:?}"))
}

#[test]
fn random_operations_of_100_tenants_stay_in_their_tenant() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seed = fastrand::u64(..);
    let world = std::cell::RefCell::new(runtime.block_on(world(seed)));
    // The operations of one case favour a few tenants, so that each has enough records for
    // the attacks on it to hit something.
    let op = (0..TENANTS, any::<u8>(), 0..TENANTS, any::<u8>());
    let case = (
        0..TENANTS,
        proptest::collection::vec((op, any::<bool>()), OPERATIONS_PER_CASE),
    );
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        // The world is shared by every case, so shrinking would replay on a changed world:
        // the first failure is the one to read.
        max_shrink_iters: 0,
        ..Config::default()
    });
    let result = runner.run(&case, |(focus, ops)| {
        for ((a, kind, c, n), near) in ops {
            // Half the operations act in (or against) the case's tenant or its neighbour.
            let (a, c) = if near { (focus, focus ^ 1) } else { (a, c) };
            let c = if kind % 3 == 0 { a } else { c };
            runtime.block_on(world.borrow_mut().apply((a, kind, c, n)))?;
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("seed {seed}: {error}");
    }
    let operations = world.borrow().operations;
    println!("seed {seed}: {operations} operations over {TENANTS} tenants");
    assert!(operations >= 10_000, "only {operations} operations ran");
}
