//! A GPT's parameters as named, trainable variables in a fixed order, with GPT-2's
//! initialisation and the Hugging Face safetensors layout.
//!
//! Names are `GPT2LMHeadModel` state-dict names. Hub checkpoints of the original GPT-2 store
//! them without the `transformer.` prefix and carry `attn.bias` mask buffers; [`Params::load`]
//! accepts both. The order (sorted by name) is what optimizer state and fixtures rely on.

use super::config::Config;
use super::model::Gpt2;
use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The named variables of one model.
pub struct Params {
    pub vars: BTreeMap<String, Var>,
}

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

/// Biases and norm scales get no weight decay (GPT-2/nanoGPT practice): everything 1-D.
pub fn decays(name: &str, shape: &[usize]) -> bool {
    let _ = name;
    shape.len() >= 2
}

impl Params {
    /// GPT-2's initialisation (`GPT2PreTrainedModel._init_weights`): weights and embeddings
    /// N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)), biases 0, norm scales 1.
    /// Drawn from our seeded generator, so the same seed gives the same model on any device.
    pub fn init(cfg: &Config, seed: u64, dev: &Device) -> Result<Params> {
        let mut rng = Rng::derive(seed, "gpt-init", 0);
        let std = cfg.initializer_range;
        let proj_std = std / (2.0 * cfg.n_layer as f64).sqrt();
        let mut vars = BTreeMap::new();
        for (name, shape) in shapes(cfg) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.contains("ln_") {
                vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
            } else if name.ends_with("bias") {
                vec![0.0; n]
            } else {
                let s = if name.ends_with("c_proj.weight") {
                    proj_std
                } else {
                    std
                };
                (0..n).map(|_| (normal(&mut rng) * s) as f32).collect()
            };
            let t = Tensor::from_vec(data, shape, dev)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
        Ok(Params { vars })
    }

    /// Reads a safetensors file (ours or the Hub's) for `cfg`, converting to `dtype`.
    pub fn load(path: &Path, cfg: &Config, dtype: DType, dev: &Device) -> Result<Params> {
        let mut raw = candle_core::safetensors::load(path, dev).map_err(|e| Error::Invalid {
            what: format!("{}: cannot read weights: {e}", path.display()),
            hint: "the file is damaged or not safetensors; delete the checkpoint and rerun".into(),
        })?;
        let mut vars = BTreeMap::new();
        for (name, shape) in shapes(cfg) {
            let short = name
                .strip_prefix("transformer.")
                .unwrap_or(&name)
                .to_string();
            let t = raw
                .remove(&name)
                .or_else(|| raw.remove(&short))
                .ok_or_else(|| Error::Invalid {
                    what: format!("{}: tensor `{name}` is missing", path.display()),
                    hint: "the weights do not match config.json (wrong model type or size?)".into(),
                })?;
            if t.dims() != shape.as_slice() {
                return Err(Error::Invalid {
                    what: format!(
                        "{}: tensor `{name}` has shape {:?}, config.json says {shape:?}",
                        path.display(),
                        t.dims()
                    ),
                    hint: "the weights do not match config.json".into(),
                });
            }
            vars.insert(name, Var::from_tensor(&t.to_dtype(dtype)?)?);
        }
        Ok(Params { vars })
    }

    /// Writes the weights in the Hugging Face layout (no `lm_head.weight`: it is tied).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: Vec<(&str, &Tensor)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_tensor()))
            .collect();
        save_safetensors(path, tensors)
    }

    /// The model, sharing these variables (gradients flow back into them).
    pub fn model(&self, cfg: &Config) -> Result<Gpt2> {
        self.build(cfg, |v| v.as_tensor().clone())
    }

    /// A model over detached views of the weights: no autograd graph is recorded, which is
    /// what scoring and generation want (less memory, no bookkeeping).
    pub fn frozen_model(&self, cfg: &Config) -> Result<Gpt2> {
        self.build(cfg, |v| v.as_tensor().detach())
    }

    fn build(&self, cfg: &Config, view: impl Fn(&Var) -> Tensor) -> Result<Gpt2> {
        let (dtype, dev) = self.dtype_device();
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), view(v)))
            .collect();
        Ok(Gpt2::load(VarBuilder::from_tensors(map, dtype, &dev), cfg)?)
    }

    fn dtype_device(&self) -> (DType, Device) {
        let v = self.vars.values().next().expect("a model has parameters");
        (v.dtype(), v.device().clone())
    }

    pub fn count(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Writes named tensors as safetensors, atomically, with `{"format": "pt"}` metadata (what
/// `transformers` checks before loading).
pub fn save_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<()> {
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::tensor::serialize(tensors, Some(meta)).map_err(|e| Error::Invalid {
            what: format!("{}: cannot serialise tensors: {e}", path.display()),
            hint: "this is a bug; please report it".into(),
        })?;
    crate::fsutil::write_atomic(path, &bytes)
}
