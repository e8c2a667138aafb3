//! Exactly-once under FoundationDB's transient failures: the same script of model operations
//! (provisioning, then creates, updates and deletes over the models 1-8) runs once on a clean
//! backend and once through [`FaultyBackend`] (maybe-committed after a real commit and without
//! one, conflicts, too-old), both through `run` / `run_in_tenant`. Every operation must give
//! the same outcome in both runs, and the runs must end with the same data: the same records
//! (timestamps aside), the same index entries and counters, and the same audit events in the
//! same order (their versionstamps and digests aside).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use coditect_conformance::faults::{FaultPlan, FaultyBackend};
use coditect_conformance::scan;
use coditect_core::audit::{
    seal, Actor, AuditEvent, SealHead, SealOptions, Verdict, VerifyOptions,
};
use coditect_core::ids::{CommentId, EntityId, FileId, MemberId, ProjectId, TaskId, UserId};
use coditect_core::keys::{decode_key, TenantId};
use coditect_core::model::role::Role as AccessRole;
use coditect_core::model::{
    user, Comment, Entity, EntityKind, File, Member, MemberKind, Plan, Project, Task, TaskStatus,
    Tenant, User, UserRole,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::record::{self, Model, Timestamps};
use coditect_core::value;
use coditect_core::{run, run_in_tenant, Error, KvBackend, RetryOptions};
use foundationdb_tuple::Element;
use uuid::Uuid;

const TENANTS: usize = 3;
const OPERATIONS: usize = 1_100;

/// One operation of the script. Ids are chosen when the script is made, so both runs use the
/// same ones; what provisioning makes (root entity, admin member) is named by tenant.
#[derive(Debug, Clone)]
enum Step {
    Provision(usize),
    CreateUser(usize, UserId, String),
    RenameUser(usize, UserId, String),
    SetPassword(usize, UserId, String),
    DeleteUser(usize, UserId),
    CreateMember(usize, MemberId, UserId),
    CreateDivision(usize, EntityId, String),
    CreateProject(usize, ProjectId, String, Option<EntityId>),
    RenameProject(usize, ProjectId, String),
    CreateTask(usize, TaskId, ProjectId, String),
    UpdateTask(usize, TaskId, String, bool),
    DeleteTask(usize, TaskId),
    CreateComment(usize, CommentId, TaskId, String),
    CreateFile(usize, FileId, ProjectId, String),
    DeleteFile(usize, FileId),
    /// Seals the tenant's audit chain, three events a transaction (so faults hit its chunks).
    Seal(usize),
}

fn tenant_ids(seed: u64) -> Vec<TenantId> {
    (0..TENANTS)
        .map(|i| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&seed.to_be_bytes());
            bytes[8] = 0x40;
            bytes[15] = i as u8 + 1;
            TenantId::new(Uuid::from_bytes(bytes)).unwrap()
        })
        .collect()
}

