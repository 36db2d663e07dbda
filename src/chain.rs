//! The generational chain: one arm of an experiment, generation after generation.
//!
//! Generation g: compose its training corpus by the policy, train, save, sample the next
//! corpus, evaluate on held-out human text. Every file is written atomically, and a generation
//! counts as finished only when its eval record (`evals/<exp>/gen-NN.json`, written last)
//! exists. Rerunning the same command after a crash or Ctrl-C skips finished generations and
//! redoes the unfinished one; since every random choice is derived from (seed, generation),
//! the files are byte-identical to an uninterrupted run. A lock file keeps a second process
//! off the same experiment.

use crate::corpus::manifest::{CorpusKind, Manifest};
use crate::corpus::policy::{self, NamedCorpus, Policy};
use crate::corpus::{source, split, Corpus};
use crate::error::{Error, Result};
use crate::eval::corpus_metrics::{corpus_metrics, HumanReference};
use crate::eval::doc_ppl::doc_ppl_distribution;
use crate::eval::perplexity::perplexity;
use crate::family::{Family, GptFamily, ModelSpec, NgramFamily, OptFamily, SamplePlan, TrainCtx};
use crate::fsutil::{self, Lock};
use crate::gpt::settings::GptSettings;
use crate::layout::Layout;
use crate::ngram::sample::{Protocol, SampleSettings};
use crate::report::{self, GenerationEval, TrainSummary};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;

/// Everything that determines a chain's output; saved as `evals/<exp>/chain.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSettings {
    pub experiment: String,
    /// Human corpus: `embedded:<name>`, a file or a folder.
    pub corpus: String,
    pub model: String,
    pub generations: u32,
    pub policy: Policy,
    pub seed: u64,
    pub valid_frac: f64,
    pub test_frac: f64,
    /// Generation 0's vocabulary keeps words seen at least this often (n-grams).
    pub min_count: u32,
    /// Words each generation writes (default: the size of generation 0's training set).
    pub sample_tokens: Option<usize>,
    /// Cap on the words one generation trains on.
    pub train_tokens: Option<usize>,
    /// Use only about this many words of the human training split (whole documents drawn by
    /// the seed): a small human corpus, so that `accumulate` can grow (a `--train-tokens` cap
    /// would turn it into `accumulate-subsample`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_tokens: Option<usize>,
    pub temperature: f64,
    pub protocol: Protocol,
    pub max_line_words: usize,
    /// Size, training and generation settings of `gpt:` models (absent for n-grams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<GptSettings>,
}

