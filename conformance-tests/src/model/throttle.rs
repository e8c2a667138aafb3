//! Resource control: a tenant over its request-unit budget is refused with `Throttled`
//! before its transaction does anything, is admitted again once `retry_after` has passed,
//! and the retry loop waits at least that long; other tenants are not held up.

use std::sync::Arc;
use std::time::Duration;

use coditect_core::resource::{Budget, ResourceControl};
use coditect_core::{run_in_tenant_with, KvError, TenantControls};

use super::*;

/// Writes one test key of `tenant` through `controls`, making at most `attempts` attempts.
async fn write_one(
    db: &dyn KvBackend,
    controls: &TenantControls,
    tenant: TenantId,
    attempts: u32,
    name: &str,
) -> coditect_core::Result<()> {
    let options = RetryOptions {
        max_attempts: attempts,
        ..RetryOptions::default()
    };
    let mut key = tenant.prefix();
    key.extend(foundationdb_tuple::pack(&("throttle_case", name)));
    run_in_tenant_with(db, &options, controls, tenant, |ttx| async move {
        ttx.set(&key, &[0u8; 2048])?;
        Ok(())
    })
    .await
    .map(|_| ())
}

/// The `retry_after` of a `Throttled` error, or a panic naming what came instead.
fn retry_after(result: coditect_core::Result<()>) -> Duration {
    match result {
        Err(Error::Kv(KvError::Throttled { retry_after })) => retry_after,
        Err(Error::RetryLimitReached { last, .. }) => match *last {
            Error::Kv(KvError::Throttled { retry_after }) => retry_after,
            other => panic!("expected Throttled, got {other:?}"),
        },
        other => panic!("expected Throttled, got {other:?}"),
    }
}

/// A budget of 20 RU refilled at 400 RU/s: one 2 KiB write (about 6 RU) fits, a few put the
/// tenant in debt for some milliseconds.
pub async fn a_tenant_over_budget_is_throttled_and_admitted_after_retry_after(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "throttle.test", Plan::Starter).await;
    let (_, other) = tenant_of(h, "throttle-other.test", Plan::Starter).await;
    let tenant = tid(&p);
    let control = Arc::new(ResourceControl::new());
    control.set_budget(
        tenant,
        Budget {
            refill_per_sec: 400,
            burst: 20,
        },
    );
    let controls = TenantControls {
        resource_control: Some(Arc::clone(&control)),
        ..TenantControls::default()
    };
    // Spend the burst and more: admitted while not in debt, so some writes succeed first.
    let mut written = 0;
    let wait = loop {
        match write_one(db.as_ref(), &controls, tenant, 1, &format!("w{written}")).await {
            Ok(()) => written += 1,
            refused => break retry_after(refused),
        }
        assert!(written < 100, "a 20 RU budget never throttled");
    };
    assert!(written >= 1, "the first write is within the burst");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(200),
        "{wait:?}"
    );
    // The refused attempt wrote nothing.
    let refused_key = {
        let mut key = tenant.prefix();
        key.extend(foundationdb_tuple::pack(&(
            "throttle_case",
            format!("w{written}"),
        )));
        key
    };
    let tx = db.begin().await.expect("begin");
    assert_eq!(tx.get(&refused_key, false).await.expect("get"), None);
    drop(tx);
    // Another tenant under the same control is admitted meanwhile.
    write_one(db.as_ref(), &controls, tid(&other), 1, "other")
        .await
        .expect("another tenant is not throttled by this one's debt");
    // After the wait it is admitted.
    tokio::time::sleep(wait).await;
    write_one(db.as_ref(), &controls, tenant, 1, "after-wait")
        .await
        .expect("admitted after retry_after");
    // In debt again, two attempts are enough only if the loop waits at least retry_after
    // after the first is refused: the second would be refused too if it waited less.
    while write_one(db.as_ref(), &controls, tenant, 1, "debt")
        .await
        .is_ok()
    {}
    let before = control.stats(tenant).throttled;
    write_one(db.as_ref(), &controls, tenant, 2, "looped")
        .await
        .expect("the loop waited out the refill and the second attempt was admitted");
    assert_eq!(
        control.stats(tenant).throttled,
        before + 1,
        "refused once, then admitted"
    );
}
