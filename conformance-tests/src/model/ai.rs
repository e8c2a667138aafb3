//! Cases of models 9 to 21: the AI models, access records, audit reads, usage and settings.
//! Each states what must hold; all run on every backend through `model_suite!`.

use coditect_core::model::{
    agent_config, agent_execution, agent_instance, api_key, audit_event, conversation, message,
    role_assignment, session, setting, usage, workflow, AgentExecution, AgentInstance, ApiKey,
    Conversation, ConversationStatus, ExecutionStatus, Message, MessageRole, Session, Setting,
    SettingScope, TypedValue, Usage, Workflow,
};
use coditect_core::rbac::{Action, Permission, ResourceKind};
use coditect_core::Principal;

use super::*;

/// AgentConfig: unique name, validated capabilities and typed settings, lookup by name; agent
/// members must name an existing configuration, which cannot be deleted while used.
pub async fn agent_config_crud_lookup_and_rules(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "agents.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let mut config = AgentConfig::new("reviewer", AgentType::Reviewer, "anthropic", "claude");
    config.capabilities.insert("review".into());
    config
        .settings
        .insert("temperature".into(), TypedValue::Float(0.2));
    config
        .settings
        .insert("tools".into(), TypedValue::List(vec!["git".into()]));
    let made = in_p.insert(config.clone()).await.expect("config");
    let found = in_tenant!(db, tid(&p), |ttx| {
        agent_config::by_name(&ttx, Actor::System, "reviewer").await
    })
    .expect("lookup");
    assert_eq!(found, Some(made.clone()));

    let duplicate = AgentConfig::new("reviewer", AgentType::Coder, "local", "m");
    let error = in_p
        .insert(duplicate.clone())
        .await
        .expect_err("duplicate name");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "agent config",
            field: "name"
        }
    );
    let mut bad = AgentConfig::new("bad", AgentType::Coder, "local", "m");
    bad.settings.insert("t".into(), TypedValue::Float(f64::NAN));
    let error = in_p.insert(bad.clone()).await.expect_err("NaN setting");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "settings",
            ..
        }
    );
    let bad = AgentConfig::new("has space", AgentType::Coder, "local", "m");
    let error = in_p.insert(bad.clone()).await.expect_err("bad name");
    assert_matches!(error, Error::InvalidInput { field: "name", .. });

    // An agent member needs an existing configuration, and keeps it from being deleted.
    let error = in_p
        .insert(Member::new(
            MemberKind::Agent(AgentConfigId::generate()),
            "Ghost",
        ))
        .await
        .expect_err("unknown config");
    assert_matches!(
        error,
        Error::InvalidReference {
            field: "agent",
            target: "agent config",
            ..
        }
    );
    let bot = agent_member_in(db.as_ref(), &p, made.id, "Reviewer bot").await;
    let error = in_p
        .delete::<AgentConfig>(made.id)
        .await
        .expect_err("in use");
    assert_still_referenced(&error, "agent config", "member", "agent");
    in_tenant!(db, tid(&p), |ttx| {
        record::delete::<Member>(&ttx, admin(&p), bot.id).await?;
        let mut renamed = record::require::<AgentConfig>(&ttx, Actor::System, made.id).await?;
        renamed.name = "critic".into();
        record::update(&ttx, admin(&p), renamed).await?;
        assert!(agent_config::by_name(&ttx, Actor::System, "reviewer")
            .await?
            .is_none());
        record::delete::<AgentConfig>(&ttx, admin(&p), made.id).await
    })
    .expect("rename and delete");
}

