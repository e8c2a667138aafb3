//! The KV contract's limit cases: sizes and ages at FoundationDB 7.3's boundaries, each stated
//! through the harness so it holds on a real cluster too.
//!
//! A harness that puts a prefix on every key (the FoundationDB harness's subspace) declares it
//! ([`Harness::key_prefix_len`]); each case shortens its keys by that much, so the key the
//! store sees is exactly at the boundary. The boundaries are FoundationDB's (see
//! `coditect_core::limits`): a transaction's size counts mutations *and* conflict ranges
//! (`Transaction::getSize`, `fdbclient/NativeAPI.actor.cpp`), a versionstamped key counts its
//! 4-byte offset suffix, reading where this transaction's own versionstamped keys may land is
//! `accessed_unreadable` (`fdbclient/ReadYourWrites.actor.cpp` lines 2266-2271 mark the range,
//! `fdbclient/RYWIterator.cpp` lines 45-46 and 75-76 throw), and only a commit with read
//! conflict ranges can be too old (`fdbserver/SkipList.cpp` line 837). Line numbers are at tag
//! 7.3.79 of github.com/apple/foundationdb.

use coditect_core::limits::{
    clear_range_size, set_size, versionstamp_split_size, versionstamped_key_size,
    CLEARED_KEY_SPLIT, MAX_KEY_SIZE, MAX_TRANSACTION_SIZE, MAX_VERSIONSTAMPED_KEY_SIZE,
    VERSIONSTAMP_LEN,
};
use coditect_core::{kv::Result, KvBackend, KvError, RangeOptions, Transaction};

use crate::support::assert_matches;
use crate::Harness;

async fn begin(db: &dyn KvBackend) -> Box<dyn Transaction> {
    db.begin().await.expect("begin")
}

/// How many rows of `[begin, end)` are committed, read page by page.
async fn count(db: &dyn KvBackend, begin_key: &[u8], end: &[u8]) -> usize {
    let tx = begin(db).await;
    let (mut lo, mut hi) = (begin_key.to_vec(), end.to_vec());
    let mut rows = 0;
    loop {
        let options = RangeOptions::default().snapshot();
        let page = tx.get_range(&lo, &hi, options).await.expect("get_range");
        rows += page.kvs.len();
        match page.next_range(&lo, &hi, false) {
            Some((l, h)) => (lo, hi) = (l, h),
            None => return rows,
        }
    }
}

/// A key of `len` bytes as the store sees it (the harness's prefix included), starting with
/// `tag` and numbered `i`, padded with `.`.
fn sized_key(h: &dyn Harness, tag: &str, i: usize, len: usize) -> Vec<u8> {
    let mut key = format!("{tag}/{i:06}/").into_bytes();
    let len = len - h.key_prefix_len();
    assert!(key.len() <= len, "the case's keys are long enough");
    key.resize(len, b'.');
    key
}

/// Sets `rows` keys of `key_len` bytes and values of `value_len` bytes (the first value
/// `first_value_delta` bytes longer), then commits: the first error, from a set or the commit.
async fn fill_and_commit(
    h: &dyn Harness,
    tag: &str,
    rows: usize,
    (key_len, value_len): (usize, usize),
    first_value_delta: isize,
) -> Result<()> {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    for i in 0..rows {
        let len = if i == 0 {
            value_len.saturating_add_signed(first_value_delta)
        } else {
            value_len
        };
        tx.set(&sized_key(h, tag, i, key_len), &vec![7u8; len])?;
    }
    tx.commit().await.map(|_| ())
}

/// A key of exactly 10,000 bytes (as the store sees it) is accepted; 10,001 is `KeyTooLarge`,
/// for writes and reads.
pub async fn key_size_limit_at_and_past_the_boundary(h: &dyn Harness) {
    let db = h.backend();
    let at = vec![b'k'; MAX_KEY_SIZE - h.key_prefix_len()];
    let past = vec![b'k'; MAX_KEY_SIZE - h.key_prefix_len() + 1];
    let tx = begin(db.as_ref()).await;
    tx.set(&at, b"v").unwrap();
    tx.commit().await.unwrap();
    let tx = begin(db.as_ref()).await;
    assert_eq!(tx.get(&at, false).await.unwrap(), Some(b"v".to_vec()));
    let too_large = |r: Result<()>| matches!(r, Err(KvError::KeyTooLarge { size, limit }) if size == MAX_KEY_SIZE + 1 && limit == MAX_KEY_SIZE);
    assert!(too_large(tx.set(&past, b"v")));
    assert!(too_large(tx.clear(&past)));
    assert!(too_large(tx.atomic_add(&past, 1)));
    assert!(too_large(tx.get(&past, false).await.map(|_| ())));
    tx.commit().await.unwrap();
    assert_eq!(count(db.as_ref(), b"", b"\xff").await, 1);
}

