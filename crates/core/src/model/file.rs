//! File: metadata of a file of a project (size, content hash, storage location); the bytes
//! live elsewhere. Its path is unique within the project. The one index `(project, path)`
//! serves both lookups: by path, and all files of a project (in path order).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{FileId, ProjectId};
use crate::keys::KeyPart;
use crate::model::project::Project;
use crate::principal::Principal;
use crate::rbac::{self, ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// A file's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its id.
    pub id: FileId,
    /// Its project.
    pub project: ProjectId,
    /// Absolute path in the project (`/docs/a.md`), unique in the project, 1 to 1,024 bytes.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its content.
    pub content_hash: [u8; 32],
    /// Where the bytes are (an object-store URL or similar), 1 to 2,048 bytes.
    pub storage_location: String,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl File {
    /// A new file record with a fresh id.
    #[track_caller]
    pub fn new(
        project: ProjectId,
        path: impl Into<String>,
        size: u64,
        content_hash: [u8; 32],
        storage_location: impl Into<String>,
    ) -> Self {
        File {
            id: FileId::generate(),
            project,
            path: path.into(),
            size,
            content_hash,
            storage_location: storage_location.into(),
            stamps: Timestamps::default(),
        }
    }

    /// `(project, path)`, unique: by path, and (by its first value) all files of a project.
    pub const BY_PATH: IndexDef<File> = IndexDef {
        name: "file_by_path",
        field: "path",
        unique: true,
        values: |f| {
            Some(vec![
                KeyPart::Uuid(f.project.uuid()),
                KeyPart::Str(f.path.clone()),
            ])
        },
    };
}

impl Versioned for File {
    const WHAT: &'static str = "file";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for File {
    const COLLECTION: &'static str = "file";
    const INDEXES: &'static [IndexDef<Self>] = &[File::BY_PATH];
    type Id = FileId;
    const RESOURCE: ResourceKind = ResourceKind::File;

    crate::record::id_and_stamps!(FileId);
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        rbac::project_scope(ttx, self.project).await
    }
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "path", &self.path, 1, 1024)?;
        let invalid = |reason: &str| Error::InvalidInput {
            field: "path",
            reason: reason.into(),
        };
        if !self.path.starts_with('/') {
            return Err(invalid("must start with /"));
        }
        if self.path.len() > 1
            && self.path[1..]
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(invalid("no empty, . or .. segments"));
        }
        if self.path.chars().any(char::is_control) {
            return Err(invalid("no control characters"));
        }
        check_len(
            Self::WHAT,
            "storage_location",
            &self.storage_location,
            1,
            2048,
        )
    }
    fn references(&self) -> Vec<Reference> {
        vec![Reference::to::<Project>("project", self.project)]
    }
}

/// The file at `path` in `project`, or `None`.
pub async fn by_path(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    project: ProjectId,
    path: &str,
) -> Result<Option<File>> {
    record::find_unique(
        ttx,
        by,
        &File::BY_PATH,
        &[project.uuid().into(), path.into()],
    )
    .await
}

/// One page of the files of `project`, in path order.
pub async fn by_project(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    project: ProjectId,
    request: &PageRequest,
) -> Result<Page<File>> {
    record::list_by(ttx, by, &File::BY_PATH, &[project.uuid().into()], request).await
}
