//! The Hugging Face cache layout, as the Python client writes and reads it:
//!
//! ```text
//! <cache>/models--owner--name/            (datasets--owner--name/ for datasets)
//!     blobs/<etag>                        file contents, named by ETag (sha256 for LFS files)
//!     refs/<revision>                     the commit a branch or tag pointed to when last fetched
//!     snapshots/<commit>/<path>           relative symbolic links to ../../blobs/<etag>
//! ```
//!
//! Why we read it ourselves: offline mode must answer from it alone (hf-hub has no offline
//! mode), and online we skip files a snapshot already has (hf-hub would fetch them again).
//! Writes (refs, links) are atomic, so a killed run never leaves a half-written ref.

use super::{error, HubErrorKind};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Model or dataset repository; they live in different cache folders and URL spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

impl RepoKind {
    /// For messages: "model" or "dataset".
    pub fn noun(self) -> &'static str {
        match self {
            RepoKind::Model => "model",
            RepoKind::Dataset => "dataset",
        }
    }

    pub(crate) fn hf(self) -> hf_hub::RepoType {
        match self {
            RepoKind::Model => hf_hub::RepoType::Model,
            RepoKind::Dataset => hf_hub::RepoType::Dataset,
        }
    }
}

/// One repository's folder in the cache.
#[derive(Clone, Debug)]
pub struct RepoCache {
    pub dir: PathBuf,
}

/// Whether a revision is a full commit hash, which names a snapshot directly (no ref).
pub fn is_commit_hash(rev: &str) -> bool {
    rev.len() == 40
        && rev
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl RepoCache {
    /// `<cache>/models--owner--name` (or `datasets--...`), as Python names it.
    pub fn new(cache_dir: &Path, kind: RepoKind, id: &str) -> RepoCache {
        let prefix = match kind {
            RepoKind::Model => "models",
            RepoKind::Dataset => "datasets",
        };
        RepoCache {
            dir: cache_dir.join(format!("{prefix}--{}", id.replace('/', "--"))),
        }
    }

    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    fn ref_path(&self, revision: &str) -> PathBuf {
        self.dir.join("refs").join(revision)
    }

    /// The commit a revision stands for in the cache: the revision itself when it is a commit
    /// hash with a snapshot, else what `refs/<revision>` says; `None` when never fetched.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) && self.snapshot(revision).is_dir() {
            return Some(revision.to_string());
        }
        let commit = std::fs::read_to_string(self.ref_path(revision)).ok()?;
        let commit = commit.trim();
        (!commit.is_empty()).then(|| commit.to_string())
    }

    /// Records that `revision` points at `commit` (skipped for commit hashes, as Python does).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit || self.commit_of(revision).as_deref() == Some(commit) {
            return Ok(());
        }
        let path = self.ref_path(revision);
        crate::fsutil::write_atomic(&path, commit.as_bytes()).map_err(|e| {
            error(
                HubErrorKind::Other,
                format!("cannot write {}: {e}", path.display()),
                "check that the Hugging Face cache (HF_HUB_CACHE or HF_HOME) is writable",
            )
        })
    }

    /// Files present in a snapshot, as repository paths (`/`-separated), sorted. A link whose
    /// blob is gone does not count: the file is not really there.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.snapshot(commit), "", &mut out);
        out.sort();
        out
    }

    /// The snapshot path of `file` if it is there (its link resolves to a file).
    pub fn cached(&self, commit: &str, file: &str) -> Option<PathBuf> {
        let p = self.snapshot(commit).join(file);
        p.is_file().then_some(p)
    }

    /// Links `snapshots/<commit>/<file>` to an existing blob, relatively (as Python does, so
    /// the cache can be moved), replacing a dangling link.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> std::io::Result<PathBuf> {
        let pointer = self.snapshot(commit).join(file);
        if pointer.is_file() {
            return Ok(pointer);
        }
        if pointer.symlink_metadata().is_ok() {
            std::fs::remove_file(&pointer)?;
        }
        let parent = pointer.parent().expect("a snapshot path has a parent");
        std::fs::create_dir_all(parent)?;
        #[cfg(unix)]
        {
            // Up from the file's folder to the repository folder: `snapshots/<commit>/` plus
            // one per folder in the file's own path.
            let depth = 2 + file.matches('/').count();
            let target: PathBuf = std::iter::repeat_n("..", depth)
                .chain(["blobs", etag])
                .collect();
            std::os::unix::fs::symlink(target, &pointer)?;
        }
        #[cfg(not(unix))]
        std::fs::copy(self.blob(etag), &pointer).map(|_| ())?;
        Ok(pointer)
    }

    /// Removes `file` from a snapshot and its blob: a download that failed its checks.
    pub fn forget(&self, pointer: &Path, blob: &Path) {
        let _ = std::fs::remove_file(pointer);
        let _ = std::fs::remove_file(blob);
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let path = e.path();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        // Follows links: snapshot entries are links to blobs; folders are real folders.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &child, out),
            Ok(m) if m.is_file() => out.push(child),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn layout_refs_links_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let rc = RepoCache::new(dir.path(), RepoKind::Dataset, "Salesforce/wikitext");
        assert!(rc.dir.ends_with("datasets--Salesforce--wikitext"));
        assert_eq!(rc.commit_of("main"), None);
        rc.write_ref("main", C).unwrap();
        rc.write_ref("refs/convert/parquet", C).unwrap();
        assert_eq!(rc.commit_of("main").as_deref(), Some(C));
        assert_eq!(rc.commit_of("refs/convert/parquet").as_deref(), Some(C));
        rc.write_ref(C, C).unwrap();
        assert!(
            !rc.dir.join("refs").join(C).exists(),
            "no ref for a commit hash"
        );

        std::fs::create_dir_all(rc.dir.join("blobs")).unwrap();
        std::fs::write(rc.blob("e1"), "x").unwrap();
        let p = rc
            .link(C, "cfg/train-00000-of-00001.parquet", "e1")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x");
        assert_eq!(
            std::fs::read_link(&p).unwrap(),
            PathBuf::from("../../../blobs/e1")
        );
        let top = rc.link(C, "README.md", "e1").unwrap();
        assert_eq!(
            std::fs::read_link(&top).unwrap(),
            PathBuf::from("../../blobs/e1")
        );
        // A commit hash with a snapshot needs no ref.
        assert_eq!(rc.commit_of(C).as_deref(), Some(C));

        // A dangling link is not a cached file, and linking again repairs it.
        std::fs::remove_file(rc.blob("e1")).unwrap();
        assert!(rc.snapshot_files(C).is_empty());
        assert_eq!(rc.cached(C, "README.md"), None);
        std::fs::write(rc.blob("e2"), "y").unwrap();
        rc.link(C, "README.md", "e2").unwrap();
        assert_eq!(rc.snapshot_files(C), vec!["README.md".to_string()]);
        assert!(is_commit_hash(C) && !is_commit_hash("main") && !is_commit_hash(&C.to_uppercase()));
    }
}
