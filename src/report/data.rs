//! What a report reads: each arm's metrics, eval records and manifests, and what it derives
//! from the corpora on disk (rank-frequency curves, generation 0's per-document perplexities).

use crate::corpus::Corpus;
use crate::error::Result;
use crate::family::checkpoint::Checkpoint;
use crate::fsutil;
use crate::hash::FxHashMap;
use crate::layout::Layout;
use crate::metrics::doc_ppl::doc_ppl_distribution;
use crate::metrics::Scores;
use crate::report::metrics_csv::ArmTable;
use crate::tokenize;
use rayon::prelude::*;
use serde_json::Value;
use std::path::Path;

/// One experiment (arm) as the report shows it.
pub struct Arm {
    pub name: String,
    /// The name without the prefix the arms share (`replace` for `quickstart-replace`).
    pub label: String,
    pub layout: Layout,
    pub table: ArmTable,
    /// `evals/<exp>/chain.json`, as written.
    pub chain: Value,
    /// `evals/<exp>/gen-NN.json` of every finished generation.
    pub evals: Vec<Value>,
    /// `corpora/<exp>/human/{train,valid,test}.manifest.json` (with the split's id lists counted,
    /// not listed).
    pub human: Vec<(String, Value)>,
    /// Per finished generation: its training-mix manifest and its generated corpus's manifest.
    pub train_manifests: Vec<Value>,
    pub generated_manifests: Vec<Value>,
}

fn read_value(path: &Path) -> Result<Value> {
    fsutil::read_json(path)
}

/// Reads everything the report shows of experiment `name` (which must have a `metrics.csv`).
pub fn read_arm(workdir: &Path, name: &str, label: &str) -> Result<Arm> {
    let table = ArmTable::read(workdir, name)?;
    let layout = Layout::new(workdir, name);
    let chain = read_value(&layout.chain_json())?;
    let gens = table.rows.len() as u32;
    let mut evals = Vec::new();
    let (mut train_manifests, mut generated_manifests) = (Vec::new(), Vec::new());
    for g in 0..gens {
        evals.push(read_value(&layout.eval_file(g))?);
        train_manifests.push(read_value(&layout.train_manifest(g)).unwrap_or(Value::Null));
        generated_manifests.push(read_value(&layout.generated_manifest(g)).unwrap_or(Value::Null));
    }
    let mut human = Vec::new();
    for split in ["train", "valid", "test"] {
        let p = layout.human_dir().join(format!("{split}.manifest.json"));
        if let Ok(mut m) = read_value(&p) {
            count_id_lists(&mut m);
            human.push((split.to_string(), m));
        }
    }
    Ok(Arm {
        name: name.into(),
        label: label.into(),
        layout,
        table,
        chain,
        evals,
        human,
        train_manifests,
        generated_manifests,
    })
}

/// Replaces the split's document id lists (thousands of ids) by their lengths.
fn count_id_lists(m: &mut Value) {
    if let Some(split) = m.get_mut("split").and_then(Value::as_object_mut) {
        for (_, v) in split.iter_mut() {
            if let Some(a) = v.as_array() {
                *v = Value::from(a.len());
            }
        }
    }
}