/// A script of provisioning plus `OPERATIONS` random operations, mostly valid (the script
/// tracks what exists) but with duplicates and missing ids mixed in.
fn script(rng: &mut fastrand::Rng) -> Vec<Step> {
    let mut steps: Vec<Step> = (0..TENANTS).map(Step::Provision).collect();
    let mut users: Vec<Vec<UserId>> = vec![Vec::new(); TENANTS];
    let mut projects: Vec<Vec<ProjectId>> = vec![Vec::new(); TENANTS];
    let mut divisions: Vec<Vec<EntityId>> = vec![Vec::new(); TENANTS];
    let mut tasks: Vec<Vec<TaskId>> = vec![Vec::new(); TENANTS];
    let mut files: Vec<Vec<(FileId, ProjectId)>> = vec![Vec::new(); TENANTS];
    fn pick<T: Copy>(rng: &mut fastrand::Rng, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[rng.usize(..v.len())])
    }
    while steps.len() < TENANTS + OPERATIONS {
        let t = rng.usize(..TENANTS);
        let step = match rng.u8(..16) {
            0 | 1 => {
                let id = UserId::generate();
                users[t].push(id);
                // A small pool of emails: some creates are duplicates.
                Step::CreateUser(t, id, format!("u{}@x.test", rng.u8(..40)))
            }
            2 => match pick(rng, &users[t]) {
                Some(id) => Step::RenameUser(t, id, format!("Name {}", rng.u8(..3))),
                None => continue,
            },
            3 => match pick(rng, &users[t]) {
                Some(id) => Step::SetPassword(t, id, format!("password-{}", rng.u8(..3))),
                None => continue,
            },
            4 => match pick(rng, &users[t]) {
                Some(id) => Step::DeleteUser(t, id),
                None => continue,
            },
            5 => match pick(rng, &users[t]) {
                Some(user) => Step::CreateMember(t, MemberId::generate(), user),
                None => continue,
            },
            6 => {
                let id = EntityId::generate();
                divisions[t].push(id);
                Step::CreateDivision(t, id, format!("D{}", rng.u8(..20)))
            }
            7 => {
                let id = ProjectId::generate();
                projects[t].push(id);
                let entity = if rng.bool() {
                    pick(rng, &divisions[t])
                } else {
                    None
                };
                Step::CreateProject(t, id, format!("P{}", rng.u8(..40)), entity)
            }
            8 => match pick(rng, &projects[t]) {
                Some(id) => Step::RenameProject(t, id, format!("Project {}", rng.u8(..3))),
                None => continue,
            },
            9 | 10 => match pick(rng, &projects[t]) {
                Some(project) => {
                    let id = TaskId::generate();
                    tasks[t].push(id);
                    Step::CreateTask(t, id, project, format!("Task {}", rng.u8(..5)))
                }
                None => continue,
            },
            11 => match pick(rng, &tasks[t]) {
                // Titles from a small set: some updates change nothing.
                Some(id) => Step::UpdateTask(t, id, format!("Task {}", rng.u8(..3)), rng.bool()),
                None => continue,
            },
            12 => match pick(rng, &tasks[t]) {
                Some(id) => Step::DeleteTask(t, id),
                None => continue,
            },
            13 => match pick(rng, &tasks[t]) {
                Some(task) => {
                    Step::CreateComment(t, CommentId::generate(), task, "Looks good".into())
                }
                None => continue,
            },
            15 => Step::Seal(t),
            _ => match (pick(rng, &projects[t]), pick(rng, &files[t])) {
                (_, Some((id, _))) if rng.u8(..3) == 0 => Step::DeleteFile(t, id),
                (Some(project), _) => {
                    let id = FileId::generate();
                    files[t].push((id, project));
                    Step::CreateFile(t, id, project, format!("/f{}.txt", rng.u8(..10)))
                }
                _ => continue,
            },
        };
        steps.push(step);
    }
    // Both runs end with every event sealed.
    steps.extend((0..TENANTS).map(Step::Seal));
    steps
}

fn cheap_argon2() -> argon2::Params {
    argon2::Params::new(8, 1, 1, None).unwrap()
}

/// What an operation returned, comparable across runs.
fn outcome<T>(result: Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(error) => format!("{error:?}"),
    }
}

struct Run {
    outcomes: Vec<String>,
    provisioned: Vec<Option<Provisioned>>,
}

