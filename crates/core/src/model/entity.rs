//! Entity: the organisation tree of a tenant, Corporation > Division > Department > Team.
//! Code unique in the tenant; a parent is always of a higher level (so a Corporation has none
//! and every other kind has one) and the tree has no cycles, also after re-parenting.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::EntityId;
use crate::keys::KeyPart;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// The level of an entity in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    /// The root: the company itself.
    Corporation,
    /// Under a corporation.
    Division,
    /// Under a division or a corporation.
    Department,
    /// Under any of the above.
    Team,
}

impl EntityKind {
    /// 0 for a Corporation down to 3 for a Team; a parent's level is always lower.
    pub fn level(self) -> u8 {
        match self {
            EntityKind::Corporation => 0,
            EntityKind::Division => 1,
            EntityKind::Department => 2,
            EntityKind::Team => 3,
        }
    }

    /// The stable name used in index keys.
    pub fn code(self) -> &'static str {
        match self {
            EntityKind::Corporation => "corporation",
            EntityKind::Division => "division",
            EntityKind::Department => "department",
            EntityKind::Team => "team",
        }
    }
}

/// A node of the organisation tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Its id.
    pub id: EntityId,
    /// Short code, unique in the tenant (`A-Z a-z 0-9 _ -`, 1 to 64 bytes).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Its level.
    pub kind: EntityKind,
    /// The entity above it; `None` only for a Corporation.
    pub parent: Option<EntityId>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// How far up the tree a walk may go before the tree is taken to be corrupt: the levels
/// allow 4, so anything longer is a cycle stored before these rules.
const MAX_DEPTH: usize = 64;

impl Entity {
    /// A new entity with a fresh id.
    #[track_caller]
    pub fn new(
        code: impl Into<String>,
        name: impl Into<String>,
        kind: EntityKind,
        parent: Option<EntityId>,
    ) -> Self {
        Entity {
            id: EntityId::generate(),
            code: code.into(),
            name: name.into(),
            kind,
            parent,
            stamps: Timestamps::default(),
        }
    }

    /// The unique code index.
    pub const BY_CODE: IndexDef<Entity> = IndexDef {
        name: "entity_by_code",
        field: "code",
        unique: true,
        values: |e| Some(vec![KeyPart::Str(e.code.clone())]),
    };
    /// Children of a parent (roots under `Null`).
    pub const BY_PARENT: IndexDef<Entity> = IndexDef {
        name: "entity_by_parent",
        field: "parent",
        unique: false,
        values: |e| {
            Some(vec![e
                .parent
                .map_or(KeyPart::Null, |p| KeyPart::Uuid(p.uuid()))])
        },
    };
    /// Entities of a kind.
    pub const BY_KIND: IndexDef<Entity> = IndexDef {
        name: "entity_by_kind",
        field: "kind",
        unique: false,
        values: |e| Some(vec![KeyPart::Str(e.kind.code().into())]),
    };
}

impl Versioned for Entity {
    const WHAT: &'static str = "entity";
    const SCHEMA_VERSION: u8 = 1;
}

/// Checks a record code: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub(crate) fn check_code(model: &'static str, field: &'static str, code: &str) -> Result<()> {
    check_len(model, field, code, 1, 64)?;
    if !code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::InvalidInput {
            field,
            reason: "only A-Z, a-z, 0-9, _ and - are allowed".into(),
        });
    }
    Ok(())
}

#[async_trait]
impl Model for Entity {
    const COLLECTION: &'static str = "entity";
    const INDEXES: &'static [IndexDef<Self>] =
        &[Entity::BY_CODE, Entity::BY_PARENT, Entity::BY_KIND];
    type Id = EntityId;
    const RESOURCE: ResourceKind = ResourceKind::Entity;

