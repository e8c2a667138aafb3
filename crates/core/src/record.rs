//! The generic record store, in the spirit of FoundationDB's Record Layer: a [`Model`] says
//! what it is (collection, schema version, indexes as data, validation, references, rules) and
//! one generic path creates, reads, updates, deletes and lists every model, maintaining all of
//! its indexes and its audit trail in the same transaction.
//!
//! - A record is one key, `(tenant, collection, id)`, valued by its [versioned](crate::value)
//!   encoding.
//! - An index entry is one key, `(tenant, "idx", index, value..., id)`, with an empty value:
//!   no list values, so no hot key and no read-modify-write of a shared list. A unique index
//!   is checked by reading the entries for the value (a range read, so a concurrent insert of
//!   the same value is a conflict, never a duplicate).
//! - A reference is also one key, reversed: `(tenant, "ref", target collection, target id,
//!   source collection, field, source id)`, empty, written with the record and moved by the
//!   updates that change it. A delete reads the target's range of them (a few keys) and is
//!   refused with [`Error::StillReferenced`] while any is left, naming them: references stay
//!   valid, for every reference of every model, with no model code. Records written before
//!   this index existed (stores older than it) have no entries until their next update, so
//!   deleting what only they refer to is not refused.
//! - Sizes are checked in bytes before anything is written: each model caps its text fields
//!   (documented on each field; [`Error::TooLarge`] names model and field), and every record
//!   whose encoding would pass the store's value limit, or whose index key would pass the key
//!   limit, is refused the same way, naming its largest field (or the index's field).
//! - A model write is atomic inside its transaction: every check that can fail (validation,
//!   sizes, existence, references, authorization, every unique index, the model's rules and
//!   quotas) runs before the first key is buffered, so a refused insert, update or delete
//!   leaves nothing behind and the transaction may go on and commit. The one failure no check
//!   can foresee, the transaction's own size limit refusing a write part way (its size is not
//!   known to the layer), poisons the transaction instead: it refuses further writes and
//!   cannot commit ([`KvError::TransactionPoisoned`](crate::KvError::TransactionPoisoned)), so half an
//!   operation never lands. One that fails at its first key leaves the transaction as it was
//!   (the bulk load "insert until the transaction is too large, then commit" keeps every
//!   insert that succeeded).
//! - Lists are pages with an opaque [`Cursor`], never unbounded.
//!
//! ```
//! # async fn demo(db: &dyn coditect_core::KvBackend) -> coditect_core::Result<()> {
//! use coditect_core::audit::Actor;
//! use coditect_core::model::{task, Plan, Project, Task};
//! use coditect_core::provision::{provision, NewTenant};
//! use coditect_core::record::{self, PageRequest};
//! use coditect_core::{run, run_in_tenant, RetryOptions, TenantId};
//!
//! // A tenant: registry entry, domain, root entity, first admin and their member.
//! let new = NewTenant {
//!     id: TenantId::generate(), // outside the retry loop: a retry finds the same id
//!     name: "Acme".into(),
//!     domain: "acme.example".into(),
//!     plan: Plan::Starter,
//!     root_code: "ACME".into(),
//!     admin_email: "ada@acme.example".into(),
//!     admin_name: "Ada".into(),
//! };
//! let (acme, _) = run(db, &RetryOptions::default(), |tx| {
//!     let new = new.clone();
//!     async move { provision(&*tx, new).await }
//! })
//! .await?;
//!
//! // Records: everything goes through a TenantTx scoped to one active tenant, here in the
//! // retry loop (`TenantTx::open(&*tx, id)` scopes any transaction the same way).
//! let (admin, owner, root) = (Actor::Member(acme.admin_member.id), acme.admin_member.id, acme.root.id);
//! let web = Project::new("WEB", "Website", root, owner);
//! let (tasks, _) = run_in_tenant(db, &RetryOptions::default(), acme.tenant.id, |ttx| async move {
//!     let web = record::insert(&ttx, admin, web).await?;
//!     record::insert(&ttx, admin, Task::new(web.id, "Launch", owner)).await?;
//!     task::by_project(&ttx, admin, web.id, &PageRequest::first(50)).await
//! })
//! .await?;
//! assert_eq!(tasks.items.len(), 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{self, AuditAction};
use crate::error::{Error, Referrer, Result, MAX_REFERRERS};
use crate::ids::{not_nil, MemberId, RecordId};
use crate::keys::{self, KeyPart};
use crate::kv::{key_after, KeyValue, RangeOptions};
use crate::limits::{MAX_KEY_SIZE, MAX_VALUE_SIZE};
use crate::principal::Principal;
use crate::rbac::{self, Access, Action, Resource, ResourceKind, Scope};
use crate::tenant_tx::TenantTx;
use crate::value::{self, Versioned};
use crate::walk::RangeWalk;

/// Creation and last-update times of a record, in milliseconds since the Unix epoch. The store
/// sets both; whatever a caller puts there is overwritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamps {
    /// When the record was created.
    pub created_at_ms: i64,
    /// When it was last written.
    pub updated_at_ms: i64,
}

/// The wall clock in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An index of model `M`, declared as data.
pub struct IndexDef<M> {
    /// The index's name, unique in the tenant's keyspace (`"user_by_email"`).
    pub name: &'static str,
    /// The field named by [`Error::AlreadyExists`] when a unique index would be duplicated.
    pub field: &'static str,
    /// Whether two records may share the index's values.
    pub unique: bool,
    /// The values a record is indexed by, or `None` when it has no entry (an optional field
    /// that is empty).
    pub values: fn(&M) -> Option<Vec<KeyPart>>,
}

