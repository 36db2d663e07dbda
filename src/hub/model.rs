//! A model repository's files: config, weights and tokenizer, fetched into the cache.
//!
//! Why we choose from the repository's file list (online) or the snapshot folder (offline)
//! rather than trying names until one is not a 404: every try is a round trip, a 404 cannot be
//! told from a typo in the repository name, and offline there is nothing to try against.
//! The preferences are the ones `transformers` applies: `model.safetensors` before
//! `pytorch_model.bin` (facebook/opt-125m has only the latter, in f16), `tokenizer.json`
//! before the GPT-2 style `vocab.json` + `merges.txt`.

use super::cache::RepoKind;
use super::client::{Listing, Session};
use super::{check_repo_id, check_revision, error, HubConfig, HubErrorKind};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// A model repository at a revision: `facebook/opt-125m@main`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HubRepo {
    pub id: String,
    /// A branch, tag or commit hash; `main` when not given.
    pub revision: String,
}

impl std::str::FromStr for HubRepo {
    type Err = Error;

    /// Parses `owner/name[@revision]`. A leading `hf:` (how `--model` names Hub models) is
    /// accepted and dropped.
    fn from_str(s: &str) -> Result<HubRepo> {
        let s = s.strip_prefix("hf:").unwrap_or(s);
        let (id, revision) = match s.split_once('@') {
            Some((id, rev)) => (id, rev),
            None => (s, "main"),
        };
        let hint = "name a Hub model as owner/name[@revision], e.g. facebook/opt-125m or \
                    facebook/opt-125m@main (models without an owner moved: gpt2 is openai-community/gpt2)";
        check_repo_id(id).map_err(|what| Error::invalid(what, hint))?;
        check_revision(revision).map_err(|what| Error::invalid(format!("{s}: {what}"), hint))?;
        Ok(HubRepo {
            id: id.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl std::fmt::Display for HubRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.revision)
    }
}

/// The weights file, by format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Weights {
    Safetensors(PathBuf),
    /// A PyTorch pickle (`torch.save` zip); the caller reads its tensors.
    PytorchBin(PathBuf),
}

/// The tokenizer, by format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizerFiles {
    /// A `tokenizers` pipeline (`tokenizer.json`).
    Json(PathBuf),
    /// A GPT-2 style byte-level BPE: vocabulary and merges.
    VocabMerges { vocab: PathBuf, merges: PathBuf },
}

/// A model's files in the cache (paths inside `snapshots/<commit>/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    pub repo: HubRepo,
    /// The commit the files are from (`None` only if the cache holds no ref for it).
    pub commit: Option<String>,
    pub config: PathBuf,
    pub weights: Weights,
    pub tokenizer: TokenizerFiles,
    pub generation_config: Option<PathBuf>,
    pub special_tokens_map: Option<PathBuf>,
    pub tokenizer_config: Option<PathBuf>,
}

/// Fetches (or finds in the cache) a model's config, weights and tokenizer, with the
/// configuration of the environment ([`HubConfig::from_env`]). `offline` reads only the
/// cache, as `HF_HUB_OFFLINE=1` does.
pub fn fetch_model(repo: &HubRepo, offline: bool) -> Result<ModelFiles> {
    let mut cfg = HubConfig::from_env();
    cfg.offline |= offline;
    fetch_model_with(&cfg, repo)
}

/// Only a model's `config.json` (fetched, or found in the cache), not its weights: what `hf:`
/// reads to choose the architecture before anything else is checked, so that a chain refused
/// for its settings has not downloaded hundreds of megabytes first.
pub fn fetch_model_config(cfg: &HubConfig, repo: &HubRepo) -> Result<PathBuf> {
    let session = Session::new(cfg, RepoKind::Model, &repo.id, &repo.revision)?;
    let listing = session.listing()?;
    if !listing.has("config.json") {
        return Err(if cfg.offline || listing.from_cache {
            session.not_cached(&["config.json"])
        } else {
            error(
                HubErrorKind::NotFound,
                format!("model {repo} has no config.json"),
                "check that it is a transformers model repository (config.json, weights, tokenizer)",
            )
        });
    }
    Ok(session.fetch(&listing, &["config.json"])?.remove(0))
}

