//! The OPT configuration, as Hugging Face writes it in `config.json` (`transformers.OPTConfig`).
//!
//! Fields we do not model (`_name_or_path`, `transformers_version`, `prefix`, ...) are kept in
//! `extra` and written back, so a fine-tuned generation's `config.json` is the Hub's with only
//! what we changed.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `transformers.OPTConfig` (the fields that shape the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub ffn_dim: usize,
    /// Positions the model was trained on; the table has 2 more rows (OPT's offset).
    pub max_position_embeddings: usize,
    /// Pre-LayerNorm (opt-125m, 1.3b and up) or post-LayerNorm (opt-350m).
    #[serde(default = "yes")]
    pub do_layer_norm_before: bool,
    /// Old checkpoints without the decoder's final norm (see modeling_opt.py).
    #[serde(default, rename = "_remove_final_layer_norm")]
    pub remove_final_layer_norm: bool,
    /// Embedding width; when it differs from `hidden_size`, `project_in`/`project_out` map
    /// between them (opt-350m: 512 vs 1024).
    #[serde(default)]
    pub word_embed_proj_dim: Option<usize>,
    #[serde(default = "relu")]
    pub activation_function: String,
    /// Residual dropout (0.1 in the Hub's configs: `transformers` fine-tunes with it on).
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub attention_dropout: f64,
    #[serde(default = "init_std")]
    pub init_std: f64,
    #[serde(default = "yes")]
    pub enable_bias: bool,
    #[serde(default = "yes")]
    pub layer_norm_elementwise_affine: bool,
    #[serde(default = "one")]
    pub pad_token_id: u32,
    #[serde(default = "two")]
    pub bos_token_id: u32,
    #[serde(default = "two")]
    pub eos_token_id: u32,
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    #[serde(default = "model_type")]
    pub model_type: String,
    /// Everything else in the file, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}
