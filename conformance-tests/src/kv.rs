//! The KV contract's cases. Each states in its doc what must happen and why; each takes a
//! [`Harness`] whose backend starts empty.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use coditect_core::limits::MAX_VALUE_SIZE;
use coditect_core::{
    KeyValue, KvBackend, KvError, RangeOptions, RangeWalk, RetryOptions, RetryStats, Transaction,
    RANGE_PAGE_MAX_ROWS,
};

use crate::support::assert_matches;
use crate::Harness;

// ---------------------------------------------------------------------------------------
// helpers

async fn begin(db: &dyn KvBackend) -> Box<dyn Transaction> {
    db.begin().await.expect("begin")
}

/// Commits `pairs` in one transaction.
async fn put(db: &dyn KvBackend, pairs: &[(&[u8], &[u8])]) {
    let tx = begin(db).await;
    for (k, v) in pairs {
        tx.set(k, v).expect("set");
    }
    tx.commit().await.expect("commit");
}

/// The committed value of `key`, read in a fresh transaction.
async fn get(db: &dyn KvBackend, key: &[u8]) -> Option<Vec<u8>> {
    begin(db).await.get(key, false).await.expect("get")
}

/// Every committed row of `[begin, end)`, read page by page.
async fn scan(db: &dyn KvBackend, begin_key: &[u8], end: &[u8]) -> Vec<KeyValue> {
    let tx = begin(db).await;
    collect(tx.as_ref(), begin_key, end, RangeOptions::default()).await
}

/// Every row of `[begin, end)` through `tx`, following `next_range` from page to page.
async fn collect(
    tx: &dyn Transaction,
    begin_key: &[u8],
    end: &[u8],
    options: RangeOptions,
) -> Vec<KeyValue> {
    let (mut lo, mut hi) = (begin_key.to_vec(), end.to_vec());
    let mut rows = Vec::new();
    loop {
        let page = tx.get_range(&lo, &hi, options).await.expect("get_range");
        let next = page.next_range(&lo, &hi, options.reverse);
        rows.extend(page.kvs);
        match next {
            Some((l, h)) => (lo, hi) = (l, h),
            None => return rows,
        }
    }
}

fn keys(rows: &[KeyValue]) -> Vec<Vec<u8>> {
    rows.iter().map(|kv| kv.key.clone()).collect()
}

fn bytes(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

async fn put_letters(db: &dyn KvBackend, letters: &str) {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = letters
        .chars()
        .map(|c| (c.to_string().into_bytes(), format!("v{c}").into_bytes()))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    put(db, &refs).await;
}

fn i64_value(bytes: Option<Vec<u8>>) -> i64 {
    let bytes = bytes.expect("a counter value");
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    i64::from_le_bytes(le)
}

// ---------------------------------------------------------------------------------------
// basic reads and writes

/// A committed set is read back.
pub async fn set_then_get(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"v")]).await;
    assert_eq!(get(db.as_ref(), b"k").await, Some(b"v".to_vec()));
}

/// A key never written reads as `None`, not as an error or an empty value.
pub async fn get_missing_is_none(h: &dyn Harness) {
    let db = h.backend();
    assert_eq!(get(db.as_ref(), b"nothing").await, None);
}

/// A second set of the same key replaces the first.
pub async fn overwrite_replaces(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"one")]).await;
    put(db.as_ref(), &[(b"k", b"two")]).await;
    assert_eq!(get(db.as_ref(), b"k").await, Some(b"two".to_vec()));
}

/// A cleared key is gone; clearing a missing key is not an error.
pub async fn clear_removes_a_key(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"v")]).await;
    let tx = begin(db.as_ref()).await;
    tx.clear(b"k").unwrap();
    tx.clear(b"never-there").unwrap();
    tx.commit().await.unwrap();
    assert_eq!(get(db.as_ref(), b"k").await, None);
}

/// An empty value is a value: present, and distinct from a missing key.
pub async fn empty_value_is_stored(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"")]).await;
    assert_eq!(get(db.as_ref(), b"k").await, Some(Vec::new()));
    assert_eq!(scan(db.as_ref(), b"", b"\xff").await.len(), 1);
}

/// The empty key is an ordinary key, the first of all.
pub async fn empty_key_is_a_key(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"", b"first"), (b"a", b"second")]).await;
    assert_eq!(get(db.as_ref(), b"").await, Some(b"first".to_vec()));
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    assert_eq!(keys(&rows), vec![b"".to_vec(), b"a".to_vec()]);
}

/// Keys are raw bytes: 0x00 and 0xFF anywhere, ordered lexicographically by byte.
pub async fn binary_keys_with_0x00_and_0xff(h: &dyn Harness) {
    let db = h.backend();
    let ks: [&[u8]; 5] = [b"\x00", b"\x00\x00", b"a\x00b", b"a\xff", b"\xfe\xff\x00"];
    let pairs: Vec<(&[u8], &[u8])> = ks.iter().map(|k| (*k, *k)).collect();
    put(db.as_ref(), &pairs).await;
    for k in ks {
        assert_eq!(get(db.as_ref(), k).await.as_deref(), Some(k));
    }
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    let want: Vec<Vec<u8>> = ks.iter().map(|k| k.to_vec()).collect();
    assert_eq!(keys(&rows), want);
}

