//! The per-arm `metrics.csv`: one row per generation, one column per measure, named for what
//! it holds; what `compare`, `report` and plotting scripts read.
//!
//! Why one table of (column, value): the names and the values cannot drift apart, and a new
//! measure is one line. Columns are only ever appended, so older column positions hold.

use super::record::GenerationEval;
use crate::error::{Error, Result};
use crate::fsutil;
use std::path::Path;

/// Every float column is written in full: the shortest decimal that reads back as the same
/// f64 (a small metric such as seq-rep-4 keeps its digits; six decimals left 0.001234 four).
fn full(x: f64) -> String {
    format!("{x}")
}

/// How one column's value is written from a generation's record.
type Cell = fn(&GenerationEval) -> String;

/// Every column of `metrics.csv`, in order, with its value.
pub const COLUMNS: &[(&str, Cell)] = &[
    ("generation", |e| e.generation.to_string()),
    ("policy", |e| e.policy.clone()),
    ("train_docs", |e| e.train.documents.to_string()),
    ("train_tokens", |e| e.train.tokens.to_string()),
    // The headline, over the human words (before issue 11: KenLM's including-OOV value,
    // now `test_ppl_incl_oov`).
    ("test_ppl", |e| full(e.test_ppl)),
    ("test_ppl_excl_oov", |e| full(e.test.token_ppl_excl_oov)),
    ("test_oov_rate", |e| full(e.test.oov_rate)),
    ("test_word_ppl", |e| full(e.test.word_ppl)),
    ("test_bits_per_byte", |e| full(e.test.bits_per_byte)),
    ("gen_tokens", |e| e.generated.tokens.to_string()),
    ("types", |e| e.generated.types.to_string()),
    ("human_types_lost", |e| full(e.generated.human_types_lost)),
    ("rare_types_lost", |e| full(e.generated.rare_types_lost)),
    ("seq_rep_4", |e| full(e.generated.seq_rep_4)),
    ("distinct_1", |e| full(e.generated.distinct_1)),
    ("distinct_2", |e| full(e.generated.distinct_2)),
    ("unigram_kl", |e| full(e.generated.unigram_kl)),
    ("gen0_ppl_of_generated", |e| {
        full(e.gen0_on_generated.token_ppl)
    }),
    ("discount_fallbacks", |e| e.notes.len().to_string()),
    // Added with the metric suite of issue 6 (appended, so older column positions hold).
    ("test_byte_ppl", |e| full(e.test.byte_ppl)),
    ("seq_rep_1", |e| full(e.generated.seq_rep_1)),
    ("seq_rep_2", |e| full(e.generated.seq_rep_2)),
    ("seq_rep_3", |e| full(e.generated.seq_rep_3)),
    ("rep_16", |e| full(e.generated.rep_16)),
    ("rep_32", |e| full(e.generated.rep_32)),
    ("rep_128", |e| full(e.generated.rep_128)),
    ("distinct_2_per_ngram", |e| {
        full(e.generated.distinct_2_per_ngram)
    }),
    ("distinct_3_per_ngram", |e| {
        full(e.generated.distinct_3_per_ngram)
    }),
    ("distinct_4_per_ngram", |e| {
        full(e.generated.distinct_4_per_ngram)
    }),
    ("distinct_2_per_token", |e| {
        full(e.generated.distinct_2_per_token)
    }),
    ("distinct_3_per_token", |e| {
        full(e.generated.distinct_3_per_token)
    }),
    ("distinct_4_per_token", |e| {
        full(e.generated.distinct_4_per_token)
    }),
    ("medium_types_lost", |e| full(e.generated.medium_types_lost)),
    ("frequent_types_lost", |e| {
        full(e.generated.frequent_types_lost)
    }),
    ("unigram_js", |e| full(e.generated.unigram_js)),
    ("self_bleu", |e| full(e.generated.self_bleu)),
    ("self_bleu_docs", |e| e.generated.self_bleu_docs.to_string()),
    ("mattr", |e| full(e.generated.mattr)),
    ("mtld", |e| full(e.generated.mtld)),
    ("compression_ratio", |e| full(e.generated.compression_ratio)),
    ("zipf_coefficient", |e| full(e.generated.zipf_coefficient)),
    ("gen0_doc_ppl_mean", |e| full(e.gen0_doc_ppl.mean)),
    ("gen0_doc_ppl_p5", |e| full(e.gen0_doc_ppl.p5)),
    ("gen0_doc_ppl_p25", |e| full(e.gen0_doc_ppl.p25)),
    ("gen0_doc_ppl_p50", |e| full(e.gen0_doc_ppl.p50)),
    ("gen0_doc_ppl_p75", |e| full(e.gen0_doc_ppl.p75)),
    ("gen0_doc_ppl_p95", |e| full(e.gen0_doc_ppl.p95)),
    // Added with the OPT family (issue 5); empty for families without it.
    ("test_block_ppl", |e| {
        e.test_block_ppl.map(full).unwrap_or_default()
    }),
    // Added with the vocabulary report (issue 11).
    ("test_ppl_incl_oov", |e| full(e.test.token_ppl)),
    ("model_vocab", |e| {
        e.vocabulary
            .model_types
            .map(|n| n.to_string())
            .unwrap_or_default()
    }),
    ("human_types_unnamed", |e| {
        full(e.vocabulary.human_types_unnamed)
    }),
    ("rare_types_unnamed", |e| {
        full(e.vocabulary.rare_types_unnamed)
    }),
    ("medium_types_unnamed", |e| {
        full(e.vocabulary.medium_types_unnamed)
    }),
    ("frequent_types_unnamed", |e| {
        full(e.vocabulary.frequent_types_unnamed)
    }),
    ("unnamed_human_words", |e| {
        e.vocabulary.unnamed_words.to_string()
    }),
];