/// AgentInstance by config and AgentExecution by instance and by task; a finished run stays
/// finished; an instance with runs cannot be deleted.
pub async fn agent_instances_and_executions(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "runs.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let config = agent_config_in(db.as_ref(), &p, "coder").await;
    let (instance, task) = in_tenant!(db, tid(&p), |ttx| {
        let instance = record::insert(&ttx, admin(&p), AgentInstance::new(config, "pod-1")).await?;
        let task =
            record::insert(&ttx, admin(&p), Task::new(web.id, "Fix", p.admin_member.id)).await?;
        Ok::<_, Error>((instance, task))
    })
    .expect("instance");
    let error = in_p
        .insert(AgentInstance::new(AgentConfigId::generate(), "pod-2"))
        .await
        .expect_err("unknown config");
    assert_matches!(
        error,
        Error::InvalidReference {
            field: "config",
            ..
        }
    );

    let mut run = AgentExecution::new(instance.id, Some(task.id));
    run.inputs
        .insert("prompt".into(), TypedValue::Text("fix it".into()));
    let run = in_p.insert(run.clone()).await.expect("run");
    let mut done = run.clone();
    done.status = ExecutionStatus::Succeeded;
    done.outputs
        .insert("diff".into(), TypedValue::Text("+1 -1".into()));
    done.metrics.tokens_out = 120;
    let done = in_p.update(done.clone()).await.expect("finish");
    let mut again = done.clone();
    again.status = ExecutionStatus::Running;
    let error = in_p
        .update(again.clone())
        .await
        .expect_err("finished stays finished");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "status",
            ..
        }
    );

    let (by_config, by_instance, by_task) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            agent_instance::by_config(&ttx, Actor::System, config, &page_of(10))
                .await?
                .items,
            agent_execution::by_instance(&ttx, Actor::System, instance.id, &page_of(10))
                .await?
                .items,
            agent_execution::by_task(&ttx, Actor::System, task.id, &page_of(10))
                .await?
                .items,
        ))
    })
    .expect("lookups");
    assert_eq!(by_config, vec![instance.clone()]);
    assert_eq!(by_instance, vec![done.clone()]);
    assert_eq!(by_task, vec![done.clone()]);
    let error = in_p
        .delete::<AgentInstance>(instance.id)
        .await
        .expect_err("has runs");
    assert_still_referenced(&error, "agent instance", "agent_execution", "instance");
    in_tenant!(db, tid(&p), |ttx| {
        record::delete::<AgentExecution>(&ttx, admin(&p), done.id).await?;
        record::delete::<AgentInstance>(&ttx, admin(&p), instance.id).await
    })
    .expect("delete");
    let gone: Option<AgentInstance> = in_p.get::<AgentInstance>(instance.id).await.expect("get");
    assert!(gone.is_none());
}

/// Workflow: a changed definition is saved as the next version and the old one stays
/// readable; versions only count up by one; deleting removes every version.
pub async fn workflow_versions_stay_readable(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "flows.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let v1 = definition(&["build", "test"]);
    let flow = Workflow::new(web.id, "CI", v1.clone());
    let flow = in_p.insert(flow.clone()).await.expect("workflow");
    assert_eq!(flow.version, 1);
    let v2 = definition(&["build", "test", "deploy"]);
    let updated = in_tenant!(db, tid(&p), |ttx| {
        workflow::set_definition(&ttx, admin(&p), flow.id, v2.clone()).await
    })
    .expect("new version");
    assert_eq!((updated.version, &updated.definition), (2, &v2));
    let (old, current, versions, listed) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            workflow::definition_at(&ttx, Actor::System, flow.id, 1).await?,
            workflow::definition_at(&ttx, Actor::System, flow.id, 2).await?,
            workflow::versions(&ttx, Actor::System, flow.id, &page_of(10))
                .await?
                .items,
            workflow::by_project(&ttx, Actor::System, web.id, &page_of(10))
                .await?
                .items,
        ))
    })
    .expect("read versions");
    assert_eq!(old.expect("v1 kept").definition, v1);
    assert_eq!(current.expect("v2").definition, v2);
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(listed, vec![updated.clone()]);

    // The same definition again is no new version.
    let same = in_tenant!(db, tid(&p), |ttx| {
        workflow::set_definition(&ttx, admin(&p), flow.id, v2.clone()).await
    })
    .expect("same definition");
    assert_eq!(same, updated);

    refused_versions_and_the_delete(db.as_ref(), &p, &flow, &updated).await;
}

