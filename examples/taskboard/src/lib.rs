//! A task board on coditect-data: the service a newcomer writes first, in one module.
//!
//! A company is onboarded with its first Admin; the Admin adds humans and AI agents with an
//! access role; members create projects and tasks, assign them, move them along, and ask for
//! "my tasks"; anyone may ask "may X do Y". Every call is one retried transaction through a
//! handle that knows the tenant and who asks ([`Db::tenant`]), so authorization, auditing
//! and retries after an unknown commit result are the library's work, not the board's.

#![forbid(unsafe_code)]

/// The README's quickstart, compiled and run here as a doc test (examples/quickstart.rs;
/// tests/readme.rs checks the README shows the same program).
#[doc = concat!("```\n", include_str!("../examples/quickstart.rs"), "```")]
pub mod quickstart {}

use coditect_core::model::{task, Plan};
use coditect_core::prelude::*;

/// The board: one backend, every company on it.
#[derive(Clone)]
pub struct Board {
    db: Db,
}

/// An onboarded company: its tenant, its first Admin, its root entity.
#[derive(Clone, Debug)]
pub struct Company {
    /// The tenant.
    pub tenant: TenantId,
    /// The first Admin's member.
    pub admin: MemberId,
    /// The root entity, where company-wide roles are granted.
    pub root: EntityId,
}

impl Board {
    /// A board on `backend`.
    pub fn new(backend: std::sync::Arc<dyn KvBackend>) -> Self {
        Board {
            db: Db::new(backend),
        }
    }

    /// Onboards a company: tenant, root entity, first Admin (`admin_email`).
    pub async fn onboard(&self, name: &str, domain: &str, admin_email: &str) -> Result<Company> {
        let made = self
            .db
            .provision(NewTenant::new(name, domain, admin_email).with_plan(Plan::Professional))
            .await?;
        Ok(Company {
            tenant: made.tenant.id,
            admin: made.admin_member.id,
            root: made.root.id,
        })
    }

    /// `member` acting in `company`.
    pub fn as_member(&self, company: &Company, member: MemberId) -> AsPrincipal {
        self.db.tenant(company.tenant).as_member(member)
    }

    /// The Admin adds a human `name <email>` holding the access role `role` company-wide.
    pub async fn add_human(
        &self,
        company: &Company,
        name: &str,
        email: &str,
        role: &str,
    ) -> Result<MemberId> {
        let (name, email, role, root) = (
            name.to_owned(),
            email.to_owned(),
            role.to_owned(),
            company.root,
        );
        self.as_member(company, company.admin)
            .transaction(move |ttx, admin| async move {
                // Built inside the body: the run replays the ids, so a retry makes nothing twice.
                let user =
                    record::insert(&ttx, admin, User::new(email, name.clone(), UserRole::Guest))
                        .await?;
                let member =
                    record::insert(&ttx, admin, Member::new(MemberKind::Human(user.id), name))
                        .await?;
                grant(&ttx, admin, member.id, &role, root).await?;
                Ok(member.id)
            })
            .await
    }

    /// The Admin adds an AI agent `name` holding the access role `role` company-wide.
    pub async fn add_agent(&self, company: &Company, name: &str, role: &str) -> Result<MemberId> {
        let (name, role, root) = (name.to_owned(), role.to_owned(), company.root);
        self.as_member(company, company.admin)
            .transaction(move |ttx, admin| async move {
                let config = AgentConfig::new(&name, AgentType::Coder, "anthropic", "claude");
                let config = record::insert(&ttx, admin, config).await?;
                let member =
                    record::insert(&ttx, admin, Member::new(MemberKind::Agent(config.id), name))
                        .await?;
                grant(&ttx, admin, member.id, &role, root).await?;
                Ok(member.id)
            })
            .await
    }

    /// A project `code` ("WEB") named `name` at the company's root, owned by whoever asks.
    pub async fn create_project(
        &self,
        by: &AsPrincipal,
        company: &Company,
        code: &str,
        name: &str,
    ) -> Result<Project> {
        let owner = member_of(by)?;
        by.insert(Project::new(code, name, company.root, owner))
            .await
    }

    /// A task in `project`, filed by whoever asks, assigned to `assignee` if given.
    pub async fn create_task(
        &self,
        by: &AsPrincipal,
        project: ProjectId,
        title: &str,
        assignee: Option<MemberId>,
    ) -> Result<Task> {
        let mut task = Task::new(project, title, member_of(by)?);
        task.assignee = assignee;
        by.insert(task).await
    }

    /// Moves task `id` to `status`; concurrent changes to the task are retried, not lost.
    pub async fn move_task(
        &self,
        by: &AsPrincipal,
        id: TaskId,
        status: TaskStatus,
    ) -> Result<Task> {
        by.modify::<Task, _>(id, move |task| task.status = status)
            .await
    }

    /// Renames task `id`.
    pub async fn rename_task(&self, by: &AsPrincipal, id: TaskId, title: &str) -> Result<Task> {
        let title = title.to_owned();
        by.modify::<Task, _>(id, move |task| task.title = title.clone())
            .await
    }

    /// Every task assigned to whoever asks, a page of `page_size` per transaction.
    pub async fn my_tasks(&self, by: &AsPrincipal, page_size: usize) -> Result<Vec<Task>> {
        let me = member_of(by)?;
        by.collect_pages(page_size, move |ttx, who, request| async move {
            task::by_assignee(&ttx, who, me, &request).await
        })
        .await
    }

    /// Every task of `project` whoever asks may read, a page per transaction.
    pub async fn project_tasks(
        &self,
        by: &AsPrincipal,
        project: ProjectId,
        page_size: usize,
    ) -> Result<Vec<Task>> {
        by.collect_pages(page_size, move |ttx, who, request| async move {
            task::by_project(&ttx, who, project, &request).await
        })
        .await
    }

    /// May whoever asks do `action` to `task`?
    pub async fn can(&self, by: &AsPrincipal, action: Action, task: &Task) -> Result<bool> {
        by.can(action, task).await
    }
}

/// The member a handle acts as; the board is for members only.
fn member_of(by: &AsPrincipal) -> Result<MemberId> {
    by.principal().member_id().ok_or(Error::InvalidInput {
        field: "principal",
        reason: "the board acts for members only".into(),
    })
}
