//! `ngram build`, `ngram query`, `ngram sample`: KenLM's command-line conventions.

use anyhow::Result;
use collapse_lab::corpus::source;
use collapse_lab::ngram::sample::Sampler;
use collapse_lab::ngram::vocab::VocabPolicy;
use collapse_lab::ngram::{arpa, build_lines, query, BuildOptions};
use collapse_lab::sampling::{Protocol, SampleSettings};
use collapse_lab::{fsutil, progress};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum NgramCommand {
    /// Estimate an interpolated modified Kneser-Ney model (like `lmplz -o N`) and write ARPA
    #[command(
        after_help = "A line of the input is a sentence; tokens are separated by ASCII whitespace only; \
<s> and </s> are added.\nExample:\n  collapse-lab ngram build --order 5 --input train.txt --arpa model.arpa"
    )]
    Build {
        /// Model order (1..8)
        #[arg(long, short = 'o')]
        order: usize,
        /// Training text, one sentence per line
        #[arg(long)]
        input: PathBuf,
        /// Output ARPA file (gzip when it ends in .gz)
        #[arg(long)]
        arpa: PathBuf,
        /// Words seen fewer times become <unk>
        #[arg(long, default_value_t = 1)]
        min_count: u32,
    },
    /// Score text with an ARPA model and print perplexity like KenLM's `query -v summary`
    Query {
        /// ARPA model (plain or .gz)
        #[arg(long)]
        arpa: PathBuf,
        /// Text to score, one sentence per line
        #[arg(long)]
        input: PathBuf,
    },
    /// Write text sampled from an ARPA model, one sentence per line
    Sample {
        /// ARPA model to sample from (plain or .gz)
        #[arg(long)]
        arpa: PathBuf,
        /// Number of sentences
        #[arg(long, default_value_t = 10)]
        lines: usize,
        /// Seed of the draws: the same seed writes the same sentences
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Sampling temperature: 1 is the model's own distribution, below 1 sharper, above
        /// flatter (other than 1 renormalises the whole vocabulary per word: slower)
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// Output file (default: standard output)
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn run(c: NgramCommand) -> Result<()> {
    match c {
        NgramCommand::Build {
            order,
            input,
            arpa: out,
            min_count,
        } => {
            let text = source::read_text_file(&input)?;
            let pb = progress::spinner(&format!("estimating {order}-gram model"));
            let model = build_lines(
                text.lines(),
                &BuildOptions {
                    order,
                    vocab: VocabPolicy::FromText { min_count },
                },
            )?;
            pb.set_message(format!("writing {}", out.display()));
            arpa::write_arpa(&model, &out)?;
            pb.finish_and_clear();
            let m = &model.meta;
            for d in m.discounts.iter().filter_map(|d| d.fallback.as_ref()) {
                tracing::warn!("{d}; used lmplz's --discount_fallback values D1=0.5 D2=1 D3+=1.5");
            }
            if progress::is_quiet() {
                return Ok(());
            }
            eprintln!(
                "{} sentences, {} words, vocabulary {}",
                m.count.sentences, m.count.words, m.vocab_size
            );
            for (i, (n, d)) in m.ngrams.iter().zip(&m.discounts).enumerate() {
                let fb = if d.fallback.is_some() {
                    " (fallback)"
                } else {
                    ""
                };
                eprintln!(
                    "{} {n} D1={:.6} D2={:.6} D3+={:.6}{fb}",
                    i + 1,
                    d.d[0],
                    d.d[1],
                    d.d[2]
                );
            }
            for d in m.discounts.iter().filter_map(|d| d.fallback.as_ref()) {
                eprintln!(
                    "warning: {d}; used lmplz's --discount_fallback values D1=0.5 D2=1 D3+=1.5"
                );
            }
            Ok(())
        }
        NgramCommand::Query {
            arpa: model_path,
            input,
        } => {
            let pb = progress::spinner(&format!("loading {}", model_path.display()));
            let model = arpa::read_arpa(&model_path)?;
            let text = source::read_text_file(&input)?;
            pb.finish_and_clear();
            let s = query::summarize(&model, text.par_lines());
            if model.lacks_unk() && s.oovs > 0 {
                eprintln!(
                    "warning: {} has no `<unk>` unigram, so each of the {} OOV words scores \
                     p = 10^-100 (as in KenLM) and dominates the perplexity including OOVs; \
                     compare perplexities excluding OOVs, or build with `<unk>` (ngram build does)",
                    model_path.display(),
                    s.oovs
                );
            }
            println!(
                "Perplexity including OOVs:\t{}",
                s.perplexity_including_oovs
            );
            println!(
                "Perplexity excluding OOVs:\t{}",
                s.perplexity_excluding_oovs
            );
            println!("OOVs:\t{}", s.oovs);
            println!("Tokens:\t{}", s.tokens);
            Ok(())
        }
        NgramCommand::Sample {
            arpa: model_path,
            lines,
            seed,
            temperature,
            output,
        } => {
            if !(temperature > 0.0 && temperature.is_finite()) {
                anyhow::bail!(collapse_lab::Error::invalid(
                    format!("temperature {temperature} is not positive"),
                    "use e.g. --temperature 1.0"
                ));
            }
            let model = arpa::read_arpa(&model_path)?;
            let sampler = Sampler::new(&model);
            let settings = SampleSettings {
                protocol: Protocol::Unconditional,
                temperature,
                seed,
                ..Default::default()
            };
            let mut text = String::new();
            for line in sampler.sentences(lines, &settings) {
                text.push_str(&line);
                text.push('\n');
            }
            match output {
                Some(p) => fsutil::write_atomic(&p, text.as_bytes())?,
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(())
        }
    }
}
