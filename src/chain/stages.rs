//! The stages of one generation, in the order [`super::run_chain`] calls them (like lmplz's
//! numbered pipeline, each a small function with one output on disk):
//!
//! 0. [`prepare_human`]: the human split, written once (`corpora/<exp>/human/`), checked
//!    against its manifests every time it is read.
//! 1. [`compose`]: the generation's training corpus by the policy, and its manifest.
//! 2. [`train_or_load`]: the model, trained and saved (`checkpoints/<exp>/gen-NN/`), or the
//!    checkpoint a crashed run already saved.
//! 3. [`sample`]: the text the model writes (`corpora/<exp>/gen-NN/generated.jsonl`) and its
//!    manifest (parent model, sampling settings, seed).
//! 4. [`evaluate`]: the model on held-out human text, the text it wrote against the human
//!    text, and generation 0's scores of that text.
//! 5. [`record`]: the eval record (`evals/<exp>/gen-NN.json`, written last: its presence
//!    marks the generation finished) and the arm's `metrics.csv`.

use super::settings::ChainSettings;
use crate::corpus::manifest::{CorpusKind, Manifest};
use crate::corpus::policy::{self, NamedCorpus};
use crate::corpus::{source, split, Corpus};
use crate::error::{Error, Result};
use crate::family::{Family, TrainCtx};
use crate::fsutil;
use crate::layout::Layout;
use crate::metrics::corpus_metrics::{corpus_metrics, HumanReference};
use crate::metrics::doc_ppl::doc_ppl_distribution;
use crate::metrics::perplexity::perplexity;
use crate::metrics::vocabulary::{headline_ppl, vocabulary_report};
use crate::report::metrics_csv;
use crate::report::record::{GenerationEval, TrainSummary};
use crate::rng::Rng;
use crate::sampling::{self, Protocol, SampleSettings};

/// The human corpus split, as read back from `corpora/<exp>/human/`.
pub struct Human {
    pub train: Corpus,
    pub test: Corpus,
    pub train_sha256: String,
    /// Recorded in every eval record: a resume refuses a chain whose test split changed.
    pub test_sha256: String,
}

/// A corpus a generation wrote, as later policies name it.
pub struct Written {
    pub name: String,
    pub sha256: String,
    pub corpus: Corpus,
}

/// What every stage of a chain reads: its settings and files, the human split, what earlier
/// generations left.
pub struct ChainState<'a, F: Family> {
    pub s: &'a ChainSettings,
    pub layout: &'a Layout,
    pub family: &'a F,
    pub human: Human,
    pub reference: HumanReference,
    /// Word types of the human test split that its training split lacks: with the training
    /// types, the human words the headline perplexity is spread over.
    pub test_only: Vec<String>,
    /// The text every finished generation wrote, in order.
    pub written: Vec<Written>,
    /// Generation 0's model, the judge of every later generation's text.
    pub first: Option<F::Model>,
    /// Generation 0's training corpus: the shape of unconditional samples.
    pub template0: Option<Corpus>,
}

/// The human test split's word types that its training split lacks, in first-occurrence order.
pub fn test_only_types(test: &Corpus, reference: &HumanReference) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    test.lines()
        .flat_map(crate::tokenize::words)
        .filter(|w| reference.count(w) == 0 && seen.insert(*w))
        .map(String::from)
        .collect()
}

