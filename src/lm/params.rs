//! A model's parameters as named, trainable variables in a fixed order, read from and written
//! to the Hugging Face safetensors layout.
//!
//! Names are the architecture's Hugging Face state-dict names ([`Arch::shapes`]); a Hub
//! checkpoint may store them under other names ([`Arch::aliases`]) and carry buffers we do
//! not train, which [`Params::load`] ignores. The order (sorted by name) is what optimizer
//! state and fixtures rely on. Each architecture's random initialisation lives beside its
//! model (`models/<arch>/params.rs`).

use super::Arch;
use crate::error::{Error, Result};
use crate::nn::safetensors::read_tensors;
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The named variables of one model.
pub struct Params {
    pub vars: BTreeMap<String, Var>,
}

/// Biases and norm scales get no weight decay (GPT-2/nanoGPT practice): everything 1-D.
pub fn decays(name: &str, shape: &[usize]) -> bool {
    let _ = name;
    shape.len() >= 2
}

impl Params {
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
        crate::nn::safetensors::save_safetensors(path, tensors)
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
