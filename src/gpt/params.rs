//! A GPT's parameters as named, trainable variables in a fixed order, with GPT-2's
//! initialisation and the Hugging Face safetensors layout.
//!
//! Names are `GPT2LMHeadModel` state-dict names. Hub checkpoints of the original GPT-2 store
//! them without the `transformer.` prefix and carry `attn.bias` mask buffers; [`Params::load`]
//! accepts both. The order (sorted by name) is what optimizer state and fixtures rely on.

use super::config::Config;
use super::lm::Arch;
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

    /// Reads the weights of `cfg` from a safetensors file (ours or the Hub's) or a PyTorch
    /// `pytorch_model.bin`, converting to `dtype`. Tensors the config does not name (a tied
    /// `lm_head.weight`, GPT-2's `attn.bias` mask buffers) are ignored.
    pub fn load<A: Arch>(path: &Path, cfg: &A, dtype: DType, dev: &Device) -> Result<Params> {
        let mut raw = read_tensors(path, dev)?;
        let mut vars = BTreeMap::new();
        for (name, shape) in cfg.shapes() {
            let t = std::iter::once(name.clone())
                .chain(cfg.aliases(&name))
                .find_map(|n| raw.remove(&n))
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
    pub fn model<A: Arch>(&self, cfg: &A) -> Result<A::Model> {
        self.build(cfg, |v| v.as_tensor().clone())
    }

    /// A model over detached views of the weights: no autograd graph is recorded, which is
    /// what scoring and generation want (less memory, no bookkeeping).
    pub fn frozen_model<A: Arch>(&self, cfg: &A) -> Result<A::Model> {
        self.build(cfg, |v| v.as_tensor().detach())
    }

    fn build<A: Arch>(&self, cfg: &A, view: impl Fn(&Var) -> Tensor) -> Result<A::Model> {
        let (dtype, dev) = self.dtype_device();
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), view(v)))
            .collect();
        Ok(cfg.build(VarBuilder::from_tensors(map, dtype, &dev))?)
    }

    /// The same weights in another dtype (e.g. f16 for inference on CUDA).
    pub fn to_dtype(&self, dtype: DType) -> Result<Params> {
        let vars = self
            .vars
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    Var::from_tensor(&v.as_tensor().to_dtype(dtype)?)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Params { vars })
    }

    /// Parameters drawn by `draw(name, shape, rng)` from a generator seeded by `(seed, tag)`,
    /// in the order of `shapes`.
    pub fn from_fn(
        shapes: Vec<(String, Vec<usize>)>,
        seed: u64,
        tag: &str,
        dev: &Device,
        mut draw: impl FnMut(&str, usize, &mut Rng) -> Vec<f32>,
    ) -> Result<Params> {
        let mut rng = Rng::derive(seed, tag, 0);
        let mut vars = BTreeMap::new();
        for (name, shape) in shapes {
            let n: usize = shape.iter().product();
            let t = Tensor::from_vec(draw(&name, n, &mut rng), shape, dev)?;
            vars.insert(name, Var::from_tensor(&t)?);
        }
        Ok(Params { vars })
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
pub fn normal(rng: &mut Rng) -> f64 {
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

/// Every tensor of a `.safetensors` file or a PyTorch `.bin` (zip) state dict, by name.
pub fn read_tensors(path: &Path, dev: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::MissingPath { path: path.into() });
    }
    let torch = path
        .extension()
        .is_some_and(|e| e == "bin" || e == "pt" || e == "pth");
    let read = if torch {
        candle_core::pickle::read_all(path).map(|v| {
            v.into_iter()
                .map(|(k, t)| Ok((k, t.to_device(dev)?)))
                .collect::<candle_core::Result<HashMap<_, _>>>()
        })
    } else {
        candle_core::safetensors::load(path, dev).map(Ok)
    };
    read.and_then(|r| r).map_err(|e| Error::Invalid {
        what: format!("{}: cannot read weights: {e}", path.display()),
        hint: "the file is damaged or not safetensors / a PyTorch state dict; delete it and rerun"
            .into(),
    })
}