/// A definition changed without counting up, or with two steps of one name, is refused; a
/// deleted workflow takes its versions with it.
async fn refused_versions_and_the_delete(
    db: &dyn KvBackend,
    p: &Provisioned,
    flow: &Workflow,
    updated: &Workflow,
) {
    let in_p = at(db, p);
    // A definition changed without counting up, or a skipped version, is refused.
    let mut sneaky = updated.clone();
    sneaky.definition = definition(&["yolo"]);
    let error = in_p
        .update(sneaky.clone())
        .await
        .expect_err("same version, new definition");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "version",
            ..
        }
    );
    let mut duplicate_steps = updated.clone();
    duplicate_steps.definition = definition(&["a", "a"]);
    duplicate_steps.version = 3;
    let error = in_p
        .update(duplicate_steps.clone())
        .await
        .expect_err("two steps with one name");
    assert_matches!(error, Error::InvalidInput { field: "steps", .. });

    in_p.delete::<Workflow>(flow.id).await.expect("delete");
    // The versions go with the workflow: none is left in the store, and asking for them is
    // asking about a workflow that does not exist.
    let (begin, end) = tid(p).range();
    let left = scan(db, &begin, &end)
        .await
        .into_iter()
        .filter(|(key, _)| {
            let elements: Vec<Element> = foundationdb_tuple::unpack(key).expect("a tuple");
            elements.get(1).and_then(|e| e.as_str()) == Some("workflow_version")
                && elements.get(2).and_then(|e| e.as_uuid()) == Some(&flow.id.uuid())
        })
        .count();
    assert_eq!(left, 0, "saved versions left after the delete");
    let error = in_tenant!(db, tid(p), |ttx| {
        workflow::versions(&ttx, Actor::System, flow.id, &page_of(10)).await
    })
    .expect_err("versions of a deleted workflow");
    assert_matches!(error, Error::NotFound { .. });
}

/// Conversation and Message: messages list in order by conversation; the message count is
/// exact although appends run concurrently (all begun before any commits, all commit: no
/// conflict); only an Active conversation takes messages; one with messages is soft-deleted.
pub async fn conversation_messages_in_order_and_counted_exactly(h: &dyn Harness) {
    const APPENDS: usize = 8;
    let (db, p) = tenant_of(h, "chat.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let chat = in_p
        .insert(Conversation::new(p.admin_member.id, "Planning"))
        .await
        .expect("conversation");
    let first = in_p
        .insert(Message::new(
            chat.id,
            p.admin_member.id,
            MessageRole::User,
            "hello",
        ))
        .await
        .expect("first message");
    let mut txs = Vec::new();
    for _ in 0..APPENDS {
        txs.push(db.begin().await.expect("begin"));
    }
    let mut sent = vec![first.id];
    for (i, tx) in txs.iter().enumerate() {
        let ttx = TenantTx::open(tx.as_ref(), tid(&p)).await.expect("open");
        let m = record::insert(
            &ttx,
            admin(&p),
            Message::new(
                chat.id,
                p.admin_member.id,
                MessageRole::Assistant,
                format!("m{i}"),
            ),
        )
        .await
        .expect("append");
        sent.push(m.id);
    }
    for tx in txs {
        tx.commit()
            .await
            .expect("concurrent appends do not conflict");
    }
    let (count, listed, mine) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            conversation::message_count(&ttx, Actor::System, chat.id).await?,
            message::by_conversation(&ttx, Actor::System, chat.id, &page_of(100))
                .await?
                .items,
            conversation::by_member(&ttx, Actor::System, p.admin_member.id, &page_of(10))
                .await?
                .items,
        ))
    })
    .expect("read");
    assert_eq!(count, APPENDS as i64 + 1);
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        sent,
        "creation order"
    );
    assert_eq!(mine, vec![chat.clone()]);

    an_archived_conversation_takes_no_message(db.as_ref(), &p, &chat).await;
}

