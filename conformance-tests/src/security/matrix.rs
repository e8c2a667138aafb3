//! The authorization matrix: every model's create, read, update, delete and list, and every
//! special operation, for every kind of principal, with its expectations written as data
//! (`MODEL_TABLE`, `SPECIAL_TABLE`). Each cell is a real operation in its own
//! transaction; a denial must be [`Error::Forbidden`], change nothing and leave exactly one
//! audit event naming the principal and the action; an allowed operation leaves none.
//!
//! The principals (columns, in `WHO` order):
//!
//! | column | who |
//! |---|---|
//! | `adm` | the provisioned tenant Admin user |
//! | `admH` / `admA` | a human / an agent holding the built-in `admin` role at the root |
//! | `conH` / `conA` | a human (through a session) / an agent with `contributor` at the root |
//! | `viwH` / `viwA` | a human / an agent with `viewer` at the root |
//! | `dis` | a disabled user who held `contributor` |
//! | `key` | `conH`'s API key scoped to reading tasks and projects |
//! | `dky` | an unscoped API key of a user disabled after it was made |
//! | `op` | the platform operator |
//!
//! Records acted on (read, updated, deleted, listed) are made fresh for each cell and belong to
//! another member where the model has owners; records created are the creator's own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use coditect_core::ids::{MemberId, ProjectId, RoleId, SessionId, WorkflowId};
use coditect_core::model::{
    comment, session, tenant, user, workflow, Comment, ConversationStatus, Message, MessageRole,
    Session, Workflow,
};
use coditect_core::record::Model;
use coditect_core::record::PageRequest;

use crate::faults::FaultyBackend;

use super::*;
use crate::Harness;

/// Who acts: the columns of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    AdminUser,
    AdminHuman,
    AdminAgent,
    ContributorHuman,
    ContributorAgent,
    ViewerHuman,
    ViewerAgent,
    Disabled,
    NarrowKey,
    DisabledKey,
    Operator,
}

/// The columns, in table order.
pub(crate) const WHO: [Who; 11] = [
    Who::AdminUser,
    Who::AdminHuman,
    Who::AdminAgent,
    Who::ContributorHuman,
    Who::ContributorAgent,
    Who::ViewerHuman,
    Who::ViewerAgent,
    Who::Disabled,
    Who::NarrowKey,
    Who::DisabledKey,
    Who::Operator,
];

/// The (human, agent) column pairs that hold the same grants and must answer alike.
const PAIRS: [(usize, usize); 3] = [(1, 2), (3, 4), (5, 6)];

