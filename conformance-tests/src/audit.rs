//! The audit trail's cases: coverage (every mutating operation leaves exactly its events),
//! appends that never conflict, queries, sealing and verification, and tampering with the
//! stored bytes, over any backend.
//!
//! Tampering writes raw keys through a plain [`Transaction`](coditect_core::Transaction), as someone with database access
//! could: the record layer offers no way to touch an event.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coditect_core::audit::query::{self, AuditEntry, AuditQuery};
use coditect_core::audit::seal::{SealOptions, CHECKPOINT_EVERY};
use coditect_core::audit::{
    self, Actor, AuditAction, AuditPosition, Receipt, TamperKind, Verdict, VerifyOptions,
};
use coditect_core::ids::{MemberId, RecordId};
use coditect_core::keys::TenantId;
use coditect_core::model::{
    api_key, session, workflow, AgentConfig, AgentExecution, AgentInstance, AgentType, ApiKey,
    Conversation, Message, MessageRole, RoleAssignment, Session, Setting, SettingScope, TypedValue,
    Usage, Workflow,
};
use coditect_core::model::{
    comment, role, tenant, user, Comment, Entity, EntityKind, File, Member, MemberKind, Plan,
    Project, Task, TaskStatus, TenantStatus, User, UserRole,
};
use coditect_core::provision::{provision, NewTenant, Provisioned};
use coditect_core::rbac::{Action, Permission, ResourceKind};
use coditect_core::record::{self, Model};
use coditect_core::value::{self, Versioned};
use coditect_core::Principal;
use coditect_core::{prefix_end, run, run_in_tenant, Error, KvBackend, RetryOptions, RetryStats};
use uuid::Uuid;

use crate::faults::{Fault, FaultyBackend};
use crate::support::assert_matches;
use crate::support::{cheap_argon2, manual_workflow, provision_tenant};
use crate::Harness;

// ---------------------------------------------------------------------------------------
// helpers

fn new_tenant(domain: &str) -> NewTenant {
    NewTenant {
        id: TenantId::generate(),
        name: "Audited".into(),
        domain: domain.into(),
        plan: Plan::Enterprise,
        root_code: "ROOT".into(),
        admin_email: "admin@audited.test".into(),
        admin_name: "Ada Admin".into(),
    }
}

/// A tenant whose domain is `domain` under a random label, so that the cases also run side by
/// side on one shared cluster, as often as wanted.
async fn provisioned(db: &dyn KvBackend, domain: &str) -> Provisioned {
    provision_tenant(db, new_tenant(&format!("{}.{domain}", unique()))).await
}

/// A short unique suffix for codes, emails and paths.
fn unique() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// Inserts `record` as `actor` in its own transaction.
async fn insert<M: Model>(db: &dyn KvBackend, tenant: TenantId, actor: Actor, record: M) -> M {
    let (made, _) = run_in_tenant(db, &RetryOptions::default(), tenant, |ttx| async move {
        record::insert(&ttx, actor, record).await
    })
    .await
    .expect("insert");
    made
}

/// Every event of the tenant, oldest first, through paged queries.
async fn all_entries(db: &dyn KvBackend, tenant: TenantId) -> Vec<AuditEntry> {
    collect(db, tenant, AuditQuery::first(MAX), Target::Time).await
}

const MAX: usize = 1_000;