/// 1,000 sets of a 5,000-byte key and a 5,000-byte value are exactly 10,000,000 bytes of keys
/// and values, but with their write conflict ranges FoundationDB counts about twice that: the
/// transaction does not commit (refused at the set that crosses the limit, or at commit), and
/// nothing of it is written.
pub async fn ten_megabytes_of_keys_and_values_do_not_commit(h: &dyn Harness) {
    assert_eq!(1_000 * (5_000 + 5_000), MAX_TRANSACTION_SIZE);
    let result = fill_and_commit(h, "big", 1_000, (5_000, 5_000), 0).await;
    assert!(
        matches!(result, Err(KvError::TransactionTooLarge { size, limit }) if size > limit && limit == MAX_TRANSACTION_SIZE),
        "{result:?}"
    );
    assert_eq!(count(h.backend().as_ref(), b"big/", b"big0").await, 0);
}

/// Sets whose counted size (key + value + write conflict range, see `coditect_core::limits`)
/// adds up to one byte under the limit commit; one byte more does not, and writes nothing.
pub async fn counted_size_just_under_the_limit_commits_and_one_byte_more_does_not(h: &dyn Harness) {
    let (key_len, value_len) = (2_000, 10_000 - set_size(2_000, 0));
    assert_eq!(set_size(key_len, value_len), 10_000);
    assert_eq!(1_000 * set_size(key_len, value_len), MAX_TRANSACTION_SIZE);
    fill_and_commit(h, "under", 1_000, (key_len, value_len), -1)
        .await
        .expect("9,999,999 counted bytes commit");
    assert_eq!(
        count(h.backend().as_ref(), b"under/", b"under0").await,
        1_000
    );

    let result = fill_and_commit(h, "over", 1_000, (key_len, value_len), 1).await;
    assert!(
        matches!(result, Err(KvError::TransactionTooLarge { size, limit }) if size == MAX_TRANSACTION_SIZE + 1 && limit == MAX_TRANSACTION_SIZE),
        "10,000,001 counted bytes: {result:?}"
    );
    assert_eq!(count(h.backend().as_ref(), b"over/", b"over0").await, 0);
}

/// Whether `result` is `TransactionTooLarge` at exactly one byte over the limit.
fn one_byte_over(result: &Result<()>) -> bool {
    matches!(result, Err(KvError::TransactionTooLarge { size, limit }) if *size == MAX_TRANSACTION_SIZE + 1 && *limit == MAX_TRANSACTION_SIZE)
}

/// Clears `[tag/, tag0)`, then sets 1,000 keys inside it whose counted size, with the clear
/// split at every key ([`CLEARED_KEY_SPLIT`], as FoundationDB's read-your-writes layer hands
/// the clear over in pieces around the keys set in it), is the limit plus `delta`.
async fn sets_inside_a_clear(h: &dyn Harness, tag: &str, delta: isize) -> Result<()> {
    let (rows, key_len) = (1_000, 2_000);
    let (lo, hi) = (format!("{tag}/"), format!("{tag}0"));
    let prefix = h.key_prefix_len();
    let clear = clear_range_size(lo.len() + prefix, hi.len() + prefix);
    let per_row = set_size(key_len, 0) + CLEARED_KEY_SPLIT;
    let room = MAX_TRANSACTION_SIZE - clear;
    let (value_len, rest) = (room / rows - per_row, room % rows);
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.clear_range(lo.as_bytes(), hi.as_bytes())?;
    for i in 0..rows {
        let len = if i == 0 {
            (value_len + rest).saturating_add_signed(delta)
        } else {
            value_len
        };
        tx.set(&sized_key(h, tag, i, key_len), &vec![7u8; len])?;
    }
    tx.commit().await.map(|_| ())
}

