//! `report`: charts, an HTML page and a Markdown summary of finished experiments.

use anyhow::Result;
use collapse_lab::report::{write_report, ReportFiles};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
collapse-lab report quickstart-replace quickstart-accumulate quickstart-mix0.1\n  \
collapse-lab report kjv-replace --out /tmp/kjv-report\n\n\
Writes report.html (self-contained: SVG charts inline, spec, provenance), summary.md and \
plots/*.svg|png into evals/<exp>/report/ (one experiment) or evals/report-<prefix><arm>+<arm>.../ \
(several), unless --out is given.")]
pub struct ReportArgs {
    /// Experiments to report on (names under evals/); several are drawn as one line each
    #[arg(required = true, value_name = "EXPERIMENT")]
    pub experiments: Vec<String>,
    /// Folder to write the report into
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(a: ReportArgs, workdir: &Path) -> Result<()> {
    let files = write_report(workdir, &a.experiments, a.out.as_deref())?;
    print_written(&files);
    Ok(())
}

/// Says where the report is (stdout, like the tables).
pub fn print_written(f: &ReportFiles) {
    println!(
        "report: {} ({} charts; summary: {})",
        f.html.display(),
        f.charts,
        f.markdown.display()
    );
}