/// A reference from a record to another record of the same tenant, which must exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The referring field.
    pub field: &'static str,
    /// The model referred to.
    pub target: &'static str,
    collection: &'static str,
    /// The id referred to.
    pub id: Uuid,
}

impl Reference {
    /// A reference from `field` to the record `id` of model `T`.
    pub fn to<T: Model>(field: &'static str, id: T::Id) -> Self {
        Reference {
            field,
            target: T::WHAT,
            collection: T::COLLECTION,
            id: id.uuid(),
        }
    }

    /// The collection of the model referred to.
    pub fn collection(&self) -> &'static str {
        self.collection
    }
}

/// A counter a record adds to ([`Model::counted`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// A per-tenant counter, `(tenant, "meta", "count", name)`.
    Tenant(String),
    /// A counter of one record, `(tenant, "meta", "record_count", collection, id)`.
    Record {
        /// The record's collection.
        collection: &'static str,
        /// Its id.
        id: Uuid,
    },
}

impl Counter {
    /// The counter's key in the tenant whose prefix is `prefix`.
    pub fn key(&self, prefix: &[u8]) -> Vec<u8> {
        match self {
            Counter::Tenant(name) => keys::counter_key(prefix, name),
            Counter::Record { collection, id } => keys::record_counter_key(prefix, collection, *id),
        }
    }
}

/// The three accessors every model writes the same way, from its `id` and `stamps` fields:
/// `id_and_stamps!(TaskId);` inside an `impl Model`.
macro_rules! id_and_stamps {
    ($id:ty) => {
        fn id(&self) -> $id {
            self.id
        }
        fn timestamps(&self) -> $crate::record::Timestamps {
            self.stamps
        }
        fn timestamps_mut(&mut self) -> &mut $crate::record::Timestamps {
            &mut self.stamps
        }
    };
}
pub(crate) use id_and_stamps;

/// A typed record stored by the generic store. Its [`Versioned::WHAT`] is the model's name.
///
/// Each model's file holds its struct, enums, this impl and its special rules; everything
/// generic is here.
#[async_trait]
pub trait Model: Versioned + Clone + PartialEq + Send + Sync + 'static {
    /// The collection its records are keyed under: `(tenant, COLLECTION, id)`.
    const COLLECTION: &'static str;
    /// Its indexes, each maintained on every write.
    const INDEXES: &'static [IndexDef<Self>];
    /// Its id type.
    type Id: RecordId;
    /// What permissions name it by.
    const RESOURCE: ResourceKind;

    /// The record's id.
    fn id(&self) -> Self::Id;
    /// The record's timestamps.
    fn timestamps(&self) -> Timestamps;
    /// The record's timestamps, for the store to set.
    fn timestamps_mut(&mut self) -> &mut Timestamps;

    /// Puts input in canonical form before validation (e.g. lower-cases an email).
    fn normalize(&mut self) {}
    /// Checks the record on its own: lengths, formats, enums.
    fn validate(&self) -> Result<()>;
    /// The records it refers to; each must exist in the same tenant, and none of them can
    /// be deleted while this record refers to it ([`Error::StillReferenced`]).
    fn references(&self) -> Vec<Reference> {
        Vec::new()
    }
    /// The counters a record of this model adds one to while it exists (quotas read them).
    fn counters(&self) -> Vec<&'static str> {
        vec![Self::COLLECTION]
    }
    /// The amounts the model's own rules add to counters while the record exists, beyond the
    /// one of each of its [`counters`](Model::counters): a use's quantity and cost in its
    /// metric's totals, a message in its conversation's count. Nothing by default. What
    /// `coditect_ops::check` recomputes every counter from, so it must say exactly
    /// what [`before_write`](Model::before_write) and [`before_delete`](Model::before_delete)
    /// add and take away.
    fn counted(&self) -> Vec<(Counter, i64)> {
        Vec::new()
    }
    /// Where the record sits for access control: the entity whose role assignments (there
    /// and above) may act on it, read in the transaction (e.g. a task's project's entity).
    /// Tenant-wide by default. It must follow from the record's [`references`](Model::references)
    /// (and what they point at) alone: an update that keeps them is taken to keep the scope.
    async fn scope(&self, ttx: &TenantTx<'_>) -> Result<Scope> {
        let _ = ttx;
        Ok(Scope::Tenant)
    }
    /// The member a record is filed in the name of without being theirs to guard (a task's
    /// reporter, a project's owner): others may still work on it, but filing a record in
    /// another member's name, or changing the name, needs [`Action::ManageOthers`] too.
    fn attributed_to(&self) -> Option<MemberId> {
        None
    }
    /// The member whose content the record is (its author or owner), if the model has one.
    /// Acting on another member's content needs [`Action::ManageOthers`] on top of the action
    /// ([`rbac`]).
    fn owner(&self) -> Option<MemberId> {
        None
    }
    /// Whether reading another member's record of this model needs
    /// [`Action::ManageOthers`] too (sessions, API keys, personal settings).
    const PRIVATE: bool = false;
    /// Whether a member may act on its own records of this model without a role grant
    /// (within its key's scopes): its own sessions and keys.
    const SELF_SERVICE: bool = false;
    /// Rules that need the store (quotas, hierarchies), run in the transaction before a create
    /// (`before` is `None`) or an update (`before` is the stored record); an error aborts the
    /// write. It runs after every generic check has passed and right before the record's own
    /// keys are written, so it must make all of its checks before it buffers anything (a
    /// refused write leaves nothing in the transaction).
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        let _ = (ttx, before);
        Ok(())
    }
    /// Rules and clean-up run in the transaction before the record is deleted (e.g. clear data
    /// kept beside the record), after the generic checks (access, no record still refers to
    /// it): as for [`before_write`](Model::before_write), every check before any write.
    async fn before_delete(&self, ttx: &TenantTx<'_>) -> Result<()> {
        let _ = ttx;
        Ok(())
    }
}