/// A set inside a range the same transaction cleared costs [`CLEARED_KEY_SPLIT`] more than
/// elsewhere: FoundationDB 7.3 sends the clear in two pieces around it. A transaction counted
/// one byte under the limit that way commits; one byte over does not, and writes nothing.
pub async fn sets_inside_a_cleared_range_count_the_split_clear(h: &dyn Harness) {
    sets_inside_a_clear(h, "splitu", -1)
        .await
        .expect("9,999,999 counted bytes commit");
    assert_eq!(
        count(h.backend().as_ref(), b"splitu/", b"splitu0").await,
        1_000
    );
    let result = sets_inside_a_clear(h, "splito", 1).await;
    assert!(
        one_byte_over(&result),
        "10,000,001 counted bytes: {result:?}"
    );
    assert_eq!(count(h.backend().as_ref(), b"splito/", b"splito0").await, 0);
}

/// Clears `[tag/, tag0)`, stamps one key inside it, and fills the rest up to the limit plus
/// `delta` with sets outside it; the stamp range's two ends split the clear and its conflict
/// range ([`versionstamp_split_size`]).
async fn a_stamp_inside_a_clear(h: &dyn Harness, tag: &str, delta: isize) -> Result<()> {
    let prefix = h.key_prefix_len();
    let (lo, hi) = (format!("{tag}/"), format!("{tag}0"));
    let mut stamped = format!("{tag}/").into_bytes();
    stamped.extend([0u8; VERSIONSTAMP_LEN]);
    stamped.extend(b"/x");
    let stamped_len = stamped.len() + prefix;
    // The range it may become: the key (0x00 placeholder) to the key (0xFF) followed by 0x00.
    let splits = versionstamp_split_size(stamped_len) + versionstamp_split_size(stamped_len + 1);
    let fixed = clear_range_size(lo.len() + prefix, hi.len() + prefix)
        + versionstamped_key_size(stamped_len, 1)
        + splits;
    let (rows, key_len) = (1_000, 2_000);
    let room = MAX_TRANSACTION_SIZE - fixed;
    let (value_len, rest) = (room / rows - set_size(key_len, 0), room % rows);
    let filler = format!("{tag}f");
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.clear_range(lo.as_bytes(), hi.as_bytes())?;
    tx.set_versionstamped_key(&stamped, tag.len() as u32 + 1, b"v")?;
    for i in 0..rows {
        let len = if i == 0 {
            (value_len + rest).saturating_add_signed(delta)
        } else {
            value_len
        };
        tx.set(&sized_key(h, &filler, i, key_len), &vec![7u8; len])?;
    }
    tx.commit().await.map(|_| ())
}

/// A versionstamped key inside a range the same transaction cleared costs
/// [`versionstamp_split_size`] at each end of the range it may become: FoundationDB 7.3
/// hands that part of the clear to the native transaction at once and the rest at commit.
/// Counted that way, one byte under the limit commits and one byte over does not.
pub async fn a_stamped_key_inside_a_cleared_range_counts_the_split_clear(h: &dyn Harness) {
    a_stamp_inside_a_clear(h, "stampu", -1)
        .await
        .expect("9,999,999 counted bytes commit");
    assert_eq!(count(h.backend().as_ref(), b"stampu/", b"stampu0").await, 1);
    assert_eq!(
        count(h.backend().as_ref(), b"stampuf/", b"stampuf0").await,
        1_000
    );
    let result = a_stamp_inside_a_clear(h, "stampo", 1).await;
    assert!(
        one_byte_over(&result),
        "10,000,001 counted bytes: {result:?}"
    );
    assert_eq!(count(h.backend().as_ref(), b"stampo", b"stampp").await, 0);
}

