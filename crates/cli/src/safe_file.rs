//! Writing a file the user named (`--out`, `--plot`) without ever destroying one.
//!
//! The old file, if any, is replaced only by a complete new one: the content goes to a
//! temporary file in the target's directory, is synced, and is renamed over the target only
//! when everything succeeded (then the directory is synced too, so the rename survives a
//! crash). On any failure before the rename the target is as it was and the temporary file is
//! removed (a `NamedTempFile` deletes itself when dropped, on an error or a panic alike).
//!
//! Refused before any work, with a one-line error: a target inside the store the command runs
//! on (writing there would damage the store itself; paths are compared canonicalised, so a
//! `..` or a symlink does not get around it), a target that exists and is not a regular file
//! (a directory, a device, a FIFO, a socket, or a symlink to one, or a dangling symlink), and
//! a target whose directory does not exist. A symlink to a regular file is followed: the file
//! it points to is replaced and the link kept.
//!
//! A new file is created readable by its owner only (backups hold tenant data); a replaced
//! file keeps its permissions.

use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tempfile::NamedTempFile;

use crate::output::path_text;

/// A checked target: where the file will be, and how the user named it (for messages).
#[derive(Debug)]
pub struct Target {
    /// The file that will be replaced or created: the target with its directory (and a
    /// symlink at the target) resolved.
    resolved: PathBuf,
    /// Its canonical directory, where the temporary file goes.
    dir: PathBuf,
    /// The existing file's permissions, to keep.
    permissions: Option<fs::Permissions>,
    /// The path as given.
    shown: PathBuf,
}

/// A temporary file on its way to becoming a [`Target`]; dropping it removes it.
pub struct Pending<'a> {
    target: &'a Target,
    file: NamedTempFile,
}

/// Checks `path` as a file to write (see the module docs); `store` is the directory or file
/// of the store the command runs on, if it is local (a sled directory, an fdb cluster file).
pub fn check(path: &Path, store: Option<&Path>) -> anyhow::Result<Target> {
    let shown = path_text(path);
    let Some(name) = path.file_name() else {
        bail!("{shown}: not a regular file (it names a directory)");
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = match fs::canonicalize(parent) {
        Ok(dir) if dir.is_dir() => dir,
        Ok(_) => bail!("{shown}: {} is not a directory", path_text(parent)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!("{shown}: directory {} does not exist", path_text(parent))
        }
        Err(e) => return Err(e).with_context(|| format!("{shown}: checking its directory")),
    };
    let (resolved, permissions) = existing(&dir.join(name), &shown)?;
    if let Some(store) = store {
        // A store that does not exist yet holds nothing to damage; compare what can be.
        let store = fs::canonicalize(store).unwrap_or_else(|_| store.to_path_buf());
        if resolved.starts_with(&store) {
            bail!(
                "{shown}: the file would be inside the store {} (writing there would damage it): choose a path outside it",
                path_text(&store)
            );
        }
    }
    let dir = resolved.parent().map(Path::to_path_buf).unwrap_or(dir);
    Ok(Target {
        resolved,
        dir,
        permissions,
        shown: path.to_path_buf(),
    })
}

/// What is at `path` now: nothing (the path and no permissions) or a regular file, through
/// a symlink if there is one (its canonical path and permissions); anything else is refused.
fn existing(path: &Path, shown: &str) -> anyhow::Result<(PathBuf, Option<fs::Permissions>)> {
    let link = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((path.to_path_buf(), None)),
        Err(e) => return Err(e).with_context(|| format!("{shown}: checking it")),
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound && link.is_symlink() => {
            bail!("{shown}: not a regular file (a symlink to nothing)")
        }
        Err(e) => return Err(e).with_context(|| format!("{shown}: checking it")),
    };
    if !meta.is_file() {
        bail!(
            "{shown}: not a regular file ({}{})",
            if link.is_symlink() {
                "a symlink to "
            } else {
                ""
            },
            kind(&meta)
        );
    }
    let resolved = fs::canonicalize(path).with_context(|| format!("{shown}: resolving it"))?;
    Ok((resolved, Some(meta.permissions())))
}

/// What a non-regular file is, for the error.
fn kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

impl Target {
    /// The path as the user gave it.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Starts writing: a new temporary file next to the target.
    pub fn begin(&self) -> anyhow::Result<Pending<'_>> {
        let file = tempfile::Builder::new()
            .prefix(".coditect-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .with_context(|| {
                format!(
                    "{}: creating a temporary file in {}",
                    path_text(&self.shown),
                    path_text(&self.dir)
                )
            })?;
        Ok(Pending { target: self, file })
    }

    /// Writes `bytes` as the whole new file.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut pending = self.begin()?;
        io::Write::write_all(pending.file(), bytes)
            .with_context(|| format!("writing {}", path_text(&self.shown)))?;
        pending.commit()
    }
}

impl Pending<'_> {
    /// The temporary file, to write the content to.
    pub fn file(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// Syncs the temporary file, renames it over the target and syncs the directory.
    pub fn commit(self) -> anyhow::Result<()> {
        let Pending { target, file } = self;
        let shown = path_text(&target.shown);
        if let Some(permissions) = &target.permissions {
            file.as_file()
                .set_permissions(permissions.clone())
                .with_context(|| format!("{shown}: keeping its permissions"))?;
        }
        file.as_file()
            .sync_all()
            .with_context(|| format!("{shown}: syncing the new file"))?;
        // On failure the error holds the temporary file, removed as it drops.
        file.persist(&target.resolved)
            .map_err(|e| e.error)
            .with_context(|| format!("{shown}: renaming the new file into place"))?;
        File::open(&target.dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| {
                format!(
                    "{shown}: written, but syncing its directory {} failed (the file may not survive a crash)",
                    path_text(&target.dir)
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "old").unwrap();
        let target = check(&path, None).unwrap();
        {
            let mut pending = target.begin().unwrap();
            io::Write::write_all(pending.file(), b"half").unwrap();
            // Dropped without commit: the write failed.
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        target.write(b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn targets_in_the_store_or_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir(&store).unwrap();
        let error = check(&store.join("x"), Some(&store)).unwrap_err();
        assert!(error.to_string().contains("inside the store"), "{error}");
        let error = check(&dir.path().join("no/x"), None).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
        let error = check(&store, None).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        check(&dir.path().join("x"), Some(&store)).unwrap();
    }
}
