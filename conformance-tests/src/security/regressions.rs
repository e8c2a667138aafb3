//! One case per finding of the outside review of e616e67 (an attacker with a Viewer seat or
//! an AI agent inside a tenant). Each asserts the attack is refused and nothing changed.

use coditect_core::ids::{RoleAssignmentId, WorkflowId};
use coditect_core::model::{
    api_key, comment, project, session, task, tenant, user, Comment, Message, MessageRole, Session,
    TenantStatus,
};
use coditect_core::record::PageRequest;

use super::*;
use crate::support::assert_matches;
use crate::Harness;

/// A Viewer (human or agent) cannot set another user's password, the Admin's included; the
/// Admin's password still verifies afterwards.
pub async fn a_viewer_cannot_take_over_the_admin_password(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "password.security.test").await;
    let t = org.tenant();
    let admin_user = org.p.admin.id;
    let admin = Principal::member(org.p.admin_member.id);
    attempt!(db.as_ref(), t, |ttx| {
        user::set_password_with(&ttx, admin, admin_user, "the admin's own", cheap_argon2()).await
    })
    .expect("the admin sets their own password");
    for kind in [Kind::Human, Kind::Agent] {
        let viewer = member(
            db.as_ref(),
            &org.p,
            kind,
            &format!("{kind:?}v"),
            Some("viewer"),
        )
        .await;
        let by = Principal::member(viewer.id);
        let error = attempt!(db.as_ref(), t, |ttx| {
            user::set_password_with(&ttx, by, admin_user, "taken over!", cheap_argon2()).await
        })
        .expect_err("a viewer may not set the admin's password");
        assert!(
            matches!(error, Error::Forbidden { .. }),
            "{kind:?}: {error:?}"
        );
    }
    let still = attempt!(db.as_ref(), t, |ttx| {
        user::verify_password(&ttx, admin_user, "the admin's own").await
    })
    .expect("verify");
    assert!(still, "the admin's password is unchanged");
}

/// No member changes the tenant's plan unless a tenant Admin, and nobody but the platform
/// operator suspends it: a Viewer, an agent and even an Admin are refused the suspension.
pub async fn members_cannot_change_the_plan_or_suspend_the_tenant(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "plan.security.test").await;
    let t = org.tenant();
    let viewer = member(db.as_ref(), &org.p, Kind::Agent, "bot", Some("viewer")).await;
    let admin = Principal::member(org.p.admin_member.id);
    let mut cheaper = org.p.tenant.clone();
    cheaper.plan = Plan::Free;
    let error = tenant::update_settings(db.as_ref(), Principal::member(viewer.id), cheaper.clone())
        .await
        .expect_err("a viewer agent may not change the plan");
    assert_matches!(error, Error::Forbidden { .. });
    for by in [Principal::member(viewer.id), admin] {
        let error = tenant::change_status(db.as_ref(), by, t, TenantStatus::Suspended)
            .await
            .expect_err("only the operator suspends");
        assert_matches!(error, Error::Forbidden { .. });
    }
    let (now, _) = run(db.as_ref(), &RetryOptions::default(), |tx| async move {
        tenant::get(&*tx, t).await
    })
    .await
    .expect("read");
    let now = now.expect("tenant");
    assert_eq!(
        (now.plan, now.status),
        (Plan::Enterprise, TenantStatus::Active)
    );
    // The Admin may change the plan, and may not sneak a status change into it.
    let changed = tenant::update_settings(db.as_ref(), admin, cheaper.clone()).await;
    assert_eq!(changed.expect("an admin changes the plan").plan, Plan::Free);
    let mut sneaky = cheaper;
    sneaky.status = TenantStatus::Suspended;
    let error = tenant::update_settings(db.as_ref(), admin, sneaky)
        .await
        .expect_err("status is not a setting");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "status",
            ..
        }
    );
    tenant::change_status(
        db.as_ref(),
        Principal::operator(),
        t,
        TenantStatus::Suspended,
    )
    .await
    .expect("the operator suspends");
}

