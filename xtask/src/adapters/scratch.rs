//! Files and directories of this run's own: a private temporary directory (removed on
//! drop) and a file written beside its destination and renamed into place. Names are made
//! unique with the process id and a counter, and created exclusively (`create_new`, a
//! directory that must not exist), so another process's file or link is never opened.
//! std does this in a few lines; the tempfile crate cost the cold compile of the xtask
//! about 2 s of CPU (tempfile, rustix, linux-raw-sys, getrandom, fastrand) for three uses.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::adapters::exec;

/// Creates the first free `dir/<prefix><unique><suffix>` with `create`.
fn create_unique<T>(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    create: impl Fn(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "{prefix}{}-{nanos:x}-{n}{suffix}",
            exec::process_id()
        ));
        match create(&path) {
            Ok(made) => return Ok((path, made)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {prefix}... in {}", dir.display()),
    ))
}

/// A directory only this user can read, in the system's temporary directory, removed with
/// everything in it when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        let (path, ()) = create_unique(&std::env::temp_dir(), prefix, "", |path| {
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(path)
        })?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A new file in `dir` (beside where it is meant to end up), removed when dropped unless it
/// was [`persist`](TempFile::persist)ed.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: File,
    kept: bool,
}

impl TempFile {
    pub fn new_in(dir: &Path, prefix: &str, suffix: &str) -> io::Result<TempFile> {
        let (path, file) = create_unique(dir, prefix, suffix, |path| {
            File::options().write(true).create_new(true).open(path)
        })?;
        Ok(TempFile {
            path,
            file,
            kept: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, to write to.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Renames the file to `to`, replacing what is there.
    pub fn persist(mut self, to: &Path) -> io::Result<()> {
        fs::rename(&self.path, to)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_temp_dir_is_private_unique_and_removed_on_drop() {
        let (a, b) = (
            TempDir::new("xtask-test-").unwrap(),
            TempDir::new("xtask-test-").unwrap(),
        );
        assert_ne!(a.path(), b.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = a.path().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        fs::write(a.path().join("f"), "x").unwrap();
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn a_temp_file_is_renamed_into_place_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let file = TempFile::new_in(dir.path(), ".xtask-", ".log").unwrap();
        let name = file
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            name.starts_with(".xtask-") && name.ends_with(".log"),
            "{name}"
        );
        file.file().write_all(b"text").unwrap();
        let to = dir.path().join("kept");
        file.persist(&to).unwrap();
        assert_eq!(fs::read_to_string(&to).unwrap(), "text");
        let dropped = TempFile::new_in(dir.path(), ".xtask-", "").unwrap();
        let path = dropped.path().to_owned();
        drop(dropped);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
