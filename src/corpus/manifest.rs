//! The provenance record written next to every corpus: where the text came from, exactly which
//! bytes (sha256), which model wrote it with which settings and seed, and what it mixes.
//!
//! A manifest answers the question a reviewer asks of a collapse experiment: "what, precisely,
//! did generation g train on?" It is JSON (`<corpus>.manifest.json` or `manifest.json`).

use super::CorpusStats;
use serde::{Deserialize, Serialize};

/// What kind of corpus a manifest describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorpusKind {
    /// A split of a human corpus (train, valid or test).
    Human,
    /// Text written by a model.
    Generated,
    /// The training set of one generation, composed by a policy from other corpora.
    TrainingMix,
}

/// One parent corpus that a training mix draws from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParentShare {
    /// Path of the parent corpus, relative to the workdir.
    pub corpus: String,
    /// sha256 of the parent corpus file.
    pub sha256: String,
    /// How many of the parent's documents and tokens the mix takes.
    pub documents: usize,
    pub tokens: usize,
    /// The documents taken, by id, where the policy promises something about them (`fresh:F`
    /// names its fresh human documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

/// How a human corpus was split; stored so every generation and `eval` use the same held-out text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    pub seed: u64,
    pub valid_frac: f64,
    pub test_frac: f64,
    /// Document ids per split, in corpus order.
    pub train_ids: Vec<String>,
    pub valid_ids: Vec<String>,
    pub test_ids: Vec<String>,
    /// The source's own split (an `hf:` dataset's train/validation/test), kept as published;
    /// the fractions then say what it is, and the seed did not choose it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub official: bool,
}

/// The Hub dataset a human corpus was read from: enough to fetch the same bytes again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSource {
    /// `owner/name`.
    pub repo: String,
    /// The configuration (subset), e.g. `wikitext-2-raw-v1`.
    pub config: String,
    /// The revision asked for (`main`, a tag, a commit).
    pub revision: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The parquet files read for this corpus.
    pub files: Vec<DatasetFile>,
}

/// One parquet file of a Hub dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetFile {
    /// Path inside the repository.
    pub path: String,
    /// Official split: `train`, `validation` or `test`.
    pub split: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
}

/// Provenance of one corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: CorpusKind,
    /// Where the text came from: `embedded:kjv`, a path, `hf:...`, or the model that wrote it.
    pub source: String,
    /// sha256 of the corpus as written (JSONL bytes).
    pub sha256: String,
    #[serde(flatten)]
    pub stats: CorpusStats,
    /// Generation that wrote (generated) or trains on (training mix) this corpus.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation: Option<u32>,
    /// The model that wrote it (checkpoint path relative to the workdir).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_model: Option<String>,
    /// Fingerprint of that checkpoint's files ([`crate::fsutil::dir_sha256`]), so a resumed
    /// chain can tell that the model it judges with changed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_model_sha256: Option<String>,
    /// Sampling settings (temperature, protocol, sizes), as the sampler recorded them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sampling: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seed: Option<u64>,
    /// The corpus policy that composed a training mix (`replace`, `mix:0.1`, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub parents: Vec<ParentShare>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub split: Option<SplitInfo>,
    /// The Hub dataset a human corpus came from (`hf:` sources).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dataset: Option<DatasetSource>,
    /// `collapse-lab <version>` that wrote it.
    pub created_by: String,
}

impl Manifest {
    /// A manifest with the fields every corpus has; callers fill in the rest.
    pub fn new(
        kind: CorpusKind,
        source: impl Into<String>,
        sha256: impl Into<String>,
        stats: CorpusStats,
    ) -> Self {
        Manifest {
            kind,
            source: source.into(),
            sha256: sha256.into(),
            stats,
            generation: None,
            parent_model: None,
            parent_model_sha256: None,
            sampling: None,
            seed: None,
            policy: None,
            parents: Vec::new(),
            split: None,
            dataset: None,
            created_by: format!("collapse-lab {}", env!("CARGO_PKG_VERSION")),
        }
    }
}
