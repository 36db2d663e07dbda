//! The one seam between the chain and the model families.
//!
//! The chain knows nothing about n-grams or transformers: it composes a training corpus, asks
//! a family to train, save, sample and score, and evaluates what comes back. Eval works on
//! [`Scores`] and corpora only, so every metric serves every family.

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::eval::Scores;
use crate::ngram::sample::{SampleSettings, Sampler};
use crate::ngram::vocab::VocabPolicy;
use crate::ngram::{self, arpa, BuildOptions, NgramModel};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Which model family and size, as written on the command line (`ngram:3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    Ngram { order: usize },
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
                if order == 0 || order > ngram::MAX_ORDER {
                    return Err(Error::invalid(
                        format!("n-gram order {order} is not supported"),
                        format!("use ngram:1 to ngram:{}", ngram::MAX_ORDER),
                    ));
                }
                Ok(ModelSpec::Ngram { order })
            }
            _ => Err(unknown()),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Ngram { order } => write!(f, "ngram:{order}"),
        }
    }
}

/// What a generated corpus should look like: one document per template document, with
/// about `doc_words[i]` words each (unconditional) or continuing its lines (continue).
pub struct SamplePlan<'a> {
    pub template: std::borrow::Cow<'a, Corpus>,
    pub doc_words: Vec<usize>,
    pub settings: SampleSettings,
}

/// What the chain needs from a model family.
pub trait Family {
    type Model;
    /// Trains generation `g`'s model. `first` is generation 0's model (`None` while training
    /// it): families that fix their vocabulary or tokenizer at generation 0 take it from there.
    fn train(&self, corpus: &Corpus, first: Option<&Self::Model>) -> Result<Self::Model>;
    fn sample(&self, model: &Self::Model, plan: &SamplePlan) -> Result<Corpus>;
    fn score(&self, model: &Self::Model, text: &Corpus) -> Scores;
    fn save(&self, model: &Self::Model, dir: &Path) -> Result<()>;
    fn load(&self, dir: &Path) -> Result<Self::Model>;
    /// A note for the eval record (e.g. discount fallbacks), if any.
    fn notes(&self, model: &Self::Model) -> Vec<String>;
}

/// Interpolated modified Kneser-Ney n-grams.
pub struct NgramFamily {
    pub order: usize,
    /// Generation 0's vocabulary keeps words seen at least this often.
    pub min_count: u32,
}

/// File names inside an n-gram checkpoint directory.
pub const ARPA_FILE: &str = "model.arpa.gz";
pub const META_FILE: &str = "model.json";

impl Family for NgramFamily {
    type Model = NgramModel;

    fn train(&self, corpus: &Corpus, first: Option<&NgramModel>) -> Result<NgramModel> {
        let vocab = match first {
            None => VocabPolicy::FromText {
                min_count: self.min_count,
            },
            Some(m) => VocabPolicy::Fixed(m.vocab.clone()),
        };
        let lines: Vec<&str> = corpus.lines().collect();
        ngram::build_lines(
            lines.iter().copied(),
            &BuildOptions {
                order: self.order,
                vocab,
            },
        )
    }

    fn sample(&self, model: &NgramModel, plan: &SamplePlan) -> Result<Corpus> {
        Ok(Sampler::new(model).sample(&plan.template, &plan.doc_words, &plan.settings))
    }

    fn score(&self, model: &NgramModel, text: &Corpus) -> Scores {
        ngram::query::score_corpus(model, text)
    }

    fn save(&self, model: &NgramModel, dir: &Path) -> Result<()> {
        arpa::write_arpa(model, &dir.join(ARPA_FILE))?;
        crate::fsutil::write_json(dir.join(META_FILE), &model.meta)
    }

    fn load(&self, dir: &Path) -> Result<NgramModel> {
        let mut m = arpa::read_arpa(&dir.join(ARPA_FILE))?;
        m.meta = crate::fsutil::read_json(dir.join(META_FILE))?;
        Ok(m)
    }

    fn notes(&self, model: &NgramModel) -> Vec<String> {
        model
            .meta
            .discounts
            .iter()
            .filter_map(|d| d.fallback.as_ref())
            .map(|why| format!("discount fallback D=0.5/1/1.5: {why}"))
            .collect()
    }
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
