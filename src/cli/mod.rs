//! Command-line flags and their translation into library calls. This is the only place that
//! prints tables for people.

mod chain;
mod corpus;
mod eval;
mod gpt_args;
mod jobs;
mod ngram;
mod plan;
mod report;
mod study;

use clap::{Parser, Subcommand};
use collapse_lab::spec;
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str =
    "A laboratory for model collapse: language models trained, generation after generation, on \
text written by their predecessors.";

const LONG_ABOUT: &str = "A laboratory for model collapse: language models trained, generation after generation, on \
text written by their predecessors.

Generation 0 trains on human text; generation g trains on text that generation g-1 wrote (or on a policy's mix of \
it with human text). Every generation is evaluated on held-out human text.

Start here:
  collapse-lab run                      the quickstart: replace vs accumulate vs mix:0.1, under a minute
  collapse-lab chain --experiment kjv-replace --generations 5 --policy replace
  collapse-lab compare quickstart-replace quickstart-accumulate

Outputs go under --workdir: corpora/<experiment>/, checkpoints/<experiment>/, evals/<experiment>/.";

#[derive(Parser, Debug)]
#[command(name = "collapse-lab", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Directory under which corpora/, checkpoints/ and evals/ are written and read
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub workdir: PathBuf,
    /// No progress bars, notes or log lines on stderr, only errors (results still print to stdout)
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output (-v: each stage's statistics, -vv: debug)
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an experiment spec: several arms (corpus policies), each a chain, then compare them
    Run(study::RunArgs),
    /// Run (or resume) one chain of generations under one corpus policy
    Chain(chain::ChainArgs),
    /// The chains a spec makes, numbered for job arrays (Slurm, Kubernetes, AWS Batch)
    Plan(plan::PlanArgs),
    /// Print the side-by-side table of finished experiments (and optionally write it as CSV)
    Compare(chain::CompareArgs),
    /// Check any corpus for the early signs of collapse against size-matched human samples
    Eval(eval::EvalArgs),
    /// Charts (SVG, PNG), an HTML page and a Markdown summary of finished experiments
    Report(report::ReportArgs),
    /// Build, query and sample n-gram models (KenLM-compatible ARPA files)
    #[command(subcommand)]
    Ngram(ngram::NgramCommand),
    /// Inspect and split human corpora
    #[command(subcommand)]
    Corpus(corpus::CorpusCommand),
    /// Benchmarks on real data (e.g. ../shared/corpora/gutenberg)
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

/// Runs a command. The exit code is the command's verdict (`eval --fail-on` returns 1 when it
/// flags a sign of collapse); errors are the caller's to print (exit code 2).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = match cli.command {
        Command::Eval(a) => return eval::run(a),
        Command::Run(a) => study::run(a, &cli.workdir),
        Command::Plan(a) => plan::run(a, &cli.workdir),
        Command::Chain(a) => chain::chain(a, &cli.workdir),
        Command::Compare(a) => chain::compare(a, &cli.workdir),
        Command::Report(a) => report::run(a, &cli.workdir),
        Command::Ngram(c) => ngram::run(c),
        Command::Corpus(c) => corpus::run(c, &cli.workdir),
        Command::Bench(c) => crate::bench::run(c),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// The chain flags shared by `chain` and `run` overrides, with the defaults of `spec`.
#[derive(clap::Args, Debug, Clone)]
pub struct SizeArgs {
    /// Words each generation writes (default: about the size of generation 0's training set)
    #[arg(long, value_name = "N")]
    pub sample_tokens: Option<usize>,
    /// At most this many words of training text per generation (a smoke run is one line)
    #[arg(long, value_name = "N")]
    pub train_tokens: Option<usize>,
    /// Use only about this many words of the human training split (a smaller human corpus;
    /// unlike --train-tokens it lets accumulate grow)
    #[arg(long, value_name = "N")]
    pub human_tokens: Option<usize>,
}

/// Prints rows as an aligned table; `groups` (label, number of columns) adds a first header
/// line that spans column groups.
pub fn print_table(groups: &[(String, usize)], header: &[String], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let sep = "  ";
    if !groups.is_empty() {
        let mut line = String::new();
        let mut col = 0;
        for (label, span) in groups {
            let w: usize = widths[col..col + span].iter().sum::<usize>() + sep.len() * (span - 1);
            if col > 0 {
                line.push_str(sep);
            }
            line.push_str(&format!("{label:^w$}"));
            col += span;
        }
        println!("{}", line.trim_end());
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:>w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join(sep)
    };
    println!("{}", line(header));
    for r in rows {
        println!("{}", line(r));
    }
}

pub(crate) use spec::{DEFAULT_CORPUS, DEFAULT_MODEL};
