//! The Llama configuration, as Hugging Face writes it in `config.json`
//! (`transformers.LlamaConfig`: SmolLM2, TinyLlama, Llama 2 and 3.2 share it).
//!
//! Fields we do not model are kept in `extra` and written back. Rotary settings come in two
//! spellings: `rope_theta` + `rope_scaling` (the Hub's older files, SmolLM2's) and
//! `rope_parameters` (what transformers 5 writes); [`Config::rope`] reads either.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `transformers.LlamaConfig` (the fields that shape the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// The SwiGLU MLP's width.
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Grouped-query attention: heads share key/value heads in groups (`None`: as many).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// `None`: `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "silu")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "eps")]
    pub rms_norm_eps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<Value>,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub attention_dropout: f64,
    #[serde(default = "init_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<Value>,
    #[serde(default = "model_type")]
    pub model_type: String,
    /// Everything else in the file, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn silu() -> String {
    "silu".into()
}
fn eps() -> f64 {
    1e-6
}
fn init_range() -> f64 {
    0.02
}
fn model_type() -> String {
    "llama".into()
}

/// How rotary frequencies are made (transformers' `rope_type`s we implement).
#[derive(Clone, Debug, PartialEq)]
pub enum RopeKind {
    Default,
    /// Positions divided by `factor` (all frequencies / factor).
    Linear {
        factor: f64,
    },
    /// Llama 3.1/3.2: low frequencies / `factor`, high ones kept, a smooth ramp between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// The rotary settings, from either spelling.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    pub theta: f64,
    pub kind: RopeKind,
}

impl Config {
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// `rope_parameters`, else `rope_theta` + `rope_scaling`; refused for kinds we lack.
    pub fn rope(&self) -> Result<Rope> {
        let params = self
            .rope_parameters
            .clone()
            .or_else(|| self.rope_scaling.clone())
            .filter(|v| !v.is_null())
            .unwrap_or(Value::Object(Map::new()));
        let theta = params["rope_theta"]
            .as_f64()
            .or(self.rope_theta)
            .unwrap_or(10_000.0);
        let kind = params["rope_type"]
            .as_str()
            .or(params["type"].as_str())
            .unwrap_or("default");
        let num = |k: &str| -> Result<f64> {
            params[k].as_f64().ok_or_else(|| {
                Error::invalid(
                    format!("rope_type `{kind}` needs `{k}` in config.json"),
                    "use the model's config.json as published",
                )
            })
        };
        let kind = match kind {
            "default" => RopeKind::Default,
            "linear" => RopeKind::Linear {
                factor: num("factor")?,
            },
            "llama3" => RopeKind::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            },
            other => {
                return Err(Error::invalid(
                    format!("rotary scaling `{other}` is not supported"),
                    "use a model with default, linear or llama3 rotary positions",
                ))
            }
        };
        Ok(Rope { theta, kind })
    }

    /// Rejects shapes and variants the model cannot be built with.
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
            self.kv_heads(),
            self.head_dim(),
        ]
        .contains(&0)
        {
            return bad("a Llama config has a zero size".into());
        }
        if self.num_attention_heads % self.kv_heads() != 0 {
            return bad(format!(
                "{} attention heads do not group into {} key/value heads",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!(
                "head_dim {} is odd: rotary positions pair dimensions",
                self.head_dim()
            ));
        }
        if self.hidden_act != "silu" {
            return bad(format!(
                "activation `{}` is not supported (silu)",
                self.hidden_act
            ));
        }
        self.rope().map(|_| ())
    }
}
