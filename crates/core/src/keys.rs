//! Tuple-encoded keys: the one place that knows the shape of the keyspace.
//!
//! Every key is a FoundationDB tuple (the `foundationdb-tuple` crate), so any FoundationDB tool
//! in any language can decode it:
//!
//! ```text
//! (tenant_uuid, collection, record_id)                    a record
//! (tenant_uuid, "idx", index_name, value..., record_id)   one entry of an index
//! (tenant_uuid, "audit", versionstamp)                    one audit event
//! (tenant_uuid, "idx", "audit_by_actor", member, stamp)   an audit index entry, ending in
//! (tenant_uuid, "idx", "audit_by_target", model, id, stamp)    its event's versionstamp
//! (tenant_uuid, "meta", "audit", "head")                  the audit seal's head
//! (tenant_uuid, "meta", "audit", "window", n)             the audit seal's n-th window
//! (tenant_uuid, "meta", "audit", "carried")               what an import carried over
//! (tenant_uuid, "meta", "audit", "carried", n)            source positions of carried events
//! (tenant_uuid, "meta", "lineage", source)                an import's lineage record
//! (tenant_uuid, "ref", target_collection, target_id,
//!     source_collection, field, source_id)                 a reference, reversed: the
//!                                                          source's field names the target
//! (tenant_uuid, "meta", "count", counter)                 a per-tenant counter
//! (tenant_uuid, "meta", "record_count", collection, id)   a counter of one record
//! (tenant_uuid, "cred", user_id)                          a user's password hash
//! ("sys", "tenant", tenant_uuid)                          the tenant registry
//! ("sys", "tenant_by_domain", domain)                     the global domain index
//! ("sys", "tenant_op", tenant_uuid)                       an unfinished operation's marker
//! ("sys", "erasure", tenant_uuid)                         the record an erase leaves
//! ```
//!
//! A tenant key starts with the tuple code of a UUID (0x30) followed by its 16 bytes, a system
//! key with the code of a string (0x02): the two never overlap, and one tenant is one contiguous
//! range. The builders for tenant keys are crate-private: only [`TenantTx`](crate::TenantTx)
//! calls them, with its own prefix.

use std::fmt;

use foundationdb_tuple::{pack, pack_into, Element, TuplePack, Versionstamp, VersionstampOffset};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::kv::prefix_end;

/// The first element of every system key.
pub const SYSTEM: &str = "sys";
/// The collection of index entries inside a tenant.
pub const INDEX: &str = "idx";
/// The collection of audit events inside a tenant.
pub const AUDIT: &str = "audit";
/// The collection of counters inside a tenant.
pub const META: &str = "meta";
/// The collection of reversed references inside a tenant: who refers to a record.
pub const REFS: &str = "ref";
/// Collections that records may not use, since the layer keeps its own data there.
pub(crate) const RESERVED: [&str; 5] = [INDEX, AUDIT, META, CREDENTIALS, REFS];
/// The collection of password hashes, kept apart from the user record so the hash is never
/// decoded, listed or digested with it.
pub const CREDENTIALS: &str = "cred";

/// A tenant's id: a UUID that is not nil. It leads every key of the tenant's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// The tenant id `uuid`; the nil UUID is [`Error::InvalidInput`].
    pub fn new(uuid: Uuid) -> Result<Self> {
        if uuid.is_nil() {
            return Err(Error::InvalidInput {
                field: "tenant_id",
                reason: "the nil UUID is not an id".into(),
            });
        }
        Ok(TenantId(uuid))
    }

    /// A fresh random (v4) tenant id: random ids spread tenants evenly over FoundationDB's
    /// shards. Replayed across the attempts of a [`run`](crate::run) like record ids.
    pub fn generate() -> Self {
        TenantId(crate::replay::uuid_v4())
    }

    /// The UUID.
    pub fn uuid(self) -> Uuid {
        self.0
    }

    /// The key prefix of all of this tenant's data: the tuple `(uuid,)`.
    pub fn prefix(self) -> Vec<u8> {
        pack(&self.0)
    }

    /// The range `[begin, end)` holding all of this tenant's data.
    pub fn range(self) -> (Vec<u8>, Vec<u8>) {
        let begin = self.prefix();
        // The prefix starts with 0x30, so it always has an end.
        let end = prefix_end(&begin).unwrap_or_else(|| vec![0xFF]);
        (begin, end)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One element of a key after the collection: what an index is keyed by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPart {
    /// A string (tuple code 0x02).
    Str(String),
    /// A UUID (tuple code 0x30).
    Uuid(Uuid),
    /// An integer (tuple integer codes).
    Int(i64),
    /// Nothing (tuple code 0x00): e.g. "no parent".
    Null,
}

impl KeyPart {
    fn element(&self) -> Element<'_> {
        match self {
            KeyPart::Str(s) => Element::String(s.as_str().into()),
            KeyPart::Uuid(u) => Element::Uuid(*u),
            KeyPart::Int(i) => Element::Int(*i),
            KeyPart::Null => Element::Nil,
        }
    }
}

