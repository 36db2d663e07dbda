//! Files written so that a crash never leaves something that looks finished.
//!
//! Every output goes to a temporary name beside its destination and is renamed into place only
//! when complete; a rename within a directory is atomic on POSIX file systems. A reader (or a
//! resumed run) therefore sees either the whole file or no file.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written; it appears at `dest` only after [`AtomicFile::commit`].
/// Dropped without commit (error, panic), the temporary file is removed.
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(dest: impl AsRef<Path>) -> Result<Self> {
        let dest = dest.as_ref().to_path_buf();
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dir_all(parent)?;
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Host and process: processes on two hosts of a cluster share a file system, not pids.
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}-{}", host(), std::process::id()));
        let file = File::create(&tmp).map_err(|e| writable_error(&tmp, e))?;
        Ok(AtomicFile {
            dest,
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("AtomicFile used after commit")
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("AtomicFile committed twice");
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`), or `host` where it cannot be read.
pub fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .unwrap_or_else(|| "host".into())
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let dest = dest.as_ref();
    let mut f = AtomicFile::create(dest)?;
    f.write_all(bytes).map_err(|e| Error::io(dest, e))?;
    f.commit()
}

/// Writes a value as pretty JSON (with a final newline) atomically.
pub fn write_json<T: serde::Serialize>(dest: impl AsRef<Path>, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value).expect("our types always serialize");
    s.push('\n');
    write_atomic(dest, s.as_bytes())
}

/// Reads a JSON file into a value; a damaged file is a [`Error::BadJson`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: impl AsRef<Path>) -> Result<T> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::BadJson {
        path: path.into(),
        what: e.to_string(),
    })
}

/// `fs::create_dir_all` with an error that says the directory is not writable.
pub fn create_dir_all(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(|e| writable_error(dir, e))
}

fn writable_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            Error::NotWritable {
                path: path.into(),
                source: e,
            }
        }
        _ => Error::io(path, e),
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex sha256 of a folder's files (not its sub-folders, hidden files or `*_log.json` logs,
/// whose timings and resume history differ between runs of the same model): the sha256 of
/// each `name` and file sha256, in name order. Files are streamed, so a large checkpoint is never
/// read into memory whole. A checkpoint's fingerprint, recorded so a resume can tell that it
/// changed.
pub fn dir_sha256(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with("_log.json"))
        .collect();
    names.sort();
    let mut all = Sha256::new();
    for n in names {
        let path = dir.join(&n);
        let mut f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut one = Sha256::new();
        std::io::copy(&mut f, &mut one).map_err(|e| Error::io(&path, e))?;
        all.update(n.as_bytes());
        all.update([0]);
        all.update(one.finalize());
    }
    Ok(all.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// An exclusive lock on a file, held until dropped (the OS releases it if the process dies,
/// so a crash never leaves a stale lock).
pub struct Lock {
    _file: File,
}

impl Lock {
    pub fn acquire(path: impl AsRef<Path>, name: &str) -> Result<Lock> {
        let path = path.as_ref();
        if let Some(parent) = path.parent() {
            create_dir_all(parent)?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| writable_error(path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
                name: name.into(),
                path: path.into(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.txt");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");

        let dest2 = dir.path().join("sub/dropped.txt");
        let mut g = AtomicFile::create(&dest2).unwrap();
        g.write_all(b"partial").unwrap();
        drop(g);
        assert!(!dest2.exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let l = Lock::acquire(&p, "x").unwrap();
        assert!(matches!(Lock::acquire(&p, "x"), Err(Error::Locked { .. })));
        drop(l);
        Lock::acquire(&p, "x").unwrap();
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
