//! A monitor for any synthetic-data pipeline (`collapse-lab eval`): is a candidate corpus
//! still like human text, or does it show the early signs of model collapse?
//!
//! Why a size-matched baseline: most corpus measures depend on size. A small sample of human
//! text loses most rare words and has a higher distinct-n than a large one, just by being
//! small. So the candidate is never compared with the whole reference, but with human samples
//! of its own size: `draws` times, a seeded sample of the candidate's size is held out from the
//! reference, and both that sample and the candidate are measured against the *rest* of the
//! reference. Holding out (rather than drawing from the reference itself) makes the human
//! sample new text to the reference, as the candidate is, so rare-word loss is judged on equal
//! terms. A candidate larger than half the reference is itself subsampled to that size (a
//! fresh seeded draw each time). The mean and spread of the human samples are the baseline;
//! `signs` says how far beyond it a value must lie to be flagged. Details: `docs/monitor.md`.

pub mod contamination;
pub mod draws;
pub mod signs;

use crate::corpus::policy::subsample;
use crate::corpus::source::LoadedSource;
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::family::checkpoint::Checkpoint;
use crate::metrics::corpus_metrics::{corpus_metrics, HumanReference};
use crate::metrics::doc_ppl::{doc_ppl_distribution, DocPplDistribution};
use crate::metrics::perplexity::perplexity;
use crate::metrics::Scores;
use crate::nn::precision::Precision;
use crate::rng::Rng;
use serde::Serialize;
use signs::{Kind, Worse};
use std::borrow::Cow;

/// Human samples per check: enough for a spread and a range, cheap enough for large references.
pub const DEFAULT_DRAWS: usize = 16;
/// Fewer human words than this give samples too small to show a spread worth a threshold.
pub const MIN_REFERENCE_WORDS: usize = 2_000;
/// More draws only cost time: each is a full measurement of a candidate-sized human sample.
pub const MAX_DRAWS: usize = 1000;

#[derive(Clone, Debug)]
pub struct Settings {
    pub draws: usize,
    pub seed: u64,
    /// What a neural `--model` scores in (recorded in [`ModelCheck`]).
    pub precision: Precision,
}

/// A corpus as the verdict describes it.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusInfo {
    pub source: String,
    pub sha256: Option<String>,
    pub documents: usize,
    pub tokens: usize,
}

impl CorpusInfo {
    fn of(s: &LoadedSource) -> CorpusInfo {
        let st = s.corpus.stats();
        CorpusInfo {
            source: s.source.clone(),
            sha256: s.sha256.clone(),
            documents: st.documents,
            tokens: st.tokens,
        }
    }
}

/// How the baseline was drawn.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    pub draws: usize,
    pub seed: u64,
    /// Size (words) of each human sample and of the candidate as measured.
    pub tokens: usize,
    /// Whether the candidate was larger than half the reference and subsampled.
    pub candidate_subsampled: bool,
    pub z: f64,
}

/// One measured metric: the candidate's value, the human samples' mean and spread, and (for
/// judged metrics) the threshold and whether it is crossed.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub metric: String,
    /// The sign this metric is judged for; `None`: shown for information.
    pub kind: Option<Kind>,
    pub worse: Option<Worse>,
    pub value: f64,
    pub baseline: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub threshold: Option<f64>,
    pub flagged: bool,
}

/// Per-document perplexity of the candidate and of the human samples under `--model`.
#[derive(Clone, Debug, Serialize)]
pub struct ModelCheck {
    pub model: String,
    /// What its perplexities were computed in (`fp32`, `bf16, AMX-BF16 tiles`); none for an
    /// n-gram model.
    pub precision: Option<String>,
    pub candidate: DocPplDistribution,
    /// All human samples' documents together.
    pub human: DocPplDistribution,
}

/// Everything `eval` found.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub reference: CorpusInfo,
    pub candidate: CorpusInfo,
    pub baseline: Baseline,
    pub rows: Vec<Row>,
    pub model: Option<ModelCheck>,
    /// Names of the flagged metrics.
    pub flagged: Vec<String>,
}

