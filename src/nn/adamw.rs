//! AdamW (Loshchilov & Hutter 2019) exactly as `torch.optim.AdamW` computes it, with
//! parameter groups (decay or not) and global-norm gradient clipping as
//! `torch.nn.utils.clip_grad_norm_`.
//!
//! Per parameter, at step t with learning rate lr:
//! `p ← p − lr·wd·p` (decay group only), `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
//! `p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)`.
//! The moments are state: they are saved with a training checkpoint so a resumed run continues
//! the same trajectory. On the CPU the update is one fused in-place pass per parameter
//! ([`crate::nn::fused::adamw`]), with the same arithmetic.

use crate::error::{Error, Result};
use crate::nn::fused::{
    self,
    adamw::{adamw_update, sum_squares, AdamHyper},
};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Hyper-parameters (PyTorch's names and defaults, except weight decay: GPT practice is 0.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            // 0.95 rather than PyTorch's 0.999: steadier for transformers trained from scratch
            // (GPT-3, nanoGPT).
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// One parameter and its moments.
struct Slot {
    name: String,
    var: Var,
    decay: bool,
    m: Tensor,
    v: Tensor,
}

/// The optimizer: parameters in a fixed order with their moments and the step count.
pub struct AdamW {
    slots: Vec<Slot>,
    pub cfg: AdamWConfig,
    /// Steps taken so far (the `t` of the bias corrections).
    pub step: u64,
}

/// A zero moment like `var`. On the CPU the zeros are written, not just allocated: freshly
/// allocated zeros are the kernel's shared zero page until first written, and the first
/// update reads each moment before writing it, so every page took a second fault with a TLB
/// flush on every core (measured: about 3 s of the first OPT-125m step, on 2 cores).
fn moment(var: &Var) -> candle_core::Result<Tensor> {
    if !(var.device().is_cpu() && var.dtype() == candle_core::DType::F32) {
        return var.zeros_like();
    }
    let mut zeros: Vec<f32> = Vec::with_capacity(var.elem_count());
    // A fill value the compiler cannot see, so it cannot turn the writes back into a zeroed
    // allocation.
    zeros.resize(var.elem_count(), std::hint::black_box(0.0));
    Tensor::from_vec(zeros, var.shape(), var.device())
}

impl AdamW {
    /// `params`: (name, variable, gets weight decay), in a fixed order.
    pub fn new(params: Vec<(String, Var, bool)>, cfg: AdamWConfig) -> Result<AdamW> {
        let slots = params
            .into_iter()
            .map(|(name, var, decay)| {
                let (m, v) = (moment(&var)?, moment(&var)?);
                Ok(Slot {
                    name,
                    var,
                    decay,
                    m,
                    v,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW {
            slots,
            cfg,
            step: 0,
        })
    }

    /// Applies one update with learning rate `lr`. Parameters without a gradient are left
    /// alone (as PyTorch does for `p.grad is None`).
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step_clipped(grads, lr, 1.0)
    }

    /// [`AdamW::step`] on the gradients times `scale`: with [`grad_norm`]'s factor, what
    /// [`clip_grad_norm`] then `step` compute, without writing the scaled gradients out first
    /// (on the CPU the factor is applied inside the update's one pass).
    pub fn step_clipped(&mut self, grads: &GradStore, lr: f64, scale: f64) -> Result<()> {
        // Packs of frozen views of these weights would be stale after the update.
        crate::nn::precision::forget_frozen_packs();
        self.step += 1;
        let c = &self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            let p = s.var.as_tensor();
            if [p, g, &s.m, &s.v].iter().all(|t| fused::usable(t)) && p.is_contiguous() {
                // One in-place pass instead of ten tensor ops (same arithmetic).
                let decay = if s.decay {
                    1.0 - lr * c.weight_decay
                } else {
                    1.0
                };
                let h = AdamHyper {
                    decay: decay as f32,
                    beta1: c.beta1 as f32,
                    beta2: c.beta2 as f32,
                    one_minus_beta1: (1.0 - c.beta1) as f32,
                    one_minus_beta2: (1.0 - c.beta2) as f32,
                    inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
                    eps: c.eps as f32,
                    step_size: (lr / bc1) as f32,
                    grad_scale: scale as f32,
                };
                adamw_update(p, &s.m, &s.v, g, h)?;
                continue;
            }
            let scaled;
            let g = if scale == 1.0 {
                g
            } else {
                scaled = (g * scale)?;
                &scaled
            };
            let mut p = s.var.as_tensor().detach();
            if s.decay && c.weight_decay != 0.0 {
                p = p.affine(1.0 - lr * c.weight_decay, 0.0)?;
            }
            s.m = ((&s.m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            s.v = ((&s.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((s.v.sqrt()? / bc2.sqrt())? + c.eps)?;
            let update = (s.m.div(&denom)? * (lr / bc1))?;
            s.var.set(&(p - update)?)?;
        }
        Ok(())
    }

    /// Saves the moments (`m.<name>`, `v.<name>`) as safetensors.
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let names: Vec<(String, &Tensor)> = self
            .slots
            .iter()
            .flat_map(|s| {
                [
                    (format!("m.{}", s.name), &s.m),
                    (format!("v.{}", s.name), &s.v),
                ]
            })
            .collect();
        crate::nn::safetensors::save_safetensors(path, names.iter().map(|(n, t)| (n.as_str(), *t)))
    }

    /// Restores moments saved by [`AdamW::save_state`]; `step` is restored by the caller.
    pub fn load_state(&mut self, path: &Path, dev: &Device) -> Result<()> {
        let mut map: HashMap<String, Tensor> = candle_core::safetensors::load(path, dev)?;
        for s in &mut self.slots {
            for (kind, slot) in [("m", &mut s.m), ("v", &mut s.v)] {
                let key = format!("{kind}.{}", s.name);
                let t = map.remove(&key).ok_or_else(|| Error::Invalid {
                    what: format!("{}: optimizer state lacks `{key}`", path.display()),
                    hint:
                        "the training checkpoint is damaged; delete it to restart this generation"
                            .into(),
                })?;
                *slot = t.to_dtype(slot.dtype())?;
            }
        }
        Ok(())
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm` (when `max_norm > 0`);
/// returns the norm before clipping, as `clip_grad_norm_` does.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let (norm, coef) = grad_norm(grads, vars, max_norm)?;
    if coef != 1.0 {
        for v in vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), (g * coef)?);
            }
        }
    }
    Ok(norm)
}

/// The gradients' global L2 norm and the factor [`clip_grad_norm`] scales them by (1 when the
/// norm is within `max_norm`, or `max_norm ≤ 0`), for [`AdamW::step_clipped`].
pub fn grad_norm(grads: &GradStore, vars: &[Var], max_norm: f64) -> Result<(f64, f64)> {
    let mut total = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            if fused::usable(g) {
                total += sum_squares(g)?;
                continue;
            }
            total += g
                .sqr()?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = total.sqrt();
    let coef = max_norm / (norm + 1e-6);
    Ok((
        norm,
        if max_norm > 0.0 && coef < 1.0 {
            coef
        } else {
            1.0
        },
    ))
}

/// Linear warmup to `peak` over `warmup` steps, then cosine decay to `min` at `total` steps
/// (nanoGPT's schedule; `lr(step)` for 0-based steps, constant `min` after `total`).
pub fn warmup_cosine(step: u64, warmup: u64, total: u64, peak: f64, min: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    if step >= total {
        return min;
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    min + 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) * (peak - min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_matches_the_pytorch_formula() {
        let dev = Device::Cpu;
        let w = Var::new(&[[1f32, -2.0]], &dev).unwrap();
        let b = Var::new(&[0.5f32], &dev).unwrap();
        let mut opt = AdamW::new(
            vec![
                ("w".into(), w.clone(), true),
                ("b".into(), b.clone(), false),
            ],
            AdamWConfig::default(),
        )
        .unwrap();
        // loss = sum(w * [3, 4]) + 2b → g_w = [3, 4], g_b = 2
        let loss = (w
            .as_tensor()
            .broadcast_mul(&Tensor::new(&[[3f32, 4.0]], &dev).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            + (b.as_tensor() * 2.0).unwrap().sum_all().unwrap())
        .unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        // Step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g|+eps) = ±lr; decay first for w.
        let got = w
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want = [
            1.0 * (1.0 - 0.1 * 0.1) - 0.1,
            -2.0 * (1.0 - 0.1 * 0.1) - 0.1,
        ];
        for (g, e) in got.iter().zip(want) {
            assert!((g - e as f32).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        let bias = b.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((bias - 0.4).abs() < 1e-6, "no decay on biases: {bias}");
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let dev = Device::Cpu;
        let w = Var::new(&[3f32, 4.0], &dev).unwrap();
        let mut g = (w.as_tensor() * w.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .affine(0.5, 0.0)
            .unwrap()
            .backward()
            .unwrap();
        let norm = clip_grad_norm(&mut g, std::slice::from_ref(&w), 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        let clipped = g.get(w.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!((clipped[0] - 0.6).abs() < 1e-5 && (clipped[1] - 0.8).abs() < 1e-5);
    }

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        assert!((warmup_cosine(0, 10, 110, 1.0, 0.1) - 0.1).abs() < 1e-12);
        assert!((warmup_cosine(9, 10, 110, 1.0, 0.1) - 1.0).abs() < 1e-12);
        assert!((warmup_cosine(60, 10, 110, 1.0, 0.1) - 0.55).abs() < 1e-12);
        assert!((warmup_cosine(110, 10, 110, 1.0, 0.1) - 0.1).abs() < 1e-12);
    }
}
