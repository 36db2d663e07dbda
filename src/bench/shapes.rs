//! The Hub models the `opt-train` / `opt-generate` benches time (`--shape`): opt-125m (the
//! paper's), SmolLM2-135M (Llama-family) and Pythia-160m (GPT-NeoX), each at its published
//! shape with random weights, and the flags that give scripts/bench_torch.py the same model.

use anyhow::Result;
use candle_core::Device;
use collapse_lab::lm::params::Params;
use collapse_lab::models::gpt_neox::config::Config as NeoxConfig;
use collapse_lab::models::llama::config::Config as LlamaConfig;
use collapse_lab::models::opt::config::OptConfig;
use serde_json::json;

/// `--shape`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// facebook/opt-125m: 12 layers × 768, vocab 50272
    #[value(name = "opt-125m")]
    Opt125m,
    /// HuggingFaceTB/SmolLM2-135M: 30 layers × 576, 9 heads / 3 key-value heads, SwiGLU 1536,
    /// vocab 49152, rotary theta 100000, tied
    #[value(name = "smollm2-135m")]
    Smollm2,
    /// EleutherAI/pythia-160m: 12 layers × 768, partial rotary 0.25, parallel residual, vocab
    /// 50304, untied
    #[value(name = "pythia-160m")]
    Pythia160m,
}

/// A shape's configuration.
pub enum Model {
    Opt(OptConfig),
    Llama(LlamaConfig),
    Neox(NeoxConfig),
}

impl Shape {
    pub fn model(self, dropout: f64) -> Result<Model> {
        Ok(match self {
            Shape::Opt125m => {
                let mut c = OptConfig::opt_125m();
                c.dropout = dropout;
                c.check()?;
                Model::Opt(c)
            }
            Shape::Smollm2 => Model::Llama(serde_json::from_value(json!({
                "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
                "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
                "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0,
                "attention_dropout": dropout,
            }))?),
            Shape::Pythia160m => Model::Neox(serde_json::from_value(json!({
                "vocab_size": 50304, "hidden_size": 768, "intermediate_size": 3072,
                "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 2048,
                "rotary_pct": 0.25, "rotary_emb_base": 10000, "use_parallel_residual": true,
                "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 0,
                "hidden_dropout": dropout,
            }))?),
        })
    }
}

impl Model {
    pub fn vocab(&self) -> usize {
        match self {
            Model::Opt(c) => c.vocab_size,
            Model::Llama(c) => c.vocab_size,
            Model::Neox(c) => c.vocab_size,
        }
    }

    pub fn max_positions(&self) -> usize {
        match self {
            Model::Opt(c) => c.max_position_embeddings,
            Model::Llama(c) => c.max_position_embeddings,
            Model::Neox(c) => c.max_position_embeddings,
        }
    }

    pub fn init(&self, seed: u64, dev: &Device) -> Result<Params> {
        Ok(match self {
            Model::Opt(c) => collapse_lab::models::opt::params::init(c, seed, dev)?,
            Model::Llama(c) => collapse_lab::models::llama::params::init(c, seed, dev)?,
            Model::Neox(c) => collapse_lab::models::gpt_neox::params::init(c, seed, dev)?,
        })
    }

    /// One line for the bench's header.
    pub fn describe(&self) -> String {
        match self {
            Model::Opt(c) => format!(
                "opt-125m shape ({} layers, {} heads, width {}, ffn {}), vocab {}",
                c.num_hidden_layers, c.num_attention_heads, c.hidden_size, c.ffn_dim, c.vocab_size
            ),
            Model::Llama(c) => format!(
                "SmolLM2-135M shape (llama: {} layers, {} heads / {} kv, width {}, SwiGLU {}), vocab {}",
                c.num_hidden_layers, c.num_attention_heads, c.kv_heads(), c.hidden_size,
                c.intermediate_size, c.vocab_size
            ),
            Model::Neox(c) => format!(
                "Pythia-160m shape (gpt_neox: {} layers, {} heads, width {}, ffn {}), vocab {}",
                c.num_hidden_layers, c.num_attention_heads, c.hidden_size, c.intermediate_size,
                c.vocab_size
            ),
        }
    }

    /// scripts/bench_torch.py's flags for the same model.
    pub fn torch_flags(&self) -> Vec<String> {
        let f = |pairs: &[(&str, String)]| -> Vec<String> {
            pairs
                .iter()
                .flat_map(|(k, v)| [k.to_string(), v.clone()])
                .collect()
        };
        match self {
            Model::Opt(c) => f(&[
                ("--arch", "opt".into()),
                ("--n-layer", c.num_hidden_layers.to_string()),
                ("--n-head", c.num_attention_heads.to_string()),
                ("--n-embd", c.hidden_size.to_string()),
                ("--ffn", c.ffn_dim.to_string()),
                ("--vocab", c.vocab_size.to_string()),
                ("--max-positions", c.max_position_embeddings.to_string()),
            ]),
            Model::Llama(c) => f(&[
                ("--arch", "llama".into()),
                ("--n-layer", c.num_hidden_layers.to_string()),
                ("--n-head", c.num_attention_heads.to_string()),
                ("--kv-heads", c.kv_heads().to_string()),
                ("--n-embd", c.hidden_size.to_string()),
                ("--ffn", c.intermediate_size.to_string()),
                ("--vocab", c.vocab_size.to_string()),
                ("--max-positions", c.max_position_embeddings.to_string()),
                ("--rope-theta", "100000".into()),
            ]),
            Model::Neox(c) => f(&[
                ("--arch", "gpt_neox".into()),
                ("--n-layer", c.num_hidden_layers.to_string()),
                ("--n-head", c.num_attention_heads.to_string()),
                ("--n-embd", c.hidden_size.to_string()),
                ("--ffn", c.intermediate_size.to_string()),
                ("--vocab", c.vocab_size.to_string()),
                ("--max-positions", c.max_position_embeddings.to_string()),
                ("--rotary-pct", "0.25".into()),
            ]),
        }
    }
}
