//! Mapping sled's errors onto [`coditect_core::KvError`], keeping sled's error as the source.

use std::path::Path;

use coditect_core::KvError;

/// A sled failure during normal operation: I/O stays [`KvError::Io`], everything else
/// (corruption, sled bugs) becomes [`KvError::Backend`] with sled's error as its source.
pub(crate) fn from_sled(error: sled::Error) -> KvError {
    match error {
        sled::Error::Io(io) => KvError::Io(io),
        other => KvError::Backend {
            code: None,
            message: format!("sled: {other}"),
            source: Some(Box::new(other)),
        },
    }
}

/// A failure to open the store at `path`: always [`KvError::Backend`] so the message can name
/// the path, with the underlying error kept as the source.
pub(crate) fn open_failed(
    path: &Path,
    what: impl std::fmt::Display,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> KvError {
    KvError::Backend {
        code: None,
        message: format!(
            "cannot open coditect-sled store at {}: {what}",
            path.display()
        ),
        source,
    }
}
