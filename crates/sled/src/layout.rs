//! How the store lays out its keys in sled's default tree.
//!
//! One tree, two prefixes: user data under `0x01`, the store's own records under `0x00`.
//! Keeping both in one tree is what makes a commit atomic cheaply: sled recovers a `Batch`
//! applied to one tree all or nothing, while spanning a separate metadata tree would need
//! sled's multi-tree transactions (slower, with their own retry loop) for the same promise.
//! The prefix costs a byte per key and leaves user keys the whole byte range, the empty key
//! included.

/// Prefix of every user key.
pub(crate) const DATA: u8 = 0x01;

/// The key holding the format marker, written once when the store is created.
pub(crate) const FORMAT_KEY: &[u8] = b"\x00format";

/// What [`FORMAT_KEY`] holds in stores this version of the crate reads and writes.
pub(crate) const FORMAT: &[u8] = b"coditect-sled v1";

/// The key holding the version of the last applied commit (8 bytes, big-endian), written in
/// every commit's batch.
pub(crate) const VERSION_KEY: &[u8] = b"\x00version";

/// The sled key of user key `key`.
pub(crate) fn data_key(key: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(key.len() + 1);
    stored.push(DATA);
    stored.extend_from_slice(key);
    stored
}

/// The user key of sled key `stored`, or `None` when it is not a data key.
pub(crate) fn user_key(stored: &[u8]) -> Option<&[u8]> {
    match stored.split_first() {
        Some((&DATA, key)) => Some(key),
        _ => None,
    }
}