/// The column names, in order.
pub fn column_names() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|(name, _)| *name)
}

/// Writes `metrics.csv` (atomically) for the given generations, in order.
pub fn write_metrics_csv(path: &Path, evals: &[GenerationEval]) -> Result<()> {
    let mut out = column_names().collect::<Vec<_>>().join(",");
    out.push('\n');
    for e in evals {
        let row: Vec<String> = COLUMNS.iter().map(|(_, cell)| cell(e)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    fsutil::write_atomic(path, out.as_bytes())
}

/// A finished (or partly finished) experiment read back from its CSV.
#[derive(Clone, Debug)]
pub struct ArmTable {
    pub name: String,
    /// The chain's seed (from its `chain.json`), if known.
    pub seed: Option<u64>,
    /// The chain's model (`ngram:3`, `gpt:tiny`, ...), if known: what its tokens are.
    pub model: Option<String>,
    /// The sha256 of the human test split it was scored on (from its first eval record).
    pub test_sha256: Option<String>,
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
        // Files written before the headline perplexity held KenLM's including-OOV value under
        // `test_ppl`: read it under its own name, so no table mixes the two.
        let mut columns = columns;
        if !columns.iter().any(|c| c == "test_ppl_incl_oov") {
            if let Some(c) = columns.iter_mut().find(|c| *c == "test_ppl") {
                *c = "test_ppl_incl_oov".into();
            }
        }
        // The seed, read as a plain field: the settings' types live with the chain, which
        // writes through this module.
        let chain = fsutil::read_json::<serde_json::Value>(path.with_file_name("chain.json")).ok();
        let field = |k: &str| chain.as_ref().and_then(|v| v.get(k)).cloned();
        let first = fsutil::read_json::<serde_json::Value>(path.with_file_name("gen-00.json")).ok();
        Ok(ArmTable {
            name: name.to_string(),
            seed: field("seed").and_then(|s| s.as_u64()),
            model: field("model").and_then(|m| m.as_str().map(String::from)),
            test_sha256: first.and_then(|v| {
                v.get("test_sha256")
                    .and_then(|s| s.as_str().map(String::from))
            }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::corpus_metrics::CorpusMetrics;
    use crate::metrics::perplexity::perplexity;
    use crate::metrics::{DocScore, Scores};
    use crate::report::record::TrainSummary;

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
            test_sha256: None,
            test_ppl: 3.5,
            vocabulary: crate::metrics::vocabulary::VocabularyReport {
                model_types: Some(12),
                rare_types_unnamed: 0.25,
                unnamed_words: 9,
                ..Default::default()
            },
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
            gen0_doc_ppl: crate::metrics::doc_ppl::doc_ppl_distribution(&scores),
            notes: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evals/a/metrics.csv");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_metrics_csv(&path, &[e]).unwrap();
        let t = ArmTable::read(dir.path(), "a").unwrap();
        let want = [
            ("generation", "3"),
            ("test_ppl", "3.5"),
            ("test_ppl_incl_oov", "2.718281828459045"), // exp(2/2)
            ("model_vocab", "12"),
            ("rare_types_unnamed", "0.25"),
            ("unnamed_human_words", "9"),
            ("test_byte_ppl", "1.6487212707001282"), // exp(2/4)
            ("types", "3"),
            ("rare_types_lost", "0.05"),
            ("seq_rep_1", "0.11"),
            ("seq_rep_4", "0.14"),
            ("rep_128", "0.128"),
            ("distinct_2", "0.2"),
            ("distinct_4_per_token", "0.44"),
            ("unigram_js", "0.5"),
            ("self_bleu", "0.6"),
            ("self_bleu_docs", "7"),
            ("mattr", "0.7"),
            ("mtld", "80"),
            ("compression_ratio", "3.5"),
            ("zipf_coefficient", "1.1"),
            ("medium_types_lost", "NaN"), // unset: NaN
            ("gen0_doc_ppl_p50", "2.718281828459045"),
        ];
        for (col, v) in want {
            assert_eq!(t.get(0, col), Some(v), "{col}");
        }
        // Column names are unique.
        let mut names: Vec<&str> = column_names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
    }
}
