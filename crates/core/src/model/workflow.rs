//! Workflow: a project's versioned definition of steps and triggers.
//!
//! The record holds the current version; every version ever saved is also kept beside it at
//! `(tenant, "workflow_version", workflow_id, version)`, written in the same transaction as the
//! record, so an update never loses the old definition: [`definition_at`] reads any version.
//! Versions count up by one, and only when the definition changes ([`set_definition`] does
//! the counting); deleting the workflow deletes its versions.

use async_trait::async_trait;
use foundationdb_tuple::pack_into;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AgentConfigId, ProjectId, WorkflowId};
use crate::keys::{self, KeyPart};
use crate::model::agent_config::AgentConfig;
use crate::model::project::Project;
use crate::model::task::TaskStatus;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{
    self, check_len, now_ms, page_of_rows, IndexDef, Model, Page, PageRequest, Reference,
    Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};

/// One step of a workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Its name, unique in the definition, 1 to 100 bytes (UTF-8).
    pub name: String,
    /// What it does, up to 10,000 bytes (UTF-8).
    pub instruction: String,
    /// The agent that runs it, or `None` for a human step.
    pub agent: Option<AgentConfigId>,
}

/// What starts a workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// Someone starts it.
    Manual,
    /// A task of the project enters a status.
    TaskStatus(TaskStatus),
    /// A schedule, in cron syntax (1 to 100 bytes).
    Schedule(String),
}

/// Steps and triggers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowDefinition {
    /// The steps, in order (1 to 100).
    pub steps: Vec<Step>,
    /// What starts it (at most 20).
    pub triggers: Vec<Trigger>,
}

/// One saved version of a workflow's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    /// Its number, from 1.
    pub version: u32,
    /// The definition as saved.
    pub definition: WorkflowDefinition,
    /// When it was saved, milliseconds since the Unix epoch.
    pub saved_at_ms: i64,
}

impl Versioned for WorkflowVersion {
    const WHAT: &'static str = "workflow version";
    const SCHEMA_VERSION: u8 = 1;
}

/// A workflow of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// Its id.
    pub id: WorkflowId,
    /// Its project.
    pub project: ProjectId,
    /// Display name, 1 to 200 bytes (UTF-8).
    pub name: String,
    /// The number of the current definition, from 1.
    pub version: u32,
    /// The current definition.
    pub definition: WorkflowDefinition,
    /// Whether its triggers fire.
    pub enabled: bool,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// The collection holding the saved versions.
pub const VERSIONS: &str = "workflow_version";

impl Workflow {
    /// A new, enabled workflow at version 1, with a fresh id.
    #[track_caller]
    pub fn new(
        project: ProjectId,
        name: impl Into<String>,
        definition: WorkflowDefinition,
    ) -> Self {
        Workflow {
            id: WorkflowId::generate(),
            project,
            name: name.into(),
            version: 1,
            definition,
            enabled: true,
            stamps: Timestamps::default(),
        }
    }

    /// Workflows of a project.
    pub const BY_PROJECT: IndexDef<Workflow> = IndexDef {
        name: "workflow_by_project",
        field: "project",
        unique: false,
        values: |w| Some(vec![KeyPart::Uuid(w.project.uuid())]),
    };
}

impl Versioned for Workflow {
    const WHAT: &'static str = "workflow";
    const SCHEMA_VERSION: u8 = 1;
}

fn versions_prefix(ttx: &TenantTx<'_>, id: WorkflowId) -> Vec<u8> {
    keys::record_key(ttx.prefix(), VERSIONS, id.uuid())
}

fn version_key(ttx: &TenantTx<'_>, id: WorkflowId, version: u32) -> Vec<u8> {
    let mut key = versions_prefix(ttx, id);
    pack_into(&i64::from(version), &mut key);
    key
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field,
        reason: reason.into(),
    }
}

#[async_trait]
impl Model for Workflow {
    const COLLECTION: &'static str = "workflow";
    const INDEXES: &'static [IndexDef<Self>] = &[Workflow::BY_PROJECT];
    type Id = WorkflowId;
    const RESOURCE: ResourceKind = ResourceKind::Workflow;

