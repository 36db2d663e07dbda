//! `run`, `chain` and `compare`.

use super::gpt_args::GptArgs;
use super::{print_table, SizeArgs, DEFAULT_CORPUS, DEFAULT_MODEL};
use anyhow::Result;
use collapse_lab::chain::{run_chain, ChainModel, ChainOutcome, ChainSettings};
use collapse_lab::corpus::policy::Policy;
use collapse_lab::error::Error;
use collapse_lab::family::ModelSpec;
use collapse_lab::report::compare::{
    comparability, compare_columns, long_csv, paired_differences, COMPARE_COLUMNS,
};
use collapse_lab::report::metrics_csv::ArmTable;
use collapse_lab::spec;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
collapse-lab chain --experiment kjv-replace --generations 10 --policy replace\n  \
collapse-lab chain --experiment gb-mix --corpus ../shared/corpora/gutenberg/books --model ngram:5 --policy mix:0.1\n  \
collapse-lab chain --experiment smoke --generations 2 --train-tokens 20000 --sample-tokens 5000\n  \
collapse-lab chain --experiment gpt-smoke --model gpt:tiny --generations 2 --train-tokens 20000 --sample-tokens 5000\n  \
collapse-lab run experiments/shumailov2024-opt125m.toml --device cuda   (OPT-125m on wikitext-2, from the Hub)\n\n\
Rerunning the same command resumes after the last finished generation; a larger --generations extends the chain.")]
pub struct ChainArgs {
    /// Name of the experiment (directory name under corpora/, checkpoints/, evals/)
    #[arg(long, value_name = "NAME")]
    pub experiment: String,
    /// Human corpus: embedded:kjv (or akjv, asv, erv), a text or JSONL file, a folder of text files,
    /// or a Hub dataset hf:OWNER/NAME/CONFIG[@REV] with its own splits (hf:Salesforce/wikitext/wikitext-2-raw-v1)
    #[arg(long, default_value = DEFAULT_CORPUS, value_name = "SRC")]
    pub corpus: String,
    /// Model family and size: ngram:N (interpolated modified Kneser-Ney, N = 1..8); gpt:PRESET, a
    /// GPT-2 trained from scratch each generation: gpt:nano (2×64, tests), gpt:tiny (4 layers × 256,
    /// context 128: CPU chains), gpt:small (6×512, context 256), gpt:gpt2 (GPT-2 small's shape), or
    /// gpt:path/to/config.json (a Hugging Face GPT-2 config); llama:PRESET, a Llama trained from
    /// scratch (llama:nano, llama:tiny, llama:15m and llama:42m: llama2.c's TinyStories shapes, or
    /// a config.json); or hf:OWNER/NAME[@REV], a Hub model fine-tuned each generation, of type
    /// opt, gpt2, llama or gpt_neox (hf:facebook/opt-125m, hf:openai-community/gpt2,
    /// hf:HuggingFaceTB/SmolLM2-135M, hf:EleutherAI/pythia-70m; HF_ENDPOINT,
    /// HF_HOME, HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE=1 work as for Python; a request or
    /// transfer silent for HF_HUB_ETAG_TIMEOUT or HF_HUB_DOWNLOAD_TIMEOUT seconds, 10, fails)
    #[arg(long, default_value = DEFAULT_MODEL, value_name = "MODEL")]
    pub model: String,
    /// Number of generations (generation 0 trains on human text)
    #[arg(long, default_value_t = spec::DEFAULT_GENERATIONS, value_name = "G")]
    pub generations: u32,
    /// Corpus policy: replace | accumulate | mix:F (keep a fraction F of human data) |
    /// accumulate-subsample | fresh:F (a fraction F of human text no generation used before;
    /// needs --train-tokens below the human split's size)
    #[arg(long, default_value = "replace", value_name = "P")]
    pub policy: String,
    /// Seed of every random choice (split, policies, sampling): same seed, same files
    #[arg(long, default_value_t = spec::DEFAULT_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub sizes: SizeArgs,
    /// Sampling temperature (1 = the model's own distribution)
    #[arg(long, default_value_t = spec::DEFAULT_TEMPERATURE, value_name = "T")]
    pub temperature: f64,
    /// unconditional (new documents shaped like the training set) or continue:K (continue
    /// every human training line after its first K words, keeping the new words only)
    #[arg(long, default_value = "unconditional", value_name = "PROTOCOL")]
    pub protocol: String,
    /// Fraction of human documents held out for validation
    #[arg(long, default_value_t = spec::DEFAULT_VALID_FRAC, value_name = "F")]
    pub valid_frac: f64,
    /// Fraction of human documents held out for test (perplexity of every generation)
    #[arg(long, default_value_t = spec::DEFAULT_TEST_FRAC, value_name = "F")]
    pub test_frac: f64,
    /// n-grams: a vocabulary built from text keeps words seen at least this often (rarer ones
    /// become <unk>); with --vocab own that is every generation's, with fixed generation 0's
    /// [default: 1]
    #[arg(long, value_name = "N")]
    pub min_count: Option<u32>,
    /// n-grams: own (each generation knows the words of its own training text, as lmplz
    /// builds a model: words no generation wrote are gone for good) or fixed (generation 0's
    /// vocabulary throughout, every word kept with a floor, as a neural model keeps its
    /// tokenizer) [default: own]
    #[arg(long, value_name = "MODE")]
    pub vocab: Option<String>,
    /// Generated lines longer than this are ended
    #[arg(long, default_value_t = spec::DEFAULT_MAX_LINE_WORDS, value_name = "N")]
    pub max_line_words: usize,
    #[command(flatten)]
    pub gpt: GptArgs,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Experiments to put side by side (names under evals/)
    #[arg(required = true, value_name = "EXPERIMENT")]
    pub experiments: Vec<String>,
    /// Also write every value of these experiments as tidy long CSV (arm, seed, generation,
    /// metric, value; full metrics.csv precision), which pandas and seaborn read as it is
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Columns of metrics.csv to show, comma-separated (e.g. test_ppl,mattr,self_bleu), or
    /// `all`; default: test_ppl, model_vocab, test_oov_rate, rare_types_lost
    #[arg(long, value_name = "LIST")]
    pub columns: Option<String>,
}

