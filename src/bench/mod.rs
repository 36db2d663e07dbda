//! `collapse-lab bench`: speed on real data or random models, never timed tests. One file per
//! bench: the n-gram pipeline ([`ngram`]), corpus metrics ([`metrics`]), GPT-2 and OPT training
//! and generation ([`gpt`], [`opt`]) with their shared timing and the comparison with
//! `scripts/bench_torch.py` ([`lm`]).

mod gpt;
mod lm;
mod matmul;
mod metrics;
mod ngram;
mod opt;
mod shapes;

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Build, write, query and sample an n-gram model; prints words/s and peak memory
    #[command(
        after_help = "Example:\n  collapse-lab bench ngram --input ../shared/corpora/gutenberg --order 5"
    )]
    Ngram {
        /// A folder with split.tsv and books/ (gutenberg layout: train books are built on, test
        /// books queried), or a text file with one sentence per line
        #[arg(long)]
        input: PathBuf,
        #[arg(long, short = 'o', default_value_t = 5)]
        order: usize,
        /// Where to write the ARPA file (default: a temporary file, deleted afterwards)
        #[arg(long)]
        arpa: Option<PathBuf>,
        /// Words to sample
        #[arg(long, default_value_t = 2_000_000)]
        sample_words: usize,
    },
    /// Every corpus metric (repetition, distinct-n, diversity, self-BLEU, ...): time and words/s
    #[command(
        after_help = "Example:\n  collapse-lab bench metrics --input ../shared/corpora/gutenberg"
    )]
    Metrics(metrics::MetricsBenchArgs),
    /// GPT training speed (random init, random tokens): forward, backward, clipping, AdamW
    #[command(
        after_help = "Example:\n  collapse-lab bench gpt-train --preset tiny --compare-torch .venv/bin/python"
    )]
    GptTrain(gpt::GptBenchArgs),
    /// GPT generation speed with the KV cache (batched sampling)
    #[command(
        after_help = "Example:\n  collapse-lab bench gpt-generate --preset tiny --compare-torch .venv/bin/python"
    )]
    GptGenerate(gpt::GenerateArgs),
    /// OPT training and eval speed on opt-125m's shape (random init, random tokens), with
    /// --compare-torch against transformers' OPTForCausalLM
    #[command(
        after_help = "Examples:\n  collapse-lab bench opt-train --threads 2 --compare-torch .venv/bin/python\n  collapse-lab bench opt-train --batch 4 --context 128 --threads 2 --compare-torch .venv/bin/python"
    )]
    OptTrain(opt::OptTrainArgs),
    /// OPT generation speed on opt-125m's shape: 5-beam search with repetition penalty 1.2,
    /// sampling and greedy decoding, with the KV cache
    #[command(
        after_help = "Example:\n  collapse-lab bench opt-generate --threads 2 --compare-torch .venv/bin/python"
    )]
    OptGenerate(opt::OptGenerateArgs),
    /// Matrix products alone: f32 against bf16 (`--precision bf16`'s AMX or AVX512-BF16 kernel)
    /// in GFLOP/s, and the bf16 kernel's share of the processor's peak
    #[command(after_help = "Example:\n  collapse-lab bench matmul --threads 2")]
    Matmul(matmul::MatmulArgs),
}

pub fn run(c: BenchCommand) -> Result<()> {
    match c {
        BenchCommand::Ngram {
            input,
            order,
            arpa,
            sample_words,
        } => ngram::run(&input, order, arpa, sample_words),
        BenchCommand::Metrics(a) => metrics::run(a),
        BenchCommand::GptTrain(a) => gpt::train(a),
        BenchCommand::GptGenerate(a) => gpt::generate(a),
        BenchCommand::OptTrain(a) => opt::train(a),
        BenchCommand::OptGenerate(a) => opt::generate(a),
        BenchCommand::Matmul(a) => matmul::run(a),
    }
}
