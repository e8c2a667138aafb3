//! The model layer's cases: the record layer of coditect-core over any backend. Each case
//! takes a [`Harness`] whose backend starts empty and states what must hold and why.
//!
//! Tenants are made by provisioning, as in production; every case that writes uses its own
//! tenants, so the cases also run side by side on one shared cluster.

use std::collections::BTreeSet;

use coditect_core::audit::{self, Actor, AuditAction};
use coditect_core::ids::{AgentConfigId, EntityId, MemberId, TaskId, UserId};
use coditect_core::keys::{self, TenantId};
use coditect_core::model::comment::{self, CommentV1};
use coditect_core::model::{
    entity, file, member, project, role, task, tenant, user, AgentConfig, AgentType, Comment,
    Entity, EntityKind, File, Member, MemberKind, Plan, Project, RoleAssignment, Task, TaskStatus,
    TenantStatus, User, UserRole, UserStatus,
};
use coditect_core::provision::{provision, Provisioned};
use coditect_core::record::{self, PageRequest};
use coditect_core::{
    prefix_end, Error, KvBackend, RangeOptions, Result, RetryOptions, TenantTx, Transaction,
};
use foundationdb_tuple::Element;
use uuid::Uuid;

use crate::faults::{FaultPlan, FaultyBackend};
use crate::recording::Recording;
use crate::support::*;
use crate::Harness;

// One file a section; each takes the imports and helpers above with `use super::*`.
mod access;
mod ai;
mod atomic;
mod comments;
mod entities;
mod integrity;
mod meters;
mod projects;
mod quotas;
mod tasks;
mod tenancy;
mod tenants;
mod throttle;
mod users;
pub use access::*;
pub use ai::*;
pub use atomic::*;
pub use comments::*;
pub use entities::*;
pub use integrity::*;
pub use meters::*;
pub use projects::*;
pub use quotas::*;
pub use tasks::*;
pub use tenancy::*;
pub use tenants::*;
pub use throttle::*;
pub use users::*;
