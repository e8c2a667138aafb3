//! Which cluster file a backend opens, in FoundationDB's own search order: an explicit path,
//! else `FDB_CLUSTER_FILE`, else `fdb.cluster` in the current directory, else the platform's
//! default location; and a clear error when none of them holds one.
//!
//! FoundationDB would search the same places itself, but its answer to a missing file is a bare
//! `no_cluster_file_found` (1515), or a client that waits forever for a cluster written in a
//! stale file. Deciding here lets the error say which path was tried and why.

use std::path::{Path, PathBuf};

use coditect_core::{kv::Result, KvError};

/// The environment variable FoundationDB's clients read the cluster file path from.
pub const CLUSTER_FILE_ENV: &str = "FDB_CLUSTER_FILE";

/// Where the client packages install the cluster file on Linux (FoundationDB's
/// `default_config_path`).
pub const DEFAULT_CLUSTER_FILE: &str = "/etc/foundationdb/fdb.cluster";

/// The name FoundationDB looks for in the current directory, after `FDB_CLUSTER_FILE`.
pub const LOCAL_CLUSTER_FILE: &str = "fdb.cluster";

/// The cluster file to open: `explicit` when given, else the non-empty value of
/// [`CLUSTER_FILE_ENV`] in `env`, else [`LOCAL_CLUSTER_FILE`] in the current directory when
/// it exists, else [`DEFAULT_CLUSTER_FILE`]. The chosen file must exist and its path must be
/// valid UTF-8 without NUL bytes (the C client takes a C string).
///
/// `env` is the variable's value (`std::env::var_os(CLUSTER_FILE_ENV)` in production), passed
/// in so the choice is testable without touching the process environment.
pub fn resolve_cluster_file(
    explicit: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
) -> Result<PathBuf> {
    let cwd = std::env::current_dir().ok();
    resolve_cluster_file_from(explicit, env, cwd.as_deref())
}

/// [`resolve_cluster_file`] with the current directory given (`None`: not known, skipped).
pub fn resolve_cluster_file_from(
    explicit: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    cwd: Option<&Path>,
) -> Result<PathBuf> {
    let local = cwd
        .map(|dir| dir.join(LOCAL_CLUSTER_FILE))
        .filter(|path| path.is_file());
    let (path, from) = match (explicit, env.filter(|v| !v.is_empty()), local) {
        (Some(path), _, _) => (path.to_path_buf(), "the path given"),
        (None, Some(value), _) => (PathBuf::from(value), CLUSTER_FILE_ENV),
        (None, None, Some(local)) => (local, "the current directory"),
        (None, None, None) => (PathBuf::from(DEFAULT_CLUSTER_FILE), "the default location"),
    };
    if path.to_str().is_none_or(|s| s.contains('\0')) {
        return Err(KvError::backend(format!(
            "FoundationDB cluster file path {} (from {from}) is not valid UTF-8 or contains NUL",
            path.display()
        )));
    }
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(KvError::backend(format!(
            "FoundationDB cluster file {} (from {from}) is not a file",
            path.display()
        ))),
        Err(source) => Err(KvError::Backend {
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
            Err(KvError::Backend { message, .. }) => message,
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
    fn fdb_cluster_in_the_current_directory_comes_after_the_variable() {
        let dir = std::env::temp_dir().join(format!("coditect-fdb-cwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let local = dir.join(LOCAL_CLUSTER_FILE);
        std::fs::write(&local, "test:test@127.0.0.1:4500\n").unwrap();
        assert_eq!(
            resolve_cluster_file_from(None, None, Some(&dir)).unwrap(),
            local
        );
        let env = std::ffi::OsString::from("/nonexistent/env.cluster");
        let shown = message(resolve_cluster_file_from(None, Some(&env), Some(&dir)));
        assert!(
            shown.contains(CLUSTER_FILE_ENV),
            "the variable wins: {shown}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = std::env::temp_dir().join(format!("coditect-fdb-none-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        match resolve_cluster_file_from(None, None, Some(&empty)) {
            Ok(path) => assert_eq!(path, Path::new(DEFAULT_CLUSTER_FILE)),
            Err(error) => assert!(error.to_string().contains(DEFAULT_CLUSTER_FILE), "{error}"),
        }
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn a_directory_is_not_a_cluster_file() {
        let dir = std::env::temp_dir();
        let shown = message(resolve_cluster_file(Some(&dir), None));
        assert!(shown.contains("not a file"), "{shown}");
    }
}