impl From<&str> for KeyPart {
    fn from(s: &str) -> Self {
        KeyPart::Str(s.to_owned())
    }
}
impl From<String> for KeyPart {
    fn from(s: String) -> Self {
        KeyPart::Str(s)
    }
}
impl From<Uuid> for KeyPart {
    fn from(u: Uuid) -> Self {
        KeyPart::Uuid(u)
    }
}
impl From<i64> for KeyPart {
    fn from(i: i64) -> Self {
        KeyPart::Int(i)
    }
}

/// Appends tuple elements to a key prefix.
struct KeyBuf(Vec<u8>);

impl KeyBuf {
    fn from_prefix(prefix: &[u8]) -> Self {
        KeyBuf(prefix.to_vec())
    }
    fn push<T: TuplePack>(mut self, element: T) -> Self {
        pack_into(&element, &mut self.0);
        self
    }
    fn parts(mut self, parts: &[KeyPart]) -> Self {
        for part in parts {
            pack_into(&part.element(), &mut self.0);
        }
        self
    }
}

/// The key of record `id` of `collection`.
pub fn record_key(prefix: &[u8], collection: &str, id: Uuid) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(collection).push(id).0
}

/// The prefix of every record of `collection`.
pub(crate) fn collection_prefix(prefix: &[u8], collection: &str) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(collection).0
}

/// The prefix of every entry of `index` whose values start with `values`.
pub(crate) fn index_prefix(prefix: &[u8], index: &str, values: &[KeyPart]) -> Vec<u8> {
    KeyBuf::from_prefix(prefix)
        .push(INDEX)
        .push(index)
        .parts(values)
        .0
}

/// The key of the entry of `index` for `values` pointing at record `id`.
pub fn index_key(prefix: &[u8], index: &str, values: &[KeyPart], id: Uuid) -> Vec<u8> {
    KeyBuf::from_prefix(prefix)
        .push(INDEX)
        .push(index)
        .parts(values)
        .push(id)
        .0
}

/// The key saying that record `source_id` of `source_collection` refers to record
/// `target_id` of `target_collection` by `field`, valued empty: what a delete of the target
/// reads to refuse while others still refer to it.
pub fn reference_key(
    prefix: &[u8],
    target_collection: &str,
    target_id: Uuid,
    source_collection: &str,
    field: &str,
    source_id: Uuid,
) -> Vec<u8> {
    KeyBuf(referrers_prefix(prefix, target_collection, target_id))
        .push(source_collection)
        .push(field)
        .push(source_id)
        .0
}

/// The prefix of every [`reference_key`] to record `target_id` of `target_collection`.
pub(crate) fn referrers_prefix(prefix: &[u8], target_collection: &str, target_id: Uuid) -> Vec<u8> {
    KeyBuf::from_prefix(prefix)
        .push(REFS)
        .push(target_collection)
        .push(target_id)
        .0
}