    crate::record::id_and_stamps!(EntityId);
    async fn scope(&self, _ttx: &TenantTx<'_>) -> Result<Scope> {
        // An entity is managed from its parent; a root (no parent) tenant-wide: making or
        // moving an entity to the top needs a grant at an existing root, or a member holding a
        // role at a division could make one of its departments a second root and, holding a
        // role there, reach everything tenant-wide.
        Ok(self.parent.map_or(Scope::Tenant, Scope::Entity))
    }
    fn validate(&self) -> Result<()> {
        check_code(Self::WHAT, "code", &self.code)?;
        check_len(Self::WHAT, "name", &self.name, 1, 200)?;
        match (self.kind, self.parent) {
            (EntityKind::Corporation, Some(_)) => Err(Error::InvalidInput {
                field: "parent",
                reason: "a Corporation is a root and has no parent".into(),
            }),
            (EntityKind::Corporation, None) => Ok(()),
            (_, None) => Err(Error::InvalidInput {
                field: "parent",
                reason: "only a Corporation may have no parent".into(),
            }),
            (_, Some(parent)) if parent == self.id => Err(cycle()),
            (_, Some(_)) => Ok(()),
        }
    }
    fn references(&self) -> Vec<Reference> {
        self.parent
            .map(|p| Reference::to::<Entity>("parent", p))
            .into_iter()
            .collect()
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(parent_id) = self.parent {
            // Walk up from the new parent: meeting this entity means the move closes a loop.
            // The whole walk comes first so that a cycle is reported as one.
            let parent = record::require_unchecked::<Entity>(ttx, parent_id).await?;
            let mut cursor = parent.parent;
            let mut steps = 0;
            while let Some(id) = cursor {
                steps += 1;
                if id == self.id || steps > MAX_DEPTH {
                    return Err(cycle());
                }
                cursor = record::require_unchecked::<Entity>(ttx, id).await?.parent;
            }
            if parent.kind.level() >= self.kind.level() {
                return Err(Error::InvalidInput {
                    field: "parent",
                    reason: format!(
                        "a {:?} cannot be under a {:?}: a parent is of a higher level",
                        self.kind, parent.kind
                    ),
                });
            }
        }
        // Changing the kind must keep every child below it.
        if let Some(before) = before {
            if before.kind != self.kind {
                let mut request = PageRequest::first(record::MAX_PAGE);
                loop {
                    let page = record::list_by_unchecked(
                        ttx,
                        &Entity::BY_PARENT,
                        &[self.id.uuid().into()],
                        &request,
                    )
                    .await?;
                    if page
                        .items
                        .iter()
                        .any(|child| child.kind.level() <= self.kind.level())
                    {
                        return Err(Error::InvalidInput {
                            field: "kind",
                            reason: "a child would no longer be of a lower level".into(),
                        });
                    }
                    match page.next {
                        Some(next) => request = PageRequest::after(next, record::MAX_PAGE),
                        None => break,
                    }
                }
            }
        }
        Ok(())
    }
}

fn cycle() -> Error {
    Error::InvalidInput {
        field: "parent",
        reason: "the entity would become its own ancestor (a cycle)".into(),
    }
}

/// The entity with `code`, or `None`.
pub async fn by_code(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    code: &str,
) -> Result<Option<Entity>> {
    record::find_unique(ttx, by, &Entity::BY_CODE, &[code.into()]).await
}

/// One page of the children of `parent`.
pub async fn children(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    parent: EntityId,
    request: &PageRequest,
) -> Result<record::Page<Entity>> {
    record::list_by(
        ttx,
        by,
        &Entity::BY_PARENT,
        &[parent.uuid().into()],
        request,
    )
    .await
}

/// One page of the entities of `kind`.
pub async fn by_kind(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    kind: EntityKind,
    request: &PageRequest,
) -> Result<record::Page<Entity>> {
    record::list_by(ttx, by, &Entity::BY_KIND, &[kind.code().into()], request).await
}

/// The tenant's root entities (those without a parent), from the by-parent index: what a
/// tenant-wide grant is held at. Not a snapshot, so a new root conflicts with a check that
/// relied on the old set.
pub(crate) async fn roots(ttx: &TenantTx<'_>) -> Result<Vec<EntityId>> {
    let prefix = crate::keys::index_prefix(ttx.prefix(), Entity::BY_PARENT.name, &[KeyPart::Null]);
    let end = crate::keys::prefix_range_end(&prefix)?;
    let mut walk = crate::walk::RangeWalk::new(&prefix, &end, crate::kv::RangeOptions::default());
    let mut roots = Vec::new();
    while let Some(page) = walk.next_page(ttx).await? {
        for kv in &page {
            roots.push(EntityId::new(crate::keys::id_of_index_key(&kv.key)?)?);
        }
    }
    Ok(roots)
}
