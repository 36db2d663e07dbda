//! The GPT-NeoX configuration (`transformers.GPTNeoXConfig`: the Pythia suite), as written in
//! `config.json`. Rotary settings come as `rotary_pct` + `rotary_emb_base` (the Hub's Pythia
//! files) or `rope_parameters` (transformers 5); [`Config::rotary`] reads either. Fields we do
//! not model are kept in `extra` and written back.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `transformers.GPTNeoXConfig` (the fields that shape the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "gelu")]
    pub hidden_act: String,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// Attention and MLP side by side on the same input (Pythia), or one after the other.
    #[serde(default = "yes")]
    pub use_parallel_residual: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotary_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotary_emb_base: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<Value>,
    #[serde(default = "yes")]
    pub attention_bias: bool,
    #[serde(default)]
    pub attention_dropout: f64,
    /// Dropout on the embeddings and on each branch's output.
    #[serde(default)]
    pub hidden_dropout: f64,
    #[serde(default = "init_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default = "model_type")]
    pub model_type: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn gelu() -> String {
    "gelu".into()
}
fn eps() -> f64 {
    1e-5
}
fn yes() -> bool {
    true
}
fn init_range() -> f64 {
    0.02
}
fn model_type() -> String {
    "gpt_neox".into()
}

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// (theta, rotated dimensions of a head), from either spelling.
    pub fn rotary(&self) -> Result<(f64, usize)> {
        let p = self.rope_parameters.clone().unwrap_or(Value::Null);
        if let Some(kind) = p["rope_type"].as_str().filter(|k| *k != "default") {
            return Err(Error::invalid(
                format!("rotary scaling `{kind}` is not supported for GPT-NeoX"),
                "use a model with default rotary positions (every Pythia)",
            ));
        }
        let theta = p["rope_theta"]
            .as_f64()
            .or(self.rotary_emb_base)
            .unwrap_or(10_000.0);
        let pct = p["partial_rotary_factor"]
            .as_f64()
            .or(self.rotary_pct)
            .unwrap_or(0.25); // transformers' GPTNeoXConfig default (every Pythia states it)
        Ok((theta, (self.head_dim() as f64 * pct) as usize))
    }

    pub fn check(&self) -> Result<()> {
        let bad = |what: String| {
            Err(Error::invalid(
                what,
                "use the model's config.json as published",
            ))
        };
        if [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_hidden_layers,
            self.num_attention_heads,
        ]
        .contains(&0)
        {
            return bad("a GPT-NeoX config has a zero size".into());
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of {} heads",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !matches!(self.hidden_act.as_str(), "gelu" | "gelu_new") {
            return bad(format!(
                "activation `{}` is not supported (gelu or gelu_new)",
                self.hidden_act
            ));
        }
        let (_, r) = self.rotary()?;
        if r % 2 != 0 || r > self.head_dim() {
            return bad(format!(
                "{r} rotary dimensions do not fit heads of {}",
                self.head_dim()
            ));
        }
        Ok(())
    }
}
