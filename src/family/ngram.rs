//! The n-gram family: interpolated modified Kneser-Ney (`ngram:<order>`), saved as ARPA.

use super::{Family, TrainCtx};
use crate::corpus::Corpus;
use crate::error::Result;
use crate::metrics::Scores;
use crate::ngram::sample::Sampler;
use crate::ngram::vocab::VocabPolicy;
use crate::ngram::{self, arpa, BuildOptions, NgramModel};
use crate::sampling::SamplePlan;
use std::path::Path;

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

    fn train(
        &self,
        corpus: &Corpus,
        first: Option<&NgramModel>,
        _ctx: &TrainCtx,
    ) -> Result<NgramModel> {
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
