//! A handle scoped to a tenant and a principal: what a service holds while it serves one
//! request. `db.tenant(id).as_member(m)` (or `.with_session(..)`, `.with_api_key(..)`,
//! `.as_operator()`) says once who asks and how they authenticated; every call after that
//! runs in its own retried transaction ([`run_in_tenant`](crate::run_in_tenant)) as that principal, and returns
//! its value. The free functions ([`record`], the model modules, [`run_in_tenant`](crate::run_in_tenant)) stay for
//! work that needs several operations in one transaction: [`AsPrincipal::transaction`]
//! hands one out with the principal.
//!
//! ```
//! # async fn demo(backend: std::sync::Arc<dyn coditect_core::KvBackend>) -> coditect_core::Result<()> {
//! use coditect_core::prelude::*;
//!
//! let db = Db::new(backend);
//! let acme = db.provision(NewTenant::new("Acme", "acme.example", "ada@acme.example")).await?;
//! let ada = db.tenant(acme.tenant.id).as_member(acme.admin_member.id);
//! let web = ada.insert(Project::new("WEB", "Website", acme.root.id, acme.admin_member.id)).await?;
//! let launch = ada.insert(Task::new(web.id, "Launch", acme.admin_member.id)).await?;
//! assert!(ada.can(Action::Update, &launch).await?);
//! let mut pages = ada.pages::<Task>(50);
//! while let Some(page) = pages.next().await? {
//!     assert_eq!(page.len(), 1);
//! }
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, EntityId, MemberId, ProjectId, SessionId};
use crate::keys::TenantId;
use crate::kv::KvBackend;
use crate::kv::RetryOptions;
use crate::model::{api_key, session};
use crate::principal::Principal;
use crate::provision::{provision, NewTenant, Provisioned};
use crate::rbac::{self, Action, Resource, ResourceKind, Scope};
use crate::record::{self, Cursor, Model, Page, PageRequest};
use crate::run;
use crate::tenant_tx::{run_in_tenant_with, TenantControls, TenantTx};
use crate::value;

/// A backend with the retry options and tenant controls (meters, resource control) every
/// call through it uses.
#[derive(Clone)]
pub struct Db {
    backend: Arc<dyn KvBackend>,
    options: RetryOptions,
    controls: TenantControls,
}

impl Db {
    /// `backend` with the default retry options.
    pub fn new(backend: Arc<dyn KvBackend>) -> Self {
        Db {
            backend,
            options: RetryOptions::default(),
            controls: TenantControls::default(),
        }
    }

    /// The same backend with `controls` for every tenant call: e.g. a
    /// [`ResourceControl`](crate::resource::ResourceControl) shared by the process, so that
    /// no tenant takes all of its capacity.
    pub fn with_controls(mut self, controls: TenantControls) -> Self {
        self.controls = controls;
        self
    }

    /// The same backend with `options` for every call.
    pub fn with_retry_options(mut self, options: RetryOptions) -> Self {
        self.options = options;
        self
    }

    /// The backend underneath.
    pub fn backend(&self) -> &dyn KvBackend {
        self.backend.as_ref()
    }

    /// Provisions a tenant ([`provision`]) in one retried transaction: safe to retry, the
    /// tenant's id being drawn once per run.
    pub async fn provision(&self, new: NewTenant) -> Result<Provisioned> {
        let (made, _) = run(self.backend(), &self.options, |tx| {
            let new = new.clone();
            async move { provision(&*tx, new).await }
        })
        .await?;
        Ok(made)
    }

    /// The tenant `id`, not yet as anyone.
    pub fn tenant(&self, id: TenantId) -> InTenant {
        InTenant {
            db: self.clone(),
            tenant: id,
        }
    }
}

/// A tenant of a [`Db`]: say who asks to get an [`AsPrincipal`].
#[derive(Clone)]
pub struct InTenant {
    db: Db,
    tenant: TenantId,
}

