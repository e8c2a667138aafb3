//! The decoders that read bytes from storage (and so from whoever could write there), as
//! functions of arbitrary bytes: the fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/corpus.rs`) call the same functions, so what the fuzzer finds is replayed on stable.
//!
//! Each function must return (an `Ok` or an error, either is fine) for every input: a panic, a
//! hang or an allocation out of proportion to the input is the bug.

use coditect_core::audit::AuditEvent;
use coditect_core::keys::{decode_key, tenant_of_key};
use coditect_core::model::role::Role;
use coditect_core::model::{
    AgentConfig, AgentExecution, AgentInstance, ApiKey, Comment, Conversation, Entity, File,
    Member, Message, Project, RoleAssignment, Session, Setting, Task, Tenant, Usage, User,
    Workflow, WorkflowVersion,
};
use coditect_core::value::{decode, Versioned};
use coditect_ops::backup::{BackupTrailer, FORMAT_VERSION, MAGIC};
use coditect_ops::verify_backup;
use sha2::{Digest, Sha256};

/// Feeds `data` to every tuple-key decoder of `coditect_core::keys`. Returns how many decoded.
pub fn tuple_key(data: &[u8]) -> usize {
    let mut decoded = 0;
    if let Ok(elements) = decode_key(data) {
        decoded += 1;
        // What decodes re-encodes to a key that decodes to the same elements. (Not always to
        // the same bytes: the decoder accepts non-minimal integers, e.g. `15 00` for 0, which
        // our encoder never writes; the fuzzer found it, see corpus `noncanonical_int`.)
        let again = foundationdb_tuple::pack(&elements);
        assert_eq!(
            decode_key(&again).ok().as_ref(),
            Some(&elements),
            "a decoded key does not survive re-encoding"
        );
    }
    if let Some(tenant) = tenant_of_key(data) {
        decoded += 1;
        assert!(
            data.starts_with(&tenant.prefix()),
            "tenant_of_key named a tenant whose prefix the key does not start with"
        );
    }
    decoded
}

fn one<T: Versioned>(data: &[u8]) -> usize {
    usize::from(decode::<T>(data).is_ok())
}

/// Feeds `data` to the versioned-value decoder of every stored type (the models and the audit
/// event). Returns how many decoded.
pub fn value(data: &[u8]) -> usize {
    one::<Tenant>(data)
        + one::<User>(data)
        + one::<Member>(data)
        + one::<Entity>(data)
        + one::<Project>(data)
        + one::<Task>(data)
        + one::<Comment>(data)
        + one::<File>(data)
        + one::<AgentConfig>(data)
        + one::<AgentExecution>(data)
        + one::<AgentInstance>(data)
        + one::<ApiKey>(data)
        + one::<Conversation>(data)
        + one::<Message>(data)
        + one::<Role>(data)
        + one::<RoleAssignment>(data)
        + one::<Session>(data)
        + one::<Setting>(data)
        + one::<Usage>(data)
        + one::<Workflow>(data)
        + one::<WorkflowVersion>(data)
        + one::<AuditEvent>(data)
}

/// Feeds `data` to the backup-file decoder (`ops::verify_backup`, the import's first pass)
/// twice: as it is, and re-laid as frames with correct checks ([`framed_backup`]), so that the
/// fuzzer gets past the checksums into the frame contents. Returns how many verified.
pub fn backup(data: &[u8]) -> usize {
    usize::from(verify_backup(data).is_ok())
        + usize::from(verify_backup(&framed_backup(data)).is_ok())
}

/// A backup file whose frames are cut from `data` (per frame: one byte picks the kind, two
/// give the payload length, then the payload), each with its correct check, and whose trailer,
/// when its payload decodes as one, carries the file's real SHA-256: what a file damaged
/// *inside* its frames, with the damage checksummed over, looks like.
pub fn framed_backup(data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let mut file_hash = Sha256::new();
    file_hash.update(&out);
    let mut rest = data;
    let mut index = 0u32;
    while rest.len() >= 3 && index < 64 {
        let kind = match (index, rest[0] % 8) {
            (0, _) => b'H',
            (_, 0) => b'H',
            (_, 7) => b'T',
            _ => b'D',
        };
        let length = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let mut payload = rest[3..3 + length].to_vec();
        rest = &rest[3 + length..];
        if kind == b'T' {
            if let Ok(mut trailer) = postcard::from_bytes::<BackupTrailer>(&payload) {
                trailer.sha256 = file_hash.clone().finalize().into();
                payload = postcard::to_stdvec(&trailer).unwrap_or(payload);
            }
        }
        let mut head = vec![kind];
        head.extend_from_slice(&index.to_le_bytes());
        head.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        let mut check = Sha256::new();
        check.update(&head);
        check.update(&payload);
        let check = check.finalize();
        for part in [&head[..], &payload[..], &check[..8]] {
            out.extend_from_slice(part);
            if kind != b'T' {
                file_hash.update(part);
            }
        }
        index += 1;
    }
    out
}
