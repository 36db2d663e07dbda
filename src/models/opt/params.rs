//! OPT's random initialisation, for benchmarks and tests that must not download a model.

use super::config::OptConfig;
use crate::error::Result;
use crate::lm::params::{normal, Params};
use candle_core::Device;

/// `OPTPreTrainedModel._init_weights`: linear weights and embeddings N(0, init_std), biases
/// 0, norms 1 and 0, and the `<pad>` row of the token embedding 0. Seeded, device-independent.
pub fn init(cfg: &OptConfig, seed: u64, dev: &Device) -> Result<Params> {
    let std = cfg.init_std;
    let (pad, width) = (cfg.pad_token_id as usize, cfg.embed_dim());
    Params::from_fn(cfg.shapes(), seed, "opt-init", dev, |name, n, rng| {
        if name.contains("layer_norm") {
            vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            let mut w: Vec<f32> = (0..n).map(|_| (normal(rng) * std) as f32).collect();
            if name.ends_with("embed_tokens.weight") && (pad + 1) * width <= n {
                w[pad * width..(pad + 1) * width].fill(0.0);
            }
            w
        }
    })
}