/// A session's id is not its token: whoever may read sessions cannot log in with what they
/// read, and the token is in no stored byte (records, indexes, the audit trail).
pub async fn session_ids_are_not_bearer_tokens(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "tokens.security.test").await;
    let t = org.tenant();
    let now = 1_800_000_000_000;
    let (s, token) = Session::generate(org.other.id, now + 60_000);
    let s = attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, Principal::member(org.other.id), s).await
    })
    .expect("own session");
    let listed = attempt!(db.as_ref(), t, |ttx| {
        session::by_member(
            &ttx,
            Principal::operator(),
            org.other.id,
            &PageRequest::first(10),
        )
        .await
    })
    .expect("the operator lists sessions");
    assert_eq!(listed.items.len(), 1);
    let id = listed.items[0].id.to_string();
    let error = attempt!(db.as_ref(), t, |ttx| {
        session::authenticate(&ttx, &id, now).await
    })
    .expect_err("the id logs nobody in");
    assert_matches!(error, Error::Unauthenticated { .. });
    let (begin, end) = t.range();
    for (key, value) in crate::support::scan(db.as_ref(), &begin, &end).await {
        for bytes in [&key, &value] {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "the token is stored"
            );
        }
    }
    let by = attempt!(db.as_ref(), t, |ttx| {
        session::authenticate(&ttx, &token, now).await
    })
    .expect("the token logs in");
    assert_eq!(by, Principal::with_session(org.other.id, s.id));
}

/// A disabled user does nothing: denied every action, its session and API key stop
/// authenticating, and a principal obtained before the disable is refused afterwards.
pub async fn a_disabled_user_does_nothing(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "disabled.security.test").await;
    let t = org.tenant();
    let m = member(
        db.as_ref(),
        &org.p,
        Kind::Human,
        "soon-gone",
        Some("contributor"),
    )
    .await;
    let now = record_now();
    let (s, token) = Session::generate(m.id, now + 3_600_000);
    attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, Actor::System, s).await
    })
    .expect("session");
    let (_, secret) = api_key(db.as_ref(), t, m.id, &[]).await;
    let (token, secret) = (&token, &secret);
    let by_session = attempt!(db.as_ref(), t, |ttx| {
        session::authenticate(&ttx, token, now).await
    })
    .expect("valid before");
    let task = org.task;
    let rename = |by: Principal| {
        let db = db.clone();
        async move {
            attempt!(db.as_ref(), t, |ttx| {
                let mut x = record::require::<Task>(&ttx, Actor::System, task).await?;
                x.title = "renamed by a disabled user".into();
                record::update(&ttx, by, x).await
            })
        }
    };
    rename(by_session)
        .await
        .expect("a contributor renames a task");
    set_user_status(db.as_ref(), t, user_of(&m), UserStatus::Disabled).await;
    for by in [by_session, Principal::member(m.id)] {
        let error = rename(by).await.expect_err("disabled");
        assert_matches!(error, Error::Forbidden { .. });
        let read = attempt!(db.as_ref(), t, |ttx| {
            record::get::<Task>(&ttx, by, task).await
        });
        assert_matches!(read, Err(Error::Forbidden { .. }));
    }
    let error = attempt!(db.as_ref(), t, |ttx| {
        session::authenticate(&ttx, token, now).await
    })
    .expect_err("session refused");
    assert_matches!(error, Error::Unauthenticated { .. });
    let error = attempt!(db.as_ref(), t, |ttx| {
        api_key::authenticate(&ttx, secret, now).await
    })
    .expect_err("key refused");
    assert_matches!(error, Error::Unauthenticated { .. });
}