pub fn chain(a: ChainArgs, workdir: &Path) -> Result<()> {
    let model: ModelSpec = a.model.parse()?;
    let neural = a.gpt.for_model(&model, None)?;
    let settings = ChainSettings {
        model: ChainModel::new(
            model,
            a.min_count,
            a.vocab.as_deref().map(str::parse).transpose()?,
            neural,
        )?,
        policy: a.policy.parse::<Policy>()?,
        protocol: spec::parse_protocol(&a.protocol)?,
        experiment: a.experiment,
        corpus: a.corpus,
        generations: a.generations,
        seed: a.seed,
        split_seed: None,
        valid_frac: a.valid_frac,
        test_frac: a.test_frac,
        sample_tokens: a.sizes.sample_tokens,
        train_tokens: a.sizes.train_tokens,
        human_tokens: a.sizes.human_tokens,
        temperature: a.temperature,
        max_line_words: a.max_line_words,
    };
    let outcome = run_chain(&settings, workdir)?;
    report_chain(&outcome);
    compare(
        CompareArgs {
            experiments: vec![settings.experiment],
            csv: None,
            columns: None,
        },
        workdir,
    )
}

pub fn report_chain(o: &ChainOutcome) {
    if collapse_lab::progress::is_quiet() {
        return;
    }
    if !o.skipped.is_empty() {
        eprintln!(
            "{}: generations {:?} were already finished (resumed)",
            o.layout.name, o.skipped
        );
    }
    for e in &o.evals {
        for n in &e.notes {
            eprintln!("{} gen {}: {n}", o.layout.name, e.generation);
        }
    }
}

