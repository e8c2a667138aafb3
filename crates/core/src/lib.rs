//! # coditect-core
//!
//! The contract every part of coditect-data stands on, the [`kv`] module tree, which imports
//! nothing from the layers above it:
//!
//! - [`KvBackend`] and [`Transaction`]: an ordered, transactional key-value store with
//!   FoundationDB's semantics (snapshot reads, serializable commits, conflicts, atomic adds,
//!   versionstamps), implemented by the in-memory, sled and FoundationDB backends;
//! - [`KvError`], the contract's error, with [`KvError::is_retryable`];
//! - [`limits`], FoundationDB's size and time limits, the same on every backend;
//! - [`kv::run`], the retry loop, generic over the body's error; [`RangeWalk`], paging;
//!
//! and the tenant-scoped record layer on top of it:
//!
//! - [`Error`], the model layer's error: [`Error::Kv`] wraps the contract's, the rest is what
//!   records, tenants and members can get wrong; [`run`] is the retry loop with it;
//! - [`keys`]: FoundationDB tuple keys, [`TenantId`], the tenant and system keyspaces;
//! - [`TenantTx`]: a transaction scoped to one active tenant, refusing every key outside it;
//! - [`record`]: the generic record store ([`record::Model`], indexes, references, paging);
//! - [`value`]: versioned postcard values and schema evolution;
//! - [`audit`]: one audit event per mutation, at a versionstamped key;
//! - [`model`]: the 21 models; [`provision`]: a new tenant in one transaction;
//! - [`handle`]: `Db::tenant(id).as_member(m)`, a handle scoped to a tenant and a principal,
//!   one retried transaction per call; [`prelude`] for one `use` line;
//! - [`registry`]: the tenant registry, operation markers and erasure records; the tenant
//!   operations themselves (backup and restore, migration, GDPR erasure, analytics) are the
//!   `coditect-ops` crate;
//! - [`principal`]: who asks and how they authenticated; [`rbac`]: the one authorization
//!   decision (user status, credential and key scopes, ownership, role grants inherited down
//!   the entity tree), checked on every read and write of the record layer.

#![forbid(unsafe_code)]

pub mod audit;
mod error;
pub mod handle;
pub mod ids;
pub mod keys;
pub mod kv;
pub mod meter;
pub mod model;
pub mod principal;
pub mod provision;
pub mod rbac;
pub mod record;
pub mod registry;
pub mod resource;
mod tenant_tx;
pub mod value;

pub use error::{Error, Referrer, Result, MAX_REFERRERS};
pub use keys::TenantId;
pub use kv::{
    check_key, check_value, check_versionstamp_offset, check_versionstamped_key, key_after, limits,
    prefix_end, replay, versionstamp, versionstamp_unreadable_range, walk, CommitInfo, KeyValue,
    KvBackend, KvError, RangeOptions, RangePage, RangeSource, RangeWalk, RetryError, RetryOptions,
    RetryStats, RetryTx, Transaction, RANGE_PAGE_MAX_BYTES, RANGE_PAGE_MAX_ROWS,
};
pub use principal::{Credential, Principal};
pub use tenant_tx::{run, run_in_tenant, run_in_tenant_with, TenantControls, TenantTx};

/// What a service usually needs, in one `use coditect_core::prelude::*;`: the handle, the
/// models and their ids, the decision's vocabulary, errors and paging.
pub mod prelude {
    pub use crate::handle::{AsPrincipal, Db, InTenant, Pages};
    pub use crate::ids::*;
    pub use crate::model::role_assignment::grant;
    pub use crate::model::user::UserRole;
    pub use crate::model::{
        AgentConfig, AgentType, Comment, Conversation, Entity, EntityKind, Member, MemberKind,
        Message, MessageRole, Plan, Project, ProjectStatus, RoleAssignment, Task, TaskStatus,
        TaskType, Tenant, TenantStatus, User, UserStatus,
    };
    pub use crate::provision::{NewTenant, Provisioned};
    pub use crate::rbac::{Action, Permission, ResourceKind};
    pub use crate::record::{self, Model, Page, PageRequest};
    pub use crate::{
        run_in_tenant, Error, KvBackend, KvError, Principal, Result, RetryOptions, TenantId,
        TenantTx,
    };
}
/// The `uuid` crate every id is made of, re-exported so callers name the same version.
pub use uuid;
