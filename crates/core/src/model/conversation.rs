//! Conversation: a member's exchange with agents (or people), optionally about a project;
//! status Active, Archived or Deleted (the soft delete; a conversation with messages is never
//! removed). Its message count is a counter kept by atomic adds as messages are appended, so
//! it stays exact under concurrent appends without any append conflicting on it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ConversationId, MemberId, ProjectId};
use crate::keys::{self, KeyPart};
use crate::model::member::Member;
use crate::model::project::Project;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Where a conversation stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConversationStatus {
    /// Open for messages.
    #[default]
    Active,
    /// Kept, closed for messages; may be re-activated.
    Archived,
    /// Soft-deleted: closed for good.
    Deleted,
}

/// A conversation of a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The member it belongs to.
    pub member: MemberId,
    /// The project it is about, if any (its access scope; tenant-wide without one).
    pub project: Option<ProjectId>,
    /// Title, up to 500 bytes (UTF-8).
    pub title: String,
    /// Where it stands.
    pub status: ConversationStatus,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Conversation {
    /// A new, active conversation of `member` with a fresh id.
    #[track_caller]
    pub fn new(member: MemberId, title: impl Into<String>) -> Self {
        Conversation {
            id: ConversationId::generate(),
            member,
            project: None,
            title: title.into(),
            status: ConversationStatus::default(),
            stamps: Timestamps::default(),
        }
    }

    /// Conversations of a member.
    pub const BY_MEMBER: IndexDef<Conversation> = IndexDef {
        name: "conversation_by_member",
        field: "member",
        unique: false,
        values: |c| Some(vec![KeyPart::Uuid(c.member.uuid())]),
    };
}

impl Versioned for Conversation {
    const WHAT: &'static str = "conversation";
    const SCHEMA_VERSION: u8 = 1;
}

/// The key of the counter of the messages of a conversation (a counter of one record, apart
/// from the per-tenant aggregates).
pub(crate) fn message_counter(ttx: &TenantTx<'_>, id: ConversationId) -> Vec<u8> {
    keys::record_counter_key(ttx.prefix(), Conversation::COLLECTION, id.uuid())
}

#[async_trait]
impl Model for Conversation {
    const COLLECTION: &'static str = "conversation";
    const INDEXES: &'static [IndexDef<Self>] = &[Conversation::BY_MEMBER];
    type Id = ConversationId;
    const RESOURCE: ResourceKind = ResourceKind::Conversation;

    crate::record::id_and_stamps!(ConversationId);
    fn owner(&self) -> Option<MemberId> {
        Some(self.member)
    }
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        match self.project {
            Some(project) => rbac::project_scope(ttx, project).await,
            None => Ok(Scope::Tenant),
        }
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "title", &self.title, 0, 500)
    }
    fn references(&self) -> Vec<Reference> {
        let mut refs = vec![Reference::to::<Member>("member", self.member)];
        refs.extend(self.project.map(|p| Reference::to::<Project>("project", p)));
        refs
    }
    async fn before_write(&self, _ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(before) = before {
            if before.member != self.member {
                return Err(Error::InvalidInput {
                    field: "member",
                    reason: "a conversation keeps its member".into(),
                });
            }
            if before.status == ConversationStatus::Deleted
                && self.status != ConversationStatus::Deleted
            {
                return Err(Error::InvalidInput {
                    field: "status",
                    reason: "a deleted conversation stays deleted".into(),
                });
            }
        }
        Ok(())
    }
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        // Its messages refer to it, so it has none left here.
        ttx.clear(&message_counter(ttx, self.id))
    }
}

/// The number of messages of conversation `id` (exact: kept by atomic adds), read by `by`,
/// who must be allowed to read the conversation ([`Error::NotFound`] when there is none).
pub async fn message_count(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: ConversationId,
) -> Result<i64> {
    record::require::<Conversation>(ttx, by, id).await?;
    record::read_counter(ttx, &message_counter(ttx, id)).await
}

/// One page of the conversations of `member`.
pub async fn by_member(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<Conversation>> {
    record::list_by(
        ttx,
        by,
        &Conversation::BY_MEMBER,
        &[member.uuid().into()],
        request,
    )
    .await
}
