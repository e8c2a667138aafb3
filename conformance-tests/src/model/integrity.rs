//! Integrity of the model layer: references stay valid (a record others refer to is not
//! deleted), sizes are checked in bytes before anything is written, and a refused model
//! operation leaves nothing in its transaction. Run on every backend through `model_suite!`.

use coditect_core::ids::RecordId;
use coditect_core::ids::{AgentConfigId, ConversationId, ProjectId};
use coditect_core::model::role::Role as RbacRole;
use coditect_core::model::UserRole;
use coditect_core::model::{
    task, user, AgentExecution, AgentInstance, ApiKey, Conversation, Message, MessageRole, Session,
    Setting, SettingScope, Step, TypedValue, Usage, Workflow, WorkflowDefinition,
};
use coditect_core::record::Model;
use coditect_core::{Referrer, MAX_REFERRERS};

use super::*;

/// What the cases share in one tenant: records the fresh targets and referrers need.
struct Base {
    p: Provisioned,
    project: ProjectId,
    task: TaskId,
    config: AgentConfigId,
    instance: coditect_core::ids::AgentInstanceId,
    conversation: ConversationId,
    viewer: coditect_core::ids::RoleId,
}

impl Base {
    async fn new(db: &dyn KvBackend, domain: &str) -> Base {
        let p = provisioned(db, domain, Plan::Enterprise).await;
        let (root, owner) = (p.root.id, p.admin_member.id);
        let made = in_tenant!(db, tid(&p), |ttx| {
            let by = admin(&p);
            let project = Project::new("BASE", "Base", root, owner);
            let project = record::insert(&ttx, by, project).await?.id;
            let task = record::insert(&ttx, by, Task::new(project, "Base", owner))
                .await?
                .id;
            let config = AgentConfig::new("base", AgentType::Coder, "anthropic", "claude");
            let config = record::insert(&ttx, by, config).await?.id;
            let instance = AgentInstance::new(config, "eu-1");
            let instance = record::insert(&ttx, by, instance).await?.id;
            let chat = Conversation::new(owner, "Base");
            let chat = record::insert(&ttx, by, chat).await?.id;
            let viewer = role::by_name(&ttx, Actor::System, "viewer")
                .await?
                .expect("built-in role")
                .id;
            Ok::<_, Error>((project, task, config, instance, chat, viewer))
        })
        .expect("base");
        let (project, task, config, instance, conversation, viewer) = made;
        Base {
            p,
            project,
            task,
            config,
            instance,
            conversation,
            viewer,
        }
    }

    fn admin(&self) -> MemberId {
        self.p.admin_member.id
    }

    fn member(&self, name: &str) -> Member {
        Member::new(MemberKind::Agent(self.config), name)
    }

    fn task(&self, title: &str) -> Task {
        Task::new(self.project, title, self.admin())
    }

    fn project(&self, code: &str) -> Project {
        Project::new(code, "Fresh", self.p.root.id, self.admin())
    }

    fn entity(&self, code: &str) -> Entity {
        Entity::new(code, "Fresh", EntityKind::Division, Some(self.p.root.id))
    }
}

/// Every row of the tenant's range, committed.
async fn tenant_rows(db: &dyn KvBackend, tenant: TenantId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let (begin, end) = tenant.range();
    scan(db, &begin, &end).await
}

/// `target` is created, then `referrer` pointing at it by `collection.field`. Deleting the
/// target is refused with `StillReferenced` naming the referrer, and the refused delete
/// (in a transaction committed anyway) changed nothing; once the referrer is deleted, the
/// target is too.
async fn refused_while_referenced<T: Model + std::fmt::Debug, R: Model>(
    db: &dyn KvBackend,
    base: &Base,
    target: T,
    referrer: impl FnOnce(&T) -> R,
    collection: &str,
    field: &str,
) {
    let p = &base.p;
    let row = format!("{collection}.{field} -> {}", T::WHAT);
    let target = at(db, p)
        .insert(target)
        .await
        .unwrap_or_else(|e| panic!("{row}: the target: {e:?}"));
    let referrer = referrer(&target);
    let referrer = at(db, p)
        .insert(referrer)
        .await
        .unwrap_or_else(|e| panic!("{row}: the referrer: {e:?}"));
    let before = tenant_rows(db, tid(p)).await;
    let result = in_tenant_committed!(db, tid(p), |ttx| record::delete::<T>(
        &ttx,
        admin(p),
        target.id()
    )
    .await);
    let named = Referrer {
        collection: collection.into(),
        field: field.into(),
        id: referrer.id().uuid(),
    };
    match &result {
        Err(Error::StillReferenced { model, id, by, .. })
            if *model == T::WHAT && *id == target.id().uuid() && by.contains(&named) =>
        {
            let message = result.as_ref().expect_err("refused").to_string();
            assert!(
                message.contains(&named.to_string()),
                "{row}: the message names the referrer: {message}"
            );
        }
        other => panic!("{row}: {other:?}"),
    }
    assert!(
        tenant_rows(db, tid(p)).await == before,
        "{row}: the refused delete changed nothing"
    );
    in_tenant!(db, tid(p), |ttx| {
        record::delete::<R>(&ttx, admin(p), referrer.id()).await?;
        record::delete::<T>(&ttx, admin(p), target.id()).await
    })
    .unwrap_or_else(|e| panic!("{row}: once the referrer is gone: {e:?}"));
}

