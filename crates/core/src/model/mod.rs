//! The models, one file each: its struct, its enums, its [`Model`](crate::record::Model) impl
//! and what is special about it. Everything generic is in [`record`](crate::record).

use serde::{Deserialize, Serialize};

pub mod agent_config;
pub mod agent_execution;
pub mod agent_instance;
pub mod api_key;
pub mod audit_event;
pub mod comment;
pub mod conversation;
pub mod entity;
pub mod file;
pub mod member;
pub mod message;
pub mod project;
pub mod role;
pub mod role_assignment;
mod secret;
pub mod session;
pub mod setting;
pub mod task;
pub mod tenant;
pub mod usage;
pub mod user;
pub mod workflow;

pub use agent_config::{AgentConfig, AgentType};
pub use agent_execution::{AgentExecution, ExecutionMetrics, ExecutionStatus};
pub use agent_instance::{AgentInstance, Health, InstanceStatus, Resources};
pub use api_key::ApiKey;
pub use audit_event::AuditEvent;
pub use comment::Comment;
pub use conversation::{Conversation, ConversationStatus};
pub use message::{Message, MessageRole};
// The access role is `role::Role`: `Role` here is the user's tenant role.
pub use entity::{Entity, EntityKind};
pub use file::File;
pub use member::{Member, MemberKind};
pub use project::{Project, ProjectStatus};
pub use role_assignment::RoleAssignment;
pub use session::Session;
pub use setting::{Setting, SettingScope, TypedMap, TypedValue};
pub use task::{Task, TaskStatus, TaskType};
pub use tenant::{Plan, Quotas, Tenant, TenantStatus};
pub use usage::{Usage, UsageTotals};
pub use user::{User, UserRole, UserStatus};
pub use workflow::{Step, Trigger, Workflow, WorkflowDefinition, WorkflowVersion};

/// How urgent a project or task is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Whenever.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Soon.
    High,
    /// Now.
    Critical,
}
