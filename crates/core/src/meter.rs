//! Per-tenant meters: what each tenant's transactions do, counted inside [`TenantTx`] (which
//! every model read and write passes through) and kept durably in the tenant's own range.
//!
//! A [`Meter`] is a set of plain integer counters in each `TenantTx`, added to as operations
//! happen (a relaxed atomic add, no allocation). When [`run_in_tenant`](crate::run_in_tenant)
//! is about to commit an attempt, the attempt's counts go into the tenant's meter counters
//! `(t, "meta", "meter", name)` with one atomic add per non-zero counter: atomic adds never
//! conflict, and the meter writes are not themselves metered. The counters lie in the
//! tenant's range, so they are exported, imported and erased with it; they are apart from the
//! model's counters `(t, "meta", "count", ..)`, which `tenant check` compares with the records.
//!
//! What is counted: an attempt that does not commit (a conflict, a denial, an error) leaves
//! nothing, since its writes are dropped; the attempt that commits records the retries before
//! it and how many of them were conflicts. A denial is counted in the transaction that audits
//! it ([`audit::record_denial`](crate::audit::record_denial)). A `TenantTx` opened on a
//! borrowed transaction is committed by its owner, who calls [`TenantTx::flush_meter`] first
//! to keep its counts.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::Result;
use crate::keys::{self, TenantId};
use crate::kv::{counter_value, KeyValue, KvError, RangePage, Transaction};
use crate::model::usage::Usage;
use crate::principal::Principal;
use crate::rbac;
use crate::record::Model;
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// One kind of count a [`Meter`] keeps; its index in the meter and its counter's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Point reads (`get`).
    PointReads,
    /// Range reads (one per page of `get_range`).
    RangeReads,
    /// Rows the range reads returned.
    RowsRead,
    /// Writes buffered: sets, clears, range clears and atomic ops.
    Writes,
    /// Bytes read: keys and values returned.
    BytesRead,
    /// Bytes written: keys and values buffered (a range clear counts both bounds).
    BytesWritten,
    /// Transactions committed.
    Commits,
    /// Attempts retried before a commit.
    Retries,
    /// Of the retried attempts, those that failed with a conflict.
    Conflicts,
    /// Authorization denials.
    Denials,
}

/// Every counter, in index order.
pub const COUNTERS: [Counter; 10] = [
    Counter::PointReads,
    Counter::RangeReads,
    Counter::RowsRead,
    Counter::Writes,
    Counter::BytesRead,
    Counter::BytesWritten,
    Counter::Commits,
    Counter::Retries,
    Counter::Conflicts,
    Counter::Denials,
];

impl Counter {
    /// The name of its durable counter (and its field in [`MeterTotals`]).
    pub fn name(self) -> &'static str {
        match self {
            Counter::PointReads => "point_reads",
            Counter::RangeReads => "range_reads",
            Counter::RowsRead => "rows_read",
            Counter::Writes => "writes",
            Counter::BytesRead => "bytes_read",
            Counter::BytesWritten => "bytes_written",
            Counter::Commits => "commits",
            Counter::Retries => "retries",
            Counter::Conflicts => "conflicts",
            Counter::Denials => "denials",
        }
    }
}

/// The counts of one transaction, added to as its operations happen: relaxed atomic adds
/// (a `TenantTx` is shared by joined futures), no allocation.
#[derive(Debug, Default)]
pub struct Meter {
    counts: [AtomicU64; COUNTERS.len()],
}

impl Meter {
    /// Adds `n` to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        self.counts[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a point read that returned `key`'s `value` (if any).
    pub(crate) fn point_read(&self, key: &[u8], value: Option<&[u8]>) {
        self.add(Counter::PointReads, 1);
        self.add(
            Counter::BytesRead,
            (key.len() + value.map_or(0, <[u8]>::len)) as u64,
        );
    }

    /// Counts a range read and the rows of its page.
    pub(crate) fn range_read(&self, page: &RangePage) {
        self.add(Counter::RangeReads, 1);
        self.add(Counter::RowsRead, page.kvs.len() as u64);
        let bytes: usize = page
            .kvs
            .iter()
            .map(|KeyValue { key, value }| key.len() + value.len())
            .sum();
        self.add(Counter::BytesRead, bytes as u64);
    }

    /// Counts a write of `bytes` bytes.
    pub(crate) fn write(&self, bytes: usize) {
        self.add(Counter::Writes, 1);
        self.add(Counter::BytesWritten, bytes as u64);
    }

    /// The counts so far.
    pub fn totals(&self) -> MeterTotals {
        let mut values = [0u64; COUNTERS.len()];
        for (value, count) in values.iter_mut().zip(&self.counts) {
            *value = count.load(Ordering::Relaxed);
        }
        MeterTotals::from_values(values)
    }

