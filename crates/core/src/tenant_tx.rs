//! [`TenantTx`]: the only way the record layer touches tenant data.
//!
//! It wraps a transaction and one tenant, checked to exist and be active when it is opened,
//! and refuses every key (and every range bound) outside that tenant's prefix with
//! [`Error::TenantViolation`] before anything reaches the store: a bug elsewhere becomes an
//! error, never a silent cross-tenant read or write. The guard is written once, here.

use std::future::Future;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::audit;
use crate::error::{Error, Result};
use crate::keys::{self, TenantId};
use crate::kv::limits::{
    conflict_range_size, key_conflict_size, mutation_size, MAX_KEY_SIZE, MAX_TRANSACTION_SIZE,
    MAX_VALUE_SIZE,
};
use crate::kv::{
    prefix_end, CommitInfo, KvBackend, KvError, RangeOptions, RangePage, RangeSource, RetryOptions,
    RetryTx, Transaction,
};
use crate::meter::{Counter, Meter, MeterTotals};
use crate::model::tenant::{Tenant, TenantStatus};
use crate::resource::{request_units, ResourceControl};

/// The [retry loop](crate::kv::run) with the model layer's [`Error`] as the body's error
/// type: what every caller above the contract uses. It runs `body` in a transaction of
/// `backend` and commits it, retrying on [retryable](Error::is_retryable) errors, up to
/// `options.max_attempts` ([`Error::RetryLimitReached`] carrying the last error).
///
/// ```
/// # async fn demo(db: &dyn coditect_core::KvBackend) -> coditect_core::Result<()> {
/// use coditect_core::{run, RetryOptions};
/// let (value, _commit) = run(db, &RetryOptions::default(), |tx| async move {
///     let old = tx.get(b"counter", false).await?;
///     tx.set(b"counter", b"1")?;
///     Ok(old)
/// })
/// .await?;
/// # let _ = value; Ok(()) }
/// ```
pub async fn run<T, F, Fut>(
    backend: &dyn KvBackend,
    options: &RetryOptions,
    body: F,
) -> Result<(T, CommitInfo)>
where
    F: FnMut(RetryTx) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    crate::kv::run(backend, options, body).await
}

#[async_trait::async_trait]
impl RangeSource for TenantTx<'_> {
    type Error = Error;

    async fn range_page(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        self.get_range(begin, end, options).await
    }
}

/// The transaction under a [`TenantTx`]: borrowed, or one attempt of the retry loop held by
/// value (so a `TenantTx<'static>` can be handed to a retry body).
enum Handle<'t> {
    Borrowed(&'t dyn Transaction),
    Retry(RetryTx),
}

/// A transaction scoped to one active tenant.
///
/// Every method that takes a key checks that it lies inside the tenant's prefix; ranges must
/// lie entirely inside it. Keys come from the typed builders of [`keys`](crate::keys); the
/// record layer ([`record`](crate::record), the models, [`audit`](crate::audit)) is built on
/// these methods. The tenant's audit trail is written only by the audit module and the
/// tenant operations: no ordinary write ([`set`](TenantTx::set), [`clear`](TenantTx::clear),
/// [`clear_range`](TenantTx::clear_range)) reaches its events, its two indexes, its seal
/// state or the lineage records of an import; [`set_protected`](TenantTx::set_protected) is
/// the operations' own door.
pub struct TenantTx<'t> {
    tx: Handle<'t>,
    tenant: Tenant,
    prefix: Vec<u8>,
    end: Vec<u8>,
    /// Orders the audit events of this transaction, which all share one commit versionstamp.
    audit_sequence: AtomicU16,
    /// Writes buffered through this so far: how an operation tells whether it buffered
    /// anything before it failed ([`atomically`](TenantTx::atomically)).
    writes: AtomicU64,
    /// The operation that poisoned the transaction, and its error.
    poisoned: Mutex<Option<(String, String)>>,
    /// What this transaction has read and written ([`meter`](crate::meter)); shared with
    /// [`run_in_tenant`], which adds it to the tenant's counters before the commit.
    meter: Arc<Meter>,
}

impl<'t> TenantTx<'t> {
    /// Scopes `tx` to `tenant`, which must be in the registry
    /// ([`Error::TenantNotFound`]) and active ([`Error::TenantInactive`], or
    /// [`Error::OperationPending`] naming the export, import, erase or migration that holds it
    /// suspended). The registry read
    /// is not a snapshot, so suspending a tenant conflicts with transactions still using it.
    pub async fn open(tx: &'t dyn Transaction, tenant: TenantId) -> Result<Self> {
        let record = Self::active_entry(tx, tenant).await?;
        Ok(Self::scoped(Handle::Borrowed(tx), record))
    }

