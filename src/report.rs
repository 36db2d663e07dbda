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
pub struct CompareTable {
    /// Arm labels: experiment names without their common `<prefix>-`.
    pub arms: Vec<String>,
    /// The prefix the arms share (`quickstart-`), or empty.
    pub prefix: String,
    /// Short column names, repeated for each arm, after `gen`.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl CompareTable {
    /// CSV with one header line (`<experiment>:<column>`).
    pub fn to_csv(&self) -> String {
        let mut head = vec!["gen".to_string()];
        for a in &self.arms {
            head.extend(
                COMPARE_COLUMNS
                    .iter()
                    .map(|(_, short)| format!("{}{a}:{short}", self.prefix)),
            );
        }
        let mut out = head.join(",") + "\n";
        for r in &self.rows {
            out += &(r.join(",") + "\n");
        }
        out
    }
}

pub fn compare_table(arms: &[ArmTable]) -> CompareTable {
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    let prefix = common_prefix(&names);
    let mut header = vec!["gen".to_string()];
    for _ in arms {
        header.extend(COMPARE_COLUMNS.iter().map(|(_, short)| short.to_string()));
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
    let labels = names
        .iter()
        .map(|n| n[prefix.len()..].to_string())
        .collect();
    CompareTable {
        arms: labels,
        prefix,
        header,
        rows,
    }
}

/// The longest common prefix of several names that ends with `-` (none for a single name).
fn common_prefix(names: &[&str]) -> String {
    if names.len() < 2 {
        return String::new();
    }
    let first = names[0];
    let mut end = 0;
    for (i, c) in first.char_indices() {
        if names.iter().any(|n| n.get(..=i) != first.get(..=i)) {
            break;
        }
        if c == '-' {
            end = i + 1;
        }
    }
    first[..end].to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_strips_the_shared_prefix_and_lines_up_generations() {
        let cols = CSV_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        let row = |ppl: &str| {
            let mut r = vec!["0".to_string(); cols.len()];
            r[4] = ppl.into();
            r
        };
        let a = ArmTable {
            name: "qs-replace".into(),
            rows: vec![row("114.123"), row("169.4")],
            columns: cols.clone(),
        };
        let b = ArmTable {
            name: "qs-accumulate".into(),
            rows: vec![row("114.123")],
            columns: cols,
        };
        let t = compare_table(&[a, b]);
        assert_eq!(t.prefix, "qs-");
        assert_eq!(t.arms, ["replace", "accumulate"]);
        assert_eq!(t.rows[0][1], "114.1");
        assert_eq!(t.rows[1][1 + COMPARE_COLUMNS.len()], "-");
        assert!(t.to_csv().starts_with("gen,qs-replace:ppl,"));
        assert_eq!(common_prefix(&["x-a", "y-a"]), "");
    }
}
