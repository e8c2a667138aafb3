//! The tenant registry, in one place: the registry entry `("sys", "tenant", uuid)` (read,
//! written, its status changed with the audit event that records it), the marker of an
//! operation that spans several transactions (`("sys", "tenant_op", uuid)`), and the erasure
//! record an erase leaves (`("sys", "erasure", uuid)`). Every other place (the tenant model,
//! [`TenantTx`](crate::TenantTx), the tenant operations of `coditect-ops`, the CLI) calls
//! these; none builds the keys itself.
//!
//! While it exists the tenant's registry status is `Suspended`, so [`TenantTx::open`]
//! refuses the tenant and no writer can commit into it; the marker remembers the status to
//! restore and how far the operation got. Nothing of the tenant's data is in it.
//!
//! The operation owns the tenant while its marker (or an unfinished erasure record) exists:
//! [`refuse_if_pending`] is the one check that status and settings changes
//! ([`tenant::set_status`](crate::model::tenant::set_status),
//! [`tenant::update`](crate::model::tenant::update)) and the other operations run first, and
//! [`TenantTx::open`] names the operation ([`Error::OperationPending`]) when it refuses a
//! tenant that one holds.
//!
//! [`TenantTx::open`]: crate::TenantTx::open

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::keys::{self, TenantId};
use crate::kv::{KvBackend, Transaction};
use crate::model::tenant::{Tenant, TenantStatus};
use crate::value::{self, Versioned};

/// What is under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// An export holds the tenant quiesced (writers refused) so the backup is one cut.
    Export,
    /// An import is staging the tenant from a backup of `source`; it is activated at the end.
    Import {
        /// The tenant the backup was taken of.
        source: Uuid,
    },
    /// A migration is re-keying this tenant as `to` (the marker is on the tenant it leaves;
    /// `to` carries an import marker of its own until it is activated).
    Migrate {
        /// The new id.
        to: Uuid,
    },
}

impl OpKind {
    /// The operation's name, as the `coditect tenant` subcommand that runs it: `export`,
    /// `import`, `migrate`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Export => "export",
            OpKind::Import { .. } => "import",
            OpKind::Migrate { .. } => "migrate",
        }
    }
}

/// An operation under way on a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantOp {
    /// What it is.
    pub kind: OpKind,
    /// The registry status to restore when it ends.
    pub previous: TenantStatus,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// Chunks committed so far (imports: makes a retried chunk a no-op).
    pub progress: u64,
}

impl Versioned for TenantOp {
    const WHAT: &'static str = "tenant operation";
    const SCHEMA_VERSION: u8 = 1;
}

/// The operation marker of `tenant`, if one is there (not a snapshot read).
pub async fn get_op(tx: &dyn Transaction, tenant: TenantId) -> Result<Option<TenantOp>> {
    read(tx, &keys::tenant_op_key(tenant)).await
}

