//! Experiment specs (TOML) and every default of a chain, in one place with its reason.
//!
//! A spec names a corpus, a model, the arms to compare and the seeds to run each with; every
//! (arm, seed) runs as its own chain, named `<spec>-<arm>` (one seed) or `<spec>-<arm>-s<seed>`.
//! An arm is a policy (`arms = ["replace", "mix:0.1"]`) or a name with a policy and overrides
//! (`[arms.greedy]`, see [`arms`]). Unknown keys are rejected: a typo must not silently run the
//! default.

mod arms;

pub use arms::ArmsSpec;

use crate::chain::{ChainModel, ChainSettings};
use crate::error::{Error, Result};
use crate::family::ngram::VocabMode;
use crate::family::ModelSpec;
use crate::layout::Layout;
use crate::lm::settings::GptSettings;
use crate::sampling::Protocol;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in default experiment, compiled in so `collapse-lab run` works anywhere.
pub const QUICKSTART: &str = include_str!("../../experiments/quickstart.toml");

/// Every spec shipped in `experiments/`, compiled in: `run <name>` (or its path in a checkout)
/// works wherever the binary is.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("quickstart", QUICKSTART),
    (
        "gpt-small-cpu",
        include_str!("../../experiments/gpt-small-cpu.toml"),
    ),
    (
        "decoding-arms",
        include_str!("../../experiments/decoding-arms.toml"),
    ),
    (
        "fresh-vs-mix",
        include_str!("../../experiments/fresh-vs-mix.toml"),
    ),
    (
        "shumailov2024-opt125m",
        include_str!("../../experiments/shumailov2024-opt125m.toml"),
    ),
];