/// For every reference of every model: deleting the record referred to is refused with
/// `StillReferenced` naming the referrer and changes nothing; after the referrer is
/// deleted, the delete succeeds.
pub async fn every_reference_refuses_the_delete_of_its_target(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let b = Base::new(db, "references.integrity.test").await;
    let b = &b;
    let (me, far) = (b.admin(), i64::MAX / 2);
    let text = |s: &str| TypedValue::Text(s.into());
    macro_rules! row {
        ($target:expr, |$t:ident| $referrer:expr, $collection:literal . $field:literal) => {
            refused_while_referenced(db, b, $target, |$t| $referrer, $collection, $field).await
        };
    }
    row!(AgentInstance::new(b.config, "eu-2"), |t| AgentExecution::new(t.id, None), "agent_execution"."instance");
    row!(b.task("run me"), |t| AgentExecution::new(b.instance, Some(t.id)), "agent_execution"."task");
    row!(AgentConfig::new("c1", AgentType::Coder, "anthropic", "claude"), |t| AgentInstance::new(t.id, "eu"), "agent_instance"."config");
    row!(b.member("k"), |t| ApiKey::generate(t.id, "key").0, "api_key"."member");
    row!(b.task("commented"), |t| Comment::new(t.id, me, "hi"), "comment"."task");
    row!(b.member("author"), |t| Comment::new(b.task, t.id, "hi"), "comment"."author");
    row!(b.member("chatter"), |t| Conversation::new(t.id, "c"), "conversation"."member");
    row!(b.project("CONV"), |t| {
        let mut c = Conversation::new(me, "c");
        c.project = Some(t.id);
        c
    }, "conversation"."project");
    row!(b.entity("PARENT"), |t| Entity::new("CHILD", "Child", EntityKind::Team, Some(t.id)), "entity"."parent");
    row!(b.project("FILES"), |t| File::new(t.id, "/a.md", 1, [0; 32], "s3://a"), "file"."project");
    row!(User::new("human@acme.test", "Human", UserRole::Developer), |t| Member::new(MemberKind::Human(t.id), "Human"), "member"."user");
    row!(AgentConfig::new("c2", AgentType::Coder, "anthropic", "claude"), |t| Member::new(MemberKind::Agent(t.id), "Bot"), "member"."agent");
    row!(Conversation::new(me, "talk"), |t| Message::new(t.id, me, MessageRole::User, "hi"), "message"."conversation");
    row!(b.member("writer"), |t| Message::new(b.conversation, t.id, MessageRole::User, "hi"), "message"."author");
    row!(b.entity("HOLDS"), |t| Project::new("HELD", "Held", t.id, me), "project"."entity");
    row!(b.member("owner"), |t| Project::new("OWNED", "Owned", b.p.root.id, t.id), "project"."owner");
    row!(b.member("granted"), |t| RoleAssignment::new(t.id, b.viewer, b.p.root.id), "role_assignment"."member");
    row!(RbacRole::new("fresh", []), |t| RoleAssignment::new(me, t.id, b.p.root.id), "role_assignment"."role");
    row!(b.entity("GRANTS"), |t| RoleAssignment::new(me, b.viewer, t.id), "role_assignment"."entity");
    row!(b.member("logged-in"), |t| Session::generate(t.id, far).0, "session"."member");
    row!(b.entity("SET"), |t| Setting::new(SettingScope::Entity(t.id), "theme", text("dark")), "setting"."scope");
    row!(b.member("personal"), |t| Setting::new(SettingScope::Member(t.id), "theme", text("dark")), "setting"."scope");
    row!(b.project("TASKS"), |t| Task::new(t.id, "t", me), "task"."project");
    row!(b.member("reporter"), |t| Task::new(b.project, "t", t.id), "task"."reporter");
    row!(b.member("assignee"), |t| {
        let mut x = b.task("assigned");
        x.assignee = Some(t.id);
        x
    }, "task"."assignee");
    row!(b.task("parent"), |t| {
        let mut x = b.task("child");
        x.parent = Some(t.id);
        x
    }, "task"."parent");
    row!(b.member("user of"), |t| {
        let mut u = Usage::new("tokens", 20_000, 1, 0);
        u.member = Some(t.id);
        u
    }, "usage"."member");
    row!(b.project("FLOW"), |t| Workflow::new(t.id, "w", steps(1, "go", None)), "workflow"."project");
    row!(AgentConfig::new("c3", AgentType::Coder, "anthropic", "claude"), |t| Workflow::new(b.project, "w2", steps(1, "go", Some(t.id))), "workflow"."steps");
}

