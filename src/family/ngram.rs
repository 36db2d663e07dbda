//! The n-gram family: interpolated modified Kneser-Ney (`ngram:<order>`), saved as ARPA.
//!
//! Its vocabulary ([`VocabMode`]): `own`, each generation knows exactly the words of its own
//! training text, as lmplz builds a model (a word no generation wrote is gone for good: the
//! finite-sample tail loss of Shumailov et al.'s discrete analysis); or `fixed`, every
//! generation keeps generation 0's vocabulary with a floor, as a neural model keeps its
//! tokenizer (every human word stays writable).

use super::{Family, TrainCtx};
use crate::corpus::Corpus;
use crate::error::Result;
use crate::metrics::Scores;
use crate::ngram::sample::Sampler;
use crate::ngram::vocab::VocabPolicy;
use crate::ngram::{self, arpa, BuildOptions, NgramModel};
use crate::sampling::SamplePlan;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Which words a generation's n-gram model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VocabMode {
    /// The words of the generation's own training text (lmplz's vocabulary).
    Own,
    /// Generation 0's vocabulary, every word kept with a floor probability.
    Fixed,
}

impl FromStr for VocabMode {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "own" => Ok(VocabMode::Own),
            "fixed" => Ok(VocabMode::Fixed),
            _ => Err(crate::error::Error::invalid(
                format!("unknown vocabulary mode `{s}`"),
                "use --vocab own (each generation knows its own words) or --vocab fixed \
                 (generation 0's vocabulary throughout)",
            )),
        }
    }
}

impl fmt::Display for VocabMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VocabMode::Own => "own",
            VocabMode::Fixed => "fixed",
        })
    }
}

/// Interpolated modified Kneser-Ney n-grams.
pub struct NgramFamily {
    pub order: usize,
    /// A vocabulary built from text keeps words seen at least this often.
    pub min_count: u32,
    pub vocab: VocabMode,
}

/// File names inside an n-gram checkpoint directory.
pub const ARPA_FILE: &str = "model.arpa.gz";
pub const META_FILE: &str = "model.json";

impl Family for NgramFamily {
    type Model = NgramModel;

    fn train(
        &self,
        corpus: &Corpus,
        first: Option<&NgramModel>,
        _ctx: &TrainCtx,
    ) -> Result<NgramModel> {
        let vocab = match (self.vocab, first) {
            (VocabMode::Fixed, Some(m)) => VocabPolicy::Fixed(m.vocab.clone()),
            _ => VocabPolicy::FromText {
                min_count: self.min_count,
            },
        };
        let lines: Vec<&str> = corpus.lines().collect();
        let mut model = ngram::build_lines(
            lines.iter().copied(),
            &BuildOptions {
                order: self.order,
                vocab,
            },
        )?;
        model.meta.vocab_mode = Some(self.vocab.to_string());
        Ok(model)
    }

    fn sample(&self, model: &NgramModel, plan: &SamplePlan) -> Result<Corpus> {
        Ok(Sampler::new(model).sample(&plan.template, &plan.doc_words, &plan.settings))
    }

    fn score(&self, model: &NgramModel, text: &Corpus) -> Result<Scores> {
        Ok(ngram::query::score_corpus(model, text))
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

    /// Always rebuilt: it takes seconds, and the in-memory model is what an uninterrupted
    /// run samples from (so a resumed chain stays byte-identical).
    fn is_saved(&self, _dir: &Path) -> bool {
        false
    }

    fn word_types(&self, model: &NgramModel) -> Option<usize> {
        Some(model.vocab.len().saturating_sub(3)) // without <unk>, <s>, </s>
    }

    fn names_word(&self, model: &NgramModel, word: &str) -> bool {
        model.vocab.get(word).is_some()
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
