//! Talking to the Hub: listing a repository at a revision and fetching its files into the cache.
//!
//! Online, a fetch is: one `GET /api/{models,datasets}/<id>/revision/<rev>` for the commit and
//! file list, then for each file we need that its snapshot lacks, hf-hub's download (a ranged
//! `GET .../resolve/<commit>/<file>` for the ETag and size, then the body into
//! `blobs/<etag>.part`, renamed when complete). Downloads ask for the commit, not the branch,
//! so a push to `main` halfway through cannot mix two commits' files. Offline, the listing is
//! the snapshot folder that `refs/<rev>` names, and nothing else is read.
//!
//! Why we check downloads: hf-hub renames `.part` to the blob once the body ends, but resumes
//! a leftover `.part` blindly, so a size check (and sha256 for LFS files, whose ETag is their
//! sha256) keeps a damaged file out of the cache Python shares.

use super::cache::{is_commit_hash, RepoCache, RepoKind};
use super::errors::{transient, ErrorSite};
use super::watch::{stalled, watched, Beat, BeatReader, Heartbeat};
use super::{error, HubConfig, HubErrorKind};
use crate::error::Result;
use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::api::RepoInfo;
use std::path::PathBuf;
use std::time::Duration;

/// What a repository holds at one commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The commit; `None` offline when the cache has never seen the revision.
    pub commit: Option<String>,
    /// Repository paths (`/`-separated), sorted.
    pub files: Vec<String>,
    /// Read from the cache (offline, or online with the Hub unreachable): what is missing is
    /// missing from the cache, not necessarily from the repository.
    pub from_cache: bool,
}

impl Listing {
    pub fn has(&self, file: &str) -> bool {
        self.files
            .binary_search_by(|f| f.as_str().cmp(file))
            .is_ok()
    }
}

/// One repository at one revision, online or offline.
pub struct Session<'a> {
    pub(super) cfg: &'a HubConfig,
    kind: RepoKind,
    id: String,
    revision: String,
    pub(super) cache: RepoCache,
    api: Option<Api>,
}