    crate::record::id_and_stamps!(WorkflowId);
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        crate::rbac::project_scope(ttx, self.project).await
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "name", &self.name, 1, 200)?;
        let steps = &self.definition.steps;
        if steps.is_empty() || steps.len() > 100 {
            return Err(invalid("steps", "a definition has 1 to 100 steps"));
        }
        for (i, step) in steps.iter().enumerate() {
            check_len(Self::WHAT, "steps", &step.name, 1, 100)?;
            check_len(Self::WHAT, "steps", &step.instruction, 0, 10_000)?;
            if steps[..i].iter().any(|s| s.name == step.name) {
                return Err(invalid("steps", format!("two steps named {:?}", step.name)));
            }
        }
        if self.definition.triggers.len() > 20 {
            return Err(invalid("triggers", "at most 20 triggers"));
        }
        for trigger in &self.definition.triggers {
            if let Trigger::Schedule(cron) = trigger {
                check_len(Self::WHAT, "triggers", cron, 1, 100)?;
            }
        }
        if self.version == 0 {
            return Err(invalid("version", "versions count from 1"));
        }
        Ok(())
    }
    fn references(&self) -> Vec<Reference> {
        let mut refs = vec![Reference::to::<Project>("project", self.project)];
        refs.extend(
            self.definition
                .steps
                .iter()
                .filter_map(|s| s.agent)
                .map(|a| Reference::to::<AgentConfig>("steps", a)),
        );
        refs
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        let expected = match before {
            None => 1,
            Some(before) if before.definition == self.definition => before.version,
            Some(before) => before.version.saturating_add(1),
        };
        if self.version != expected {
            return Err(invalid(
                "version",
                format!(
                    "expected version {expected}: a version counts up by one when the definition changes"
                ),
            ));
        }
        if before.map(|b| b.version) != Some(self.version) {
            let saved = WorkflowVersion {
                version: self.version,
                definition: self.definition.clone(),
                saved_at_ms: now_ms(),
            };
            ttx.set(
                &version_key(ttx, self.id, self.version),
                &value::encode(&saved)?,
            )?;
        }
        Ok(())
    }
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        let prefix = versions_prefix(ttx, self.id);
        let end = keys::prefix_range_end(&prefix)?;
        ttx.clear_range(&prefix, &end)
    }
}

/// Replaces the definition of workflow `id`, saving it as the next version; the old versions
/// stay readable. Setting the same definition changes nothing (and audits nothing).
pub async fn set_definition(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: WorkflowId,
    definition: WorkflowDefinition,
) -> Result<Workflow> {
    let by = by.into();
    let mut workflow = record::require::<Workflow>(ttx, by, id).await?;
    if workflow.definition != definition {
        workflow.version = workflow.version.saturating_add(1);
        workflow.definition = definition;
    }
    record::update(ttx, by, workflow).await
}

/// Version `version` of workflow `id`, or `None`, read by `by`, who must be allowed to read
/// the workflow ([`Error::NotFound`] when there is none).
pub async fn definition_at(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: WorkflowId,
    version: u32,
) -> Result<Option<WorkflowVersion>> {
    record::require::<Workflow>(ttx, by, id).await?;
    match ttx.get(&version_key(ttx, id, version), false).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// One page of the saved versions of workflow `id`, oldest first, read by `by` (as
/// [`definition_at`]).
pub async fn versions(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: WorkflowId,
    request: &PageRequest,
) -> Result<Page<WorkflowVersion>> {
    record::require::<Workflow>(ttx, by, id).await?;
    let (rows, next) = page_of_rows(ttx, &versions_prefix(ttx, id), request).await?;
    let items = rows
        .iter()
        .map(|kv| value::decode(&kv.value))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page { items, next })
}

/// One page of the workflows of `project`.
pub async fn by_project(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    project: ProjectId,
    request: &PageRequest,
) -> Result<Page<Workflow>> {
    record::list_by(
        ttx,
        by,
        &Workflow::BY_PROJECT,
        &[project.uuid().into()],
        request,
    )
    .await
}
