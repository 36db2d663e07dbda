//! `run`: a spec's chains, all in turn, `--jobs N` at once, or `--task I` alone (a task of a
//! job array; `plan` numbers the chains).

use super::chain::{compare, report_chain, CompareArgs};
use super::gpt_args::GptArgs;
use super::SizeArgs;
use anyhow::Result;
use collapse_lab::chain::{run_chain, ChainModel, ChainSettings};
use collapse_lab::error::Error;
use collapse_lab::spec::{self, Spec};
use collapse_lab::study::plan::Plan;
use collapse_lab::study::task::Task;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  collapse-lab run                          # the built-in quickstart\n  \
collapse-lab run experiments/quickstart.toml --generations 3 --train-tokens 20000\n  \
collapse-lab run quickstart --jobs 2                 # two chains at a time, a core each\n  \
collapse-lab run quickstart --task 4                 # chain 4 of `collapse-lab plan quickstart` alone\n  \
collapse-lab run study.toml --task env               # in a job array (see `plan --help`)"
)]
pub struct RunArgs {
    /// Experiment spec (TOML), or the name of a built-in one (quickstart, gpt-small-cpu,
    /// decoding-arms, fresh-vs-mix, shumailov2024-opt125m); without one, the quickstart
    pub spec: Option<PathBuf>,
    /// Override the spec's number of generations
    #[arg(long, value_name = "G")]
    pub generations: Option<u32>,
    /// Override the spec's human corpus (embedded:kjv, a file, a folder, hf:OWNER/NAME/CONFIG)
    #[arg(long, value_name = "SRC")]
    pub corpus: Option<String>,
    /// Override the spec's model (ngram:N, gpt:PRESET, hf:OWNER/NAME)
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Run every arm once with this seed (instead of the spec's seed or seeds)
    #[arg(long, value_name = "S", conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Override the spec's n-gram vocabulary: own or fixed (see `chain --help`)
    #[arg(long, value_name = "MODE")]
    pub vocab: Option<String>,
    /// Run every arm once per seed (e.g. 1,2,3), each its own chain `<spec>-<arm>-s<seed>`;
    /// compare and report then show means with 95% intervals over the seeds
    #[arg(long, value_name = "S,S,...", value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Run only chain I of the plan (`collapse-lab plan SPEC` lists them), resuming it if it
    /// was started; `env` reads I from a job array's variable (SLURM_ARRAY_TASK_ID,
    /// JOB_COMPLETION_INDEX of a Kubernetes Indexed Job, AWS_BATCH_JOB_ARRAY_INDEX), `env:VAR`
    /// from VAR. With `env`, `plan` must have been run on this workdir first
    #[arg(
        long,
        value_name = "I|env|env:VAR",
        conflicts_with = "jobs",
        allow_hyphen_values = true
    )]
    pub task: Option<String>,
    /// Run up to N chains at once, each in its own process with its share of the cores (one
    /// progress line per running chain)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub sizes: SizeArgs,
    #[command(flatten)]
    pub gpt: GptArgs,
}

/// The spec with the flags' overrides, and its chains.
fn chains_of(a: &RunArgs) -> Result<(Spec, Vec<ChainSettings>)> {
    let mut spec = match &a.spec {
        Some(p) => spec::load(p)?,
        None => Spec::parse(spec::QUICKSTART, Path::new("quickstart.toml"))?,
    };
    if a.generations.is_some() {
        spec.generations = a.generations;
    }
    if a.vocab.is_some() {
        spec.vocab = a.vocab.clone();
    }
    if a.corpus.is_some() {
        spec.corpus = a.corpus.clone();
    }
    if a.model.is_some() {
        spec.model = a.model.clone();
    }
    if let Some(seed) = a.seed {
        (spec.seeds, spec.seed) = (None, Some(seed));
    }
    if let Some(seeds) = &a.seeds {
        (spec.seeds, spec.seed) = (Some(seeds.clone()), None);
        spec.seed_list()?;
    }
    if a.sizes.sample_tokens.is_some() {
        spec.sample_tokens = a.sizes.sample_tokens;
    }
    if a.sizes.train_tokens.is_some() {
        spec.train_tokens = a.sizes.train_tokens;
    }
    if a.sizes.human_tokens.is_some() {
        spec.human_tokens = a.sizes.human_tokens;
    }
    let mut arms = spec.arms()?;
    // Flags win over the spec's [gpt], [arm] and [arms.<name>] tables, in every arm.
    let vocab = a.vocab.as_deref().map(str::parse).transpose()?;
    for arm in &mut arms {
        if let (Some(v), ChainModel::Ngram { vocab, .. }) = (vocab, &mut arm.model) {
            *vocab = v;
        }
        for (flag, field) in [
            (a.sizes.sample_tokens, &mut arm.sample_tokens),
            (a.sizes.train_tokens, &mut arm.train_tokens),
            (a.sizes.human_tokens, &mut arm.human_tokens),
        ] {
            if flag.is_some() {
                *field = flag;
            }
        }
        let neural = a
            .gpt
            .for_model(&arm.model.spec(), arm.model.neural().cloned())?;
        if let (ChainModel::Scratch { settings, .. } | ChainModel::Hf { settings, .. }, Some(n)) =
            (&mut arm.model, neural)
        {
            *settings = n;
        }
    }
    Ok((spec, arms))
}