/// What one transaction committed, the next one sees.
pub async fn committed_writes_are_visible_to_later_transactions(h: &dyn Harness) {
    let db = h.backend();
    for i in 0..5u8 {
        put(db.as_ref(), &[(b"k", &[i])]).await;
        assert_eq!(get(db.as_ref(), b"k").await, Some(vec![i]));
    }
}

// ---------------------------------------------------------------------------------------
// ranges

/// A range read returns rows in key order whatever the insertion order.
pub async fn range_returns_rows_in_key_order(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "dbeac").await;
    let rows = scan(db.as_ref(), b"a", b"z").await;
    assert_eq!(keys(&rows), bytes(&["a", "b", "c", "d", "e"]));
    assert_eq!(rows[0].value, b"va".to_vec());
}

/// `begin` is included, `end` is not.
pub async fn range_begin_inclusive_end_exclusive(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcd").await;
    let rows = scan(db.as_ref(), b"b", b"d").await;
    assert_eq!(keys(&rows), bytes(&["b", "c"]));
}

/// A limit returns the first rows and says more follow.
pub async fn range_with_limit(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcde").await;
    let tx = begin(db.as_ref()).await;
    let page = tx
        .get_range(b"a", b"z", RangeOptions::limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&page.kvs), bytes(&["a", "b"]));
    assert!(page.more);
    let all = tx
        .get_range(b"a", b"z", RangeOptions::limit(5))
        .await
        .unwrap();
    assert_eq!(all.kvs.len(), 5);
    let over = tx
        .get_range(b"a", b"z", RangeOptions::limit(50))
        .await
        .unwrap();
    assert_eq!(over.kvs.len(), 5);
    assert!(!over.more);
}

/// Reverse returns rows from the end.
pub async fn range_reverse(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcd").await;
    let tx = begin(db.as_ref()).await;
    let page = tx
        .get_range(b"a", b"d", RangeOptions::default().reversed())
        .await
        .unwrap();
    assert_eq!(keys(&page.kvs), bytes(&["c", "b", "a"]));
    assert!(!page.more);
}

/// Reverse with a limit returns the last rows, descending.
pub async fn range_reverse_with_limit(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcde").await;
    let tx = begin(db.as_ref()).await;
    let page = tx
        .get_range(b"a", b"z", RangeOptions::limit(2).reversed())
        .await
        .unwrap();
    assert_eq!(keys(&page.kvs), bytes(&["e", "d"]));
    assert!(page.more);
}

/// Paging with `next_range` visits every row exactly once, forward and backward, whatever
/// the page size.
pub async fn range_paging_across_a_boundary(h: &dyn Harness) {
    let db = h.backend();
    let owned: Vec<(Vec<u8>, Vec<u8>)> = (0..25u8).map(|i| (vec![b'k', i], vec![i])).collect();
    let refs: Vec<(&[u8], &[u8])> = owned.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    put(db.as_ref(), &refs).await;
    let want: Vec<Vec<u8>> = owned.iter().map(|(k, _)| k.clone()).collect();
    let tx = begin(db.as_ref()).await;
    for page_size in [1, 4, 5, 24, 25, 26] {
        let forward = collect(tx.as_ref(), b"k", b"l", RangeOptions::limit(page_size)).await;
        assert_eq!(keys(&forward), want, "forward, pages of {page_size}");
        let backward = collect(
            tx.as_ref(),
            b"k",
            b"l",
            RangeOptions::limit(page_size).reversed(),
        )
        .await;
        let mut reversed = want.clone();
        reversed.reverse();
        assert_eq!(keys(&backward), reversed, "reverse, pages of {page_size}");
    }
}

/// A range with no rows inside is empty and has no more.
pub async fn range_empty_when_nothing_inside(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "az").await;
    let tx = begin(db.as_ref()).await;
    let page = tx
        .get_range(b"b", b"y", RangeOptions::default())
        .await
        .unwrap();
    assert!(page.kvs.is_empty());
    assert!(!page.more);
}

/// `begin >= end` is an empty range, not an error.
pub async fn range_begin_at_or_after_end_is_empty(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abc").await;
    let tx = begin(db.as_ref()).await;
    for (b, e) in [(&b"b"[..], &b"b"[..]), (b"c", b"a")] {
        let page = tx.get_range(b, e, RangeOptions::default()).await.unwrap();
        assert!(page.kvs.is_empty() && !page.more);
        let page = tx
            .get_range(b, e, RangeOptions::default().reversed())
            .await
            .unwrap();
        assert!(page.kvs.is_empty() && !page.more);
    }
}

/// An unlimited read of a big range comes in bounded pages that together hold every row.
pub async fn range_pages_are_bounded(h: &dyn Harness) {
    let db = h.backend();
    let total = RANGE_PAGE_MAX_ROWS + 500;
    let tx = begin(db.as_ref()).await;
    for i in 0..total as u32 {
        tx.set(&[b"p".as_slice(), &i.to_be_bytes()].concat(), b"")
            .unwrap();
    }
    tx.commit().await.unwrap();
    let tx = begin(db.as_ref()).await;
    let first = tx
        .get_range(b"p", b"q", RangeOptions::default())
        .await
        .unwrap();
    assert!(first.kvs.len() <= RANGE_PAGE_MAX_ROWS);
    assert!(first.more);
    let all = collect(tx.as_ref(), b"p", b"q", RangeOptions::default()).await;
    assert_eq!(all.len(), total);
}

