//! Tenant meters: the durable counters a tenant's committed transactions add to equal what
//! they did, operation by operation (reads, range reads and rows, writes and bytes, commits,
//! retries and conflicts, denials), and reading them is authorized like the usage totals.

use coditect_core::meter::{self, MeterTotals};

use super::*;

/// The meter totals of `tenant`, read in a transaction of its own (unmetered).
async fn totals(db: &dyn KvBackend, tenant: TenantId) -> MeterTotals {
    let tx = db.begin().await.expect("begin");
    meter::read_totals(tx.as_ref(), tenant)
        .await
        .expect("read totals")
}

/// The difference `after - before`, counter by counter.
fn delta(before: MeterTotals, after: MeterTotals) -> MeterTotals {
    MeterTotals {
        point_reads: after.point_reads - before.point_reads,
        range_reads: after.range_reads - before.range_reads,
        rows_read: after.rows_read - before.rows_read,
        writes: after.writes - before.writes,
        bytes_read: after.bytes_read - before.bytes_read,
        bytes_written: after.bytes_written - before.bytes_written,
        commits: after.commits - before.commits,
        retries: after.retries - before.retries,
        conflicts: after.conflicts - before.conflicts,
        denials: after.denials - before.denials,
    }
}

/// A key of the test's own under the tenant, in `group`.
fn test_key(tenant: TenantId, group: &str, name: &str) -> Vec<u8> {
    let mut key = tenant.prefix();
    key.extend(foundationdb_tuple::pack(&("meter_case", group, name)));
    key
}

/// A known sequence in one `run_in_tenant` (3 writes of known sizes, 4 point reads, 2 range
/// reads of the 3 rows, the first attempt forced into a conflict and retried), then a denied
/// read: the meters grow by exactly that, and only the attempt that committed is counted.
pub async fn meters_count_exactly_what_a_transaction_did(h: &dyn Harness) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let (db, p) = tenant_of(h, "meter.test", Plan::Professional).await;
    let tenant = tid(&p);
    let before = totals(db.as_ref(), tenant).await;
    let writes: Vec<(Vec<u8>, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                test_key(tenant, "w", &i.to_string()),
                vec![b'x'; 10 * (i + 1)],
            )
        })
        .collect();
    let contested = test_key(tenant, "c", "contested");
    let contested_len = contested.len();
    let (begin, end) = {
        let mut begin = tenant.prefix();
        begin.extend(foundationdb_tuple::pack(&("meter_case", "w")));
        let end = prefix_end(&begin).expect("end");
        (begin, end)
    };
    let attempts = Arc::new(AtomicU32::new(0));
    let competing = db.clone();
    let body_writes = writes.clone();
    coditect_core::run_in_tenant(
        db.as_ref(),
        &RetryOptions::default(),
        tenant,
        |ttx| async move {
            // Read (not snapshot) the key a competing writer changes on the first attempt.
            ttx.get(&contested, false).await?;
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                let tx = competing.begin().await.expect("begin");
                tx.set(&contested, b"theirs").expect("set");
                tx.commit().await.expect("competing commit");
            }
            for (key, value) in &body_writes {
                ttx.set(key, value)?;
            }
            for (key, _) in &body_writes {
                ttx.get(key, false).await?;
            }
            for _ in 0..2 {
                let page = ttx.get_range(&begin, &end, RangeOptions::default()).await?;
                assert_eq!(page.kvs.len(), 3);
            }
            Ok(())
        },
    )
    .await
    .expect("run_in_tenant");

    let pairs: u64 = writes.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    // The retried attempt read the contested key as the competitor left it.
    let contested_read = (contested_len + b"theirs".len()) as u64;
    let expected = MeterTotals {
        point_reads: 1 + 3,
        range_reads: 2,
        rows_read: 2 * 3,
        writes: 3,
        bytes_read: contested_read + pairs + 2 * pairs,
        bytes_written: pairs,
        commits: 1,
        retries: 1,
        conflicts: 1,
        denials: 0,
    };
    let after = totals(db.as_ref(), tenant).await;
    assert_eq!(delta(before, after), expected);

    // A member without roles may not read the meters: denied (and the denial counted),
    // and nothing else of the denied transaction is.
    let nobody = in_tenant!(db, tenant, |ttx| {
        let user = record::insert(
            &ttx,
            admin(&p),
            User::new("nobody@meter.test", "Nobody", UserRole::Guest),
        )
        .await?;
        record::insert(
            &ttx,
            admin(&p),
            Member::new(MemberKind::Human(user.id), "nobody"),
        )
        .await
    })
    .expect("member");
    let before = totals(db.as_ref(), tenant).await;
    let error = coditect_core::run_in_tenant(
        db.as_ref(),
        &RetryOptions::default(),
        tenant,
        |ttx| async move { meter::tenant_usage(&ttx, Actor::Member(nobody.id)).await },
    )
    .await
    .expect_err("denied");
    assert_matches!(error, Error::Forbidden { .. });
    let after = totals(db.as_ref(), tenant).await;
    assert_eq!(
        delta(before, after),
        MeterTotals {
            denials: 1,
            ..MeterTotals::default()
        }
    );

    // The admin may: the totals as stored before this transaction's own flush.
    let (seen, _) = coditect_core::run_in_tenant(
        db.as_ref(),
        &RetryOptions::default(),
        tenant,
        |ttx| async move { meter::tenant_usage(&ttx, admin(&p)).await },
    )
    .await
    .expect("admin reads the meters");
    assert_eq!(seen, after);
}
