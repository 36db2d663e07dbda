//! Llama (Touvron et al. 2023) and the models built on its `config.json` (SmolLM2, TinyLlama,
//! Llama 2 and 3.2): its configuration, model, and parameter names and initialisation.

pub mod config;
pub mod model;
pub mod params;
pub mod scratch;

use crate::lm::Arch;
use candle_core::Result;
use candle_nn::VarBuilder;
use config::Config;
use model::Llama;

impl Arch for Config {
    type Model = Llama;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        params::shapes(self)
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model> {
        Llama::load(vb, self)
    }
}

/// Llama-family models from the Hub (`hf:HuggingFaceTB/SmolLM2-135M`, TinyLlama, Llama 3.2),
/// fine-tuned each generation as OPT is. Their end-of-text and start tokens differ from model
/// to model (`<|endoftext|>`, `</s>` and `<s>`, `<|end_of_text|>`): `config.json` names them.
impl crate::lm::HubArch for Config {
    const MODEL_TYPE: &'static str = "llama";
    /// Empty: the tokenizer's end-of-text token is `eos_token_id`'s.
    const EOS: &'static str = "";
    const SPECIALS: &'static [&'static str] = &[];
    fn check(&self) -> crate::Result<()> {
        Config::check(self)?;
        if self.eos_token_id().is_none() {
            return Err(crate::Error::invalid(
                "this Llama config.json has no eos_token_id",
                "use the model's config.json as published (it names its end-of-text token)",
            ));
        }
        Ok(())
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn bos_token_id(&self) -> u32 {
        self.bos_token_id
            .or(crate::lm::HubArch::eos_token_id(self))
            .unwrap_or(0)
    }
    fn eos_token_id(&self) -> Option<u32> {
        let id = match &self.eos_token_id {
            Some(serde_json::Value::Array(ids)) => ids.first()?.as_u64(),
            Some(v) => v.as_u64(),
            None => None,
        };
        id.map(|i| i as u32)
    }
    /// Llama's only dropout is on the attention weights.
    fn set_dropout(&mut self, p: f64) {
        self.attention_dropout = p;
    }
    fn shape_note(&self) -> String {
        format!(
            "{} layers × {}, {} heads / {} key-value heads",
            self.num_hidden_layers,
            self.hidden_size,
            self.num_attention_heads,
            self.kv_heads()
        )
    }
    fn extra_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.extra
    }
}