impl InTenant {
    /// As `principal`, however it was established.
    pub fn as_principal(&self, principal: Principal) -> AsPrincipal {
        AsPrincipal {
            db: self.db.clone(),
            tenant: self.tenant,
            principal,
        }
    }

    /// As member `member`, trusted by the caller (a service that authenticated it itself).
    pub fn as_member(&self, member: MemberId) -> AsPrincipal {
        self.as_principal(Principal::member(member))
    }

    /// As `member` through `session`, which the service has already authenticated (from its
    /// token, with [`authenticate_session`](Self::authenticate_session)): the session must
    /// still be valid and the member's on every call. A session id is not a credential
    /// (anyone who may list sessions sees ids): never take one from a request.
    pub fn with_session(&self, member: MemberId, session: SessionId) -> AsPrincipal {
        self.as_principal(Principal::with_session(member, session))
    }

    /// As `member` through its API key `key`, already authenticated from its secret
    /// ([`authenticate_api_key`](Self::authenticate_api_key)): every call bounded by the
    /// key's scopes. A key id is not a credential.
    pub fn with_api_key(&self, member: MemberId, key: ApiKeyId) -> AsPrincipal {
        self.as_principal(Principal::with_api_key(member, key))
    }

    /// As the platform operator (reads; tenant status changes go through
    /// [`tenant::change_status`](crate::model::tenant::change_status)).
    pub fn as_operator(&self) -> AsPrincipal {
        self.as_principal(Principal::operator())
    }

    /// As whoever holds the session token `token` at `now_ms`
    /// ([`session::authenticate`]).
    pub async fn authenticate_session(&self, token: &str, now_ms: i64) -> Result<AsPrincipal> {
        let token = token.to_owned();
        let principal = self
            .as_principal(Principal::system())
            .transaction(
                move |ttx, _| async move { session::authenticate(&ttx, &token, now_ms).await },
            )
            .await?;
        Ok(self.as_principal(principal))
    }

    /// As whoever holds the API-key secret `secret` at `now_ms`
    /// ([`api_key::authenticate`]).
    pub async fn authenticate_api_key(&self, secret: &str, now_ms: i64) -> Result<AsPrincipal> {
        let secret = secret.to_owned();
        let principal = self
            .as_principal(Principal::system())
            .transaction(
                move |ttx, _| async move { api_key::authenticate(&ttx, &secret, now_ms).await },
            )
            .await?;
        Ok(self.as_principal(principal))
    }
}

/// A tenant and who asks: each call is one retried transaction as [`principal`]
/// (denials audited), returning its value.
///
/// [`principal`]: AsPrincipal::principal
#[derive(Clone)]
pub struct AsPrincipal {
    db: Db,
    tenant: TenantId,
    principal: Principal,
}