/// `RangeWalk` reads a range of more than a page in order, forward and backward; a row
/// budget stops it after that many rows, a page size bounds each read, and a byte budget
/// pauses it with a resume key from which a second walk reads the rest, every row once.
pub async fn range_walk_pages_budgets_and_resumes(h: &dyn Harness) {
    let db = h.backend();
    let total = RANGE_PAGE_MAX_ROWS + 500;
    let key = |i: u32| [b"w".as_slice(), &i.to_be_bytes()].concat();
    let tx = begin(db.as_ref()).await;
    for i in 0..total as u32 {
        tx.set(&key(i), b"0123456789").unwrap();
    }
    tx.commit().await.unwrap();
    let want: Vec<Vec<u8>> = (0..total as u32).map(key).collect();
    let tx = begin(db.as_ref()).await;
    let tx: &dyn Transaction = tx.as_ref();

    let all = RangeWalk::new(b"w", b"x", RangeOptions::default())
        .collect(tx)
        .await
        .unwrap();
    assert_eq!(keys(&all), want, "forward, every row once, in order");
    let back = RangeWalk::new(b"w", b"x", RangeOptions::default().reversed())
        .collect(tx)
        .await
        .unwrap();
    let mut reversed = want.clone();
    reversed.reverse();
    assert_eq!(keys(&back), reversed, "reverse");

    let mut walk = RangeWalk::new(b"w", b"x", RangeOptions::limit(7_345)).page_rows(1_000);
    let mut pages = 0;
    let mut rows = Vec::new();
    while let Some(page) = walk.next_page(tx).await.unwrap() {
        assert!(page.len() <= 1_000, "a page of {} rows", page.len());
        pages += 1;
        rows.extend(page);
    }
    assert_eq!(
        (rows.len(), pages),
        (7_345, 8),
        "the row budget, in pages of 1,000"
    );
    assert_eq!(keys(&rows), want[..7_345].to_vec());
    assert!(!walk.is_done());
    assert_eq!(
        walk.resume_key(),
        Some(coditect_core::key_after(&want[7_344]).as_slice())
    );

    // 30,000 bytes is about 2,000 rows of 5 + 10 bytes: the walk pauses after the page that
    // reaches it.
    let mut first = RangeWalk::new(b"w", b"x", RangeOptions::default())
        .page_rows(500)
        .max_bytes(30_000);
    let mut head = Vec::new();
    while let Some(page) = first.next_page(tx).await.unwrap() {
        head.extend(page);
    }
    assert!(!first.is_done());
    assert_eq!(head.len(), 2_000, "four pages of 500 reach 30,000 bytes");
    let resume = first.resume_key().expect("paused").to_vec();
    let tail = RangeWalk::new(&resume, b"x", RangeOptions::default())
        .collect(tx)
        .await
        .unwrap();
    head.extend(tail);
    assert_eq!(keys(&head), want, "the two walks read every row once");
    let done = RangeWalk::new(b"w", b"x", RangeOptions::default());
    assert_eq!(done.clone().collect(tx).await.unwrap().len(), total);
    let mut empty = RangeWalk::new(b"x", b"w", RangeOptions::default());
    assert!(empty.next_page(tx).await.unwrap().is_none());
    assert!(empty.is_done() && empty.resume_key().is_none());
}

/// `clear_range` removes `[begin, end)` and nothing else.
pub async fn clear_range_removes_only_the_range(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcdef").await;
    let tx = begin(db.as_ref()).await;
    tx.clear_range(b"b", b"e").unwrap();
    tx.commit().await.unwrap();
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    assert_eq!(keys(&rows), bytes(&["a", "e", "f"]));
}

/// An inverted or empty `clear_range` changes nothing.
pub async fn clear_range_inverted_is_a_no_op(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abc").await;
    let tx = begin(db.as_ref()).await;
    tx.clear_range(b"c", b"a").unwrap();
    tx.clear_range(b"b", b"b").unwrap();
    tx.commit().await.unwrap();
    assert_eq!(scan(db.as_ref(), b"", b"\xff").await.len(), 3);
}

// ---------------------------------------------------------------------------------------
// read-your-writes

/// A transaction reads its own buffered sets and clears before committing.
pub async fn ryw_get_sees_own_set_and_clear(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"stored", b"old")]).await;
    let tx = begin(db.as_ref()).await;
    tx.set(b"new", b"mine").unwrap();
    tx.clear(b"stored").unwrap();
    assert_eq!(tx.get(b"new", false).await.unwrap(), Some(b"mine".to_vec()));
    assert_eq!(tx.get(b"stored", false).await.unwrap(), None);
    // Another transaction sees none of it yet.
    assert_eq!(get(db.as_ref(), b"new").await, None);
    assert_eq!(get(db.as_ref(), b"stored").await, Some(b"old".to_vec()));
}

/// A range read merges buffered sets and clears with stored rows, in order.
pub async fn ryw_range_mixes_buffered_and_stored_keys(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "aceg").await;
    let tx = begin(db.as_ref()).await;
    tx.set(b"b", b"vb").unwrap();
    tx.set(b"e", b"new-e").unwrap();
    tx.clear(b"c").unwrap();
    tx.set(b"h", b"vh").unwrap();
    let rows = collect(tx.as_ref(), b"a", b"z", RangeOptions::default()).await;
    assert_eq!(keys(&rows), bytes(&["a", "b", "e", "g", "h"]));
    assert_eq!(rows[2].value, b"new-e".to_vec());
    let rev = collect(tx.as_ref(), b"a", b"z", RangeOptions::limit(2).reversed()).await;
    assert_eq!(keys(&rev), bytes(&["h", "g", "e", "b", "a"]));
}

