//! Hugging Face Hub downloads (models and datasets) into the standard Hugging Face cache.
//!
//! Why the standard cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`, laid out as `models--owner--name/{blobs,refs,snapshots}`): a
//! user who already ran `transformers` has OPT-125m there, and what we fetch is there for
//! Python too, so nothing is downloaded twice. [`HubConfig::from_env`] reads the same
//! environment variables as the Python client (`HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`,
//! `HF_TOKEN`, `HF_HUB_OFFLINE`); tests build a [`HubConfig`] by hand instead, because the
//! environment is shared by every test thread.
//!
//! Why hf-hub underneath, and what we add to it: hf-hub 0.5's blocking client downloads a file
//! into `blobs/<etag>.part`, renames it and links it from `snapshots/<commit>/` (so a killed
//! download never looks finished), and retries a dropped connection from where it stopped.
//! It has no offline mode, re-downloads files it already has, sets no timeouts, reads only
//! `HF_HOME` and `HF_ENDPOINT`, and panics where no home folder exists; so [`client`] resolves
//! the configuration itself, reuses cached snapshots and blobs, gives up on a server gone
//! silent (`watch.rs`), checks sizes and sha256 after a download, reads only the cache when
//! offline, and turns every failure into one line with a hint ([`crate::Error::Hub`]).
//!
//! What hf-hub leaves beside the blobs, and why that is fine: an empty `blobs/<etag>.lock`
//! per file downloaded (its lock between processes), and `blobs/<etag>.part` while a download
//! is unfinished (resumed by the next run; Python names its own `.incomplete`, so neither
//! client mistakes the other's for a blob). Python's `scan_cache_dir` reports no problem with
//! either (tests/it/hub.rs checks it when `.venv` has huggingface_hub).
//!
//! - [`model`]: a model repository's config, weights and tokenizer ([`fetch_model`]).
//! - [`dataset`]: the parquet files of one dataset configuration, by official split.
//! - [`cache`]: the cache layout, shared with Python.

pub mod cache;
pub mod client;
pub mod config;
pub mod dataset;
mod errors;
pub mod model;
mod watch;

pub use config::HubConfig;
pub use dataset::{fetch_dataset, DatasetFiles, DatasetRef, SplitFile};
pub use model::{
    fetch_model, fetch_model_config, fetch_model_with, HubRepo, ModelFiles, TokenizerFiles, Weights,
};

/// What kind of failure a [`crate::Error::Hub`] is, for callers that react differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubErrorKind {
    /// The repository, revision or file does not exist (HTTP 404), or the repository lacks a
    /// file we need.
    NotFound,
    /// The Hub refused us (HTTP 401/403): a gated or private repository, or a bad token.
    Unauthorized,
    /// The endpoint could not be reached, or a transfer failed after its retries.
    Network,
    /// Offline (`HF_HUB_OFFLINE=1` or `offline: true`) and the cache lacks a file.
    NotCached,
    /// A downloaded file does not match the size or sha256 the Hub announced.
    Corrupt,
    /// The endpoint answered something that is not the Hub's protocol, or the cache could not
    /// be written.
    Other,
}

/// A [`crate::Error::Hub`] of the given kind.
pub(crate) fn error(
    kind: HubErrorKind,
    what: impl Into<String>,
    hint: impl Into<String>,
) -> crate::Error {
    crate::Error::Hub {
        kind,
        what: one_line(&what.into()),
        hint: hint.into(),
    }
}

/// Error texts from the network stack can span lines; ours are printed on one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Repository ids: `owner/name`, each part of ASCII letters, digits, `-`, `_` and `.`, not
/// starting or ending with `-` or `.`, no `--` or `..` (the Hub's own rule, which also keeps
/// ids safe as cache folder names). Returns why an id is refused.
pub(crate) fn check_repo_id(id: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() != 2 {
        return Err(format!("`{id}` is not of the form owner/name"));
    }
    for p in parts {
        let ok_chars = p
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let bad_ends = p.starts_with(['-', '.']) || p.ends_with(['-', '.']);
        if p.is_empty()
            || p.len() > 96
            || !ok_chars
            || bad_ends
            || p.contains("--")
            || p.contains("..")
        {
            return Err(format!("`{id}` is not a valid repository id (`{p}`)"));
        }
    }
    Ok(())
}

/// Revisions: a branch, tag or commit; refused when empty, absolute, or with `..`, because a
/// revision names a file under `refs/` in the cache.
pub(crate) fn check_revision(rev: &str) -> std::result::Result<(), String> {
    let bad = rev.is_empty()
        || rev.starts_with('/')
        || rev.ends_with('/')
        || rev
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || rev
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    if bad {
        Err(format!("`{rev}` is not a valid revision"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_revisions() {
        for ok in [
            "facebook/opt-125m",
            "Salesforce/wikitext",
            "a/b",
            "EleutherAI/gpt-neo_1.3B",
        ] {
            assert!(check_repo_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "opt-125m", "a/b/c", "/b", "a/", "a b/c", "a/-b", "a/b.", "a/b--c", "a/..", "ä/b",
        ] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
        for ok in ["main", "v1.0", "refs/convert/parquet", "refs/pr/1"] {
            assert!(check_revision(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/main", "main/", "a//b", "../x", "a/../b", "a b"] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
