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