/// The referring `(source_collection, field, source_id)` a [`reference_key`] holds.
pub fn referrer_of_key(key: &[u8]) -> Result<(String, String, Uuid)> {
    let elements = decode_key(key)?;
    match elements.as_slice() {
        [_, _, _, _, source, field, Element::Uuid(id)] => match (source.as_str(), field.as_str()) {
            (Some(source), Some(field)) => Ok((source.to_owned(), field.to_owned(), *id)),
            _ => Err(bad_key("reference key without its source and field")),
        },
        _ => Err(bad_key("reference key of the wrong shape")),
    }
}

/// Length of a tuple-encoded UUID: its code and 16 bytes.
const PACKED_UUID_LEN: usize = 17;

/// The record id an index entry points at: the UUID its key ends with.
pub fn id_of_index_key(key: &[u8]) -> Result<Uuid> {
    let tail = key
        .len()
        .checked_sub(PACKED_UUID_LEN)
        .map(|start| &key[start..])
        .ok_or_else(|| bad_key("index key too short"))?;
    foundationdb_tuple::unpack::<Uuid>(tail).map_err(|e| Error::Decode {
        what: "index key",
        reason: "does not end with a UUID".into(),
        source: Some(Box::new(e)),
    })
}

fn bad_key(reason: &str) -> Error {
    Error::Decode {
        what: "key",
        reason: reason.into(),
        source: None,
    }
}

/// The key of a per-tenant counter.
pub fn counter_key(prefix: &[u8], counter: &str) -> Vec<u8> {
    KeyBuf::from_prefix(&counters_prefix(prefix))
        .push(counter)
        .0
}

/// The prefix of every per-tenant counter key under the tenant `prefix`; the rest of a
/// counter's key is its name, a packed string.
pub fn counters_prefix(prefix: &[u8]) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(META).push("count").0
}

/// The key of the tenant meter counter `name` under the tenant `prefix`
/// ([`meter`](crate::meter)): `(t, "meta", "meter", name)`, apart from the model's counters
/// under `("meta", "count")`, which `tenant check` compares with the records.
pub fn meter_key(prefix: &[u8], name: &str) -> Vec<u8> {
    KeyBuf::from_prefix(&meters_prefix(prefix)).push(name).0
}

/// The prefix of every tenant meter counter under the tenant `prefix`.
pub fn meters_prefix(prefix: &[u8]) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(META).push("meter").0
}

/// The key of a counter kept for one record (e.g. the messages of a conversation): apart from
/// the per-tenant aggregates under `("meta", "count")`, which analytics reads.
pub(crate) fn record_counter_key(prefix: &[u8], collection: &str, id: Uuid) -> Vec<u8> {
    KeyBuf::from_prefix(prefix)
        .push(META)
        .push("record_count")
        .push(collection)
        .push(id)
        .0
}

/// An audit key with an incomplete versionstamp (`user_version` orders events of one
/// transaction), and the offset of the 10 bytes the commit fills in.
pub fn audit_key(prefix: &[u8], user_version: u16) -> Result<(Vec<u8>, u32)> {
    with_versionstamp(audit_prefix(prefix), user_version)
}

/// The prefix of a tenant's audit events.
pub(crate) fn audit_prefix(prefix: &[u8]) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(AUDIT).0
}

/// Appends an incomplete versionstamp to `key`; returns the key and the offset of the 10
/// bytes the commit fills in.
fn with_versionstamp(mut key: Vec<u8>, user_version: u16) -> Result<(Vec<u8>, u32)> {
    let start = u32::try_from(key.len()).map_err(|_| bad_key("prefix too long"))?;
    match pack_into(&Versionstamp::incomplete(user_version), &mut key) {
        VersionstampOffset::OneIncomplete { offset } => Ok((key, start + offset)),
        _ => Err(bad_key("versionstamp placeholder missing")),
    }
}

/// The audit index by actor: `(tenant, "idx", "audit_by_actor", member or nil, stamp)`.
pub const AUDIT_BY_ACTOR: &str = "audit_by_actor";
/// The audit index by target: `(tenant, "idx", "audit_by_target", model, id, stamp)`.
pub const AUDIT_BY_TARGET: &str = "audit_by_target";

