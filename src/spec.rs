//! Experiment specs (TOML) and every default of a chain, in one place with its reason.
//!
//! A spec names a corpus, a model and the arms (corpus policies) to compare; each arm runs as
//! its own chain, named `<spec>-<policy>`. Unknown keys are rejected: a typo must not silently
//! run the default.

use crate::chain::{ChainModel, ChainSettings};
use crate::corpus::policy::Policy;
use crate::error::{Error, Result};
use crate::family::ModelSpec;
use crate::lm::settings::GptSettings;
use crate::sampling::Protocol;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in default experiment, compiled in so `collapse-lab run` works anywhere.
pub const QUICKSTART: &str = include_str!("../experiments/quickstart.toml");

/// Public-domain KJV text, compiled into the binary: works with no network and no files.
pub const DEFAULT_CORPUS: &str = "embedded:kjv";
/// A trigram: fast enough for a 3-minute quickstart, rich enough to lose a tail.
pub const DEFAULT_MODEL: &str = "ngram:3";
/// Ten generations show the collapse curve clearly (Shumailov et al. run 9-10).
pub const DEFAULT_GENERATIONS: u32 = 10;
pub const DEFAULT_SEED: u64 = 42;
/// 5% of documents for validation and 5% for test: held-out human text for every generation.
pub const DEFAULT_VALID_FRAC: f64 = 0.05;
pub const DEFAULT_TEST_FRAC: f64 = 0.05;
/// Keep every human word in generation 0's vocabulary (KenLM's default).
pub const DEFAULT_MIN_COUNT: u32 = 1;
/// Plain ancestral sampling: the model's own distribution, as in the collapse papers.
pub const DEFAULT_TEMPERATURE: f64 = 1.0;
/// Ends runaway lines of a degenerate model; far above any sentence in the corpora we ship.
pub const DEFAULT_MAX_LINE_WORDS: usize = 1024;

/// Parses `unconditional` or `continue:K` (K prompt words per line).
pub fn parse_protocol(s: &str) -> Result<Protocol> {
    let bad = || {
        Error::invalid(
            format!("unknown sampling protocol `{s}`"),
            "use `unconditional` or `continue:K` (continue each human line after its first K words)",
        )
    };
    match s.split_once(':') {
        None if s == "unconditional" => Ok(Protocol::Unconditional),
        Some(("continue", k)) => Ok(Protocol::Continue {
            prompt_words: k.parse().map_err(|_| bad())?,
        }),
        _ => Err(bad()),
    }
}

/// An experiment spec as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Prefix of each arm's experiment name (default: the file name without `.toml`).
    pub name: Option<String>,
    pub corpus: Option<String>,
    pub model: Option<String>,
    pub generations: Option<u32>,
    pub seed: Option<u64>,
    /// Corpus policies to compare, one chain each.
    pub arms: Vec<String>,
    pub valid_frac: Option<f64>,
    pub test_frac: Option<f64>,
    pub min_count: Option<u32>,
    pub sample_tokens: Option<usize>,
    pub train_tokens: Option<usize>,
    pub human_tokens: Option<usize>,
    pub temperature: Option<f64>,
    pub protocol: Option<String>,
    pub max_line_words: Option<usize>,
    /// Settings of `gpt:` and `hf:` models (a `[gpt]` table; see `GptSettings` for keys and
    /// defaults), laid over the model family's defaults ([`ModelSpec::default_settings`]).
    pub gpt: Option<toml::Table>,
    /// Per-arm changes to `[gpt]`, keyed by the arm's policy: `[arm."mix:0.1"]` with
    /// `epochs = 10.0` (Shumailov et al. train their 10%-real arm longer).
    #[serde(default)]
    pub arm: BTreeMap<String, toml::Table>,
}