impl<'a> Session<'a> {
    fn site(&self) -> ErrorSite<'_> {
        ErrorSite {
            cfg: self.cfg,
            cache_dir: &self.cache.dir,
        }
    }

    pub fn new(cfg: &'a HubConfig, kind: RepoKind, id: &str, revision: &str) -> Result<Self> {
        let api = if cfg.offline {
            None
        } else {
            // The cache and token are ours (config.rs); hf-hub's own lookups are bypassed.
            let api = ApiBuilder::from_cache(hf_hub::Cache::new(cfg.cache_dir.clone()))
                .with_endpoint(cfg.endpoint.clone())
                .with_token(cfg.token.clone())
                .with_retries(cfg.retries)
                .with_progress(false)
                .with_user_agent("collapse-lab", env!("CARGO_PKG_VERSION"))
                .build()
                .map_err(|e| {
                    error(
                        HubErrorKind::Other,
                        format!("Hub client: {e}"),
                        "report this as a bug",
                    )
                })?;
            Some(api)
        };
        Ok(Session {
            cfg,
            kind,
            id: id.to_string(),
            revision: revision.to_string(),
            cache: RepoCache::new(&cfg.cache_dir, kind, id),
            api,
        })
    }

    /// `owner/name@rev`, for messages.
    fn name(&self) -> String {
        format!("{}@{}", self.id, self.revision)
    }

    /// The commit and files at our revision. Online, a network failure falls back to a cached
    /// snapshot of the revision, with a warning (as the Python client does).
    pub fn listing(&self) -> Result<Listing> {
        let Some(api) = &self.api else {
            return Ok(self.cached_listing());
        };
        let repo =
            hf_hub::Repo::with_revision(self.id.clone(), self.kind.hf(), self.revision.clone());
        let what = format!("{} {}", self.kind.noun(), self.name());
        let allowed = self.cfg.etag_timeout;
        let info = self.retry(|| {
            let r = api.repo(repo.clone());
            watched(allowed, move |beat| repo_info(&r, beat))
                .unwrap_or_else(|| Err(stalled(allowed)))
        });
        match info {
            // The commit names a cache folder: nothing but a commit hash may get there.
            Ok(info) if !is_commit_hash(&info.sha) => Err(error(
                HubErrorKind::Other,
                format!(
                    "{what}: {} does not answer like the Hugging Face Hub (commit `{}`)",
                    self.cfg.endpoint, info.sha
                ),
                "check HF_ENDPOINT",
            )),
            Ok(info) => {
                let mut files: Vec<String> =
                    info.siblings.into_iter().map(|s| s.rfilename).collect();
                files.sort();
                Ok(Listing {
                    commit: Some(info.sha),
                    files,
                    from_cache: false,
                })
            }
            Err(e) => {
                let err = self.site().api_error(&what, e);
                let cached = self.cached_listing();
                if matches!(
                    err,
                    crate::Error::Hub {
                        kind: HubErrorKind::Network,
                        ..
                    }
                ) && cached.commit.is_some()
                {
                    tracing::warn!("{err}; using the cached snapshot of {}", self.name());
                    return Ok(cached);
                }
                Err(err)
            }
        }
    }

    fn cached_listing(&self) -> Listing {
        let commit = self.cache.commit_of(&self.revision);
        let files = commit
            .as_deref()
            .map(|c| self.cache.snapshot_files(c))
            .unwrap_or_default();
        Listing {
            commit,
            files,
            from_cache: true,
        }
    }

    /// The local paths of `files`, fetching those the snapshot lacks; then records the ref.
    /// Offline (or when the listing came from the cache), a missing file is an error naming it.
    pub fn fetch(&self, listing: &Listing, files: &[&str]) -> Result<Vec<PathBuf>> {
        let mut out = Vec::with_capacity(files.len());
        for &file in files {
            let cached = listing
                .commit
                .as_deref()
                .and_then(|c| self.cache.cached(c, file));
            let path = match (cached, &self.api, &listing.commit) {
                (Some(p), _, _) => p,
                (None, Some(api), Some(commit)) => self.download(api, commit, file)?,
                _ => return Err(self.not_cached(&[file])),
            };
            out.push(path);
        }
        if let Some(commit) = &listing.commit {
            if self.api.is_some() {
                self.cache.write_ref(&self.revision, commit)?;
            }
        }
        Ok(out)
    }

    /// The error for files the cache lacks while offline; `files` are alternatives when
    /// several are named (any one of them would do).
    pub fn not_cached(&self, files: &[&str]) -> crate::Error {
        let names = files.join(" or ");
        let repo_flag = match self.kind {
            RepoKind::Model => "",
            RepoKind::Dataset => " --repo-type dataset",
        };
        error(
            HubErrorKind::NotCached,
            format!(
                "offline: {names} of {} {} is not in the Hugging Face cache ({})",
                self.kind.noun(),
                self.name(),
                self.cache.dir.display()
            ),
            format!(
                "go online to download it (unset HF_HUB_OFFLINE), or fetch it with \
                 `hf download {}{repo_flag} --revision {} {}`",
                self.id, self.revision, files[0]
            ),
        )
    }

    /// Downloads one file of `commit`, reusing a blob another snapshot already has.
    fn download(&self, api: &Api, commit: &str, file: &str) -> Result<PathBuf> {
        let repo = api.repo(hf_hub::Repo::with_revision(
            self.id.clone(),
            self.kind.hf(),
            commit.to_string(),
        ));
        let what = format!("{file} of {} {}", self.kind.noun(), self.name());
        let fail = |e| self.site().api_error(&what, e);
        let allowed = self.cfg.etag_timeout;
        let meta = self
            .retry(|| {
                let (api, url) = (api.clone(), repo.url(file));
                watched(allowed, move |_| api.metadata(&url))
                    .unwrap_or_else(|| Err(stalled(allowed)))
            })
            .map_err(fail)?;
        let blob = self.cache.blob(meta.etag());
        let have_blob =
            std::fs::metadata(&blob).is_ok_and(|m| m.is_file() && m.len() == meta.size() as u64);
        let pointer = if have_blob {
            self.cache.link(commit, file, meta.etag()).map_err(|e| {
                error(
                    HubErrorKind::Other,
                    format!("cannot link {file} into the cache: {e}"),
                    CACHE_HINT,
                )
            })?
        } else {
            // hf-hub fails on a dangling link where it wants to put its own.
            let pointer = self.cache.snapshot(commit).join(file);
            if pointer.symlink_metadata().is_ok() && !pointer.is_file() {
                let _ = std::fs::remove_file(&pointer);
            }
            let bar = self.bar();
            let allowed = self.cfg.download_timeout;
            let got = self.retry(|| {
                let r = api.repo(hf_hub::Repo::with_revision(
                    self.id.clone(),
                    self.kind.hf(),
                    commit.to_string(),
                ));
                let (file, inner) = (file.to_string(), bar.clone());
                watched(allowed, move |beat| {
                    r.download_with_progress(&file, Heartbeat { inner, beat })
                })
                .unwrap_or_else(|| Err(stalled(allowed)))
            });
            bar.finish_and_clear();
            // We asked for the commit, so hf-hub wrote `refs/<commit>`; Python writes no ref
            // for a commit hash, and neither do we.
            let _ = std::fs::remove_file(self.cache.dir.join("refs").join(commit));
            got.map_err(fail)?
        };
        self.check(&pointer, &blob, meta.etag(), meta.size() as u64, &what)?;
        Ok(pointer)
    }

    /// Size, and sha256 when the ETag is one (LFS files); a bad file is removed.
    fn check(
        &self,
        pointer: &std::path::Path,
        blob: &std::path::Path,
        etag: &str,
        size: u64,
        what: &str,
    ) -> Result<()> {
        let bad = |why: String| {
            self.cache.forget(pointer, blob);
            error(
                HubErrorKind::Corrupt,
                format!("downloaded {what} is damaged ({why})"),
                "rerun to download it again; if it persists, check HF_ENDPOINT",
            )
        };
        let len = std::fs::metadata(blob).map(|m| m.len()).unwrap_or(0);
        if len != size {
            return Err(bad(format!("{len} bytes, the Hub announced {size}")));
        }
        if etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit()) {
            let sha = sha256_file(blob).map_err(|e| bad(e.to_string()))?;
            if !sha.eq_ignore_ascii_case(etag) {
                return Err(bad(format!("sha256 {sha}, the Hub announced {etag}")));
            }
        }
        Ok(())
    }

    fn bar(&self) -> indicatif::ProgressBar {
        if !self.cfg.progress || crate::progress::is_quiet() {
            return indicatif::ProgressBar::hidden();
        }
        indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        )
    }

    /// Tries `f` again after transient failures (network, 5xx, 429), up to `retries` times,
    /// waiting 0.5 s, 1 s, 2 s, ... between tries. A dropped transfer is also retried inside
    /// hf-hub, resuming where it stopped. A silent server (see `watch.rs`) is not retried.
    fn retry<T>(
        &self,
        mut f: impl FnMut() -> std::result::Result<T, ApiError>,
    ) -> std::result::Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            match f() {
                Err(e) if attempt < self.cfg.retries && transient(&e) => {
                    tracing::info!("retrying after: {e}");
                    std::thread::sleep(Duration::from_millis(500 << attempt.min(4)));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// hf-hub's `ApiRepo::info`, with the answer read through `beat`: a long listing that keeps
/// arriving on a slow link is not cut off, only one gone silent.
fn repo_info(
    r: &hf_hub::api::sync::ApiRepo,
    beat: Beat,
) -> std::result::Result<RepoInfo, ApiError> {
    let mut answer = r.info_request().call().map_err(Box::new)?;
    beat.now();
    let body = BeatReader {
        inner: answer.body_mut().as_reader(),
        beat,
    };
    serde_json::from_reader(body).map_err(|e| match e.is_io() {
        // A connection lost mid-answer is the network's failure, retried as one.
        true => ApiError::IoError(e.into()),
        false => ApiError::RequestError(Box::new(ureq::Error::Json(e))),
    })
}

const CACHE_HINT: &str = "check that the Hugging Face cache (HF_HUB_CACHE or HF_HOME) is writable";

/// Hex sha256 of a file, streamed.
pub(crate) fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