/// A definition of `n` steps, each with `instruction`, run by `agent`.
fn steps(n: usize, instruction: &str, agent: Option<AgentConfigId>) -> WorkflowDefinition {
    WorkflowDefinition {
        steps: (0..n)
            .map(|i| Step {
                name: format!("step {i}"),
                instruction: instruction.into(),
                agent,
            })
            .collect(),
        triggers: Vec::new(),
    }
}

/// A record referred to by many is refused naming the first few, and says there are more.
pub async fn still_referenced_names_the_first_few(h: &dyn Harness) {
    let db = h.backend();
    let b = Base::new(db.as_ref(), "many.integrity.test").await;
    let p = &b.p;
    let reporter = in_tenant!(db.as_ref(), tid(p), |ttx| {
        let m = record::insert(&ttx, admin(p), b.member("busy")).await?;
        for i in 0..MAX_REFERRERS + 2 {
            record::insert(&ttx, admin(p), Task::new(b.project, format!("t{i}"), m.id)).await?;
        }
        Ok::<_, Error>(m)
    })
    .expect("busy reporter");
    let error = at(db.as_ref(), p)
        .delete::<Member>(reporter.id)
        .await
        .expect_err("reports tasks");
    match &error {
        Error::StillReferenced { by, more, .. } => {
            assert_eq!(by.len(), MAX_REFERRERS, "{error}");
            assert!(*more, "{error}");
            assert!(by
                .iter()
                .all(|r| r.collection == "task" && r.field == "reporter"));
            assert!(error.to_string().contains("and more"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

/// A multi-byte text of `bytes` bytes or just over (`é` is 2 bytes, so half as many
/// characters): over a byte cap while under the same number of characters.
fn wide(bytes: usize) -> String {
    "é".repeat(bytes / 2 + 1)
}

/// `record` is refused by insert with `TooLarge` naming `model.field`, and the transaction,
/// committed anyway, wrote nothing.
async fn refused_as_too_large<M: Model + std::fmt::Debug>(
    db: &dyn KvBackend,
    base: &Base,
    record: M,
    field: &str,
) {
    let p = &base.p;
    let before = tenant_rows(db, tid(p)).await;
    let result = in_tenant_committed!(db, tid(p), |ttx| record::insert(&ttx, admin(p), record)
        .await);
    assert_too_large::<M, _>(&result, field);
    assert!(
        tenant_rows(db, tid(p)).await == before,
        "{}.{field}: the refused insert wrote nothing",
        M::WHAT
    );
}

fn assert_too_large<M: Model, T: std::fmt::Debug>(result: &Result<T>, field: &str) {
    match result {
        Err(Error::TooLarge {
            model,
            field: f,
            size,
            limit,
        }) if *model == M::WHAT && *f == field && size > limit => {}
        other => panic!("{}.{field}: {other:?}", M::WHAT),
    }
}

/// For every model with a field that can be too large: a record over a field's byte cap
/// (multi-byte text under the same count of characters), or too large to store at all, is
/// refused with `TooLarge` naming model and field before anything is written.
pub async fn oversize_fields_are_refused_naming_model_and_field(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let b = Base::new(db, "sizes.integrity.test").await;
    let b = &b;
    let me = b.admin();
    let big = |n: usize| TypedValue::Text("x".repeat(n));
    let map = |n: usize| (0..n).map(|i| (format!("k{i}"), big(10_000))).collect();

    let mut t = b.task("title");
    t.title = wide(500);
    refused_as_too_large(db, b, t, "title").await;
    let mut t = b.task("emoji");
    // 12,501 characters, 50,004 bytes: under the cap in characters, over it in bytes.
    t.description = "😀".repeat(12_501);
    refused_as_too_large(db, b, t, "description").await;
    refused_as_too_large(db, b, Comment::new(b.task, me, wide(20_000)), "body").await;
    let long = "x".repeat(coditect_core::model::message::MAX_CONTENT_BYTES + 1);
    let m = Message::new(b.conversation, me, MessageRole::User, long);
    refused_as_too_large(db, b, m, "content").await;
    let mut pr = b.project("BIGDESC");
    pr.description = wide(10_000);
    refused_as_too_large(db, b, pr, "description").await;
    refused_as_too_large(db, b, b.member(&wide(200)), "display_name").await;
    let u = User::new("wide@acme.test", wide(200), UserRole::Developer);
    refused_as_too_large(db, b, u, "name").await;
    refused_as_too_large(
        db,
        b,
        Entity::new("W", wide(200), EntityKind::Division, Some(b.p.root.id)),
        "name",
    )
    .await;
    refused_as_too_large(db, b, Conversation::new(me, wide(500)), "title").await;
    let f = File::new(b.project, "/f", 1, [0; 32], wide(2_048));
    refused_as_too_large(db, b, f, "storage_location").await;
    let (mut s, _) = Session::generate(me, i64::MAX / 2);
    s.user_agent = wide(500);
    refused_as_too_large(db, b, s, "user_agent").await;
    refused_as_too_large(db, b, ApiKey::generate(me, wide(200)).0, "name").await;
    refused_as_too_large(db, b, AgentInstance::new(b.config, wide(200)), "location").await;
    let mut r = RbacRole::new("wide", []);
    r.description = wide(1_000);
    refused_as_too_large(db, b, r, "description").await;

    // Each field within its cap, the record too large to store: its largest field is named.
    let w = Workflow::new(b.project, "huge", steps(100, &"x".repeat(9_999), None));
    refused_as_too_large(db, b, w, "definition").await;
    let list = TypedValue::List(vec!["x".repeat(10_000); 11]);
    refused_as_too_large(
        db,
        b,
        Setting::new(SettingScope::Tenant, "list", list),
        "value",
    )
    .await;
    let mut c = AgentConfig::new("heavy", AgentType::Coder, "anthropic", "claude");
    c.settings = map(11);
    refused_as_too_large(db, b, c, "settings").await;
    let mut e = AgentExecution::new(b.instance, None);
    e.inputs = map(11);
    refused_as_too_large(db, b, e, "inputs").await;

    // An update too large is refused the same way, and leaves the stored record as it was.
    let p = &b.p;
    let run = at(db, p)
        .insert(AgentExecution::new(b.instance, None))
        .await
        .expect("run");
    let mut grown = run.clone();
    grown.outputs = map(11);
    let before = tenant_rows(db, tid(p)).await;
    let result = in_tenant_committed!(db, tid(p), |ttx| record::update(&ttx, admin(p), grown)
        .await);
    assert_too_large::<AgentExecution, _>(&result, "outputs");
    assert!(
        tenant_rows(db, tid(p)).await == before,
        "the refused update wrote nothing"
    );
}

/// In one transaction: a task, a task with a description too large (its error ignored),
/// another task, committed. Only the two tasks are stored and indexed: every index entry
/// points at a record. And an update that moves a task to Done with a description too large
/// leaves it Todo in the Todo list only.
pub async fn a_refused_insert_leaves_no_index_entries(h: &dyn Harness) {
    let db = h.backend();
    let b = Base::new(db.as_ref(), "atomic.integrity.test").await;
    let p = &b.p;
    let project = at(db.as_ref(), p)
        .insert(b.project("ATOM"))
        .await
        .expect("project")
        .id;
    let (first, second) = in_tenant_committed!(db.as_ref(), tid(p), |ttx| {
        let first = record::insert(&ttx, admin(p), Task::new(project, "first", b.admin())).await?;
        let mut huge = Task::new(project, "huge", b.admin());
        // 50,000 characters of 4 bytes: within a cap counted in characters, 200,000 bytes.
        huge.description = "😀".repeat(50_000);
        // Only refused: which error is the oversize table's business.
        assert!(record::insert(&ttx, admin(p), huge).await.is_err());
        let second =
            record::insert(&ttx, admin(p), Task::new(project, "second", b.admin())).await?;
        Ok::<_, Error>((first, second))
    })
    .expect("two tasks");
    let (by_project, todo) = in_tenant!(db.as_ref(), tid(p), |ttx| {
        let page = PageRequest::first(100);
        let by_project = task::by_project(&ttx, admin(p), project, &page).await?;
        let todo = task::by_status(&ttx, admin(p), TaskStatus::Todo, &page).await?;
        Ok::<_, Error>((by_project.items, todo.items))
    })
    .expect("the indexes hold only stored records");
    assert_eq!(by_project, vec![first.clone(), second.clone()]);
    assert!(
        todo.contains(&first) && todo.contains(&second) && todo.len() == 3,
        "{todo:?}"
    );

    let mut done = first.clone();
    done.status = TaskStatus::Done;
    done.description = "😀".repeat(50_000);
    let refused = in_tenant_committed!(db.as_ref(), tid(p), |ttx| record::update(
        &ttx,
        admin(p),
        done
    )
    .await);
    assert!(refused.is_err(), "{refused:?}");
    let (stored, done) = in_tenant!(db.as_ref(), tid(p), |ttx| {
        let stored = record::require::<Task>(&ttx, admin(p), first.id).await?;
        let page = PageRequest::first(100);
        let done = task::by_status(&ttx, admin(p), TaskStatus::Done, &page).await?;
        Ok::<_, Error>((stored, done.items))
    })
    .expect("lists");
    assert_eq!(stored, first, "still Todo");
    assert!(done.is_empty(), "not listed under Done: {done:?}");
}

/// An email change refused as AlreadyExists (its error ignored, the transaction committed)
/// keeps the user findable by their email, and that email stays taken.
pub async fn a_refused_email_change_keeps_the_email_index(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "email.integrity.test", Plan::Enterprise).await;
    let (a, b) = in_tenant!(db.as_ref(), tid(&p), |ttx| {
        let a = User::new("a@acme.test", "A", UserRole::Developer);
        let a = record::insert(&ttx, admin(&p), a).await?;
        let b = User::new("b@acme.test", "B", UserRole::Developer);
        let b = record::insert(&ttx, admin(&p), b).await?;
        Ok::<_, Error>((a, b))
    })
    .expect("two users");
    let mut taken = a.clone();
    taken.email = b.email.clone();
    let refused = in_tenant_committed!(db.as_ref(), tid(&p), |ttx| record::update(
        &ttx,
        admin(&p),
        taken
    )
    .await);
    assert_matches!(refused, Err(Error::AlreadyExists { field: "email", .. }));
    let found = in_tenant!(db.as_ref(), tid(&p), |ttx| {
        user::by_email(&ttx, admin(&p), "a@acme.test").await
    })
    .expect("lookup");
    assert_eq!(found, Some(a), "still found by email");
    let again = User::new("a@acme.test", "Again", UserRole::Developer);
    let error = at(db.as_ref(), &p)
        .insert(again)
        .await
        .expect_err("the email is still taken");
    assert_matches!(error, Error::AlreadyExists { field: "email", .. });
}

/// A model of the tests' own with an index on a text no model caps: what reaches the
/// record layer's generic key-size check (every model of the crate caps its indexed fields
/// far below it).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Labelled {
    id: TaskId,
    label: String,
    stamps: coditect_core::record::Timestamps,
}

impl coditect_core::value::Versioned for Labelled {
    const WHAT: &'static str = "labelled";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait::async_trait]
impl Model for Labelled {
    const COLLECTION: &'static str = "labelled";
    const INDEXES: &'static [record::IndexDef<Self>] = &[record::IndexDef {
        name: "labelled_by_label",
        field: "label",
        unique: false,
        values: |l| Some(vec![keys::KeyPart::Str(l.label.clone())]),
    }];
    type Id = TaskId;
    const RESOURCE: coditect_core::rbac::ResourceKind = coditect_core::rbac::ResourceKind::Task;

    fn id(&self) -> TaskId {
        self.id
    }
    fn timestamps(&self) -> coditect_core::record::Timestamps {
        self.stamps
    }
    fn timestamps_mut(&mut self) -> &mut coditect_core::record::Timestamps {
        &mut self.stamps
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// An index value that would make its key pass the 10,000-byte key limit is refused with
/// `TooLarge` naming the index's field, before anything is written; one that fits is stored.
pub async fn an_index_value_too_large_for_a_key_is_refused_naming_its_field(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let b = Base::new(db, "keys.integrity.test").await;
    let labelled = |label: String| Labelled {
        id: TaskId::generate(),
        label,
        stamps: Default::default(),
    };
    refused_as_too_large(db, &b, labelled("x".repeat(10_000)), "label").await;
    let p = &b.p;
    at(db, p)
        .insert(labelled("x".repeat(9_000)))
        .await
        .expect("a key under the limit");
}