/// An archived conversation takes no more messages; one with messages is not deleted; an
/// empty message is refused.
async fn an_archived_conversation_takes_no_message(
    db: &dyn KvBackend,
    p: &Provisioned,
    chat: &Conversation,
) {
    let in_p = at(db, p);
    let mut archived = chat.clone();
    archived.status = ConversationStatus::Archived;
    in_p.update(archived.clone()).await.expect("archive");
    let error = in_p
        .insert(Message::new(
            chat.id,
            p.admin_member.id,
            MessageRole::User,
            "late",
        ))
        .await
        .expect_err("archived");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "conversation",
            ..
        }
    );
    let error = in_p
        .delete::<Conversation>(chat.id)
        .await
        .expect_err("has messages");
    assert_still_referenced(&error, "conversation", "message", "conversation");
    let empty = in_p
        .insert(Message::new(
            chat.id,
            p.admin_member.id,
            MessageRole::User,
            "",
        ))
        .await
        .expect_err("empty content");
    assert_matches!(empty, Error::InvalidInput { .. });
}

/// Role and RoleAssignment: the built-in roles exist and are editable; names are unique; an
/// assignment is unique per (member, entity, role), listed by member and by entity; an
/// assigned role cannot be deleted.
pub async fn roles_and_assignments(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "roles.test", Plan::Professional).await;
    built_in_roles_are_editable(db.as_ref(), &p).await;
    a_custom_role_is_assigned_once(db.as_ref(), &p).await;
    what_a_role_is_assigned_at_stays(db.as_ref(), &p).await;
}

/// The built-in roles exist, are editable per tenant, and their names are taken.
async fn built_in_roles_are_editable(db: &dyn KvBackend, p: &Provisioned) {
    let in_p = at(db, p);
    let names = in_tenant!(db, tid(p), |ttx| {
        let mut names = Vec::new();
        for name in role::BUILT_IN {
            let found = role::by_name(&ttx, Actor::System, name)
                .await?
                .expect("built in");
            assert!(found.built_in);
            names.push(found.name);
        }
        Ok::<_, Error>(names)
    })
    .expect("built-in roles");
    assert_eq!(names, role::BUILT_IN);
    // Editable per tenant: viewers here may also comment.
    in_tenant!(db, tid(p), |ttx| {
        let mut viewer = role::by_name(&ttx, Actor::System, "viewer")
            .await?
            .expect("viewer");
        viewer
            .permissions
            .insert(Permission::new(Action::Create, ResourceKind::Comment));
        let viewer = record::update(&ttx, admin(p), viewer).await?;
        assert!(viewer.grants(Action::Create, ResourceKind::Comment));
        assert!(!viewer.grants(Action::Delete, ResourceKind::Comment));
        Ok::<_, Error>(())
    })
    .expect("edit");
    let error = in_p
        .insert(role::Role::new("viewer", []))
        .await
        .expect_err("duplicate");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "role",
            field: "name"
        }
    );
}

/// A custom role is assigned once per (member, entity, role), listed by member and by
/// entity, and not deleted while assigned.
async fn a_custom_role_is_assigned_once(db: &dyn KvBackend, p: &Provisioned) {
    let in_p = at(db, p);
    let auditor = in_p
        .insert(role::Role::new(
            "auditor",
            [Permission::new(Action::Read, ResourceKind::AuditEvent)],
        ))
        .await
        .expect("custom role");
    let assign = || RoleAssignment::new(p.admin_member.id, auditor.id, p.root.id);
    let assignment = in_p.insert(assign()).await.expect("assign");
    let error = in_p.insert(assign()).await.expect_err("twice");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "role assignment",
            ..
        }
    );
    let (by_member, by_entity) = in_tenant!(db, tid(p), |ttx| {
        Ok::<_, Error>((
            role_assignment::by_member(&ttx, Actor::System, p.admin_member.id, &page_of(10))
                .await?
                .items,
            role_assignment::by_entity(&ttx, Actor::System, p.root.id, &page_of(10))
                .await?
                .items,
        ))
    })
    .expect("lookups");
    assert_eq!(by_member, vec![assignment.clone()]);
    assert_eq!(by_entity, vec![assignment.clone()]);
    let error = in_p
        .delete::<role::Role>(auditor.id)
        .await
        .expect_err("assigned");
    assert_still_referenced(&error, "role", "role_assignment", "role");
    in_tenant!(db, tid(p), |ttx| {
        record::delete::<RoleAssignment>(&ttx, admin(p), assignment.id).await?;
        record::delete::<role::Role>(&ttx, admin(p), auditor.id).await
    })
    .expect("unassign and delete");
}

