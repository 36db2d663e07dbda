//! GPT-NeoX's tensor names and shapes (as `GPTNeoXForCausalLM.save_pretrained` writes them) and its
//! random initialisation.

use super::config::Config;
use crate::error::Result;
use crate::lm::params::{normal, Params};
use candle_core::Device;

pub fn shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (c, f) = (cfg.hidden_size, cfg.intermediate_size);
    let mut v = vec![(
        "gpt_neox.embed_in.weight".to_string(),
        vec![cfg.vocab_size, c],
    )];
    for i in 0..cfg.num_hidden_layers {
        let p = format!("gpt_neox.layers.{i}");
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            v.push((format!("{p}.{norm}.weight"), vec![c]));
            v.push((format!("{p}.{norm}.bias"), vec![c]));
        }
        for (name, out, inp, bias) in [
            ("attention.query_key_value", 3 * c, c, cfg.attention_bias),
            ("attention.dense", c, c, cfg.attention_bias),
            ("mlp.dense_h_to_4h", f, c, true),
            ("mlp.dense_4h_to_h", c, f, true),
        ] {
            v.push((format!("{p}.{name}.weight"), vec![out, inp]));
            if bias {
                v.push((format!("{p}.{name}.bias"), vec![out]));
            }
        }
    }
    v.push(("gpt_neox.final_layer_norm.weight".to_string(), vec![c]));
    v.push(("gpt_neox.final_layer_norm.bias".to_string(), vec![c]));
    if !cfg.tie_word_embeddings {
        // The name save_pretrained writes (transformers 5 calls the module `lm_head`).
        v.push(("embed_out.weight".to_string(), vec![cfg.vocab_size, c]));
    }
    v
}

/// `GPTNeoXPreTrainedModel._init_weights`: N(0, initializer_range) weights and embeddings,
/// zero biases, LayerNorms 1 and 0. Seeded, device-independent.
pub fn init(cfg: &Config, seed: u64, dev: &Device) -> Result<Params> {
    let std = cfg.initializer_range;
    Params::from_fn(shapes(cfg), seed, "gpt-neox-init", dev, |name, n, rng| {
        if name.contains("layernorm") || name.contains("layer_norm") {
            vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            (0..n).map(|_| (normal(rng) * std) as f32).collect()
        }
    })
}
