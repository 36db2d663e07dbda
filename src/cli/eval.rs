//! `eval`: the collapse monitor for any corpus (see `collapse_lab::eval`).

use super::print_table;
use anyhow::Result;
use collapse_lab::corpus::source;
use collapse_lab::error::Error;
use collapse_lab::eval::signs::{Kind, Worse};
use collapse_lab::eval::{self, Settings, Verdict, DEFAULT_DRAWS};
use collapse_lab::family::checkpoint::Checkpoint;
use collapse_lab::fsutil;
use collapse_lab::nn::precision::{Autocast, Precision};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
collapse-lab eval --reference corpora/kjv/human/train.jsonl --corpus corpora/kjv/gen-03/generated.jsonl\n  \
collapse-lab eval --reference corpora/kjv/human/test.jsonl --corpus synthetic.jsonl --model checkpoints/kjv/gen-00 --fail-on --json v.json\n\n\
The candidate is compared with human samples of its own size held out from the reference \
(--draws of them); a metric is flagged when it lies beyond the human mean by more than 4 \
standard deviations of those samples and a fixed tolerance (docs/monitor.md). Exit code: 0, or \
1 with --fail-on when a sign is flagged; 2 on bad input.")]
pub struct EvalArgs {
    /// Human reference text: embedded:kjv (or akjv, asv, erv), a text or JSONL file, or a folder
    #[arg(long, value_name = "HUMAN")]
    pub reference: String,
    /// The corpus to check (e.g. a generated.jsonl), in the same forms as --reference
    #[arg(long, value_name = "CANDIDATE")]
    pub corpus: String,
    /// A saved model folder (checkpoints/<exp>/gen-NN, or a GPT-2 folder with config.json,
    /// model.safetensors, tokenizer.json): also report the candidate's perplexity under it,
    /// per document
    #[arg(long, value_name = "CKPT")]
    pub model: Option<PathBuf>,
    /// What --model scores in: fp32, or bf16 mixed precision (bf16 operands, f32 sums; on a
    /// CPU with AMX-BF16 or AVX512-BF16). The verdict records it
    #[arg(
        long,
        default_value = "fp32",
        value_name = "PRECISION",
        requires = "model"
    )]
    pub precision: Precision,
    /// Exit with code 1 when a sign is flagged: any sign, or only those listed
    /// (tail-loss,diversity,repetition)
    #[arg(long, value_name = "SIGNS", num_args = 0..=1, default_missing_value = "any")]
    pub fail_on: Option<String>,
    /// Write the verdict as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the verdict table as CSV (one row per metric)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Human samples drawn for the baseline
    #[arg(long, default_value_t = DEFAULT_DRAWS, value_name = "N")]
    pub draws: usize,
    /// Seed of the human samples
    #[arg(long, default_value_t = collapse_lab::spec::DEFAULT_SEED)]
    pub seed: u64,
}

/// `--fail-on` as the kinds it covers (empty: every kind).
fn fail_kinds(arg: &str) -> Result<Vec<Kind>, Error> {
    if arg == "any" || arg == "all" {
        return Ok(Vec::new());
    }
    arg.split(',')
        .map(|s| {
            Kind::parse(s.trim()).ok_or_else(|| {
                Error::invalid(
                    format!("unknown sign `{s}` in --fail-on"),
                    "use --fail-on alone (any sign) or a list of tail-loss, diversity, repetition",
                )
            })
        })
        .collect()
}