/// An entity where a role is assigned, and a member holding one, are not deleted under it.
async fn what_a_role_is_assigned_at_stays(db: &dyn KvBackend, p: &Provisioned) {
    let in_p = at(db, p);
    // An entity where a role is assigned, and a member holding one, are not deleted under it.
    let config = agent_config_in(db, p, "helper").await;
    let (division, helper) = in_tenant!(db, tid(p), |ttx| {
        let division = Entity::new("DIV", "Division", EntityKind::Division, Some(p.root.id));
        let division = record::insert(&ttx, admin(p), division).await?;
        let helper = Member::new(MemberKind::Agent(config), "Helper");
        let helper = record::insert(&ttx, admin(p), helper).await?;
        Ok::<_, Error>((division, helper))
    })
    .expect("division and helper");
    let held = grant(db, p, helper.id, "viewer", division.id).await;
    let error = in_p
        .delete::<Entity>(division.id)
        .await
        .expect_err("assigned at it");
    assert_still_referenced(&error, "entity", "role_assignment", "entity");
    let error = in_p
        .delete::<Member>(helper.id)
        .await
        .expect_err("holds a role");
    assert_still_referenced(&error, "member", "role_assignment", "member");
    in_tenant!(db, tid(p), |ttx| {
        record::delete::<RoleAssignment>(&ttx, admin(p), held.id).await?;
        record::delete::<Member>(&ttx, admin(p), helper.id).await?;
        record::delete::<Entity>(&ttx, admin(p), division.id).await
    })
    .expect("unassigned, both go");
}

/// Session: authenticated until it expires or is revoked; a revoked session stays revoked.
pub async fn sessions_expire_and_are_revoked(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "sessions.test", Plan::Professional).await;
    let now = 1_800_000_000_000;
    let (session, token) = Session::generate(p.admin_member.id, now + 60_000);
    assert!(token.starts_with(session::TOKEN_PREFIX) && token.len() > 60);
    let s = in_tenant!(db, tid(&p), |ttx| {
        record::insert(&ttx, Actor::System, session).await
    })
    .expect("session");
    let token = &token;
    let ok = in_tenant!(db, tid(&p), |ttx| {
        session::authenticate(&ttx, token, now).await
    })
    .expect("valid");
    assert_eq!(ok, Principal::with_session(p.admin_member.id, s.id));
    // The id is not the token.
    let by_id = in_tenant!(db, tid(&p), |ttx| {
        session::authenticate(&ttx, &s.id.to_string(), now).await
    })
    .expect_err("an id is no token");
    assert_matches!(by_id, Error::Unauthenticated { .. });
    let expired = in_tenant!(db, tid(&p), |ttx| {
        session::authenticate(&ttx, token, now + 60_000).await
    })
    .expect_err("expired");
    assert_matches!(expired, Error::Unauthenticated { .. });
    let unknown = in_tenant!(db, tid(&p), |ttx| {
        session::authenticate(&ttx, &format!("{token}x"), now).await
    })
    .expect_err("unknown");
    assert_matches!(unknown, Error::Unauthenticated { .. });
    let revoked = in_tenant!(db, tid(&p), |ttx| {
        session::revoke(&ttx, admin(&p), s.id).await
    })
    .expect("revoke");
    assert!(revoked.revoked_at_ms.is_some());
    let error = in_tenant!(db, tid(&p), |ttx| {
        session::authenticate(&ttx, token, now).await
    })
    .expect_err("revoked");
    assert_matches!(error, Error::Unauthenticated { .. });
    let mut unrevoked = revoked.clone();
    unrevoked.revoked_at_ms = None;
    let error = at(db.as_ref(), &p)
        .update(unrevoked.clone())
        .await
        .expect_err("stays revoked");
    assert_matches!(error, Error::InvalidInput { .. });
    let listed = in_tenant!(db, tid(&p), |ttx| {
        session::by_member(&ttx, Actor::System, p.admin_member.id, &page_of(10)).await
    })
    .expect("by member");
    assert_eq!(listed.items, vec![revoked]);
}

