//! The report's charts, built from the data (`data.rs`) and drawn by `crate::plot`.

use super::compare::{group_seeds, seed_suffix};
use super::data::{Arm, Histogram};
use super::metrics_csv::ArmTable;
use super::stats::Interval;
use crate::plot::{category, sequential, spans_decades, Chart, Rgb, Series, Style};

/// Titles of the `metrics.csv` columns we know, in the order the report shows them. Columns
/// not listed (new metrics) follow in the CSV's order, titled by their name.
pub const KNOWN_COLUMNS: &[(&str, &str)] = &[
    (
        "test_ppl",
        "Perplexity of the human test split over the human words",
    ),
    ("model_vocab", "Word types the model can write"),
    ("test_oov_rate", "OOV rate of the human test split"),
    (
        "rare_types_unnamed",
        "Rare human types the model can no longer write",
    ),
    (
        "medium_types_unnamed",
        "Medium-frequency human types the model can no longer write",
    ),
    (
        "frequent_types_unnamed",
        "Frequent human types the model can no longer write",
    ),
    (
        "test_ppl_incl_oov",
        "KenLM perplexity of the human test split (incl. OOV)",
    ),
    (
        "test_ppl_excl_oov",
        "KenLM perplexity of the human test split (excl. OOV)",
    ),
    ("test_word_ppl", "Word perplexity of the human test split"),
    (
        "test_bits_per_byte",
        "Bits per byte on the human test split",
    ),
    ("test_byte_ppl", "Byte perplexity of the human test split"),
    (
        "gen0_ppl_of_generated",
        "Perplexity of the generated text under generation 0's model",
    ),
    (
        "gen0_doc_ppl_mean",
        "Mean per-document perplexity under generation 0",
    ),
    (
        "gen0_doc_ppl_p5",
        "5th percentile of per-document perplexity under generation 0",
    ),
    (
        "gen0_doc_ppl_p25",
        "25th percentile of per-document perplexity under generation 0",
    ),
    (
        "gen0_doc_ppl_p50",
        "Median per-document perplexity under generation 0",
    ),
    (
        "gen0_doc_ppl_p75",
        "75th percentile of per-document perplexity under generation 0",
    ),
    (
        "gen0_doc_ppl_p95",
        "95th percentile of per-document perplexity under generation 0",
    ),
    (
        "rare_types_lost",
        "Rare human types (count ≤ 5) never written",
    ),
    (
        "medium_types_lost",
        "Medium human types (count 6–100) never written",
    ),
    (
        "frequent_types_lost",
        "Frequent human types (count > 100) never written",
    ),
    ("human_types_lost", "Human types never written"),
    ("types", "Word types in the generated text"),
    ("unigram_kl", "KL(human ‖ generated) over unigrams, nats"),
    ("unigram_js", "Jensen-Shannon divergence of unigrams, bits"),
    ("distinct_1", "distinct-1 (types / tokens)"),
    ("distinct_2", "distinct-2 (distinct bigrams / bigrams)"),
    ("distinct_2_per_ngram", "distinct-2, per bigram"),
    ("distinct_3_per_ngram", "distinct-3, per trigram"),
    ("distinct_4_per_ngram", "distinct-4, per 4-gram"),
    ("distinct_2_per_token", "distinct-2, per token"),
    ("distinct_3_per_token", "distinct-3, per token"),
    ("distinct_4_per_token", "distinct-4, per token"),
    ("mattr", "MATTR (window 100)"),
    ("mtld", "MTLD"),
    (
        "self_bleu",
        "Self-BLEU (BLEU-4 of each document against the others)",
    ),
    (
        "compression_ratio",
        "Compression ratio (bytes / DEFLATE bytes)",
    ),
    ("zipf_coefficient", "Zipf coefficient (top 1000 types)"),
    ("seq_rep_1", "seq-rep-1"),
    ("seq_rep_2", "seq-rep-2"),
    ("seq_rep_3", "seq-rep-3"),
    ("seq_rep_4", "seq-rep-4 (repeated 4-grams within documents)"),
    ("rep_16", "rep/16"),
    ("rep_32", "rep/32"),
    ("rep_128", "rep/128"),
    ("train_tokens", "Words each generation trained on"),
    ("train_docs", "Documents each generation trained on"),
    ("gen_tokens", "Words each generation wrote"),
];

/// Columns that are not metrics.
const NOT_PLOTTED: &[&str] = &["generation", "policy"];

/// The title of a column.
pub fn title(column: &str) -> String {
    KNOWN_COLUMNS
        .iter()
        .find(|(c, _)| *c == column)
        .map_or_else(|| column.to_string(), |(_, t)| t.to_string())
}

/// Numeric columns of any arm's `metrics.csv`, known ones first; and those that hold one
/// value throughout (not worth a chart), with that value.
pub fn metric_columns(arms: &[Arm]) -> (Vec<String>, Vec<(String, String)>) {
    let mut all: Vec<String> = Vec::new();
    for a in arms {
        for c in &a.table.columns {
            if !all.contains(c) && !NOT_PLOTTED.contains(&c.as_str()) {
                all.push(c.clone());
            }
        }
    }
    let rank = |c: &String| {
        KNOWN_COLUMNS
            .iter()
            .position(|(k, _)| k == c)
            .unwrap_or(KNOWN_COLUMNS.len())
    };
    all.sort_by_key(rank); // stable: unknown columns keep the CSV's order
    let (mut plotted, mut constant) = (Vec::new(), Vec::new());
    for c in all {
        let values: Vec<&str> = arms
            .iter()
            .flat_map(|a| (0..a.table.rows.len()).filter_map(|g| a.table.get(g, &c)))
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() || values.iter().any(|v| v.parse::<f64>().is_err()) {
            continue;
        }
        if values.iter().all(|v| v == &values[0]) {
            constant.push((c, values[0].to_string()));
        } else {
            plotted.push(c);
        }
    }
    (plotted, constant)
}