/// Runs the spec's chains: all in turn, `--jobs N` at once, or `--task I` alone.
pub fn run(a: RunArgs, workdir: &Path) -> Result<()> {
    let (spec, arms) = chains_of(&a)?;
    let name = spec.name.clone().unwrap_or_else(|| "experiment".into());
    if let Some(task) = &a.task {
        return run_task(task, &name, &arms, workdir);
    }
    let (plan, _) = Plan::update(workdir, &name, &arms)?;
    let started = std::time::Instant::now();
    match a.jobs {
        Some(n) => super::jobs::run_jobs(&plan, &arms, n)?,
        None => {
            for (i, arm) in arms.iter().enumerate() {
                collapse_lab::progress::set_context(&format!("[{}/{}]", i + 1, arms.len()));
                let outcome = run_chain(arm, workdir)?;
                report_chain(&outcome);
            }
            collapse_lab::progress::set_context("");
        }
    }
    let names: Vec<String> = arms.iter().map(|a| a.experiment.clone()).collect();
    let seeds = spec.seed_list()?.len();
    let size = if seeds > 1 {
        format!("{} arms × {seeds} seeds", arms.len() / seeds)
    } else {
        format!("{} arms", arms.len())
    };
    println!(
        "{} ({size}, {:.0} s)\n",
        spec.name.as_deref().unwrap_or("experiment"),
        started.elapsed().as_secs_f64()
    );
    compare(
        CompareArgs {
            experiments: names.clone(),
            csv: None,
            columns: None,
        },
        workdir,
    )?;
    println!("\nPer-generation metrics (CSV):");
    for n in &names {
        println!(
            "  {}",
            workdir.join("evals").join(n).join("metrics.csv").display()
        );
    }
    println!();
    let files = collapse_lab::report::write_report(workdir, &names, None)?;
    super::report::print_written(&files);
    Ok(())
}

/// `run --task`: the plan's chain I alone, resumed if it was started.
fn run_task(task: &str, spec: &str, chains: &[ChainSettings], workdir: &Path) -> Result<()> {
    let task: Task = task.parse()?;
    let (i, source) = task.resolve(|v| std::env::var(v).ok())?;
    if matches!(task, Task::Env(_)) && Plan::read(workdir, spec)?.is_none() {
        // Tasks of an array read the plan `plan` wrote before it was submitted; without it,
        // this task sees another folder than the one that was planned.
        let dir = std::path::absolute(workdir).unwrap_or_else(|_| workdir.into());
        return Err(Error::invalid(
            format!(
                "{source}: no plan for `{spec}` in {} on host {}",
                dir.display(),
                collapse_lab::fsutil::host()
            ),
            format!(
                "run `collapse-lab --workdir {} plan SPEC` before the array starts, and give \
                 every task a --workdir on storage they all share",
                dir.display()
            ),
        )
        .into());
    }
    let plan = Plan::existing_or_first(workdir, spec, chains)?;
    let planned = plan.get(i, &source)?;
    let chain = chains
        .iter()
        .find(|c| c.experiment == planned.experiment)
        .ok_or_else(|| {
            Error::invalid(
                format!(
                    "{source}: chain {i} of the plan is {}, which the spec with these flags \
                     does not make",
                    planned.experiment
                ),
                "run tasks with the flags the plan was made with (--seed, --seeds and --model \
                 change the chains), or add the chains with `collapse-lab plan SPEC`",
            )
        })?;
    collapse_lab::progress::set_context(&format!("[task {i}]"));
    let outcome = run_chain(chain, workdir)?;
    report_chain(&outcome);
    collapse_lab::progress::set_context("");
    compare(
        CompareArgs {
            experiments: vec![chain.experiment.clone()],
            csv: None,
            columns: None,
        },
        workdir,
    )
}
