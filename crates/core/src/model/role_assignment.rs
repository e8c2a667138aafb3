//! RoleAssignment: a member holds a role at an entity, and so everywhere below it.
//!
//! The by-member index is keyed `(member, entity, role, id)`, so one range read of it gives
//! the access check everything it needs about a member's assignments without reading the
//! assignment records; it is also unique on (member, entity, role), so the same role is never
//! held twice at one entity. Granting or revoking at an entity needs the right to create or
//! delete assignments there (or above).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ids::{EntityId, MemberId, RoleAssignmentId, RoleId};
use crate::keys::{self, KeyPart};
use crate::kv::RangeOptions;
use crate::model::entity::Entity;
use crate::model::member::Member;
use crate::model::role::Role;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{self, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;
use crate::walk::RangeWalk;

/// A member holding a role at an entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Its id.
    pub id: RoleAssignmentId,
    /// Who holds the role, human or agent.
    pub member: MemberId,
    /// The role held.
    pub role: RoleId,
    /// Where: this entity and everything below it.
    pub entity: EntityId,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl RoleAssignment {
    /// `member` holds `role` at `entity`; a fresh id.
    #[track_caller]
    pub fn new(member: MemberId, role: RoleId, entity: EntityId) -> Self {
        RoleAssignment {
            id: RoleAssignmentId::generate(),
            member,
            role,
            entity,
            stamps: Timestamps::default(),
        }
    }

    /// Assignments of a member, keyed (member, entity, role): unique.
    pub const BY_MEMBER: IndexDef<RoleAssignment> = IndexDef {
        name: "role_assignment_by_member",
        field: "role",
        unique: true,
        values: |a| {
            Some(vec![
                KeyPart::Uuid(a.member.uuid()),
                KeyPart::Uuid(a.entity.uuid()),
                KeyPart::Uuid(a.role.uuid()),
            ])
        },
    };
    /// Assignments at an entity.
    pub const BY_ENTITY: IndexDef<RoleAssignment> = IndexDef {
        name: "role_assignment_by_entity",
        field: "entity",
        unique: false,
        values: |a| Some(vec![KeyPart::Uuid(a.entity.uuid())]),
    };
    /// Assignments of a role.
    pub const BY_ROLE: IndexDef<RoleAssignment> = IndexDef {
        name: "role_assignment_by_role",
        field: "role",
        unique: false,
        values: |a| Some(vec![KeyPart::Uuid(a.role.uuid())]),
    };
}

impl Versioned for RoleAssignment {
    const WHAT: &'static str = "role assignment";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for RoleAssignment {
    const COLLECTION: &'static str = "role_assignment";
    const INDEXES: &'static [IndexDef<Self>] = &[
        RoleAssignment::BY_MEMBER,
        RoleAssignment::BY_ENTITY,
        RoleAssignment::BY_ROLE,
    ];
    type Id = RoleAssignmentId;
    const RESOURCE: ResourceKind = ResourceKind::RoleAssignment;

    crate::record::id_and_stamps!(RoleAssignmentId);
    async fn scope(&self, _ttx: &TenantTx<'_>) -> Result<Scope> {
        Ok(Scope::Entity(self.entity))
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        vec![
            Reference::to::<Member>("member", self.member),
            Reference::to::<Role>("role", self.role),
            Reference::to::<Entity>("entity", self.entity),
        ]
    }
}

/// Every (entity, role) pair `member` holds, when it holds at most `max` assignments: one
/// range read of the by-member index, of at most `max + 1` rows; `None` when it holds more
/// (a check then reads per entity, [`held_at`]). Not a snapshot, as [`held_at`].
pub(crate) async fn held_by_if_few(
    ttx: &TenantTx<'_>,
    member: MemberId,
    max: usize,
) -> Result<Option<Vec<(EntityId, RoleId)>>> {
    let prefix = keys::index_prefix(
        ttx.prefix(),
        RoleAssignment::BY_MEMBER.name,
        &[member.uuid().into()],
    );
    let end = keys::prefix_range_end(&prefix)?;
    let rows = RangeWalk::new(&prefix, &end, RangeOptions::limit(max + 1))
        .collect(ttx)
        .await?;
    if rows.len() > max {
        return Ok(None);
    }
    let mut held = Vec::with_capacity(rows.len());
    for kv in &rows {
        let (entity, role, _id) = foundationdb_tuple::unpack::<(Uuid, Uuid, Uuid)>(
            &kv.key[prefix.len()..],
        )
        .map_err(|e| Error::Decode {
            what: "role assignment index key",
            reason: "not (member, entity, role, id)".into(),
            source: Some(Box::new(e)),
        })?;
        held.push((EntityId::new(entity)?, RoleId::new(role)?));
    }
    Ok(Some(held))
}

/// The roles `member` holds at `entity` itself (not above it): one range read of the
/// by-member index, whose keys lead with (member, entity), so it costs what the member holds
/// there, whatever it holds elsewhere. Not a snapshot: a grant or revoke at this entity
/// conflicts with a transaction that relied on the answer.
pub(crate) async fn held_at(
    ttx: &TenantTx<'_>,
    member: MemberId,
    entity: EntityId,
) -> Result<Vec<RoleId>> {
    let prefix = keys::index_prefix(
        ttx.prefix(),
        RoleAssignment::BY_MEMBER.name,
        &[member.uuid().into(), entity.uuid().into()],
    );
    let end = keys::prefix_range_end(&prefix)?;
    let mut walk = RangeWalk::new(&prefix, &end, RangeOptions::default());
    let mut held = Vec::new();
    while let Some(page) = walk.next_page(ttx).await? {
        for kv in &page {
            let (role, _id) = foundationdb_tuple::unpack::<(Uuid, Uuid)>(&kv.key[prefix.len()..])
                .map_err(|e| Error::Decode {
                what: "role assignment index key",
                reason: "not (member, entity, role, id)".into(),
                source: Some(Box::new(e)),
            })?;
            held.push(RoleId::new(role)?);
        }
    }
    Ok(held)
}

/// One page of the assignments of `member`.
pub async fn by_member(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    request: &PageRequest,
) -> Result<Page<RoleAssignment>> {
    record::list_by(
        ttx,
        by,
        &RoleAssignment::BY_MEMBER,
        &[member.uuid().into()],
        request,
    )
    .await
}

/// One page of the assignments at `entity`.
pub async fn by_entity(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    entity: EntityId,
    request: &PageRequest,
) -> Result<Page<RoleAssignment>> {
    record::list_by(
        ttx,
        by,
        &RoleAssignment::BY_ENTITY,
        &[entity.uuid().into()],
        request,
    )
    .await
}

/// Grants `member` the access role named `role` (a built-in one such as `"contributor"`, or
/// one the tenant made) at `entity`, in one call: the role looked up by name as `by`, the
/// assignment created as `by`. [`Error::InvalidInput`] when the tenant has no role of that
/// name; otherwise [`record::insert`]'s errors (a grant needs the right to create assignments).
pub async fn grant(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    member: MemberId,
    role: &str,
    entity: EntityId,
) -> Result<RoleAssignment> {
    let by = by.into();
    let Some(found) = crate::model::role::by_name(ttx, by, role).await? else {
        return Err(Error::InvalidInput {
            field: "role",
            reason: format!("the tenant has no access role named {role:?}"),
        });
    };
    record::insert(ttx, by, RoleAssignment::new(member, found.id, entity)).await
}