/// A range clear hides stored rows from the same transaction's reads; a set after it shows.
pub async fn ryw_range_after_clear_range_and_set(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abcdef").await;
    let tx = begin(db.as_ref()).await;
    tx.clear_range(b"b", b"f").unwrap();
    tx.set(b"d", b"back").unwrap();
    assert_eq!(tx.get(b"c", false).await.unwrap(), None);
    let rows = collect(tx.as_ref(), b"a", b"z", RangeOptions::limit(2)).await;
    assert_eq!(keys(&rows), bytes(&["a", "d", "f"]));
    tx.commit().await.unwrap();
    let rows = scan(db.as_ref(), b"a", b"z").await;
    assert_eq!(keys(&rows), bytes(&["a", "d", "f"]));
    assert_eq!(rows[1].value, b"back".to_vec());
}

/// A buffered atomic add is applied on top of the stored value when read back.
pub async fn ryw_atomic_add_over_stored_value(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"n", &10i64.to_le_bytes())]).await;
    let tx = begin(db.as_ref()).await;
    tx.atomic_add(b"n", 5).unwrap();
    tx.atomic_add(b"n", 2).unwrap();
    assert_eq!(i64_value(tx.get(b"n", false).await.unwrap()), 17);
    let rows = tx
        .get_range(b"n", b"o", RangeOptions::default())
        .await
        .unwrap();
    assert_eq!(i64_value(Some(rows.kvs[0].value.clone())), 17);
    tx.commit().await.unwrap();
    assert_eq!(i64_value(get(db.as_ref(), b"n").await), 17);
}

/// A reverse, limited read counts buffered rows toward the limit like stored ones.
pub async fn ryw_reverse_limited_range_with_buffered_keys(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "ab").await;
    let tx = begin(db.as_ref()).await;
    tx.set(b"y", b"").unwrap();
    tx.set(b"z", b"").unwrap();
    let page = tx
        .get_range(b"a", b"\xff", RangeOptions::limit(3).reversed())
        .await
        .unwrap();
    assert_eq!(keys(&page.kvs), bytes(&["z", "y", "b"]));
    assert!(page.more);
}

// ---------------------------------------------------------------------------------------
// isolation

/// A transaction reads as of its read version: a commit after it began stays invisible.
pub async fn snapshot_isolation_reader_does_not_see_later_commit(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"before")]).await;
    let reader = begin(db.as_ref()).await;
    assert_eq!(
        reader.get(b"k", true).await.unwrap(),
        Some(b"before".to_vec())
    );
    put(db.as_ref(), &[(b"k", b"after"), (b"other", b"x")]).await;
    assert_eq!(
        reader.get(b"k", true).await.unwrap(),
        Some(b"before".to_vec())
    );
    assert_eq!(reader.get(b"other", false).await.unwrap(), None);
}

/// A range read at an older version sees neither rows inserted nor rows removed since.
pub async fn snapshot_isolation_range_does_not_see_later_inserts_or_deletes(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "aceg").await;
    let reader = begin(db.as_ref()).await;
    let tx = begin(db.as_ref()).await;
    tx.set(b"b", b"new").unwrap();
    tx.set(b"c", b"changed").unwrap();
    tx.clear(b"e").unwrap();
    tx.clear_range(b"f", b"h").unwrap();
    tx.commit().await.unwrap();
    let rows = collect(reader.as_ref(), b"a", b"z", RangeOptions::limit(1)).await;
    assert_eq!(keys(&rows), bytes(&["a", "c", "e", "g"]));
    assert_eq!(rows[1].value, b"vc".to_vec());
    let rows = collect(
        reader.as_ref(),
        b"a",
        b"z",
        RangeOptions::default().reversed(),
    )
    .await;
    assert_eq!(keys(&rows), bytes(&["g", "e", "c", "a"]));
}

/// The read version does not move during a transaction.
pub async fn read_version_is_stable_within_a_transaction(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    let rv = tx.read_version().await.unwrap();
    put(db.as_ref(), &[(b"k", b"v")]).await;
    assert_eq!(tx.read_version().await.unwrap(), rv);
    let later = begin(db.as_ref()).await;
    assert!(later.read_version().await.unwrap() > rv);
}

/// Dirty read: another transaction's uncommitted writes are never visible.
pub async fn dirty_read_prevented(h: &dyn Harness) {
    let db = h.backend();
    let writer = begin(db.as_ref()).await;
    writer.set(b"k", b"uncommitted").unwrap();
    let reader = begin(db.as_ref()).await;
    assert_eq!(reader.get(b"k", false).await.unwrap(), None);
    let page = reader
        .get_range(b"", b"\xff", RangeOptions::default())
        .await
        .unwrap();
    assert!(page.kvs.is_empty());
}

