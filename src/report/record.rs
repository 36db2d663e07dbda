//! A generation's eval record (`evals/<exp>/gen-NN.json`): everything measured for it, the
//! chain's last word on a generation (written last, so its presence marks the generation
//! finished). [`super::metrics_csv`] flattens records into the per-arm table.

use crate::metrics::corpus_metrics::CorpusMetrics;
use crate::metrics::doc_ppl::DocPplDistribution;
use crate::metrics::perplexity::{f64_or_nan, PerplexityReport};
use crate::metrics::vocabulary::VocabularyReport;
use serde::{Deserialize, Serialize};

/// What one generation trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    pub documents: usize,
    pub tokens: usize,
    pub sha256: String,
}

/// Everything measured for one generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationEval {
    pub generation: u32,
    pub policy: String,
    pub model: String,
    pub train: TrainSummary,
    /// sha256 of the human test split the generation was scored on (absent in records
    /// written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_sha256: Option<String>,
    /// The headline: perplexity of the held-out human test split over the human words, each
    /// OOV charged p(`<unk>`)/K ([`crate::metrics::vocabulary`]). Records written before it
    /// existed read back `NaN`.
    #[serde(default = "nan", deserialize_with = "f64_or_nan")]
    pub test_ppl: f64,
    /// The generation's model on the held-out human test split (KenLM's conventions).
    pub test: PerplexityReport,
    /// What the model can write of the human vocabulary.
    #[serde(default)]
    pub vocabulary: VocabularyReport,
    /// The text this generation wrote, against the human training text.
    pub generated: CorpusMetrics,
    /// The text this generation wrote, scored by generation 0's model.
    pub gen0_on_generated: PerplexityReport,
    /// The same scores per document (tail loss): quantiles and a fixed-bin histogram.
    /// Records written before it existed read back with no documents.
    #[serde(default)]
    pub gen0_doc_ppl: DocPplDistribution,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Shumailov et al.'s test perplexity: exp of the mean batch loss over disjoint blocks
    /// (64 tokens in the paper), for families that define it (`hf:` models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_block_ppl: Option<f64>,
}

fn nan() -> f64 {
    f64::NAN
}
