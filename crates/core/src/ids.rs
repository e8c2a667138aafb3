//! Typed record ids: one newtype per model, so a task id can never be passed where a member
//! id is expected. All are UUIDs and none is nil.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// What the generic record store needs of a model's id.
pub trait RecordId: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// The UUID inside.
    fn uuid(self) -> Uuid;
    /// The id holding `uuid`; the nil UUID is [`Error::InvalidInput`].
    fn from_uuid(uuid: Uuid) -> Result<Self>;
}

/// Rejects the nil UUID for the field `field`.
pub(crate) fn not_nil(field: &'static str, uuid: Uuid) -> Result<()> {
    if uuid.is_nil() {
        return Err(Error::InvalidInput {
            field,
            reason: "the nil UUID is not an id".into(),
        });
    }
    Ok(())
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The id holding `uuid`; the nil UUID is [`Error::InvalidInput`].
            pub fn new(uuid: Uuid) -> Result<Self> {
                not_nil($field, uuid)?;
                Ok($name(uuid))
            }

            /// A fresh id: UUID v7, so ids sort by creation time. Inside a
            /// [`run`](crate::run) body, every attempt of the run gets the same ids in the
            /// same order ([`replay`](mod@crate::replay)), so a record built inside a retried
            /// body is not created twice. Draws are replayed per calling site (this
            /// function and the model constructors that call it pass their caller's
            /// location on), so two records built on different lines never swap ids.
            #[track_caller]
            pub fn generate() -> Self {
                $name(crate::replay::uuid_v7())
            }

            /// The UUID inside.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl RecordId for $name {
            fn uuid(self) -> Uuid {
                self.0
            }
            fn from_uuid(uuid: Uuid) -> Result<Self> {
                $name::new(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

record_id!(
    /// The id of a [`User`](crate::model::User).
    UserId,
    "user_id"
);
record_id!(
    /// The id of an [`Entity`](crate::model::Entity).
    EntityId,
    "entity_id"
);
record_id!(
    /// The id of a [`Member`](crate::model::Member): the identity that owns, is assigned and
    /// acts, human or agent.
    MemberId,
    "member_id"
);
record_id!(
    /// The id of an [`AgentConfig`](crate::model::AgentConfig).
    AgentConfigId,
    "agent_config_id"
);
record_id!(
    /// The id of a [`Project`](crate::model::Project).
    ProjectId,
    "project_id"
);
record_id!(
    /// The id of a [`Task`](crate::model::Task).
    TaskId,
    "task_id"
);
record_id!(
    /// The id of a [`Comment`](crate::model::Comment).
    CommentId,
    "comment_id"
);
record_id!(
    /// The id of a [`File`](crate::model::File).
    FileId,
    "file_id"
);
record_id!(
    /// The id of a [`AgentInstance`](crate::model::AgentInstance).
    AgentInstanceId,
    "agent_instance_id"
);
record_id!(
    /// The id of a [`AgentExecution`](crate::model::AgentExecution).
    AgentExecutionId,
    "agent_execution_id"
);
record_id!(
    /// The id of a [`Workflow`](crate::model::Workflow).
    WorkflowId,
    "workflow_id"
);
record_id!(
    /// The id of a [`Conversation`](crate::model::Conversation).
    ConversationId,
    "conversation_id"
);
record_id!(
    /// The id of a [`Message`](crate::model::Message).
    MessageId,
    "message_id"
);
record_id!(
    /// The id of a [`role::Role`](crate::model::role::Role).
    RoleId,
    "role_id"
);
record_id!(
    /// The id of a [`RoleAssignment`](crate::model::RoleAssignment).
    RoleAssignmentId,
    "role_assignment_id"
);
record_id!(
    /// The id of a [`Session`](crate::model::Session).
    SessionId,
    "session_id"
);
record_id!(
    /// The id of a [`ApiKey`](crate::model::ApiKey).
    ApiKeyId,
    "api_key_id"
);
record_id!(
    /// The id of a [`Usage`](crate::model::Usage) record.
    UsageId,
    "usage_id"
);
record_id!(
    /// The id of a [`Setting`](crate::model::Setting).
    SettingId,
    "setting_id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::replay::{replaying, Draws};
    use std::sync::Arc;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn the_line_that_builds_a_record_is_its_site() {
        // One line builds a user, another a task, as a body would; the retry builds no user.
        fn user() -> UserId {
            UserId::generate()
        }
        fn task() -> TaskId {
            TaskId::generate()
        }
        let draws = Arc::new(Draws::default());
        let first = block_on(replaying(draws.clone(), async { (user(), task()) }));
        let second = block_on(replaying(draws, async { task() }));
        assert_eq!(
            first.1, second,
            "the task keeps its id when no user is drawn"
        );
    }
}