/// A key read (not as a snapshot) and written by a newer commit makes the commit conflict.
pub async fn conflict_on_a_key(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"0")]).await;
    let tx = begin(db.as_ref()).await;
    tx.get(b"k", false).await.unwrap();
    tx.set(b"out", b"x").unwrap();
    put(db.as_ref(), &[(b"k", b"1")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
    assert_eq!(get(db.as_ref(), b"out").await, None);
}

/// A range read conflicts with a newer write of a key inside it.
pub async fn conflict_on_a_range(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abc").await;
    let tx = begin(db.as_ref()).await;
    tx.get_range(b"a", b"d", RangeOptions::default())
        .await
        .unwrap();
    tx.set(b"x", b"").unwrap();
    put(db.as_ref(), &[(b"b", b"changed")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
}

/// Phantom: inserting a new key into a range another transaction read is a conflict, though
/// no key it saw changed.
pub async fn conflict_on_a_phantom_insert(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "ac").await;
    let tx = begin(db.as_ref()).await;
    let seen = tx
        .get_range(b"a", b"d", RangeOptions::default())
        .await
        .unwrap();
    assert_eq!(seen.kvs.len(), 2);
    tx.set(b"count", &[2]).unwrap();
    put(db.as_ref(), &[(b"b", b"phantom")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
}

/// A limited range read covers only up to its last row: an insert past it is no conflict,
/// one before it is.
pub async fn limited_range_conflicts_only_on_what_it_read(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "acegi").await;
    let tx = begin(db.as_ref()).await;
    let page = tx
        .get_range(b"a", b"z", RangeOptions::limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&page.kvs), bytes(&["a", "c"]));
    tx.set(b"mine", b"").unwrap();
    put(db.as_ref(), &[(b"h", b"past the read part")]).await;
    tx.commit()
        .await
        .expect("an insert past the read part does not conflict");

    let tx = begin(db.as_ref()).await;
    tx.get_range(b"a", b"z", RangeOptions::limit(2))
        .await
        .unwrap();
    tx.set(b"mine", b"").unwrap();
    put(db.as_ref(), &[(b"b", b"inside the read part")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
}

/// Lost update: two read-modify-writes of one counter cannot both commit.
pub async fn lost_update_prevented(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"n", &[0])]).await;
    let t1 = begin(db.as_ref()).await;
    let t2 = begin(db.as_ref()).await;
    let v1 = t1.get(b"n", false).await.unwrap().unwrap()[0];
    let v2 = t2.get(b"n", false).await.unwrap().unwrap()[0];
    t1.set(b"n", &[v1 + 1]).unwrap();
    t2.set(b"n", &[v2 + 1]).unwrap();
    t1.commit().await.unwrap();
    assert!(matches!(t2.commit().await, Err(KvError::Conflict)));
    assert_eq!(get(db.as_ref(), b"n").await, Some(vec![1]));
}

/// Write skew: each transaction reads both of two keys and writes the other one; snapshot
/// isolation would let both commit and break "at least one stays on call". Serializable
/// commits must reject the second.
pub async fn write_skew_rejected(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"alice", b"on"), (b"bob", b"on")]).await;
    let t1 = begin(db.as_ref()).await;
    let t2 = begin(db.as_ref()).await;
    for tx in [&t1, &t2] {
        assert_eq!(tx.get(b"alice", false).await.unwrap(), Some(b"on".to_vec()));
        assert_eq!(tx.get(b"bob", false).await.unwrap(), Some(b"on".to_vec()));
    }
    t1.set(b"alice", b"off").unwrap();
    t2.set(b"bob", b"off").unwrap();
    t1.commit().await.unwrap();
    assert!(matches!(t2.commit().await, Err(KvError::Conflict)));
    assert_eq!(get(db.as_ref(), b"bob").await, Some(b"on".to_vec()));
}

/// Snapshot reads, point and range, add no read conflict.
pub async fn snapshot_reads_do_not_conflict(h: &dyn Harness) {
    let db = h.backend();
    put_letters(db.as_ref(), "abc").await;
    let tx = begin(db.as_ref()).await;
    tx.get(b"a", true).await.unwrap();
    tx.get_range(b"a", b"z", RangeOptions::default().snapshot())
        .await
        .unwrap();
    tx.set(b"out", b"").unwrap();
    put(db.as_ref(), &[(b"a", b"x"), (b"bb", b"new")]).await;
    tx.commit().await.expect("snapshot reads do not conflict");
}