impl Verdict {
    /// The flagged rows of the given kinds (all kinds when `kinds` is empty).
    pub fn flagged_of(&self, kinds: &[Kind]) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| {
                r.flagged
                    && r.kind
                        .is_some_and(|k| kinds.is_empty() || kinds.contains(&k))
            })
            .collect()
    }

    /// One line per row: `metric,sign,worse,value,baseline,sd,min,max,threshold,flagged`.
    pub fn to_csv(&self) -> String {
        let f = |x: f64| {
            if x.is_finite() {
                format!("{x:.6}")
            } else {
                String::new()
            }
        };
        let mut out = "metric,sign,worse,value,baseline,sd,min,max,threshold,flagged\n".to_string();
        for r in &self.rows {
            let cells = [
                r.metric.clone(),
                r.kind.map_or("info", Kind::name).to_string(),
                r.worse
                    .map_or("", |w| {
                        if w == Worse::Higher {
                            "higher"
                        } else {
                            "lower"
                        }
                    })
                    .into(),
                f(r.value),
                f(r.baseline),
                f(r.sd),
                f(r.min),
                f(r.max),
                r.threshold.map_or(String::new(), f),
                r.flagged.to_string(),
            ];
            out += &(cells.join(",") + "\n");
        }
        out
    }
}

/// Numbers of a serialized value, flattened to `name`, `name_key` (objects) and `name_1..`
/// (short arrays), so metrics added to `CorpusMetrics` are picked up without code here.
fn flatten(v: &serde_json::Value, name: &str, out: &mut Vec<(String, f64)>) {
    use serde_json::Value;
    let join = |k: &str| {
        if name.is_empty() {
            k.to_string()
        } else {
            format!("{name}_{k}")
        }
    };
    match v {
        Value::Number(n) => out.push((name.to_string(), n.as_f64().unwrap_or(f64::NAN))),
        Value::Null => out.push((name.to_string(), f64::NAN)),
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten(v, &join(k), out)),
        Value::Array(a) if a.len() <= 16 => {
            for (i, v) in a.iter().enumerate() {
                flatten(v, &join(&(i + 1).to_string()), out);
            }
        }
        _ => {}
    }
}

/// The metrics of `corpus` against `reference`, by name (sizes left out: they are matched).
fn measure(corpus: &Corpus, reference: &HumanReference) -> Vec<(String, f64)> {
    let value = serde_json::to_value(corpus_metrics(corpus, reference)).expect("serializable");
    let mut out = Vec::new();
    flatten(&value, "", &mut out);
    out.retain(|(k, _)| !is_bookkeeping(k));
    out
}

/// Fields that describe a measurement rather than the text: sizes (matched by construction),
/// sample sizes, seeds, histogram counts.
fn is_bookkeeping(name: &str) -> bool {
    name.ends_with("documents")
        || name == "tokens"
        || name.ends_with("_docs")
        || name.ends_with("_seed")
}

/// Rows of one corpus's scores: `ppl` (corpus-level) and `doc_ppl_<stat>` for the mean and
/// quantiles of its per-document perplexities; and that distribution.
fn ppl_rows(scores: &Scores) -> (Vec<(String, f64)>, DocPplDistribution) {
    let dist = doc_ppl_distribution(scores);
    let mut rows = vec![("ppl".to_string(), perplexity(scores).token_ppl)];
    let value = serde_json::to_value(&dist).expect("serializable");
    flatten(&value, "doc_ppl", &mut rows);
    rows.retain(|(k, _)| !is_bookkeeping(k));
    (rows, dist)
}

/// Mean, sample standard deviation, min and max (NaN values left out).
fn summary(values: &[f64]) -> (f64, f64, f64, f64) {
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, var.sqrt(), min, max)
}

