//! Eval records, the per-arm `metrics.csv`, and the side-by-side comparison of arms.
//!
//! A generation's eval record (`evals/<exp>/gen-NN.json`) holds everything measured; the CSV
//! flattens it to one row per generation with columns named for what they hold, which is
//! what plotting scripts and `compare` read.

use crate::error::{Error, Result};
use crate::eval::corpus_metrics::CorpusMetrics;
use crate::eval::doc_ppl::DocPplDistribution;
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
    // Added with the metric suite of issue 6 (appended, so older column positions hold).
    "test_byte_ppl",
    "seq_rep_1",
    "seq_rep_2",
    "seq_rep_3",
    "rep_16",
    "rep_32",
    "rep_128",
    "distinct_2_per_ngram",
    "distinct_3_per_ngram",
    "distinct_4_per_ngram",
    "distinct_2_per_token",
    "distinct_3_per_token",
    "distinct_4_per_token",
    "medium_types_lost",
    "frequent_types_lost",
    "unigram_js",
    "self_bleu",
    "self_bleu_docs",
    "mattr",
    "mtld",
    "compression_ratio",
    "zipf_coefficient",
    "gen0_doc_ppl_mean",
    "gen0_doc_ppl_p5",
    "gen0_doc_ppl_p25",
    "gen0_doc_ppl_p50",
    "gen0_doc_ppl_p75",
    "gen0_doc_ppl_p95",
    // Added with the OPT family (issue 5); empty for families without it.
    "test_block_ppl",
];

fn row(e: &GenerationEval) -> Vec<String> {
    let f = |x: f64| format!("{x:.6}");
    let (g, d) = (&e.generated, &e.gen0_doc_ppl);
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
        f(e.test.byte_ppl),
        f(g.seq_rep_1),
        f(g.seq_rep_2),
        f(g.seq_rep_3),
        f(g.rep_16),
        f(g.rep_32),
        f(g.rep_128),
        f(g.distinct_2_per_ngram),
        f(g.distinct_3_per_ngram),
        f(g.distinct_4_per_ngram),
        f(g.distinct_2_per_token),
        f(g.distinct_3_per_token),
        f(g.distinct_4_per_token),
        f(g.medium_types_lost),
        f(g.frequent_types_lost),
        f(g.unigram_js),
        f(g.self_bleu),
        g.self_bleu_docs.to_string(),
        f(g.mattr),
        f(g.mtld),
        f(g.compression_ratio),
        f(g.zipf_coefficient),
        f(d.mean),
        f(d.p5),
        f(d.p25),
        f(d.p50),
        f(d.p75),
        f(d.p95),
        e.test_block_ppl.map(f).unwrap_or_default(),
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

/// The side-by-side table: one row per generation, the chosen columns (by default
/// `COMPARE_COLUMNS`) per arm.
pub struct CompareTable {
    /// Arm labels: experiment names without their common `<prefix>-`.
    pub arms: Vec<String>,
    /// Short names of the columns shown for each arm.
    pub columns: Vec<String>,
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
                self.columns
                    .iter()
                    .map(|short| format!("{}{a}:{short}", self.prefix)),
            );
        }
        let mut out = head.join(",") + "\n";
        for r in &self.rows {
            out += &(r.join(",") + "\n");
        }
        out
    }
}

/// The side-by-side table of `COMPARE_COLUMNS`.
pub fn compare_table(arms: &[ArmTable]) -> CompareTable {
    compare_columns(arms, COMPARE_COLUMNS)
}

/// The side-by-side table of the given `(metrics.csv column, short name)` pairs.
pub fn compare_columns(arms: &[ArmTable], columns: &[(&str, &str)]) -> CompareTable {
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    let prefix = common_prefix(&names);
    let mut header = vec!["gen".to_string()];
    for _ in arms {
        header.extend(columns.iter().map(|(_, short)| short.to_string()));
    }
    let gens = arms.iter().map(|a| a.rows.len()).max().unwrap_or(0);
    let rows = (0..gens)
        .map(|g| {
            let mut r = vec![g.to_string()];
            for a in arms {
                for (col, _) in columns {
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
        columns: columns.iter().map(|(_, s)| s.to_string()).collect(),
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
        // Decimal columns keep their decimals even when a value is whole (0.000000 → 0.0000).
        Ok(x) if x.fract() != 0.0 || s.contains('.') => {
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
    use crate::eval::perplexity::perplexity;
    use crate::eval::{DocScore, Scores};

    #[test]
    fn every_column_holds_the_field_it_names() {
        // Each measure gets a distinct value, so a column shifted by one shows.
        let mut m = CorpusMetrics {
            tokens: 14,
            types: 3,
            self_bleu_docs: 7,
            ..Default::default()
        };
        (m.seq_rep_1, m.seq_rep_4, m.rep_128) = (0.11, 0.14, 0.128);
        (m.distinct_2, m.distinct_2_per_ngram, m.distinct_4_per_token) = (0.2, 0.2, 0.44);
        (m.unigram_js, m.self_bleu, m.mattr, m.mtld) = (0.5, 0.6, 0.7, 80.0);
        (m.compression_ratio, m.zipf_coefficient, m.rare_types_lost) = (3.5, 1.1, 0.05);
        let scores = Scores {
            docs: vec![DocScore {
                logprob: -2.0,
                tokens: 2,
                words: 1,
                bytes: 4,
                ..Default::default()
            }],
        };
        let e = GenerationEval {
            test_block_ppl: None,
            generation: 3,
            policy: "replace".into(),
            model: "ngram:3".into(),
            train: TrainSummary {
                documents: 1,
                tokens: 2,
                sha256: "x".into(),
            },
            test: perplexity(&scores),
            generated: m,
            gen0_on_generated: perplexity(&scores),
            gen0_doc_ppl: crate::eval::doc_ppl::doc_ppl_distribution(&scores),
            notes: vec![],
        };
        assert_eq!(row(&e).len(), CSV_COLUMNS.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evals/a/metrics.csv");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_metrics_csv(&path, &[e]).unwrap();
        let t = ArmTable::read(dir.path(), "a").unwrap();
        let want = [
            ("generation", "3"),
            ("test_ppl", "2.718282"),      // exp(2/2)
            ("test_byte_ppl", "1.648721"), // exp(2/4)
            ("types", "3"),
            ("rare_types_lost", "0.050000"),
            ("seq_rep_1", "0.110000"),
            ("seq_rep_4", "0.140000"),
            ("rep_128", "0.128000"),
            ("distinct_2", "0.200000"),
            ("distinct_4_per_token", "0.440000"),
            ("unigram_js", "0.500000"),
            ("self_bleu", "0.600000"),
            ("self_bleu_docs", "7"),
            ("mattr", "0.700000"),
            ("mtld", "80.000000"),
            ("compression_ratio", "3.500000"),
            ("zipf_coefficient", "1.100000"),
            ("medium_types_lost", "NaN"), // unset: NaN
            ("gen0_doc_ppl_p50", "2.718282"),
        ];
        for (col, v) in want {
            assert_eq!(t.get(0, col), Some(v), "{col}");
        }
        // Column names are unique.
        let mut names = CSV_COLUMNS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CSV_COLUMNS.len());
    }

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