fn record_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An API key's scopes are checked: a key scoped to reading tasks and projects reads a task
/// and cannot rename it, read a user or mint a new key; revoking it ends a principal that
/// was authenticated before.
pub async fn api_key_scopes_bound_what_the_key_does(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "scopes.security.test").await;
    let t = org.tenant();
    let m = member(db.as_ref(), &org.p, Kind::Agent, "ci", Some("contributor")).await;
    let (key, secret) = api_key(db.as_ref(), t, m.id, &NARROW_SCOPES).await;
    let secret = &secret;
    let now = record_now();
    let by = attempt!(db.as_ref(), t, |ttx| {
        api_key::authenticate(&ttx, secret, now).await
    })
    .expect("authenticates");
    let task_id = org.task;
    let read = attempt!(db.as_ref(), t, |ttx| {
        record::require::<Task>(&ttx, by, task_id).await
    })
    .expect("reading tasks is in scope");
    let mut renamed = read.clone();
    renamed.title = "renamed through a read-only key".into();
    let error = attempt!(db.as_ref(), t, |ttx| {
        record::update(&ttx, by, renamed).await
    })
    .expect_err("renaming is not in scope");
    assert_matches!(
        error,
        Error::Forbidden {
            action: Action::Update,
            ..
        }
    );
    let other_user = user_of(&org.other);
    let error = attempt!(db.as_ref(), t, |ttx| {
        record::get::<User>(&ttx, by, other_user).await
    })
    .expect_err("reading users is not in scope");
    assert_matches!(error, Error::Forbidden { .. });
    let (wide, _) = ApiKey::generate(m.id, "wider");
    let error = attempt!(db.as_ref(), t, |ttx| record::insert(&ttx, by, wide).await)
        .expect_err("a key mints no keys");
    assert_matches!(
        error,
        Error::Forbidden {
            action: Action::Create,
            ..
        }
    );
    // Nor does a key that may update keys widen itself.
    a_key_does_not_widen_itself(db.as_ref(), t, m.id, now).await;
    // Lists through the key hold what it may read: tasks, not comments.
    let tasks = attempt!(db.as_ref(), t, |ttx| {
        task::by_project(&ttx, by, org.project, &PageRequest::first(10)).await
    })
    .expect("list");
    assert_eq!(tasks.items.len(), 1);
    attempt!(db.as_ref(), t, |ttx| {
        api_key::revoke(&ttx, Actor::System, key.id).await
    })
    .expect("revoke");
    let error = attempt!(db.as_ref(), t, |ttx| {
        record::get::<Task>(&ttx, by, task_id).await
    })
    .expect_err("a revoked key's principal is refused");
    assert_matches!(error, Error::Unauthenticated { .. });
}

/// A key of `m` that may update keys (and read anything) does not widen its own scopes.
async fn a_key_does_not_widen_itself(db: &dyn KvBackend, t: TenantId, m: MemberId, now: i64) {
    let (wide_key, wide_secret) = api_key(
        db,
        t,
        m,
        &[
            Permission::new(Action::Update, ResourceKind::ApiKey),
            Permission::new(Action::Read, ResourceKind::Any),
        ],
    )
    .await;
    let wide_secret = &wide_secret;
    let by_wide = attempt!(db, t, |ttx| {
        api_key::authenticate(&ttx, wide_secret, now).await
    })
    .expect("authenticates");
    let mut unscoped = wide_key.clone();
    unscoped.scopes.clear();
    let error = attempt!(db, t, |ttx| {
        record::update(&ttx, by_wide, unscoped).await
    })
    .expect_err("a key does not widen itself");
    assert_matches!(
        error,
        Error::Forbidden {
            action: Action::Update,
            ..
        }
    );
}