impl ChainSettings {
    /// Checks settings that no later step would catch early.
    pub fn validate(&self) -> Result<ModelSpec> {
        Layout::check_name(&self.experiment)?;
        if self.generations == 0 {
            return Err(Error::invalid(
                "--generations 0 runs nothing",
                "use --generations 1 or more",
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::invalid(
                format!("temperature {} is not positive", self.temperature),
                "use e.g. --temperature 1.0",
            ));
        }
        for (what, v) in [
            ("--sample-tokens", self.sample_tokens),
            ("--train-tokens", self.train_tokens),
            ("--human-tokens", self.human_tokens),
        ] {
            if v == Some(0) {
                return Err(Error::invalid(
                    format!("{what} 0 leaves nothing"),
                    format!("give {what} a positive number of words"),
                ));
            }
        }
        let spec: ModelSpec = self.model.parse()?;
        if let ModelSpec::Hf { .. } = &spec {
            let gpt = self.gpt.clone().unwrap_or_else(GptSettings::fine_tune);
            gpt.check()?;
            if gpt.context.is_some_and(|c| c < 2) {
                return Err(Error::invalid(
                    "a block of 1 token has nothing to predict",
                    "use --context 2 or more (Shumailov et al. use 64)",
                ));
            }
        }
        if let ModelSpec::Gpt { preset } = &spec {
            let gpt = self.gpt.clone().unwrap_or_default();
            gpt.check()?;
            if let Protocol::Continue { prompt_words: k } = self.protocol {
                let context = GptFamily::context(preset, &gpt)?;
                if k == 0 || k >= context {
                    return Err(Error::invalid(
                        format!("continue:{k} needs 0 < K < the context length {context} (K prompt tokens + K new ones)"),
                        format!("use continue:{} or less (Shumailov et al. use 64 with context 128+)", context / 2),
                    ));
                }
            }
        }
        Ok(spec)
    }
}

/// What one call of [`run_chain`] did.
#[derive(Clone, Debug)]
pub struct ChainOutcome {
    pub layout: Layout,
    pub ran: Vec<u32>,
    pub skipped: Vec<u32>,
    pub evals: Vec<GenerationEval>,
}

/// Runs (or resumes) one chain under `workdir`.
pub fn run_chain(s: &ChainSettings, workdir: &Path) -> Result<ChainOutcome> {
    let spec = s.validate()?;
    let layout = Layout::new(workdir, &s.experiment);
    fsutil::create_dir_all(layout.eval_dir())?;
    let _lock = Lock::acquire(layout.lock_file(), &s.experiment)?;
    check_settings(s, &layout)?;
    layout.remove_stale_temporaries();
    // chain.json is written once the human corpus is in place (inside `run_with`), so a
    // typo in --corpus never pins an experiment to settings that cannot run.
    match spec {
        ModelSpec::Ngram { order } => run_with(
            &NgramFamily {
                order,
                min_count: s.min_count,
            },
            s,
            &layout,
        ),
        ModelSpec::Gpt { preset } => run_with(
            &GptFamily::new(&preset, s.gpt.clone().unwrap_or_default())?,
            s,
            &layout,
        ),
        ModelSpec::Hf { repo } => run_with(
            &OptFamily::new(&repo, s.gpt.clone().unwrap_or_else(GptSettings::fine_tune))?,
            s,
            &layout,
        ),
    }
}

/// A rerun must ask for the same chain (more generations are allowed: the chain extends).
fn check_settings(s: &ChainSettings, layout: &Layout) -> Result<()> {
    let path = layout.chain_json();
    if path.exists() {
        let old: ChainSettings = fsutil::read_json(&path)?;
        let same = ChainSettings {
            generations: s.generations,
            ..old.clone()
        };
        if same != *s {
            let (a, b) = (
                serde_json::to_value(&old).unwrap_or_default(),
                serde_json::to_value(s).unwrap_or_default(),
            );
            let diff: Vec<String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| *k != "generations" && b.get(k.as_str()) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k} was {v}, now {}",
                        b.get(k.as_str()).cloned().unwrap_or_default()
                    )
                })
                .collect();
            return Err(Error::invalid(
                format!(
                    "experiment `{}` already exists with other settings ({})",
                    s.experiment,
                    diff.join("; ")
                ),
                "rerun with the original settings to resume, or choose another --experiment name",
            ));
        }
    }
    Ok(())
}

/// The human corpus split, written once under `corpora/<exp>/human/` and read back after.
pub struct Human {
    pub train: Corpus,
    pub test: Corpus,
    pub train_sha256: String,
}

fn prepare_human(s: &ChainSettings, layout: &Layout) -> Result<Human> {
    let dir = layout.human_dir();
    if !dir.join("test.manifest.json").exists() {
        let loaded = source::load(&s.corpus)?;
        let mut sp = split::split(&loaded.corpus, s.valid_frac, s.test_frac, s.seed, &s.corpus)?;
        if let Some(n) = s.human_tokens {
            let mut rng = Rng::derive(s.seed, "human-tokens", 0);
            sp.train = policy::subsample(&sp.train, n, &mut rng);
        }
        split::write_split(&dir, &loaded.source, s.seed, &sp)?;
    }
    let read = |name: &str| -> Result<(Corpus, String)> {
        let c = Corpus::read_jsonl(&dir.join(format!("{name}.jsonl")))?;
        let m: Manifest = fsutil::read_json(dir.join(format!("{name}.manifest.json")))?;
        let sha = c.sha256();
        if sha != m.sha256 {
            return Err(Error::BadJson {
                path: dir.join(format!("{name}.jsonl")),
                what: "sha256 differs from its manifest".into(),
            });
        }
        Ok((c, sha))
    };
    let (train, train_sha256) = read("train")?;
    let (test, _) = read("test")?;
    Ok(Human {
        train,
        test,
        train_sha256,
    })
}

