//! Message: one message of a conversation, listed in order. Ids are UUID v7 and the
//! per-conversation index sorts by them, so a conversation reads back in creation order;
//! appending reads only the conversation (which appends never write), sets new keys and
//! adds to the conversation's counter atomically, so concurrent appends never conflict.
//! Only an Active conversation takes new messages.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ConversationId, MemberId, MessageId};
use crate::keys::KeyPart;
use crate::model::conversation::{message_counter, Conversation, ConversationStatus};
use crate::model::member::Member;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{
    self, check_len, Counter, IndexDef, Model, Page, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Who speaks in a message, in the model's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageRole {
    /// The person (or agent) asking.
    #[default]
    User,
    /// The agent answering.
    Assistant,
    /// Instructions.
    System,
    /// A tool's result.
    Tool,
}

/// Most bytes of a message's content (a value holds at most 100,000 bytes).
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// A message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id (v7: time-ordered).
    pub id: MessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The member who wrote it, human or agent.
    pub author: MemberId,
    /// Who speaks.
    pub role: MessageRole,
    /// What it says, 1 byte to [`MAX_CONTENT_BYTES`].
    pub content: String,
    /// Tokens it counts for.
    pub tokens: u32,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Message {
    /// A new message with a fresh, time-ordered id.
    #[track_caller]
    pub fn new(
        conversation: ConversationId,
        author: MemberId,
        role: MessageRole,
        content: impl Into<String>,
    ) -> Self {
        Message {
            id: MessageId::generate(),
            conversation,
            author,
            role,
            content: content.into(),
            tokens: 0,
            stamps: Timestamps::default(),
        }
    }

    /// Messages of a conversation, in id (creation) order.
    pub const BY_CONVERSATION: IndexDef<Message> = IndexDef {
        name: "message_by_conversation",
        field: "conversation",
        unique: false,
        values: |m| Some(vec![KeyPart::Uuid(m.conversation.uuid())]),
    };
}

impl Versioned for Message {
    const WHAT: &'static str = "message";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Message {
    const COLLECTION: &'static str = "message";
    const INDEXES: &'static [IndexDef<Self>] = &[Message::BY_CONVERSATION];
    type Id = MessageId;
    const RESOURCE: ResourceKind = ResourceKind::Message;

    crate::record::id_and_stamps!(MessageId);
    fn owner(&self) -> Option<MemberId> {
        Some(self.author)
    }
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        record::require_unchecked::<Conversation>(ttx, self.conversation)
            .await?
            .scope(ttx)
            .await
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "content", &self.content, 1, MAX_CONTENT_BYTES)
    }
    fn references(&self) -> Vec<Reference> {
        vec![
            Reference::to::<Conversation>("conversation", self.conversation),
            Reference::to::<Member>("author", self.author),
        ]
    }
    fn counted(&self) -> Vec<(Counter, i64)> {
        vec![(
            Counter::Record {
                collection: Conversation::COLLECTION,
                id: self.conversation.uuid(),
            },
            1,
        )]
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        match before {
            None => {
                let conversation =
                    record::require_unchecked::<Conversation>(ttx, self.conversation).await?;
                if conversation.status != ConversationStatus::Active {
                    return Err(Error::InvalidInput {
                        field: "conversation",
                        reason: format!("it is {:?}, not Active", conversation.status),
                    });
                }
                ttx.atomic_add(&message_counter(ttx, self.conversation), 1)
            }
            Some(before)
                if before.conversation != self.conversation || before.author != self.author =>
            {
                Err(Error::InvalidInput {
                    field: "conversation",
                    reason: "a message keeps its conversation and author".into(),
                })
            }
            Some(_) => Ok(()),
        }
    }
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        ttx.atomic_add(&message_counter(ttx, self.conversation), -1)
    }
}

/// One page of the messages of `conversation`, oldest first.
pub async fn by_conversation(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    conversation: ConversationId,
    request: &PageRequest,
) -> Result<Page<Message>> {
    record::list_by(
        ttx,
        by,
        &Message::BY_CONVERSATION,
        &[conversation.uuid().into()],
        request,
    )
    .await
}