/// A contributor authors comments and messages as itself only, and edits only its own.
pub async fn members_author_only_as_themselves(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "authors.security.test").await;
    let t = org.tenant();
    for kind in [Kind::Human, Kind::Agent] {
        let c = member(
            db.as_ref(),
            &org.p,
            kind,
            &format!("{kind:?}c"),
            Some("contributor"),
        )
        .await;
        let by = Principal::member(c.id);
        let forged = Comment::new(org.task, org.other.id, "I did not write this");
        let error = attempt!(db.as_ref(), t, |ttx| record::insert(&ttx, by, forged).await)
            .expect_err("comment as another");
        assert!(
            matches!(error, Error::Forbidden { .. }),
            "{kind:?}: {error:?}"
        );
        let forged = Message::new(
            org.conversation,
            org.other.id,
            MessageRole::User,
            "nor this",
        );
        let error = attempt!(db.as_ref(), t, |ttx| record::insert(&ttx, by, forged).await)
            .expect_err("message as another");
        assert!(
            matches!(error, Error::Forbidden { .. }),
            "{kind:?}: {error:?}"
        );
        let mine = Comment::new(org.task, c.id, "mine");
        let mine = attempt!(db.as_ref(), t, |ttx| record::insert(&ttx, by, mine).await)
            .expect("own comment");
        let theirs = Comment::new(org.task, org.other.id, "theirs");
        let theirs = attempt!(db.as_ref(), t, |ttx| {
            record::insert(&ttx, Actor::System, theirs).await
        })
        .expect("their comment");
        attempt!(db.as_ref(), t, |ttx| {
            comment::edit(&ttx, by, mine.id, "mine, edited").await
        })
        .expect("edit own");
        let error = attempt!(db.as_ref(), t, |ttx| {
            comment::edit(&ttx, by, theirs.id, "hijacked").await
        })
        .expect_err("edit theirs");
        assert!(
            matches!(error, Error::Forbidden { .. }),
            "{kind:?}: {error:?}"
        );
        let mut handed = mine.clone();
        handed.author = org.other.id;
        let error = attempt!(db.as_ref(), t, |ttx| record::update(&ttx, by, handed).await)
            .expect_err("hand own comment to another");
        assert!(
            matches!(error, Error::Forbidden { .. }),
            "{kind:?}: {error:?}"
        );
    }
}

/// A list holds only what its reader may read, and its cursors page past what is hidden:
/// a viewer granted at one division pages through every project and sees exactly that
/// division's, in pages of 2.
pub async fn lists_hold_only_what_the_reader_may_read(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "lists.security.test").await;
    let t = org.tenant();
    let root = org.p.root.id;
    let division = org.division;
    let (mut seen_here, mut expected) = (Vec::new(), vec![org.project]);
    let other_division = attempt!(db.as_ref(), t, |ttx| {
        let d = Entity::new("DIVB", "B", EntityKind::Division, Some(root));
        record::insert(&ttx, Actor::System, d).await
    })
    .expect("division b")
    .id;
    for n in 0..7 {
        let (entity, visible) = if n % 3 == 0 {
            (division, true)
        } else {
            (other_division, false)
        };
        let owner = org.other.id;
        let made = attempt!(db.as_ref(), t, |ttx| {
            record::insert(
                &ttx,
                Actor::System,
                Project::new(format!("L{n}"), "P", entity, owner),
            )
            .await
        })
        .expect("project");
        if visible {
            expected.push(made.id);
        }
    }
    let viewer = member(db.as_ref(), &org.p, Kind::Agent, "scoped", None).await;
    attempt!(db.as_ref(), t, |ttx| {
        let role = coditect_core::model::role::by_name(&ttx, Actor::System, "viewer").await?;
        let role = role.expect("viewer").id;
        record::insert(
            &ttx,
            Actor::System,
            RoleAssignment::new(viewer.id, role, division),
        )
        .await
    })
    .expect("grant");
    let by = Principal::member(viewer.id);
    let mut request = PageRequest::first(2);
    loop {
        let page = attempt!(db.as_ref(), t, |ttx| {
            record::list::<Project>(&ttx, by, &request).await
        })
        .expect("list");
        assert!(page.items.len() <= 2);
        seen_here.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(next) => request = PageRequest::after(next, 2),
            None => break,
        }
    }
    seen_here.sort();
    expected.sort();
    assert_eq!(
        seen_here, expected,
        "exactly the division's projects, each once"
    );
    let by_code = attempt!(db.as_ref(), t, |ttx| project::by_code(&ttx, by, "L1").await);
    assert_matches!(by_code, Err(Error::Forbidden { .. }));
}