/// A versionstamped key may be 9,996 bytes (FoundationDB checks it with its 4-byte offset
/// suffix against the 10,000-byte limit): 9,996 commits, 9,997 is `KeyTooLarge`.
pub async fn versionstamped_key_of_9996_bytes_is_accepted_and_9997_refused(h: &dyn Harness) {
    let db = h.backend();
    let at = vec![b's'; MAX_VERSIONSTAMPED_KEY_SIZE - h.key_prefix_len()];
    let past = vec![b's'; MAX_VERSIONSTAMPED_KEY_SIZE - h.key_prefix_len() + 1];
    let tx = begin(db.as_ref()).await;
    let err = tx.set_versionstamped_key(&past, 0, b"v").unwrap_err();
    assert!(
        matches!(err, KvError::KeyTooLarge { size, limit } if size == MAX_VERSIONSTAMPED_KEY_SIZE + 1 && limit == MAX_VERSIONSTAMPED_KEY_SIZE),
        "{err:?}"
    );
    tx.set_versionstamped_key(&at, 0, b"v").unwrap();
    tx.commit()
        .await
        .expect("a 9,996-byte versionstamped key commits");
    assert_eq!(count(db.as_ref(), b"", b"\xff").await, 1);
}

/// After `set_versionstamped_key`, a read (snapshot or not, a key or a range) that touches the
/// keys the stamp may produce is `AccessedUnreadable`; reads beside that range still work, and
/// the transaction still commits.
pub async fn reading_where_a_stamped_key_may_land_is_accessed_unreadable(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.set(b"log.", b"before").unwrap();
    let mut stamped = b"log/".to_vec();
    stamped.extend([0u8; VERSIONSTAMP_LEN]);
    stamped.extend(b"/x");
    tx.set_versionstamped_key(&stamped, 4, b"event").unwrap();
    let unreadable = |r: Result<()>| matches!(r, Err(KvError::AccessedUnreadable));
    for snapshot in [false, true] {
        let options = RangeOptions {
            snapshot,
            ..RangeOptions::default()
        };
        let whole = tx.get_range(b"log/", b"log0", options).await.map(|_| ());
        assert!(unreadable(whole), "a range over it ({snapshot})");
        let reverse = tx.get_range(b"a", b"z", options.reversed()).await;
        assert!(
            unreadable(reverse.map(|_| ())),
            "a reverse range ({snapshot})"
        );
        assert!(unreadable(tx.get(&stamped, snapshot).await.map(|_| ())));
    }
    // Outside: before the range's first key and from its end on.
    let before = tx
        .get_range(b"a", b"log/", RangeOptions::default())
        .await
        .unwrap();
    assert_eq!(before.kvs.len(), 1, "reads its own write of log.");
    let mut after = b"log/".to_vec();
    after.extend([0xFF; VERSIONSTAMP_LEN]);
    after.extend(b"/x\0");
    assert!(tx
        .get_range(&after, b"z", RangeOptions::default())
        .await
        .unwrap()
        .kvs
        .is_empty());
    assert_eq!(tx.get(b"log0", false).await.unwrap(), None);
    tx.commit().await.expect("the transaction still commits");
    assert_eq!(count(db.as_ref(), b"log/", b"log0").await, 1);
}

/// Too old at commit only with read conflict ranges: a transaction that read only as a
/// snapshot commits its writes after the 5 s limit, one that read normally is
/// `TransactionTooOld`, and a read-only one commits.
pub async fn only_a_commit_with_read_conflicts_is_too_old(h: &dyn Harness) {
    let db = h.backend();
    let snapshot_only = begin(db.as_ref()).await;
    snapshot_only.get(b"k", true).await.unwrap();
    snapshot_only
        .get_range(b"a", b"z", RangeOptions::default().snapshot())
        .await
        .unwrap();
    snapshot_only.set(b"snap", b"1").unwrap();
    let reading = begin(db.as_ref()).await;
    reading.get(b"k", false).await.unwrap();
    reading.set(b"read", b"1").unwrap();
    let read_only = begin(db.as_ref()).await;
    read_only.get(b"k", false).await.unwrap();
    h.age_past_read_version_limit().await;
    snapshot_only
        .commit()
        .await
        .expect("a snapshot-only transaction commits when old");
    let err = reading.commit().await.unwrap_err();
    assert_matches!(err, KvError::TransactionTooOld);
    read_only
        .commit()
        .await
        .expect("a read-only transaction commits when old");
    assert_eq!(count(db.as_ref(), b"r", b"t").await, 1, "only snap");
}