/// ApiKey: the secret is returned once and stored nowhere (no stored byte string holds it);
/// the key is found by the secret's SHA-256; wrong, expired and revoked keys are refused.
pub async fn api_keys_are_found_by_hash_only(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "keys.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let (key, secret) = ApiKey::generate(p.admin_member.id, "CI");
    assert!(secret.starts_with(api_key::SECRET_PREFIX) && secret.len() > 60);
    let key = in_p.insert(key.clone()).await.expect("key");
    let (begin, end) = tid(&p).range();
    for (k, v) in scan(db.as_ref(), &begin, &end).await {
        for bytes in [&k, &v] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is stored"
            );
        }
    }
    let now = 1_800_000_000_000;
    let found = in_tenant!(db, tid(&p), |ttx| {
        api_key::authenticate(&ttx, &secret, now).await
    })
    .expect("by secret");
    assert_eq!(found, Principal::with_api_key(key.member, key.id));
    let error = in_tenant!(db, tid(&p), |ttx| {
        api_key::authenticate(&ttx, &format!("{secret}x"), now).await
    })
    .expect_err("wrong secret");
    assert_matches!(error, Error::Unauthenticated { .. });

    let (mut expiring, expiring_secret) = ApiKey::generate(p.admin_member.id, "short");
    expiring.expires_at_ms = Some(now);
    in_p.insert(expiring.clone()).await.expect("expiring key");
    let error = in_tenant!(db, tid(&p), |ttx| {
        api_key::authenticate(&ttx, &expiring_secret, now).await
    })
    .expect_err("expired");
    assert_matches!(error, Error::Unauthenticated { .. });
    in_tenant!(db, tid(&p), |ttx| {
        api_key::revoke(&ttx, admin(&p), key.id).await
    })
    .expect("revoke");
    let error = in_tenant!(db, tid(&p), |ttx| {
        api_key::authenticate(&ttx, &secret, now).await
    })
    .expect_err("revoked");
    assert_matches!(error, Error::Unauthenticated { .. });
    let listed = in_tenant!(db, tid(&p), |ttx| {
        api_key::by_member(&ttx, Actor::System, p.admin_member.id, &page_of(10)).await
    })
    .expect("by member");
    assert_eq!(listed.items.len(), 2);
}

