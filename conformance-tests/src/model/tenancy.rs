//! Paging, isolation between tenants, the tenant guard, keys, audit, and the retry loop.

use super::*;

/// Lists page by an opaque cursor: more than one page, every record exactly once.
pub async fn pagination_over_several_pages(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "pages.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let created: BTreeSet<TaskId> = in_tenant!(db, tid(&p), |ttx| {
        let mut ids = BTreeSet::new();
        for i in 0..25 {
            ids.insert(
                record::insert(
                    &ttx,
                    admin(&p),
                    Task::new(web.id, format!("task {i}"), p.admin_member.id),
                )
                .await?
                .id,
            );
        }
        Ok::<_, Error>(ids)
    })
    .expect("tasks");
    for limit in [10usize, 7] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut request = PageRequest::first(limit);
        loop {
            let page = in_tenant!(db, tid(&p), |ttx| {
                task::by_project(&ttx, Actor::System, web.id, &request).await
            })
            .expect("page");
            pages += 1;
            assert!(page.items.len() <= limit);
            seen.extend(page.items.iter().map(|t| t.id));
            match page.next {
                Some(next) => request = PageRequest::after(next, limit),
                None => break,
            }
        }
        assert_eq!(pages, 25usize.div_ceil(limit));
        assert_eq!(seen.len(), 25);
        assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), created);
    }
    let mut all = 0;
    let mut request = PageRequest::first(4);
    loop {
        let page = in_tenant!(db, tid(&p), |ttx| {
            record::list::<Task>(&ttx, Actor::System, &request).await
        })
        .expect("list");
        all += page.items.len();
        match page.next {
            Some(next) => request = PageRequest::after(next, 4),
            None => break,
        }
    }
    assert_eq!(all, 25);
}

/// Two tenants with the same codes, emails and names each see only their own records.
pub async fn tenants_with_the_same_names_are_isolated(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.iso.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.iso.test", Plan::Professional).await;
    assert_eq!(a.admin.email, b.admin.email);
    let mut made = Vec::new();
    for p in [&a, &b] {
        let web = project_in(db.as_ref(), p, "WEB").await;
        let dev = in_tenant!(db, tid(p), |ttx| {
            let dev = record::insert(
                &ttx,
                admin(p),
                User::new("dev@same.test", "Same Name", UserRole::Developer),
            )
            .await?;
            record::insert(
                &ttx,
                admin(p),
                Entity::new("ENG", "Engineering", EntityKind::Division, Some(p.root.id)),
            )
            .await?;
            record::insert(
                &ttx,
                admin(p),
                Task::new(web.id, "Same title", p.admin_member.id),
            )
            .await?;
            Ok::<_, Error>(dev)
        })
        .expect("same names");
        made.push((web, dev));
    }
    for (p, (web, dev)) in [&a, &b].into_iter().zip(&made) {
        let (project, user, admin_user, users, tasks, entities) = in_tenant!(db, tid(p), |ttx| {
            Ok::<_, Error>((
                project::by_code(&ttx, Actor::System, "WEB").await?,
                user::by_email(&ttx, Actor::System, "dev@same.test").await?,
                user::by_email(&ttx, Actor::System, "admin@acme.test").await?,
                record::list::<User>(&ttx, Actor::System, &page_of(100))
                    .await?
                    .items,
                record::list::<Task>(&ttx, Actor::System, &page_of(100))
                    .await?
                    .items,
                record::list::<Entity>(&ttx, Actor::System, &page_of(100))
                    .await?
                    .items,
            ))
        })
        .expect("reads");
        assert_eq!(project.as_ref().map(|x| x.id), Some(web.id));
        assert_eq!(user.as_ref().map(|x| x.id), Some(dev.id));
        assert_eq!(admin_user.map(|x| x.id), Some(p.admin.id));
        assert_eq!(users.len(), 2);
        assert!(users.iter().all(|u| u.id == p.admin.id || u.id == dev.id));
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].project, web.id);
        assert_eq!(entities.len(), 2);
    }
    // The other tenant's record ids do not resolve here.
    let other = at(db.as_ref(), &a)
        .get::<Project>(made[1].0.id)
        .await
        .expect("get");
    assert!(other.is_none());
}