async fn execute(db: &dyn KvBackend, tenants: &[TenantId], steps: &[Step]) -> Run {
    let options = RetryOptions {
        max_attempts: 1_000,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..RetryOptions::default()
    };
    let mut provisioned: Vec<Option<Provisioned>> = vec![None; TENANTS];
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        let tenant_of = |t: usize| tenants[t];
        let actor_of = |p: &[Option<Provisioned>], t: usize| {
            Actor::Member(p[t].as_ref().expect("provisioned").admin_member.id)
        };
        let result = match step.clone() {
            Step::Provision(t) => {
                let new = NewTenant {
                    id: tenants[t],
                    name: format!("Tenant {t}"),
                    domain: format!("t{t}.faults.test"),
                    plan: Plan::Enterprise,
                    root_code: "ROOT".into(),
                    admin_email: "admin@x.test".into(),
                    admin_name: "Admin".into(),
                };
                let made = run(db, &options, |tx| {
                    let new = new.clone();
                    async move { provision(&*tx, new).await }
                })
                .await;
                match made {
                    Ok((p, _)) => {
                        provisioned[t] = Some(p);
                        outcomes.push("ok".into());
                    }
                    Err(error) => panic!("provisioning tenant {t} failed: {error:?}"),
                }
                continue;
            }
            Step::CreateUser(t, id, email) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut user = User::new(email, "User", UserRole::Developer);
                        user.id = id;
                        record::insert(&ttx, actor, user).await
                    })
                    .await,
                )
            }
            Step::RenameUser(t, id, name) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut user = record::require::<User>(&ttx, Actor::System, id).await?;
                        user.name = name;
                        record::update(&ttx, actor, user).await
                    })
                    .await,
                )
            }
            Step::SetPassword(t, id, password) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        user::set_password_with(&ttx, actor, id, &password, cheap_argon2()).await
                    })
                    .await,
                )
            }
            Step::DeleteUser(t, id) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        record::delete::<User>(&ttx, actor, id).await
                    })
                    .await,
                )
            }
            Step::CreateMember(t, id, user) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut member = Member::new(MemberKind::Human(user), "Member");
                        member.id = id;
                        record::insert(&ttx, actor, member).await
                    })
                    .await,
                )
            }
            Step::CreateDivision(t, id, code) => {
                let actor = actor_of(&provisioned, t);
                let root = provisioned[t].as_ref().expect("provisioned").root.id;
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut e = Entity::new(code, "Division", EntityKind::Division, Some(root));
                        e.id = id;
                        record::insert(&ttx, actor, e).await
                    })
                    .await,
                )
            }
            Step::CreateProject(t, id, code, entity) => {
                let p = provisioned[t].as_ref().expect("provisioned");
                let (actor, entity, owner) = (
                    Actor::Member(p.admin_member.id),
                    entity.unwrap_or(p.root.id),
                    p.admin_member.id,
                );
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut project = Project::new(code, "Project", entity, owner);
                        project.id = id;
                        record::insert(&ttx, actor, project).await
                    })
                    .await,
                )
            }
            Step::RenameProject(t, id, name) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut project =
                            record::require::<Project>(&ttx, Actor::System, id).await?;
                        project.name = name;
                        record::update(&ttx, actor, project).await
                    })
                    .await,
                )
            }
            Step::CreateTask(t, id, project, title) => {
                let p = provisioned[t].as_ref().expect("provisioned");
                let (actor, reporter) = (Actor::Member(p.admin_member.id), p.admin_member.id);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut task = Task::new(project, title, reporter);
                        task.id = id;
                        record::insert(&ttx, actor, task).await
                    })
                    .await,
                )
            }
            Step::UpdateTask(t, id, title, done) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut task = record::require::<Task>(&ttx, Actor::System, id).await?;
                        task.title = title;
                        if done {
                            task.status = TaskStatus::Done;
                        }
                        record::update(&ttx, actor, task).await
                    })
                    .await,
                )
            }
            Step::DeleteTask(t, id) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        record::delete::<Task>(&ttx, actor, id).await
                    })
                    .await,
                )
            }
            Step::CreateComment(t, id, task, body) => {
                let p = provisioned[t].as_ref().expect("provisioned");
                let (actor, author) = (Actor::Member(p.admin_member.id), p.admin_member.id);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut comment = Comment::new(task, author, body);
                        comment.id = id;
                        record::insert(&ttx, actor, comment).await
                    })
                    .await,
                )
            }
            Step::CreateFile(t, id, project, path) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        let mut file = File::new(project, path, 3, [7; 32], "s3://bucket/key");
                        file.id = id;
                        record::insert(&ttx, actor, file).await
                    })
                    .await,
                )
            }
            Step::Seal(t) => {
                let options = SealOptions {
                    chunk_events: 3,
                    retry: options.clone(),
                    ..SealOptions::default()
                };
                outcome(seal(db, tenant_of(t), &options).await)
            }
            Step::DeleteFile(t, id) => {
                let actor = actor_of(&provisioned, t);
                outcome(
                    run_in_tenant(db, &options, tenant_of(t), |ttx| async move {
                        record::delete::<File>(&ttx, actor, id).await
                    })
                    .await,
                )
            }
        };
        outcomes.push(result);
    }
    Run {
        outcomes,
        provisioned,
    }
}

