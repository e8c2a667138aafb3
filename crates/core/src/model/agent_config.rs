//! AgentConfig: how an AI agent is set up (name unique in the tenant; type, provider and
//! model, capabilities, settings as a typed map). Agent members and agent instances refer to
//! it, so it cannot be deleted while either exists.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::AgentConfigId;
use crate::keys::KeyPart;
use crate::model::entity::check_code;
use crate::model::setting::{check_map, TypedMap};
use crate::principal::Principal;
use crate::rbac::ResourceKind;
use crate::record::{self, check_len, IndexDef, Model, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// What an agent does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AgentType {
    /// Answers and helps.
    #[default]
    Assistant,
    /// Writes code.
    Coder,
    /// Reviews work.
    Reviewer,
    /// Plans work.
    Planner,
    /// Anything else.
    Custom,
}

/// The configuration of an AI agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Its id.
    pub id: AgentConfigId,
    /// Its name, unique in the tenant (`A-Z a-z 0-9 _ -`, 1 to 64).
    pub name: String,
    /// What it does.
    pub kind: AgentType,
    /// Who serves the model (`anthropic`, `local`...), 1 to 100 bytes (UTF-8).
    pub provider: String,
    /// The model it runs, 1 to 200 bytes (UTF-8).
    pub model: String,
    /// What it may do (names, `A-Z a-z 0-9 _ -`), at most 100.
    pub capabilities: BTreeSet<String>,
    /// Free-form settings.
    pub settings: TypedMap,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl AgentConfig {
    /// A new configuration with a fresh id, no capabilities and no settings.
    #[track_caller]
    pub fn new(
        name: impl Into<String>,
        kind: AgentType,
        provider: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        AgentConfig {
            id: AgentConfigId::generate(),
            name: name.into(),
            kind,
            provider: provider.into(),
            model: model.into(),
            capabilities: BTreeSet::new(),
            settings: TypedMap::new(),
            stamps: Timestamps::default(),
        }
    }

    /// The unique name index.
    pub const BY_NAME: IndexDef<AgentConfig> = IndexDef {
        name: "agent_config_by_name",
        field: "name",
        unique: true,
        values: |c| Some(vec![KeyPart::Str(c.name.clone())]),
    };
}

impl Versioned for AgentConfig {
    const WHAT: &'static str = "agent config";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for AgentConfig {
    const COLLECTION: &'static str = "agent_config";
    const INDEXES: &'static [IndexDef<Self>] = &[AgentConfig::BY_NAME];
    type Id = AgentConfigId;
    const RESOURCE: ResourceKind = ResourceKind::AgentConfig;

    crate::record::id_and_stamps!(AgentConfigId);
    fn validate(&self) -> Result<()> {
        check_code(Self::WHAT, "name", &self.name)?;
        check_len(Self::WHAT, "provider", &self.provider, 1, 100)?;
        check_len(Self::WHAT, "model", &self.model, 1, 200)?;
        if self.capabilities.len() > 100 {
            return Err(Error::InvalidInput {
                field: "capabilities",
                reason: "more than 100".into(),
            });
        }
        for capability in &self.capabilities {
            check_code(Self::WHAT, "capabilities", capability)?;
        }
        check_map(Self::WHAT, "settings", &self.settings)
    }
}

/// The configuration named `name`, or `None`.
pub async fn by_name(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    name: &str,
) -> Result<Option<AgentConfig>> {
    record::find_unique(ttx, by, &AgentConfig::BY_NAME, &[name.into()]).await
}