/// A `TenantTx` asked for another tenant's key, a system key, or a range crossing its prefix
/// fails with `TenantViolation` before the store sees anything; and everything the model layer
/// does stays inside the tenant.
pub async fn tenant_tx_refuses_keys_outside_its_tenant(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.guard.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.guard.test", Plan::Professional).await;
    let b_key = in_tenant!(db, tid(&b), |ttx| Ok::<_, Error>(record::key_of::<User>(
        &ttx, b.admin.id
    )))
    .expect("key");
    let b_value = scan(db.as_ref(), &b_key, &coditect_core::key_after(&b_key)).await;
    assert_eq!(b_value.len(), 1);
    let (a_begin, a_end) = tid(&a).range();
    let (b_begin, b_end) = tid(&b).range();
    let system_key = foundationdb_tuple::pack(&("sys", "tenant", tid(&b).uuid()));

    let recording = Box::new(Recording::new(db.begin().await.expect("begin")));
    let ttx = TenantTx::open(recording.as_ref(), tid(&a))
        .await
        .expect("open");
    recording.touched();
    let is_violation = |r: Result<()>| matches!(r, Err(Error::TenantViolation { tenant, .. }) if tenant == tid(&a).uuid());
    assert!(is_violation(ttx.get(&b_key, false).await.map(|_| ())));
    assert!(is_violation(ttx.get(&system_key, true).await.map(|_| ())));
    assert!(is_violation(ttx.set(&b_key, b"stolen")));
    assert!(is_violation(ttx.clear(&b_key)));
    let crossing_up = vec![0xFF];
    assert!(is_violation(
        ttx.get_range(&a_begin, &crossing_up, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    assert!(is_violation(
        ttx.get_range(&b_begin, &b_end, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    let below = prefix_end(&[0x2F]).expect("end");
    assert!(is_violation(
        ttx.get_range(&below, &a_end, RangeOptions::default())
            .await
            .map(|_| ())
    ));
    assert!(is_violation(ttx.clear_range(&a_begin, &b_end)));
    assert!(is_violation(ttx.clear_range(&[], &a_end)));
    // Audit events are append-only, even inside the tenant.
    let audit_prefix = foundationdb_tuple::pack(&(tid(&a).uuid(), "audit"));
    let append_only = |r: Result<()>| matches!(r, Err(Error::InvalidInput { field: "key", .. }));
    assert!(append_only(ttx.set(&audit_prefix, b"forged")));
    assert!(append_only(ttx.clear(&audit_prefix)));
    assert!(append_only(ttx.clear_range(&a_begin, &a_end)));
    assert!(recording.touched().is_empty(), "nothing reached the store");

    // The model layer itself touches only the tenant's keys.
    let web = record::insert(
        &ttx,
        admin(&a),
        Project::new("WEB", "Web", a.root.id, a.admin_member.id),
    )
    .await
    .expect("project");
    task::by_project(&ttx, Actor::System, web.id, &page_of(10))
        .await
        .expect("list");
    let touched = recording.touched();
    assert!(!touched.is_empty());
    assert!(
        touched
            .iter()
            .all(|k| k.starts_with(&a_begin) || *k == a_end),
        "every key inside tenant a"
    );
    drop(ttx);
    recording.commit().await.expect("commit");
    assert_eq!(
        scan(db.as_ref(), &b_key, &coditect_core::key_after(&b_key)).await,
        b_value
    );
}

/// Stored keys decode with the tuple layer: tenant keys start with the tenant's UUID, system
/// keys with "sys"; nothing else is stored.
pub async fn stored_keys_decode_with_the_tenant_uuid_first(h: &dyn Harness) {
    let db = h.backend();
    let a = provisioned(db.as_ref(), "a.keys.test", Plan::Professional).await;
    let b = provisioned(db.as_ref(), "b.keys.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &a, "WEB").await;
    at(db.as_ref(), &a)
        .insert(Task::new(web.id, "T", a.admin_member.id))
        .await
        .expect("task");
    for p in [&a, &b] {
        let (begin, end) = tid(p).range();
        let rows = scan(db.as_ref(), &begin, &end).await;
        assert!(rows.len() > 8);
        let mut collections = BTreeSet::new();
        for (key, _) in &rows {
            let elements: Vec<Element> = foundationdb_tuple::unpack(key).expect("a tuple");
            assert_eq!(elements[0].as_uuid(), Some(&tid(p).uuid()), "tenant first");
            collections.insert(elements[1].as_str().expect("a collection").to_owned());
            assert_eq!(keys::tenant_of_key(key), Some(tid(p)));
        }
        for expected in ["audit", "entity", "idx", "member", "meta", "user"] {
            assert!(
                collections.contains(expected),
                "{expected} in {collections:?}"
            );
        }
    }
    let sys = foundationdb_tuple::pack(&("sys",));
    let sys_begin = &sys[..sys.len() - 1];
    let rows = scan(db.as_ref(), sys_begin, &prefix_end(sys_begin).expect("end")).await;
    assert_eq!(rows.len(), 4, "two registry entries, two domain entries");
    for (key, _) in rows {
        let elements: Vec<Element> = foundationdb_tuple::unpack(&key).expect("a tuple");
        assert_eq!(elements[0].as_str(), Some("sys"));
    }
}

/// Every mutation writes exactly one audit event in its transaction: actor, action, model,
/// id, and SHA-256 digests of the stored bytes before and after.
pub async fn every_mutation_writes_one_audit_event(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "audit.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let start = all_audit(db.as_ref(), tid(&p)).await.len();
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let (tenant, web_id) = (tid(&p), web.id);
    let stored = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| {
            ttx.get(&record::key_of::<Project>(&ttx, web_id), false)
                .await
        })
        .expect("raw")
    };
    let created_bytes = stored(db.clone()).await.expect("stored");
    let mut renamed = web.clone();
    renamed.name = "Renamed".into();
    in_p.update(renamed.clone()).await.expect("update");
    let updated_bytes = stored(db.clone()).await.expect("stored");
    in_p.delete::<Project>(web.id).await.expect("delete");
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(events.len(), start + 3);
    let [create, update, delete] = &events[start..] else {
        unreachable!("three events")
    };
    for (event, action) in [
        (create, AuditAction::Create),
        (update, AuditAction::Update),
        (delete, AuditAction::Delete),
    ] {
        assert_eq!(event.action, action);
        assert_eq!(event.actor, admin(&p));
        assert_eq!(event.model, "project");
        assert_eq!(event.record_id, web.id.uuid());
        assert!(event.at_ms > 0);
    }
    assert_eq!(
        (create.before, create.after),
        (None, Some(audit::digest(&created_bytes)))
    );
    assert_eq!(
        (update.before, update.after),
        (
            Some(audit::digest(&created_bytes)),
            Some(audit::digest(&updated_bytes))
        )
    );
    assert_eq!(
        (delete.before, delete.after),
        (Some(audit::digest(&updated_bytes)), None)
    );
    // A failed mutation leaves no event.
    let _ = in_p.delete::<Project>(web.id).await.expect_err("gone");
    assert_eq!(all_audit(db.as_ref(), tid(&p)).await.len(), start + 3);
}

/// Audit appends are versionstamped: two writers in one tenant, each adding a comment to the
/// same task, both commit (the audit key never makes them conflict).
pub async fn concurrent_writers_in_one_tenant_do_not_conflict_on_audit(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "concurrent.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let t = at(db.as_ref(), &p)
        .insert(Task::new(web.id, "T", p.admin_member.id))
        .await
        .expect("task");
    let before = all_audit(db.as_ref(), tid(&p)).await.len();
    let (tx1, tx2) = (
        db.begin().await.expect("begin"),
        db.begin().await.expect("begin"),
    );
    for (tx, body) in [(&tx1, "one"), (&tx2, "two")] {
        let ttx = TenantTx::open(tx.as_ref(), tid(&p)).await.expect("open");
        record::insert(&ttx, admin(&p), Comment::new(t.id, p.admin_member.id, body))
            .await
            .expect("comment");
    }
    tx1.commit().await.expect("first commit");
    tx2.commit().await.expect("second commit: no conflict");
    let events = all_audit(db.as_ref(), tid(&p)).await;
    assert_eq!(events.len(), before + 2);
    let comments = in_tenant!(db, tid(&p), |ttx| {
        comment::by_task(&ttx, Actor::System, t.id, &page_of(10)).await
    })
    .expect("list");
    assert_eq!(comments.items.len(), 2);
}

/// Isolation, adversarially: random operations of many tenants that share every code, email
/// and title, each through a recording transaction; every key any operation touches (after the
/// registry read that opens the tenant) belongs to the acting tenant, references to another
/// tenant's members fail, and each tenant's records are exactly the ones it made.
// Length: one random run over six tenants, its loop one arm a kind of operation, each
// checked against the recording as it happens; the arms share the run's state.
pub async fn random_operations_touch_only_the_acting_tenant(h: &dyn Harness) {
    use std::collections::BTreeMap;

    const TENANTS: usize = 6;
    const OPERATIONS: usize = 240;
    let db = h.backend();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        tenants.push(
            provisioned(
                db.as_ref(),
                &format!("t{i}.random.test"),
                Plan::Professional,
            )
            .await,
        );
    }
    // What each tenant should hold, tracked beside the store.
    let mut emails: Vec<BTreeSet<String>> = vec![BTreeSet::new(); TENANTS];
    let mut projects: Vec<BTreeMap<String, Project>> = vec![BTreeMap::new(); TENANTS];
    let mut tasks: Vec<BTreeMap<TaskId, Task>> = vec![BTreeMap::new(); TENANTS];

    for step in 0..OPERATIONS {
        let i = rng.usize(..TENANTS);
        let p = &tenants[i];
        let (begin, end) = tid(p).range();
        let recording = Box::new(Recording::new(db.begin().await.expect("begin")));
        let ttx = TenantTx::open(recording.as_ref(), tid(p))
            .await
            .expect("open");
        recording.touched();
        let context = format!("seed {seed}, step {step}, tenant {i}");
        match rng.u8(..7) {
            0 => {
                let email = format!("user{}@same.test", rng.u8(..8));
                let result = record::insert(
                    &ttx,
                    admin(p),
                    User::new(email.clone(), "Same", UserRole::Developer),
                )
                .await;
                let fresh = emails[i].insert(email);
                assert_eq!(result.is_ok(), fresh, "{context}: {result:?}");
            }
            1 => {
                let code = format!("P{}", rng.u8(..4));
                let result = record::insert(
                    &ttx,
                    admin(p),
                    Project::new(code.clone(), "Same", p.root.id, p.admin_member.id),
                )
                .await;
                match result {
                    Ok(made) => assert!(projects[i].insert(code, made).is_none(), "{context}"),
                    Err(error) => {
                        assert!(projects[i].contains_key(&code), "{context}: {error:?}");
                        assert!(
                            matches!(error, Error::AlreadyExists { field: "code", .. }),
                            "{context}"
                        );
                    }
                }
            }
            2 => {
                let Some(project) = projects[i]
                    .values()
                    .nth(rng.usize(..projects[i].len().max(1)))
                    .cloned()
                else {
                    continue;
                };
                let j = rng.usize(..TENANTS);
                let mut new = Task::new(project.id, "Same title", p.admin_member.id);
                new.assignee = Some(tenants[j].admin_member.id);
                match record::insert(&ttx, admin(p), new).await {
                    Ok(made) => {
                        assert_eq!(i, j, "{context}: another tenant's member was accepted");
                        tasks[i].insert(made.id, made);
                    }
                    Err(error) => {
                        assert_ne!(i, j, "{context}: {error:?}");
                        assert!(
                            matches!(
                                error,
                                Error::InvalidReference {
                                    field: "assignee",
                                    ..
                                }
                            ),
                            "{context}"
                        );
                    }
                }
            }
            3 => {
                let Some(mut t) = tasks[i]
                    .values()
                    .nth(rng.usize(..tasks[i].len().max(1)))
                    .cloned()
                else {
                    continue;
                };
                t.status = TaskStatus::Done;
                let updated = record::update(&ttx, admin(p), t).await.expect(&context);
                tasks[i].insert(updated.id, updated);
            }
            4 => {
                let Some(id) = tasks[i]
                    .keys()
                    .nth(rng.usize(..tasks[i].len().max(1)))
                    .copied()
                else {
                    continue;
                };
                record::delete::<Task>(&ttx, admin(p), id)
                    .await
                    .expect(&context);
                tasks[i].remove(&id);
            }
            5 => {
                let email = format!("user{}@same.test", rng.u8(..8));
                let found = user::by_email(&ttx, Actor::System, &email)
                    .await
                    .expect(&context);
                assert_eq!(found.is_some(), emails[i].contains(&email), "{context}");
                let listed = record::list::<Task>(&ttx, Actor::System, &page_of(1000))
                    .await
                    .expect(&context);
                let ids: BTreeSet<TaskId> = listed.items.iter().map(|t| t.id).collect();
                assert_eq!(ids, tasks[i].keys().copied().collect(), "{context}");
            }
            _ => {
                // Another tenant's task id resolves to nothing here.
                let j = rng.usize(..TENANTS);
                if let Some(id) = tasks[j].keys().next().copied() {
                    let got = record::get::<Task>(&ttx, Actor::System, id)
                        .await
                        .expect(&context);
                    assert_eq!(got.is_some(), i == j, "{context}");
                }
            }
        }
        let touched = recording.touched();
        for key in &touched {
            assert!(
                key.starts_with(&begin) || *key == end,
                "{context}: touched a key outside the tenant: {key:?}"
            );
        }
        drop(ttx);
        recording.commit().await.expect("commit");
    }
    for (i, p) in tenants.iter().enumerate() {
        let (users, listed_projects, listed_tasks) = in_tenant!(db, tid(p), |ttx| {
            Ok::<_, Error>((
                record::list::<User>(&ttx, Actor::System, &page_of(1000))
                    .await?
                    .items,
                record::list::<Project>(&ttx, Actor::System, &page_of(1000))
                    .await?
                    .items,
                record::list::<Task>(&ttx, Actor::System, &page_of(1000))
                    .await?
                    .items,
            ))
        })
        .expect("final lists");
        assert_eq!(
            users.len(),
            emails[i].len() + 1,
            "seed {seed}: users of tenant {i}"
        );
        assert_eq!(
            listed_projects.len(),
            projects[i].len(),
            "seed {seed}: projects of tenant {i}"
        );
        let ids: BTreeSet<TaskId> = listed_tasks.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            tasks[i].keys().copied().collect(),
            "seed {seed}: tasks of tenant {i}"
        );
        assert!(listed_tasks
            .iter()
            .all(|t| t.assignee == Some(p.admin_member.id)));
    }
}

/// `run_in_tenant` retries a conflicting attempt; only the attempt that commits leaves records
/// and audit events.
pub async fn run_in_tenant_retries_a_conflict(h: &dyn Harness) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let (db, p) = tenant_of(h, "retry.test", Plan::Professional).await;
    let audit_before = all_audit(db.as_ref(), tid(&p)).await.len();
    let stats = Arc::new(coditect_core::RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let attempts = Arc::new(AtomicU32::new(0));
    let (tenant, actor) = (tid(&p), admin(&p));
    let mine = User::new("mine@retry.test", "Mine", UserRole::Developer);
    let competing_db = db.clone();
    let (made, _) = coditect_core::run_in_tenant(db.as_ref(), &options, tenant, |ttx| async move {
        // A read of the user counter, which the competing create below writes.
        let users = record::count_of::<User>(&ttx, coditect_core::Principal::system()).await?;
        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
            in_tenant!(competing_db, tenant, |other| {
                record::insert(
                    &other,
                    actor,
                    User::new("theirs@retry.test", "Theirs", UserRole::Viewer),
                )
                .await
            })
            .expect("competing create");
        }
        let made = record::insert(&ttx, actor, mine).await?;
        Ok((users, made))
    })
    .await
    .expect("run_in_tenant");
    assert_eq!(stats.attempts(), 2);
    assert_eq!(stats.conflicts(), 1);
    assert_eq!(
        made.0, 2,
        "the retry saw the competing user (and the admin)"
    );
    let users = in_tenant!(db, tenant, |ttx| {
        record::list::<User>(&ttx, Actor::System, &page_of(10)).await
    })
    .expect("list");
    assert_eq!(users.items.len(), 3);
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 2);
}

/// After a commit whose result was unknown but which did commit, the retry of an insert or an
/// update finds its own write and succeeds without applying (or auditing) it twice.
pub async fn maybe_committed_retries_do_not_apply_twice(h: &dyn Harness) {
    use std::sync::Arc;

    let (db, p) = tenant_of(h, "unknown.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    // Each commit phase below gets exactly one "maybe committed" after a real commit.
    let maybe_committed_once = || {
        let plan = FaultPlan {
            unknown_after_commit: 1.0,
            ..FaultPlan::NONE
        };
        FaultyBackend::new(db.clone(), plan, 0).limited(1)
    };
    let flaky = maybe_committed_once();
    let stats = Arc::new(coditect_core::RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let (tenant, actor) = (tid(&p), admin(&p));
    let audit_before = all_audit(db.as_ref(), tenant).await.len();

    let new = Task::new(web.id, "Exactly once", p.admin_member.id);
    let (made, _) = coditect_core::run_in_tenant(&flaky, &options, tenant, |ttx| async move {
        record::insert(&ttx, actor, new).await
    })
    .await
    .expect("insert after an unknown result");
    assert_eq!((stats.attempts(), stats.maybe_committed()), (2, 1));
    let tasks = in_tenant!(db, tenant, |ttx| {
        task::by_project(&ttx, Actor::System, web.id, &page_of(10)).await
    })
    .expect("list");
    assert_eq!(tasks.items, vec![made.clone()]);
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 1);

    let flaky = maybe_committed_once();
    let mut renamed = made.clone();
    renamed.title = "Renamed once".into();
    let (updated, _) = coditect_core::run_in_tenant(&flaky, &options, tenant, |ttx| async move {
        record::update(&ttx, actor, renamed).await
    })
    .await
    .expect("update after an unknown result");
    assert_eq!(updated.title, "Renamed once");
    assert_eq!((stats.attempts(), stats.maybe_committed()), (4, 2));
    assert_eq!(all_audit(db.as_ref(), tenant).await.len(), audit_before + 2);

    // Without the flag, a second insert of the same id is still a duplicate.
    let error = in_tenant!(db, tenant, |ttx| {
        record::insert(&ttx, actor, made.clone()).await
    })
    .expect_err("duplicate id");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "task",
            field: "id"
        }
    );
}