/// Names the UUIDs a run made itself (provisioning's root entity, admin user and member,
/// built-in roles) by the order they first appear in key order, so two runs compare; ids the
/// script chose stay as they are.
struct Names {
    known: BTreeSet<Uuid>,
    local: BTreeMap<Uuid, usize>,
}

impl Names {
    fn name(&mut self, uuid: Uuid) -> String {
        if self.known.contains(&uuid) {
            return uuid.to_string();
        }
        let next = self.local.len();
        format!("local-{}", self.local.entry(uuid).or_insert(next))
    }

    /// `bytes` with every run-local UUID (as its 16 raw bytes) replaced by its name.
    fn rewrite(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (uuid, n) in &self.local {
            let mut placeholder = [0xA5u8; 16];
            placeholder[12..].copy_from_slice(&(*n as u32).to_be_bytes());
            let needle = uuid.as_bytes();
            let mut i = 0;
            while i + 16 <= out.len() {
                if &out[i..i + 16] == needle {
                    out[i..i + 16].copy_from_slice(&placeholder);
                    i += 16;
                } else {
                    i += 1;
                }
            }
        }
        out
    }
}

/// A stored record's bytes with its timestamps zeroed (they are wall-clock times).
fn without_times<M: Model>(bytes: &[u8]) -> Vec<u8> {
    let mut record: M = value::decode(bytes).unwrap();
    *record.timestamps_mut() = Timestamps::default();
    value::encode(&record).unwrap()
}

fn normalized_value(collection: &str, bytes: &[u8]) -> Vec<u8> {
    match collection {
        c if c == User::COLLECTION => without_times::<User>(bytes),
        c if c == Member::COLLECTION => without_times::<Member>(bytes),
        c if c == Entity::COLLECTION => without_times::<Entity>(bytes),
        c if c == Project::COLLECTION => without_times::<Project>(bytes),
        c if c == Task::COLLECTION => without_times::<Task>(bytes),
        c if c == Comment::COLLECTION => without_times::<Comment>(bytes),
        c if c == File::COLLECTION => without_times::<File>(bytes),
        c if c == AccessRole::COLLECTION => without_times::<AccessRole>(bytes),
        // Password hashes have random salts: only their presence compares.
        "cred" => Vec::new(),
        // The seal's head and windows hold hashes of events whose times differ between runs:
        // the head compares by how many events it sealed, the windows by their keys.
        "audit-head" => {
            let head: SealHead = value::decode(bytes).unwrap();
            head.count.to_be_bytes().to_vec()
        }
        "audit-window" => Vec::new(),
        _ => bytes.to_vec(),
    }
}

/// One tenant's data, in a form two runs can compare: (key, value) rows without audit events
/// and meters, and the audit events without their versionstamps, digests and times.
async fn tenant_state(
    db: &dyn KvBackend,
    tenant: TenantId,
    known: &BTreeSet<Uuid>,
) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let (begin, end) = tenant.range();
    let rows = scan(db, &begin, &end).await;
    let mut names = Names {
        known: known.clone(),
        local: BTreeMap::new(),
    };
    let mut records = Vec::new();
    let mut events = Vec::new();
    for (key, value) in &rows {
        let elements = decode_key(key).unwrap();
        let collection = elements.get(1).and_then(Element::as_str).unwrap_or("");
        if collection == "audit" {
            events.push(value.clone());
            continue;
        }
        // The tenant's meters count what each run did, faults' retries and conflicts
        // included: they differ between the runs by design and are checked on their own
        // (conformance's `meters` cases).
        if collection == "meta" && elements.get(2).and_then(Element::as_str) == Some("meter") {
            continue;
        }
        // Index entries that point at audit events end with the event's versionstamp,
        // different in every run: they compare without it (and so by count).
        let key_text: Vec<String> = elements
            .iter()
            .map(|e| match e {
                Element::Uuid(u) => names.name(*u),
                Element::Versionstamp(_) => "versionstamp".into(),
                other => format!("{other:?}"),
            })
            .collect();
        let kind = match (collection, elements.get(2).and_then(Element::as_str)) {
            ("meta", Some("audit")) => match elements.get(3).and_then(Element::as_str) {
                Some("head") => "audit-head",
                _ => "audit-window",
            },
            _ => collection,
        };
        records.push((key_text.join("/"), kind.to_string(), value.clone()));
    }
    // Sorted again, now that versionstamps no longer order the audit index entries.
    let mut records: Vec<(String, Vec<u8>)> = records
        .into_iter()
        .map(|(key, collection, value)| {
            (key, names.rewrite(&normalized_value(&collection, &value)))
        })
        .collect();
    records.sort();
    let events = events
        .iter()
        .map(|bytes| {
            let event: AuditEvent = value::decode(bytes).unwrap();
            let actor = match event.actor {
                Actor::System => "system".to_string(),
                Actor::Member(m) => names.name(m.uuid()),
            };
            format!(
                "{actor} {:?} {} {} before={} after={}",
                event.action,
                event.model,
                names.name(event.record_id),
                event.before.is_some(),
                event.after.is_some()
            )
        })
        .collect();
    (records, events)
}