/// Deleting a member who is still a task's reporter is refused, naming the task (it was
/// allowed, and the task could never be updated again: its reporter no longer resolved).
/// The member is still there, the task still updates, and once the task is gone the member
/// can be deleted.
pub async fn a_task_reporter_cannot_be_deleted(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "reporter.security.test").await;
    let t = org.tenant();
    let admin = Principal::member(org.p.admin_member.id);
    let reporter = member(db.as_ref(), &org.p, Kind::Human, "reporter", None).await;
    let reported = Task::new(org.project, "Reported", reporter.id);
    let reported = attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, admin, reported).await
    })
    .expect("task");
    let error = attempt!(db.as_ref(), t, |ttx| {
        record::delete::<Member>(&ttx, admin, reporter.id).await
    })
    .expect_err("the reporter of a task");
    assert!(
        matches!(&error, Error::StillReferenced { model: "member", id, by, .. }
            if *id == reporter.id.uuid()
                && by.iter().any(|r| r.collection == "task"
                    && r.field == "reporter"
                    && r.id == reported.id.uuid())),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("task.reporter {}", reported.id.uuid())),
        "{error}"
    );
    let still = attempt!(db.as_ref(), t, |ttx| {
        record::get::<Member>(&ttx, admin, reporter.id).await
    })
    .expect("get");
    assert_eq!(still, Some(reporter.clone()));
    let mut renamed = reported.clone();
    renamed.title = "Renamed".into();
    attempt!(db.as_ref(), t, |ttx| {
        record::update(&ttx, admin, renamed).await
    })
    .expect("the task still updates");
    attempt!(db.as_ref(), t, |ttx| {
        record::delete::<Task>(&ttx, admin, reported.id).await?;
        record::delete::<Member>(&ttx, admin, reporter.id).await
    })
    .expect("without its task, the member goes");
}

/// What no single record guards (the audit trail through every query, usage totals, a
/// collection's count) is read only with a tenant-wide grant; what a record guards (its saved
/// versions, a conversation's message count) only by who may read the record. A viewer of one
/// division reads its division's workflow history and is refused the rest, each refusal
/// audited. These reads took no principal at all before, so any caller holding the
/// transaction read the whole trail.
pub async fn aggregate_reads_need_a_tenant_wide_grant(h: &dyn Harness) {
    use coditect_core::model::workflow;

    let db = h.backend();
    let org = Org::new(db.as_ref(), "aggregates.security.test").await;
    let t = org.tenant();
    let viewer = member(db.as_ref(), &org.p, Kind::Agent, "division-viewer", None).await;
    let (inside, outside) = workflows_inside_and_outside(db.as_ref(), &org, viewer.id).await;
    let by = Principal::member(viewer.id);

    let history = attempt!(db.as_ref(), t, |ttx| {
        workflow::versions(&ttx, by, inside, &PageRequest::first(10)).await
    })
    .expect("its division's workflow history");
    assert_eq!(history.items.len(), 1);

    let mut watch = DenialWatch::new(db.as_ref(), t).await;
    let refused = aggregate_reads(db.as_ref(), &org, by, outside).await;
    for (what, result) in &refused {
        assert!(
            matches!(result, Err(Error::Forbidden { .. })),
            "{what}: {result:?}"
        );
    }
    let denials = watch.take(db.as_ref()).await;
    assert_eq!(
        denials.len(),
        refused.len(),
        "each refusal audited once: {denials:?}"
    );
}

/// Grants `viewer` the viewer role at the division, and makes two workflows: one in the
/// division's project, one in a project of another division.
async fn workflows_inside_and_outside(
    db: &dyn KvBackend,
    org: &Org,
    viewer: MemberId,
) -> (WorkflowId, WorkflowId) {
    use coditect_core::model::Workflow;
    let t = org.tenant();
    attempt!(db, t, |ttx| {
        let role = coditect_core::model::role::by_name(&ttx, Actor::System, "viewer").await?;
        let grant = RoleAssignment::new(viewer, role.expect("viewer").id, org.division);
        record::insert(&ttx, Actor::System, grant).await?;
        let elsewhere = Entity::new(
            "ELSE",
            "Elsewhere",
            EntityKind::Division,
            Some(org.p.root.id),
        );
        let elsewhere = record::insert(&ttx, Actor::System, elsewhere).await?.id;
        let far = Project::new("FAR", "Far", elsewhere, org.other.id);
        let far = record::insert(&ttx, Actor::System, far).await?.id;
        let inside = Workflow::new(org.project, "inside", manual_workflow("build"));
        let outside = Workflow::new(far, "outside", manual_workflow("build"));
        Ok((
            record::insert(&ttx, Actor::System, inside).await?.id,
            record::insert(&ttx, Actor::System, outside).await?.id,
        ))
    })
    .expect("grant and workflows")
}