#[derive(Clone, Copy)]
enum Target {
    Time,
    Actor(Actor),
    Record(&'static str, Uuid),
}

/// Every page of a query.
async fn collect(
    db: &dyn KvBackend,
    tenant: TenantId,
    first: AuditQuery,
    target: Target,
) -> Vec<AuditEntry> {
    let mut items = Vec::new();
    let mut request = first;
    loop {
        let q = request.clone();
        let (page, _) = run_in_tenant(db, &RetryOptions::default(), tenant, |ttx| async move {
            match target {
                Target::Time => query::by_time(&ttx, Principal::system(), &q).await,
                Target::Actor(actor) => query::by_actor(&ttx, Principal::system(), actor, &q).await,
                Target::Record(model, id) => {
                    query::by_target(&ttx, Principal::system(), model, id, &q).await
                }
            }
        })
        .await
        .expect("query");
        items.extend(page.items);
        match page.next {
            Some(cursor) => request = request.next_page(cursor),
            None => return items,
        }
    }
}

/// `n` task creates by `actor`, `per_tx` to a transaction: `n` events.
async fn many_tasks(
    db: &dyn KvBackend,
    p: &Provisioned,
    project: &Project,
    n: usize,
    per_tx: usize,
) {
    let actor = Actor::Member(p.admin_member.id);
    let mut left = n;
    while left > 0 {
        let batch: Vec<Task> = (0..per_tx.min(left))
            .map(|i| Task::new(project.id, format!("task {i}"), p.admin_member.id))
            .collect();
        left -= batch.len();
        run_in_tenant(
            db,
            &RetryOptions::default(),
            p.tenant.id,
            |ttx| async move {
                for task in batch {
                    record::insert(&ttx, actor, task).await?;
                }
                Ok(())
            },
        )
        .await
        .expect("tasks");
    }
}

async fn project_of(db: &dyn KvBackend, p: &Provisioned, code: &str) -> Project {
    insert(
        db,
        p.tenant.id,
        Actor::Member(p.admin_member.id),
        Project::new(code, "Project", p.root.id, p.admin_member.id),
    )
    .await
}

/// The raw event rows of a tenant, as anyone with database access sees them.
async fn raw_events(db: &dyn KvBackend, tenant: TenantId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let prefix = foundationdb_tuple::pack(&(tenant.uuid(), "audit"));
    let end = prefix_end(&prefix).expect("end");
    crate::support::scan(db, &prefix, &end).await
}

/// Writes (or with `None` clears) raw keys in one plain transaction.
async fn tamper(db: &dyn KvBackend, writes: &[(&[u8], Option<&[u8]>)]) {
    let tx = db.begin().await.expect("begin");
    for (key, value) in writes {
        match value {
            Some(value) => tx.set(key, value).expect("set"),
            None => tx.clear(key).expect("clear"),
        }
    }
    tx.commit().await.expect("commit");
}

async fn seal(db: &dyn KvBackend, tenant: TenantId, chunk_events: usize) -> audit::SealReport {
    let options = SealOptions {
        chunk_events,
        ..SealOptions::default()
    };
    audit::seal(db, tenant, &options).await.expect("seal")
}

async fn verify(db: &dyn KvBackend, tenant: TenantId) -> Verdict {
    audit::verify(db, tenant, &VerifyOptions::default())
        .await
        .expect("verify")
}

fn clean(verdict: Verdict) -> audit::Verified {
    match verdict {
        Verdict::Clean(verified) => verified,
        Verdict::Tampered(tamper) => panic!("expected a clean chain, found {tamper:?}"),
    }
}

fn tampered(verdict: Verdict) -> audit::Tamper {
    match verdict {
        Verdict::Tampered(tamper) => tamper,
        Verdict::Clean(verified) => panic!("expected tampering to be found: {verified:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// coverage

/// One event an operation must leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// The model's name ([`Versioned::WHAT`]).
    pub model: String,
    /// The record.
    pub record: Uuid,
}

impl Expect {
    /// `actor` did `action` to record `id` of `M`.
    pub fn of<M: Versioned>(actor: Actor, action: AuditAction, id: Uuid) -> Self {
        Expect {
            actor,
            action,
            model: M::WHAT.to_owned(),
            record: id,
        }
    }
}

/// What every coverage operation runs against: a tenant with a project and a task, its admin.
pub struct Fixture {
    /// The backend.
    pub db: Arc<dyn KvBackend>,
    /// The tenant.
    pub p: Provisioned,
    /// A project of it.
    pub project: Project,
    /// A task of that project.
    pub task: Task,
    /// Where the mutation under test starts: the tenant and its newest event key before it.
    mark: Mutex<Option<(TenantId, Option<Vec<u8>>)>>,
}

impl Fixture {
    /// The tenant's id.
    pub fn tenant(&self) -> TenantId {
        self.p.tenant.id
    }

    /// The tenant's admin, the actor of most operations.
    pub fn admin(&self) -> Actor {
        Actor::Member(self.p.admin_member.id)
    }

    /// Every operation calls this right before its mutation (after any set-up of its own,
    /// which is audited too but not counted): events after this point are the mutation's.
    pub async fn mutation_starts(&self) {
        self.mutation_starts_in(self.tenant()).await;
    }

    /// [`mutation_starts`](Fixture::mutation_starts) for a mutation that audits in another
    /// tenant, which must exist (see [`Fixture::new_tenant_starts`] otherwise).
    pub async fn mutation_starts_in(&self, tenant: TenantId) {
        let newest = raw_events(self.db.as_ref(), tenant).await.pop();
        *self.mark.lock().expect("mark") = Some((tenant, newest.map(|(key, _)| key)));
    }

    /// For a mutation that makes `tenant`, which has no events yet.
    pub fn new_tenant_starts(&self, tenant: TenantId) {
        *self.mark.lock().expect("mark") = Some((tenant, None));
    }

    /// Inserts `record` as the admin (set-up).
    pub async fn insert<M: Model>(&self, record: M) -> M {
        insert(self.db.as_ref(), self.tenant(), self.admin(), record).await
    }

    /// A fresh user with `role` and their member (set-up).
    pub async fn member(&self, role: UserRole) -> Member {
        let user = self
            .insert(User::new(
                format!("{}@audited.test", unique()),
                "Someone",
                role,
            ))
            .await;
        self.insert(Member::new(MemberKind::Human(user.id), "Someone"))
            .await
    }

    /// Runs `body` as one committed transaction of the tenant.
    pub async fn mutate<T, F, Fut>(&self, body: F) -> T
    where
        F: FnOnce(coditect_core::TenantTx<'static>) -> Fut + Clone,
        Fut: Future<Output = coditect_core::Result<T>>,
    {
        run_in_tenant(
            self.db.as_ref(),
            &RetryOptions::default(),
            self.tenant(),
            body,
        )
        .await
        .expect("mutation")
        .0
    }
}

/// The future an operation returns: the events it must have left, in order.
pub type OpFuture<'a> = Pin<Box<dyn Future<Output = Vec<Expect>> + Send + 'a>>;

/// A mutating operation of the model API.
pub struct Operation {
    /// `model.operation`.
    pub name: &'static str,
    /// Sets up, calls [`Fixture::mutation_starts`], mutates, and says what it must have left.
    pub run: for<'a> fn(&'a Fixture) -> OpFuture<'a>,
}

/// A model the generic create, update and delete operations can exercise.
#[async_trait]
pub trait Sample: Model {
    /// A new valid record (set-up may insert what it refers to).
    async fn sample(f: &Fixture) -> Self;
    /// A valid change of it.
    fn change(&mut self);
}

#[async_trait]
impl Sample for User {
    async fn sample(_: &Fixture) -> Self {
        User::new(format!("{}@audited.test", unique()), "U", UserRole::Viewer)
    }
    fn change(&mut self) {
        self.name = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Entity {
    async fn sample(f: &Fixture) -> Self {
        Entity::new(
            unique(),
            "Division",
            EntityKind::Division,
            Some(f.p.root.id),
        )
    }
    fn change(&mut self) {
        self.name = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Member {
    async fn sample(f: &Fixture) -> Self {
        let user = f.insert(User::sample(f).await).await;
        Member::new(MemberKind::Human(user.id), "M")
    }
    fn change(&mut self) {
        self.display_name = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Project {
    async fn sample(f: &Fixture) -> Self {
        Project::new(unique(), "P", f.p.root.id, f.p.admin_member.id)
    }
    fn change(&mut self) {
        self.name = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Task {
    async fn sample(f: &Fixture) -> Self {
        Task::new(f.project.id, "T", f.p.admin_member.id)
    }
    fn change(&mut self) {
        self.status = TaskStatus::InProgress;
    }
}

#[async_trait]
impl Sample for Comment {
    async fn sample(f: &Fixture) -> Self {
        Comment::new(f.task.id, f.p.admin_member.id, "a comment")
    }
    fn change(&mut self) {
        self.body = "changed".into();
    }
}

#[async_trait]
impl Sample for File {
    async fn sample(f: &Fixture) -> Self {
        File::new(f.project.id, format!("/{}", unique()), 1, [7; 32], "s3://x")
    }
    fn change(&mut self) {
        self.size = 2;
    }
}

#[async_trait]
impl Sample for AgentConfig {
    async fn sample(_: &Fixture) -> Self {
        AgentConfig::new(
            format!("agent-{}", unique()),
            AgentType::Coder,
            "local",
            "m",
        )
    }
    fn change(&mut self) {
        self.provider = "other".into();
    }
}

/// An agent configuration inserted for a sample to refer to (set-up).
async fn agent_config(f: &Fixture) -> AgentConfig {
    f.insert(AgentConfig::sample(f).await).await
}

#[async_trait]
impl Sample for AgentInstance {
    async fn sample(f: &Fixture) -> Self {
        AgentInstance::new(agent_config(f).await.id, "pod-1")
    }
    fn change(&mut self) {
        self.location = "pod-2".into();
    }
}

#[async_trait]
impl Sample for AgentExecution {
    async fn sample(f: &Fixture) -> Self {
        let instance = f.insert(AgentInstance::sample(f).await).await;
        AgentExecution::new(instance.id, Some(f.task.id))
    }
    fn change(&mut self) {
        self.metrics.tokens_in = 5;
    }
}

#[async_trait]
impl Sample for Workflow {
    async fn sample(f: &Fixture) -> Self {
        Workflow::new(f.project.id, "CI", manual_workflow("build"))
    }
    fn change(&mut self) {
        self.name = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Conversation {
    async fn sample(f: &Fixture) -> Self {
        Conversation::new(f.p.admin_member.id, "Planning")
    }
    fn change(&mut self) {
        self.title = "Renamed".into();
    }
}

#[async_trait]
impl Sample for Message {
    async fn sample(f: &Fixture) -> Self {
        let chat = f.insert(Conversation::sample(f).await).await;
        Message::new(chat.id, f.p.admin_member.id, MessageRole::User, "hello")
    }
    fn change(&mut self) {
        self.content = "changed".into();
    }
}

#[async_trait]
impl Sample for role::Role {
    async fn sample(_: &Fixture) -> Self {
        role::Role::new(
            format!("role-{}", unique()),
            [Permission::new(Action::Read, ResourceKind::Any)],
        )
    }
    fn change(&mut self) {
        self.permissions
            .insert(Permission::new(Action::Create, ResourceKind::Task));
    }
}

#[async_trait]
impl Sample for RoleAssignment {
    async fn sample(f: &Fixture) -> Self {
        let granted = f.insert(role::Role::sample(f).await).await;
        let member = f.member(UserRole::Developer).await;
        RoleAssignment::new(member.id, granted.id, f.p.root.id)
    }
    /// (Changing the role needs another role: see `role_assignment_update`.)
    fn change(&mut self) {}
}

#[async_trait]
impl Sample for Session {
    async fn sample(f: &Fixture) -> Self {
        Session::generate(f.p.admin_member.id, i64::MAX / 2).0
    }
    fn change(&mut self) {
        self.user_agent = "changed".into();
    }
}

#[async_trait]
impl Sample for ApiKey {
    async fn sample(f: &Fixture) -> Self {
        ApiKey::generate(f.p.admin_member.id, "CI").0
    }
    fn change(&mut self) {
        self.name = "renamed".into();
    }
}

#[async_trait]
impl Sample for Usage {
    async fn sample(_: &Fixture) -> Self {
        Usage::new("tokens", 20_000, 100, 7)
    }
    fn change(&mut self) {
        self.quantity = 5;
    }
}

#[async_trait]
impl Sample for Setting {
    async fn sample(_: &Fixture) -> Self {
        Setting::new(
            SettingScope::Tenant,
            format!("ui.{}", unique()),
            TypedValue::Int(1),
        )
    }
    fn change(&mut self) {
        self.value = TypedValue::Int(2);
    }
}

/// A member that is an agent (its configuration made first).
fn member_agent_create(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let config = agent_config(f).await;
        let member = Member::new(MemberKind::Agent(config.id), "Bot");
        let (actor, id) = (f.admin(), member.id.uuid());
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::insert(&ttx, actor, member).await })
            .await;
        vec![Expect::of::<Member>(actor, AuditAction::Create, id)]
    })
}

/// `workflow::set_definition`: a new version, one update event.
fn workflow_set_definition(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let flow = f.insert(Workflow::sample(f).await).await;
        let (actor, id) = (f.admin(), flow.id);
        f.mutation_starts().await;
        f.mutate(|ttx| async move {
            workflow::set_definition(&ttx, actor, id, manual_workflow("test")).await
        })
        .await;
        vec![Expect::of::<Workflow>(
            actor,
            AuditAction::Update,
            id.uuid(),
        )]
    })
}

/// A role assignment changed to another role.
fn role_assignment_update(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let mut assignment = f.insert(RoleAssignment::sample(f).await).await;
        assignment.role = f.insert(role::Role::sample(f).await).await.id;
        let (actor, id) = (f.admin(), assignment.id.uuid());
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::update(&ttx, actor, assignment).await })
            .await;
        vec![Expect::of::<RoleAssignment>(actor, AuditAction::Update, id)]
    })
}

/// `session::revoke`.
fn session_revoke(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let made = f.insert(Session::sample(f).await).await;
        let (actor, id) = (f.admin(), made.id);
        f.mutation_starts().await;
        f.mutate(|ttx| async move { session::revoke(&ttx, actor, id).await })
            .await;
        vec![Expect::of::<Session>(actor, AuditAction::Update, id.uuid())]
    })
}

/// `api_key::revoke`.
fn api_key_revoke(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let made = f.insert(ApiKey::sample(f).await).await;
        let (actor, id) = (f.admin(), made.id);
        f.mutation_starts().await;
        f.mutate(|ttx| async move { api_key::revoke(&ttx, actor, id).await })
            .await;
        vec![Expect::of::<ApiKey>(actor, AuditAction::Update, id.uuid())]
    })
}

