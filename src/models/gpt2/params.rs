//! GPT-2's parameter names and shapes (`GPT2LMHeadModel`'s state dict) and its random
//! initialisation, for models trained from scratch.

use super::config::Config;
use crate::error::Result;
use crate::lm::params::{normal, Params};
use candle_core::Device;

/// Every parameter name and shape of a config, in GPT-2 order of appearance.
pub fn shapes(cfg: &Config) -> Vec<(String, Vec<usize>)> {
    let (c, inner) = (cfg.n_embd, cfg.inner());
    let mut v = vec![
        (
            "transformer.wte.weight".to_string(),
            vec![cfg.vocab_size, c],
        ),
        (
            "transformer.wpe.weight".to_string(),
            vec![cfg.n_positions, c],
        ),
    ];
    for i in 0..cfg.n_layer {
        let p = format!("transformer.h.{i}");
        for (name, shape) in [
            ("ln_1.weight", vec![c]),
            ("ln_1.bias", vec![c]),
            ("attn.c_attn.weight", vec![c, 3 * c]),
            ("attn.c_attn.bias", vec![3 * c]),
            ("attn.c_proj.weight", vec![c, c]),
            ("attn.c_proj.bias", vec![c]),
            ("ln_2.weight", vec![c]),
            ("ln_2.bias", vec![c]),
            ("mlp.c_fc.weight", vec![c, inner]),
            ("mlp.c_fc.bias", vec![inner]),
            ("mlp.c_proj.weight", vec![inner, c]),
            ("mlp.c_proj.bias", vec![c]),
        ] {
            v.push((format!("{p}.{name}"), shape));
        }
    }
    v.push(("transformer.ln_f.weight".into(), vec![c]));
    v.push(("transformer.ln_f.bias".into(), vec![c]));
    v
}

/// GPT-2's initialisation (`GPT2PreTrainedModel._init_weights`): weights and embeddings
/// N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)), biases 0, norm scales 1.
/// Drawn from our seeded generator, so the same seed gives the same model on any device.
pub fn init(cfg: &Config, seed: u64, dev: &Device) -> Result<Params> {
    let std = cfg.initializer_range;
    let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
    Params::from_fn(shapes(cfg), seed, "gpt-init", dev, |name, n, rng| {
        if name.contains("ln_") {
            vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            let s = if name.ends_with("c_proj.weight") {
                proj_std
            } else {
                std
            };
            (0..n).map(|_| (normal(rng) * s) as f32).collect()
        }
    })
}
