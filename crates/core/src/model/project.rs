//! Project: code unique in the tenant, belongs to an entity, owned by a member; status,
//! priority and `archived` (the soft delete: a project with tasks or files is archived, not
//! deleted). Creating one counts against the plan's project quota.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{EntityId, MemberId, ProjectId};
use crate::keys::KeyPart;
use crate::model::entity::{check_code, Entity};
use crate::model::member::Member;
use crate::model::Priority;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{
    self, check_len, check_quota, IndexDef, Model, Page, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Where a project stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProjectStatus {
    /// Not started.
    #[default]
    Planned,
    /// Under way.
    Active,
    /// Paused.
    OnHold,
    /// Done.
    Completed,
    /// Abandoned.
    Cancelled,
}

/// A project of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// Short code, unique in the tenant.
    pub code: String,
    /// Display name, 1 to 200 bytes (UTF-8).
    pub name: String,
    /// Free text, up to 10,000 bytes (UTF-8).
    pub description: String,
    /// The entity it belongs to.
    pub entity: EntityId,
    /// The member who owns it.
    pub owner: MemberId,
    /// Where it stands.
    pub status: ProjectStatus,
    /// How urgent it is.
    pub priority: Priority,
    /// Soft-deleted.
    pub archived: bool,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Project {
    /// A new, planned project with a fresh id.
    #[track_caller]
    pub fn new(
        code: impl Into<String>,
        name: impl Into<String>,
        entity: EntityId,
        owner: MemberId,
    ) -> Self {
        Project {
            id: ProjectId::generate(),
            code: code.into(),
            name: name.into(),
            description: String::new(),
            entity,
            owner,
            status: ProjectStatus::default(),
            priority: Priority::default(),
            archived: false,
            stamps: Timestamps::default(),
        }
    }

    /// The unique code index.
    pub const BY_CODE: IndexDef<Project> = IndexDef {
        name: "project_by_code",
        field: "code",
        unique: true,
        values: |p| Some(vec![KeyPart::Str(p.code.clone())]),
    };
    /// Projects of an entity.
    pub const BY_ENTITY: IndexDef<Project> = IndexDef {
        name: "project_by_entity",
        field: "entity",
        unique: false,
        values: |p| Some(vec![KeyPart::Uuid(p.entity.uuid())]),
    };
    /// Projects of an owner.
    pub const BY_OWNER: IndexDef<Project> = IndexDef {
        name: "project_by_owner",
        field: "owner",
        unique: false,
        values: |p| Some(vec![KeyPart::Uuid(p.owner.uuid())]),
    };
}

impl Versioned for Project {
    const WHAT: &'static str = "project";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Project {
    const COLLECTION: &'static str = "project";
    const INDEXES: &'static [IndexDef<Self>] =
        &[Project::BY_CODE, Project::BY_ENTITY, Project::BY_OWNER];
    type Id = ProjectId;
    const RESOURCE: ResourceKind = ResourceKind::Project;

    crate::record::id_and_stamps!(ProjectId);
    fn attributed_to(&self) -> Option<crate::ids::MemberId> {
        Some(self.owner)
    }
    async fn scope(&self, _ttx: &TenantTx<'_>) -> Result<Scope> {
        Ok(Scope::Entity(self.entity))
    }
    fn validate(&self) -> Result<()> {
        check_code(Self::WHAT, "code", &self.code)?;
        check_len(Self::WHAT, "name", &self.name, 1, 200)?;
        check_len(Self::WHAT, "description", &self.description, 0, 10_000)
    }
    fn references(&self) -> Vec<Reference> {
        vec![
            Reference::to::<Entity>("entity", self.entity),
            Reference::to::<Member>("owner", self.owner),
        ]
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if before.is_none() {
            check_quota(
                ttx,
                "projects",
                Self::COLLECTION,
                ttx.tenant().quotas.max_projects,
            )
            .await?;
        }
        Ok(())
    }
}

/// The project with `code`, or `None`.
pub async fn by_code(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    code: &str,
) -> Result<Option<Project>> {
    record::find_unique(ttx, by, &Project::BY_CODE, &[code.into()]).await
}

/// One page of the projects of `entity`.
pub async fn by_entity(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    entity: EntityId,
    request: &PageRequest,
) -> Result<Page<Project>> {
    record::list_by(
        ttx,
        by,
        &Project::BY_ENTITY,
        &[entity.uuid().into()],
        request,
    )
    .await
}

/// One page of the projects owned by `owner`.
pub async fn by_owner(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    owner: MemberId,
    request: &PageRequest,
) -> Result<Page<Project>> {
    record::list_by(ttx, by, &Project::BY_OWNER, &[owner.uuid().into()], request).await
}