/// `record::insert` of a sample.
pub fn create<M: Sample>(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let record = M::sample(f).await;
        let (actor, id) = (f.admin(), record.id().uuid());
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::insert(&ttx, actor, record).await })
            .await;
        vec![Expect::of::<M>(actor, AuditAction::Create, id)]
    })
}

/// `record::update` of a sample.
pub fn update<M: Sample>(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let mut record = f.insert(M::sample(f).await).await;
        record.change();
        let (actor, id) = (f.admin(), record.id().uuid());
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::update(&ttx, actor, record).await })
            .await;
        vec![Expect::of::<M>(actor, AuditAction::Update, id)]
    })
}

/// `record::delete` of a sample.
pub fn delete<M: Sample>(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let record = f.insert(M::sample(f).await).await;
        let (actor, id) = (f.admin(), record.id());
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::delete::<M>(&ttx, actor, id).await })
            .await;
        vec![Expect::of::<M>(actor, AuditAction::Delete, id.uuid())]
    })
}

fn provision_op(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let new = new_tenant(&format!("{}.audited.test", unique()));
        f.new_tenant_starts(new.id);
        let (made, _) = run(f.db.as_ref(), &RetryOptions::default(), |tx| {
            let new = new.clone();
            async move { provision(&*tx, new).await }
        })
        .await
        .expect("provision");
        let system = Actor::System;
        let mut expected = vec![
            Expect::of::<tenant::Tenant>(system, AuditAction::Create, made.tenant.id.uuid()),
            Expect::of::<Entity>(system, AuditAction::Create, made.root.id.uuid()),
            Expect::of::<User>(system, AuditAction::Create, made.admin.id.uuid()),
            Expect::of::<Member>(system, AuditAction::Create, made.admin_member.id.uuid()),
        ];
        // Then the built-in roles, each created once.
        for built_in in role::built_in_roles() {
            let name = built_in.name.clone();
            let (found, _) = run_in_tenant(
                f.db.as_ref(),
                &RetryOptions::default(),
                made.tenant.id,
                |ttx| async move { role::by_name(&ttx, Actor::System, &name).await },
            )
            .await
            .expect("role");
            let id = found.expect("built-in role").id.uuid();
            expected.push(Expect::of::<role::Role>(system, AuditAction::Create, id));
        }
        expected
    })
}