/// The ids the script chose (tenants included): the same in both runs.
fn script_ids(tenants: &[TenantId], steps: &[Step]) -> BTreeSet<Uuid> {
    let mut ids: BTreeSet<Uuid> = tenants.iter().map(|t| t.uuid()).collect();
    for step in steps {
        let id = match step {
            Step::Provision(_) | Step::Seal(_) => continue,
            Step::CreateUser(_, id, _)
            | Step::RenameUser(_, id, _)
            | Step::SetPassword(_, id, _)
            | Step::DeleteUser(_, id) => id.uuid(),
            Step::CreateMember(_, id, _) => id.uuid(),
            Step::CreateDivision(_, id, _) => id.uuid(),
            Step::CreateProject(_, id, _, _) | Step::RenameProject(_, id, _) => id.uuid(),
            Step::CreateTask(_, id, _, _)
            | Step::UpdateTask(_, id, _, _)
            | Step::DeleteTask(_, id) => id.uuid(),
            Step::CreateComment(_, id, _, _) => id.uuid(),
            Step::CreateFile(_, id, _, _) | Step::DeleteFile(_, id) => id.uuid(),
        };
        ids.insert(id);
    }
    ids
}

fn mem() -> Arc<dyn KvBackend> {
    Arc::new(coditect_mem::new_backend(Default::default()))
}

