//! Model tests that need no fixture: gradients reach every parameter, the KV cache gives the
//! same logits as a full forward pass, and weights round-trip through safetensors.

use super::config::Config;
use crate::lm::layers::{Dropout, KvCache};
use crate::lm::params::Params;
use crate::lm::CausalLm;
use crate::rng::Rng;
use candle_core::{Device, IndexOp, Tensor};

fn tiny() -> Config {
    Config::new(50, 16, 16, 2, 2).unwrap()
}

fn ids(b: usize, t: usize, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let v: Vec<u32> = (0..b * t).map(|_| rng.below(50) as u32).collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn every_parameter_gets_a_nonzero_gradient() {
    let mut cfg = tiny();
    cfg.resid_pdrop = 0.1;
    let p = crate::models::gpt2::params::init(&cfg, 1, &Device::Cpu).unwrap();
    let model = p.model(&cfg).unwrap();
    let mut rng = Rng::new(3);
    let loss = model
        .block_loss(&ids(3, 9, 5), Some(Dropout { rng: &mut rng }))
        .unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in &p.vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{name}: gradient norm {norm}"
        );
    }
}

/// The grad sink (weights' gradients written straight to their buffers) gives the gradients
/// of candle's own accumulation, bit for bit, for every weight but the tied table: without a
/// sink the lookup returns its rows as a dense gradient that candle adds to the head's whole,
/// with one the rows are added onto the head's one by one, as candle's `index_select`
/// backward does (bit for bit against it in `nn::grad_sink::tests`). 4 × 12 ids of a
/// 50-token vocabulary repeat many ids.
#[test]
fn the_grad_sink_gives_candles_gradients_bit_for_bit() {
    let cfg = tiny();
    let p = crate::models::gpt2::params::init(&cfg, 2, &Device::Cpu).unwrap();
    let model = p.model(&cfg).unwrap();
    let x = ids(4, 12, 6);
    let plain = model.block_loss(&x, None).unwrap().backward().unwrap();
    let sunk = crate::nn::grad_sink::backward(&model.block_loss(&x, None).unwrap()).unwrap();
    for (name, var) in &p.vars {
        let (a, b) = (
            plain.get(var.as_tensor()).unwrap(),
            sunk.get(var.as_tensor()).unwrap(),
        );
        let bits = |t: &Tensor| -> Vec<u32> {
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v.iter().map(|x| x.to_bits()).collect()
        };
        if name == "transformer.wte.weight" {
            assert!(max_abs_diff(a, b) < 1e-6, "{name}: {}", max_abs_diff(a, b));
        } else {
            assert_eq!(bits(a), bits(b), "{name}");
        }
    }
}

#[test]
fn last_logits_are_the_full_pass_last_position_and_fill_the_cache_alike() {
    let cfg = tiny();
    let model = crate::models::gpt2::params::init(&cfg, 4, &Device::Cpu)
        .unwrap()
        .model(&cfg)
        .unwrap();
    let x = ids(3, 8, 5);
    let full = model.forward(&x, None, None).unwrap(); // (3, 8, v)
    let mut cache = KvCache::new(cfg.n_layer);
    let last = model
        .last_logits(&x.narrow(1, 0, 7).unwrap(), Some(&mut cache))
        .unwrap();
    assert_eq!(last.dims(), &[3, cfg.vocab_size]);
    assert!(max_abs_diff(&last, &full.i((.., 6, ..)).unwrap()) < 1e-5);
    assert_eq!(cache.len, 7);
    let next = model
        .last_logits(&x.narrow(1, 7, 1).unwrap(), Some(&mut cache))
        .unwrap();
    assert!(max_abs_diff(&next, &full.i((.., 7, ..)).unwrap()) < 1e-5);
}

#[test]
fn kv_cache_matches_the_full_forward_pass() {
    let cfg = tiny();
    let model = crate::models::gpt2::params::init(&cfg, 2, &Device::Cpu)
        .unwrap()
        .model(&cfg)
        .unwrap();
    let x = ids(2, 10, 7);
    let full = model.forward(&x, None, None).unwrap(); // (2, 10, v)
    let mut cache = KvCache::new(cfg.n_layer);
    let first = model
        .forward(&x.narrow(1, 0, 6).unwrap(), Some(&mut cache), None)
        .unwrap();
    assert!(max_abs_diff(&first, &full.narrow(1, 0, 6).unwrap()) < 1e-5);
    for t in 6..10 {
        let step = model
            .forward(&x.narrow(1, t, 1).unwrap(), Some(&mut cache), None)
            .unwrap();
        let want = full.i((.., t..t + 1, ..)).unwrap();
        assert!(max_abs_diff(&step, &want) < 1e-5, "position {t}");
    }
    assert_eq!(cache.len, 10);
    let too_long = model.forward(&ids(1, 17, 1), None, None);
    assert!(
        too_long.is_err(),
        "positions past the context must be refused"
    );
}

#[test]
fn weights_round_trip_through_safetensors() {
    let cfg = tiny();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let p = crate::models::gpt2::params::init(&cfg, 9, &Device::Cpu).unwrap();
    p.save(&path).unwrap();
    let q = Params::load(&path, &cfg, candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_eq!(p.count(), cfg.n_params());
    for (name, v) in &p.vars {
        assert_eq!(
            max_abs_diff(v.as_tensor(), q.vars[name].as_tensor()),
            0.0,
            "{name}"
        );
    }
    let other = Config::new(50, 16, 16, 3, 2).unwrap();
    let err = Params::load(&path, &other, candle_core::DType::F32, &Device::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing"), "{err}");
    // Same seed, same weights.
    let again = crate::models::gpt2::params::init(&cfg, 9, &Device::Cpu).unwrap();
    let w = "transformer.h.1.mlp.c_proj.weight";
    assert_eq!(
        max_abs_diff(p.vars[w].as_tensor(), again.vars[w].as_tensor()),
        0.0
    );
}

#[test]
fn hub_gpt2_names_without_prefix_and_mask_buffers_load() {
    // The original GPT-2 checkpoints on the Hub name tensors `h.0.attn.c_attn.weight` (no
    // `transformer.`) and carry `h.N.attn.bias` causal-mask buffers; both must load.
    let cfg = tiny();
    let p = crate::models::gpt2::params::init(&cfg, 4, &Device::Cpu).unwrap();
    let mut hub: Vec<(String, Tensor)> = p
        .vars
        .iter()
        .map(|(k, v)| {
            (
                k.trim_start_matches("transformer.").to_string(),
                v.as_tensor().clone(),
            )
        })
        .collect();
    for i in 0..cfg.n_layer {
        let mask = Tensor::ones((1, 1, 16, 16), candle_core::DType::F32, &Device::Cpu).unwrap();
        hub.push((format!("h.{i}.attn.bias"), mask));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    crate::nn::safetensors::save_safetensors(&path, hub.iter().map(|(k, t)| (k.as_str(), t)))
        .unwrap();
    let q = Params::load(&path, &cfg, candle_core::DType::F32, &Device::Cpu).unwrap();
    let x = ids(1, 5, 3);
    let a = p.model(&cfg).unwrap().forward(&x, None, None).unwrap();
    let b = q.model(&cfg).unwrap().forward(&x, None, None).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
}