impl AsPrincipal {
    /// Who asks.
    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Runs `body` in one retried transaction of the tenant, given the principal; a refused
    /// operation's denial is audited. Records built inside `body` get the same ids on every
    /// attempt ([`replay`](crate::replay)), so a naive body is still exactly-once.
    pub async fn transaction<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnOnce(TenantTx<'static>, Principal) -> Fut + Clone,
        Fut: Future<Output = Result<T>>,
    {
        let by = self.principal;
        let db = &self.db;
        let (value, _) = run_in_tenant_with(
            db.backend(),
            &db.options,
            &db.controls,
            self.tenant,
            |ttx| body(ttx, by),
        )
        .await?;
        Ok(value)
    }

    /// Creates `record` ([`record::insert`]).
    pub async fn insert<M: Model>(&self, record: M) -> Result<M> {
        self.transaction(|ttx, by| async move { record::insert(&ttx, by, record).await })
            .await
    }

    /// Record `id`, if it exists ([`record::get`]: a read that conflicts with a concurrent
    /// change of it, in its own transaction here).
    pub async fn get<M: Model>(&self, id: M::Id) -> Result<Option<M>> {
        self.transaction(move |ttx, by| async move { record::get::<M>(&ttx, by, id).await })
            .await
    }

    /// Record `id`, or [`Error::NotFound`] ([`record::require`]).
    pub async fn require<M: Model>(&self, id: M::Id) -> Result<M> {
        self.transaction(move |ttx, by| async move { record::require::<M>(&ttx, by, id).await })
            .await
    }

    /// Replaces the stored record with `record` ([`record::update`]). To change a record
    /// that others may change concurrently, prefer [`modify`](Self::modify), which reads it
    /// in the same transaction.
    pub async fn update<M: Model>(&self, record: M) -> Result<M> {
        self.transaction(|ttx, by| async move { record::update(&ttx, by, record).await })
            .await
    }

    /// Reads record `id`, applies `change` and writes it back, in one transaction: a
    /// concurrent change conflicts and the retry applies `change` to the newer record, so
    /// neither change is lost. After a commit that reported an unknown result, a retry that
    /// finds the record exactly as its earlier attempt wrote it returns it without applying
    /// `change` again (so an append or an increment happens once).
    pub async fn modify<M, F>(&self, id: M::Id, change: F) -> Result<M>
    where
        M: Model,
        F: Fn(&mut M) + Clone,
    {
        self.transaction(move |ttx, by| async move {
            let mut memo = b"handle::modify ".to_vec();
            memo.extend_from_slice(&record::key_of::<M>(&ttx, id));
            let mut current = record::require::<M>(&ttx, by, id).await?;
            if ttx.maybe_committed() {
                if let Some(written) = ttx.recall(&memo) {
                    if value::decode::<M>(&written)? == current {
                        // The earlier attempt committed this very record.
                        return Ok(current);
                    }
                }
            }
            change(&mut current);
            let updated = record::update(&ttx, by, current).await?;
            ttx.remember(&memo, &value::encode(&updated)?);
            Ok(updated)
        })
        .await
    }

    /// Deletes record `id` and returns it ([`record::delete`]).
    pub async fn delete<M: Model>(&self, id: M::Id) -> Result<M> {
        self.transaction(move |ttx, by| async move { record::delete::<M>(&ttx, by, id).await })
            .await
    }

    /// Every record of `M` the principal may read, `page_size` at a time, one transaction per
    /// page ([`record::list`]).
    pub fn pages<M: Model>(&self, page_size: usize) -> Pages<M> {
        Pages {
            handle: self.clone(),
            page_size,
            next: Some(None),
            _model: std::marker::PhantomData,
        }
    }

    /// Every item of a paged list (`list` is called with each page's request, one
    /// transaction per page, until the last): for the model modules' lists by index, such
    /// as `task::by_assignee`. Holds everything in memory; use [`pages`](Self::pages) or
    /// the list itself for lists that may be large.
    pub async fn collect_pages<T, F, Fut>(&self, page_size: usize, list: F) -> Result<Vec<T>>
    where
        F: Fn(TenantTx<'static>, Principal, PageRequest) -> Fut + Clone,
        Fut: Future<Output = Result<Page<T>>>,
    {
        let (mut all, mut request) = (Vec::new(), PageRequest::first(page_size));
        loop {
            let list = list.clone();
            let page = self
                .transaction(move |ttx, by| list(ttx, by, request))
                .await?;
            all.extend(page.items);
            match page.next {
                Some(next) => request = PageRequest::after(next, page_size),
                None => return Ok(all),
            }
        }
    }

    /// Whether the principal may do `action` on `record` (ownership, scope and key scopes
    /// included), as the record layer would decide it: when a record with that id is
    /// stored, the stored one is judged (a read, delete or update is checked against what
    /// is stored, not against a copy whose owner or references the caller may have
    /// changed), and an update that would move it or hand it to another owner needs the
    /// right where it lands too. `on` itself is judged for a create, or when nothing is
    /// stored under its id.
    pub async fn can<M: Model>(&self, action: Action, on: &M) -> Result<bool> {
        let on = on.clone();
        self.transaction(move |ttx, by| async move {
            let stored = match action {
                Action::Create => None,
                _ => record::get_unchecked::<M>(&ttx, on.id()).await?,
            };
            // The record layer's own checks, so the answer is the one an operation gets.
            let decision = match &stored {
                Some(before) if action == Action::Update => {
                    record::check_update_access(&ttx, by, before, &on).await
                }
                Some(before) => record::check_access(&ttx, by, action, before).await,
                None => record::check_access(&ttx, by, action, &on).await,
            };
            match decision {
                Ok(()) => Ok(true),
                Err(Error::Forbidden { .. }) => Ok(false),
                Err(other) => Err(other),
            }
        })
        .await
    }

    /// Whether the principal may do `action` on records of `kind` under `entity` (e.g. "may
    /// this member create tasks in that team"), for a record that is nobody's own content:
    /// for models with owners (comments, messages, conversations, sessions, keys) ask
    /// [`can`](Self::can) about the record, whose owner changes the answer.
    pub async fn can_at(
        &self,
        action: Action,
        kind: ResourceKind,
        entity: EntityId,
    ) -> Result<bool> {
        self.can_in_scope(action, kind, Scope::Entity(entity)).await
    }

    /// Whether the principal may do `action` on records of `kind` in `project` (the scope of
    /// a project's tasks, files and workflows).
    pub async fn can_in_project(
        &self,
        action: Action,
        kind: ResourceKind,
        project: ProjectId,
    ) -> Result<bool> {
        self.transaction(move |ttx, by| async move {
            let scope = rbac::project_scope(&ttx, project).await?;
            let resource = Resource::new(kind, "question", uuid::Uuid::nil(), scope);
            rbac::is_allowed(&ttx, by, action, &resource).await
        })
        .await
    }

    async fn can_in_scope(&self, action: Action, kind: ResourceKind, scope: Scope) -> Result<bool> {
        self.transaction(move |ttx, by| async move {
            let resource = Resource::new(kind, "question", uuid::Uuid::nil(), scope);
            rbac::is_allowed(&ttx, by, action, &resource).await
        })
        .await
    }
}

/// The pages of [`AsPrincipal::pages`]: call [`next`](Pages::next) until it returns `None`.
pub struct Pages<M> {
    handle: AsPrincipal,
    page_size: usize,
    /// `Some(None)` before the first page, `Some(Some(c))` before the page after `c`, `None`
    /// once the last page was returned.
    next: Option<Option<Cursor>>,
    _model: std::marker::PhantomData<fn() -> M>,
}

impl<M: Model> Pages<M> {
    /// The next page (never empty but when the principal may read nothing at all), or
    /// `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<M>>> {
        let Some(mut cursor) = self.next.take() else {
            return Ok(None);
        };
        loop {
            let request = match cursor {
                None => PageRequest::first(self.page_size),
                Some(cursor) => PageRequest::after(cursor, self.page_size),
            };
            let page = self
                .handle
                .transaction(|ttx, by| async move { record::list::<M>(&ttx, by, &request).await })
                .await?;
            match page.next {
                // A filtered list stops scanning after a long run of records the principal
                // may not read and returns an empty page with a cursor: go on from there, one
                // transaction per scan, so that an empty page means the end.
                Some(next) if page.items.is_empty() => cursor = Some(next),
                next => {
                    self.next = next.map(Some);
                    return Ok(Some(page.items));
                }
            }
        }
    }

    /// Every remaining record, page by page, in one vector.
    pub async fn collect(mut self) -> Result<Vec<M>> {
        let mut all = Vec::new();
        while let Some(page) = self.next().await? {
            all.extend(page);
        }
        Ok(all)
    }
}