/// `tenant::update` with `change` applied, in a tenant of its own.
async fn tenant_update(f: &Fixture, change: fn(&mut tenant::Tenant)) -> Vec<Expect> {
    let other = provisioned(f.db.as_ref(), &format!("{}.audited.test", unique())).await;
    let mut changed = other.tenant.clone();
    change(&mut changed);
    let actor = Actor::Member(other.admin_member.id);
    f.mutation_starts_in(other.tenant.id).await;
    run(f.db.as_ref(), &RetryOptions::default(), |tx| {
        let changed = changed.clone();
        async move { tenant::update(&*tx, actor, changed).await }
    })
    .await
    .expect("tenant update");
    vec![Expect::of::<tenant::Tenant>(
        actor,
        AuditAction::Update,
        other.tenant.id.uuid(),
    )]
}

fn tenant_rename(f: &Fixture) -> OpFuture<'_> {
    Box::pin(tenant_update(f, |t| t.name = "Renamed".into()))
}

/// `tenant::set_status` by the platform operator (audited as the system), in a tenant of
/// its own.
fn tenant_suspend(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let other = provisioned(f.db.as_ref(), &format!("{}.audited.test", unique())).await;
        let id = other.tenant.id;
        f.mutation_starts_in(id).await;
        run(f.db.as_ref(), &RetryOptions::default(), |tx| async move {
            tenant::set_status(&*tx, Principal::operator(), id, TenantStatus::Suspended).await
        })
        .await
        .expect("tenant suspend");
        vec![Expect::of::<tenant::Tenant>(
            Actor::System,
            AuditAction::Update,
            id.uuid(),
        )]
    })
}

/// `user::set_password_with` on a user who has one already: one event, no digest.
fn set_password(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let user = f.insert(User::sample(f).await).await;
        let (actor, id) = (f.admin(), user.id);
        let set = move |ttx: coditect_core::TenantTx<'static>| async move {
            user::set_password_with(&ttx, actor, id, "first secret", cheap_argon2()).await
        };
        f.mutate(set).await;
        f.mutation_starts().await;
        f.mutate(|ttx| async move {
            user::set_password_with(&ttx, actor, id, "second secret", cheap_argon2()).await
        })
        .await;
        vec![Expect::of::<User>(
            actor,
            AuditAction::SetPassword,
            id.uuid(),
        )]
    })
}

/// `user::set_password_with` on an invited user: the password, then the user's activation.
fn set_first_password(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let user = f.insert(User::sample(f).await).await;
        let (actor, id) = (f.admin(), user.id);
        f.mutation_starts().await;
        f.mutate(|ttx| async move {
            user::set_password_with(&ttx, actor, id, "first secret", cheap_argon2()).await
        })
        .await;
        vec![
            Expect::of::<User>(actor, AuditAction::SetPassword, id.uuid()),
            Expect::of::<User>(actor, AuditAction::Update, id.uuid()),
        ]
    })
}

/// `comment::edit`.
fn comment_edit(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let made = f.insert(Comment::sample(f).await).await;
        let (actor, id) = (f.admin(), made.id);
        f.mutation_starts().await;
        f.mutate(|ttx| async move { comment::edit(&ttx, actor, id, "edited").await })
            .await;
        vec![Expect::of::<Comment>(actor, AuditAction::Update, id.uuid())]
    })
}

/// A mutation by another member than the admin: the actor recorded is the one acting.
fn task_by_another_member(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let member = f.member(UserRole::Admin).await;
        let actor = Actor::Member(member.id);
        let task = Task::new(f.project.id, "theirs", member.id);
        let id = task.id.uuid();
        f.mutation_starts().await;
        f.mutate(|ttx| async move { record::insert(&ttx, actor, task).await })
            .await;
        vec![Expect::of::<Task>(actor, AuditAction::Create, id)]
    })
}

/// A member without the right is refused, and the refusal is audited (by `run_in_tenant`, in
/// a transaction of its own) while nothing of the refused attempt is.
fn task_create_denied(f: &Fixture) -> OpFuture<'_> {
    Box::pin(async move {
        let member = f.member(UserRole::Viewer).await;
        let actor = Actor::Member(member.id);
        let task = Task::new(f.project.id, "refused", member.id);
        let id = task.id.uuid();
        f.mutation_starts().await;
        let refused = run_in_tenant(
            f.db.as_ref(),
            &RetryOptions::default(),
            f.tenant(),
            |ttx| async move { record::insert(&ttx, actor, task).await },
        )
        .await;
        assert_matches!(refused, Err(Error::Forbidden { .. }));
        vec![Expect::of::<Task>(
            actor,
            AuditAction::Denied(Action::Create),
            id,
        )]
    })
}

macro_rules! op {
    ($name:literal, $run:expr) => {
        Operation {
            name: $name,
            run: $run,
        }
    };
}

