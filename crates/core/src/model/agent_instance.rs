//! AgentInstance: one running copy of an agent configuration, with its runtime status, health
//! and resource figures. Its executions refer to it, so it cannot be deleted while any exist.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AgentConfigId, AgentInstanceId};
use crate::keys::KeyPart;
use crate::model::agent_config::AgentConfig;
use crate::principal::Principal;
use crate::rbac::ResourceKind;
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceStatus {
    /// Being started.
    #[default]
    Starting,
    /// Working.
    Running,
    /// Up, with nothing to do.
    Idle,
    /// Stopped on purpose.
    Stopped,
    /// Stopped by a failure.
    Failed,
}

/// How an instance is doing, as its last health check said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Not checked yet.
    #[default]
    Unknown,
    /// All checks pass.
    Healthy,
    /// Working, with problems.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// What an instance holds or uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub cpu_millis: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// GPUs.
    pub gpus: u16,
}

/// A running copy of an agent configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInstance {
    /// Its id.
    pub id: AgentInstanceId,
    /// Its configuration.
    pub config: AgentConfigId,
    /// Where it runs (a host or pod name), up to 200 bytes (UTF-8).
    pub location: String,
    /// Where it is in its life.
    pub status: InstanceStatus,
    /// How it is doing.
    pub health: Health,
    /// What it holds.
    pub resources: Resources,
    /// When it last reported, milliseconds since the Unix epoch.
    pub last_heartbeat_ms: Option<i64>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl AgentInstance {
    /// A new, starting instance of `config` with a fresh id.
    #[track_caller]
    pub fn new(config: AgentConfigId, location: impl Into<String>) -> Self {
        AgentInstance {
            id: AgentInstanceId::generate(),
            config,
            location: location.into(),
            status: InstanceStatus::default(),
            health: Health::default(),
            resources: Resources::default(),
            last_heartbeat_ms: None,
            stamps: Timestamps::default(),
        }
    }

    /// Instances of a configuration.
    pub const BY_CONFIG: IndexDef<AgentInstance> = IndexDef {
        name: "agent_instance_by_config",
        field: "config",
        unique: false,
        values: |i| Some(vec![KeyPart::Uuid(i.config.uuid())]),
    };
}

impl Versioned for AgentInstance {
    const WHAT: &'static str = "agent instance";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for AgentInstance {
    const COLLECTION: &'static str = "agent_instance";
    const INDEXES: &'static [IndexDef<Self>] = &[AgentInstance::BY_CONFIG];
    type Id = AgentInstanceId;
    const RESOURCE: ResourceKind = ResourceKind::AgentInstance;

    crate::record::id_and_stamps!(AgentInstanceId);
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "location", &self.location, 0, 200)
    }
    fn references(&self) -> Vec<Reference> {
        vec![Reference::to::<AgentConfig>("config", self.config)]
    }
    async fn before_write(&self, _ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if before.is_some_and(|b| b.config != self.config) {
            return Err(Error::InvalidInput {
                field: "config",
                reason: "an instance cannot change its configuration".into(),
            });
        }
        Ok(())
    }
}

/// One page of the instances of `config`.
pub async fn by_config(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    config: AgentConfigId,
    request: &PageRequest,
) -> Result<Page<AgentInstance>> {
    record::list_by(
        ttx,
        by,
        &AgentInstance::BY_CONFIG,
        &[config.uuid().into()],
        request,
    )
    .await
}