/// The system record at `key`, decoded, or `None` (not a snapshot read): the one reader of
/// the registry's entries, markers and erasure records.
async fn read<T: Versioned>(tx: &dyn Transaction, key: &[u8]) -> Result<Option<T>> {
    match tx.get(key, false).await? {
        Some(bytes) => value::decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Writes the operation marker of `tenant`: from now on the operation holds it.
pub fn put_op(tx: &dyn Transaction, tenant: TenantId, op: &TenantOp) -> Result<()> {
    Ok(tx.set(&keys::tenant_op_key(tenant), &value::encode(op)?)?)
}

/// Removes the operation marker of `tenant`: the operation is over.
pub fn clear_op(tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
    Ok(tx.clear(&keys::tenant_op_key(tenant))?)
}

/// The operation under way on `tenant`, if any (an export, import or migration that has not
/// finished: run it again to resume it, or erase the tenant to drop a staged import). An
/// unfinished erase is not a marker: see [`erasure_record`].
pub async fn pending_operation(db: &dyn KvBackend, tenant: TenantId) -> Result<Option<TenantOp>> {
    let tx = db.begin().await?;
    get_op(tx.as_ref(), tenant).await
}

/// The registry entry of `tenant`, or `None` (not a snapshot read).
pub async fn get_entry(tx: &dyn Transaction, tenant: TenantId) -> Result<Option<Tenant>> {
    read(tx, &keys::tenant_registry_key(tenant)).await
}

/// The registry entry and its stored bytes, or [`Error::TenantNotFound`].
pub async fn registry_entry(tx: &dyn Transaction, tenant: TenantId) -> Result<(Tenant, Vec<u8>)> {
    let bytes = tx
        .get(&keys::tenant_registry_key(tenant), false)
        .await?
        .ok_or(Error::TenantNotFound {
            tenant: tenant.uuid(),
        })?;
    Ok((value::decode(&bytes)?, bytes))
}

/// Writes a registry entry as is (the operations own the status while their marker exists).
pub fn put_registry_entry(tx: &dyn Transaction, tenant: &Tenant) -> Result<Vec<u8>> {
    let bytes = value::encode(tenant)?;
    tx.set(&keys::tenant_registry_key(tenant.id), &bytes)?;
    Ok(bytes)
}

/// Moves the registry entry `entry` (stored as `before`) to `status`, audited as the system
/// (an operation changes the status it owns while its marker exists); nothing when it is
/// there already.
pub async fn change_status_audited(
    tx: &dyn Transaction,
    entry: Tenant,
    before: &[u8],
    status: TenantStatus,
) -> Result<()> {
    if entry.status == status {
        return Ok(());
    }
    let id = entry.id;
    let changed = Tenant { status, ..entry };
    let after = put_registry_entry(tx, &changed)?;
    let ttx = crate::tenant_tx::TenantTx::with_entry(tx, changed);
    crate::audit::write(
        &ttx,
        crate::audit::Actor::System,
        crate::audit::AuditAction::Update,
        <Tenant as crate::value::Versioned>::WHAT,
        id.uuid(),
        Some(before),
        Some(&after),
    )
}

/// The error for a tenant another operation holds: which one, and how to finish it.
pub fn busy(tenant: TenantId, op: &TenantOp) -> Error {
    let (operation, hint) = match op.kind {
        OpKind::Export => (
            "export",
            "run the export again (`coditect tenant export ID --out FILE`) to finish it (that \
             restores the status the tenant had before it), or `coditect tenant abort ID` to \
             drop it",
        ),
        OpKind::Import { .. } => (
            "import",
            "import the same backup again (`coditect tenant import FILE` with the same --as and \
             --domain) to finish it, or `coditect tenant abort ID` to drop what was staged",
        ),
        OpKind::Migrate { .. } => (
            "migrate",
            "run the same migration again (`coditect tenant migrate ID --to NEW_ID`) to finish \
             it, or `coditect tenant abort ID` to cancel it",
        ),
    };
    Error::OperationPending {
        tenant: tenant.uuid(),
        operation,
        hint,
    }
}

/// The error for a tenant whose erasure started and has not finished.
pub fn erasing(tenant: TenantId) -> Error {
    Error::OperationPending {
        tenant: tenant.uuid(),
        operation: "erase",
        hint: "run the erase again (`coditect tenant erase ID --yes`) to finish it",
    }
}

/// The [`Error::OperationPending`] for whatever holds `tenant` (its marker, or its unfinished
/// erasure), or `None` when nothing does. Not snapshot reads: a change checked against them
/// conflicts with an operation that starts meanwhile.
pub async fn pending_error(tx: &dyn Transaction, tenant: TenantId) -> Result<Option<Error>> {
    if let Some(op) = get_op(tx, tenant).await? {
        return Ok(Some(busy(tenant, &op)));
    }
    if is_erasing(tx, tenant).await? {
        return Ok(Some(erasing(tenant)));
    }
    Ok(None)
}

/// Refuses ([`Error::OperationPending`]) to change a tenant that an unfinished operation
/// holds: the one check every status and settings change runs.
pub async fn refuse_if_pending(tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
    match pending_error(tx, tenant).await? {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The record an erasure leaves behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The tenant erased.
    pub tenant: Uuid,
    /// Who asked for it (an operator or a request reference; never tenant data).
    pub actor: String,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When it finished, or `None` while it is under way (or was interrupted).
    pub finished_ms: Option<i64>,
    /// Keys removed.
    pub keys: u64,
    /// Bytes of keys and values removed.
    pub bytes: u64,
    /// Transactions that removed keys.
    pub chunks: u64,
}

impl Versioned for Erasure {
    const WHAT: &'static str = "erasure record";
    const SCHEMA_VERSION: u8 = 1;
}

/// The erasure record of `tenant` as `tx` reads it (not a snapshot).
pub async fn get_erasure(tx: &dyn Transaction, tenant: TenantId) -> Result<Option<Erasure>> {
    read(tx, &keys::erasure_key(tenant)).await
}

/// The erasure record of `tenant`, if it was (or is being) erased.
pub async fn erasure_record(db: &dyn KvBackend, tenant: TenantId) -> Result<Option<Erasure>> {
    let tx = db.begin().await?;
    get_erasure(tx.as_ref(), tenant).await
}

/// Whether `tenant`'s erasure has started and not finished.
pub async fn is_erasing(tx: &dyn Transaction, tenant: TenantId) -> Result<bool> {
    Ok(matches!(get_erasure(tx, tenant).await?, Some(record) if record.finished_ms.is_none()))
}

/// Refuses ([`Error::OperationPending`]) to work on a tenant whose erasure has started and
/// not finished.
pub async fn refuse_if_erasing(tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
    if is_erasing(tx, tenant).await? {
        return Err(erasing(tenant));
    }
    Ok(())
}