/// Every mutating operation of the model API. A new mutation (a model, a special operation,
/// a denial) adds its line here; the coverage case fails for any line that leaves no event,
/// or another number of events than it says, or events naming the wrong actor, action, model
/// or record.
pub const OPERATIONS: &[Operation] = &[
    op!("tenant.provision", provision_op),
    op!("tenant.update", tenant_rename),
    op!("tenant.suspend", tenant_suspend),
    op!("user.create", create::<User>),
    op!("user.update", update::<User>),
    op!("user.delete", delete::<User>),
    op!("user.set_password", set_password),
    op!("user.set_first_password", set_first_password),
    op!("entity.create", create::<Entity>),
    op!("entity.update", update::<Entity>),
    op!("entity.delete", delete::<Entity>),
    op!("member.create", create::<Member>),
    op!("member.update", update::<Member>),
    op!("member.delete", delete::<Member>),
    op!("project.create", create::<Project>),
    op!("project.update", update::<Project>),
    op!("project.delete", delete::<Project>),
    op!("task.create", create::<Task>),
    op!("task.create_by_another_member", task_by_another_member),
    op!("task.create_denied", task_create_denied),
    op!("task.update", update::<Task>),
    op!("task.delete", delete::<Task>),
    op!("comment.create", create::<Comment>),
    op!("comment.update", update::<Comment>),
    op!("comment.edit", comment_edit),
    op!("comment.delete", delete::<Comment>),
    op!("file.create", create::<File>),
    op!("file.update", update::<File>),
    op!("file.delete", delete::<File>),
    op!("agent_config.create", create::<AgentConfig>),
    op!("agent_config.update", update::<AgentConfig>),
    op!("agent_config.delete", delete::<AgentConfig>),
    op!("member.create_agent", member_agent_create),
    op!("agent_instance.create", create::<AgentInstance>),
    op!("agent_instance.update", update::<AgentInstance>),
    op!("agent_instance.delete", delete::<AgentInstance>),
    op!("agent_execution.create", create::<AgentExecution>),
    op!("agent_execution.update", update::<AgentExecution>),
    op!("agent_execution.delete", delete::<AgentExecution>),
    op!("workflow.create", create::<Workflow>),
    op!("workflow.update", update::<Workflow>),
    op!("workflow.set_definition", workflow_set_definition),
    op!("workflow.delete", delete::<Workflow>),
    op!("conversation.create", create::<Conversation>),
    op!("conversation.update", update::<Conversation>),
    op!("conversation.delete", delete::<Conversation>),
    op!("message.create", create::<Message>),
    op!("message.update", update::<Message>),
    op!("message.delete", delete::<Message>),
    op!("role.create", create::<role::Role>),
    op!("role.update", update::<role::Role>),
    op!("role.delete", delete::<role::Role>),
    op!("role_assignment.grant", create::<RoleAssignment>),
    op!("role_assignment.update", role_assignment_update),
    op!("role_assignment.revoke", delete::<RoleAssignment>),
    op!("session.create", create::<Session>),
    op!("session.update", update::<Session>),
    op!("session.revoke", session_revoke),
    op!("session.delete", delete::<Session>),
    op!("api_key.create", create::<ApiKey>),
    op!("api_key.update", update::<ApiKey>),
    op!("api_key.revoke", api_key_revoke),
    op!("api_key.delete", delete::<ApiKey>),
    op!("usage.create", create::<Usage>),
    op!("usage.update", update::<Usage>),
    op!("usage.delete", delete::<Usage>),
    op!("setting.create", create::<Setting>),
    op!("setting.update", update::<Setting>),
    op!("setting.delete", delete::<Setting>),
    // AuditEvent (model 19) has no mutation: the trail is append-only through this very
    // writer, and TenantTx refuses any other write to it.
];

/// The fixture of the coverage case.
pub async fn fixture(db: Arc<dyn KvBackend>) -> Fixture {
    let p = provisioned(db.as_ref(), "coverage.test").await;
    let project = project_of(db.as_ref(), &p, "COV").await;
    let task = insert(
        db.as_ref(),
        p.tenant.id,
        Actor::Member(p.admin_member.id),
        Task::new(project.id, "Covered", p.admin_member.id),
    )
    .await;
    Fixture {
        db,
        p,
        project,
        task,
        mark: Mutex::new(None),
    }
}

