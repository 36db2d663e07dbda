//! The one seam between the chain and the model families.
//!
//! The chain knows nothing about n-grams or transformers: it composes a training corpus, asks
//! a family to train, save, sample and score, and evaluates what comes back. Eval works on
//! [`Scores`] and corpora only, so every metric serves every family.

pub mod checkpoint;
pub mod gpt;
pub mod hub;
pub mod ngram;

pub use gpt::{GptFamily, LlamaScratchFamily};
pub use ngram::NgramFamily;
/// The Hub architectures `hf:` fine-tunes, one line each.
pub type OptFamily = hub::HubFamily<crate::models::opt::config::OptConfig>;
pub type Gpt2HubFamily = hub::HubFamily<crate::models::gpt2::config::Config>;
pub type LlamaFamily = hub::HubFamily<crate::models::llama::config::Config>;
pub type GptNeoxFamily = hub::HubFamily<crate::models::gpt_neox::config::Config>;
/// The `model_type`s of `config.json` that `hf:` serves, in [`hub_model_type`]'s message.
pub const HUB_MODEL_TYPES: &[&str] = &["opt", "gpt2", "llama", "gpt_neox"];

/// The `model_type` of a Hub model's `config.json` (the repository is fetched into the Hub
/// cache, or read from it offline), refused in one line when `hf:` does not serve it.
pub fn hub_model_type(repo: &str) -> Result<String> {
    let repo: crate::hub::HubRepo = repo.parse()?;
    let config = crate::hub::fetch_model_config(&crate::hub::HubConfig::from_env(), &repo)?;
    let config: serde_json::Value = crate::fsutil::read_json(&config)?;
    let model_type = config["model_type"].as_str().unwrap_or("").to_string();
    if HUB_MODEL_TYPES.contains(&model_type.as_str()) {
        return Ok(model_type);
    }
    Err(Error::invalid(
        format!(
            "hf:{repo} is a `{}` model; hf: fine-tunes {} models",
            if model_type.is_empty() {
                "(no model_type)"
            } else {
                &model_type
            },
            HUB_MODEL_TYPES.join(", ")
        ),
        "use e.g. hf:facebook/opt-125m, hf:openai-community/gpt2, hf:HuggingFaceTB/SmolLM2-135M \
         or hf:EleutherAI/pythia-70m",
    ))
}

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::lm::settings::GptSettings;
use crate::metrics::Scores;
use crate::sampling::SamplePlan;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The architectures trained from scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScratchKind {
    Gpt,
    Llama,
}

impl ScratchKind {
    pub fn prefix(self) -> &'static str {
        match self {
            ScratchKind::Gpt => "gpt",
            ScratchKind::Llama => "llama",
        }
    }

    /// Preset names, smallest first.
    pub fn presets(self) -> Vec<&'static str> {
        use crate::lm::ScratchArch;
        let named = match self {
            ScratchKind::Gpt => crate::models::gpt2::config::Config::presets(),
            ScratchKind::Llama => crate::models::llama::config::Config::presets(),
        };
        named.into_iter().map(|(n, _)| n).collect()
    }

    /// The context length a chain of this preset with these settings will have.
    pub fn context(self, preset: &str, s: &GptSettings) -> Result<usize> {
        match self {
            ScratchKind::Gpt => GptFamily::context(preset, s),
            ScratchKind::Llama => gpt::LlamaScratchFamily::context(preset, s),
        }
    }
}

/// Which model family and size, as written on the command line (`ngram:3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    Ngram {
        order: usize,
    },
    /// `gpt:<preset>` (nano, tiny, small, gpt2) or `gpt:<path to a config.json>`, and
    /// `llama:<preset>` (nano, tiny, 15m, 42m) or `llama:<config.json>`: trained from scratch.
    Scratch {
        arch: ScratchKind,
        preset: String,
    },
    /// `hf:<owner>/<name>[@revision]`: a Hub model, fine-tuned each generation.
    Hf {
        repo: String,
    },
}

impl FromStr for ModelSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || Error::UnknownModel {
            name: s.to_string(),
        };
        let (family, arg) = s.split_once(':').ok_or_else(unknown)?;
        match family {
            "ngram" => {
                let order: usize = arg.parse().map_err(|_| unknown())?;
                if order == 0 || order > crate::ngram::MAX_ORDER {
                    return Err(Error::invalid(
                        format!("n-gram order {order} is not supported"),
                        format!("use ngram:1 to ngram:{}", crate::ngram::MAX_ORDER),
                    ));
                }
                Ok(ModelSpec::Ngram { order })
            }
            "gpt" | "llama" => {
                let arch = match family {
                    "gpt" => ScratchKind::Gpt,
                    _ => ScratchKind::Llama,
                };
                let names = arch.presets();
                if !names.contains(&arg) && !arg.ends_with(".json") {
                    let (f, what) = (arch.prefix(), if family == "gpt" { "GPT" } else { "Llama" });
                    return Err(Error::invalid(
                        format!("unknown {what} preset `{arg}`"),
                        format!(
                            "use {f}:{} or {f}:<config.json>",
                            names.join(&format!(", {f}:"))
                        ),
                    ));
                }
                Ok(ModelSpec::Scratch {
                    arch,
                    preset: arg.into(),
                })
            }
            "hf" => {
                let repo: crate::hub::HubRepo = arg.parse()?;
                Ok(ModelSpec::Hf {
                    repo: repo.to_string(),
                })
            }
            _ => Err(unknown()),
        }
    }
}