/// AuditEvent, read-only: listed in commit order, by actor and by target; reading them
/// through the checked API needs the right; no write reaches them.
pub async fn audit_events_by_actor_and_target(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "auditreads.test", Plan::Professional).await;
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let config = agent_config_in(db.as_ref(), &p, "bot").await;
    let bot = agent_member_in(db.as_ref(), &p, config, "Bot").await;
    grant(db.as_ref(), &p, bot.id, "contributor", p.root.id).await;
    let task = in_tenant!(db, tid(&p), |ttx| {
        record::insert(
            &ttx,
            Actor::Member(bot.id),
            Task::new(web.id, "By the bot", bot.id),
        )
        .await
    })
    .expect("task by bot");
    let (everything, by_bot, about_task, system) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            audit_event::list(&ttx, Actor::System, &page_of(1000))
                .await?
                .items,
            audit_event::by_actor(&ttx, Actor::System, Actor::Member(bot.id), &page_of(10))
                .await?
                .items,
            audit_event::by_target(&ttx, Actor::System, "task", task.id.uuid(), &page_of(10))
                .await?
                .items,
            audit_event::by_actor(&ttx, Actor::System, Actor::System, &page_of(2)).await?,
        ))
    })
    .expect("reads");
    assert_eq!(everything, all_audit(db.as_ref(), tid(&p)).await);
    assert_eq!(by_bot.len(), 1);
    assert_eq!(by_bot[0].record_id, task.id.uuid());
    assert_eq!(about_task, by_bot);
    assert_eq!(system.items.len(), 2);
    assert!(system.next.is_some(), "more system events follow");
    // The bot (contributor: reads everything) may read them; a member without roles may not.
    let nobody = agent_member_in(db.as_ref(), &p, config, "Nobody").await;
    in_tenant!(db, tid(&p), |ttx| {
        audit_event::list(&ttx, Actor::Member(bot.id), &page_of(5)).await
    })
    .expect("contributor reads");
    let error = in_tenant!(db, tid(&p), |ttx| {
        audit_event::list(&ttx, Actor::Member(nobody.id), &page_of(5)).await
    })
    .expect_err("no role");
    assert_matches!(
        error,
        Error::Forbidden {
            action: Action::Read,
            model: "audit event",
            ..
        }
    );
}

/// Usage: concurrent recorders (all begun before any commits) never conflict and the
/// per-tenant counters stay exact; by (metric, day), daily series and totals; updates and
/// deletes move the counters.
pub async fn usage_counters_are_exact_under_concurrent_recorders(h: &dyn Harness) {
    const RECORDERS: i64 = 8;
    let (db, p) = tenant_of(h, "usage.test", Plan::Professional).await;
    let day = usage::day_of_ms(1_800_000_000_000);
    let mut txs = Vec::new();
    for _ in 0..RECORDERS {
        txs.push(db.begin().await.expect("begin"));
    }
    for (i, tx) in txs.iter().enumerate() {
        let ttx = TenantTx::open(tx.as_ref(), tid(&p)).await.expect("open");
        let mut u = Usage::new("tokens", day + (i as i64 % 2), 100, 7);
        u.member = Some(p.admin_member.id);
        record::insert(&ttx, admin(&p), u).await.expect("record");
    }
    for tx in txs {
        tx.commit().await.expect("recorders do not conflict");
    }
    let (first_day, total, series, listed) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            usage::day_totals(&ttx, Actor::System, "tokens", day).await?,
            usage::metric_totals(&ttx, Actor::System, "tokens").await?,
            usage::series(&ttx, Actor::System, "tokens", day - 1, day + 1).await?,
            usage::by_metric_day(&ttx, Actor::System, "tokens", day, &page_of(100))
                .await?
                .items,
        ))
    })
    .expect("read");
    assert_eq!((first_day.quantity, first_day.cost_micros), (400, 28));
    assert_eq!((total.quantity, total.cost_micros), (800, 56));
    assert_eq!(
        series
            .iter()
            .map(|(d, t)| (*d, t.quantity))
            .collect::<Vec<_>>(),
        [(day - 1, 0), (day, 400), (day + 1, 400)]
    );
    assert_eq!(listed.len(), 4);
    let mut corrected = listed[0].clone();
    corrected.quantity = 50;
    in_tenant!(db, tid(&p), |ttx| {
        record::update(&ttx, admin(&p), corrected.clone()).await?;
        record::delete::<Usage>(&ttx, admin(&p), listed[1].id).await
    })
    .expect("correct and delete");
    let total = in_tenant!(db, tid(&p), |ttx| {
        usage::metric_totals(&ttx, Actor::System, "tokens").await
    })
    .expect("total");
    assert_eq!(
        (total.quantity, total.cost_micros),
        (800 - 50 - 100, 56 - 7)
    );
    let error = at(db.as_ref(), &p)
        .insert(Usage::new("tokens", day, -1, 0))
        .await
        .expect_err("negative");
    assert_matches!(
        error,
        Error::InvalidInput {
            field: "quantity",
            ..
        }
    );
    let error = in_tenant!(db, tid(&p), |ttx| {
        usage::series(&ttx, Actor::System, "tokens", day, day + 400).await
    })
    .expect_err("too long");
    assert_matches!(error, Error::InvalidInput { .. });
}