fn run_with<F: Family>(family: &F, s: &ChainSettings, layout: &Layout) -> Result<ChainOutcome> {
    let human = prepare_human(s, layout)?;
    fsutil::write_json(layout.chain_json(), s)?;
    let reference = HumanReference::new(&human.train);
    let human_named = NamedCorpus {
        name: layout.rel(&layout.human_dir().join("train.jsonl")),
        sha256: human.train_sha256.clone(),
        corpus: &human.train,
    };
    let mut synthetic: Vec<(String, String, Corpus)> = Vec::new(); // (name, sha256, corpus) by writer
    let mut first: Option<F::Model> = None;
    let mut template0: Option<Corpus> = None;
    let mut outcome = ChainOutcome {
        layout: layout.clone(),
        ran: Vec::new(),
        skipped: Vec::new(),
        evals: Vec::new(),
    };
    let bar = crate::progress::bar(u64::from(s.generations), &s.experiment, "generations");

    for g in 0..s.generations {
        let gen_path = layout.generated_corpus(g);
        if layout.eval_file(g).exists() {
            let generated = Corpus::read_jsonl(&gen_path)?;
            synthetic.push((layout.rel(&gen_path), generated.sha256(), generated));
            outcome.evals.push(fsutil::read_json(layout.eval_file(g))?);
            outcome.skipped.push(g);
            bar.inc(1);
            continue;
        }
        let step = |what: &str| bar.set_message(format!("{} gen {g}: {what}", s.experiment));

        step("composing corpus");
        let named: Vec<NamedCorpus> = synthetic
            .iter()
            .map(|(n, h, c)| NamedCorpus {
                name: n.clone(),
                sha256: h.clone(),
                corpus: c,
            })
            .collect();
        let (train, parents) =
            policy::compose(&s.policy, g, &human_named, &named, s.train_tokens, s.seed)?;
        let train_sha = train.sha256();
        let train_stats = train.stats();
        let mut m = Manifest::new(
            CorpusKind::TrainingMix,
            format!("policy:{}", s.policy),
            &train_sha,
            train_stats,
        );
        m.generation = Some(g);
        m.policy = Some(s.policy.to_string());
        m.parents = parents;
        m.seed = Some(s.seed);
        fsutil::write_json(layout.train_manifest(g), &m)?;
        // Unconditional samples are shaped like generation 0's training set; kept once, and
        // recomposed once (deterministically) when a resumed run starts past generation 0.
        if template0.is_none() && s.protocol == Protocol::Unconditional {
            template0 = Some(if g == 0 {
                train.clone()
            } else {
                policy::compose(&s.policy, 0, &human_named, &[], s.train_tokens, s.seed)?.0
            });
        }

        step("training");
        if g > 0 && first.is_none() {
            first = Some(family.load(&layout.checkpoint_dir(0))?);
        }
        let ckpt_dir = layout.checkpoint_dir(g);
        // A checkpoint saved before a crash is reused: training is the expensive step.
        let model = if family.is_saved(&ckpt_dir) {
            family.load(&ckpt_dir)?
        } else {
            let previous = (g > 0).then(|| layout.checkpoint_dir(g - 1));
            let ctx = TrainCtx {
                dir: &ckpt_dir,
                generation: g,
                seed: s.seed,
                previous: previous.as_deref(),
                label: format!("{} gen {g}", s.experiment),
            };
            let model = family.train(&train, first.as_ref(), &ctx)?;
            step("saving checkpoint");
            family.save(&model, &ckpt_dir)?;
            model
        };

        step("sampling");
        // Continuation prompts always come from the human training text (Shumailov et al.).
        let template = template0.as_ref().unwrap_or(&human.train);
        let plan = sample_plan(template, s, g);
        let mut generated = family.sample(&model, &plan)?;
        for (i, d) in generated.docs.iter_mut().enumerate() {
            d.id = format!("g{g:02}-{i:06}");
        }
        let generated_stats = generated.stats();
        if generated_stats.tokens == 0 {
            return Err(Error::invalid(
                format!("generation {g} wrote no text"),
                "the model is degenerate; try another seed or a larger corpus",
            ));
        }
        let sha = generated.write_jsonl(&gen_path)?;
        let ckpt = layout.rel(&layout.checkpoint_dir(g));
        let mut gm = Manifest::new(CorpusKind::Generated, &ckpt, &sha, generated_stats);
        gm.generation = Some(g);
        gm.parent_model = Some(ckpt);
        let mut sampling = serde_json::to_value(&plan.settings).expect("serializable");
        if let (Some(extra), Some(obj)) = (family.sampling_extras(), sampling.as_object_mut()) {
            obj.insert("model".into(), extra);
        }
        gm.sampling = Some(sampling);
        gm.seed = Some(plan.settings.seed);
        fsutil::write_json(layout.generated_manifest(g), &gm)?;

        step("evaluating");
        let test = perplexity(&family.score(&model, &human.test)?);
        let metrics = corpus_metrics(&generated, &reference);
        let judge = first.as_ref().unwrap_or(&model);
        let judged = family.score(judge, &generated)?;
        let under_first = perplexity(&judged);
        let eval = GenerationEval {
            generation: g,
            policy: s.policy.to_string(),
            model: s.model.clone(),
            train: TrainSummary {
                documents: train.len(),
                tokens: train_stats.tokens,
                sha256: train_sha,
            },
            test,
            generated: metrics,
            gen0_on_generated: under_first,
            gen0_doc_ppl: doc_ppl_distribution(&judged),
            notes: family.notes(&model),
            test_block_ppl: family.block_perplexity(&model, &human.test)?,
        };
        fsutil::write_json(layout.eval_file(g), &eval)?;
        outcome.evals.push(eval);
        report::write_metrics_csv(&layout.metrics_csv(), &outcome.evals)?;
        synthetic.push((layout.rel(&gen_path), sha, generated));
        if g == 0 {
            first = Some(model);
        }
        outcome.ran.push(g);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report::write_metrics_csv(&layout.metrics_csv(), &outcome.evals)?;
    Ok(outcome)
}

/// Document shapes for generation `g`'s sample: the template's documents, scaled to
/// `--sample-tokens` (subsampled when smaller, stretched when larger).
fn sample_plan<'a>(template: &'a Corpus, s: &ChainSettings, g: u32) -> SamplePlan<'a> {
    let total = template.stats().tokens.max(1);
    let target = s.sample_tokens.unwrap_or(total);
    let settings = SampleSettings {
        protocol: s.protocol.clone(),
        temperature: s.temperature,
        seed: Rng::derive(s.seed, "sample", u64::from(g)).next_u64(),
        max_line_words: s.max_line_words,
    };
    let doc_words = |c: &Corpus, scale: f64| {
        c.docs
            .iter()
            .map(|d| ((d.words() as f64 * scale).round() as usize).max(1))
            .collect::<Vec<_>>()
    };
    if target >= total {
        SamplePlan {
            template: Cow::Borrowed(template),
            doc_words: doc_words(template, target as f64 / total as f64),
            settings,
        }
    } else {
        // A smaller sample keeps document sizes and takes fewer documents.
        let mut rng = Rng::derive(s.seed, "sample-template", u64::from(g));
        let sub = policy::subsample(template, target, &mut rng);
        let words = doc_words(&sub, 1.0);
        SamplePlan {
            template: Cow::Owned(sub),
            doc_words: words,
            settings,
        }
    }
}
