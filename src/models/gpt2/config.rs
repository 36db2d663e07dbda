//! The GPT-2 configuration, as Hugging Face writes it in `config.json`, and our presets.
//!
//! Field names and meanings are `transformers.GPT2Config`'s, so a `config.json` we write loads
//! in `transformers` and a GPT-2 `config.json` from the Hub loads here. Fields we do not use
//! are ignored when reading (the Hub's files carry many).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `transformers.GPT2Config` (the fields that shape the model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    /// Context length: the most positions the model has embeddings for.
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// MLP width; `None` means 4 × `n_embd` (GPT-2's choice).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// GPT-2 uses the tanh approximation (`gelu_new`); `gelu` is the exact erf form.
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default)]
    pub resid_pdrop: f64,
    #[serde(default)]
    pub embd_pdrop: f64,
    #[serde(default)]
    pub attn_pdrop: f64,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub bos_token_id: u32,
    #[serde(default)]
    pub eos_token_id: u32,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    /// Everything else in a Hub `config.json` (`n_ctx`, `task_specific_params`, ...), written
    /// back unchanged when a fine-tuned generation is saved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_activation() -> String {
    "gelu_new".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_init_range() -> f64 {
    0.02
}
fn default_true() -> bool {
    true
}
fn default_model_type() -> String {
    "gpt2".into()
}
fn default_architectures() -> Vec<String> {
    vec!["GPT2LMHeadModel".into()]
}

/// A named size: layers, heads, width, context, with the reason it exists.
pub struct Preset {
    pub name: &'static str,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_embd: usize,
    pub n_positions: usize,
    pub why: &'static str,
}

/// Every preset, smallest first.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "nano",
        n_layer: 2,
        n_head: 2,
        n_embd: 64,
        n_positions: 64,
        why: "seconds per generation: tests and smoke runs",
    },
    Preset {
        name: "tiny",
        n_layer: 4,
        n_head: 4,
        n_embd: 256,
        n_positions: 128,
        why: "a CPU-scale Gerstgrasser et al. chain in minutes per generation",
    },
    Preset {
        name: "small",
        n_layer: 6,
        n_head: 8,
        n_embd: 512,
        n_positions: 256,
        why: "CPU overnight or GPU minutes: a richer tail to lose",
    },
    Preset {
        name: "gpt2",
        n_layer: 12,
        n_head: 12,
        n_embd: 768,
        n_positions: 1024,
        why: "GPT-2 small's shape (124M with vocab 50257): GPU runs and benchmarks",
    },
];

/// Default BPE vocabulary: large enough for English words, small enough for a CPU softmax.
pub const DEFAULT_VOCAB_SIZE: usize = 8192;

impl Config {
    /// A preset's shape with the given vocabulary (GPT-2 defaults elsewhere, no dropout:
    /// from-scratch runs on one pass of data do not overfit, as in nanoGPT's pretraining).
    pub fn preset(name: &str, vocab_size: usize) -> Result<Config> {
        let p = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            Error::invalid(
                format!("unknown GPT preset `{name}`"),
                format!("use one of {}, or a config file", names.join(", ")),
            )
        })?;
        Config::new(vocab_size, p.n_positions, p.n_embd, p.n_layer, p.n_head)
    }

    /// Any size; checks that heads divide the width.
    pub fn new(
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
    ) -> Result<Config> {
        let cfg = Config {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            activation_function: default_activation(),
            layer_norm_epsilon: default_eps(),
            resid_pdrop: 0.0,
            embd_pdrop: 0.0,
            attn_pdrop: 0.0,
            initializer_range: default_init_range(),
            bos_token_id: 0,
            eos_token_id: 0,
            tie_word_embeddings: true,
            scale_attn_weights: true,
            model_type: default_model_type(),
            architectures: default_architectures(),
            extra: Map::new(),
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Rejects shapes the model cannot be built with.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(what, "fix the GPT config (see --help)"));
        if [
            self.vocab_size,
            self.n_positions,
            self.n_embd,
            self.n_layer,
            self.n_head,
        ]
        .contains(&0)
        {
            return bad("a GPT config has a zero size".into());
        }
        if self.n_embd % self.n_head != 0 {
            return bad(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            ));
        }
        if !matches!(self.activation_function.as_str(), "gelu_new" | "gelu") {
            return bad(format!(
                "activation `{}` is not supported (gelu_new or gelu)",
                self.activation_function
            ));
        }
        if !self.tie_word_embeddings {
            return bad("untied embeddings are not supported".into());
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Parameters, counting the tied embedding once.
    pub fn n_params(&self) -> usize {
        let (c, l) = (self.n_embd, self.n_layer);
        let block = 2 * 2 * c
            + (c * 3 * c + 3 * c)
            + (c * c + c)
            + 2 * (c * self.inner())
            + self.inner()
            + c;
        self.vocab_size * c + self.n_positions * c + l * block + 2 * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_small_has_124m_parameters_and_reads_hub_config() {
        let cfg = Config::preset("gpt2", 50257).unwrap();
        assert_eq!(cfg.n_params(), 124_439_808);
        // A trimmed Hub config.json with fields we ignore.
        let hub = r#"{"activation_function":"gelu_new","architectures":["GPT2LMHeadModel"],
          "bos_token_id":50256,"eos_token_id":50256,"n_ctx":1024,"n_embd":768,"n_head":12,
          "n_layer":12,"n_positions":1024,"vocab_size":50257,"summary_type":"cls_index"}"#;
        let c: Config = serde_json::from_str(hub).unwrap();
        assert_eq!((c.n_layer, c.inner(), c.eos_token_id), (12, 3072, 50256));
        let back: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(Config::new(100, 16, 30, 1, 4).is_err());
        assert!(Config::preset("huge", 100).is_err());
        assert!(Config::new(100, 16, 32, 1, 4).is_ok());
    }
}