/// An audit index entry with an incomplete versionstamp (the same stamp and user version as
/// its event), and the offset the commit fills in.
pub fn audit_index_key(
    prefix: &[u8],
    index: &str,
    values: &[KeyPart],
    user_version: u16,
) -> Result<(Vec<u8>, u32)> {
    with_versionstamp(index_prefix(prefix, index, values), user_version)
}

/// The key of a tenant's audit seal state: `(tenant, "meta", "audit", name...)`.
pub fn audit_meta_key(prefix: &[u8], name: &str, number: Option<i64>) -> Vec<u8> {
    let key = KeyBuf::from_prefix(prefix)
        .push(META)
        .push(AUDIT)
        .push(name);
    match number {
        Some(n) => key.push(n).0,
        None => key.0,
    }
}

/// The prefixes of a tenant that only the crate's own modules write, with the reason a public
/// write there is refused: the reverse references (the record layer), the audit events and
/// the two audit indexes, the seal state `(tenant, "meta", "audit", ...)` and the lineage
/// records `(tenant, "meta", "lineage", ...)` an import leaves.
pub(crate) fn protected_prefixes(prefix: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    vec![
        (
            KeyBuf::from_prefix(prefix).push(REFS).0,
            "reverse references are written only by the record layer",
        ),
        (audit_prefix(prefix), "audit events are append-only"),
        (
            index_prefix(prefix, AUDIT_BY_ACTOR, &[]),
            "the audit index by actor is written only by the audit trail",
        ),
        (
            index_prefix(prefix, AUDIT_BY_TARGET, &[]),
            "the audit index by target is written only by the audit trail",
        ),
        (
            KeyBuf::from_prefix(prefix).push(META).push(AUDIT).0,
            "the audit seal state is written only by the sealer",
        ),
        (
            lineage_prefix(prefix),
            "lineage records are written only by import",
        ),
    ]
}

/// The prefix of a tenant's lineage records: `(tenant, "meta", "lineage")`.
pub(crate) fn lineage_prefix(prefix: &[u8]) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).push(META).push("lineage").0
}

/// The key of the lineage record an import from `source` left: `(tenant, "meta", "lineage",
/// source)`.
pub fn lineage_key(prefix: &[u8], source: Uuid) -> Vec<u8> {
    KeyBuf::from_prefix(prefix)
        .push(META)
        .push("lineage")
        .push(source)
        .0
}

/// The registry key of a tenant: `("sys", "tenant", uuid)`.
pub fn tenant_registry_key(tenant: TenantId) -> Vec<u8> {
    pack(&(SYSTEM, "tenant", tenant.uuid()))
}

/// The marker of the operation holding a tenant: `("sys", "tenant_op", uuid)`
/// ([`registry::TenantOp`](crate::registry::TenantOp)).
pub fn tenant_op_key(tenant: TenantId) -> Vec<u8> {
    pack(&(SYSTEM, "tenant_op", tenant.uuid()))
}

/// The record an erase of a tenant leaves: `("sys", "erasure", uuid)`
/// ([`registry::Erasure`](crate::registry::Erasure)).
pub fn erasure_key(tenant: TenantId) -> Vec<u8> {
    pack(&(SYSTEM, "erasure", tenant.uuid()))
}

/// The first key past every key that starts with `prefix`, a tuple-encoded prefix. Every tuple
/// element begins with a type code below 0xFF, so such a prefix always has an end; an error
/// here means the prefix was not built by this module.
pub fn prefix_range_end(prefix: &[u8]) -> Result<Vec<u8>> {
    crate::kv::prefix_end(prefix).ok_or_else(|| Error::InvalidInput {
        field: "key prefix",
        reason: "empty or only 0xFF bytes: not a tuple-encoded prefix, so it has no range end"
            .into(),
    })
}

/// The range `[begin, end)` of tenant `tenant`'s keys in `collection`, the tuple element
/// after the tenant's id (`task`, `idx`, `audit`, `meta`, ...): for tools that show raw keys.
pub fn collection_range(tenant: TenantId, collection: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let begin = pack(&(tenant.uuid(), collection));
    let end = prefix_range_end(&begin)?;
    Ok((begin, end))
}