/// Per model, one cell per principal: the letters of `CRUDL` it may do (create, read,
/// update, delete, and see the record in a list), `-` where it may not.
#[rustfmt::skip]
pub(crate) const MODEL_TABLE: &[(&str, [&str; 11])] = &[
    //                   adm      admH     admA     conH     conA     viwH     viwA     dis      key      dky      op
    ("entity",          ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("user",            ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("member",          ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("project",         ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-R--L", "-----", "-R--L"]),
    ("task",            ["CRUDL", "CRUDL", "CRUDL", "CRU-L", "CRU-L", "-R--L", "-R--L", "-----", "-R--L", "-----", "-R--L"]),
    ("comment",         ["CRUDL", "CRUDL", "CRUDL", "CR--L", "CR--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("file",            ["CRUDL", "CRUDL", "CRUDL", "CRU-L", "CRU-L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("agent config",    ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("agent instance",  ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("agent execution", ["CRUDL", "CRUDL", "CRUDL", "CRU-L", "CRU-L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("workflow",        ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("conversation",    ["CRUDL", "CRUDL", "CRUDL", "CR--L", "CR--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("message",         ["CRUDL", "CRUDL", "CRUDL", "CR--L", "CR--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("role",            ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("role assignment", ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("session",         ["CRUDL", "CRUDL", "CRUDL", "C----", "C----", "C----", "C----", "-----", "-----", "-----", "-R--L"]),
    ("api key",         ["CRUDL", "CRUDL", "CRUDL", "C----", "C----", "C----", "C----", "-----", "-----", "-----", "-R--L"]),
    ("usage",           ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
    ("setting",         ["CRUDL", "CRUDL", "CRUDL", "-R--L", "-R--L", "-R--L", "-R--L", "-----", "-----", "-----", "-R--L"]),
];

/// Per model, for a human whose only grant is its user-level role (no role assignment), in
/// the columns Manager, Developer, Viewer, Guest: what the role's documentation promises
/// (the built-in maintainer, contributor and viewer permissions tenant-wide; a guest
/// nothing but its own credentials). Another member's comments, conversations and messages
/// still need the right to act for others, which none of these roles holds.
#[rustfmt::skip]
pub(crate) const USER_ROLE_TABLE: &[(&str, [&str; 4])] = &[
    //                   Manager  Developer Viewer  Guest
    ("entity",          ["CRUDL", "-R--L", "-R--L", "-----"]),
    ("user",            ["-R--L", "-R--L", "-R--L", "-----"]),
    ("member",          ["-R--L", "-R--L", "-R--L", "-----"]),
    ("project",         ["CRUDL", "-R--L", "-R--L", "-----"]),
    ("task",            ["CRUDL", "CRU-L", "-R--L", "-----"]),
    ("comment",         ["CR--L", "CR--L", "-R--L", "-----"]),
    ("file",            ["CRUDL", "CRU-L", "-R--L", "-----"]),
    ("agent config",    ["CRUDL", "-R--L", "-R--L", "-----"]),
    ("agent instance",  ["CRUDL", "-R--L", "-R--L", "-----"]),
    ("agent execution", ["CRUDL", "CRU-L", "-R--L", "-----"]),
    ("workflow",        ["CRUDL", "-R--L", "-R--L", "-----"]),
    ("conversation",    ["CR--L", "CR--L", "-R--L", "-----"]),
    ("message",         ["CR--L", "CR--L", "-R--L", "-----"]),
    ("role",            ["-R--L", "-R--L", "-R--L", "-----"]),
    ("role assignment", ["-R--L", "-R--L", "-R--L", "-----"]),
    ("session",         ["C----", "C----", "C----", "C----"]),
    ("api key",         ["C----", "C----", "C----", "C----"]),
    ("usage",           ["-R--L", "-R--L", "-R--L", "-----"]),
    ("setting",         ["CRUDL", "-R--L", "-R--L", "-----"]),
];

/// The special operations: `Y` allowed, `-` denied, `n` not applicable (an agent has no
/// password, the operator is no member and has no sessions or keys of its own).
#[rustfmt::skip]
pub(crate) const SPECIAL_TABLE: &[(Special, [char; 11])] = &[
    //                                  adm  admH admA conH conA viwH viwA dis  key  dky  op
    (Special::OwnPassword,             ['Y', 'Y', 'n', 'Y', 'n', 'Y', 'n', '-', '-', '-', 'n']),
    (Special::OthersPassword,          ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::TenantPlan,              ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::TenantSuspend,           ['-', '-', '-', '-', '-', '-', '-', '-', '-', '-', 'Y']),
    (Special::OwnSession,              ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'n']),
    (Special::OthersSession,           ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::OwnApiKey,               ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'n']),
    (Special::RevokeOthersSession,     ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::CommentAsOther,          ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::MessageAsOther,          ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::EditOthersComment,       ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::ArchiveOthersChat,       ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::WorkflowVersion,         ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::DeleteMember,            ['Y', 'Y', 'Y', '-', '-', '-', '-', '-', '-', '-', '-']),
    (Special::ReadAudit,               ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::AuditByTime,             ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::AuditByActor,            ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::AuditByTarget,           ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::UsageTotals,             ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::CountTasks,              ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', 'Y', '-', 'Y']),
    (Special::MessageCount,            ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::WorkflowVersions,        ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
    (Special::WorkflowDefinitionAt,    ['Y', 'Y', 'Y', 'Y', 'Y', 'Y', 'Y', '-', '-', '-', 'Y']),
];

/// The special operations of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    OwnPassword,
    OthersPassword,
    TenantPlan,
    TenantSuspend,
    OwnSession,
    OthersSession,
    OwnApiKey,
    RevokeOthersSession,
    CommentAsOther,
    MessageAsOther,
    EditOthersComment,
    ArchiveOthersChat,
    WorkflowVersion,
    DeleteMember,
    ReadAudit,
    /// The trail through `audit::query::by_time`.
    AuditByTime,
    /// `audit::query::by_actor`.
    AuditByActor,
    /// `audit::query::by_target`.
    AuditByTarget,
    /// `usage::metric_totals` (and the day totals and series behind the same check).
    UsageTotals,
    /// `record::count_of::<Task>`.
    CountTasks,
    /// `conversation::message_count` of another member's conversation.
    MessageCount,
    /// `workflow::versions` of a workflow.
    WorkflowVersions,
    /// `workflow::definition_at` of a workflow.
    WorkflowDefinitionAt,
}

/// One principal of the cast, with the member it acts as (if any).
#[derive(Clone, Copy)]
pub(crate) struct Seat {
    who: Who,
    principal: Principal,
    member: Option<MemberId>,
}

pub(crate) struct Cast {
    pub(crate) org: Org,
    seats: Vec<Seat>,
    viewer_role: RoleId,
    /// Members to assign roles to: an assignment is unique per (member, role, entity), and
    /// the role-assignment row makes 55 of them.
    assignees: Vec<MemberId>,
    /// Which of `assignees` each [`unique`] number was given, in the order first asked. Not
    /// the number modulo the assignees: those numbers are shared by every test of the
    /// binary, so they repeated whenever concurrent tests drew enough of them in between,
    /// and a target already existed (`AlreadyExists` on sled under load). The same number
    /// gets the same member again, as a retried body building its record must.
    assignee_of: Mutex<HashMap<u64, MemberId>>,
}

impl Cast {
    pub(crate) async fn new(db: &dyn KvBackend, domain: &str) -> Cast {
        let org = Org::new(db, domain).await;
        let t = org.tenant();
        let p = &org.p;
        let seat = |who, principal: Principal| Seat {
            who,
            principal,
            member: principal.member_id(),
        };
        let admin_h = member(db, p, Kind::Human, "admh", Some("admin")).await;
        let admin_a = member(db, p, Kind::Agent, "adma", Some("admin")).await;
        let con_h = member(db, p, Kind::Human, "conh", Some("contributor")).await;
        let con_a = member(db, p, Kind::Agent, "cona", Some("contributor")).await;
        let viw_h = member(db, p, Kind::Human, "viwh", Some("viewer")).await;
        let viw_a = member(db, p, Kind::Agent, "viwa", Some("viewer")).await;
        let dis = member(db, p, Kind::Human, "dis", Some("contributor")).await;
        let dis_k = member(db, p, Kind::Human, "disk", Some("contributor")).await;
        let (session, _token) = Session::generate(con_h.id, i64::MAX / 2);
        let session = attempt!(db, t, |ttx| {
            record::insert(&ttx, Actor::System, session).await
        })
        .expect("session");
        let (narrow, _) = api_key(db, t, con_h.id, &NARROW_SCOPES).await;
        let (dis_key, _) = api_key(db, t, dis_k.id, &[]).await;
        set_user_status(db, t, user_of(&dis), UserStatus::Disabled).await;
        set_user_status(db, t, user_of(&dis_k), UserStatus::Disabled).await;
        let viewer_role = attempt!(db, t, |ttx| {
            role::by_name(&ttx, Actor::System, "viewer").await
        })
        .expect("viewer role")
        .expect("built in")
        .id;
        let seats = vec![
            seat(Who::AdminUser, Principal::member(p.admin_member.id)),
            seat(Who::AdminHuman, Principal::member(admin_h.id)),
            seat(Who::AdminAgent, Principal::member(admin_a.id)),
            seat(
                Who::ContributorHuman,
                Principal::with_session(con_h.id, session.id),
            ),
            seat(Who::ContributorAgent, Principal::member(con_a.id)),
            seat(Who::ViewerHuman, Principal::member(viw_h.id)),
            seat(Who::ViewerAgent, Principal::member(viw_a.id)),
            seat(Who::Disabled, Principal::member(dis.id)),
            seat(Who::NarrowKey, Principal::with_api_key(con_h.id, narrow.id)),
            seat(
                Who::DisabledKey,
                Principal::with_api_key(dis_k.id, dis_key.id),
            ),
            seat(Who::Operator, Principal::operator()),
        ];
        assert!(seats.iter().map(|s| s.who).eq(WHO), "seats in table order");
        let config = org.config;
        let assignees = attempt!(db, t, |ttx| {
            let mut made = Vec::new();
            for n in 0..64 {
                let m = Member::new(MemberKind::Agent(config), format!("assignee{n}"));
                made.push(record::insert(&ttx, Actor::System, m).await?.id);
            }
            Ok(made)
        })
        .expect("assignees");
        Cast {
            org,
            seats,
            viewer_role,
            assignees,
            assignee_of: Mutex::default(),
        }
    }

    /// The member for the role assignment of number `n`: one no other number has.
    fn assignee(&self, n: u64) -> MemberId {
        let mut given = self.assignee_of.lock().unwrap_or_else(|p| p.into_inner());
        let next = given.len();
        *given.entry(n).or_insert_with(|| {
            *self.assignees.get(next).unwrap_or_else(|| {
                panic!("the cast has {} assignees: make more", self.assignees.len())
            })
        })
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unique() -> u64 {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A model's row: how to make a valid record owned by a member, and a valid change.
pub(crate) struct Crud<M> {
    pub(crate) name: &'static str,
    pub(crate) make: fn(&Cast, MemberId, u64) -> M,
    pub(crate) change: fn(&Cast, &mut M),
}

#[async_trait]
pub(crate) trait Subject: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether `by` did `op` (one of `CRUDL`); `Err` for anything but a denial.
    async fn attempt(&self, db: &dyn KvBackend, cast: &Cast, seat: Seat, op: char) -> bool;
    /// Runs create, update and delete through `faulty`, each commit reported unknown after
    /// it applied, with the record built inside the retry body; panics unless each made
    /// exactly one change ([`super::exactly_once`]).
    async fn exactly_once(&self, db: &dyn KvBackend, faulty: &FaultyBackend, cast: &Cast);
}

#[async_trait]
impl<M: Model + std::fmt::Debug> Subject for Crud<M> {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn exactly_once(&self, db: &dyn KvBackend, faulty: &FaultyBackend, cast: &Cast) {
        super::exactly_once::create_update_delete(self, db, faulty, cast).await;
    }

    async fn attempt(&self, db: &dyn KvBackend, cast: &Cast, seat: Seat, op: char) -> bool {
        let t = cast.org.tenant();
        let by = seat.principal;
        let what = format!("{} {op} by {:?}", self.name, seat.who);
        if op == 'C' {
            let owner = seat.member.unwrap_or(cast.org.other.id);
            let record = (self.make)(cast, owner, unique());
            let done = attempt!(db, t, |ttx| record::insert(&ttx, by, record).await);
            return !denied(&what, &done);
        }
        let target = (self.make)(cast, cast.org.other.id, unique());
        let target = attempt!(db, t, |ttx| {
            record::insert(&ttx, Actor::System, target).await
        })
        .unwrap_or_else(|e| panic!("{what}: making the target: {e:?}"));
        let id = target.id();
        match op {
            'R' => {
                let read = attempt!(db, t, |ttx| record::get::<M>(&ttx, by, id).await);
                !denied(&what, &read)
            }
            'U' => {
                let mut changed = target.clone();
                (self.change)(cast, &mut changed);
                let done = attempt!(db, t, |ttx| record::update(&ttx, by, changed).await);
                let done = !denied(&what, &done);
                if !done {
                    unchanged(db, t, &target, &what).await;
                }
                done
            }
            'D' => {
                let done = attempt!(db, t, |ttx| record::delete::<M>(&ttx, by, id).await);
                let done = !denied(&what, &done);
                if !done {
                    unchanged(db, t, &target, &what).await;
                }
                done
            }
            'L' => listed::<M>(db, t, by, id).await,
            other => panic!("no operation {other}"),
        }
    }
}

/// Whether paging through `M`'s list as `by` finds `id`.
async fn listed<M: Model>(db: &dyn KvBackend, t: TenantId, by: Principal, id: M::Id) -> bool {
    let mut request = PageRequest::first(50);
    loop {
        let page = attempt!(db, t, |ttx| record::list::<M>(&ttx, by, &request).await)
            .expect("a list is never refused");
        if page.items.iter().any(|r| r.id() == id) {
            return true;
        }
        match page.next {
            Some(next) => request = PageRequest::after(next, 50),
            None => return false,
        }
    }
}

// Length: the table of the matrix, one entry a model (how to make, change and find one).
pub(crate) fn subjects() -> Vec<Box<dyn Subject>> {
    use coditect_core::model::*;
    vec![
        Box::new(Crud {
            name: "entity",
            make: |c, _, n| {
                Entity::new(
                    format!("E{n}"),
                    "E",
                    EntityKind::Department,
                    Some(c.org.division),
                )
            },
            change: |_, e| e.name = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "user",
            make: |_, _, n| User::new(format!("u{n}@acme.test"), "U", UserRole::Developer),
            change: |_, u| u.name = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "member",
            make: |c, _, n| Member::new(MemberKind::Agent(c.org.config), format!("m{n}")),
            change: |_, m| m.display_name = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "project",
            make: |c, owner, n| Project::new(format!("P{n}"), "P", c.org.team, owner),
            change: |_, p| p.name = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "task",
            make: |c, owner, _| Task::new(c.org.project, "T", owner),
            change: |_, t| t.title = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "comment",
            make: |c, owner, _| Comment::new(c.org.task, owner, "hello"),
            change: |_, x| x.body = "edited".into(),
        }),
        Box::new(Crud {
            name: "file",
            make: |c, _, n| File::new(c.org.project, format!("/f{n}"), 1, [7; 32], "s3://b/f"),
            change: |_, f| f.size = 2,
        }),
        Box::new(Crud {
            name: "agent config",
            make: |_, _, n| {
                AgentConfig::new(format!("cfg{n}"), AgentType::Coder, "anthropic", "claude")
            },
            change: |_, a| a.provider = "other".into(),
        }),
        Box::new(Crud {
            name: "agent instance",
            make: |c, _, _| AgentInstance::new(c.org.config, "eu-1"),
            change: |_, i| i.location = "eu-2".into(),
        }),
        Box::new(Crud {
            name: "agent execution",
            make: |c, _, _| AgentExecution::new(c.org.instance, Some(c.org.task)),
            change: |_, x| x.error = Some("failed".into()),
        }),
        Box::new(Crud {
            name: "workflow",
            make: |c, _, n| {
                Workflow::new(c.org.project, format!("wf{n}"), manual_workflow("build"))
            },
            change: |_, w| w.name = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "conversation",
            make: |_, owner, _| Conversation::new(owner, "Chat"),
            change: |_, x| x.title = "Renamed".into(),
        }),
        Box::new(Crud {
            name: "message",
            make: |c, owner, _| Message::new(c.org.conversation, owner, MessageRole::User, "hi"),
            change: |_, m| m.content = "edited".into(),
        }),
        Box::new(Crud {
            name: "role",
            make: |_, _, n| role::Role::new(format!("role{n}"), NARROW_SCOPES),
            change: |_, r| r.description = "changed".into(),
        }),
        Box::new(Crud {
            name: "role assignment",
            make: |c, _, n| RoleAssignment::new(c.assignee(n), c.viewer_role, c.org.team),
            change: |c, a| a.entity = c.org.division,
        }),
        Box::new(Crud {
            name: "session",
            make: |_, owner, _| Session::generate(owner, i64::MAX / 2).0,
            change: |_, s| s.user_agent = "curl".into(),
        }),
        Box::new(Crud {
            name: "api key",
            make: |_, owner, _| ApiKey::generate(owner, "k").0,
            change: |_, k| k.name = "renamed".into(),
        }),
        Box::new(Crud {
            name: "usage",
            make: |_, _, n| Usage::new(format!("metric{n}"), 20_000, 1, 10),
            change: |_, u| u.quantity = 2,
        }),
        Box::new(Crud {
            name: "setting",
            make: |_, _, n| Setting::new(SettingScope::Tenant, format!("s{n}"), TypedValue::Int(1)),
            change: |_, s| s.value = TypedValue::Int(2),
        }),
    ]
}

/// A refused operation left `target` as it was.
async fn unchanged<M: Model + std::fmt::Debug>(
    db: &dyn KvBackend,
    t: TenantId,
    target: &M,
    what: &str,
) {
    let id = target.id();
    let stored =
        attempt!(db, t, |ttx| record::get::<M>(&ttx, Actor::System, id).await).expect("read back");
    assert_eq!(
        stored.as_ref(),
        Some(target),
        "{what}: a refused operation changed the record"
    );
}

fn action_of(op: char) -> Action {
    match op {
        'C' => Action::Create,
        'R' => Action::Read,
        'U' => Action::Update,
        _ => Action::Delete,
    }
}

/// Every model's create, read, update, delete and list for every principal, against
/// `MODEL_TABLE`; each denial audited exactly once (actor and action), nothing else
/// audited as one; humans and agents with the same grants answer alike.
pub async fn authorization_matrix_of_the_models(h: &dyn Harness) {
    let db = h.backend();
    let cast = Cast::new(db.as_ref(), "matrix-models.test").await;
    let mut watch = DenialWatch::new(db.as_ref(), cast.org.tenant()).await;
    let subjects = subjects();
    assert_eq!(subjects.len(), MODEL_TABLE.len(), "one row per model");
    let mut wrong = Vec::new();
    for (subject, (name, row)) in subjects.iter().zip(MODEL_TABLE) {
        assert_eq!(subject.name(), *name, "rows in table order");
        for (seat, expected) in cast.seats.iter().zip(row) {
            let by = format!("{:?}", seat.who);
            let got = crudl(subject.as_ref(), db.as_ref(), &cast, *seat, &mut watch, &by).await;
            if got != *expected {
                wrong.push(format!("{name} by {by}: expected {expected}, got {got}"));
            }
        }
    }
    agrees(&wrong);
    for (name, row) in MODEL_TABLE {
        humans_and_agents_alike(name, row, None);
    }
}

/// Every model's create, read, update, delete and list for a human holding only a user-level
/// role, against `USER_ROLE_TABLE`; a Developer and a Viewer answer as a contributor and a
/// viewer assigned at the root do in `MODEL_TABLE`.
pub async fn authorization_matrix_of_the_user_roles(h: &dyn Harness) {
    let db = h.backend();
    let cast = Cast::new(db.as_ref(), "matrix-user-roles.test").await;
    let mut watch = DenialWatch::new(db.as_ref(), cast.org.tenant()).await;
    let mut seats = Vec::new();
    for (name, user_role) in [
        ("mgr", UserRole::Manager),
        ("dev", UserRole::Developer),
        ("vwr", UserRole::Viewer),
        ("gst", UserRole::Guest),
    ] {
        let m = member_as(db.as_ref(), &cast.org.p, Kind::Human, name, user_role, None).await;
        let seat = Seat {
            who: Who::ViewerHuman, // unused: `crudl` is given the seat's name
            principal: Principal::member(m.id),
            member: Some(m.id),
        };
        seats.push((format!("{user_role:?}"), seat));
    }
    let mut wrong = Vec::new();
    for (subject, (name, row)) in subjects().iter().zip(USER_ROLE_TABLE) {
        assert_eq!(subject.name(), *name, "rows in table order");
        for ((by, seat), expected) in seats.iter().zip(row) {
            let got = crudl(subject.as_ref(), db.as_ref(), &cast, *seat, &mut watch, by).await;
            if got != *expected {
                wrong.push(format!(
                    "{name} by a {by} user: expected {expected}, got {got}"
                ));
            }
        }
    }
    agrees(&wrong);
    for ((name, roles), (model_name, row)) in USER_ROLE_TABLE.iter().zip(MODEL_TABLE) {
        assert_eq!(name, model_name);
        assert_eq!(
            roles[1], row[3],
            "{name}: a Developer is a contributor everywhere"
        );
        assert_eq!(roles[2], row[5], "{name}: a Viewer is a viewer everywhere");
    }
}

/// One cell of a model table: which of `CRUDL` the seat did, each denial checked to be
/// audited exactly once (and nothing else audited as one); `by` names the seat in messages.
async fn crudl(
    subject: &dyn Subject,
    db: &dyn KvBackend,
    cast: &Cast,
    seat: Seat,
    watch: &mut DenialWatch,
    by: &str,
) -> String {
    let mut got = String::new();
    for op in ['C', 'R', 'U', 'D', 'L'] {
        let done = subject.attempt(db, cast, seat, op).await;
        let denials = watch.take(db).await;
        let audited = if done || op == 'L' {
            vec![]
        } else {
            vec![(seat.principal.actor(), action_of(op))]
        };
        let name = subject.name();
        assert_eq!(denials, audited, "{name} {op} by {by}: denials audited");
        got.push(if done { op } else { '-' });
    }
    got
}

/// Fails listing every cell where the run disagreed with the table.
fn agrees(wrong: &[String]) {
    assert!(
        wrong.is_empty(),
        "the matrix disagrees:\n{}",
        wrong.join("\n")
    );
}

/// A human and an agent with the same grants get the same answers (but where one of them
/// is `not_applicable`).
fn humans_and_agents_alike<T: PartialEq + std::fmt::Debug>(
    what: impl std::fmt::Debug,
    row: &[T; 11],
    not_applicable: Option<T>,
) {
    for (human, agent) in PAIRS {
        let skip = not_applicable
            .as_ref()
            .is_some_and(|n| row[human] == *n || row[agent] == *n);
        if !skip {
            assert_eq!(
                row[human], row[agent],
                "{what:?}: a human and an agent alike"
            );
        }
    }
}

/// Every special operation for every principal, against `SPECIAL_TABLE`; each denial
/// audited exactly once; humans and agents alike where both apply.
pub async fn authorization_matrix_of_the_special_operations(h: &dyn Harness) {
    let db = h.backend();
    let cast = Cast::new(db.as_ref(), "matrix-special.test").await;
    let mut watch = DenialWatch::new(db.as_ref(), cast.org.tenant()).await;
    let mut wrong = Vec::new();
    for (op, row) in SPECIAL_TABLE {
        for (seat, expected) in cast.seats.iter().zip(row) {
            let got = match special(db.as_ref(), &cast, *seat, *op).await {
                None => 'n',
                Some(true) => 'Y',
                Some(false) => '-',
            };
            let denials = watch.take(db.as_ref()).await;
            let actors: Vec<Actor> = denials.iter().map(|(actor, _)| *actor).collect();
            let audited = if got == '-' {
                vec![seat.principal.actor()]
            } else {
                vec![]
            };
            assert_eq!(actors, audited, "{op:?} by {:?}: denials audited", seat.who);
            if got != *expected {
                wrong.push(format!(
                    "{op:?} by {:?}: expected {expected}, got {got}",
                    seat.who
                ));
            }
        }
    }
    agrees(&wrong);
    for (op, row) in SPECIAL_TABLE {
        humans_and_agents_alike(op, row, Some('n'));
    }
}

/// Does `op` as `seat`: `None` when it does not apply to it, else whether it was allowed.
// Length: one arm a special operation of the matrix (the table names them all), each the
// shortest form of that operation.
async fn special(db: &dyn KvBackend, cast: &Cast, seat: Seat, op: Special) -> Option<bool> {
    let (t, by, org) = (cast.org.tenant(), seat.principal, &cast.org);
    let other = org.other.id;
    let what = format!("{op:?} by {:?}", seat.who);
    let done = match op {
        Special::OwnPassword => {
            let user = own_user(db, t, seat.member?).await?;
            attempt!(db, t, |ttx| {
                user::set_password_with(&ttx, by, user, "correct horse battery", cheap_argon2())
                    .await
            })
        }
        Special::OthersPassword => {
            let user = user_of(&org.other);
            attempt!(db, t, |ttx| {
                user::set_password_with(&ttx, by, user, "correct horse battery", cheap_argon2())
                    .await
            })
        }
        Special::TenantPlan => {
            let (entry, _) = run(db, &RetryOptions::default(), |tx| async move {
                tenant::get(&*tx, t).await
            })
            .await
            .expect("read tenant");
            let mut entry = entry.expect("tenant");
            entry.plan = if entry.plan == Plan::Enterprise {
                Plan::Professional
            } else {
                Plan::Enterprise
            };
            tenant::update_settings(db, by, entry).await.map(drop)
        }
        Special::TenantSuspend => {
            let result =
                tenant::change_status(db, by, t, coditect_core::model::TenantStatus::Suspended)
                    .await;
            if result.is_ok() {
                tenant::change_status(
                    db,
                    Principal::system(),
                    t,
                    coditect_core::model::TenantStatus::Active,
                )
                .await
                .expect("reactivate");
            }
            result.map(drop)
        }
        Special::OwnSession => {
            let session = Session::generate(seat.member?, i64::MAX / 2).0;
            attempt!(db, t, |ttx| {
                record::insert(&ttx, by, session).await.map(drop)
            })
        }
        Special::OthersSession => {
            let session = Session::generate(other, i64::MAX / 2).0;
            attempt!(db, t, |ttx| {
                record::insert(&ttx, by, session).await.map(drop)
            })
        }
        Special::OwnApiKey => {
            let key = ApiKey::generate(seat.member?, "mine").0;
            attempt!(db, t, |ttx| record::insert(&ttx, by, key).await.map(drop))
        }
        Special::RevokeOthersSession => {
            let id: SessionId = made(db, t, Session::generate(other, i64::MAX / 2).0)
                .await
                .id;
            attempt!(db, t, |ttx| session::revoke(&ttx, by, id).await.map(drop))
        }
        Special::CommentAsOther => {
            let c = Comment::new(org.task, other, "in your name");
            attempt!(db, t, |ttx| record::insert(&ttx, by, c).await.map(drop))
        }
        Special::MessageAsOther => {
            let m = Message::new(org.conversation, other, MessageRole::User, "in your name");
            attempt!(db, t, |ttx| record::insert(&ttx, by, m).await.map(drop))
        }
        Special::EditOthersComment => {
            let id = made(db, t, Comment::new(org.task, other, "mine")).await.id;
            attempt!(db, t, |ttx| {
                comment::edit(&ttx, by, id, "edited").await.map(drop)
            })
        }
        Special::ArchiveOthersChat => {
            let mut chat = made(db, t, coditect_core::model::Conversation::new(other, "c")).await;
            chat.status = ConversationStatus::Archived;
            attempt!(db, t, |ttx| record::update(&ttx, by, chat).await.map(drop))
        }
        Special::WorkflowVersion => {
            let id = a_workflow(db, t, org.project).await;
            attempt!(db, t, |ttx| {
                workflow::set_definition(&ttx, by, id, manual_workflow("ship"))
                    .await
                    .map(drop)
            })
        }
        Special::DeleteMember => {
            let m = Member::new(MemberKind::Agent(org.config), format!("gone{}", unique()));
            let id = made(db, t, m).await.id;
            attempt!(db, t, |ttx| {
                record::delete::<Member>(&ttx, by, id).await.map(drop)
            })
        }
        Special::ReadAudit => attempt!(db, t, |ttx| {
            coditect_core::model::audit_event::list(&ttx, by, &PageRequest::first(10))
                .await
                .map(drop)
        }),
        Special::AuditByTime => attempt!(db, t, |ttx| {
            query::by_time(&ttx, by, &AuditQuery::newest(10))
                .await
                .map(drop)
        }),
        Special::AuditByActor => attempt!(db, t, |ttx| {
            query::by_actor(&ttx, by, Actor::System, &AuditQuery::newest(10))
                .await
                .map(drop)
        }),
        Special::AuditByTarget => attempt!(db, t, |ttx| {
            query::by_target(&ttx, by, "task", org.task.uuid(), &AuditQuery::newest(10))
                .await
                .map(drop)
        }),
        Special::UsageTotals => attempt!(db, t, |ttx| {
            coditect_core::model::usage::metric_totals(&ttx, by, "tokens")
                .await
                .map(drop)
        }),
        Special::CountTasks => attempt!(db, t, |ttx| {
            record::count_of::<Task>(&ttx, by).await.map(drop)
        }),
        Special::MessageCount => {
            let chat = made(db, t, coditect_core::model::Conversation::new(other, "c")).await;
            attempt!(db, t, |ttx| {
                coditect_core::model::conversation::message_count(&ttx, by, chat.id)
                    .await
                    .map(drop)
            })
        }
        Special::WorkflowVersions => {
            let id = a_workflow(db, t, org.project).await;
            attempt!(db, t, |ttx| {
                workflow::versions(&ttx, by, id, &PageRequest::first(10))
                    .await
                    .map(drop)
            })
        }
        Special::WorkflowDefinitionAt => {
            let id = a_workflow(db, t, org.project).await;
            attempt!(db, t, |ttx| {
                workflow::definition_at(&ttx, by, id, 1).await.map(drop)
            })
        }
    };
    Some(!denied(&what, &done))
}

/// `record`, inserted by the system.
/// A new workflow (of a unique name, one step) in `project`, made by the system.
async fn a_workflow(db: &dyn KvBackend, t: TenantId, project: ProjectId) -> WorkflowId {
    let name = format!("wf{}", unique());
    made(
        db,
        t,
        Workflow::new(project, name, manual_workflow("build")),
    )
    .await
    .id
}

async fn made<M: Model>(db: &dyn KvBackend, t: TenantId, record: M) -> M {
    attempt!(db, t, |ttx| {
        record::insert(&ttx, Actor::System, record).await
    })
    .expect("made")
}

/// The user of a human member, `None` for an agent.
async fn own_user(db: &dyn KvBackend, t: TenantId, m: MemberId) -> Option<UserId> {
    let member = attempt!(db, t, |ttx| {
        record::require::<Member>(&ttx, Actor::System, m).await
    })
    .expect("member");
    match member.kind {
        MemberKind::Human(user) => Some(user),
        MemberKind::Agent(_) => None,
    }
}