/// Setting: the same name at the tenant, an entity and a member are three settings, each
/// found by (scope, name); unique per scope; typed values; the scope must exist.
pub async fn settings_by_scope_and_name(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "settings.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let scopes = [
        SettingScope::Tenant,
        SettingScope::Entity(p.root.id),
        SettingScope::Member(p.admin_member.id),
    ];
    let values = [
        TypedValue::Bool(true),
        TypedValue::Int(42),
        TypedValue::Text("dark".into()),
    ];
    let mut made = Vec::new();
    for (scope, value) in scopes.iter().zip(values.iter()) {
        let s = Setting::new(*scope, "ui.theme", value.clone());
        made.push(in_p.insert(s.clone()).await.expect("setting"));
    }
    for (scope, expected) in scopes.iter().zip(made.iter()) {
        let found = in_tenant!(db, tid(&p), |ttx| {
            setting::get(&ttx, Actor::System, *scope, "ui.theme").await
        })
        .expect("get");
        assert_eq!(found.as_ref(), Some(expected));
        let listed = in_tenant!(db, tid(&p), |ttx| {
            setting::at_scope(&ttx, Actor::System, *scope, &page_of(10)).await
        })
        .expect("at scope");
        assert_eq!(listed.items, vec![expected.clone()]);
    }
    let error = in_p
        .insert(Setting::new(
            SettingScope::Tenant,
            "ui.theme",
            TypedValue::Int(1),
        ))
        .await
        .expect_err("duplicate");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "setting",
            field: "name"
        }
    );
    let error = in_p
        .insert(Setting::new(
            SettingScope::Member(MemberId::generate()),
            "x",
            TypedValue::Int(1),
        ))
        .await
        .expect_err("unknown member");
    assert_matches!(error, Error::InvalidReference { field: "scope", .. });
    let error = in_p
        .insert(Setting::new(
            SettingScope::Tenant,
            "bad name",
            TypedValue::Int(1),
        ))
        .await
        .expect_err("bad name");
    assert_matches!(error, Error::InvalidInput { field: "name", .. });
    let mut changed = made[1].clone();
    changed.value = TypedValue::List(vec!["a".into(), "b".into()]);
    in_p.update(changed.clone()).await.expect("update");
    let found = in_tenant!(db, tid(&p), |ttx| {
        setting::get(&ttx, Actor::System, scopes[1], "ui.theme").await
    })
    .expect("get");
    assert_eq!(found.map(|s| s.value), Some(changed.value));
}

/// A record's own counter (what other records count into it) goes with the record (a guard:
/// the conversation's `before_delete` clears it today): after a
/// conversation's messages and then the conversation are deleted, no zero counter stays
/// behind in the tenant's keyspace.
pub async fn a_deleted_record_leaves_no_zero_counter(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "zero.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let chat = in_p
        .insert(Conversation::new(p.admin_member.id, "Short"))
        .await
        .expect("conversation");
    let said = in_p
        .insert(Message::new(
            chat.id,
            p.admin_member.id,
            MessageRole::User,
            "bye",
        ))
        .await
        .expect("message");
    in_p.delete::<Message>(said.id)
        .await
        .expect("delete message");
    in_p.delete::<Conversation>(chat.id)
        .await
        .expect("delete conversation");
    let prefix = tid(&p).prefix();
    let counters = [
        &prefix[..],
        &foundationdb_tuple::pack(&("meta", "record_count")),
    ]
    .concat();
    let end = coditect_core::keys::prefix_range_end(&counters).expect("end");
    let tx = db.begin().await.expect("begin");
    let left = tx
        .get_range(&counters, &end, coditect_core::RangeOptions::default())
        .await
        .expect("range");
    assert!(left.kvs.is_empty(), "counters left behind: {:?}", left.kvs);
}
