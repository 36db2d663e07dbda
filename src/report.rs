//! Eval records, the per-arm `metrics.csv`, and the side-by-side comparison of arms.
//!
//! A generation's eval record (`evals/<exp>/gen-NN.json`) holds everything measured; the CSV
//! flattens it to one row per generation with columns named for what they hold, which is
//! what plotting scripts and `compare` read.

use crate::error::{Error, Result};
use crate::eval::corpus_metrics::CorpusMetrics;
use crate::eval::perplexity::PerplexityReport;
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// The generation's model on the held-out human test split.
    pub test: PerplexityReport,
    /// The text this generation wrote, against the human training text.
    pub generated: CorpusMetrics,
    /// The text this generation wrote, scored by generation 0's model.
    pub gen0_on_generated: PerplexityReport,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Column names of `metrics.csv`, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "generation",
    "policy",
    "train_docs",
    "train_tokens",
    "test_ppl",
    "test_ppl_excl_oov",
    "test_oov_rate",
    "test_word_ppl",
    "test_bits_per_byte",
    "gen_tokens",
    "types",
    "human_types_lost",
    "rare_types_lost",
    "seq_rep_4",
    "distinct_1",
    "distinct_2",
    "unigram_kl",
    "gen0_ppl_of_generated",
    "discount_fallbacks",
];

fn row(e: &GenerationEval) -> Vec<String> {
    let f = |x: f64| format!("{x:.6}");
    vec![
        e.generation.to_string(),
        e.policy.clone(),
        e.train.documents.to_string(),
        e.train.tokens.to_string(),
        f(e.test.token_ppl),
        f(e.test.token_ppl_excl_oov),
        f(e.test.oov_rate),
        f(e.test.word_ppl),
        f(e.test.bits_per_byte),
        e.generated.tokens.to_string(),
        e.generated.types.to_string(),
        f(e.generated.human_types_lost),
        f(e.generated.rare_types_lost),
        f(e.generated.seq_rep_4),
        f(e.generated.distinct_1),
        f(e.generated.distinct_2),
        f(e.generated.unigram_kl),
        f(e.gen0_on_generated.token_ppl),
        e.notes.len().to_string(),
    ]
}

/// Writes `metrics.csv` (atomically) for the given generations, in order.
pub fn write_metrics_csv(path: &Path, evals: &[GenerationEval]) -> Result<()> {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for e in evals {
        out.push_str(&row(e).join(","));
        out.push('\n');
    }
    fsutil::write_atomic(path, out.as_bytes())
}

/// A finished (or partly finished) experiment read back from its CSV.
#[derive(Clone, Debug)]
pub struct ArmTable {
    pub name: String,
    pub rows: Vec<Vec<String>>,
    pub columns: Vec<String>,
}

impl ArmTable {
    pub fn read(workdir: &Path, name: &str) -> Result<ArmTable> {
        let path = workdir.join("evals").join(name).join("metrics.csv");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::invalid(
                format!(
                    "experiment `{name}` has no results ({} is missing)",
                    path.display()
                ),
                "run it first (collapse-lab chain/run), or check --workdir",
            ),
            _ => Error::io(&path, e),
        })?;
        let mut lines = text.lines();
        let columns: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split(',')
            .map(String::from)
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        Ok(ArmTable {
            name: name.to_string(),
            rows,
            columns,
        })
    }

    /// The value of `column` in generation `g`'s row.
    pub fn get(&self, g: usize, column: &str) -> Option<&str> {
        let c = self.columns.iter().position(|x| x == column)?;
        self.rows.get(g).and_then(|r| r.get(c)).map(|s| s.as_str())
    }
}

/// The columns `compare` puts side by side, with short headers.
pub const COMPARE_COLUMNS: &[(&str, &str)] = &[
    ("test_ppl", "ppl"),
    ("types", "types"),
    ("rare_types_lost", "rare_lost"),
    ("seq_rep_4", "rep4"),
];

/// The side-by-side table: one row per generation, `COMPARE_COLUMNS` per arm.
/// Returns (header cells, rows) for printing or CSV.
pub fn compare_table(arms: &[ArmTable]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["gen".to_string()];
    for a in arms {
        for (_, short) in COMPARE_COLUMNS {
            header.push(format!("{}:{short}", a.name));
        }
    }
    let gens = arms.iter().map(|a| a.rows.len()).max().unwrap_or(0);
    let rows = (0..gens)
        .map(|g| {
            let mut r = vec![g.to_string()];
            for a in arms {
                for (col, _) in COMPARE_COLUMNS {
                    r.push(
                        a.get(g, col)
                            .map(short_number)
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            }
            r
        })
        .collect();
    (header, rows)
}

/// Numbers printed for people: 4 significant digits at most.
fn short_number(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(x) if x.fract() != 0.0 => {
            let digits = if x.abs() >= 100.0 {
                1
            } else if x.abs() >= 1.0 {
                3
            } else {
                4
            };
            format!("{x:.digits$}")
        }
        _ => s.to_string(),
    }
}