/// An explicit read conflict range conflicts like a read.
pub async fn explicit_read_conflict_range(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.add_read_conflict_range(b"m", b"n").unwrap();
    tx.set(b"out", b"").unwrap();
    put(db.as_ref(), &[(b"m5", b"")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
}

/// An explicit write conflict range makes readers of that range conflict, though nothing
/// was written there.
pub async fn explicit_write_conflict_range(h: &dyn Harness) {
    let db = h.backend();
    let reader = begin(db.as_ref()).await;
    reader.get(b"m5", false).await.unwrap();
    reader.set(b"out", b"").unwrap();
    let writer = begin(db.as_ref()).await;
    writer.add_write_conflict_range(b"m", b"n").unwrap();
    writer.commit().await.unwrap();
    assert!(matches!(reader.commit().await, Err(KvError::Conflict)));
    assert_eq!(get(db.as_ref(), b"m5").await, None);
}

/// Transactions that only write never conflict, even on the same keys: the last commit wins.
pub async fn blind_writes_never_conflict(h: &dyn Harness) {
    let db = h.backend();
    let t1 = begin(db.as_ref()).await;
    let t2 = begin(db.as_ref()).await;
    t1.set(b"k", b"one").unwrap();
    t1.clear_range(b"a", b"c").unwrap();
    t2.set(b"k", b"two").unwrap();
    t2.clear(b"b").unwrap();
    t1.commit().await.unwrap();
    t2.commit().await.expect("blind writes never conflict");
    assert_eq!(get(db.as_ref(), b"k").await, Some(b"two".to_vec()));
}

// ---------------------------------------------------------------------------------------
// atomic operations and versionstamps

/// Atomic adds sum as little-endian 64-bit integers, starting from 0 on a missing key.
pub async fn atomic_add_sums_little_endian(h: &dyn Harness) {
    let db = h.backend();
    for delta in [5i64, -2, 100] {
        let tx = begin(db.as_ref()).await;
        tx.atomic_add(b"n", delta).unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(
        get(db.as_ref(), b"n").await,
        Some(103i64.to_le_bytes().to_vec())
    );
}

/// A shorter stored value is zero-extended, a longer one truncated to 8 bytes; sums wrap.
pub async fn atomic_add_width_rules(h: &dyn Harness) {
    let db = h.backend();
    put(
        db.as_ref(),
        &[(b"short", &[1]), (b"long", &[1, 0, 0, 0, 0, 0, 0, 0, 7, 7])],
    )
    .await;
    put(db.as_ref(), &[(b"max", &i64::MAX.to_le_bytes())]).await;
    let tx = begin(db.as_ref()).await;
    tx.atomic_add(b"short", 1).unwrap();
    tx.atomic_add(b"long", 1).unwrap();
    tx.atomic_add(b"max", 1).unwrap();
    tx.commit().await.unwrap();
    assert_eq!(i64_value(get(db.as_ref(), b"short").await), 2);
    assert_eq!(
        get(db.as_ref(), b"long").await,
        Some(2i64.to_le_bytes().to_vec())
    );
    assert_eq!(i64_value(get(db.as_ref(), b"max").await), i64::MIN);
}

/// Many concurrent transactions adding to one counter all commit first time and sum exactly:
/// an atomic add reads nothing, so it cannot conflict.
pub async fn concurrent_atomic_adds_sum_exactly_without_conflicts(h: &dyn Harness) {
    let db = h.backend();
    let stats = Arc::new(RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let mut tasks = Vec::new();
    for task in 0..8i64 {
        let db = db.clone();
        let options = options.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..100 {
                run(db.as_ref(), &options, |tx| async move {
                    tx.atomic_add(b"counter", task + 1)?;
                    tokio::task::yield_now().await;
                    Ok(())
                })
                .await
                .expect("an add commits");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(
        i64_value(get(db.as_ref(), b"counter").await),
        100 * (1..=8).sum::<i64>()
    );
    assert_eq!(stats.commits(), 800);
    assert_eq!(stats.conflicts(), 0, "atomic adds must never conflict");
}

/// A versionstamped key gets the commit's 10-byte stamp at the offset, the same bytes the
/// commit returns.
pub async fn versionstamped_key_gets_the_commit_stamp(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    let mut key = b"log/".to_vec();
    key.extend_from_slice(&[0; 10]);
    key.extend_from_slice(b"/end");
    tx.set_versionstamped_key(&key, 4, b"entry").unwrap();
    let commit = tx.commit().await.unwrap();
    let rows = scan(db.as_ref(), b"log/", b"log0").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0].key[4..14], &commit.versionstamp);
    assert_eq!(&rows[0].key[14..], b"/end");
    assert_eq!(&commit.versionstamp[..8], &commit.version.to_be_bytes());
    assert_eq!(rows[0].value, b"entry".to_vec());
}

/// Versionstamps of successive commits strictly increase, so versionstamped keys sort in
/// commit order.
pub async fn versionstamps_increase_across_commits(h: &dyn Harness) {
    let db = h.backend();
    let mut stamps = Vec::new();
    for i in 0..20u8 {
        let tx = begin(db.as_ref()).await;
        tx.set_versionstamped_key(&[b'q', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1, &[i])
            .unwrap();
        stamps.push(tx.commit().await.unwrap().versionstamp);
    }
    assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    let rows = scan(db.as_ref(), b"q", b"r").await;
    let values: Vec<u8> = rows.iter().map(|kv| kv.value[0]).collect();
    assert_eq!(values, (0..20).collect::<Vec<u8>>());
}

/// All versionstamped keys of one commit share its stamp.
pub async fn versionstamp_is_shared_within_a_commit(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.set_versionstamped_key(&[b'a'; 11], 1, b"1").unwrap();
    tx.set_versionstamped_key(&[b'b'; 11], 1, b"2").unwrap();
    let commit = tx.commit().await.unwrap();
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(&row.key[1..], &commit.versionstamp);
    }
}

/// Mutations apply in order: a range clear made after a versionstamped key in the same
/// transaction removes the stamped key if it covers it; one made before does not.
pub async fn versionstamped_key_then_clear_range_applies_in_order(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.set_versionstamped_key(&[b'x'; 11], 1, b"cleared later")
        .unwrap();
    tx.clear_range(b"x", b"y").unwrap();
    tx.set_versionstamped_key(&[b'y'; 11], 1, b"kept").unwrap();
    tx.clear_range(b"a", b"b").unwrap();
    tx.commit().await.unwrap();
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key[0], b'y');
    assert_eq!(rows[0].value, b"kept".to_vec());
}

/// A placeholder that does not fit in the key is refused, and nothing is buffered.
pub async fn versionstamp_offset_must_fit(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    let err = tx.set_versionstamped_key(&[0; 12], 3, b"").unwrap_err();
    assert_matches!(
        err,
        KvError::InvalidVersionstampOffset {
            offset: 3,
            key_len: 12
        }
    );
    tx.commit().await.unwrap();
    assert!(scan(db.as_ref(), b"", b"\xff").await.is_empty());
}

/// Every commit that writes gets a higher version than the one before.
pub async fn commit_versions_increase(h: &dyn Harness) {
    let db = h.backend();
    let mut last = 0;
    for i in 0..10u8 {
        let tx = begin(db.as_ref()).await;
        tx.set(b"k", &[i]).unwrap();
        let version = tx.commit().await.unwrap().version;
        assert!(version > last);
        last = version;
    }
}

/// A transaction that only read commits, even when what it read changed: it wrote nothing
/// that depended on it.
pub async fn read_only_commit_succeeds(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"1")]).await;
    let tx = begin(db.as_ref()).await;
    tx.get(b"k", false).await.unwrap();
    put(db.as_ref(), &[(b"k", b"2")]).await;
    tx.commit().await.expect("read-only commit");
}

