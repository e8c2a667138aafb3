//! AgentExecution: one run of an agent instance, usually on a task: inputs, outputs and
//! metrics as typed data, and a status that only moves forward (a finished run stays
//! finished). Scoped for access control by its task's project, tenant-wide without a task.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AgentExecutionId, AgentInstanceId, TaskId};
use crate::keys::KeyPart;
use crate::model::agent_instance::AgentInstance;
use crate::model::setting::{check_map, TypedMap};
use crate::model::task::Task;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Where a run stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionStatus {
    /// Waiting to start.
    #[default]
    Queued,
    /// Under way.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Stopped before the end.
    Cancelled,
}

impl ExecutionStatus {
    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Cancelled
        )
    }
}

/// What a run cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionMetrics {
    /// Wall-clock time, milliseconds.
    pub duration_ms: u64,
    /// Tokens read.
    pub tokens_in: u64,
    /// Tokens written.
    pub tokens_out: u64,
    /// Cost in millionths of the billing currency.
    pub cost_micros: i64,
}

/// One run of an agent instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentExecution {
    /// Its id.
    pub id: AgentExecutionId,
    /// The instance that runs it.
    pub instance: AgentInstanceId,
    /// The task it works on, if any.
    pub task: Option<TaskId>,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// What it was given.
    pub inputs: TypedMap,
    /// What it produced.
    pub outputs: TypedMap,
    /// What it cost.
    pub metrics: ExecutionMetrics,
    /// Why it failed, up to 10,000 bytes (UTF-8).
    pub error: Option<String>,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl AgentExecution {
    /// A new, queued run of `instance` with a fresh id.
    #[track_caller]
    pub fn new(instance: AgentInstanceId, task: Option<TaskId>) -> Self {
        AgentExecution {
            id: AgentExecutionId::generate(),
            instance,
            task,
            status: ExecutionStatus::default(),
            inputs: TypedMap::new(),
            outputs: TypedMap::new(),
            metrics: ExecutionMetrics::default(),
            error: None,
            stamps: Timestamps::default(),
        }
    }

    /// Runs of an instance.
    pub const BY_INSTANCE: IndexDef<AgentExecution> = IndexDef {
        name: "agent_execution_by_instance",
        field: "instance",
        unique: false,
        values: |e| Some(vec![KeyPart::Uuid(e.instance.uuid())]),
    };
    /// Runs on a task.
    pub const BY_TASK: IndexDef<AgentExecution> = IndexDef {
        name: "agent_execution_by_task",
        field: "task",
        unique: false,
        values: |e| e.task.map(|t| vec![KeyPart::Uuid(t.uuid())]),
    };
}

impl Versioned for AgentExecution {
    const WHAT: &'static str = "agent execution";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for AgentExecution {
    const COLLECTION: &'static str = "agent_execution";
    const INDEXES: &'static [IndexDef<Self>] =
        &[AgentExecution::BY_INSTANCE, AgentExecution::BY_TASK];
    type Id = AgentExecutionId;
    const RESOURCE: ResourceKind = ResourceKind::AgentExecution;

    crate::record::id_and_stamps!(AgentExecutionId);
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        match self.task {
            Some(task) => {
                let task = record::require_unchecked::<Task>(ttx, task).await?;
                rbac::project_scope(ttx, task.project).await
            }
            None => Ok(Scope::Tenant),
        }
    }
    fn validate(&self) -> Result<()> {
        check_map(Self::WHAT, "inputs", &self.inputs)?;
        check_map(Self::WHAT, "outputs", &self.outputs)?;
        if let Some(error) = &self.error {
            check_len(Self::WHAT, "error", error, 1, 10_000)?;
        }
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        let mut refs = vec![Reference::to::<AgentInstance>("instance", self.instance)];
        refs.extend(self.task.map(|t| Reference::to::<Task>("task", t)));
        refs
    }
    async fn before_write(&self, _ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        if let Some(before) = before {
            if before.instance != self.instance || before.task != self.task {
                return Err(Error::InvalidInput {
                    field: "instance",
                    reason: "a run keeps its instance and task".into(),
                });
            }
            if before.status.is_final() && before.status != self.status {
                return Err(Error::InvalidInput {
                    field: "status",
                    reason: format!("the run already ended ({:?})", before.status),
                });
            }
        }
        Ok(())
    }
}

/// One page of the runs of `instance`.
pub async fn by_instance(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    instance: AgentInstanceId,
    request: &PageRequest,
) -> Result<Page<AgentExecution>> {
    record::list_by(
        ttx,
        by,
        &AgentExecution::BY_INSTANCE,
        &[instance.uuid().into()],
        request,
    )
    .await
}

/// One page of the runs on `task`.
pub async fn by_task(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    task: TaskId,
    request: &PageRequest,
) -> Result<Page<AgentExecution>> {
    record::list_by(
        ttx,
        by,
        &AgentExecution::BY_TASK,
        &[task.uuid().into()],
        request,
    )
    .await
}