/// The spec at `path`, or the built-in one it names (`decoding-arms`,
/// `experiments/decoding-arms.toml`) when there is no such file.
pub fn load(path: &Path) -> Result<Spec> {
    if path.exists() {
        return Spec::read(path);
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    match BUILT_IN
        .iter()
        .find(|(name, _)| Some(*name) == stem.as_deref())
    {
        Some((name, text)) => Spec::parse(text, Path::new(&format!("{name}.toml"))),
        None => Err(Error::invalid(
            format!("{}: no such spec file, nor a built-in spec", path.display()),
            format!(
                "give a spec file's path, or a built-in spec: {}",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

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
/// lmplz's vocabulary: each n-gram generation knows the words of its own training text, so a
/// word no generation wrote is gone for good (the tail loss the collapse papers describe).
pub const DEFAULT_VOCAB: VocabMode = VocabMode::Own;
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
    /// The seed of a one-seed spec (default 42); `seeds` runs several.
    pub seed: Option<u64>,
    /// Every arm runs once per seed, each its own chain, all on one human split.
    pub seeds: Option<Vec<u64>>,
    /// The seed of the human split of a multi-seed spec (default 42): the split is the data,
    /// not a chain's luck, so it does not depend on which seeds are listed or in what order.
    pub split_seed: Option<u64>,
    /// The arms to compare: policies, or named tables of a policy and overrides.
    pub arms: ArmsSpec,
    pub valid_frac: Option<f64>,
    pub test_frac: Option<f64>,
    pub min_count: Option<u32>,
    /// n-grams: `own` (each generation's own words) or `fixed` (generation 0's throughout).
    pub vocab: Option<String>,
    pub sample_tokens: Option<usize>,
    pub train_tokens: Option<usize>,
    pub human_tokens: Option<usize>,
    pub temperature: Option<f64>,
    pub protocol: Option<String>,
    pub max_line_words: Option<usize>,
    /// Settings of `gpt:` and `hf:` models (a `[gpt]` table; see `GptSettings` for keys and
    /// defaults), laid over the model family's defaults ([`ModelSpec::default_settings`]).
    pub gpt: Option<toml::Table>,
    /// Per-arm changes to `[gpt]` for `arms = [...]`, keyed by the arm's policy:
    /// `[arm."mix:0.1"]` with `epochs = 10.0` (Shumailov et al. train their 10%-real arm
    /// longer). Named arms carry their overrides in their own table instead.
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
        let bad = |what: String| Error::BadSpec {
            path: path.into(),
            what,
        };
        if let Some(name) = &spec.name {
            // Each arm's chain is `<name>-<arm>`: an empty or odd name fails here, not later.
            Layout::check_name(name).map_err(|_| {
                bad(format!(
                    "`name = \"{name}\"` is not a plain file name (letters, digits, '.', '_', \
                     '-'; not starting with '.' or '-')"
                ))
            })?;
        }
        // Every arm resolves now, so a bad key fails before anything runs; an unknown policy
        // is left to `arms()`, whose error names the policies there are.
        match spec.arms() {
            Ok(_) | Err(Error::UnknownPolicy { .. }) => Ok(spec),
            Err(e) => Err(bad(e.to_string())),
        }
    }

    /// Reads a spec file. A relative corpus path is read from the spec's folder when it is
    /// there and not in the current folder (a spec names its data where it lives).
    pub fn read(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec = Spec::parse(&text, path)?;
        if let (Some(corpus), Some(dir)) = (&spec.corpus, path.parent()) {
            let rel = Path::new(corpus);
            let local = dir.join(rel);
            if !corpus.contains(':') && rel.is_relative() && !rel.exists() && local.exists() {
                spec.corpus = Some(local.to_string_lossy().into_owned());
            }
        }
        Ok(spec)
    }

    /// The neural settings of an arm: the model family's defaults, then `[gpt]`, then the
    /// arm's own overrides (nested tables such as `adamw` merge key by key). `None` when
    /// there is nothing to lay over the defaults (the chain then takes the family's).
    fn settings(&self, arm: &str, own: Option<&toml::Table>) -> Result<Option<GptSettings>> {
        let overlays: Vec<&toml::Table> = self.gpt.iter().chain(own).collect();
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
                format!("[gpt] or arm `{arm}`: {}", e.message()),
                "use the keys of GptSettings (src/lm/settings.rs)",
            )
        })?;
        Ok(Some(settings))
    }

    /// The seeds every arm runs with: `seeds`, or the one `seed` (default 42).
    pub fn seed_list(&self) -> Result<Vec<u64>> {
        let hint = "write `seeds = [1, 2, 3]` (or `--seeds 1,2,3`), each seed once";
        match (&self.seeds, self.seed) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "the spec gives both `seed` and `seeds`",
                "keep `seeds` (every arm runs once per seed) or `seed` (one run)",
            )),
            (Some(v), None) if v.is_empty() => Err(Error::invalid("`seeds` is empty", hint)),
            (Some(v), None) => {
                let mut sorted = v.clone();
                sorted.sort_unstable();
                match sorted.windows(2).find(|w| w[0] == w[1]) {
                    Some(w) => Err(Error::invalid(
                        format!("seed {} is listed twice", w[0]),
                        hint,
                    )),
                    None => Ok(v.clone()),
                }
            }
            (None, s) => Ok(vec![s.unwrap_or(DEFAULT_SEED)]),
        }
    }

    /// The spec's model, parsed.
    pub fn model_spec(&self) -> Result<ModelSpec> {
        self.model.as_deref().unwrap_or(DEFAULT_MODEL).parse()
    }

    /// One chain per arm and seed, arms in the spec's order, each arm's seeds in the listed
    /// order: `<name>-<arm>` with one seed, `<name>-<arm>-s<seed>` with several.
    pub fn arms(&self) -> Result<Vec<ChainSettings>> {
        let name = self.name.clone().unwrap_or_else(|| "experiment".into());
        let seeds = self.seed_list()?;
        let mut chains = Vec::new();
        for arm in self.arm_defs()? {
            let o = &arm.overrides;
            let protocol = o.protocol.as_deref().or(self.protocol.as_deref());
            let protocol = parse_protocol(protocol.unwrap_or("unconditional"))?;
            let vocab = o.vocab.as_deref().or(self.vocab.as_deref());
            let model = ChainModel::new(
                self.model_spec()?,
                o.min_count.or(self.min_count),
                vocab.map(str::parse).transpose()?,
                self.settings(&arm.name, arm.neural.as_ref())?,
            )?;
            for &seed in &seeds {
                let experiment = if seeds.len() > 1 {
                    format!("{name}-{}-s{seed}", arm.name)
                } else {
                    format!("{name}-{}", arm.name)
                };
                chains.push(ChainSettings {
                    experiment,
                    corpus: self.corpus.clone().unwrap_or_else(|| DEFAULT_CORPUS.into()),
                    model: model.clone(),
                    generations: self.generations.unwrap_or(DEFAULT_GENERATIONS),
                    policy: arm.policy,
                    seed,
                    split_seed: if seeds.len() > 1 {
                        Some(self.split_seed.unwrap_or(DEFAULT_SEED))
                    } else {
                        self.split_seed
                    },
                    valid_frac: self.valid_frac.unwrap_or(DEFAULT_VALID_FRAC),
                    test_frac: self.test_frac.unwrap_or(DEFAULT_TEST_FRAC),
                    sample_tokens: o.sample_tokens.or(self.sample_tokens),
                    train_tokens: o.train_tokens.or(self.train_tokens),
                    human_tokens: o.human_tokens.or(self.human_tokens),
                    temperature: o
                        .temperature
                        .or(self.temperature)
                        .unwrap_or(DEFAULT_TEMPERATURE),
                    protocol: protocol.clone(),
                    max_line_words: o
                        .max_line_words
                        .or(self.max_line_words)
                        .unwrap_or(DEFAULT_MAX_LINE_WORDS),
                });
            }
        }
        Ok(chains)
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
                "quickstart-replace-s1",
                "quickstart-replace-s2",
                "quickstart-replace-s3",
                "quickstart-accumulate-s1",
                "quickstart-accumulate-s2",
                "quickstart-accumulate-s3",
                "quickstart-mix0.1-s1",
                "quickstart-mix0.1-s2",
                "quickstart-mix0.1-s3"
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
        let text = include_str!("../../experiments/shumailov2024-opt125m.toml");
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