/// Stage 0: the human split, written once and read back, checked against its manifests.
pub fn prepare_human(s: &ChainSettings, layout: &Layout) -> Result<Human> {
    let dir = layout.human_dir();
    if !dir.join("test.manifest.json").exists() {
        let loaded = source::load(&s.corpus)?;
        let seed = s.split_seed();
        let mut sp = split::split(&loaded.corpus, s.valid_frac, s.test_frac, seed, &s.corpus)?;
        if let Some(n) = s.human_tokens {
            let mut rng = Rng::derive(seed, "human-tokens", 0);
            sp.train = policy::subsample(&sp.train, n, &mut rng);
        }
        split::write_split(&dir, &loaded.source, seed, &sp)?;
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
    let (test, test_sha256) = read("test")?;
    Ok(Human {
        train,
        test,
        train_sha256,
        test_sha256,
    })
}

impl<F: Family> ChainState<'_, F> {
    fn human_named(&self) -> NamedCorpus<'_> {
        NamedCorpus {
            name: self
                .layout
                .rel(&self.layout.human_dir().join("train.jsonl")),
            sha256: self.human.train_sha256.clone(),
            corpus: &self.human.train,
        }
    }

    /// A finished generation's text, read back for the policies of later ones. Refused when
    /// the text no longer matches its manifest, or the generation was scored on another test
    /// split than the one on disk: the rest of the chain would build on changed inputs.
    pub fn skip(&mut self, g: u32) -> Result<GenerationEval> {
        let layout = self.layout;
        let path = layout.generated_corpus(g);
        let corpus = Corpus::read_jsonl(&path)?;
        let sha256 = corpus.sha256();
        let m: Manifest = fsutil::read_json(layout.generated_manifest(g))?;
        if m.sha256 != sha256 {
            return Err(changed(&path, "its manifest", &layout.name));
        }
        let eval: GenerationEval = fsutil::read_json(layout.eval_file(g))?;
        if eval
            .test_sha256
            .as_ref()
            .is_some_and(|t| *t != self.human.test_sha256)
        {
            let test = layout.human_dir().join("test.jsonl");
            return Err(changed(
                &test,
                &format!("what generation {g} was scored on"),
                &layout.name,
            ));
        }
        self.written.push(Written {
            name: layout.rel(&path),
            sha256,
            corpus,
        });
        Ok(eval)
    }

    /// Stage 1: generation `g`'s training corpus by the policy, and its manifest.
    pub fn compose(&mut self, g: u32) -> Result<(Corpus, TrainSummary)> {
        let s = self.s;
        let named: Vec<NamedCorpus> = self
            .written
            .iter()
            .map(|w| NamedCorpus {
                name: w.name.clone(),
                sha256: w.sha256.clone(),
                corpus: &w.corpus,
            })
            .collect();
        let human = self.human_named();
        let (train, parents) =
            policy::compose(&s.policy, g, &human, &named, s.train_tokens, s.seed)?;
        let stats = train.stats();
        let summary = TrainSummary {
            documents: train.len(),
            tokens: stats.tokens,
            sha256: train.sha256(),
        };
        let mut m = Manifest::new(
            CorpusKind::TrainingMix,
            format!("policy:{}", s.policy),
            &summary.sha256,
            stats,
        );
        m.generation = Some(g);
        m.policy = Some(s.policy.to_string());
        m.parents = parents;
        m.seed = Some(s.seed);
        fsutil::write_json(self.layout.train_manifest(g), &m)?;
        // Unconditional samples are shaped like generation 0's training set; kept once, and
        // recomposed once (deterministically) when a resumed run starts past generation 0.
        if self.template0.is_none() && s.protocol == Protocol::Unconditional {
            self.template0 = Some(if g == 0 {
                train.clone()
            } else {
                policy::compose(&s.policy, 0, &human, &[], s.train_tokens, s.seed)?.0
            });
        }
        Ok((train, summary))
    }

    /// Stage 2: generation `g`'s model, trained on `train` and saved, or the checkpoint a
    /// crashed run already saved (training is the expensive step).
    pub fn train_or_load(
        &mut self,
        g: u32,
        train: &Corpus,
        step: &dyn Fn(&str),
    ) -> Result<F::Model> {
        let (family, layout) = (self.family, self.layout);
        if g > 0 && self.first.is_none() {
            // Generation 0's model judges every later generation: it must be the one that
            // wrote generation 0's text.
            let dir = layout.checkpoint_dir(0);
            let m: Manifest = fsutil::read_json(layout.generated_manifest(0))?;
            let recorded = m.parent_model_sha256;
            if recorded.is_some() && recorded != Some(fsutil::dir_sha256(&dir)?) {
                return Err(changed(
                    &dir,
                    "the model that wrote generation 0's text",
                    &layout.name,
                ));
            }
            self.first = Some(family.load(&dir)?);
        }
        let dir = layout.checkpoint_dir(g);
        if family.is_saved(&dir) {
            return family.load(&dir);
        }
        let previous = (g > 0).then(|| layout.checkpoint_dir(g - 1));
        let ctx = TrainCtx {
            dir: &dir,
            generation: g,
            seed: self.s.seed,
            previous: previous.as_deref(),
            label: format!("{} gen {g}", self.s.experiment),
        };
        let model = family.train(train, self.first.as_ref(), &ctx)?;
        step("saving checkpoint");
        family.save(&model, &dir)?;
        Ok(model)
    }

    /// Stage 3: the text generation `g`'s model writes, and its manifest.
    pub fn sample(&self, g: u32, model: &F::Model) -> Result<Written> {
        let (s, layout) = (self.s, self.layout);
        // Continuation prompts always come from the human training text (Shumailov et al.).
        let template = self.template0.as_ref().unwrap_or(&self.human.train);
        let settings = SampleSettings {
            protocol: s.protocol.clone(),
            temperature: s.temperature,
            seed: Rng::derive(s.seed, "sample", u64::from(g)).next_u64(),
            max_line_words: s.max_line_words,
        };
        let plan = sampling::plan(template, s.sample_tokens, settings, s.seed, g);
        let mut generated = self.family.sample(model, &plan)?;
        for (i, d) in generated.docs.iter_mut().enumerate() {
            d.id = format!("g{g:02}-{i:06}");
        }
        let stats = generated.stats();
        if stats.tokens == 0 {
            return Err(Error::invalid(
                format!("generation {g} wrote no text"),
                "the model is degenerate; try another seed or a larger corpus",
            ));
        }
        let path = layout.generated_corpus(g);
        let sha = generated.write_jsonl(&path)?;
        let ckpt = layout.rel(&layout.checkpoint_dir(g));
        let mut m = Manifest::new(CorpusKind::Generated, &ckpt, &sha, stats);
        m.generation = Some(g);
        m.parent_model = Some(ckpt);
        m.parent_model_sha256 = Some(fsutil::dir_sha256(&layout.checkpoint_dir(g))?);
        let mut sampling = serde_json::to_value(&plan.settings).expect("serializable");
        if let (Some(extra), Some(obj)) = (self.family.sampling_extras(), sampling.as_object_mut())
        {
            obj.insert("model".into(), extra);
        }
        m.sampling = Some(sampling);
        m.seed = Some(plan.settings.seed);
        fsutil::write_json(layout.generated_manifest(g), &m)?;
        Ok(Written {
            name: layout.rel(&path),
            sha256: sha,
            corpus: generated,
        })
    }

    /// Stage 4: everything measured for generation `g`.
    pub fn evaluate(
        &self,
        g: u32,
        train: TrainSummary,
        model: &F::Model,
        generated: &Corpus,
    ) -> Result<GenerationEval> {
        let family = self.family;
        let scores = family.score(model, &self.human.test)?;
        let test = perplexity(&scores);
        let vocabulary = vocabulary_report(
            &self.reference,
            &self.test_only,
            family.word_types(model),
            |w| family.names_word(model, w),
        );
        let judge = self.first.as_ref().unwrap_or(model);
        let judged = family.score(judge, generated)?;
        Ok(GenerationEval {
            generation: g,
            policy: self.s.policy.to_string(),
            model: self.s.model.spec().to_string(),
            train,
            test_sha256: Some(self.human.test_sha256.clone()),
            test_ppl: headline_ppl(&scores.total(), vocabulary.unnamed_words),
            test,
            vocabulary,
            generated: corpus_metrics(generated, &self.reference),
            gen0_on_generated: perplexity(&judged),
            gen0_doc_ppl: doc_ppl_distribution(&judged),
            notes: family.notes(model),
            test_block_ppl: family.block_perplexity(model, &self.human.test)?,
        })
    }
}

/// The one-line refusal of a resume whose input changed on disk.
fn changed(path: &std::path::Path, what: &str, experiment: &str) -> Error {
    Error::invalid(
        format!(
            "{} no longer matches {what}: resuming would build on changed inputs",
            path.display()
        ),
        format!(
            "restore it, or start experiment `{experiment}` over (delete corpora/{experiment}, \
             checkpoints/{experiment} and evals/{experiment})"
        ),
    )
}

/// Stage 5: the eval record, written last (a generation with one is finished), and the arm's
/// `metrics.csv` with every generation so far.
pub fn record(layout: &Layout, eval: &GenerationEval, so_far: &[GenerationEval]) -> Result<()> {
    fsutil::write_json(layout.eval_file(eval.generation), eval)?;
    metrics_csv::write_metrics_csv(&layout.metrics_csv(), so_far)
}