impl Spec {
    /// Parses a spec; `path` names it in errors and gives the default name.
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let mut spec: Spec = toml::from_str(text).map_err(|e| Error::BadSpec {
            path: path.into(),
            what: e.message().to_string(),
        })?;
        if spec.name.is_none() {
            spec.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        if spec.arms.is_empty() {
            return Err(Error::BadSpec {
                path: path.into(),
                what: "`arms` lists no policy".into(),
            });
        }
        if let Some(k) = spec.arm.keys().find(|k| !spec.arms.contains(k)) {
            return Err(Error::BadSpec {
                path: path.into(),
                what: format!("[arm.\"{k}\"] is not one of the arms {:?}", spec.arms),
            });
        }
        for a in &spec.arms {
            spec.settings(a).map_err(|e| Error::BadSpec {
                path: path.into(),
                what: e.to_string(),
            })?;
        }
        Ok(spec)
    }

    pub fn read(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Spec::parse(&text, path)
    }

    /// The neural settings of an arm: the model family's defaults, then `[gpt]`, then the
    /// arm's `[arm."<policy>"]` table (nested tables such as `adamw` merge key by key).
    /// `None` when the spec has neither table (the chain then takes the family's defaults).
    fn settings(&self, arm: &str) -> Result<Option<GptSettings>> {
        let overlays: Vec<&toml::Table> = self.gpt.iter().chain(self.arm.get(arm)).collect();
        if overlays.is_empty() {
            return Ok(None);
        }
        let model = self.model_spec()?;
        let defaults = model.default_settings().ok_or_else(|| {
            Error::invalid(
                format!("[gpt] and [arm] tables do not apply to {model}"),
                "drop them, or set `model` to a neural model (gpt:tiny, hf:<owner>/<name>)",
            )
        })?;
        let mut merged = toml::Table::try_from(defaults).map_err(|e| {
            Error::invalid(format!("settings: {e}"), "this is a bug; please report it")
        })?;
        for t in overlays {
            merge(&mut merged, t);
        }
        let settings: GptSettings = merged.try_into().map_err(|e: toml::de::Error| {
            Error::invalid(
                format!("[gpt] or [arm.\"{arm}\"]: {}", e.message()),
                "use the keys of GptSettings (src/lm/settings.rs)",
            )
        })?;
        Ok(Some(settings))
    }

    /// The spec's model, parsed.
    pub fn model_spec(&self) -> Result<ModelSpec> {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL).parse()
    }

    /// One chain per arm, named `<name>-<policy slug>`.
    pub fn arms(&self) -> Result<Vec<ChainSettings>> {
        let name = self.name.clone().unwrap_or_else(|| "experiment".into());
        let protocol = parse_protocol(self.protocol.as_deref().unwrap_or("unconditional"))?;
        self.arms
            .iter()
            .map(|a| {
                let policy: Policy = a.parse()?;
                Ok(ChainSettings {
                    experiment: format!("{name}-{}", policy.slug()),
                    corpus: self.corpus.clone().unwrap_or_else(|| DEFAULT_CORPUS.into()),
                    model: ChainModel::new(
                        self.model_spec()?,
                        self.min_count.unwrap_or(DEFAULT_MIN_COUNT),
                        self.settings(a)?,
                    )?,
                    generations: self.generations.unwrap_or(DEFAULT_GENERATIONS),
                    policy,
                    seed: self.seed.unwrap_or(DEFAULT_SEED),
                    valid_frac: self.valid_frac.unwrap_or(DEFAULT_VALID_FRAC),
                    test_frac: self.test_frac.unwrap_or(DEFAULT_TEST_FRAC),
                    sample_tokens: self.sample_tokens,
                    train_tokens: self.train_tokens,
                    human_tokens: self.human_tokens,
                    temperature: self.temperature.unwrap_or(DEFAULT_TEMPERATURE),
                    protocol: protocol.clone(),
                    max_line_words: self.max_line_words.unwrap_or(DEFAULT_MAX_LINE_WORDS),
                })
            })
            .collect()
    }
}