/// Each aggregate read, done by `by`, and what it returned.
async fn aggregate_reads(
    db: &dyn KvBackend,
    org: &Org,
    by: Principal,
    outside: WorkflowId,
) -> Vec<(&'static str, coditect_core::Result<()>)> {
    use coditect_core::audit::query::{self, AuditQuery};
    use coditect_core::model::{conversation, usage, workflow};
    let t = org.tenant();
    vec![
        (
            "audit by time",
            attempt!(db, t, |ttx| {
                query::by_time(&ttx, by, &AuditQuery::newest(10))
                    .await
                    .map(drop)
            }),
        ),
        (
            "audit by actor",
            attempt!(db, t, |ttx| {
                query::by_actor(&ttx, by, Actor::System, &AuditQuery::newest(10))
                    .await
                    .map(drop)
            }),
        ),
        (
            "audit by target",
            attempt!(db, t, |ttx| {
                query::by_target(
                    &ttx,
                    by,
                    "project",
                    org.project.uuid(),
                    &AuditQuery::newest(10),
                )
                .await
                .map(drop)
            }),
        ),
        (
            "usage totals",
            attempt!(db, t, |ttx| {
                usage::metric_totals(&ttx, by, "tokens").await.map(drop)
            }),
        ),
        (
            "project count",
            attempt!(db, t, |ttx| {
                record::count_of::<Project>(&ttx, by).await.map(drop)
            }),
        ),
        (
            "another division's workflow history",
            attempt!(db, t, |ttx| {
                workflow::versions(&ttx, by, outside, &PageRequest::first(10))
                    .await
                    .map(drop)
            }),
        ),
        (
            "a tenant-wide conversation's message count",
            attempt!(db, t, |ttx| {
                conversation::message_count(&ttx, by, org.conversation)
                    .await
                    .map(drop)
            }),
        ),
    ]
}

/// A member holding many role assignments has them read per entity, on the path from a
/// resource to the root, instead of all at once: it gets the same answers as a member holding
/// only the assignments that matter, and a revoke or a new grant on the path counts at once.
pub async fn many_assignments_give_the_same_answers_as_few(h: &dyn Harness) {
    use coditect_core::model::{role, Project, Task};

    let db = h.backend();
    let org = Org::new(db.as_ref(), "many.security.test").await;
    let t = org.tenant();
    let many = member(db.as_ref(), &org.p, Kind::Agent, "many", None).await;
    let few = member(db.as_ref(), &org.p, Kind::Human, "few", None).await;
    let (far_project, grant_id) =
        many_leaves_and_one_grant(db.as_ref(), &org, many.id, few.id).await;

    let read_task = |m: MemberId| {
        let db = db.clone();
        async move {
            attempt!(db.as_ref(), t, |ttx| {
                record::require::<Task>(&ttx, Principal::member(m), org.task)
                    .await
                    .map(drop)
            })
        }
    };
    let read_far = |m: MemberId| {
        let db = db.clone();
        async move {
            attempt!(db.as_ref(), t, |ttx| {
                record::require::<Project>(&ttx, Principal::member(m), far_project)
                    .await
                    .map(drop)
            })
        }
    };
    let tenant_wide = |m: MemberId| {
        let db = db.clone();
        async move {
            attempt!(db.as_ref(), t, |ttx| {
                record::count_of::<Task>(&ttx, Principal::member(m))
                    .await
                    .map(drop)
            })
        }
    };
    for m in [many.id, few.id] {
        assert!(read_task(m).await.is_ok(), "contributor at the division");
        assert!(
            matches!(tenant_wide(m).await, Err(Error::Forbidden { .. })),
            "no grant at the root"
        );
    }
    assert!(read_far(many.id).await.is_ok(), "viewer at the far leaf");
    assert!(matches!(
        read_far(few.id).await,
        Err(Error::Forbidden { .. })
    ));

    attempt!(db.as_ref(), t, |ttx| {
        record::delete::<RoleAssignment>(&ttx, Actor::System, grant_id).await
    })
    .expect("revoke");
    assert!(
        matches!(read_task(many.id).await, Err(Error::Forbidden { .. })),
        "the revoke on the path counts"
    );
    assert!(read_task(few.id).await.is_ok());
    attempt!(db.as_ref(), t, |ttx| {
        let viewer = role::by_name(&ttx, Actor::System, "viewer").await?;
        let grant = RoleAssignment::new(many.id, viewer.expect("viewer").id, org.p.root.id);
        record::insert(&ttx, Actor::System, grant).await
    })
    .expect("grant at the root");
    assert!(
        read_task(many.id).await.is_ok(),
        "viewer at the root reads it"
    );
    assert!(tenant_wide(many.id).await.is_ok(), "and tenant-wide");
}

