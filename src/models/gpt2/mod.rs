//! GPT-2 (Radford et al. 2019), trained from scratch (`gpt:<preset>`): its configuration and
//! presets, its model, its parameter names and initialisation.

pub mod config;
pub mod model;
pub mod params;

use crate::lm::Arch;
use candle_core::Result;
use candle_nn::VarBuilder;
use config::Config;
use model::Gpt2;

impl Arch for Config {
    type Model = Gpt2;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        params::shapes(self)
    }
    /// The original GPT-2 checkpoints on the Hub store names without `transformer.`.
    fn aliases(&self, name: &str) -> Vec<String> {
        name.strip_prefix("transformer.")
            .map(|s| vec![s.to_string()])
            .unwrap_or_default()
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model> {
        Gpt2::load(vb, self)
    }
}

/// GPT-2 from the Hub (`hf:openai-community/gpt2`, its sizes, distilgpt2), fine-tuned each
/// generation as OPT is: the same model as `gpt:` chains train from scratch.
impl crate::lm::HubArch for Config {
    const MODEL_TYPE: &'static str = "gpt2";
    /// GPT-2's one special token: the end of a document, and what a document starts after.
    const EOS: &'static str = "<|endoftext|>";
    const SPECIALS: &'static [&'static str] = &["<|endoftext|>"];
    fn check(&self) -> crate::Result<()> {
        Config::check(self)?;
        // Variants transformers' GPT-2 has and ours does not (off in every released GPT-2).
        for key in [
            "scale_attn_by_inverse_layer_idx",
            "reorder_and_upcast_attn",
            "add_cross_attention",
        ] {
            if self.extra.get(key) == Some(&serde_json::Value::Bool(true)) {
                return Err(crate::Error::invalid(
                    format!("this GPT-2 config sets `{key}`, which collapse-lab's GPT-2 does not model"),
                    "use a GPT-2 whose config.json leaves it false (openai-community/gpt2 and its sizes)",
                ));
            }
        }
        Ok(())
    }
    fn max_positions(&self) -> usize {
        self.n_positions
    }
    fn bos_token_id(&self) -> u32 {
        self.bos_token_id
    }
    fn set_dropout(&mut self, p: f64) {
        (self.resid_pdrop, self.embd_pdrop, self.attn_pdrop) = (p, p, p);
    }
    fn shape_note(&self) -> String {
        format!("{} layers × {}", self.n_layer, self.n_embd)
    }
    fn extra_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.extra
    }
}

/// `gpt:<preset>`: GPT-2 trained from scratch (Gerstgrasser et al. 2024's GPT-2 arms).
impl crate::lm::ScratchArch for Config {
    const PREFIX: &'static str = "gpt";
    fn presets() -> Vec<(&'static str, &'static str)> {
        config::PRESETS.iter().map(|p| (p.name, p.why)).collect()
    }
    fn preset(name: &str, vocab_size: usize) -> crate::Result<Self> {
        Config::preset(name, vocab_size)
    }
    fn shaped(
        mut self,
        s: &crate::lm::settings::GptSettings,
        vocab_size: usize,
        eot: u32,
    ) -> crate::Result<Self> {
        self.vocab_size = vocab_size;
        self.n_layer = s.n_layer.unwrap_or(self.n_layer);
        self.n_head = s.n_head.unwrap_or(self.n_head);
        self.n_embd = s.n_embd.unwrap_or(self.n_embd);
        self.n_positions = s.context.unwrap_or(self.n_positions);
        (self.resid_pdrop, self.embd_pdrop, self.attn_pdrop) = (s.dropout, s.dropout, s.dropout);
        (self.bos_token_id, self.eos_token_id) = (eot, eot);
        self.check()?;
        Ok(self)
    }
    fn n_positions(&self) -> usize {
        self.n_positions
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn dims(&self) -> (usize, usize, usize) {
        (self.n_layer, self.n_embd, self.n_head)
    }
    fn init(
        &self,
        seed: u64,
        dev: &candle_core::Device,
    ) -> crate::Result<crate::lm::params::Params> {
        params::init(self, seed, dev)
    }
}

#[cfg(test)]
mod model_tests;