/// One line per arm of `column` over generations; an arm run with several seeds is drawn as
/// its mean with the 95% interval shaded and each seed as a thin line.
pub fn metric_chart(arms: &[Arm], column: &str) -> Chart {
    let tables: Vec<ArmTable> = arms.iter().map(|a| a.table.clone()).collect();
    let groups = group_seeds(&tables);
    let mut series = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let label = arms
            .iter()
            .find(|a| a.table.name == group.chains[0].name)
            .map_or_else(String::new, |a| a.label.clone());
        let points = |c: &ArmTable| -> Vec<(f64, f64)> {
            (0..c.rows.len())
                .filter_map(|g| Some((g as f64, c.get(g, column)?.parse::<f64>().ok()?)))
                .collect()
        };
        if let [one] = group.chains.as_slice() {
            series.push(Series {
                label,
                points: points(one),
                color: category(i),
                style: Style::LineDots,
                band: Vec::new(),
            });
            continue;
        }
        for c in &group.chains {
            series.push(Series {
                label: String::new(),
                points: points(c),
                color: category(i),
                style: Style::Thin,
                band: Vec::new(),
            });
        }
        let stats: Vec<(f64, Interval)> = (0..group.generations())
            .map(|g| (g as f64, group.interval(g, column)))
            .filter(|(_, iv)| iv.n > 0)
            .collect();
        series.push(Series {
            label: format!(
                "{} (mean of {} seeds, 95% CI)",
                seedless(&label),
                group.chains.len()
            ),
            points: stats.iter().map(|(g, iv)| (*g, iv.mean)).collect(),
            color: category(i),
            style: Style::LineDots,
            band: stats
                .iter()
                .filter(|(_, iv)| iv.half_width.is_finite())
                .map(|(g, iv)| (*g, iv.mean - iv.half_width, iv.mean + iv.half_width))
                .collect(),
        });
    }
    let y_log = spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    Chart {
        title: title(column),
        x_label: "generation".into(),
        y_label: if y_log {
            format!("{column} (log scale)")
        } else {
            column.to_string()
        },
        x_log: false,
        y_log,
        x_integer: true,
        series,
    }
}

/// An arm label without its `-s<seed>` suffix.
fn seedless(label: &str) -> &str {
    seed_suffix(label).map_or(label, |(stem, _)| stem)
}

/// Generation `g`'s label and colour among `n` generations.
fn generation_style(g: usize, n: usize) -> (String, Rgb) {
    (format!("gen {g}"), sequential(g, n))
}

/// Rank-frequency curves: the human training text and every generation, log-log; only ranks
/// from `from_rank` on (1: the whole curve; larger: the tail, where rare words are lost).
pub fn rank_frequency_chart(arm: &Arm, curves: &[Vec<(f64, f64)>], from_rank: f64) -> Chart {
    let part = |c: &Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        c.iter().copied().filter(|p| p.0 >= from_rank).collect()
    };
    let n = curves.len().saturating_sub(1);
    let mut series = vec![Series {
        label: "human (train)".into(),
        points: curves.first().map(part).unwrap_or_default(),
        color: Rgb::BLACK,
        style: Style::Reference,
        band: Vec::new(),
    }];
    for (g, c) in curves.iter().skip(1).enumerate() {
        let (label, color) = generation_style(g, n);
        series.push(Series {
            label,
            points: part(c),
            color,
            style: Style::Line,
            band: Vec::new(),
        });
    }
    let what = if from_rank > 1.0 {
        format!("the tail of the word rank-frequency curve (ranks ≥ {from_rank})")
    } else {
        "word rank-frequency per generation".to_string()
    };
    Chart {
        title: format!("{}: {what}", arm.name),
        x_label: "rank (log scale)".into(),
        y_label: "share of words (log scale)".into(),
        x_log: true,
        y_log: true,
        x_integer: false,
        series,
    }
}

/// Per-document perplexity under generation 0, one step curve per generation (share of the
/// generation's documents per bin); empty bins at both ends are left out.
pub fn ppl_histogram_chart(arm: &Arm, hists: &[Histogram]) -> Chart {
    let bins = hists.first().map_or(0, |h| h.counts.len());
    let used = |k: usize| {
        hists
            .iter()
            .any(|h| h.counts.get(k).copied().unwrap_or(0) > 0)
    };
    let first = (0..bins).find(|&k| used(k)).unwrap_or(0);
    let last = (0..bins).rev().find(|&k| used(k)).unwrap_or(0);
    let series = hists
        .iter()
        .enumerate()
        .map(|(g, h)| {
            let total = h.counts.iter().sum::<u64>().max(1) as f64;
            let mut points = Vec::new();
            for k in first..=last.min(h.counts.len().saturating_sub(1)) {
                let share = 100.0 * h.counts[k] as f64 / total;
                points.push((h.edges[k], share));
                points.push((h.edges[k + 1], share));
            }
            let (label, color) = generation_style(g, hists.len());
            Series {
                label,
                points,
                color,
                style: Style::Line,
                band: Vec::new(),
            }
        })
        .collect();
    Chart {
        title: format!(
            "{}: perplexity of each generated document under generation 0",
            arm.name
        ),
        x_label: "per-document perplexity under generation 0 (log scale)".into(),
        y_label: "% of the generation's documents".into(),
        x_log: true,
        y_log: false,
        x_integer: false,
        series,
    }
}