/// Gives `many` the viewer role at each of twenty leaves of another division (a project at
/// the eighth), and `many` and `few` the contributor role at the division. Returns the
/// project and the contributor grant of `many`.
async fn many_leaves_and_one_grant(
    db: &dyn KvBackend,
    org: &Org,
    many: MemberId,
    few: MemberId,
) -> (ProjectId, RoleAssignmentId) {
    use coditect_core::model::{role, Project};
    let t = org.tenant();
    attempt!(db, t, |ttx| {
        let sys = Actor::System;
        let viewer = role::by_name(&ttx, sys, "viewer")
            .await?
            .expect("viewer")
            .id;
        let contributor = role::by_name(&ttx, sys, "contributor").await?;
        let contributor = contributor.expect("contributor").id;
        let branch = Entity::new("FAR", "Far", EntityKind::Division, Some(org.p.root.id));
        let branch = record::insert(&ttx, sys, branch).await?.id;
        let mut far_project = None;
        for i in 0..20 {
            let leaf = Entity::new(format!("L{i}"), "Leaf", EntityKind::Team, Some(branch));
            let leaf = record::insert(&ttx, sys, leaf).await?.id;
            record::insert(&ttx, sys, RoleAssignment::new(many, viewer, leaf)).await?;
            if i == 7 {
                let p = Project::new("FARP", "Far project", leaf, org.other.id);
                far_project = Some(record::insert(&ttx, sys, p).await?.id);
            }
        }
        let mut grant = None;
        for m in [many, few] {
            let made = RoleAssignment::new(m, contributor, org.division);
            let made = record::insert(&ttx, sys, made).await?;
            if m == many {
                grant = Some(made.id);
            }
        }
        Ok((far_project.expect("made"), grant.expect("made")))
    })
    .expect("assignments")
}

/// A member holding `admin` at a division cannot make one of its departments a second root
/// (and so reach everything tenant-wide): a root is managed tenant-wide. Found by the review
/// of this round: grant itself admin at the team below, move the team to the top, then hold
/// admin at a root.
pub async fn a_division_admin_cannot_make_a_team_a_root(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "root.security.test").await;
    let t = org.tenant();
    let agent = member(db.as_ref(), &org.p, Kind::Agent, "div-admin", None).await;
    let admin_role = attempt!(db.as_ref(), t, |ttx| {
        let role = coditect_core::model::role::by_name(&ttx, Actor::System, "admin").await?;
        let role = role.expect("admin").id;
        record::insert(
            &ttx,
            Actor::System,
            RoleAssignment::new(agent.id, role, org.division),
        )
        .await?;
        Ok(role)
    })
    .expect("admin at the division");
    let by = Principal::member(agent.id);
    attempt!(db.as_ref(), t, |ttx| {
        record::insert(
            &ttx,
            by,
            RoleAssignment::new(agent.id, admin_role, org.team),
        )
        .await
    })
    .expect("within its division, it may grant at the team");
    let mut team: Entity = attempt!(db.as_ref(), t, |ttx| {
        record::require::<Entity>(&ttx, Actor::System, org.team).await
    })
    .expect("team");
    team.parent = None;
    team.kind = EntityKind::Corporation;
    let moved = attempt!(db.as_ref(), t, |ttx| {
        record::update(&ttx, by, team.clone()).await
    });
    assert!(
        matches!(moved, Err(Error::Forbidden { .. })),
        "a second root: {moved:?}"
    );
    let stored: Entity = attempt!(db.as_ref(), t, |ttx| {
        record::require::<Entity>(&ttx, Actor::System, org.team).await
    })
    .expect("team");
    assert_eq!(
        stored.parent,
        Some(org.division),
        "the team stays where it was"
    );
    let mut root_attempt = Entity::new("ROOT2", "Second root", EntityKind::Corporation, None);
    root_attempt.parent = None;
    let made = attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, by, root_attempt.clone()).await
    });
    assert!(
        matches!(made, Err(Error::Forbidden { .. })),
        "nor a new root: {made:?}"
    );
    let wide = attempt!(db.as_ref(), t, |ttx| {
        record::count_of::<Task>(&ttx, by).await
    });
    assert_matches!(wide, Err(Error::Forbidden { .. }));
}