    /// [`open`](TenantTx::open) holding one attempt of the retry loop by value; see
    /// [`run_in_tenant`].
    pub async fn open_retry(tx: RetryTx, tenant: TenantId) -> Result<TenantTx<'static>> {
        let record = Self::active_entry(&*tx, tenant).await?;
        Ok(TenantTx::scoped(Handle::Retry(tx), record))
    }

    async fn active_entry(tx: &dyn Transaction, tenant: TenantId) -> Result<Tenant> {
        let record = Self::registry_entry(tx, tenant).await?;
        if record.status != TenantStatus::Active {
            // Name the operation holding it, if one does: the caller is told how long it is
            // refused and what would end it. Read only on this (failing) path.
            if let Some(error) = crate::registry::pending_error(tx, tenant).await? {
                return Err(error);
            }
            return Err(Error::TenantInactive {
                tenant: tenant.uuid(),
            });
        }
        Ok(record)
    }

    /// Scopes `tx` to a tenant whatever its status, for the system operations that manage
    /// tenants (suspending one still audits into it).
    pub async fn open_any_status(tx: &'t dyn Transaction, tenant: TenantId) -> Result<Self> {
        let record = Self::registry_entry(tx, tenant).await?;
        Ok(Self::scoped(Handle::Borrowed(tx), record))
    }

    /// Scopes `tx` to the tenant whose registry entry `entry` the caller has just read (or
    /// written) in this same transaction, whatever its status: for the registry's own
    /// changes, so that a transaction reads the entry once, not once more to scope itself.
    pub fn with_entry(tx: &'t dyn Transaction, entry: Tenant) -> Self {
        Self::scoped(Handle::Borrowed(tx), entry)
    }

    /// Through the registry's one reader, [`registry::registry_entry`](crate::registry::registry_entry).
    async fn registry_entry(tx: &dyn Transaction, tenant: TenantId) -> Result<Tenant> {
        Ok(crate::registry::registry_entry(tx, tenant).await?.0)
    }

    fn scoped(tx: Handle<'t>, tenant: Tenant) -> Self {
        let (prefix, end) = tenant.id.range();
        TenantTx {
            tx,
            tenant,
            prefix,
            end,
            audit_sequence: AtomicU16::new(0),
            writes: AtomicU64::new(0),
            poisoned: Mutex::new(None),
            meter: Arc::default(),
        }
    }

    fn tx(&self) -> &dyn Transaction {
        match &self.tx {
            Handle::Borrowed(tx) => *tx,
            Handle::Retry(tx) => &**tx,
        }
    }

    /// The transaction itself, for what must not pass the tenant guard or the meter (the
    /// meter's own reads and writes).
    pub(crate) fn raw(&self) -> &dyn Transaction {
        self.tx()
    }

    /// What this transaction has read and written so far (not yet flushed).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Buffers this transaction's counts, and one commit, into the tenant's meter counters
    /// (one atomic add per non-zero count), and zeroes them: for the owner of a borrowed
    /// transaction, just before it commits. [`run_in_tenant`] does this itself.
    pub fn flush_meter(&self) -> Result<()> {
        self.meter.add(Counter::Commits, 1);
        self.meter.flush(self.tx(), self.tenant.id)
    }

    /// Whether this is a retry after an attempt that may have committed
    /// ([`RetryTx::maybe_committed`]); always false on a borrowed transaction. The record
    /// store then treats finding its own write already applied as success.
    pub fn maybe_committed(&self) -> bool {
        match &self.tx {
            Handle::Borrowed(_) => false,
            Handle::Retry(tx) => tx.maybe_committed(),
        }
    }

    /// Keeps `value` under `key` for a later attempt of this operation
    /// ([`RetryTx::remember`]); nothing on a borrowed transaction, which is never retried.
    pub(crate) fn remember(&self, key: &[u8], value: &[u8]) {
        if let Handle::Retry(tx) = &self.tx {
            tx.remember(key, value);
        }
    }

    /// What an earlier attempt of this operation remembered under `key`.
    pub(crate) fn recall(&self, key: &[u8]) -> Option<Vec<u8>> {
        match &self.tx {
            Handle::Borrowed(_) => None,
            Handle::Retry(tx) => tx.recall(key),
        }
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    /// The tenant's registry entry as read when this was opened (plan, quotas).
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The prefix every key of this tenant starts with.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Counts a write that the transaction buffered; refuses every write once poisoned
    /// (checked before the write by [`check_key`](Self::check_key)'s callers through
    /// [`check_writable`](Self::check_writable)).
    fn written(&self, result: Result<(), KvError>, bytes: usize) -> Result<()> {
        if result.is_ok() {
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.meter.write(bytes);
        }
        Ok(result?)
    }

    /// [`KvError::TransactionPoisoned`] once an operation has poisoned the transaction.
    fn check_writable(&self) -> Result<()> {
        let poisoned = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        match &*poisoned {
            Some((operation, cause)) => Err(KvError::TransactionPoisoned {
                operation: operation.clone(),
                cause: cause.clone(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Runs the model operation `body`, which must make every check before it buffers its
    /// first key. Should it fail all the same after buffering some (the transaction's size
    /// limit refusing a write part way, which no check before it can foresee: the
    /// transaction's size is not known here), the transaction is poisoned, naming
    /// `operation`: every later write through this `TenantTx` is refused, the retry loop of
    /// [`run_in_tenant`] refuses to commit it ([`KvError::TransactionPoisoned`]), and a
    /// transaction its owner commits is refused too, because poisoning adds read conflict
    /// ranges that take its counted size past [`MAX_TRANSACTION_SIZE`] (a commit the
    /// contract must refuse as [`KvError::TransactionTooLarge`]). An operation that fails
    /// before its first key leaves the transaction as it was: it may go on and commit.
    ///
    /// Two operations run concurrently on one `TenantTx` (joined futures) share the count of
    /// writes, so a failure of one while the other writes poisons too: never too little.
    pub(crate) async fn atomically<T>(
        &self,
        operation: impl FnOnce() -> String,
        body: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let before = self.writes.load(Ordering::Relaxed);
        let result = body.await;
        if let Err(error) = &result {
            if self.writes.load(Ordering::Relaxed) != before {
                self.poison(operation(), error);
            }
        }
        result
    }

    /// The operation that poisoned this transaction and its error, if one did.
    pub fn poisoned(&self) -> Option<(String, String)> {
        self.poisoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn poison(&self, operation: String, error: &Error) {
        let cause = error.to_string();
        {
            let mut poisoned = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
            if poisoned.is_some() {
                return;
            }
            *poisoned = Some((operation.clone(), cause.clone()));
        }
        if let Handle::Retry(tx) = &self.tx {
            tx.poison(&operation, &cause);
        }
        // Whoever commits: read conflict ranges count towards the size and are never refused
        // for it, so these take the transaction past the limit and its commit is refused.
        // After a write refused for size, the transaction was within one write of the
        // limit (a write counts at most a largest key and value and its conflict range);
        // otherwise it may have been empty, and the whole limit is added.
        let needed = match error {
            Error::Kv(KvError::TransactionTooLarge { .. }) => {
                mutation_size(MAX_KEY_SIZE, MAX_VALUE_SIZE) + key_conflict_size(MAX_KEY_SIZE)
            }
            _ => MAX_TRANSACTION_SIZE,
        } + 1;
        let mut begin = self.prefix.clone();
        begin.resize(MAX_KEY_SIZE, 0);
        let mut end = begin.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let each = conflict_range_size(begin.len(), end.len());
        for _ in 0..needed.div_ceil(each) {
            // A refusal here cannot make the commit succeed; the loop of run_in_tenant
            // refuses it by the poison mark anyway.
            let _ = self.tx().add_read_conflict_range(&begin, &end);
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.starts_with(&self.prefix) {
            Ok(())
        } else {
            Err(self.violation(key))
        }
    }

    /// A range is inside the tenant when its begin is and its end is at most the end of the
    /// tenant's range.
    fn check_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.check_key(begin)?;
        if end.starts_with(&self.prefix) || end == self.end.as_slice() {
            Ok(())
        } else {
            Err(self.violation(end))
        }
    }

    /// No public write may touch what only the crate writes (reverse references, the audit
    /// trail's events, indexes, seal state and lineage): a key inside one of those ranges, or
    /// a range overlapping one, is refused before anything is buffered. The ranges are
    /// relative to the tenant's prefix and built once per process, so a check allocates
    /// nothing. `begin` and `end` are inside the tenant (checked first); an `end` that is the
    /// end of the whole tenant's range is past every protected range.
    fn check_unprotected(&self, begin: &[u8], end: Option<&[u8]>) -> Result<()> {
        let begin = &begin[self.prefix.len()..];
        for range in protected() {
            let touches = match end {
                None => begin >= range.begin.as_slice() && begin < range.end.as_slice(),
                Some(end) if end == self.end.as_slice() => begin < range.end.as_slice(),
                Some(end) => {
                    let end = &end[self.prefix.len()..];
                    begin < range.end.as_slice() && range.begin.as_slice() < end
                }
            };
            if touches {
                return Err(Error::InvalidInput {
                    field: "key",
                    reason: range.reason.into(),
                });
            }
        }
        Ok(())
    }

    fn violation(&self, key: &[u8]) -> Error {
        Error::TenantViolation {
            tenant: self.tenant.id.uuid(),
            key: key.to_vec(),
        }
    }

    /// The value of `key`, which must be inside the tenant.
    pub async fn get(&self, key: &[u8], snapshot: bool) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let value = self.tx().get(key, snapshot).await?;
        self.meter.point_read(key, value.as_deref());
        Ok(value)
    }

    /// One page of `[begin, end)`, which must be inside the tenant.
    pub async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        options: RangeOptions,
    ) -> Result<RangePage> {
        self.check_range(begin, end)?;
        let page = self.tx().get_range(begin, end, options).await?;
        self.meter.range_read(&page);
        Ok(page)
    }

    /// Buffers `key = value`; `key` must be inside the tenant and outside its audit events.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.check_unprotected(key, None)?;
        self.written(self.tx().set(key, value), key.len() + value.len())
    }

    /// Buffers the removal of `key`, which must be inside the tenant and not an audit event.
    pub fn clear(&self, key: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.check_unprotected(key, None)?;
        self.written(self.tx().clear(key), key.len())
    }

    /// Buffers the removal of `[begin, end)`, which must be inside the tenant and not reach
    /// its audit events.
    pub fn clear_range(&self, begin: &[u8], end: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_range(begin, end)?;
        self.check_unprotected(begin, Some(end))?;
        self.written(self.tx().clear_range(begin, end), begin.len() + end.len())
    }

    /// Buffers `key = value` in a range the ordinary [`set`](TenantTx::set) refuses (reverse
    /// references, the audit trail's seal state, carried chain and lineage records): for the
    /// record layer, the audit module and the tenant operations of `coditect-ops` (import,
    /// `check`'s repair) only. Public because those operations live in their own crate; the
    /// record layer and the member-facing handles never expose it, and code that holds the
    /// store itself could write any key anyway. Not for service code.
    pub fn set_protected(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.written(self.tx().set(key, value), key.len() + value.len())
    }

    /// Buffers the removal of `key` in a range the public [`clear`](TenantTx::clear) refuses
    /// (reverse references): for the record layer only.
    pub(crate) fn clear_protected(&self, key: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.written(self.tx().clear(key), key.len())
    }

    /// Buffers an atomic add to a counter inside the tenant.
    pub(crate) fn atomic_add(&self, key: &[u8], delta: i64) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.written(self.tx().atomic_add(key, delta), key.len() + 8)
    }

    /// Buffers a versionstamped key inside the tenant.
    pub(crate) fn set_versionstamped_key(
        &self,
        key: &[u8],
        offset: u32,
        value: &[u8],
    ) -> Result<()> {
        self.check_writable()?;
        self.check_key(key)?;
        self.written(
            self.tx().set_versionstamped_key(key, offset, value),
            key.len() + value.len(),
        )
    }

    /// The next user version for an audit key of this transaction.
    pub(crate) fn next_audit_sequence(&self) -> Result<u16> {
        let n = self.audit_sequence.fetch_add(1, Ordering::Relaxed);
        if n == u16::MAX {
            return Err(Error::InvalidInput {
                field: "transaction",
                reason: "more than 65535 audited mutations in one transaction".into(),
            });
        }
        Ok(n)
    }
}

/// A range of the tenant that no public write may touch, and why.
/// A range only the crate writes, relative to a tenant's prefix.
struct Protected {
    begin: Vec<u8>,
    end: Vec<u8>,
    reason: &'static str,
}

/// The [protected ranges](keys::protected_prefixes), relative to a tenant's prefix (tuple
/// keys are the prefix followed by the rest, so building them with an empty prefix gives
/// the part after any tenant's).
fn protected() -> &'static [Protected] {
    static RANGES: std::sync::OnceLock<Vec<Protected>> = std::sync::OnceLock::new();
    RANGES.get_or_init(|| {
        keys::protected_prefixes(&[])
            .into_iter()
            .filter_map(|(begin, reason)| {
                // Each prefix ends in a string element's 0x00 terminator, so it has an end.
                let end = prefix_end(&begin)?;
                Some(Protected { begin, end, reason })
            })
            .collect()
    })
}

/// Runs `body` with a [`TenantTx`] of `tenant` in the retry loop ([`run`]) and commits,
/// retrying conflicts and the other retryable errors. The tenant is checked (exists, active) on
/// every attempt. `body` is cloned for each attempt, so what it captures must be `Clone`; the
/// `TenantTx` it gets must be dropped by the end of its future, as a [`RetryTx`] must.
///
/// As with [`run`], the body may run more than once, and after
/// [`KvError::CommitUnknownResult`](crate::KvError::CommitUnknownResult) an earlier attempt may have committed. The record store makes
/// its operations idempotent on such a retry ([`TenantTx::maybe_committed`]): an insert that
/// finds the very record it would write (same id, same content) returns it, and an update that
/// finds the record already as it would leave it returns it, without writing or auditing
/// twice. So choose ids (and build records) before the loop, as `Task::new` outside it.
///
/// When the body fails with [`Error::Forbidden`], nothing of the attempt commits, and the
/// denial is recorded as an audit event in a transaction of its own
/// ([`audit::record_denial`]) before the error is returned.
pub async fn run_in_tenant<T, F, Fut>(
    backend: &dyn KvBackend,
    options: &RetryOptions,
    tenant: TenantId,
    body: F,
) -> Result<(T, CommitInfo)>
where
    F: FnOnce(TenantTx<'static>) -> Fut + Clone,
    Fut: Future<Output = Result<T>>,
{
    run_in_tenant_with(backend, options, &TenantControls::default(), tenant, body).await
}

/// What [`run_in_tenant_with`] does besides running the body: the tenant's meters and the
/// process's resource control.
#[derive(Clone, Debug)]
pub struct TenantControls {
    /// Whether each commit adds the attempt's counts to the tenant's durable meters (one
    /// atomic add per counter). On by default; off is for measuring what the meters cost.
    /// The counts are taken either way (the resource control charges from them).
    pub meters: bool,
    /// The buckets to admit each attempt by and charge it to; `None` admits everything.
    pub resource_control: Option<Arc<ResourceControl>>,
}

impl Default for TenantControls {
    /// Meters on, no resource control.
    fn default() -> Self {
        TenantControls {
            meters: true,
            resource_control: None,
        }
    }
}

/// [`run_in_tenant`] under `controls`: with a resource control, each attempt is first
/// admitted by the tenant's bucket (else it fails with the retryable
/// [`KvError::Throttled`](crate::KvError::Throttled), and the loop waits its `retry_after`)
/// and afterwards charged the request units its meter counted, whether it committed or not.
pub async fn run_in_tenant_with<T, F, Fut>(
    backend: &dyn KvBackend,
    options: &RetryOptions,
    controls: &TenantControls,
    tenant: TenantId,
    body: F,
) -> Result<(T, CommitInfo)>
where
    F: FnOnce(TenantTx<'static>) -> Fut + Clone,
    Fut: Future<Output = Result<T>>,
{
    let result = run(backend, options, |tx| {
        let body = body.clone();
        let resources = controls.resource_control.clone();
        let meters = controls.meters;
        async move {
            if let Some(resources) = &resources {
                // Before the attempt's first read: on FoundationDB, before its read version.
                resources.admit(tenant)?;
            }
            // A clone of the attempt's handle, dropped before the future ends (as the loop
            // requires), through which the meter is flushed after the body.
            let raw = tx.clone();
            let ttx = TenantTx::open_retry(tx, tenant).await?;
            let meter = Arc::clone(&ttx.meter);
            let plan = ttx.tenant().plan;
            let value = body(ttx).await;
            if let Some(resources) = &resources {
                let commit = MeterTotals {
                    commits: u64::from(value.is_ok()),
                    ..MeterTotals::default()
                };
                let units = request_units(&meter.totals()) + request_units(&commit);
                resources.charge(tenant, plan, units);
            }
            let value = value?;
            meter.add(Counter::Commits, 1);
            meter.add(Counter::Retries, u64::from(raw.attempt().saturating_sub(1)));
            meter.add(Counter::Conflicts, u64::from(raw.conflicts()));
            if meters {
                meter.flush(&*raw, tenant)?;
            }
            Ok(value)
        }
    })
    .await;
    audit::audit_denial(backend, options, tenant, result).await
}