const OPTIONAL: [&str; 3] = [
    "generation_config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// [`fetch_model`] with an explicit configuration (endpoint, cache, token, offline).
pub fn fetch_model_with(cfg: &HubConfig, repo: &HubRepo) -> Result<ModelFiles> {
    let session = Session::new(cfg, RepoKind::Model, &repo.id, &repo.revision)?;
    let listing = session.listing()?;
    let plan = plan(&listing).map_err(|missing| match missing {
        Missing::Files(files) if cfg.offline || listing.from_cache => session.not_cached(&files),
        Missing::Files(files) => error(
            HubErrorKind::NotFound,
            format!("model {repo} has no {}", files.join(" or ")),
            "check that it is a transformers model repository (config.json, weights, tokenizer)",
        ),
        Missing::Sharded(index) => error(
            HubErrorKind::Other,
            format!(
                "model {repo} has sharded weights ({index}), which collapse-lab does not load yet"
            ),
            "use a model whose weights are one file, e.g. facebook/opt-125m or facebook/opt-350m",
        ),
    })?;
    let optional: Vec<&str> = OPTIONAL.into_iter().filter(|f| listing.has(f)).collect();
    let mut wanted = plan.required.clone();
    wanted.extend(&optional);
    let paths = session.fetch(&listing, &wanted)?;
    let path_of = |f: &str| {
        wanted
            .iter()
            .position(|w| *w == f)
            .map(|i| paths[i].clone())
    };
    let req = |f: &str| path_of(f).expect("every required file was fetched");
    let weights = match plan.weights {
        "model.safetensors" => Weights::Safetensors(req("model.safetensors")),
        _ => Weights::PytorchBin(req("pytorch_model.bin")),
    };
    let tokenizer = if plan.tokenizer_json {
        TokenizerFiles::Json(req("tokenizer.json"))
    } else {
        TokenizerFiles::VocabMerges {
            vocab: req("vocab.json"),
            merges: req("merges.txt"),
        }
    };
    Ok(ModelFiles {
        repo: repo.clone(),
        commit: listing.commit.clone(),
        config: req("config.json"),
        weights,
        tokenizer,
        generation_config: path_of(OPTIONAL[0]),
        special_tokens_map: path_of(OPTIONAL[1]),
        tokenizer_config: path_of(OPTIONAL[2]),
    })
}

/// Which files to fetch.
#[derive(Debug, PartialEq)]
struct Plan {
    required: Vec<&'static str>,
    weights: &'static str,
    tokenizer_json: bool,
}

#[derive(Debug, PartialEq)]
enum Missing {
    /// None of these alternatives is there.
    Files(Vec<&'static str>),
    /// Only a sharded checkpoint's index is there.
    Sharded(&'static str),
}

fn plan(l: &Listing) -> std::result::Result<Plan, Missing> {
    if !l.has("config.json") {
        return Err(Missing::Files(vec!["config.json"]));
    }
    let weights = match ["model.safetensors", "pytorch_model.bin"]
        .into_iter()
        .find(|f| l.has(f))
    {
        Some(w) => w,
        None => {
            let index = [
                "model.safetensors.index.json",
                "pytorch_model.bin.index.json",
            ];
            return Err(match index.into_iter().find(|f| l.has(f)) {
                Some(i) => Missing::Sharded(i),
                None => Missing::Files(vec!["model.safetensors", "pytorch_model.bin"]),
            });
        }
    };
    let tokenizer_json = l.has("tokenizer.json");
    let mut required = vec!["config.json", weights];
    if tokenizer_json {
        required.push("tokenizer.json");
    } else if l.has("vocab.json") && l.has("merges.txt") {
        required.extend(["vocab.json", "merges.txt"]);
    } else if l.has("vocab.json") {
        return Err(Missing::Files(vec!["merges.txt"]));
    } else {
        return Err(Missing::Files(vec!["tokenizer.json", "vocab.json"]));
    }
    Ok(Plan {
        required,
        weights,
        tokenizer_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[&str]) -> Listing {
        let mut files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        files.sort();
        Listing {
            commit: Some("c".into()),
            files,
            from_cache: false,
        }
    }

    #[test]
    fn parses_repo_and_revision() {
        let r: HubRepo = "facebook/opt-125m".parse().unwrap();
        assert_eq!(
            (r.id.as_str(), r.revision.as_str()),
            ("facebook/opt-125m", "main")
        );
        let r: HubRepo = "hf:facebook/opt-125m@refs/pr/3".parse().unwrap();
        assert_eq!(
            (r.id.as_str(), r.revision.as_str()),
            ("facebook/opt-125m", "refs/pr/3")
        );
        assert_eq!(r.to_string(), "facebook/opt-125m@refs/pr/3");
        for bad in [
            "opt-125m",
            "facebook/opt 125m",
            "facebook/opt-125m@",
            "a/b/c",
            "",
            "a/b@../x",
        ] {
            match bad.parse::<HubRepo>() {
                Err(e @ Error::Invalid { .. }) => assert!(e.hint().contains("owner/name"), "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn prefers_safetensors_and_tokenizer_json() {
        let p = plan(&listing(&[
            "config.json",
            "pytorch_model.bin",
            "model.safetensors",
            "tokenizer.json",
            "vocab.json",
            "merges.txt",
        ]))
        .unwrap();
        assert_eq!(
            p.required,
            vec!["config.json", "model.safetensors", "tokenizer.json"]
        );
        let p = plan(&listing(&[
            "config.json",
            "pytorch_model.bin",
            "vocab.json",
            "merges.txt",
        ]))
        .unwrap();
        assert_eq!(
            p.required,
            vec![
                "config.json",
                "pytorch_model.bin",
                "vocab.json",
                "merges.txt"
            ]
        );
        assert!(!p.tokenizer_json);
    }

    #[test]
    fn names_what_is_missing() {
        assert_eq!(
            plan(&listing(&["model.safetensors"])),
            Err(Missing::Files(vec!["config.json"]))
        );
        assert_eq!(
            plan(&listing(&["config.json", "tokenizer.json"])),
            Err(Missing::Files(vec![
                "model.safetensors",
                "pytorch_model.bin"
            ]))
        );
        assert_eq!(
            plan(&listing(&["config.json", "model.safetensors.index.json"])),
            Err(Missing::Sharded("model.safetensors.index.json"))
        );
        assert_eq!(
            plan(&listing(&[
                "config.json",
                "model.safetensors",
                "vocab.json"
            ])),
            Err(Missing::Files(vec!["merges.txt"]))
        );
        assert_eq!(
            plan(&listing(&["config.json", "model.safetensors"])),
            Err(Missing::Files(vec!["tokenizer.json", "vocab.json"]))
        );
    }
}