/// The range of every registry entry: `("sys", "tenant", *)`.
pub fn tenant_registry_range() -> (Vec<u8>, Vec<u8>) {
    let prefix = pack(&(SYSTEM, "tenant"));
    // A packed tuple ends in 0x00 (the string's terminator), never 0xFF, so it has an end.
    let end = crate::kv::prefix_end(&prefix).unwrap_or_else(|| prefix.clone());
    (prefix, end)
}

/// The global domain index: `("sys", "tenant_by_domain", domain)`, valued by the tenant's
/// UUID.
pub fn tenant_domain_key(domain: &str) -> Vec<u8> {
    pack(&(SYSTEM, "tenant_by_domain", domain))
}

/// Decodes a stored key into its tuple elements (for tools, tests and audits of the
/// keyspace).
pub fn decode_key(key: &[u8]) -> Result<Vec<Element<'static>>> {
    let elements: Vec<Element<'_>> =
        foundationdb_tuple::unpack(key).map_err(|e| Error::Decode {
            what: "key",
            reason: "not a tuple".into(),
            source: Some(Box::new(e)),
        })?;
    Ok(elements.into_iter().map(Element::into_owned).collect())
}

/// The tenant whose data `key` is, or `None` for a system key (or anything not a tenant key).
pub fn tenant_of_key(key: &[u8]) -> Option<TenantId> {
    let head = key.get(..PACKED_UUID_LEN)?;
    let uuid = foundationdb_tuple::unpack::<Uuid>(head).ok()?;
    TenantId::new(uuid).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_start_with_the_uuid_and_system_keys_with_sys() {
        let t = TenantId::generate();
        let key = record_key(&t.prefix(), "task", Uuid::now_v7());
        assert_eq!(key[0], 0x30);
        assert_eq!(tenant_of_key(&key), Some(t));
        let sys = tenant_registry_key(t);
        assert_eq!(sys[0], 0x02);
        assert_eq!(tenant_of_key(&sys), None);
        let (begin, end) = t.range();
        assert!(key.as_slice() >= begin.as_slice() && key < end);
    }

    #[test]
    fn index_keys_end_with_the_id_and_decode_as_tuples() {
        let t = TenantId::generate();
        let id = Uuid::new_v4();
        let key = index_key(&t.prefix(), "user_by_email", &["a@b.c".into()], id);
        assert_eq!(id_of_index_key(&key).unwrap(), id);
        let elements = decode_key(&key).unwrap();
        assert_eq!(elements.len(), 5);
        assert_eq!(elements[0].as_uuid(), Some(&t.uuid()));
        assert_eq!(elements[2].as_str(), Some("user_by_email"));
        assert!(key.starts_with(&index_prefix(
            &t.prefix(),
            "user_by_email",
            &["a@b.c".into()]
        )));
        assert!(!key.starts_with(&index_prefix(&t.prefix(), "user_by_email", &["a@b".into()])));
    }

    #[test]
    fn reference_keys_sit_under_their_target_and_name_their_source() {
        let t = TenantId::generate();
        let (target, source) = (Uuid::new_v4(), Uuid::now_v7());
        let key = reference_key(&t.prefix(), "member", target, "task", "reporter", source);
        assert!(key.starts_with(&referrers_prefix(&t.prefix(), "member", target)));
        assert!(!key.starts_with(&referrers_prefix(&t.prefix(), "member", source)));
        assert_eq!(
            referrer_of_key(&key).unwrap(),
            ("task".to_owned(), "reporter".to_owned(), source)
        );
        assert!(referrer_of_key(&record_key(&t.prefix(), "task", source)).is_err());
    }

    #[test]
    fn audit_key_offset_points_at_the_placeholder() {
        let t = TenantId::generate();
        let (key, offset) = audit_key(&t.prefix(), 7).unwrap();
        let o = offset as usize;
        assert_eq!(&key[o..o + 10], &[0xFF; 10]);
        assert_eq!(&key[o + 10..], &7u16.to_be_bytes());
    }

    #[test]
    fn nil_tenant_is_rejected() {
        assert!(matches!(
            TenantId::new(Uuid::nil()),
            Err(Error::InvalidInput { .. })
        ));
    }
}