/// Runs one operation and checks the events it left: exactly those it names, in order.
pub async fn check_operation(f: &Fixture, operation: &Operation) -> Result<(), String> {
    *f.mark.lock().expect("mark") = None;
    let expected = (operation.run)(f).await;
    let Some((tenant, after)) = f.mark.lock().expect("mark").take() else {
        return Err(format!("{}: never called mutation_starts", operation.name));
    };
    // Read raw, as stored: a suspended tenant's trail too, and nothing but what is there.
    let left: Vec<Expect> = raw_events(f.db.as_ref(), tenant)
        .await
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
        .map(|(_, bytes)| {
            let event: audit::AuditEvent = value::decode(&bytes).expect("event");
            Expect {
                actor: event.actor,
                action: event.action,
                model: event.model,
                record: event.record_id,
            }
        })
        .collect();
    if left != expected {
        return Err(format!(
            "{}: expected the events {expected:?}, found {left:?}",
            operation.name
        ));
    }
    if expected.is_empty() {
        return Err(format!(
            "{}: a mutation must leave an event",
            operation.name
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// cases

/// Every mutating operation of [`OPERATIONS`] leaves exactly the events it names: one per
/// mutation, with its actor, action, model and record. All failures are reported together.
pub async fn every_mutating_operation_leaves_exactly_its_events(h: &dyn Harness) {
    let f = fixture(h.backend()).await;
    let mut failures = Vec::new();
    for operation in OPERATIONS {
        if let Err(failure) = check_operation(&f, operation).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two tasks of one tenant, each creating 1,000 tasks (one transaction each) at the same time,
/// finish without a single conflict: the audit appends and their index entries are
/// versionstamped, so no writer reads what another writes.
pub async fn concurrent_creators_never_conflict_on_the_trail(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "busy.test").await;
    let project = project_of(db.as_ref(), &p, "BUSY").await;
    let user = insert(
        db.as_ref(),
        p.tenant.id,
        Actor::Member(p.admin_member.id),
        User::new("second@busy.test", "Second", UserRole::Admin),
    )
    .await;
    let second = insert(
        db.as_ref(),
        p.tenant.id,
        Actor::Member(p.admin_member.id),
        Member::new(MemberKind::Human(user.id), "Second"),
    )
    .await;
    let before = all_entries(db.as_ref(), p.tenant.id).await.len();
    let stats = Arc::new(RetryStats::default());
    let writers = [p.admin_member.id, second.id].map(|member: MemberId| {
        let (db, stats, tenant, project) = (db.clone(), stats.clone(), p.tenant.id, project.id);
        tokio::spawn(async move {
            let options = RetryOptions::default().with_stats(stats);
            for i in 0..1_000 {
                let task = Task::new(project, format!("task {i}"), member);
                run_in_tenant(db.as_ref(), &options, tenant, |ttx| async move {
                    record::insert(&ttx, Actor::Member(member), task).await
                })
                .await
                .expect("create");
            }
        })
    });
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_eq!(stats.conflicts(), 0, "no conflicts");
    assert_eq!(stats.retries(), 0, "no retries");
    assert_eq!(stats.commits(), 2_000);
    assert_eq!(
        all_entries(db.as_ref(), p.tenant.id).await.len(),
        before + 2_000
    );
    for member in [p.admin_member.id, second.id] {
        let mine = collect(
            db.as_ref(),
            p.tenant.id,
            AuditQuery::first(MAX),
            Target::Actor(Actor::Member(member)),
        )
        .await;
        let tasks = mine.iter().filter(|e| e.event.model == Task::WHAT).count();
        assert_eq!(tasks, 1_000);
    }
}

/// Queries: by time forward and backward in pages, bounded by positions; by actor; by target
/// record. Every page agrees with the full trail.
pub async fn queries_by_time_actor_and_target(h: &dyn Harness) {
    let db = h.backend();
    let db = db.as_ref();
    let p = provisioned(db, "query.test").await;
    let t = p.tenant.id;
    let system_events = all_entries(db, t).await.len();
    let project = project_of(db, &p, "Q").await;
    let admin = Actor::Member(p.admin_member.id);
    many_tasks(db, &p, &project, 20, 3).await;
    let mut renamed = project.clone();
    renamed.name = "Renamed".into();
    run_in_tenant(db, &RetryOptions::default(), t, |ttx| async move {
        record::update(&ttx, admin, renamed).await
    })
    .await
    .expect("update");
    let all = all_entries(db, t).await;
    assert_eq!(all.len(), system_events + 1 + 20 + 1);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));

    let forward = collect(db, t, AuditQuery::first(7), Target::Time).await;
    assert_eq!(forward, all);
    let backward = collect(db, t, AuditQuery::newest(4), Target::Time).await;
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(backward, reversed);

    // Bounded: [from, to) in both directions.
    let (from, to) = (all[5].position, all[15].position);
    let bounded = AuditQuery {
        from: Some(from),
        to: Some(to),
        ..AuditQuery::first(3)
    };
    let inside = collect(db, t, bounded.clone(), Target::Time).await;
    assert_eq!(inside, all[5..15].to_vec());
    let inside_back = collect(
        db,
        t,
        AuditQuery {
            reverse: true,
            ..bounded
        },
        Target::Time,
    )
    .await;
    assert_eq!(
        inside_back,
        all[5..15].iter().rev().cloned().collect::<Vec<_>>()
    );

    // A commit's versionstamp bounds the events it wrote.
    let later = Task::new(project.id, "later", p.admin_member.id);
    let (_, info) = run_in_tenant(db, &RetryOptions::default(), t, |ttx| async move {
        record::insert(&ttx, admin, later).await
    })
    .await
    .expect("later");
    let since = AuditQuery {
        from: Some(AuditPosition::of_commit(info.versionstamp)),
        ..AuditQuery::first(10)
    };
    let newest = collect(db, t, since, Target::Time).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].event.model, Task::WHAT);

    by_actor_and_by_target(db, t, admin, &all, system_events, &project).await;
}

/// The queries by actor (the system's events are the first `system_events` of `all`, the
/// admin's the rest and one more) and by target (the project's create and update only).
async fn by_actor_and_by_target(
    db: &dyn KvBackend,
    t: TenantId,
    admin: Actor,
    all: &[AuditEntry],
    system_events: usize,
    project: &Project,
) {
    // By actor: the system made the first four, the admin the rest.
    let system = collect(db, t, AuditQuery::first(2), Target::Actor(Actor::System)).await;
    assert_eq!(system, all[..system_events].to_vec());
    let by_admin = collect(db, t, AuditQuery::newest(5), Target::Actor(admin)).await;
    assert_eq!(by_admin.len(), all.len() - system_events + 1);
    assert!(by_admin.iter().all(|e| e.event.actor == admin));
    assert!(by_admin.windows(2).all(|w| w[0].position > w[1].position));

    // By target: the project's create and update, nothing of anything else.
    let project_events = collect(
        db,
        t,
        AuditQuery::first(1),
        Target::Record(Project::WHAT, project.id.uuid()),
    )
    .await;
    let actions: Vec<_> = project_events.iter().map(|e| e.event.action).collect();
    assert_eq!(actions, [AuditAction::Create, AuditAction::Update]);
    let unknown = collect(
        db,
        t,
        AuditQuery::first(5),
        Target::Record(Project::WHAT, Uuid::new_v4()),
    )
    .await;
    assert!(unknown.is_empty());
}

/// Sealing chains every event once: in chunks across checkpoints, repeated (nothing more to
/// seal, the same head), and continued after more events; verification from the start and
/// from a checkpoint agrees, and a receipt verifies.
pub async fn seal_is_chunked_idempotent_and_verifies(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "seal.test").await;
    let project = project_of(db.as_ref(), &p, "S").await;
    let tenant = p.tenant.id;
    assert_eq!(clean(verify(db.as_ref(), tenant).await).count, 0);
    let base = all_entries(db.as_ref(), tenant).await.len() as u64;
    many_tasks(db.as_ref(), &p, &project, 2_100, 100).await;
    let total = all_entries(db.as_ref(), tenant).await.len() as u64;
    assert_eq!(total, base + 2_100);

    let first = seal(db.as_ref(), tenant, 333).await;
    assert_eq!(first.sealed, total);
    assert_eq!(first.head.count, total);
    assert!(first.chunks as u64 >= total / 333);
    let again = seal(db.as_ref(), tenant, 333).await;
    assert_eq!((again.sealed, again.head), (0, first.head));

    let verified = clean(verify(db.as_ref(), tenant).await);
    assert_eq!(verified.verified, total);
    assert_eq!(
        (verified.count, verified.head, verified.unsealed),
        (total, first.head.hash, 0)
    );
    let from_checkpoint = audit::verify(
        db.as_ref(),
        tenant,
        &VerifyOptions {
            from: 2 * CHECKPOINT_EVERY,
            chunk_events: 50,
        },
    )
    .await
    .expect("verify");
    let from_checkpoint = clean(from_checkpoint);
    assert_eq!(from_checkpoint.verified, total - 2 * CHECKPOINT_EVERY);
    assert_eq!(from_checkpoint.head, first.head.hash);
    assert!(audit::verify(
        db.as_ref(),
        tenant,
        &VerifyOptions {
            from: 7,
            chunk_events: 50
        }
    )
    .await
    .is_err());

    let receipt = audit::receipt(db.as_ref(), tenant).await.expect("receipt");
    assert_eq!((receipt.count, receipt.head), (total, first.head.hash));
    let parsed = Receipt::parse(&receipt.to_text()).expect("parse");
    assert!(matches!(
        audit::verify_receipt(db.as_ref(), tenant, &parsed, 1_000)
            .await
            .expect("verify"),
        Verdict::Clean(_)
    ));

    // More events: unsealed until the next seal, which continues the same chain.
    many_tasks(db.as_ref(), &p, &project, 10, 10).await;
    assert_eq!(clean(verify(db.as_ref(), tenant).await).unsealed, 10);
    let more = seal(db.as_ref(), tenant, 4).await;
    assert_eq!((more.sealed, more.head.count), (10, total + 10));
    clean(verify(db.as_ref(), tenant).await);
    // The old receipt still holds: the chain only grew.
    assert!(matches!(
        audit::verify_receipt(db.as_ref(), tenant, &receipt, 1_000)
            .await
            .expect("verify"),
        Verdict::Clean(_)
    ));
}

