//! A saved checkpoint folder of any family, opened on its own to score text.
//!
//! Why: `eval --model` scores a corpus with any model a chain saved (or a Hugging Face GPT-2
//! folder), and reports score generated text with generation 0's model, without the chain's
//! settings at hand. The folder's files say which family it is.

use super::gpt::{GptFamily, GptModel, CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use super::hub::HubModel;
use super::ngram::{NgramFamily, ARPA_FILE, META_FILE};
use super::Family;
use super::{GptNeoxFamily, LlamaFamily, OptFamily};
use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::lm::settings::GptSettings;
use crate::metrics::Scores;
use crate::models::gpt_neox::config::Config as NeoxConfig;
use crate::models::llama::config::Config as LlamaConfig;
use crate::models::opt::config::OptConfig;
use crate::ngram::NgramModel;
use crate::nn::precision::Precision;
use std::path::Path;

/// A loaded model of either family.
pub enum Checkpoint {
    Ngram(Box<NgramModel>),
    Gpt(Box<GptModel>, GptFamily),
    Opt(Box<HubModel<OptConfig>>, OptFamily),
    Llama(Box<HubModel<LlamaConfig>>, LlamaFamily),
    GptNeox(Box<HubModel<NeoxConfig>>, GptNeoxFamily),
}

impl Checkpoint {
    /// Opens `dir`: an n-gram checkpoint (`model.arpa.gz` + `model.json`) or a GPT one
    /// (`config.json` + `model.safetensors` + `tokenizer.json`), on the CPU, scoring in fp32.
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        Checkpoint::open_in(dir, Precision::Fp32)
    }

    /// [`Checkpoint::open`], the neural models scoring in `precision` (`eval --precision`).
    pub fn open_in(dir: &Path, precision: Precision) -> Result<Checkpoint> {
        if !dir.exists() {
            return Err(Error::MissingPath { path: dir.into() });
        }
        let has = |files: &[&str]| files.iter().all(|f| dir.join(f).is_file());
        if has(&[ARPA_FILE, META_FILE]) {
            let family = NgramFamily {
                order: 0, // read from the ARPA file
                min_count: 1,
                vocab: super::ngram::VocabMode::Fixed, // used only to train
            };
            return Ok(Checkpoint::Ngram(Box::new(family.load(dir)?)));
        }
        if has(&[CONFIG_FILE, WEIGHTS_FILE]) && model_type(&dir.join(CONFIG_FILE)) == "opt" {
            let family = OptFamily::for_checkpoints(precision);
            let model = family.load(dir)?;
            return Ok(Checkpoint::Opt(Box::new(model), family));
        }
        if has(&[CONFIG_FILE, WEIGHTS_FILE]) && model_type(&dir.join(CONFIG_FILE)) == "llama" {
            let family = LlamaFamily::for_checkpoints(precision);
            let model = family.load(dir)?;
            return Ok(Checkpoint::Llama(Box::new(model), family));
        }
        if has(&[CONFIG_FILE, WEIGHTS_FILE]) && model_type(&dir.join(CONFIG_FILE)) == "gpt_neox" {
            let family = GptNeoxFamily::for_checkpoints(precision);
            let model = family.load(dir)?;
            return Ok(Checkpoint::GptNeox(Box::new(model), family));
        }
        if has(&[CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE]) {
            let settings = GptSettings {
                precision,
                ..GptSettings::default()
            };
            let family = GptFamily::new("checkpoint", settings)?;
            let model = family.load(dir)?;
            return Ok(Checkpoint::Gpt(Box::new(model), family));
        }
        Err(Error::invalid(
            format!(
                "{} is not a saved model (no {ARPA_FILE} + {META_FILE}, nor {CONFIG_FILE} + \
                 {WEIGHTS_FILE} + {TOKENIZER_FILE})",
                dir.display()
            ),
            "pass a checkpoint folder such as checkpoints/<experiment>/gen-00",
        ))
    }

    /// The model's scores of every document of `corpus`.
    pub fn score(&self, corpus: &Corpus) -> Result<Scores> {
        match self {
            Checkpoint::Ngram(m) => Ok(crate::ngram::query::score_corpus(m, corpus)),
            Checkpoint::Gpt(m, family) => family.score(m, corpus),
            Checkpoint::Opt(m, family) => family.score(m, corpus),
            Checkpoint::Llama(m, family) => family.score(m, corpus),
            Checkpoint::GptNeox(m, family) => family.score(m, corpus),
        }
    }

    /// Whether it is an n-gram model (no matrix products, so no precision to speak of).
    pub fn is_ngram(&self) -> bool {
        matches!(self, Checkpoint::Ngram(_))
    }

    /// `ngram:N` or `gpt (L layers × W)`, for tables.
    pub fn describe(&self) -> String {
        match self {
            Checkpoint::Ngram(m) => format!("ngram:{}", m.order()),
            Checkpoint::Gpt(m, _) => format!("gpt ({} layers × {})", m.cfg.n_layer, m.cfg.n_embd),
            Checkpoint::Opt(m, _) => format!(
                "opt ({} layers × {})",
                m.cfg.num_hidden_layers, m.cfg.hidden_size
            ),
            Checkpoint::Llama(m, _) => format!(
                "llama ({} layers × {})",
                m.cfg.num_hidden_layers, m.cfg.hidden_size
            ),
            Checkpoint::GptNeox(m, _) => format!(
                "gpt_neox ({} layers × {})",
                m.cfg.num_hidden_layers, m.cfg.hidden_size
            ),
        }
    }
}

/// The `model_type` a `config.json` names (empty when it cannot be read).
fn model_type(config: &Path) -> String {
    std::fs::read_to_string(config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["model_type"].as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Document;

    #[test]
    fn opens_an_ngram_checkpoint_and_refuses_other_folders() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = Corpus::new(vec![Document::new("a", "the cat sat\nthe dog sat")]);
        let family = NgramFamily {
            order: 2,
            min_count: 1,
            vocab: crate::family::ngram::VocabMode::Own,
        };
        let ctx = crate::family::TrainCtx {
            dir: dir.path(),
            generation: 0,
            seed: 1,
            previous: None,
            label: "t".into(),
        };
        let model = family.train(&corpus, None, &ctx).unwrap();
        family.save(&model, dir.path()).unwrap();
        let ck = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(ck.describe(), "ngram:2");
        let scores = ck.score(&corpus).unwrap();
        assert_eq!(scores.docs.len(), 1);
        assert_eq!(scores.docs[0].tokens, 8); // 6 words + 2 </s>

        let empty = tempfile::tempdir().unwrap();
        let e = Checkpoint::open(empty.path()).err().unwrap();
        assert!(e.to_string().contains("not a saved model"), "{e}");
        let missing = Checkpoint::open(&empty.path().join("nope")).err().unwrap();
        assert!(matches!(missing, Error::MissingPath { .. }));
    }
}
