//! [`AuditPosition`]: where an event sits in its tenant's trail, the complete versionstamp of
//! its key. Events and their index entries end in the same 13 bytes (the tuple code of a
//! versionstamp, then the stamp), so a position leads from any of them to the event.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kv::key_after;

/// The tuple type code of a versionstamp.
const VERSIONSTAMP_CODE: u8 = 0x33;
/// Bytes of a packed versionstamp element: its code, 10 bytes of commit stamp, 2 of user
/// version.
const PACKED_LEN: usize = 13;

/// An event's place in commit order: the 10-byte commit versionstamp (8 bytes of commit
/// version, 2 of batch order, big-endian) and the 2-byte order of the event within its
/// transaction. Positions order exactly as the events' keys do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuditPosition([u8; 12]);

impl AuditPosition {
    /// The position of the first event a commit with this versionstamp
    /// ([`CommitInfo::versionstamp`](crate::CommitInfo)) wrote: a bound for queries by time.
    pub fn of_commit(versionstamp: [u8; 10]) -> Self {
        let mut bytes = [0u8; 12];
        bytes[..10].copy_from_slice(&versionstamp);
        AuditPosition(bytes)
    }

    /// The position from its 12 bytes.
    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        AuditPosition(bytes)
    }

    /// Its 12 bytes.
    pub fn to_bytes(self) -> [u8; 12] {
        self.0
    }

    /// The commit version of the transaction that wrote the event.
    pub fn commit_version(self) -> u64 {
        let mut version = [0u8; 8];
        version.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(version)
    }

    /// The event's order within its transaction.
    pub fn user_version(self) -> u16 {
        u16::from_be_bytes([self.0[10], self.0[11]])
    }

    /// The position a key (an event's, or an index entry's) ends with.
    pub fn of_key(key: &[u8]) -> Result<Self> {
        let start = key.len().checked_sub(PACKED_LEN).ok_or_else(not_stamped)?;
        let tail = &key[start..];
        if tail[0] != VERSIONSTAMP_CODE {
            return Err(not_stamped());
        }
        let mut bytes = [0u8; 12];
        bytes.copy_from_slice(&tail[1..]);
        Ok(AuditPosition(bytes))
    }

    /// `prefix` followed by this position as a tuple element.
    pub(crate) fn key_under(self, prefix: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(prefix.len() + PACKED_LEN);
        key.extend_from_slice(prefix);
        key.push(VERSIONSTAMP_CODE);
        key.extend_from_slice(&self.0);
        key
    }

    /// The first key under `prefix` after this position's.
    pub(crate) fn key_after_under(self, prefix: &[u8]) -> Vec<u8> {
        key_after(&self.key_under(prefix))
    }
}

impl fmt::Display for AuditPosition {
    /// Commit version, batch order and user version, as `version.batch.user`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let batch = u16::from_be_bytes([self.0[8], self.0[9]]);
        write!(
            f,
            "{}.{}.{}",
            self.commit_version(),
            batch,
            self.user_version()
        )
    }
}

fn not_stamped() -> Error {
    Error::Decode {
        what: "audit key",
        reason: "does not end with a complete versionstamp".into(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_through_a_key_and_orders_as_keys_do() {
        let a = AuditPosition::from_bytes([0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 2]);
        let b = AuditPosition::of_commit([0, 0, 0, 0, 0, 0, 0, 10, 0, 0]);
        let prefix = b"prefix".to_vec();
        assert_eq!(AuditPosition::of_key(&a.key_under(&prefix)).unwrap(), a);
        assert!(a < b && a.key_under(&prefix) < b.key_under(&prefix));
        assert!(a.key_after_under(&prefix) < b.key_under(&prefix));
        assert_eq!((a.commit_version(), a.user_version()), (9, 2));
        assert_eq!(a.to_string(), "9.1.2");
        assert!(AuditPosition::of_key(b"short").is_err());
    }
}
