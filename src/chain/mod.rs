//! The generational chain: one arm of an experiment, generation after generation.
//!
//! Generation g runs the stages of [`stages`]: compose its training corpus by the policy,
//! train (or load) and save the model, sample the next corpus, evaluate on held-out human
//! text, record. Every file is written atomically, and a generation counts as finished only
//! when its eval record (`evals/<exp>/gen-NN.json`, written last) exists. Rerunning the same
//! command after a crash or Ctrl-C skips finished generations and redoes the unfinished one;
//! since every random choice is derived from (seed, generation), the files are byte-identical
//! to an uninterrupted run. A lock file keeps a second process off the same experiment.

pub mod settings;
pub mod stages;

pub use settings::{ChainModel, ChainSettings};

use crate::corpus::policy::Policy;
use crate::error::Result;
use crate::family::{
    hub_model_type, Family, Gpt2HubFamily, GptFamily, GptNeoxFamily, LlamaFamily,
    LlamaScratchFamily, NgramFamily, OptFamily, ScratchKind,
};
use crate::fsutil::{self, Lock};
use crate::layout::Layout;
use crate::metrics::corpus_metrics::HumanReference;
use crate::report::metrics_csv;
use crate::report::record::GenerationEval;
use crate::sampling::Protocol;
use stages::ChainState;
use std::path::Path;

/// What one call of [`run_chain`] did.
#[derive(Clone, Debug)]
pub struct ChainOutcome {
    pub layout: Layout,
    pub ran: Vec<u32>,
    pub skipped: Vec<u32>,
    pub evals: Vec<GenerationEval>,
}

/// Runs (or resumes) one chain under `workdir`. Every setting is checked before anything is
/// written, so a chain that cannot run leaves no files and no name taken.
pub fn run_chain(s: &ChainSettings, workdir: &Path) -> Result<ChainOutcome> {
    s.validate()?;
    match &s.model {
        ChainModel::Ngram {
            order,
            min_count,
            vocab,
        } => start(
            &NgramFamily {
                order: *order,
                min_count: *min_count,
                vocab: *vocab,
            },
            s,
            workdir,
        ),
        ChainModel::Scratch {
            arch: ScratchKind::Gpt,
            preset,
            settings,
        } => start(&GptFamily::new(preset, settings.clone())?, s, workdir),
        ChainModel::Scratch {
            arch: ScratchKind::Llama,
            preset,
            settings,
        } => start(
            &LlamaScratchFamily::new(preset, settings.clone())?,
            s,
            workdir,
        ),
        ChainModel::Hf { repo, settings } => match hub_model_type(repo)?.as_str() {
            "gpt2" => start(&Gpt2HubFamily::new(repo, settings.clone())?, s, workdir),
            "llama" => start(&LlamaFamily::new(repo, settings.clone())?, s, workdir),
            "gpt_neox" => start(&GptNeoxFamily::new(repo, settings.clone())?, s, workdir),
            _ => start(&OptFamily::new(repo, settings.clone())?, s, workdir),
        },
    }
}

fn start<F: Family>(family: &F, s: &ChainSettings, workdir: &Path) -> Result<ChainOutcome> {
    family.preflight()?;
    let layout = Layout::new(workdir, &s.experiment);
    fsutil::create_dir_all(layout.eval_dir())?;
    let _lock = Lock::acquire(layout.lock_file(), &s.experiment)?;
    if layout.chain_json().exists() {
        s.check_same_as(&fsutil::read_json(layout.chain_json())?)?;
    }
    layout.remove_stale_temporaries();
    run_with(family, s, &layout)
}

fn run_with<F: Family>(family: &F, s: &ChainSettings, layout: &Layout) -> Result<ChainOutcome> {
    let human = stages::prepare_human(s, layout)?;
    if let Policy::Fresh(f) = s.policy {
        let words = human.train.stats().tokens;
        let budget = s.train_tokens.unwrap_or(usize::MAX);
        crate::corpus::fresh::check_supply(f, words, budget, s.generations)?;
    }
    if let (ChainModel::Ngram { .. }, Protocol::Continue { prompt_words }) = (&s.model, &s.protocol)
    {
        crate::sampling::check_continue_words(&human.train, *prompt_words)?;
    }
    // chain.json is written once the human corpus is in place, so a typo in --corpus never
    // pins an experiment to settings that cannot run.
    fsutil::write_json(layout.chain_json(), s)?;
    let reference = HumanReference::new(&human.train);
    let mut chain = ChainState {
        s,
        layout,
        family,
        test_only: stages::test_only_types(&human.test, &reference),
        reference,
        human,
        written: Vec::new(),
        first: None,
        template0: None,
    };
    let mut outcome = ChainOutcome {
        layout: layout.clone(),
        ran: Vec::new(),
        skipped: Vec::new(),
        evals: Vec::new(),
    };
    let bar = crate::progress::bar(u64::from(s.generations), &s.experiment, "generations");
    for g in 0..s.generations {
        if layout.eval_file(g).exists() {
            outcome.evals.push(chain.skip(g)?);
            outcome.skipped.push(g);
            bar.inc(1);
            continue;
        }
        let step = |what: &str| {
            let m = format!("{} gen {g}: {what}", s.experiment);
            bar.set_message(crate::progress::with_context(&m));
        };
        let started = std::time::Instant::now();
        step("composing corpus");
        let (train, summary) = chain.compose(g)?;
        step("training");
        let model = chain.train_or_load(g, &train, &step)?;
        step("sampling");
        let written = chain.sample(g, &model)?;
        step("evaluating");
        let eval = chain.evaluate(g, summary, &model, &written.corpus)?;
        outcome.evals.push(eval);
        stages::record(
            layout,
            outcome.evals.last().expect("just pushed"),
            &outcome.evals,
        )?;
        chain.written.push(written);
        if g == 0 {
            chain.first = Some(model);
        }
        outcome.ran.push(g);
        bar.inc(1);
        crate::progress::log_line(&format!(
            "{} gen {g}/{}: finished in {:.0} s, test_ppl {:.2}",
            s.experiment,
            s.generations - 1,
            started.elapsed().as_secs_f64(),
            outcome.evals.last().map_or(f64::NAN, |e| e.test_ppl)
        ));
    }
    bar.finish_and_clear();
    metrics_csv::write_metrics_csv(&layout.metrics_csv(), &outcome.evals)?;
    Ok(outcome)
}
