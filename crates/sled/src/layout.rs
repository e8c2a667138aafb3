//! How the store lays out its keys in sled's default tree.
//!
//! One tree, two prefixes: user data under `0x01`, the store's own records (format marker,
//! commit record) under `0x00`, so user keys keep the whole byte range, the empty key
//! included, for one byte per key.

/// Prefix of every user key.
pub(crate) const DATA: u8 = 0x01;

/// The key holding the format marker, written once when the store is created.
pub(crate) const FORMAT_KEY: &[u8] = b"\x00format";

/// What [`FORMAT_KEY`] holds in stores this version of the crate reads and writes.
pub(crate) const FORMAT: &[u8] = b"coditect-sled v1";

/// The key holding the last commit's record (see the `commit_record` module), written
/// before the commit's writes.
pub(crate) const COMMIT_KEY: &[u8] = b"\x00commit";

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