/// A sealer running while two writers append never makes a writer retry, and with a final
/// seal every event is chained exactly once.
pub async fn sealing_alongside_writers_costs_them_nothing(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "alongside.test").await;
    let project = project_of(db.as_ref(), &p, "A").await;
    let tenant = p.tenant.id;
    let stats = Arc::new(RetryStats::default());
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stats, member, project) =
                (db.clone(), stats.clone(), p.admin_member.id, project.id);
            tokio::spawn(async move {
                let options = RetryOptions::default().with_stats(stats);
                for i in 0..300 {
                    let task = Task::new(project, format!("task {i}"), member);
                    run_in_tenant(db.as_ref(), &options, tenant, |ttx| async move {
                        record::insert(&ttx, Actor::Member(member), task).await
                    })
                    .await
                    .expect("create");
                }
            })
        })
        .collect();
    let sealer = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut sealed = 0;
            for _ in 0..30 {
                sealed += seal(db.as_ref(), tenant, 25).await.sealed;
                tokio::task::yield_now().await;
            }
            sealed
        })
    };
    for writer in writers {
        writer.await.expect("writer");
    }
    let sealed_alongside = sealer.await.expect("sealer");
    assert_eq!(
        stats.conflicts(),
        0,
        "writers never conflict with the sealer"
    );
    let rest = seal(db.as_ref(), tenant, 1_000).await;
    let total = all_entries(db.as_ref(), tenant).await.len() as u64;
    assert_eq!(sealed_alongside + rest.sealed, total);
    assert_eq!(rest.head.count, total);
    let verified = clean(verify(db.as_ref(), tenant).await);
    assert_eq!((verified.count, verified.unsealed), (total, 0));
}

/// A sealed trail of `n` task events (after the provisioning and project events), its rows,
/// and its receipt.
async fn sealed_trail(
    db: &dyn KvBackend,
    domain: &str,
    n: usize,
) -> (TenantId, Vec<(Vec<u8>, Vec<u8>)>, Receipt) {
    let p = provisioned(db, domain).await;
    let project = project_of(db, &p, "T").await;
    let base = raw_events(db, p.tenant.id).await.len();
    many_tasks(db, &p, &project, n, 7).await;
    seal(db, p.tenant.id, 10).await;
    let rows = raw_events(db, p.tenant.id).await;
    assert_eq!(rows.len(), base + n);
    let receipt = audit::receipt(db, p.tenant.id).await.expect("receipt");
    clean(verify(db, p.tenant.id).await);
    (p.tenant.id, rows, receipt)
}

/// One byte of one event changed: verify names that event, by key and position, as modified.
pub async fn tamper_modified_event_is_named(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "modified.test", 30).await;
    let (key, value) = &rows[17];
    let mut forged = value.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    tamper(db.as_ref(), &[(key, Some(&forged))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (TamperKind::Modified, 17, key)
    );
}

/// One event deleted: verify names the missing key and its position.
pub async fn tamper_removed_event_is_named(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "removed.test", 30).await;
    tamper(db.as_ref(), &[(&rows[11].0, None)]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (TamperKind::Removed, 11, &rows[11].0)
    );
    // The last one deleted is noticed too, although no later event shows the gap.
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "removed-last.test", 30).await;
    let last = rows.len() - 1;
    tamper(db.as_ref(), &[(&rows[last].0, None)]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position),
        (TamperKind::Removed, last as u64)
    );
}

