//! Role: a named set of permissions (an action on a kind of resource), unique by name in the
//! tenant. Provisioning creates the built-in roles ([`BUILT_IN`]: admin, maintainer,
//! contributor, viewer); each tenant may edit them like any other role. A role still
//! assigned cannot be deleted (its assignments refer to it). Not re-exported at `model`'s root, where the user's tenant-wide role is [`UserRole`](crate::model::UserRole).

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::RoleId;
use crate::keys::KeyPart;
use crate::model::entity::check_code;
use crate::principal::Principal;
use crate::rbac::{Action, Permission, ResourceKind};
use crate::record::{self, check_len, IndexDef, Model, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// A named set of permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Its name, unique in the tenant (`A-Z a-z 0-9 _ -`, 1 to 64).
    pub name: String,
    /// Free text, up to 1,000 bytes (UTF-8).
    pub description: String,
    /// What it allows (at most 500).
    pub permissions: BTreeSet<Permission>,
    /// Whether provisioning made it.
    pub built_in: bool,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// The names of the built-in roles, from most to least powerful.
pub const BUILT_IN: [&str; 4] = ["admin", "maintainer", "contributor", "viewer"];

impl Role {
    /// A new role with a fresh id.
    #[track_caller]
    pub fn new(name: impl Into<String>, permissions: impl IntoIterator<Item = Permission>) -> Self {
        Role {
            id: RoleId::generate(),
            name: name.into(),
            description: String::new(),
            permissions: permissions.into_iter().collect(),
            built_in: false,
            stamps: Timestamps::default(),
        }
    }

    /// Whether the role allows `action` on `kind`.
    pub fn grants(&self, action: Action, kind: ResourceKind) -> bool {
        self.permissions.contains(&Permission::new(action, kind))
            || self
                .permissions
                .contains(&Permission::new(action, ResourceKind::Any))
    }

    /// The unique name index.
    pub const BY_NAME: IndexDef<Role> = IndexDef {
        name: "role_by_name",
        field: "name",
        unique: true,
        values: |r| Some(vec![KeyPart::Str(r.name.clone())]),
    };
}

/// The built-in roles a tenant starts with:
/// - admin: every action on everything;
/// - maintainer: reads everything; creates, updates and deletes the work (entities below
///   the root, projects, tasks, comments, files, agents and their runs, workflows,
///   conversations, messages, settings);
/// - contributor: reads everything; creates and updates tasks, comments, files, agent runs,
///   conversations and messages;
/// - viewer: reads everything.
pub fn built_in_roles() -> Vec<Role> {
    use ResourceKind as K;
    let read = Permission::new(Action::Read, K::Any);
    let work = [
        K::Entity,
        K::Project,
        K::Task,
        K::Comment,
        K::File,
        K::AgentConfig,
        K::AgentInstance,
        K::AgentExecution,
        K::Workflow,
        K::Conversation,
        K::Message,
        K::Setting,
    ];
    let contribution = [
        K::Task,
        K::Comment,
        K::File,
        K::AgentExecution,
        K::Conversation,
        K::Message,
    ];
    let grant = |kinds: &[K], actions: &[Action]| {
        kinds
            .iter()
            .flat_map(|&k| actions.iter().map(move |&a| Permission::new(a, k)))
            .chain([read])
            .collect::<Vec<_>>()
    };
    let roles = [
        (
            "admin",
            "Every action on everything",
            Action::ALL.map(|a| Permission::new(a, K::Any)).to_vec(),
        ),
        (
            "maintainer",
            "Runs the work: projects, tasks, agents, workflows, settings",
            grant(&work, &[Action::Create, Action::Update, Action::Delete]),
        ),
        (
            "contributor",
            "Does the work: tasks, comments, files, conversations",
            grant(&contribution, &[Action::Create, Action::Update]),
        ),
        ("viewer", "Reads everything", vec![read]),
    ];
    roles
        .into_iter()
        .map(|(name, description, permissions)| Role {
            description: description.into(),
            built_in: true,
            ..Role::new(name, permissions)
        })
        .collect()
}

impl Versioned for Role {
    const WHAT: &'static str = "role";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Role {
    const COLLECTION: &'static str = "role";
    const INDEXES: &'static [IndexDef<Self>] = &[Role::BY_NAME];
    type Id = RoleId;
    const RESOURCE: ResourceKind = ResourceKind::Role;

    crate::record::id_and_stamps!(RoleId);
    fn validate(&self) -> Result<()> {
        check_code(Self::WHAT, "name", &self.name)?;
        check_len(Self::WHAT, "description", &self.description, 0, 1_000)?;
        if self.permissions.len() > 500 {
            return Err(Error::InvalidInput {
                field: "permissions",
                reason: "more than 500".into(),
            });
        }
        Ok(())
    }
}

/// The role named `name`, or `None`.
pub async fn by_name(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    name: &str,
) -> Result<Option<Role>> {
    record::find_unique(ttx, by, &Role::BY_NAME, &[name.into()]).await
}