// ---------------------------------------------------------------------------------------
// limits

/// A value of exactly 100,000 bytes is accepted; 100,001 is `ValueTooLarge`.
pub async fn value_size_limit_at_and_past_the_boundary(h: &dyn Harness) {
    let db = h.backend();
    let at = vec![7u8; MAX_VALUE_SIZE];
    let past = vec![7u8; MAX_VALUE_SIZE + 1];
    put(db.as_ref(), &[(b"at", &at)]).await;
    assert_eq!(
        get(db.as_ref(), b"at").await.map(|v| v.len()),
        Some(MAX_VALUE_SIZE)
    );
    let tx = begin(db.as_ref()).await;
    let err = tx.set(b"past", &past).unwrap_err();
    assert!(
        matches!(err, KvError::ValueTooLarge { size, limit } if size == MAX_VALUE_SIZE + 1 && limit == MAX_VALUE_SIZE)
    );
    let err = tx.set_versionstamped_key(&[0; 10], 0, &past).unwrap_err();
    assert_matches!(err, KvError::ValueTooLarge { .. });
    tx.commit().await.unwrap();
    assert_eq!(get(db.as_ref(), b"past").await, None);
}

/// A transaction older than 5 s fails its next read with the retryable `TransactionTooOld`.
pub async fn too_old_transaction_cannot_read(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"v")]).await;
    let tx = begin(db.as_ref()).await;
    tx.get(b"k", false).await.unwrap();
    h.age_past_read_version_limit().await;
    let err = tx.get(b"k", false).await.unwrap_err();
    assert_matches!(err, KvError::TransactionTooOld);
    assert!(err.is_retryable());
    let err = tx
        .get_range(b"a", b"z", RangeOptions::default())
        .await
        .unwrap_err();
    assert_matches!(err, KvError::TransactionTooOld);
    // A fresh transaction is fine.
    assert_eq!(get(db.as_ref(), b"k").await, Some(b"v".to_vec()));
}

/// A transaction older than 5 s cannot commit, and writes nothing.
pub async fn too_old_transaction_cannot_commit(h: &dyn Harness) {
    let db = h.backend();
    let tx = begin(db.as_ref()).await;
    tx.get(b"k", false).await.unwrap();
    tx.set(b"k", b"late").unwrap();
    h.age_past_read_version_limit().await;
    assert!(matches!(tx.commit().await, Err(KvError::TransactionTooOld)));
    assert_eq!(get(db.as_ref(), b"k").await, None);
}

// ---------------------------------------------------------------------------------------
// the retry loop

/// `run` retries a conflict: the first attempt is overtaken by another commit, the second
/// commits, and the counters show it.
pub async fn retry_loop_retries_a_conflict(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"n", &[0])]).await;
    let stats = Arc::new(RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let other = db.clone();
    let (seen, _) = run(db.as_ref(), &options, |tx| {
        let other = other.clone();
        async move {
            let n = tx.get(b"n", false).await?.unwrap_or_default()[0];
            if tx.attempt() == 1 {
                // Someone else commits in between.
                put(other.as_ref(), &[(b"n", &[10])]).await;
            }
            tx.set(b"n", &[n + 1])?;
            Ok(n)
        }
    })
    .await
    .unwrap();
    assert_eq!(seen, 10);
    assert_eq!(get(db.as_ref(), b"n").await, Some(vec![11]));
    assert_eq!(stats.attempts(), 2);
    assert_eq!(stats.conflicts(), 1);
    assert_eq!(stats.retries(), 1);
    assert_eq!(stats.commits(), 1);
}