impl ModelSpec {
    /// The neural settings a family starts from: `hf:` models are fine-tuned
    /// ([`GptSettings::fine_tune`]), `gpt:` models trained from scratch
    /// ([`GptSettings::default`]); n-grams have none.
    pub fn default_settings(&self) -> Option<GptSettings> {
        match self {
            ModelSpec::Ngram { .. } => None,
            ModelSpec::Scratch { .. } => Some(GptSettings::default()),
            ModelSpec::Hf { .. } => Some(GptSettings::fine_tune()),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Ngram { order } => write!(f, "ngram:{order}"),
            ModelSpec::Scratch { arch, preset } => write!(f, "{}:{preset}", arch.prefix()),
            ModelSpec::Hf { repo } => write!(f, "hf:{repo}"),
        }
    }
}

/// Where one generation's training happens.
pub struct TrainCtx<'a> {
    /// The generation's checkpoint folder; families keep resumable state there.
    pub dir: &'a Path,
    pub generation: u32,
    /// The chain's seed; families derive their own streams from (seed, generation).
    pub seed: u64,
    /// The previous generation's saved checkpoint (generation g > 0), for families that
    /// fine-tune from it.
    pub previous: Option<&'a Path>,
    /// For progress bars: `<experiment> gen <g>`.
    pub label: String,
}

/// What the chain needs from a model family.
pub trait Family {
    type Model;
    /// Checks what would otherwise fail late (a config file, shapes, the memory training
    /// needs, a Hub model missing offline), before the chain writes anything.
    fn preflight(&self) -> Result<()> {
        Ok(())
    }
    /// Trains generation `g`'s model. `first` is generation 0's model (`None` while training
    /// it): families that fix their vocabulary or tokenizer at generation 0 take it from there.
    fn train(
        &self,
        corpus: &Corpus,
        first: Option<&Self::Model>,
        ctx: &TrainCtx,
    ) -> Result<Self::Model>;
    fn sample(&self, model: &Self::Model, plan: &SamplePlan) -> Result<Corpus>;
    fn score(&self, model: &Self::Model, text: &Corpus) -> Result<Scores>;
    /// Writes the model to `dir`; the file [`Family::is_saved`] looks for is written last.
    fn save(&self, model: &Self::Model, dir: &Path) -> Result<()>;
    fn load(&self, dir: &Path) -> Result<Self::Model>;
    /// Whether `dir` holds a complete saved model (a resumed chain loads it, not retrains).
    fn is_saved(&self, dir: &Path) -> bool;
    /// Family-specific sampling settings for the generated corpus's manifest (e.g. beams).
    fn sampling_extras(&self) -> Option<serde_json::Value> {
        None
    }
    /// The test perplexity of Shumailov et al.'s protocol (exp of the mean batch loss over
    /// disjoint fixed-size blocks), for families that define one.
    fn block_perplexity(&self, model: &Self::Model, text: &Corpus) -> Result<Option<f64>> {
        let _ = (model, text);
        Ok(None)
    }
    /// How many word types the model can write, for families with a word vocabulary
    /// (n-grams); `None` for subword models, which can write any word.
    fn word_types(&self, model: &Self::Model) -> Option<usize> {
        let _ = model;
        None
    }
    /// Whether the model can write `word` (a whitespace word): always, for subword models.
    fn names_word(&self, model: &Self::Model, word: &str) -> bool {
        let _ = (model, word);
        true
    }
    /// A note for the eval record (e.g. discount fallbacks), if any.
    fn notes(&self, model: &Self::Model) -> Vec<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs_parse_and_print() {
        assert_eq!(
            "ngram:3".parse::<ModelSpec>().unwrap(),
            ModelSpec::Ngram { order: 3 }
        );
        assert_eq!(ModelSpec::Ngram { order: 5 }.to_string(), "ngram:5");
        assert_eq!(
            "gpt:tiny".parse::<ModelSpec>().unwrap().to_string(),
            "gpt:tiny"
        );
        assert!("gpt:huge".parse::<ModelSpec>().is_err());
        assert_eq!(
            "hf:facebook/opt-125m"
                .parse::<ModelSpec>()
                .unwrap()
                .to_string(),
            "hf:facebook/opt-125m@main"
        );
        assert!("hf:opt-125m".parse::<ModelSpec>().is_err());
        assert!(matches!(
            "gpt2:9".parse::<ModelSpec>(),
            Err(Error::UnknownModel { .. })
        ));
        assert!(matches!(
            "ngram".parse::<ModelSpec>(),
            Err(Error::UnknownModel { .. })
        ));
        assert!(matches!(
            "ngram:0".parse::<ModelSpec>(),
            Err(Error::Invalid { .. })
        ));
    }
}