/// Runs the check. Exit code 1 when `--fail-on` names a sign that is flagged: a verdict, not
/// an error, so it is returned as a code rather than raised.
pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let kinds = a.fail_on.as_deref().map(fail_kinds).transpose()?;
    let reference = source::load(&a.reference)?;
    let candidate = source::load(&a.corpus)?;
    let model = (a.model.as_deref())
        .map(|dir| Checkpoint::open_in(dir, a.precision))
        .transpose()?;
    if let Some(m) = &model {
        if m.is_ngram() && a.precision != Precision::Fp32 {
            return Err(Error::invalid(
                format!(
                    "--precision {}: an n-gram model has no matrix products",
                    a.precision.name()
                ),
                "drop --precision for an n-gram checkpoint",
            )
            .into());
        }
        a.precision
            .check_cpu("use --precision fp32 (the default) here")?;
    }
    // One scope around every draw's scoring, so a bf16 model's weights are packed once.
    let _scope = Autocast::new(a.precision);
    if let Some(dir) = &a.model {
        eval::contamination::check(dir, &reference.corpus, &a.reference)?;
    }
    let settings = Settings {
        draws: a.draws,
        seed: a.seed,
        precision: a.precision,
    };
    let v = eval::check(&reference, &candidate, model.as_ref(), &settings)?;
    print_verdict(&v);
    if let Some(p) = &a.json {
        fsutil::write_json(p, &v)?;
        println!("wrote {}", p.display());
    }
    if let Some(p) = &a.csv {
        fsutil::write_atomic(p, v.to_csv().as_bytes())?;
        println!("wrote {}", p.display());
    }
    match kinds {
        Some(k) if !v.flagged_of(&k).is_empty() => Ok(ExitCode::from(1)),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Numbers for people: 4 significant digits or so; `-` for none.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let digits = match x.abs() {
        a if a >= 1000.0 => 0,
        a if a >= 100.0 => 1,
        a if a >= 1.0 => 3,
        _ => 4,
    };
    format!("{x:.digits$}")
}

fn print_verdict(v: &Verdict) {
    let b = &v.baseline;
    println!(
        "reference  {}: {} documents, {} words",
        v.reference.source, v.reference.documents, v.reference.tokens
    );
    println!(
        "candidate  {}: {} documents, {} words",
        v.candidate.source, v.candidate.documents, v.candidate.tokens
    );
    let cand = if b.candidate_subsampled {
        format!("the candidate, subsampled to the same size (it is over half the reference),")
    } else {
        "the candidate".to_string()
    };
    println!(
        "baseline   {} human samples of {} words held out from the reference (seed {}); they and\n           \
         {cand} are measured against the rest of the reference",
        b.draws, b.tokens, b.seed
    );
    if let Some(m) = &v.model {
        println!(
            "model      {} (per-document perplexity of {} candidate and {} human documents; the human\n           \
             samples come from the reference, so a model trained on it has seen them)",
            m.model, m.candidate.documents, m.human.documents
        );
        if let Some(p) = &m.precision {
            println!("precision  {p}");
        }
    }
    println!();
    let header: Vec<String> = [
        "sign",
        "metric",
        "candidate",
        "human",
        "± sd",
        "threshold",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = v
        .rows
        .iter()
        .map(|r| {
            let threshold = match (r.threshold, r.worse) {
                (Some(t), Some(Worse::Higher)) => format!("> {}", num(t)),
                (Some(t), Some(Worse::Lower)) => format!("< {}", num(t)),
                _ => String::new(),
            };
            let verdict = match (r.kind, r.flagged) {
                (None, _) => "",
                (Some(_), true) => "FLAGGED",
                (Some(_), false) => "ok",
            };
            vec![
                r.kind.map_or("info", Kind::name).to_string(),
                r.metric.clone(),
                num(r.value),
                num(r.baseline),
                num(r.sd),
                threshold,
                verdict.to_string(),
            ]
        })
        .collect();
    print_table(&[], &header, &rows);
    println!();
    let flagged = v.flagged_of(&[]);
    if flagged.is_empty() {
        let judged = v.rows.iter().filter(|r| r.kind.is_some()).count();
        println!(
            "verdict: no sign of early collapse ({judged} judged metrics within their thresholds)"
        );
    } else {
        let mut by_kind = Vec::new();
        for k in Kind::ALL {
            let names: Vec<&str> = flagged
                .iter()
                .filter(|r| r.kind == Some(k))
                .map(|r| r.metric.as_str())
                .collect();
            if !names.is_empty() {
                by_kind.push(format!("{} ({})", k.name(), names.join(", ")));
            }
        }
        println!("verdict: SIGNS OF COLLAPSE: {}", by_kind.join("; "));
    }
}