/// Where a list starts: after a cursor from a previous page, or at the beginning.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// The cursor of the previous page, or `None` for the first page.
    pub after: Option<Cursor>,
    /// The most items to return: 0 means [`DEFAULT_PAGE`]; more than [`MAX_PAGE`] is capped.
    pub limit: usize,
}

impl PageRequest {
    /// The first page of at most `limit` items.
    pub fn first(limit: usize) -> Self {
        PageRequest { after: None, limit }
    }

    /// The page after `cursor`, of at most `limit` items.
    pub fn after(cursor: Cursor, limit: usize) -> Self {
        PageRequest {
            after: Some(cursor),
            limit,
        }
    }
}

/// Items per page when a request says 0.
pub const DEFAULT_PAGE: usize = 100;
/// Most items in one page.
pub const MAX_PAGE: usize = 1_000;

/// An opaque position in a list: where the next page starts. It is relative to the list's
/// range, so it can never point outside it (or outside the tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(Vec<u8>);

impl Cursor {
    /// Its bytes, to hand to a client.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// A cursor from bytes a client handed back.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Cursor(bytes)
    }
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Where the next page starts, or `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Reads one page of the keys under `prefix`.
pub(crate) async fn page_of_rows(
    ttx: &TenantTx<'_>,
    prefix: &[u8],
    request: &PageRequest,
) -> Result<(Vec<KeyValue>, Option<Cursor>)> {
    let limit = page_limit(request);
    let end = keys::prefix_range_end(prefix)?;
    let lo = page_start(prefix, request);
    // One row past the limit tells whether another page follows.
    let mut walk = RangeWalk::new(&lo, &end, RangeOptions::limit(limit + 1));
    let mut rows = Vec::with_capacity((limit + 1).min(64));
    while let Some(page) = walk.next_page(ttx).await? {
        rows.extend(page);
    }
    let cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|kv| Cursor(kv.key[prefix.len()..].to_vec()))
    } else {
        None
    };
    Ok((rows, cursor))
}

fn record_key<M: Model>(ttx: &TenantTx<'_>, id: Uuid) -> Vec<u8> {
    keys::record_key(ttx.prefix(), M::COLLECTION, id)
}

/// The key of record `id` of `M` in the tenant of `ttx`, for tools and tests that look at the
/// stored bytes (reads and writes with it still pass the tenant check).
pub fn key_of<M: Model>(ttx: &TenantTx<'_>, id: M::Id) -> Vec<u8> {
    record_key::<M>(ttx, id.uuid())
}

/// The record `id`, or `None`, with no access check: for the crate's own operations
/// (authorization itself, scopes, rules) that must see records whoever asks.
pub(crate) async fn get_unchecked<M: Model>(ttx: &TenantTx<'_>, id: M::Id) -> Result<Option<M>> {
    match ttx.get(&record_key::<M>(ttx, id.uuid()), false).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// The record `id`, or `None`, read by `by`: [`Error::Forbidden`] unless they may read it
/// ([`rbac`]). The read is not a snapshot: the record is in the transaction's
/// read set, so a concurrent change to it makes this transaction conflict.
pub async fn get<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: M::Id,
) -> Result<Option<M>> {
    let found = get_unchecked::<M>(ttx, id).await?;
    if let Some(record) = &found {
        check_access(ttx, by.into(), Action::Read, record).await?;
    }
    Ok(found)
}

/// Checks that `by` may do `action` on `record`.
pub(crate) async fn check_access<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    action: Action,
    record: &M,
) -> Result<()> {
    let mut access = Access::load(ttx, by).await?;
    if access.is_unrestricted() {
        return Ok(());
    }
    let resource = Resource::of(ttx, record).await?;
    access.require(ttx, action, &resource).await
}

/// The record `id`, or [`Error::NotFound`], with no access check (see [`get_unchecked`]).
pub(crate) async fn require_unchecked<M: Model>(ttx: &TenantTx<'_>, id: M::Id) -> Result<M> {
    get_unchecked::<M>(ttx, id).await?.ok_or(Error::NotFound {
        model: M::WHAT,
        id: id.uuid(),
    })
}

/// The record `id` read by `by` ([`get`]), or [`Error::NotFound`].
pub async fn require<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: M::Id,
) -> Result<M> {
    get::<M>(ttx, by, id).await?.ok_or(Error::NotFound {
        model: M::WHAT,
        id: id.uuid(),
    })
}

/// Whether record `id` of `T` exists in the tenant (no access check: for references).
pub(crate) async fn exists<T: Model>(ttx: &TenantTx<'_>, id: T::Id) -> Result<bool> {
    Ok(ttx
        .get(&record_key::<T>(ttx, id.uuid()), false)
        .await?
        .is_some())
}

async fn check_references<M: Model>(ttx: &TenantTx<'_>, record: &M) -> Result<()> {
    for reference in record.references() {
        not_nil(reference.field, reference.id)?;
        let key = keys::record_key(ttx.prefix(), reference.collection, reference.id);
        if ttx.get(&key, false).await?.is_none() {
            return Err(Error::InvalidReference {
                model: M::WHAT,
                field: reference.field,
                target: reference.target,
                id: reference.id,
            });
        }
    }
    Ok(())
}

async fn ensure_unique<M: Model>(
    ttx: &TenantTx<'_>,
    index: &IndexDef<M>,
    values: &[KeyPart],
    id: Uuid,
) -> Result<()> {
    let prefix = keys::index_prefix(ttx.prefix(), index.name, values);
    let end = keys::prefix_range_end(&prefix)?;
    let page = ttx.get_range(&prefix, &end, RangeOptions::limit(2)).await?;
    for kv in &page.kvs {
        if keys::id_of_index_key(&kv.key)? != id {
            return Err(Error::AlreadyExists {
                model: M::WHAT,
                field: index.field,
            });
        }
    }
    Ok(())
}

/// One index entry a record is to have: its index, values and key.
struct IndexEntry<M: 'static> {
    index: &'static IndexDef<M>,
    values: Vec<KeyPart>,
    key: Vec<u8>,
}

/// The index entries of `record`, each key checked against the key limit: an index value
/// too large for a key is [`Error::TooLarge`] naming the index's field.
fn index_entries<M: Model>(ttx: &TenantTx<'_>, record: &M) -> Result<Vec<IndexEntry<M>>> {
    let id = record.id().uuid();
    let mut entries = Vec::with_capacity(M::INDEXES.len());
    for index in M::INDEXES {
        if let Some(values) = (index.values)(record) {
            let key = keys::index_key(ttx.prefix(), index.name, &values, id);
            if key.len() > MAX_KEY_SIZE {
                return Err(Error::TooLarge {
                    model: M::WHAT,
                    field: index.field,
                    size: key.len(),
                    limit: MAX_KEY_SIZE,
                });
            }
            entries.push(IndexEntry { index, values, key });
        }
    }
    Ok(entries)
}

/// The stored bytes of `record`, or [`Error::TooLarge`] when they pass the store's value
/// limit, naming the record's largest field (by its encoded size): whatever each model's
/// own caps allow, no record reaches the store's generic [`KvError::ValueTooLarge`](crate::KvError::ValueTooLarge).
fn encode_checked<M: Model>(record: &M) -> Result<Vec<u8>> {
    let bytes = value::encode(record)?;
    if bytes.len() > MAX_VALUE_SIZE {
        let field = value::field_sizes(record)
            .into_iter()
            .max_by_key(|&(_, size)| size)
            .map_or("record", |(field, _)| field);
        return Err(Error::TooLarge {
            model: M::WHAT,
            field,
            size: bytes.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    Ok(bytes)
}

/// The keys of the reversed references of `record` (one per distinct target and field).
fn reference_keys<M: Model>(ttx: &TenantTx<'_>, record: &M) -> BTreeSet<Vec<u8>> {
    let id = record.id().uuid();
    record
        .references()
        .iter()
        .map(|r| keys::reference_key(ttx.prefix(), r.collection, r.id, M::COLLECTION, r.field, id))
        .collect()
}

/// Fails with [`Error::StillReferenced`], naming the first few, when another record refers
/// to record `id` of `M`. One small range read, not a snapshot: a concurrent insert of a
/// referrer conflicts with the delete instead of slipping past it.
async fn check_unreferenced<M: Model>(ttx: &TenantTx<'_>, id: Uuid) -> Result<()> {
    let prefix = keys::referrers_prefix(ttx.prefix(), M::COLLECTION, id);
    let end = keys::prefix_range_end(&prefix)?;
    // One more than is named tells whether there are more; one more again for the record's
    // own reference to itself, which its delete removes (no model has one today).
    let page = ttx
        .get_range(&prefix, &end, RangeOptions::limit(MAX_REFERRERS + 2))
        .await?;
    let mut by = Vec::new();
    for kv in &page.kvs {
        let (collection, field, source) = keys::referrer_of_key(&kv.key)?;
        if collection == M::COLLECTION && source == id {
            continue;
        }
        by.push(Referrer {
            collection,
            field,
            id: source,
        });
    }
    if by.is_empty() {
        return Ok(());
    }
    let more = by.len() > MAX_REFERRERS || page.more;
    by.truncate(MAX_REFERRERS);
    Err(Error::StillReferenced {
        model: M::WHAT,
        id,
        by,
        more,
    })
}

/// Whether two records are equal but for their timestamps.
fn same_content<M: Model>(a: &M, b: &M) -> bool {
    let mut a = a.clone();
    *a.timestamps_mut() = b.timestamps();
    a == *b
}

fn check_collection<M: Model>() -> Result<()> {
    if keys::RESERVED.contains(&M::COLLECTION) {
        return Err(Error::InvalidInput {
            field: "collection",
            reason: format!("{} is reserved for the record layer", M::COLLECTION),
        });
    }
    Ok(())
}

/// Creates `record` (its timestamps set now), with every index entry and one audit event, in
/// the transaction. [`Error::AlreadyExists`] when its id or a unique index value is taken,
/// [`Error::InvalidReference`] when a reference does not exist in the tenant,
/// [`Error::TooLarge`] when it (or an index key made from it) cannot fit the store.
///
/// Every check that can fail runs before the first key is buffered, so a refused insert
/// leaves nothing in the transaction: the transaction can go on and commit without it.
pub async fn insert<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    record: M,
) -> Result<M> {
    let id = record.id().uuid();
    let operation = || format!("insert of {} {id}", M::WHAT);
    ttx.atomically(operation, insert_inner(ttx, by.into(), record))
        .await
}

async fn insert_inner<M: Model>(ttx: &TenantTx<'_>, by: Principal, mut record: M) -> Result<M> {
    let actor = by.actor();
    check_collection::<M>()?;
    audit::check_actor(ttx, actor).await?;
    record.normalize();
    record.validate()?;
    let id = record.id().uuid();
    let key = record_key::<M>(ttx, id);
    if let Some(stored) = ttx.get(&key, false).await? {
        if ttx.maybe_committed() {
            let stored: M = value::decode(&stored)?;
            if same_content(&record, &stored) {
                // An earlier attempt of this operation committed after all.
                return Ok(stored);
            }
        }
        return Err(Error::AlreadyExists {
            model: M::WHAT,
            field: "id",
        });
    }
    check_references(ttx, &record).await?;
    check_access(ttx, by, Action::Create, &record).await?;
    check_attribution(ttx, by, None, &record).await?;
    let now = now_ms();
    *record.timestamps_mut() = Timestamps {
        created_at_ms: now,
        updated_at_ms: now,
    };
    let bytes = encode_checked(&record)?;
    let entries = index_entries(ttx, &record)?;
    for entry in &entries {
        if entry.index.unique {
            ensure_unique(ttx, entry.index, &entry.values, id).await?;
        }
    }
    // The model's own rules come last: they may buffer keys of their own once they pass.
    record.before_write(ttx, None).await?;
    // Nothing below refuses the record: only writes follow.
    for entry in &entries {
        ttx.set(&entry.key, &[])?;
    }
    ttx.set(&key, &bytes)?;
    for reference in reference_keys(ttx, &record) {
        ttx.set_protected(&reference, &[])?;
    }
    for counter in record.counters() {
        ttx.atomic_add(&keys::counter_key(ttx.prefix(), counter), 1)?;
    }
    audit::write(
        ttx,
        actor,
        AuditAction::Create,
        M::WHAT,
        id,
        None,
        Some(&bytes),
    )?;
    Ok(record)
}

/// Replaces the stored record with `record` (same id; created time kept, updated time now),
/// moving the index entries whose values changed, with one audit event. The stored bytes are
/// rewritten in the current schema version. An update that changes nothing (timestamps aside)
/// of a record already in the current version writes nothing, audits nothing and returns the
/// stored record. [`Error::NotFound`] when it does not exist.
pub async fn update<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    record: M,
) -> Result<M> {
    update_inner(ttx, by.into(), record, true).await
}

/// [`update`] without the access check, audited as `by`: for a special operation that has
/// authorized the change itself (a password change activating an invited user).
pub(crate) async fn update_authorized<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    record: M,
) -> Result<M> {
    update_inner(ttx, by, record, false).await
}

async fn update_inner<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    record: M,
    checked: bool,
) -> Result<M> {
    let id = record.id().uuid();
    let operation = || format!("update of {} {id}", M::WHAT);
    ttx.atomically(operation, update_unguarded(ttx, by, record, checked))
        .await
}

async fn update_unguarded<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    mut record: M,
    checked: bool,
) -> Result<M> {
    let actor = by.actor();
    check_collection::<M>()?;
    audit::check_actor(ttx, actor).await?;
    record.normalize();
    record.validate()?;
    let id = record.id().uuid();
    let key = record_key::<M>(ttx, id);
    let before_bytes = ttx
        .get(&key, false)
        .await?
        .ok_or(Error::NotFound { model: M::WHAT, id })?;
    let before: M = value::decode(&before_bytes)?;
    check_references(ttx, &record).await?;
    if checked {
        check_update_access(ttx, by, &before, &record).await?;
    }
    if same_content(&record, &before) && before_bytes.first() == Some(&M::SCHEMA_VERSION) {
        // Nothing would change (and the stored bytes are already today's version): nothing
        // is written or audited. This is also what makes a retry after CommitUnknownResult
        // exactly-once: whether the earlier attempt committed (the stored record is already
        // this one) or not (then the update was a no-op), the outcome is the same.
        return Ok(before);
    }
    let created = before.timestamps().created_at_ms;
    *record.timestamps_mut() = Timestamps {
        created_at_ms: created,
        updated_at_ms: now_ms().max(created),
    };
    let bytes = encode_checked(&record)?;
    let moves = plan_index_moves(ttx, &before, &record, id).await?;
    // The model's own rules come last: they may buffer keys of their own once they pass.
    record.before_write(ttx, Some(&before)).await?;
    // Nothing below refuses the update: only writes follow.
    move_index_entries(ttx, moves, id)?;
    move_reverse_references(ttx, &before, &record)?;
    move_counters(ttx, &before, &record)?;
    ttx.set(&key, &bytes)?;
    audit::write(
        ttx,
        actor,
        AuditAction::Update,
        M::WHAT,
        id,
        Some(&before_bytes),
        Some(&bytes),
    )?;
    Ok(record)
}

/// An index entry an update moves: its index, the values the stored record has in it
/// (`None`: not in it) and the key of the updated record's entry (`None`: it leaves it).
type IndexMove<M> = (&'static IndexDef<M>, Option<Vec<KeyPart>>, Option<Vec<u8>>);

/// The index entries an update of `before` into `record` moves, each index whose values
/// change checked (key size, uniqueness) before any entry moves: an update refused for one
/// index must not have moved another's entry.
async fn plan_index_moves<M: Model>(
    ttx: &TenantTx<'_>,
    before: &M,
    record: &M,
    id: Uuid,
) -> Result<Vec<IndexMove<M>>> {
    let mut moves = Vec::new();
    for entry in index_entries(ttx, record)? {
        let old = (entry.index.values)(before);
        if old.as_ref() == Some(&entry.values) {
            continue;
        }
        if entry.index.unique {
            ensure_unique(ttx, entry.index, &entry.values, id).await?;
        }
        moves.push((entry.index, old, Some(entry.key)));
    }
    for index in M::INDEXES {
        if (index.values)(record).is_none() {
            if let Some(old) = (index.values)(before) {
                moves.push((index, Some(old), None));
            }
        }
    }
    Ok(moves)
}

/// Writes the index moves [`plan_index_moves`] planned for record `id`: each old entry
/// cleared, each new one set, index by index.
fn move_index_entries<M: Model>(
    ttx: &TenantTx<'_>,
    moves: Vec<IndexMove<M>>,
    id: Uuid,
) -> Result<()> {
    for (index, old, new) in moves {
        if let Some(old) = old {
            ttx.clear(&keys::index_key(ttx.prefix(), index.name, &old, id))?;
        }
        if let Some(new) = new {
            ttx.set(&new, &[])?;
        }
    }
    Ok(())
}

/// Clears the reverse-reference entries of references `before` had and `record` drops, and
/// writes every one `record` has.
fn move_reverse_references<M: Model>(ttx: &TenantTx<'_>, before: &M, record: &M) -> Result<()> {
    let (old_refs, new_refs) = (reference_keys(ttx, before), reference_keys(ttx, record));
    for gone in old_refs.difference(&new_refs) {
        ttx.clear_protected(gone)?;
    }
    // Every reference is written, not only the new ones: a record stored before references
    // were indexed gets its entries on its next update (a set of an existing key is a no-op).
    for reference in &new_refs {
        ttx.set_protected(reference, &[])?;
    }
    Ok(())
}

/// Takes one off each counter `before` added to and `record` does not, and adds one to each
/// counter `record` adds to and `before` did not.
fn move_counters<M: Model>(ttx: &TenantTx<'_>, before: &M, record: &M) -> Result<()> {
    let (old_counters, new_counters) = (before.counters(), record.counters());
    for counter in old_counters.iter().filter(|c| !new_counters.contains(c)) {
        ttx.atomic_add(&keys::counter_key(ttx.prefix(), counter), -1)?;
    }
    for counter in new_counters.iter().filter(|c| !old_counters.contains(c)) {
        ttx.atomic_add(&keys::counter_key(ttx.prefix(), counter), 1)?;
    }
    Ok(())
}

/// Checks that `by` may update `before` into `record`: at the record's place, and where it
/// moves to, and for its new owner.
pub(crate) async fn check_update_access<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    before: &M,
    record: &M,
) -> Result<()> {
    let mut access = Access::load(ttx, by).await?;
    if !access.is_unrestricted() {
        let old = Resource::of(ttx, before).await?;
        access.require(ttx, Action::Update, &old).await?;
        // Moving a record (a task to another project, an entity under another parent) needs
        // the right where it lands too, and handing content to another member needs the
        // right to act for others. A scope follows from the references alone (the contract
        // of `Model::scope`), so unchanged references mean an unchanged scope.
        let owner = record.owner();
        let scope = if record.references() != before.references() {
            record.scope(ttx).await?
        } else {
            old.scope
        };
        if scope != old.scope || owner != old.owner {
            let moved = Resource {
                scope,
                owner,
                ..old
            };
            access.require(ttx, Action::Update, &moved).await?;
        }
        check_attribution(ttx, by, Some(before), record).await?;
    }
    Ok(())
}

/// Fails with [`Error::Forbidden`] when `record` is filed in another member's name than the
/// acting member's ([`Model::attributed_to`]), newly or changed from `before`, and the actor
/// lacks [`Action::ManageOthers`] where the record is. The system and the operator (who
/// writes nothing) are not members: this rule is about members acting for one another.
async fn check_attribution<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    before: Option<&M>,
    record: &M,
) -> Result<()> {
    let (Some(to), Principal::Member { member, .. }) = (record.attributed_to(), by) else {
        return Ok(());
    };
    if to == member || before.and_then(Model::attributed_to) == Some(to) {
        return Ok(());
    }
    let resource = Resource::of(ttx, record).await?;
    rbac::authorize(ttx, by, Action::ManageOthers, &resource).await
}

/// Deletes record `id`, its index entries and the entries of its own references, with one
/// audit event; returns what was stored. [`Error::NotFound`] when it does not exist,
/// [`Error::StillReferenced`] (and nothing written) while another record refers to it. Retried by `run_in_tenant` after
/// `CommitUnknownResult`, a delete whose earlier attempt committed returns what that attempt
/// deleted (the attempts of one operation share what they remember) instead of `NotFound`.
pub async fn delete<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    id: M::Id,
) -> Result<M> {
    let operation = || format!("delete of {} {}", M::WHAT, id.uuid());
    ttx.atomically(operation, delete_inner::<M>(ttx, by.into(), id))
        .await
}

async fn delete_inner<M: Model>(ttx: &TenantTx<'_>, by: Principal, id: M::Id) -> Result<M> {
    let actor = by.actor();
    check_collection::<M>()?;
    audit::check_actor(ttx, actor).await?;
    let id = id.uuid();
    let key = record_key::<M>(ttx, id);
    let Some(before_bytes) = ttx.get(&key, false).await? else {
        if let Some(deleted) = ttx.recall(&key).filter(|_| ttx.maybe_committed()) {
            // An earlier attempt of this operation deleted it and committed after all: what
            // it returned is what it remembered.
            return value::decode(&deleted);
        }
        return Err(Error::NotFound { model: M::WHAT, id });
    };
    let before: M = value::decode(&before_bytes)?;
    check_access(ttx, by, Action::Delete, &before).await?;
    check_unreferenced::<M>(ttx, id).await?;
    // The model's own rules come last: they may buffer keys of their own once they pass.
    before.before_delete(ttx).await?;
    // Nothing below refuses the delete: only writes follow.
    for index in M::INDEXES {
        if let Some(values) = (index.values)(&before) {
            ttx.clear(&keys::index_key(ttx.prefix(), index.name, &values, id))?;
        }
    }
    for reference in reference_keys(ttx, &before) {
        ttx.clear_protected(&reference)?;
    }
    ttx.clear(&key)?;
    // For a retry after CommitUnknownResult: the record this attempt removes.
    ttx.remember(&key, &before_bytes);
    for counter in before.counters() {
        ttx.atomic_add(&keys::counter_key(ttx.prefix(), counter), -1)?;
    }
    audit::write(
        ttx,
        actor,
        AuditAction::Delete,
        M::WHAT,
        id,
        Some(&before_bytes),
        None,
    )?;
    Ok(before)
}

/// One page of every record of `M` that `by` may read, in id order (creation order for v7
/// ids). Records the reader may not read are left out, not refused (a page may hold fewer items than asked while its cursor goes on).
pub async fn list<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    request: &PageRequest,
) -> Result<Page<M>> {
    let prefix = keys::collection_prefix(ttx.prefix(), M::COLLECTION);
    visible_page(ttx, by.into(), &prefix, None, request).await
}

/// One page of the records whose `index` values start with `values` that `by` may read,
/// in index order (then id order), filtered as [`list`] is.
pub async fn list_by<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    index: &IndexDef<M>,
    values: &[KeyPart],
    request: &PageRequest,
) -> Result<Page<M>> {
    let prefix = keys::index_prefix(ttx.prefix(), index.name, values);
    visible_page(ttx, by.into(), &prefix, Some(index.name), request).await
}

/// [`list_by`] with no access check, for the crate's own operations.
pub(crate) async fn list_by_unchecked<M: Model>(
    ttx: &TenantTx<'_>,
    index: &IndexDef<M>,
    values: &[KeyPart],
    request: &PageRequest,
) -> Result<Page<M>> {
    list_by(ttx, Principal::system(), index, values, request).await
}

/// The one record whose unique `index` holds `values`, or `None`; read by `by` as [`get`]
/// reads ([`Error::Forbidden`] when it exists and they may not read it).
pub async fn find_unique<M: Model>(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    index: &IndexDef<M>,
    values: &[KeyPart],
) -> Result<Option<M>> {
    let found = find_unique_unchecked(ttx, index, values).await?;
    if let Some(record) = &found {
        check_access(ttx, by.into(), Action::Read, record).await?;
    }
    Ok(found)
}

/// [`find_unique`] with no access check, for the crate's own operations.
pub(crate) async fn find_unique_unchecked<M: Model>(
    ttx: &TenantTx<'_>,
    index: &IndexDef<M>,
    values: &[KeyPart],
) -> Result<Option<M>> {
    let page = list_by_unchecked(ttx, index, values, &PageRequest::first(1)).await?;
    Ok(page.items.into_iter().next())
}

/// Rows a filtered list reads per item it may return before it hands back a short page
/// with a cursor: a reader who may see few of many records pages on instead of one call
/// scanning the whole range.
const SCAN_ROWS_PER_ITEM: usize = 8;

/// One page of the records under `prefix` (record rows, or the entries of index `index`
/// naming records) that `by` may read, filtered in this transaction with one [`Access`].
///
/// The cursor points after the last row looked at, so paging goes on past hidden records.
/// A page may hold fewer than `limit` items while `next` is `Some` (when the reader may
/// see few of the rows): a list is complete when `next` is `None`, never earlier.
async fn visible_page<M: Model>(
    ttx: &TenantTx<'_>,
    by: Principal,
    prefix: &[u8],
    index: Option<&str>,
    request: &PageRequest,
) -> Result<Page<M>> {
    let limit = page_limit(request);
    let end = keys::prefix_range_end(prefix)?;
    let lo = page_start(prefix, request);
    let mut access = Access::load(ttx, by).await?;
    let filtered = !access.is_unrestricted();
    let cursor_of = |key: &[u8]| Cursor(key[prefix.len()..].to_vec());
    // Unfiltered, one row past the limit tells whether another page follows; filtered, the
    // walk reads pages of that size and gives up after a budget of rows (the cursor then
    // points past what it looked at, and the caller pages on).
    let rows = if filtered {
        limit.saturating_mul(SCAN_ROWS_PER_ITEM)
    } else {
        limit + 1
    };
    let mut walk = RangeWalk::new(&lo, &end, RangeOptions::limit(rows)).page_rows(limit + 1);
    let (mut items, mut last_item, mut last_seen) = (Vec::new(), None, None);
    while let Some(page) = walk.next_page(ttx).await? {
        for kv in &page {
            let record: M = match index {
                None => value::decode(&kv.value)?,
                Some(name) => indexed_record(ttx, name, &kv.key).await?,
            };
            if filtered {
                let resource = Resource::of(ttx, &record).await?;
                if !access.allows(ttx, Action::Read, &resource).await? {
                    continue;
                }
            }
            if items.len() == limit {
                return Ok(Page {
                    items,
                    next: last_item.as_deref().map(cursor_of),
                });
            }
            items.push(record);
            last_item = Some(kv.key.clone());
        }
        last_seen = page.last().map(|kv| kv.key.clone());
    }
    let next = match walk.is_done() {
        true => None,
        false => last_seen.as_deref().map(cursor_of),
    };
    Ok(Page { items, next })
}

fn page_limit(request: &PageRequest) -> usize {
    match request.limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

fn page_start(prefix: &[u8], request: &PageRequest) -> Vec<u8> {
    match &request.after {
        Some(cursor) => {
            let mut key = prefix.to_vec();
            key.extend_from_slice(&cursor.0);
            key_after(&key)
        }
        None => prefix.to_vec(),
    }
}

/// The record the entry `key` of index `index` names (a missing one is corruption).
async fn indexed_record<M: Model>(ttx: &TenantTx<'_>, index: &str, key: &[u8]) -> Result<M> {
    let id = keys::id_of_index_key(key)?;
    let bytes = ttx
        .get(&record_key::<M>(ttx, id), false)
        .await?
        .ok_or_else(|| Error::Decode {
            what: M::WHAT,
            reason: format!("index {index} points at missing record {id}"),
            source: None,
        })?;
    value::decode(&bytes)
}

/// Whether any record of `M` has `index` values starting with `values` (one key read, no
/// access check: for the crate's rules).
pub(crate) async fn any_by<M: Model>(
    ttx: &TenantTx<'_>,
    index: &IndexDef<M>,
    values: &[KeyPart],
) -> Result<bool> {
    let prefix = keys::index_prefix(ttx.prefix(), index.name, values);
    let end = keys::prefix_range_end(&prefix)?;
    let page = ttx.get_range(&prefix, &end, RangeOptions::limit(1)).await?;
    Ok(!page.kvs.is_empty())
}

/// The number of `M` records in the tenant, read by `by`, who must be allowed to read `M`
/// tenant-wide (a count says something about records the principal may not see).
pub async fn count_of<M: Model>(ttx: &TenantTx<'_>, by: impl Into<Principal>) -> Result<i64> {
    rbac::authorize_tenant_read(ttx, by, M::RESOURCE, M::WHAT).await?;
    count(ttx, M::COLLECTION).await
}

/// The value of a per-tenant counter (records of a collection, or a model's own counter),
/// unchecked: for quotas and model rules; callers outside the crate use [`count_of`].
pub(crate) async fn count(ttx: &TenantTx<'_>, counter: &str) -> Result<i64> {
    read_counter(ttx, &keys::counter_key(ttx.prefix(), counter)).await
}

/// The value of the counter (a little-endian `i64` kept by atomic adds) at `key`: 0 when
/// absent.
pub(crate) async fn read_counter(ttx: &TenantTx<'_>, key: &[u8]) -> Result<i64> {
    let bytes = ttx.get(key, false).await?;
    Ok(crate::kv::counter_value(bytes.as_deref()))
}

/// Fails with [`Error::QuotaExceeded`] when `counter` already holds `limit` records
/// (a negative limit is unlimited).
pub(crate) async fn check_quota(
    ttx: &TenantTx<'_>,
    resource: &'static str,
    counter: &str,
    limit: i64,
) -> Result<()> {
    if limit < 0 {
        return Ok(());
    }
    if count(ttx, counter).await? >= limit {
        return Err(Error::QuotaExceeded { resource, limit });
    }
    Ok(())
}

/// Checks a string field's length in bytes (UTF-8), as the store counts them: shorter than
/// `min` is [`Error::InvalidInput`], longer than `max` is [`Error::TooLarge`] naming `model`.
pub(crate) fn check_len(
    model: &'static str,
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<()> {
    let len = value.len();
    if len > max {
        return Err(Error::TooLarge {
            model,
            field,
            size: len,
            limit: max,
        });
    }
    if len < min {
        return Err(Error::InvalidInput {
            field,
            reason: format!("length {len} bytes is below the minimum of {min}"),
        });
    }
    Ok(())
}