/// A member's personal settings are private: another member, a viewer included, cannot read
/// them; the member itself and a tenant Admin can. Found by the review of this round.
pub async fn personal_settings_are_private_to_their_member(h: &dyn Harness) {
    use coditect_core::model::{setting, Setting, SettingScope, TypedValue};

    let db = h.backend();
    let org = Org::new(db.as_ref(), "settings.security.test").await;
    let t = org.tenant();
    let owner = org.other.id;
    let viewer = member(db.as_ref(), &org.p, Kind::Human, "peeker", Some("viewer")).await;
    let personal = Setting::new(SettingScope::Member(owner), "theme", TypedValue::Int(3));
    attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, Actor::System, personal.clone()).await
    })
    .expect("the member's setting");
    let read = |by: Principal| {
        let db = db.clone();
        async move {
            attempt!(db.as_ref(), t, |ttx| {
                setting::get(&ttx, by, SettingScope::Member(owner), "theme").await
            })
        }
    };
    assert!(matches!(
        read(Principal::member(viewer.id)).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(read(Principal::member(owner)).await.expect("own").is_some());
    assert!(read(Principal::member(org.p.admin_member.id))
        .await
        .expect("admin")
        .is_some());
}

/// A contributor cannot file a task in another member's name, nor change who filed one, nor a
/// maintainer hand a project to another owner without the right to act for others; it may
/// still work on tasks others filed. Found by the review of this round (the same class as
/// comments and messages in another's name).
pub async fn a_contributor_cannot_file_a_task_as_another_member(h: &dyn Harness) {
    let db = h.backend();
    let org = Org::new(db.as_ref(), "filed.security.test").await;
    let t = org.tenant();
    let contributor = member(
        db.as_ref(),
        &org.p,
        Kind::Agent,
        "filer",
        Some("contributor"),
    )
    .await;
    let by = Principal::member(contributor.id);
    let admin = org.p.admin_member.id;
    let forged = Task::new(org.project, "in the admin's name", admin);
    let filed = attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, by, forged.clone()).await
    });
    assert_matches!(filed, Err(Error::Forbidden { .. }));
    let own = Task::new(org.project, "mine", contributor.id);
    let mut own = attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, by, own.clone()).await
    })
    .expect("in its own name");
    own.reporter = admin;
    let moved = attempt!(db.as_ref(), t, |ttx| {
        record::update(&ttx, by, own.clone()).await
    });
    assert_matches!(moved, Err(Error::Forbidden { .. }));
    let mut theirs: Task = attempt!(db.as_ref(), t, |ttx| {
        record::require::<Task>(&ttx, Actor::System, org.task).await
    })
    .expect("the other's task");
    theirs.title = "worked on".into();
    attempt!(db.as_ref(), t, |ttx| {
        record::update(&ttx, by, theirs.clone()).await
    })
    .expect("a task another filed can still be worked on");
    let as_admin = Task::new(org.project, "filed for the other", org.other.id);
    attempt!(db.as_ref(), t, |ttx| {
        record::insert(&ttx, Principal::member(admin), as_admin.clone()).await
    })
    .expect("the tenant Admin may act for others");
}