/// A forged event slipped in between two sealed ones (a copy of another event's bytes, at a
/// key between theirs): verify names it as inserted.
pub async fn tamper_inserted_event_is_named(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "inserted.test", 30).await;
    // The stamp of the last event of a transaction with the next user version: a key after
    // it and before the next transaction's first.
    let (at, forged_key) = (15..rows.len() - 1)
        .find_map(|i| {
            let mut key = rows[i].0.clone();
            let last = key.len() - 1;
            key[last] = key[last].checked_add(1)?;
            (key < rows[i + 1].0).then_some((i + 1, key))
        })
        .expect("a gap between two transactions");
    tamper(db.as_ref(), &[(&forged_key, Some(&rows[3].1))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (TamperKind::Inserted, at as u64, &forged_key)
    );
    // A key in the audit range that is no event key at all is inserted too.
    let mut garbage = rows[2].0.clone();
    garbage.push(0);
    tamper(db.as_ref(), &[(&garbage, Some(b"x".as_slice()))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (TamperKind::Inserted, 3, &garbage)
    );
    // Before the first sealed event.
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "inserted-before.test", 30).await;
    // The smallest stamp there is: before the first event.
    let mut before_first = rows[0].0.clone();
    let stamp = before_first.len() - 12;
    before_first[stamp..].fill(0);
    tamper(db.as_ref(), &[(&before_first, Some(&rows[1].1))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!((found.kind, found.position), (TamperKind::Inserted, 0));
}

/// Two events' bytes swapped: verify names the first as reordered, and where its bytes
/// belong.
pub async fn tamper_swapped_events_are_named(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "swapped.test", 30).await;
    let ((k1, v1), (k2, v2)) = (&rows[9], &rows[14]);
    tamper(db.as_ref(), &[(k1, Some(v2)), (k2, Some(v1))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(
        (found.kind, found.position, &found.key),
        (TamperKind::Reordered { moved_from: 14 }, 9, k1)
    );
}

/// The seal's own state edited (a window's digest made to match a modified event): the chain
/// recomputed from the events no longer reaches the stored head.
pub async fn tamper_with_the_seal_state_is_caught(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, _) = sealed_trail(db.as_ref(), "sealstate.test", 30).await;
    // Replace event 5 and re-seal from scratch over the window, as a careless forger might:
    // clear the whole seal state and seal again... is the receipt's case. Here: only the
    // window's digest is fixed, not the chain.
    let (key, value) = &rows[5];
    let mut forged = value.clone();
    forged[1] ^= 0x40;
    let meta = foundationdb_tuple::pack(&(tenant.uuid(), "meta", "audit", "window", 0i64));
    let tx = db.begin().await.expect("begin");
    let window = tx.get(&meta, false).await.expect("get").expect("window 0");
    let old = audit_digest(value);
    let new = audit_digest(&forged);
    let at = window
        .windows(32)
        .position(|w| w == old)
        .expect("digest in window");
    let mut edited = window.clone();
    edited[at..at + 32].copy_from_slice(&new);
    tx.set(&meta, &edited).expect("set");
    tx.set(key, &forged).expect("set");
    tx.commit().await.expect("commit");
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!(found.kind, TamperKind::SealAltered);
    assert_eq!(found.position, rows.len() as u64);
    // Seal state that no longer decodes is altered too, not an error.
    tamper(db.as_ref(), &[(&meta, Some(b"garbage".as_slice()))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!((found.kind, found.position), (TamperKind::SealAltered, 0));
    let head = foundationdb_tuple::pack(&(tenant.uuid(), "meta", "audit", "head"));
    tamper(db.as_ref(), &[(&head, Some(b"garbage".as_slice()))]).await;
    let found = tampered(verify(db.as_ref(), tenant).await);
    assert_eq!((found.kind, found.position), (TamperKind::SealAltered, 0));
}

fn audit_digest(bytes: &[u8]) -> [u8; 32] {
    audit::digest(bytes)
}

/// Someone with database access rewrites an event and then the whole chain consistently (the
/// seal state cleared and sealed anew): the trail verifies on its own, but not against the
/// receipt issued before.
pub async fn rewritten_chain_is_caught_by_the_receipt(h: &dyn Harness) {
    let db = h.backend();
    let (tenant, rows, receipt) = sealed_trail(db.as_ref(), "rewritten.test", 30).await;
    let (key, value) = &rows[12];
    let mut forged = value.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let meta = foundationdb_tuple::pack(&(tenant.uuid(), "meta", "audit"));
    let tx = db.begin().await.expect("begin");
    tx.set(key, &forged).expect("set");
    tx.clear_range(&meta, &prefix_end(&meta).expect("end"))
        .expect("clear");
    tx.commit().await.expect("commit");
    seal(db.as_ref(), tenant, 1_000).await;
    let rewritten = clean(verify(db.as_ref(), tenant).await);
    assert_eq!(rewritten.count, receipt.count);
    assert_ne!(rewritten.head, receipt.head);
    let found = tampered(
        audit::verify_receipt(db.as_ref(), tenant, &receipt, 1_000)
            .await
            .expect("verify"),
    );
    assert_eq!(
        (found.kind, found.position),
        (TamperKind::ReceiptMismatch, receipt.count)
    );
    // Dropping the seal state altogether leaves every event unsealed; the receipt still
    // notices that the chain it covers is gone.
    let tx = db.begin().await.expect("begin");
    tx.clear_range(&meta, &prefix_end(&meta).expect("end"))
        .expect("clear");
    tx.commit().await.expect("commit");
    let found = tampered(
        audit::verify_receipt(db.as_ref(), tenant, &receipt, 1_000)
            .await
            .expect("verify"),
    );
    assert_eq!(found.kind, TamperKind::ReceiptMismatch);
    // A receipt of another tenant is refused outright.
    let other = Receipt {
        tenant: Uuid::new_v4(),
        ..receipt
    };
    assert!(audit::verify_receipt(db.as_ref(), tenant, &other, 1_000)
        .await
        .is_err());
}

/// Sealing is exactly-once when commits report an unknown result after committing: the retry
/// re-reads the head its committed attempt moved and seals on from there, so no event is
/// chained twice or skipped, and the chain is the one a plain seal makes.
pub async fn sealing_is_exactly_once_after_unknown_commit_results(h: &dyn Harness) {
    let db = h.backend();
    let p = provisioned(db.as_ref(), "unknown.test").await;
    let project = project_of(db.as_ref(), &p, "U").await;
    many_tasks(db.as_ref(), &p, &project, 1_200, 100).await;
    let tenant = p.tenant.id;
    let total = raw_events(db.as_ref(), tenant).await.len() as u64;
    // Every second commit (the first, the third, ...) commits and then reports
    // `CommitUnknownResult`, as FoundationDB may: the retry loop runs the body again after a
    // commit that did happen.
    let every_second = (1..10_000)
        .step_by(2)
        .map(|n| (n, Fault::UnknownAfterCommit));
    let flaky = FaultyBackend::scripted(db.clone(), every_second);
    let stats = Arc::new(RetryStats::default());
    let options = SealOptions {
        chunk_events: 97,
        retry: RetryOptions::default().with_stats(stats.clone()),
        ..SealOptions::default()
    };
    let report = audit::seal(&flaky, tenant, &options).await.expect("seal");
    assert!(stats.maybe_committed() > 5, "the unknown results happened");
    assert_eq!(report.head.count, total);
    // Each committed chunk counted once in `sealed`, though some were retried: the sum over
    // the calls that returned is at most the total, and the chain covers every event once.
    assert!(report.sealed <= total);
    let verified = clean(verify(db.as_ref(), tenant).await);
    assert_eq!((verified.count, verified.unsealed), (total, 0));
    // The same chain as one clean seal of the same events makes.
    let meta = foundationdb_tuple::pack(&(tenant.uuid(), "meta", "audit"));
    tamper_range_clear(db.as_ref(), &meta).await;
    let plain = seal(db.as_ref(), tenant, 10_000).await;
    assert_eq!(plain.head, report.head);
}

async fn tamper_range_clear(db: &dyn KvBackend, prefix: &[u8]) {
    let tx = db.begin().await.expect("begin");
    tx.clear_range(prefix, &prefix_end(prefix).expect("end"))
        .expect("clear");
    tx.commit().await.expect("commit");
}
