//! `--store`: which backend a command runs on, chosen at run time behind
//! `Arc<dyn KvBackend>` (the model layer is written against the trait object once).
//!
//! The flag wins over `CODITECT_STORE`, which is read here rather than by clap: clap would
//! parse the variable even when the flag is given, so a bad or empty variable broke every
//! command. An empty variable counts as unset.
//!
//! Only commands that create data create a sled store ([`Missing::Create`]); one that only
//! reads (or changes what is there) on a path where no store exists fails naming the path, so
//! a mistyped `--store` never leaves an empty store behind.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use coditect_core::KvBackend;
use coditect_engine::EngineOptions;
use coditect_sled::SledOptions;

/// The store when neither `--store` nor `CODITECT_STORE` names one.
pub const DEFAULT_SLED_DIR: &str = "./coditect-data";

/// The environment variable naming the store when `--store` is not given.
pub const STORE_VAR: &str = "CODITECT_STORE";

/// What [`open`] does with a sled path where no store exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Create the store (commands that create data: demo, tenant create, import, bench).
    Create,
    /// Fail naming the path (every other command).
    Refuse,
}

/// The store the command line names: `--store` if given, else `CODITECT_STORE` if set and
/// not empty (a bad value is an error naming the variable), else none.
pub fn from_flag_or_env(flag: Option<StoreSpec>) -> anyhow::Result<Option<StoreSpec>> {
    if flag.is_some() {
        return Ok(flag);
    }
    match std::env::var_os(STORE_VAR) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => {
            let text = value
                .to_str()
                .ok_or_else(|| anyhow!("{STORE_VAR} is not valid UTF-8"))?;
            text.parse()
                .map(Some)
                .map_err(|e| anyhow!("{STORE_VAR}={text:?}: {e} (or give --store)"))
        }
    }
}

/// A parsed `--store` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The in-memory backend: empty at start, gone at exit.
    Mem,
    /// The durable sled backend in this directory.
    Sled(PathBuf),
    /// FoundationDB, with this cluster file or the default one.
    Fdb(Option<PathBuf>),
}

impl Default for StoreSpec {
    fn default() -> Self {
        StoreSpec::Sled(PathBuf::from(DEFAULT_SLED_DIR))
    }
}

impl FromStr for StoreSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (kind, rest) = match spec.split_once(':') {
            Some((kind, rest)) => (kind, Some(rest)),
            None => (spec, None),
        };
        match (kind, rest) {
            ("mem", None) => Ok(StoreSpec::Mem),
            ("sled", Some(path)) if !path.is_empty() => Ok(StoreSpec::Sled(PathBuf::from(path))),
            ("sled", _) => Err("sled needs a directory: sled:PATH".into()),
            ("fdb", None) => Ok(StoreSpec::Fdb(None)),
            ("fdb", Some(path)) if !path.is_empty() => {
                Ok(StoreSpec::Fdb(Some(PathBuf::from(path))))
            }
            ("fdb", Some(_)) => {
                Err("fdb takes an optional cluster file: fdb or fdb:CLUSTER_FILE".into())
            }
            _ => Err(format!(
                "unknown store {spec:?}: use mem, sled:PATH or fdb[:CLUSTER_FILE]"
            )),
        }
    }
}

impl StoreSpec {
    /// The local file or directory holding the store's data or configuration (a sled
    /// directory, an fdb cluster file), which no command may write a file into.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match self {
            StoreSpec::Mem | StoreSpec::Fdb(None) => None,
            StoreSpec::Sled(path) | StoreSpec::Fdb(Some(path)) => Some(path),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Mem => write!(f, "mem"),
            StoreSpec::Sled(path) => write!(f, "sled:{}", path.display()),
            StoreSpec::Fdb(None) => write!(f, "fdb"),
            StoreSpec::Fdb(Some(path)) => write!(f, "fdb:{}", path.display()),
        }
    }
}

/// Opens the store `spec` names. Sled opens durable (the default `SledOptions`); where no
/// store exists, `missing` says whether to create one.
pub async fn open(spec: &StoreSpec, missing: Missing) -> anyhow::Result<Arc<dyn KvBackend>> {
    match spec {
        StoreSpec::Mem => Ok(Arc::new(
            coditect_mem::new_backend(EngineOptions::default()),
        )),
        StoreSpec::Sled(path) => {
            let shown = crate::output::path_text(path);
            if path.is_file() {
                bail!("store {spec}: {shown} is a file, not a directory");
            }
            let create = missing == Missing::Create;
            if !create
                && std::fs::symlink_metadata(path)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                bail!(
                    "store {spec}: {shown} does not exist (only demo, tenant create, tenant import and bench create a store)"
                );
            }
            let options = SledOptions {
                create,
                ..SledOptions::default()
            };
            let backend = coditect_sled::open(path, options)
                .with_context(|| format!("opening store {spec}"))?;
            Ok(Arc::new(backend))
        }
        StoreSpec::Fdb(cluster_file) => open_fdb(spec, cluster_file.clone()).await,
    }
}

#[cfg(feature = "fdb")]
async fn open_fdb(
    spec: &StoreSpec,
    cluster_file: Option<PathBuf>,
) -> anyhow::Result<Arc<dyn KvBackend>> {
    use coditect_fdb::{FdbBackend, FdbOptions};
    let options = FdbOptions {
        cluster_file,
        ..FdbOptions::default()
    };
    let backend = FdbBackend::connect(&options, std::time::Duration::from_secs(5))
        .await
        .with_context(|| format!("opening store {spec}"))?;
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "fdb"))]
async fn open_fdb(
    spec: &StoreSpec,
    _cluster_file: Option<PathBuf>,
) -> anyhow::Result<Arc<dyn KvBackend>> {
    bail!(
        "store {spec}: this coditect was built without FoundationDB; rebuild with \
         `cargo run --release -p coditect-cli --features fdb -- ...` (needs libclang to build and \
         libfdb_c 7.3+ to run, see the README's \"Running on FoundationDB\")"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in [
            "mem",
            "sled:/tmp/x",
            "fdb",
            "fdb:/etc/foundationdb/fdb.cluster",
        ] {
            assert_eq!(spec.parse::<StoreSpec>().unwrap().to_string(), spec);
        }
        for bad in ["", "sled", "sled:", "fdb:", "redis", "mem:x"] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad}");
        }
    }
}