async fn registry(db: &dyn KvBackend, tenant: TenantId) -> Option<Vec<u8>> {
    let rows = scan(db, b"\x02sys\x00", b"\x02sys\x01").await;
    rows.into_iter()
        .find(|(k, _)| k.ends_with(tenant.uuid().as_bytes()))
        .map(|(_, v)| {
            let mut t: Tenant = value::decode(&v).unwrap();
            t.stamps = Timestamps::default();
            value::encode(&t).unwrap()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_operations_are_exactly_once_under_injected_faults() {
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let tenants = tenant_ids(seed);
    let steps = script(&mut rng);
    let known = script_ids(&tenants, &steps);

    let clean = mem();
    let expected = execute(clean.as_ref(), &tenants, &steps).await;

    let faulty_store = mem();
    let faulty = FaultyBackend::new(faulty_store.clone(), FaultPlan::HARSH, seed);
    let got = execute(&faulty, &tenants, &steps).await;
    let (after, without, conflicts, too_old, clean_commits) = faulty.stats().snapshot();
    println!(
        "seed {seed}: {} steps; injected {after} maybe-committed after a commit, {without} \
         without, {conflicts} conflicts, {too_old} too-old; {clean_commits} clean commits",
        steps.len()
    );
    assert!(after > 50 && without > 20 && conflicts > 20 && too_old > 20);

    for (i, (want, have)) in expected.outcomes.iter().zip(&got.outcomes).enumerate() {
        assert_eq!(
            have, want,
            "seed {seed}: step {i} ({:?}) under faults gave {have}, without faults {want}",
            steps[i]
        );
    }
    let ok = expected.outcomes.iter().filter(|o| *o == "ok").count();
    assert!(
        ok > OPERATIONS / 2,
        "seed {seed}: only {ok} operations succeeded"
    );
    assert!(expected.provisioned.iter().all(Option::is_some));
    assert!(got.provisioned.iter().all(Option::is_some));

    for tenant in &tenants {
        let (want_rows, want_events) = tenant_state(clean.as_ref(), *tenant, &known).await;
        let (have_rows, have_events) = tenant_state(faulty_store.as_ref(), *tenant, &known).await;
        for (i, (want, have)) in want_events.iter().zip(&have_events).enumerate() {
            assert_eq!(
                have, want,
                "seed {seed}: audit event {i} of tenant {tenant}"
            );
        }
        assert_eq!(
            have_events.len(),
            want_events.len(),
            "seed {seed}: audit events of tenant {tenant}"
        );
        if want_rows != have_rows {
            let only_clean: Vec<_> = want_rows
                .iter()
                .filter(|r| !have_rows.contains(r))
                .collect();
            let only_faulty: Vec<_> = have_rows
                .iter()
                .filter(|r| !want_rows.contains(r))
                .collect();
            panic!(
                "seed {seed}: tenant {tenant}: {} rows without faults, {} with; only without \
                 faults: {only_clean:?}; only with faults: {only_faulty:?}",
                want_rows.len(),
                have_rows.len()
            );
        }
        assert_eq!(
            registry(faulty_store.as_ref(), *tenant).await,
            registry(clean.as_ref(), *tenant).await
        );
    }
    // The faulty run's chains verify, every event sealed.
    for tenant in &tenants {
        let verdict =
            coditect_core::audit::verify(faulty_store.as_ref(), *tenant, &VerifyOptions::default())
                .await
                .unwrap();
        match verdict {
            Verdict::Clean(verified) => {
                assert_eq!(verified.unsealed, 0, "seed {seed}: {verified:?}")
            }
            other => panic!("seed {seed}: tenant {tenant}: {other:?}"),
        }
    }
    // Nothing else was written to the system keyspace (e.g. a second domain entry).
    let sys =
        |db: Arc<dyn KvBackend>| async move { scan(db.as_ref(), b"\x02", b"\x03").await.len() };
    assert_eq!(sys(faulty_store.clone()).await, sys(clean.clone()).await);
}

/// Regression: provisioning retried after a commit that did commit but reported
/// `CommitUnknownResult` used to fail with `AlreadyExists` (it found its own registry entry);
/// now the retry returns the tenant it made, and the store holds exactly what one clean
/// provisioning makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_retried_after_a_committed_unknown_result_is_exactly_once() {
    let tenants = tenant_ids(7);
    let steps = [Step::Provision(0)];
    let known = script_ids(&tenants, &steps);
    let clean = mem();
    execute(clean.as_ref(), &tenants, &steps).await;
    let store = mem();
    let once = FaultyBackend::new(
        store.clone(),
        FaultPlan {
            unknown_after_commit: 1.0,
            ..FaultPlan::NONE
        },
        7,
    )
    .limited(1);
    let run = execute(&once, &tenants, &steps).await;
    assert_eq!(run.outcomes, vec!["ok".to_string()]);
    assert_eq!(once.stats().snapshot().0, 1, "the fault was injected");
    assert_eq!(
        tenant_state(store.as_ref(), tenants[0], &known).await,
        tenant_state(clean.as_ref(), tenants[0], &known).await
    );
    assert_eq!(
        scan(store.as_ref(), b"\x02", b"\x03").await.len(),
        scan(clean.as_ref(), b"\x02", b"\x03").await.len()
    );
}

/// Regression: a retried update or password change whose earlier attempt did *not* commit, and
/// which changes nothing, used to skip its audit event only on the retry path; an update or
/// password change that changes nothing now never writes or audits, so both runs agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_op_update_and_password_retried_after_an_uncommitted_unknown_result() {
    let tenants = tenant_ids(8);
    let user = UserId::generate();
    let steps = [
        Step::Provision(0),
        Step::CreateUser(0, user, "a@x.test".into()),
        Step::SetPassword(0, user, "password-1".into()),
        Step::RenameUser(0, user, "User".into()),
        Step::SetPassword(0, user, "password-1".into()),
    ];
    let known = script_ids(&tenants, &steps);
    let clean = mem();
    let expected = execute(clean.as_ref(), &tenants, &steps).await;
    let store = mem();
    let flaky = FaultyBackend::new(
        store.clone(),
        FaultPlan {
            unknown_without_commit: 0.5,
            unknown_after_commit: 0.3,
            ..FaultPlan::NONE
        },
        8,
    );
    let got = execute(&flaky, &tenants, &steps).await;
    assert_eq!(got.outcomes, expected.outcomes);
    assert_eq!(
        tenant_state(store.as_ref(), tenants[0], &known).await,
        tenant_state(clean.as_ref(), tenants[0], &known).await
    );
}

/// Regression: a delete retried after a commit that did commit but reported
/// `CommitUnknownResult` used to find nothing and return `NotFound`; now it returns the record
/// its earlier attempt deleted, with one audit event, as without the fault. A password change
/// retried the same way used to hash again and audit twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_retried_after_a_committed_unknown_result_is_exactly_once() {
    let tenants = tenant_ids(9);
    let (user, project, task) = (
        UserId::generate(),
        ProjectId::generate(),
        TaskId::generate(),
    );
    let setup = vec![
        Step::Provision(0),
        Step::CreateUser(0, user, "a@x.test".into()),
        Step::CreateProject(0, project, "P1".into(), None),
        Step::CreateTask(0, task, project, "Task".into()),
    ];
    // The password change (a regression of its own: its retry hashed again and audited
    // twice) comes first, since the user is deleted last.
    let deletes = [
        Step::SetPassword(0, user, "password-1".into()),
        Step::DeleteTask(0, task),
        Step::DeleteUser(0, user),
    ];
    let all: Vec<Step> = setup.iter().chain(&deletes).cloned().collect();
    let known = script_ids(&tenants, &all);
    let clean = mem();
    let expected = execute(clean.as_ref(), &tenants, &all).await;
    let store = mem();
    let mut outcomes = execute(store.as_ref(), &tenants, &setup).await.outcomes;
    for step in &deletes {
        let once = FaultyBackend::new(
            store.clone(),
            FaultPlan {
                unknown_after_commit: 1.0,
                ..FaultPlan::NONE
            },
            9,
        )
        .limited(1);
        // The tenant's provisioning is in the store already: run the step alone.
        let run = execute_after_setup(&once, store.as_ref(), &tenants, step).await;
        assert_eq!(once.stats().snapshot().0, 1, "the fault was injected");
        outcomes.push(run);
    }
    assert_eq!(outcomes, expected.outcomes);
    assert_eq!(
        tenant_state(store.as_ref(), tenants[0], &known).await,
        tenant_state(clean.as_ref(), tenants[0], &known).await
    );
}

