//! Results as people and tools read them: each generation's eval record ([`record`]), the
//! per-arm `metrics.csv` ([`metrics_csv`]), the side-by-side table of arms ([`compare`]), and
//! `collapse-lab report`: charts, an HTML page and a Markdown summary of finished experiments.
//!
//! Why: a collapse experiment is read as curves (each metric over generations, one line per
//! arm) and as distributions (how generation 0 scores each generated document; how the word
//! frequency curve loses its tail), and it is trusted through its provenance. The report puts
//! these in one self-contained page (`report.html`: SVG charts inline, the spec and every
//! manifest's sha256, parents and sampling settings) and a Markdown summary (`summary.md`, with
//! PNG charts), so a result can be shared as files and checked against the files it came from.
//!
//! Where: one experiment reports into `evals/<exp>/report/`; several into
//! `evals/report-<prefix><arm>+<arm>.../` (`evals/report-quickstart-replace+accumulate+mix0.1/`
//! for the quickstart), unless `--out` says otherwise. Charts go to `plots/` inside it; the
//! page is written last, so a report with a `report.html` is complete. Beside it,
//! `metrics-long.csv` holds every value as tidy long data (arm, seed, generation, metric,
//! value); an arm run with several seeds is drawn as its mean, a shaded 95% interval and a
//! thin line per seed.
//!
//! Every chart comes from files a rerun rebuilds: `metrics.csv` (every numeric column, so new
//! metrics get a chart without code here), the eval records, and the corpora on disk.

mod charts;
pub mod compare;
pub mod data;
mod html;
mod markdown;
pub mod metrics_csv;
pub mod record;
pub mod stats;

use crate::error::Result;
use crate::fsutil;
use crate::layout::Layout;
use crate::plot::{self, Chart};
use compare::compare_table;
use data::Arm;
use metrics_csv::ArmTable;
use std::path::{Path, PathBuf};

/// Points per rank-frequency curve.
const CURVE_POINTS: usize = 240;
/// The tail chart starts at this rank (drawn when the vocabulary has 10 times as many types).
const TAIL_FROM_RANK: f64 = 1000.0;

/// A chart as the pages show it.
pub struct Figure {
    /// File stem under `plots/`.
    pub stem: String,
    pub title: String,
    /// The SVG document, inlined in the HTML page.
    pub svg: String,
}

impl Figure {
    pub fn png(&self) -> String {
        format!("plots/{}.png", self.stem)
    }
}

/// The figures of a report, by section.
pub struct Figures {
    pub metrics: Vec<Figure>,
    /// Columns that hold one value throughout, with that value.
    pub constant: Vec<(String, String)>,
    pub histograms: Vec<Figure>,
    /// Arms without per-document perplexities (no record field and no generation-0 checkpoint).
    pub no_histogram: Vec<String>,
    pub rank_frequency: Vec<Figure>,
}

/// What `write_report` wrote.
pub struct ReportFiles {
    pub dir: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub charts: usize,
}

/// The default folder of a report on `names` (see the module docs).
pub fn default_dir(workdir: &Path, names: &[String]) -> Result<PathBuf> {
    let evals = workdir.join("evals");
    if let [one] = names {
        return Ok(evals.join(one).join("report"));
    }
    let tables: Vec<ArmTable> = names
        .iter()
        .map(|n| ArmTable {
            name: n.clone(),
            seed: None,
            model: None,
            test_sha256: None,
            rows: Vec::new(),
            columns: Vec::new(),
        })
        .collect();
    let t = compare_table(&tables);
    Ok(evals.join(format!("report-{}{}", t.prefix, t.arms.join("+"))))
}

