//! Mapping sled's errors onto [`coditect_core::Error`], keeping sled's error as the source.

use std::path::Path;

use coditect_core::Error;

/// A sled failure during normal operation: I/O stays [`Error::Io`], everything else
/// (corruption, sled bugs) becomes [`Error::Backend`] with sled's error as its source.
pub(crate) fn from_sled(error: sled::Error) -> Error {
    match error {
        sled::Error::Io(io) => Error::Io(io),
        other => Error::Backend {
            code: None,
            message: format!("sled: {other}"),
            source: Some(Box::new(other)),
        },
    }
}

/// A failure to open the store at `path`: always [`Error::Backend`] so the message can name
/// the path, with the underlying error kept as the source.
pub(crate) fn open_failed(
    path: &Path,
    what: impl std::fmt::Display,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Backend {
        code: None,
        message: format!(
            "cannot open coditect-sled store at {}: {what}",
            path.display()
        ),
        source,
    }
}