/// Runs one step of tenant 0 (a delete or a password change) through `db`, acting as the admin provisioned in `store`.
async fn execute_after_setup(
    db: &dyn KvBackend,
    store: &dyn KvBackend,
    tenants: &[TenantId],
    step: &Step,
) -> String {
    let (admin, _) = run_in_tenant(
        store,
        &RetryOptions::default(),
        tenants[0],
        |ttx| async move {
            Ok(user::by_email(&ttx, Actor::System, "admin@x.test")
                .await?
                .map(|u| u.id))
        },
    )
    .await
    .unwrap();
    let (member, _) = run_in_tenant(
        store,
        &RetryOptions::default(),
        tenants[0],
        |ttx| async move {
            coditect_core::model::member::by_user(&ttx, Actor::System, admin.unwrap()).await
        },
    )
    .await
    .unwrap();
    let actor = Actor::Member(member.unwrap().id);
    let options = RetryOptions::default();
    match step.clone() {
        Step::DeleteTask(_, id) => outcome(
            run_in_tenant(db, &options, tenants[0], |ttx| async move {
                record::delete::<Task>(&ttx, actor, id).await
            })
            .await,
        ),
        Step::DeleteUser(_, id) => outcome(
            run_in_tenant(db, &options, tenants[0], |ttx| async move {
                record::delete::<User>(&ttx, actor, id).await
            })
            .await,
        ),
        Step::SetPassword(_, id, password) => outcome(
            run_in_tenant(db, &options, tenants[0], |ttx| async move {
                user::set_password_with(&ttx, actor, id, &password, cheap_argon2()).await
            })
            .await,
        ),
        other => panic!("not a step this runs: {other:?}"),
    }
}
