//! The models, one file each: its struct, its enums, its [`Model`](crate::record::Model) impl
//! and what is special about it. Everything generic is in [`record`](crate::record).

use serde::{Deserialize, Serialize};

pub mod comment;
pub mod entity;
pub mod file;
pub mod member;
pub mod project;
pub mod task;
pub mod tenant;
pub mod user;

pub use comment::Comment;
pub use entity::{Entity, EntityKind};
pub use file::File;
pub use member::{Member, MemberKind};
pub use project::{Project, ProjectStatus};
pub use task::{Task, TaskStatus, TaskType};
pub use tenant::{Plan, Quotas, Tenant, TenantStatus};
pub use user::{Role, User, UserStatus};

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
