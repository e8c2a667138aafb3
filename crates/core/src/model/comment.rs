//! Comment: on a task, by a member, in time order (ids are UUID v7 and the by-task index ends
//! with the id, so a task's comments list oldest first).
//!
//! This model shows schema evolution for real: version 1 had no `edited_at_ms`; version 2
//! adds it. Version-1 bytes decode through the frozen [`CommentV1`] and [`Versioned::upgrade`]
//! (lazily, on read) and the next write stores version 2.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{CommentId, MemberId, TaskId};
use crate::keys::KeyPart;
use crate::model::member::Member;
use crate::model::task::Task;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind, Scope};
use crate::record::{
    self, check_len, now_ms, IndexDef, Model, Page, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::{self, postcard_exact, Versioned};

/// A comment on a task (schema version 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Its id (v7: time-ordered).
    pub id: CommentId,
    /// The task it is on.
    pub task: TaskId,
    /// The member who wrote it.
    pub author: MemberId,
    /// Its text, 1 to 20,000 bytes (UTF-8).
    pub body: String,
    /// When its body was last edited (new in version 2; `None` for comments never edited,
    /// and for every version-1 comment).
    pub edited_at_ms: Option<i64>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// A comment as version 1 stored it. Frozen: never change it, it describes bytes on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentV1 {
    /// Its id.
    pub id: CommentId,
    /// The task it is on.
    pub task: TaskId,
    /// The member who wrote it.
    pub author: MemberId,
    /// Its text.
    pub body: String,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl CommentV1 {
    /// The bytes version 1 stored for this comment (its schema byte, then postcard), for
    /// tests and tools that need old data.
    pub fn to_stored_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = vec![1u8];
        bytes.extend(
            postcard::to_allocvec(self).map_err(|e| crate::Error::Encode {
                what: "comment v1",
                source: Box::new(e),
            })?,
        );
        Ok(bytes)
    }
}

impl From<CommentV1> for Comment {
    fn from(v1: CommentV1) -> Self {
        Comment {
            id: v1.id,
            task: v1.task,
            author: v1.author,
            body: v1.body,
            edited_at_ms: None,
            stamps: v1.stamps,
        }
    }
}

impl Comment {
    /// A new comment with a fresh (time-ordered) id.
    #[track_caller]
    pub fn new(task: TaskId, author: MemberId, body: impl Into<String>) -> Self {
        Comment {
            id: CommentId::generate(),
            task,
            author,
            body: body.into(),
            edited_at_ms: None,
            stamps: Timestamps::default(),
        }
    }

    /// Comments of a task, oldest first.
    pub const BY_TASK: IndexDef<Comment> = IndexDef {
        name: "comment_by_task",
        field: "task",
        unique: false,
        values: |c| Some(vec![KeyPart::Uuid(c.task.uuid())]),
    };
}

impl Versioned for Comment {
    const WHAT: &'static str = "comment";
    const SCHEMA_VERSION: u8 = 2;

    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self> {
        match version {
            1 => postcard_exact::<CommentV1>(Self::WHAT, bytes).map(Comment::from),
            other => Err(value::unknown_version(Self::WHAT, other)),
        }
    }
}

#[async_trait]
impl Model for Comment {
    const COLLECTION: &'static str = "comment";
    const INDEXES: &'static [IndexDef<Self>] = &[Comment::BY_TASK];
    type Id = CommentId;
    const RESOURCE: ResourceKind = ResourceKind::Comment;

    crate::record::id_and_stamps!(CommentId);
    fn owner(&self) -> Option<MemberId> {
        Some(self.author)
    }
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        let task = record::require_unchecked::<Task>(ttx, self.task).await?;
        rbac::project_scope(ttx, task.project).await
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "body", &self.body, 1, 20_000)
    }
    fn references(&self) -> Vec<Reference> {
        vec![
            Reference::to::<Task>("task", self.task),
            Reference::to::<Member>("author", self.author),
        ]
    }
}

/// One page of the comments on `task`, oldest first.
pub async fn by_task(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    task: TaskId,
    request: &PageRequest,
) -> Result<Page<Comment>> {
    record::list_by(ttx, by, &Comment::BY_TASK, &[task.uuid().into()], request).await
}

/// Replaces the body of comment `id` and records when it was edited.
pub async fn edit(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: CommentId,
    body: impl Into<String>,
) -> Result<Comment> {
    let by = by.into();
    let mut comment = record::require::<Comment>(ttx, by, id).await?;
    comment.body = body.into();
    comment.edited_at_ms = Some(now_ms());
    record::update(ttx, by, comment).await
}