/// Writes the report of the experiments `names` (under `workdir/evals/`) into `out` (default:
/// [`default_dir`]).
pub fn write_report(workdir: &Path, names: &[String], out: Option<&Path>) -> Result<ReportFiles> {
    for n in names {
        Layout::check_name(n)?;
    }
    let tables = names
        .iter()
        .map(|n| ArmTable::read(workdir, n))
        .collect::<Result<Vec<_>>>()?;
    // Chains are labelled without the prefix the arms share (`replace-s1` in `quickstart-`).
    let prefix = compare_table(&tables).prefix;
    let labels: Vec<String> = names
        .iter()
        .map(|n| n[prefix.len()..].to_string())
        .collect();
    let arms = names
        .iter()
        .zip(&labels)
        .map(|(n, l)| data::read_arm(workdir, n, l))
        .collect::<Result<Vec<Arm>>>()?;
    let dir = match out {
        Some(p) => p.to_path_buf(),
        None => default_dir(workdir, names)?,
    };
    let plots = dir.join("plots");
    fsutil::create_dir_all(&plots)?;

    let mut written = Vec::new();
    let mut draw = |chart: &Chart, stem: String| -> Result<Figure> {
        let svg = plot::svg_string(chart)?;
        fsutil::write_atomic(plots.join(format!("{stem}.svg")), svg.as_bytes())?;
        fsutil::write_atomic(plots.join(format!("{stem}.png")), &plot::png_bytes(chart)?)?;
        written.push(stem.clone());
        Ok(Figure {
            stem,
            title: chart.title.clone(),
            svg,
        })
    };

    let (columns, constant) = charts::metric_columns(&arms);
    let mut figures = Figures {
        metrics: Vec::new(),
        constant,
        histograms: Vec::new(),
        no_histogram: Vec::new(),
        rank_frequency: Vec::new(),
    };
    for c in &columns {
        let chart = charts::metric_chart(&arms, c);
        if chart.has_data() {
            figures.metrics.push(draw(&chart, format!("metric-{c}"))?);
        }
    }
    for a in &arms {
        match data::gen0_histograms(a)? {
            Some(h) => {
                let chart = charts::ppl_histogram_chart(a, &h);
                if chart.has_data() {
                    figures
                        .histograms
                        .push(draw(&chart, format!("gen0-ppl-{}", a.name))?);
                }
            }
            None => figures.no_histogram.push(a.name.clone()),
        }
        let curves = data::corpus_curves(a, CURVE_POINTS);
        let max_rank = curves.iter().flatten().map(|p| p.0).fold(0.0, f64::max);
        let mut parts = vec![(1.0, format!("rank-frequency-{}", a.name))];
        if max_rank >= 10.0 * TAIL_FROM_RANK {
            parts.push((TAIL_FROM_RANK, format!("rank-frequency-tail-{}", a.name)));
        }
        for (from, stem) in parts {
            let chart = charts::rank_frequency_chart(a, &curves, from);
            if chart.has_data() {
                figures.rank_frequency.push(draw(&chart, stem)?);
            }
        }
    }
    remove_stale(&plots, &written);
    // Every value as tidy long data (arm, seed, generation, metric, value) for pandas.
    fsutil::write_atomic(
        dir.join("metrics-long.csv"),
        compare::long_csv(&tables).as_bytes(),
    )?;

    let command = format!("collapse-lab report {}", names.join(" "));
    let markdown = dir.join("summary.md");
    fsutil::write_atomic(
        &markdown,
        markdown::page(&arms, &figures, &command).as_bytes(),
    )?;
    let html = dir.join("report.html");
    fsutil::write_atomic(&html, html::page(&arms, &figures, &command).as_bytes())?;
    Ok(ReportFiles {
        dir,
        html,
        markdown,
        charts: written.len(),
    })
}

/// Removes charts of an earlier report that this one did not draw (e.g. a renamed metric).
fn remove_stale(plots: &Path, written: &[String]) {
    let Ok(entries) = std::fs::read_dir(plots) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name
            .strip_suffix(".svg")
            .or_else(|| name.strip_suffix(".png"));
        if stem.is_some_and(|s| !written.iter().any(|w| w == s)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The value of `column` in the first and last generation of an arm, as `a → b`.
pub(crate) fn first_last(arm: &Arm, column: &str) -> Option<(String, String)> {
    let last = arm.table.rows.len().checked_sub(1)?;
    let f = |g: usize| arm.table.get(g, column).map(short);
    Some((f(0)?, f(last)?))
}

/// Numbers for tables (compare, the report's summary): about 4 significant digits; whole
/// numbers and text as written.
pub(crate) fn short(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(x) => format!("{x:.d$}", d = stats::short_digits(x)),
        _ => s.to_string(),
    }
}

/// Columns of the summary table, when present.
pub(crate) const SUMMARY_COLUMNS: &[&str] = &[
    "test_ppl",
    "gen0_ppl_of_generated",
    "rare_types_lost",
    "unigram_kl",
    "distinct_2",
    "mattr",
    "self_bleu",
    "seq_rep_4",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_folders() {
        let w = Path::new("/w");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            default_dir(w, &names(&["qs-replace"])).unwrap(),
            Path::new("/w/evals/qs-replace/report")
        );
        assert_eq!(
            default_dir(w, &names(&["qs-replace", "qs-mix0.1"])).unwrap(),
            Path::new("/w/evals/report-qs-replace+mix0.1")
        );
        assert_eq!(
            default_dir(w, &names(&["a", "b"])).unwrap(),
            Path::new("/w/evals/report-a+b")
        );
        assert_eq!(short("114.1234"), "114.1");
        assert_eq!(short("25009"), "25009");
    }
}
