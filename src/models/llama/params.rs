//! Llama's tensor names and shapes (`LlamaForCausalLM`'s) and its random initialisation.

use super::config::Config;
use crate::error::Result;
use crate::lm::params::{normal, Params};
use candle_core::Device;

/// Every parameter, in the Hub's names.
pub fn shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (e, f, d) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim());
    let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
    let mut v = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, e],
    )];
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        for (name, out, inp, bias) in [
            ("self_attn.q_proj", h * d, e, cfg.attention_bias),
            ("self_attn.k_proj", kv * d, e, cfg.attention_bias),
            ("self_attn.v_proj", kv * d, e, cfg.attention_bias),
            ("self_attn.o_proj", e, h * d, cfg.attention_bias),
            ("mlp.gate_proj", f, e, cfg.mlp_bias),
            ("mlp.up_proj", f, e, cfg.mlp_bias),
            ("mlp.down_proj", e, f, cfg.mlp_bias),
        ] {
            v.push((format!("{p}.{name}.weight"), vec![out, inp]));
            if bias {
                v.push((format!("{p}.{name}.bias"), vec![out]));
            }
        }
        v.push((format!("{p}.input_layernorm.weight"), vec![e]));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![e]));
    }
    v.push(("model.norm.weight".to_string(), vec![e]));
    if !cfg.tie_word_embeddings {
        v.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, e]));
    }
    v
}

/// `LlamaPreTrainedModel._init_weights`: linear weights and embeddings N(0, initializer_range),
/// biases 0, norms 1. Seeded, device-independent.
pub fn init(cfg: &Config, seed: u64, dev: &Device) -> Result<Params> {
    let std = cfg.initializer_range;
    Params::from_fn(shapes(cfg), seed, "llama-init", dev, |name, n, rng| {
        if name.ends_with("norm.weight") {
            vec![1.0; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            (0..n).map(|_| (normal(rng) * std) as f32).collect()
        }
    })
}