/// A non-retryable error ends `run` at once, with nothing committed.
pub async fn retry_loop_does_not_retry_a_non_retryable_error(h: &dyn Harness) {
    let db = h.backend();
    let stats = Arc::new(RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let result = run(db.as_ref(), &options, |tx| async move {
        tx.set(b"k", b"v")?;
        tx.set(b"big", &vec![0; MAX_VALUE_SIZE + 1])?;
        Ok(())
    })
    .await;
    assert_matches!(result, Err(KvError::ValueTooLarge { .. }));
    assert_eq!(stats.attempts(), 1);
    assert_eq!(stats.retries(), 0);
    assert_eq!(get(db.as_ref(), b"k").await, None);
}

/// `run` stops after its attempt limit with `RetryLimitReached` carrying the last error.
pub async fn retry_loop_honours_its_attempt_limit(h: &dyn Harness) {
    let db = h.backend();
    let stats = Arc::new(RetryStats::default());
    let options = RetryOptions {
        max_attempts: 4,
        ..RetryOptions::default()
    }
    .with_stats(stats.clone());
    let result: coditect_core::kv::Result<((), _)> = run(db.as_ref(), &options, |tx| async move {
        tx.set(b"k", b"v")?;
        Err(KvError::Conflict)
    })
    .await;
    match result {
        Err(KvError::RetryLimitReached { attempts, last }) => {
            assert_eq!(attempts, 4);
            assert!(matches!(*last, KvError::Conflict));
        }
        other => panic!("expected RetryLimitReached, got {other:?}"),
    }
    assert_eq!(stats.attempts(), 4);
    assert_eq!(stats.retries(), 3);
    assert_eq!(get(db.as_ref(), b"k").await, None);
}

/// Dropping a transaction is a rollback: nothing it buffered is written.
pub async fn dropped_transaction_writes_nothing(h: &dyn Harness) {
    let db = h.backend();
    {
        let tx = begin(db.as_ref()).await;
        tx.set(b"k", b"v").unwrap();
        tx.atomic_add(b"n", 1).unwrap();
        tx.set_versionstamped_key(&[0; 10], 0, b"").unwrap();
    }
    assert!(scan(db.as_ref(), b"", b"\xff").await.is_empty());
}

/// A commit that fails with a conflict writes none of its mutations.
pub async fn failed_commit_writes_nothing(h: &dyn Harness) {
    let db = h.backend();
    put(db.as_ref(), &[(b"k", b"0"), (b"gone", b"still here")]).await;
    let tx = begin(db.as_ref()).await;
    tx.get(b"k", false).await.unwrap();
    tx.set(b"a", b"1").unwrap();
    tx.clear(b"gone").unwrap();
    tx.atomic_add(b"n", 1).unwrap();
    tx.set_versionstamped_key(&[b's'; 11], 1, b"").unwrap();
    put(db.as_ref(), &[(b"k", b"1")]).await;
    assert!(matches!(tx.commit().await, Err(KvError::Conflict)));
    let rows = scan(db.as_ref(), b"", b"\xff").await;
    assert_eq!(keys(&rows), bytes(&["gone", "k"]));
}

// ---------------------------------------------------------------------------------------
// concurrency invariants

/// The bank: 8 tasks on a multi-threaded runtime make 1,000 random transfers among 10
/// accounts through `run`. Money is never created or lost, no balance goes negative, and
/// conflicts really happened (so the invariant was tested under contention).
pub async fn bank_transfers_keep_the_total(h: &dyn Harness) {
    const ACCOUNTS: u8 = 10;
    const START: i64 = 1_000;
    const TRANSFERS: u64 = 1_000;
    let db = h.backend();
    let account = |i: u8| format!("bank/{i:02}").into_bytes();
    let tx = begin(db.as_ref()).await;
    for i in 0..ACCOUNTS {
        tx.set(&account(i), &START.to_le_bytes()).unwrap();
    }
    tx.commit().await.unwrap();

    let stats = Arc::new(RetryStats::default());
    let options = RetryOptions::default().with_stats(stats.clone());
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (db, options, done) = (db.clone(), options.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while done.fetch_add(1, Ordering::SeqCst) < TRANSFERS {
                let from = fastrand::u8(0..ACCOUNTS);
                let to = (from + fastrand::u8(1..ACCOUNTS)) % ACCOUNTS;
                let amount = fastrand::i64(1..=300);
                let (a, b) = (account(from), account(to));
                run(db.as_ref(), &options, |tx| {
                    let (a, b) = (a.clone(), b.clone());
                    async move {
                        let from_balance = i64_value(tx.get(&a, false).await?);
                        let to_balance = i64_value(tx.get(&b, false).await?);
                        // Give other tasks a chance to interleave, as real work would.
                        tokio::task::yield_now().await;
                        if from_balance >= amount {
                            tx.set(&a, &(from_balance - amount).to_le_bytes())?;
                            tx.set(&b, &(to_balance + amount).to_le_bytes())?;
                        }
                        Ok(())
                    }
                })
                .await
                .expect("a transfer commits within the retry limit");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let rows = scan(db.as_ref(), b"bank/", b"bank0").await;
    assert_eq!(rows.len(), usize::from(ACCOUNTS));
    let balances: Vec<i64> = rows
        .into_iter()
        .map(|kv| i64_value(Some(kv.value)))
        .collect();
    assert!(
        balances.iter().all(|b| *b >= 0),
        "negative balance: {balances:?}"
    );
    assert_eq!(balances.iter().sum::<i64>(), START * i64::from(ACCOUNTS));
    assert_eq!(stats.commits(), TRANSFERS);
    assert!(
        stats.conflicts() > 0,
        "no conflict happened: the test did not contend"
    );
    assert!(stats.retries() > 0);
}

/// The contract's retry loop with the contract's own error, as a user of a backend alone runs
/// it (the model layer's `coditect_core::run` is the same loop with the model's error).
async fn run<T, F, Fut>(
    db: &dyn KvBackend,
    options: &RetryOptions,
    body: F,
) -> coditect_core::kv::Result<(T, coditect_core::CommitInfo)>
where
    F: FnMut(coditect_core::RetryTx) -> Fut,
    Fut: std::future::Future<Output = coditect_core::kv::Result<T>>,
{
    coditect_core::kv::run(db, options, body).await
}