/// Lays `over` onto `base`: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quickstart_is_the_documented_default() {
        let spec = Spec::parse(QUICKSTART, Path::new("experiments/quickstart.toml")).unwrap();
        let arms = spec.arms().unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.experiment.as_str()).collect();
        assert_eq!(
            names,
            [
                "quickstart-replace",
                "quickstart-accumulate",
                "quickstart-mix0.1"
            ]
        );
        assert!(arms.iter().all(|a| a.corpus == "embedded:kjv"
            && a.model.spec().to_string() == "ngram:3"
            && a.generations == 10));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let p = Path::new("x.toml");
        let e = Spec::parse("arms = [\"replace\"]\ngenerashuns = 3\n", p).unwrap_err();
        assert!(
            matches!(e, Error::BadSpec { .. }) && e.to_string().contains("generashuns"),
            "{e}"
        );
        assert!(matches!(
            Spec::parse("arms = []", p),
            Err(Error::BadSpec { .. })
        ));
        let bad_policy = Spec::parse("arms = [\"recycle\"]", p).unwrap();
        assert!(matches!(
            bad_policy.arms(),
            Err(Error::UnknownPolicy { .. })
        ));
        assert_eq!(
            parse_protocol("continue:8").unwrap(),
            Protocol::Continue { prompt_words: 8 }
        );
        assert!(parse_protocol("beam").is_err());
    }

    #[test]
    fn the_shumailov_preset_is_the_papers_protocol() {
        let text = include_str!("../experiments/shumailov2024-opt125m.toml");
        let path = Path::new("experiments/shumailov2024-opt125m.toml");
        let arms = Spec::parse(text, path).unwrap().arms().unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.experiment.as_str()).collect();
        assert_eq!(
            names,
            [
                "shumailov2024-opt125m-replace",
                "shumailov2024-opt125m-mix0.1"
            ]
        );
        for (a, epochs) in arms.iter().zip([5.0, 10.0]) {
            a.validate().unwrap();
            let g = a.model.neural().cloned().unwrap();
            assert_eq!(
                (g.context, g.epochs, g.lr, g.batch_size),
                (Some(64), epochs, 2e-5, 128)
            );
            assert_eq!(
                (g.num_beams, a.protocol.clone()),
                (5, Protocol::Continue { prompt_words: 64 })
            );
        }
    }

    #[test]
    fn arm_tables_change_only_their_arm() {
        let p = Path::new("x.toml");
        let text = "model = \"gpt:tiny\"\narms = [\"replace\", \"mix:0.1\"]\n[gpt]\nepochs = 5.0\nlr = 2e-5\n\
                    [arm.\"mix:0.1\"]\nepochs = 10.0\n";
        let arms = Spec::parse(text, p).unwrap().arms().unwrap();
        let gpt = |i: usize| arms[i].model.neural().cloned().unwrap();
        assert_eq!((gpt(0).epochs, gpt(1).epochs), (5.0, 10.0));
        assert_eq!((gpt(0).lr, gpt(1).lr), (2e-5, 2e-5));
        let deep = "model = \"gpt:tiny\"\narms = [\"replace\"]\n[arm.replace]\nadamw = { weight_decay = 0.0 }\n";
        let a = Spec::parse(deep, p).unwrap().arms().unwrap();
        let g = a[0].model.neural().cloned().unwrap();
        assert_eq!((g.adamw.weight_decay, g.adamw.beta2), (0.0, 0.95));
        let typo = "model = \"gpt:tiny\"\narms = [\"replace\"]\n[arm.replace]\nepoks = 1.0\n";
        let e = Spec::parse(typo, p).unwrap_err().to_string();
        assert!(e.contains("epoks"), "{e}");
        let other = "arms = [\"replace\"]\n[arm.accumulate]\nepochs = 1.0\n";
        assert!(Spec::parse(other, p).is_err());
        // An n-gram model has no neural settings to change.
        let ngram = "arms = [\"replace\"]\n[gpt]\nepochs = 1.0\n";
        let e = Spec::parse(ngram, p).unwrap_err().to_string();
        assert!(e.contains("do not apply to ngram:3"), "{e}");
    }
}