/// Measures `candidate` against size-matched human samples held out from `reference`.
pub fn check(
    reference: &LoadedSource,
    candidate: &LoadedSource,
    model: Option<&Checkpoint>,
    s: &Settings,
) -> Result<Verdict> {
    if !(2..=MAX_DRAWS).contains(&s.draws) {
        return Err(Error::invalid(
            format!("--draws {} is outside 2..={MAX_DRAWS}", s.draws),
            format!(
                "use --draws {DEFAULT_DRAWS} (the default): each draw measures a human sample as \
                 large as the candidate, and the spread settles within a few dozen"
            ),
        ));
    }
    if reference.sha256.is_some() && reference.sha256 == candidate.sha256 {
        return Err(Error::invalid(
            format!("the candidate {} is the reference itself", candidate.source),
            "give the human reference to --reference and the text to check to --corpus",
        ));
    }
    let (ref_info, cand_info) = (CorpusInfo::of(reference), CorpusInfo::of(candidate));
    let size = cand_info.tokens.min(ref_info.tokens / 2);
    let too_small = || {
        Error::invalid(
            format!(
                "the reference {} ({} words) is too small to draw human samples from",
                ref_info.source, ref_info.tokens
            ),
            "give a larger human reference, ideally many times the candidate's size",
        )
    };
    if size == 0 || ref_info.tokens < MIN_REFERENCE_WORDS {
        return Err(too_small());
    }
    let subsampled = size < cand_info.tokens;
    let mut cand_rows: Vec<Vec<(String, f64)>> = Vec::new();
    let mut human_rows: Vec<Vec<(String, f64)>> = Vec::new();
    let mut human_scores = Scores::default();
    let bar = crate::progress::bar(s.draws as u64, "eval", "human samples");
    for k in 0..s.draws as u64 {
        let (draw, rest) = draws::held_out(
            &reference.corpus,
            size,
            &mut Rng::derive(s.seed, "monitor-draw", k),
        );
        if draw.stats().tokens == 0 || rest.stats().tokens == 0 {
            return Err(too_small());
        }
        let cand: Cow<Corpus> = if subsampled {
            let mut rng = Rng::derive(s.seed, "monitor-candidate", k);
            Cow::Owned(subsample(&candidate.corpus, size, &mut rng))
        } else {
            Cow::Borrowed(&candidate.corpus)
        };
        let href = HumanReference::new(&rest);
        cand_rows.push(measure(&cand, &href));
        human_rows.push(measure(&draw, &href));
        if let Some(m) = model {
            let scores = m.score(&draw)?;
            human_rows
                .last_mut()
                .expect("pushed")
                .extend(ppl_rows(&scores).0);
            human_scores.docs.extend(scores.docs);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let mut model_check = None;
    if let Some(m) = model {
        let (rows, dist) = ppl_rows(&m.score(&candidate.corpus)?);
        for r in &mut cand_rows {
            r.extend(rows.iter().cloned());
        }
        model_check = Some(ModelCheck {
            model: m.describe(),
            precision: (!m.is_ngram()).then(|| s.precision.describe(&candle_core::Device::Cpu)),
            candidate: dist,
            human: doc_ppl_distribution(&human_scores),
        });
    }

    let rows = judge(&cand_rows, &human_rows);
    let flagged = rows
        .iter()
        .filter(|r| r.flagged)
        .map(|r| r.metric.clone())
        .collect();
    Ok(Verdict {
        reference: ref_info,
        candidate: cand_info,
        baseline: Baseline {
            draws: s.draws,
            seed: s.seed,
            tokens: size,
            candidate_subsampled: subsampled,
            z: signs::Z,
        },
        rows,
        model: model_check,
        flagged,
    })
}

/// Rows in order: judged metrics (in `SIGNS` order), then the rest as information.
fn judge(cand: &[Vec<(String, f64)>], human: &[Vec<(String, f64)>]) -> Vec<Row> {
    let names: Vec<String> = cand
        .first()
        .map(|r| r.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let column = |rows: &[Vec<(String, f64)>], name: &str| -> Vec<f64> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .find(|(k, _)| k == name)
                    .map_or(f64::NAN, |(_, v)| *v)
            })
            .collect()
    };
    let mut order: Vec<&String> = names.iter().filter(|n| signs::find(n).is_some()).collect();
    order.sort_by_key(|n| signs::SIGNS.iter().position(|s| s.metric == n.as_str()));
    order.extend(names.iter().filter(|n| signs::find(n).is_none()));
    order
        .into_iter()
        .map(|name| {
            let (value, ..) = summary(&column(cand, name));
            let (baseline, sd, min, max) = summary(&column(human, name));
            let sign = signs::find(name);
            let threshold = sign
                .map(|s| {
                    let extreme = if s.worse == Worse::Higher { max } else { min };
                    s.threshold(baseline, sd, extreme)
                })
                .filter(|t| t.is_finite());
            let flagged = match (sign, threshold) {
                (Some(s), Some(t)) => s.flags(value, t),
                _ => false,
            };
            Row {
                metric: name.clone(),
                kind: sign.map(|s| s.kind),
                worse: sign.map(|s| s.worse),
                value,
                baseline,
                sd,
                min,
                max,
                threshold,
                flagged,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