fn relu() -> String {
    "relu".into()
}
fn init_std() -> f64 {
    0.02
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn model_type() -> String {
    "opt".into()
}

/// OPT's learned positions start at row 2 (a fairseq legacy: rows 0 and 1 belonged to padding).
pub const POSITION_OFFSET: usize = 2;

/// LayerNorm epsilon: `nn.LayerNorm`'s default, which OPT uses.
pub const LN_EPS: f64 = 1e-5;

impl OptConfig {
    /// facebook/opt-125m's shape with a given vocabulary: benchmarks and tests build it
    /// without a download.
    pub fn opt_125m() -> OptConfig {
        OptConfig {
            vocab_size: 50272,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            ffn_dim: 3072,
            max_position_embeddings: 2048,
            do_layer_norm_before: true,
            remove_final_layer_norm: false,
            word_embed_proj_dim: Some(768),
            activation_function: relu(),
            dropout: 0.1,
            attention_dropout: 0.0,
            init_std: init_std(),
            enable_bias: true,
            layer_norm_elementwise_affine: true,
            pad_token_id: 1,
            bos_token_id: 2,
            eos_token_id: 2,
            tie_word_embeddings: true,
            model_type: model_type(),
            extra: Map::from_iter([(
                "architectures".to_string(),
                Value::from(vec!["OPTForCausalLM"]),
            )]),
        }
    }

    /// Rejects configurations this implementation does not cover, naming the field.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| {
            Err(Error::invalid(
                what,
                "collapse-lab supports OPT models like facebook/opt-125m..opt-6.7b and opt-350m",
            ))
        };
        if self.model_type != "opt" {
            return bad(format!(
                "config.json says model_type `{}`, not `opt`",
                self.model_type
            ));
        }
        let sizes = [
            self.vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.ffn_dim,
            self.max_position_embeddings,
        ];
        if sizes.contains(&0) || self.hidden_size % self.num_attention_heads != 0 {
            return bad("config.json has a zero size or heads that do not divide the width".into());
        }
        if self.activation_function != "relu" {
            return bad(format!(
                "activation `{}` is not supported (OPT uses relu)",
                self.activation_function
            ));
        }
        if !self.enable_bias || !self.layer_norm_elementwise_affine || !self.tie_word_embeddings {
            return bad(
                "configs without biases, affine norms or tied embeddings are not supported".into(),
            );
        }
        Ok(())
    }

    pub fn embed_dim(&self) -> usize {
        self.word_embed_proj_dim.unwrap_or(self.hidden_size)
    }

    /// `project_in`/`project_out` exist (opt-350m).
    pub fn projects(&self) -> bool {
        self.embed_dim() != self.hidden_size
    }

    /// The decoder's final LayerNorm exists (pre-LN models that kept it).
    pub fn final_norm(&self) -> bool {
        self.do_layer_norm_before && !self.remove_final_layer_norm
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Every parameter (Hugging Face `OPTForCausalLM` names) with its shape.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (c, e, f) = (self.hidden_size, self.embed_dim(), self.ffn_dim);
        let d = "model.decoder";
        let mut v = vec![
            (format!("{d}.embed_tokens.weight"), vec![self.vocab_size, e]),
            (
                format!("{d}.embed_positions.weight"),
                vec![self.max_position_embeddings + POSITION_OFFSET, c],
            ),
        ];
        if self.projects() {
            v.push((format!("{d}.project_in.weight"), vec![c, e]));
            v.push((format!("{d}.project_out.weight"), vec![e, c]));
        }
        for i in 0..self.num_hidden_layers {
            let p = format!("{d}.layers.{i}");
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                v.push((format!("{p}.self_attn.{proj}.weight"), vec![c, c]));
                v.push((format!("{p}.self_attn.{proj}.bias"), vec![c]));
            }
            for (name, shape) in [
                ("self_attn_layer_norm.weight", vec![c]),
                ("self_attn_layer_norm.bias", vec![c]),
                ("fc1.weight", vec![f, c]),
                ("fc1.bias", vec![f]),
                ("fc2.weight", vec![c, f]),
                ("fc2.bias", vec![c]),
                ("final_layer_norm.weight", vec![c]),
                ("final_layer_norm.bias", vec![c]),
            ] {
                v.push((format!("{p}.{name}"), shape));
            }
        }
        if self.final_norm() {
            v.push((format!("{d}.final_layer_norm.weight"), vec![c]));
            v.push((format!("{d}.final_layer_norm.bias"), vec![c]));
        }
        v
    }

    pub fn n_params(&self) -> usize {
        self.shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_125m_has_125m_parameters_and_reads_a_hub_config() {
        // transformers counts 125,239,296 for OPTForCausalLM (tied head counted once).
        assert_eq!(OptConfig::opt_125m().n_params(), 125_239_296);
        let hub = r#"{"_name_or_path":"facebook/opt-350m","activation_dropout":0.0,
          "activation_function":"relu","architectures":["OPTForCausalLM"],"attention_dropout":0.0,
          "bos_token_id":2,"do_layer_norm_before":false,"dropout":0.1,"eos_token_id":2,
          "ffn_dim":4096,"hidden_size":1024,"init_std":0.02,"layerdrop":0.0,
          "max_position_embeddings":2048,"model_type":"opt","num_attention_heads":16,
          "num_hidden_layers":24,"pad_token_id":1,"prefix":"</s>","torch_dtype":"float16",
          "transformers_version":"4.20.0.dev0","use_cache":true,"vocab_size":50272,
          "word_embed_proj_dim":512}"#;
        let c: OptConfig = serde_json::from_str(hub).unwrap();
        c.check().unwrap();
        assert!(c.projects() && !c.final_norm());
        assert_eq!(c.extra["prefix"], "</s>");
        let back: OptConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let names: Vec<String> = c.shapes().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"model.decoder.project_in.weight".to_string()));
        assert!(!names.contains(&"model.decoder.final_layer_norm.weight".to_string()));
    }

    #[test]
    fn unsupported_configs_are_refused() {
        let mut c = OptConfig::opt_125m();
        c.activation_function = "gelu".into();
        assert!(c.check().is_err());
        let mut c = OptConfig::opt_125m();
        c.model_type = "gpt2".into();
        assert!(c.check().unwrap_err().to_string().contains("model_type"));
    }
}