    /// Buffers one atomic add per non-zero count into the tenant's meter counters in `tx`,
    /// straight to the transaction (not through the `TenantTx`, so not metered itself), and
    /// zeroes the counts so that flushing twice adds nothing twice.
    ///
    /// The meters never make a transaction fail that would have committed without them: an
    /// add the size limit refuses ([`KvError::TransactionTooLarge`], which changes nothing)
    /// ends the flush, and the transaction commits without the rest of its counts (one
    /// within a few hundred bytes of the limit, or a poisoned one, which is refused anyway).
    pub(crate) fn flush(&self, tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
        let prefix = tenant.prefix();
        for (counter, count) in COUNTERS.iter().zip(&self.counts) {
            let n = count.swap(0, Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let delta = i64::try_from(n).unwrap_or(i64::MAX);
            match tx.atomic_add(&keys::meter_key(&prefix, counter.name()), delta) {
                Ok(()) => {}
                Err(KvError::TransactionTooLarge { .. }) => break,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

/// The totals of a tenant's meters (or one transaction's counts), one field per [`Counter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MeterTotals {
    /// Point reads (`get`).
    pub point_reads: u64,
    /// Range reads (one per page).
    pub range_reads: u64,
    /// Rows the range reads returned.
    pub rows_read: u64,
    /// Writes buffered: sets, clears, range clears and atomic ops.
    pub writes: u64,
    /// Bytes read: keys and values returned.
    pub bytes_read: u64,
    /// Bytes written: keys and values buffered.
    pub bytes_written: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Attempts retried before a commit.
    pub retries: u64,
    /// Of those, the attempts that failed with a conflict.
    pub conflicts: u64,
    /// Authorization denials.
    pub denials: u64,
}

impl MeterTotals {
    fn from_values(v: [u64; COUNTERS.len()]) -> Self {
        MeterTotals {
            point_reads: v[0],
            range_reads: v[1],
            rows_read: v[2],
            writes: v[3],
            bytes_read: v[4],
            bytes_written: v[5],
            commits: v[6],
            retries: v[7],
            conflicts: v[8],
            denials: v[9],
        }
    }

    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        match counter {
            Counter::PointReads => self.point_reads,
            Counter::RangeReads => self.range_reads,
            Counter::RowsRead => self.rows_read,
            Counter::Writes => self.writes,
            Counter::BytesRead => self.bytes_read,
            Counter::BytesWritten => self.bytes_written,
            Counter::Commits => self.commits,
            Counter::Retries => self.retries,
            Counter::Conflicts => self.conflicts,
            Counter::Denials => self.denials,
        }
    }

    /// Operations of every kind: reads, range reads and writes.
    pub fn operations(&self) -> u64 {
        self.point_reads + self.range_reads + self.writes
    }
}

/// The durable meter totals of the tenant of `ttx`, for `by`, who must be allowed to read
/// usage tenant-wide ([`Error::Forbidden`](crate::Error::Forbidden) otherwise): the same
/// check as the usage totals, since both say what the whole tenant did. Reads only the
/// meter counters (a few keys); the read is not metered.
pub async fn tenant_usage(ttx: &TenantTx<'_>, by: impl Into<Principal>) -> Result<MeterTotals> {
    rbac::authorize_tenant_read(ttx, by, Usage::RESOURCE, Usage::WHAT).await?;
    read_totals(ttx.raw(), ttx.tenant_id()).await
}

/// The durable meter totals of `tenant`, read in `tx` without authorization: for operators
/// (the CLI's `tenant stats` and `stats`), who hold the store itself. Snapshot reads, so a
/// reader never conflicts with the tenant's commits.
pub async fn read_totals(tx: &dyn Transaction, tenant: TenantId) -> Result<MeterTotals> {
    let prefix = tenant.prefix();
    let mut values = [0u64; COUNTERS.len()];
    for (value, counter) in values.iter_mut().zip(COUNTERS) {
        let bytes = tx
            .get(&keys::meter_key(&prefix, counter.name()), true)
            .await?;
        *value = u64::try_from(counter_value(bytes.as_deref())).unwrap_or(0);
    }
    Ok(MeterTotals::from_values(values))
}

/// Buffers one denial into the meter counters of `tenant` in `tx`: for the transaction that
/// audits the denial, since the denied one is dropped.
pub(crate) fn count_denial(tx: &dyn Transaction, tenant: TenantId) -> Result<()> {
    let key = keys::meter_key(&tenant.prefix(), Counter::Denials.name());
    Ok(tx.atomic_add(&key, 1)?)
}
