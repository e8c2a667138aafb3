//! Task: belongs to a project; assignee and reporter are members (human or agent alike);
//! status, priority, type; an optional parent task in the same project, with no cycles.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{MemberId, ProjectId, TaskId};
use crate::keys::KeyPart;
use crate::model::member::Member;
use crate::model::project::Project;
use crate::model::Priority;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Where a task stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    /// Not started.
    #[default]
    Todo,
    /// Being worked on.
    InProgress,
    /// Waiting for review.
    InReview,
    /// Finished.
    Done,
    /// Dropped.
    Cancelled,
}

impl TaskStatus {
    /// The stable name used in index keys.
    pub fn code(self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::InReview => "in_review",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

/// What kind of work a task is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskType {
    /// New behaviour.
    #[default]
    Feature,
    /// A defect.
    Bug,
    /// Upkeep.
    Chore,
    /// Finding out.
    Research,
}

/// A task of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// Its project.
    pub project: ProjectId,
    /// Short title, 1 to 500 bytes (UTF-8).
    pub title: String,
    /// Free text, up to 50,000 bytes (UTF-8).
    pub description: String,
    /// Where it stands.
    pub status: TaskStatus,
    /// How urgent it is.
    pub priority: Priority,
    /// What kind of work it is.
    pub kind: TaskType,
    /// The member doing it, if any.
    pub assignee: Option<MemberId>,
    /// The member who filed it.
    pub reporter: MemberId,
    /// The task it is a subtask of, in the same project.
    pub parent: Option<TaskId>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// How far up a walk of parents may go before the chain is taken to be a cycle.
const MAX_DEPTH: usize = 256;

impl Task {
    /// A new to-do task with a fresh id.
    #[track_caller]
    pub fn new(project: ProjectId, title: impl Into<String>, reporter: MemberId) -> Self {
        Task {
            id: TaskId::generate(),
            project,
            title: title.into(),
            description: String::new(),
            status: TaskStatus::default(),
            priority: Priority::default(),
            kind: TaskType::default(),
            assignee: None,
            reporter,
            parent: None,
            stamps: Timestamps::default(),
        }
    }

    /// The same task assigned to `member` (the third argument of [`Task::new`] is the
    /// reporter, who filed it).
    pub fn assigned_to(mut self, member: MemberId) -> Self {
        self.assignee = Some(member);
        self
    }

    /// The same task with `description`.
    pub fn described(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Tasks of a project.
    pub const BY_PROJECT: IndexDef<Task> = IndexDef {
        name: "task_by_project",
        field: "project",
        unique: false,
        values: |t| Some(vec![KeyPart::Uuid(t.project.uuid())]),
    };
    /// Tasks assigned to a member.
    pub const BY_ASSIGNEE: IndexDef<Task> = IndexDef {
        name: "task_by_assignee",
        field: "assignee",
        unique: false,
        values: |t| t.assignee.map(|a| vec![KeyPart::Uuid(a.uuid())]),
    };
    /// Tasks in a status.
    pub const BY_STATUS: IndexDef<Task> = IndexDef {
        name: "task_by_status",
        field: "status",
        unique: false,
        values: |t| Some(vec![KeyPart::Str(t.status.code().into())]),
    };
    /// Subtasks of a task.
    pub const BY_PARENT: IndexDef<Task> = IndexDef {
        name: "task_by_parent",
        field: "parent",
        unique: false,
        values: |t| t.parent.map(|p| vec![KeyPart::Uuid(p.uuid())]),
    };
}

impl Versioned for Task {
    const WHAT: &'static str = "task";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Task {
    const COLLECTION: &'static str = "task";
    const INDEXES: &'static [IndexDef<Self>] = &[
        Task::BY_PROJECT,
        Task::BY_ASSIGNEE,
        Task::BY_STATUS,
        Task::BY_PARENT,
    ];
    type Id = TaskId;
    const RESOURCE: ResourceKind = ResourceKind::Task;

    crate::record::id_and_stamps!(TaskId);
    fn attributed_to(&self) -> Option<crate::ids::MemberId> {
        Some(self.reporter)
    }
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        rbac::project_scope(ttx, self.project).await
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "title", &self.title, 1, 500)?;
        check_len(Self::WHAT, "description", &self.description, 0, 50_000)?;
        if self.parent == Some(self.id) {
            return Err(cycle());
        }
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        let mut refs = vec![
            Reference::to::<Project>("project", self.project),
            Reference::to::<Member>("reporter", self.reporter),
        ];
        refs.extend(
            self.assignee
                .map(|a| Reference::to::<Member>("assignee", a)),
        );
        refs.extend(self.parent.map(|p| Reference::to::<Task>("parent", p)));
        refs
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(parent_id) = self.parent {
            let mut cursor = Some(parent_id);
            let mut steps = 0;
            while let Some(id) = cursor {
                steps += 1;
                if id == self.id || steps > MAX_DEPTH {
                    return Err(cycle());
                }
                let ancestor = record::require_unchecked::<Task>(ttx, id).await?;
                if id == parent_id && ancestor.project != self.project {
                    return Err(Error::InvalidInput {
                        field: "parent",
                        reason: "the parent task is in another project".into(),
                    });
                }
                cursor = ancestor.parent;
            }
        }
        if let Some(before) = before {
            if before.project != self.project
                && record::any_by(ttx, &Task::BY_PARENT, &[self.id.uuid().into()]).await?
            {
                return Err(Error::InvalidInput {
                    field: "project",
                    reason: "a task with subtasks cannot move to another project".into(),
                });
            }
        }
        Ok(())
    }
}

fn cycle() -> Error {
    Error::InvalidInput {
        field: "parent",
        reason: "the task would become its own ancestor (a cycle)".into(),
    }
}

/// One page of the tasks of `project`.
pub async fn by_project(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    project: ProjectId,
    request: &PageRequest,
) -> Result<Page<Task>> {
    record::list_by(
        ttx,
        by,
        &Task::BY_PROJECT,
        &[project.uuid().into()],
        request,
    )
    .await
}

/// One page of the tasks assigned to `member`.
pub async fn by_assignee(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<Task>> {
    record::list_by(
        ttx,
        by,
        &Task::BY_ASSIGNEE,
        &[member.uuid().into()],
        request,
    )
    .await
}

/// One page of the tasks in `status`.
pub async fn by_status(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    status: TaskStatus,
    request: &PageRequest,
) -> Result<Page<Task>> {
    record::list_by(ttx, by, &Task::BY_STATUS, &[status.code().into()], request).await
}

/// One page of the subtasks of `parent`.
pub async fn subtasks(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    parent: TaskId,
    request: &PageRequest,
) -> Result<Page<Task>> {
    record::list_by(ttx, by, &Task::BY_PARENT, &[parent.uuid().into()], request).await
}