/// Word frequencies sorted from the most frequent down, as shares of all words.
pub fn rank_frequency(corpus: &Corpus) -> Vec<f64> {
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for d in &corpus.docs {
        for w in tokenize::words(&d.text) {
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    let total: u64 = counts.values().sum();
    let mut c: Vec<u64> = counts.into_values().collect();
    c.sort_unstable_by(|a, b| b.cmp(a));
    c.into_iter()
        .map(|n| n as f64 / total.max(1) as f64)
        .collect()
}

/// About `points` (rank, share) pairs at log-spaced ranks: a curve over tens of thousands of
/// ranks drawn with a few hundred points looks the same on log-log axes.
pub fn log_sample(shares: &[f64], points: usize) -> Vec<(f64, f64)> {
    let n = shares.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut last = 0usize;
    for i in 0..=points {
        let r = ((n as f64).powf(i as f64 / points as f64)).round() as usize;
        let r = r.clamp(1, n);
        if r > last {
            out.push((r as f64, shares[r - 1]));
            last = r;
        }
    }
    out
}

/// Rank-frequency curves of the human training text and of every generation's text, read from
/// `corpora/<exp>/` (in parallel; the human one first). Missing corpora give empty curves.
pub fn corpus_curves(arm: &Arm, points: usize) -> Vec<Vec<(f64, f64)>> {
    let mut paths = vec![arm.layout.human_dir().join("train.jsonl")];
    paths.extend((0..arm.evals.len() as u32).map(|g| arm.layout.generated_corpus(g)));
    paths
        .par_iter()
        .map(|p| match Corpus::read_jsonl(p) {
            Ok(c) => log_sample(&rank_frequency(&c), points),
            Err(_) => Vec::new(),
        })
        .collect()
}

/// A histogram over fixed bins: edges and counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// A histogram stored in an eval record: any object with `histogram_edges` and `histogram`
/// arrays, preferring fields whose name mentions generation 0.
pub fn stored_histogram(eval: &Value) -> Option<Histogram> {
    let obj = eval.as_object()?;
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort_by_key(|k| !k.contains("gen0"));
    keys.into_iter().find_map(|k| {
        let v = obj.get(k)?;
        let nums = |f: &str| -> Option<Vec<f64>> {
            v.get(f)?.as_array()?.iter().map(Value::as_f64).collect()
        };
        let (edges, counts) = (nums("histogram_edges")?, nums("histogram")?);
        (edges.len() == counts.len() + 1).then(|| Histogram {
            edges,
            counts: counts.into_iter().map(|c| c as u64).collect(),
        })
    })
}

/// Generation 0's per-document perplexity histogram of every generation's text: from the eval
/// records when they hold one, otherwise by scoring the generated corpora with the saved
/// generation-0 model (records written before that field existed). `None` when neither is
/// possible (no checkpoint).
pub fn gen0_histograms(arm: &Arm) -> Result<Option<Vec<Histogram>>> {
    let stored: Option<Vec<Histogram>> = arm.evals.iter().map(stored_histogram).collect();
    if let Some(h) = stored {
        return Ok(Some(h));
    }
    let dir = arm.layout.checkpoint_dir(0);
    let Ok(model) = Checkpoint::open(&dir) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for g in 0..arm.evals.len() as u32 {
        let corpus = Corpus::read_jsonl(&arm.layout.generated_corpus(g))?;
        let scores: Scores = model.score(&corpus)?;
        let d = doc_ppl_distribution(&scores);
        out.push(Histogram {
            edges: d.histogram_edges,
            counts: d.histogram,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Document;

    #[test]
    fn rank_frequency_and_log_sampling() {
        let c = Corpus::new(vec![Document::new("a", "x x x y y z")]);
        let rf = rank_frequency(&c);
        assert_eq!(rf, vec![0.5, 2.0 / 6.0, 1.0 / 6.0]);
        let s = log_sample(&(1..=1000).map(|r| 1.0 / r as f64).collect::<Vec<_>>(), 30);
        assert_eq!(s.first().unwrap().0, 1.0);
        assert_eq!(s.last().unwrap().0, 1000.0);
        assert!(s.len() <= 31 && s.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(log_sample(&[], 10).is_empty());
    }

    #[test]
    fn histograms_from_records_or_values() {
        let rec = serde_json::json!({
            "generation": 1,
            "gen0_doc_ppl": {"histogram_edges": [1.0, 10.0, 100.0], "histogram": [3, 4]},
        });
        let h = stored_histogram(&rec).unwrap();
        assert_eq!(h.counts, vec![3, 4]);
        assert!(stored_histogram(&serde_json::json!({"generation": 1})).is_none());
    }
}
