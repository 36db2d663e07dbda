//! `llama:<preset>`: Llama trained from scratch each generation (Gerstgrasser et al. 2024's
//! Llama-2 arms), on a BPE tokenizer trained on generation 0's human text.
//!
//! Presets follow llama2.c's TinyStories models (Karpathy 2023): Llama 2's architecture (RMSNorm
//! eps 1e-5, rotary theta 10,000, SwiGLU of width 8/3 · d rounded up to 32, tied embeddings,
//! as many key/value heads as query heads) at the scale of a CPU or one-GPU chain.

use super::config::Config;
use crate::error::{Error, Result};
use crate::lm::params::Params;
use crate::lm::settings::GptSettings;
use candle_core::Device;
use serde_json::Map;

/// (name, layers, heads, key/value heads, width, context, reason).
type Preset = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    &'static str,
);

const PRESETS: &[Preset] = &[
    (
        "nano",
        2,
        4,
        2,
        64,
        64,
        "seconds per generation: tests and smoke runs (grouped-query, 2 kv heads)",
    ),
    (
        "tiny",
        4,
        4,
        4,
        256,
        128,
        "a CPU chain in minutes per generation, gpt:tiny's size",
    ),
    (
        "15m",
        6,
        6,
        6,
        288,
        256,
        "llama2.c's stories15M shape: TinyStories at CPU-overnight scale",
    ),
    (
        "42m",
        8,
        8,
        8,
        512,
        1024,
        "llama2.c's stories42M shape: GPU minutes per generation",
    ),
];

/// SwiGLU's width for model width `d`: 8/3 · d rounded up to a multiple of 32 (llama2.c's
/// rule; 288 → 768, 512 → 1376).
pub fn swiglu_width(d: usize) -> usize {
    (8 * d).div_ceil(3).div_ceil(32) * 32
}

fn shape(p: &Preset, vocab_size: usize) -> Config {
    let &(_, layers, heads, kv, width, context, _) = p;
    Config {
        vocab_size,
        hidden_size: width,
        intermediate_size: swiglu_width(width),
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: Some(kv),
        head_dim: None,
        hidden_act: "silu".into(),
        max_position_embeddings: context,
        rms_norm_eps: 1e-5,
        rope_theta: Some(10_000.0),
        rope_scaling: None,
        rope_parameters: None,
        attention_bias: false,
        mlp_bias: false,
        attention_dropout: 0.0,
        initializer_range: 0.02,
        tie_word_embeddings: true,
        bos_token_id: None,
        eos_token_id: None,
        model_type: "llama".into(),
        extra: Map::new(),
    }
}

impl crate::lm::ScratchArch for Config {
    const PREFIX: &'static str = "llama";
    fn presets() -> Vec<(&'static str, &'static str)> {
        PRESETS.iter().map(|p| (p.0, p.6)).collect()
    }
    fn preset(name: &str, vocab_size: usize) -> Result<Self> {
        let p = PRESETS.iter().find(|p| p.0 == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            Error::invalid(
                format!("unknown Llama preset `{name}`"),
                format!("use llama:{}", names.join(", llama:")),
            )
        })?;
        Ok(shape(p, vocab_size))
    }
    fn shaped(mut self, s: &GptSettings, vocab_size: usize, eot: u32) -> Result<Self> {
        self.vocab_size = vocab_size;
        self.num_hidden_layers = s.n_layer.unwrap_or(self.num_hidden_layers);
        if let Some(h) = s.n_head {
            // Overridden heads: one key/value head each (multi-head attention, as Llama 2).
            (self.num_attention_heads, self.num_key_value_heads) = (h, Some(h));
        }
        if let Some(w) = s.n_embd {
            (self.hidden_size, self.intermediate_size) = (w, swiglu_width(w));
        }
        self.max_position_embeddings = s.context.unwrap_or(self.max_position_embeddings);
        self.attention_dropout = s.dropout;
        (self.bos_token_id, self.eos_token_id) = (Some(eot), Some(eot.into()));
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(Error::invalid(
                format!(
                    "width {} is not a multiple of {} heads",
                    self.hidden_size, self.num_attention_heads
                ),
                "choose --n-embd a multiple of --n-head",
            ));
        }
        self.check()?;
        Ok(self)
    }
    fn n_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    fn dims(&self) -> (usize, usize, usize) {
        (
            self.num_hidden_layers,
            self.hidden_size,
            self.num_attention_heads,
        )
    }
    fn init(&self, seed: u64, dev: &Device) -> Result<Params> {
        super::params::init(self, seed, dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::ScratchArch;

    #[test]
    fn presets_follow_llama2c() {
        assert_eq!((swiglu_width(288), swiglu_width(512)), (768, 1376));
        let c = Config::preset("15m", 512).unwrap();
        assert_eq!(
            (c.hidden_size, c.intermediate_size, c.num_hidden_layers),
            (288, 768, 6)
        );
        c.check().unwrap();
        let nano = Config::preset("nano", 100).unwrap();
        let s = GptSettings::default();
        let shaped = nano.shaped(&s, 120, 7).unwrap();
        assert_eq!(
            (shaped.vocab_size, shaped.bos_token_id, shaped.kv_heads()),
            (120, Some(7), 2)
        );
        assert!(Config::preset("huge", 1)
            .unwrap_err()
            .to_string()
            .contains("unknown Llama preset"));
    }
}
