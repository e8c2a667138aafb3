//! Which cluster file a backend opens: an explicit path, else `FDB_CLUSTER_FILE`, else the
//! platform's default location, and a clear error when none of them holds one.
//!
//! FoundationDB would search the same places itself, but its answer to a missing file is a bare
//! `no_cluster_file_found` (1515), or a client that waits forever for a cluster written in a
//! stale file. Deciding here lets the error say which path was tried and why.

use std::path::{Path, PathBuf};

use coditect_core::{Error, Result};

/// The environment variable FoundationDB's clients read the cluster file path from.
pub const CLUSTER_FILE_ENV: &str = "FDB_CLUSTER_FILE";

/// Where the client packages install the cluster file on Linux (FoundationDB's
/// `default_config_path`).
pub const DEFAULT_CLUSTER_FILE: &str = "/etc/foundationdb/fdb.cluster";

/// The cluster file to open: `explicit` when given, else the non-empty value of
/// [`CLUSTER_FILE_ENV`] in `env`, else [`DEFAULT_CLUSTER_FILE`]. The chosen file must exist
/// and its path must be valid UTF-8 without NUL bytes (the C client takes a C string).
///
/// `env` is the variable's value (`std::env::var_os(CLUSTER_FILE_ENV)` in production), passed
/// in so the choice is testable without touching the process environment.
pub fn resolve_cluster_file(
    explicit: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
) -> Result<PathBuf> {
    let (path, from) = match (explicit, env.filter(|v| !v.is_empty())) {
        (Some(path), _) => (path.to_path_buf(), "the path given"),
        (None, Some(value)) => (PathBuf::from(value), CLUSTER_FILE_ENV),
        (None, None) => (PathBuf::from(DEFAULT_CLUSTER_FILE), "the default location"),
    };
    if path.to_str().is_none_or(|s| s.contains('\0')) {
        return Err(Error::backend(format!(
            "FoundationDB cluster file path {} (from {from}) is not valid UTF-8 or contains NUL",
            path.display()
        )));
    }
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(Error::backend(format!(
            "FoundationDB cluster file {} (from {from}) is not a file",
            path.display()
        ))),
        Err(source) => Err(Error::Backend {
            code: None,
            message: format!(
                "no FoundationDB cluster file at {} (from {from}): install the FoundationDB \
                 client package, or set {CLUSTER_FILE_ENV} to the cluster file of a running cluster",
                path.display()
            ),
            source: Some(Box::new(source)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<PathBuf>) -> String {
        match result {
            Err(Error::Backend { message, .. }) => message,
            other => panic!("expected a Backend error, got {other:?}"),
        }
    }

    #[test]
    fn explicit_path_wins_over_the_environment() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("coditect-fdb-test-{}.cluster", std::process::id()));
        std::fs::write(&file, "test:test@127.0.0.1:4500\n").unwrap();
        let env = std::ffi::OsString::from("/nonexistent/env.cluster");
        assert_eq!(resolve_cluster_file(Some(&file), Some(&env)).unwrap(), file);
        assert_eq!(
            resolve_cluster_file(None, Some(file.as_os_str())).unwrap(),
            file,
            "FDB_CLUSTER_FILE is used without an explicit path"
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn a_missing_file_names_the_path_and_where_it_came_from() {
        let env = std::ffi::OsString::from("/nonexistent/env.cluster");
        let shown = message(resolve_cluster_file(None, Some(&env)));
        assert!(
            shown.contains("/nonexistent/env.cluster") && shown.contains(CLUSTER_FILE_ENV),
            "{shown}"
        );
        let shown = message(resolve_cluster_file(
            Some(Path::new("/nonexistent/x")),
            None,
        ));
        assert!(
            shown.contains("/nonexistent/x") && shown.contains("the path given"),
            "{shown}"
        );
    }

    #[test]
    fn an_empty_variable_falls_back_to_the_default_location() {
        let empty = std::ffi::OsString::new();
        match resolve_cluster_file(None, Some(&empty)) {
            Ok(path) => assert_eq!(path, Path::new(DEFAULT_CLUSTER_FILE)),
            Err(error) => assert!(error.to_string().contains(DEFAULT_CLUSTER_FILE), "{error}"),
        }
    }

    #[test]
    fn a_directory_is_not_a_cluster_file() {
        let dir = std::env::temp_dir();
        let shown = message(resolve_cluster_file(Some(&dir), None));
        assert!(shown.contains("not a file"), "{shown}");
    }
}