pub fn compare(a: CompareArgs, workdir: &Path) -> Result<()> {
    let arms = a
        .experiments
        .iter()
        .map(|n| ArmTable::read(workdir, n))
        .collect::<Result<Vec<_>, _>>()?;
    let chosen = chosen_columns(a.columns.as_deref(), &arms)?;
    let columns: Vec<(&str, &str)> = chosen
        .iter()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect();
    let t = compare_columns(&arms, &columns);
    if let Some(warning) = comparability(&arms) {
        eprintln!("warning: {warning}");
    }
    if a.columns.is_none() {
        println!(
            "ppl: perplexity of the human test split over the human words (an OOV word costs \
             p(<unk>) shared among the human words the model cannot name);"
        );
        println!("vocab: word types the model can write; oov: share of test words it cannot name;");
        println!("rare_lost: share of rare human types (count <= 5) the generation never wrote");
    }
    if t.seeds.iter().any(|&n| n > 1) {
        println!(
            "arms with several seeds: mean ± half-width of the 95% interval over seeds \
             (Student t; seeds per arm: {})",
            t.arms
                .iter()
                .zip(&t.seeds)
                .map(|(a, n)| format!("{a} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!();
    if !t.prefix.is_empty() {
        println!("{}*", t.prefix);
    }
    let groups: Vec<(String, usize)> = std::iter::once((String::new(), 1))
        .chain(t.arms.iter().map(|a| (a.clone(), columns.len())))
        .collect();
    if columns.len() <= WIDE_TABLE_COLUMNS {
        print_table(&groups, &t.header, &t.rows);
    } else {
        // Many columns (`--columns all`): one table per arm, a metric per row, a generation
        // per column, which fits a terminal however many metrics there are.
        let n = columns.len();
        let mut header = vec!["metric".to_string()];
        header.extend(t.rows.iter().map(|r| format!("gen {}", r[0])));
        for (a, arm) in t.arms.iter().enumerate() {
            let rows: Vec<Vec<String>> = (0..n)
                .map(|c| {
                    let mut row = vec![t.columns[c].clone()];
                    row.extend(t.rows.iter().map(|r| r[1 + a * n + c].clone()));
                    row
                })
                .collect();
            println!("\n{}{arm}", t.prefix);
            print_table(&[], &header, &rows);
        }
    }
    let first = columns.first().map(|c| c.0).unwrap_or("test_ppl");
    if let Some(d) = paired_differences(&arms, first) {
        println!(
            "\n{first}: difference from {} paired by seed, mean ± 95% half-width \
             (* the interval excludes 0)",
            d.header[1].rsplit(" − ").next().unwrap_or_default()
        );
        print_table(&[], &d.header, &d.rows);
    }
    if let Some(path) = a.csv {
        collapse_lab::fsutil::write_atomic(&path, long_csv(&arms).as_bytes())?;
        println!(
            "\nwrote {} (arm, seed, generation, metric, value)",
            path.display()
        );
    }
    Ok(())
}

/// Past this many columns per arm the table is printed one arm at a time, transposed.
const WIDE_TABLE_COLUMNS: usize = 8;

/// `--columns` as (column, short name) pairs: the defaults, every metrics.csv column (`all`),
/// or the listed ones, each of which some experiment must have.
fn chosen_columns(arg: Option<&str>, arms: &[ArmTable]) -> Result<Vec<(String, String)>, Error> {
    let known = |c: &str| arms.iter().any(|a| a.columns.iter().any(|x| x == c));
    match arg {
        None => Ok(COMPARE_COLUMNS
            .iter()
            .map(|(c, s)| (c.to_string(), s.to_string()))
            .collect()),
        Some("all") => {
            let mut all: Vec<String> = Vec::new();
            for c in arms.iter().flat_map(|a| &a.columns) {
                if c != "generation" && c != "policy" && !all.contains(c) {
                    all.push(c.clone());
                }
            }
            Ok(all.into_iter().map(|c| (c.clone(), c)).collect())
        }
        Some(list) => list
            .split(',')
            .map(|c| {
                let c = c.trim();
                if known(c) {
                    Ok((c.to_string(), c.to_string()))
                } else {
                    Err(Error::invalid(
                        format!("no experiment has a column `{c}` in its metrics.csv"),
                        "name columns of metrics.csv (see its header or README.md), or use --columns all",
                    ))
                }
            })
            .collect(),
    }
}
