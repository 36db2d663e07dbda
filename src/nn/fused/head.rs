//! The tied output head and the cross-entropy loss as one op: `loss(h (n, c), wte (v, c))`.
//!
//! Why one op: the logits (n, v) are the largest tensor of a training step (64 MB at
//! 2048 tokens × 8192, 400 MB at GPT-2's 50257), and every tensor candle's autograd passes
//! a gradient through is copied once more (it adds each gradient to a fresh zero tensor).
//! Here the logits live only inside the op: the forward multiplies, saves them and the row
//! log-sum-exps; the backward turns them in place into `(softmax − onehot) · g / n` and
//! multiplies that by `wte` and `h` (gemm reads the transposes by stride). The gradient of the
//! logits never becomes a tensor.

use super::linear::weight_grad;
use super::softmax::{exp_scaled_in_place, logsumexp};
use super::{out, slice, tensor, with_slice, Mat};
use crate::nn::precision::Products;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

struct HeadLoss {
    targets: Vec<u32>,
    /// f32 or bf16 (`--precision`), fixed when the op is built.
    products: Products,
    /// The forward's logits (n, v) and per-row log-sum-exp, taken by the backward.
    saved: Mutex<Option<(Vec<f32>, Vec<f32>)>>,
}

impl CustomOp2 for HeadLoss {
    fn name(&self) -> &'static str {
        "fused-lm-head-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (h, w) = (slice(hs, hl)?, slice(ws, wl)?);
        let (n, c) = hl.shape().dims2()?;
        let (v, _) = wl.shape().dims2()?;
        if n != self.targets.len() {
            candle_core::bail!("lm head loss: {n} rows, {} targets", self.targets.len());
        }
        if let Some(&t) = self.targets.iter().find(|&&t| t as usize >= v) {
            candle_core::bail!("lm head loss: target {t} out of range for vocabulary {v}");
        }
        // SAFETY: h (n, c) and wte (v, c) are bounds-checked views of live slices.
        let logits = unsafe {
            self.products.weight_product(
                true, // wteᵀ
                (n, v, c),
                Mat::rows(h, 0, n, c, c),
                Mat::rows(w, 0, v, c, c).t(),
            )
        }; // (n, v)
        let lse: Vec<f32> = logits
            .par_chunks(v)
            .with_min_len(4)
            .map(logsumexp)
            .collect();
        // Summed in f64: thousands of terms near ln(v) would lose digits in f32.
        let loss: f64 = (0..n)
            .map(|i| (lse[i] - logits[i * v + self.targets[i] as usize]) as f64)
            .sum();
        *self.saved.lock().expect("not poisoned") = Some((logits, lse));
        Ok(out(vec![(loss / n as f64) as f32], &[]))
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        _loss: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, c) = h.dims2()?;
        let (v, _) = w.dims2()?;
        let scale = g.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / n as f32;
        let (mut d, lse) = self
            .saved
            .lock()
            .expect("not poisoned")
            .take()
            .ok_or_else(|| candle_core::Error::Msg("lm head loss: backward twice".into()))?;

        d.par_chunks_mut(v)
            .enumerate()
            .with_min_len(4)
            .for_each(|(i, row)| {
                exp_scaled_in_place(row, lse[i], scale);
                row[self.targets[i] as usize] -= scale;
            });
        let (dh, dw) = with_slice(h, |h| {
            with_slice(w, |w| {
                let dm = Mat::rows(&d, 0, n, v, v);
                let (wm, hm) = (Mat::rows(w, 0, v, c, c), Mat::rows(h, 0, n, c, c));
                // SAFETY: the operands are bounds-checked views of live slices.
                // dh (n, c) = D (n, v) · wte (v, c); dwte (v, c) = Dᵀ (v, n) · h (n, c)
                let p = &self.products;
                unsafe {
                    (
                        p.weight_product(false, (n, c, v), dm, wm),
                        p.product((v, c, n), dm.t(), hm),
                    )
                }
            })
        })??;
        Ok((Some(tensor(dh, &[n, c])?), weight_grad(w, dw)?))
    }
}

/// Mean next-token cross-entropy of `h` (n, c) through the tied head `wte` (v, c) against
/// `targets` (n,) u32: `cross_entropy(h wteᵀ, targets)` without the logits as a tensor.
pub fn lm_head_loss(h: &Tensor, wte: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.flatten_all()?.to_vec1::<u32>()?;
    h.contiguous()?.apply_op2(
        &wte.contiguous()?,
        HeadLoss {
            targets,
            products: Products::for_weight(wte),
            saved: Mutex::new(None),
        },
    )
}
