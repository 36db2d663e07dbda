//! Softmax and cross-entropy over the last dimension as single ops.
//!
//! Cross-entropy is the one to care about: its input is the (tokens, vocab) logits, the
//! largest tensor of a step (64 MB at 2048 tokens × 8192). Composed, it takes nine passes
//! forward and about twenty backward over it; fused, the forward reads it once (row max, then
//! log-sum-exp, with the row in cache) and the backward writes `softmax − onehot` in one pass,
//! reusing the log-sum-exp saved by the forward.

use super::{chunk_rows, dot, exp, max, multiversion, out, slice, sum_map, tensor, with_slice};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

multiversion! {
    /// `max + ln Σ e^(x − max)` of a row.
    pub(crate) fn logsumexp(row: &[f32]) -> f32 {
        let max = max(row);
        max + sum_map(row, |x| exp(x - max)).ln()
    }
}

multiversion! {
    /// `d = e^(x − shift) · scale`, elementwise.
    pub(crate) fn exp_scaled(d: &mut [f32], x: &[f32], shift: f32, scale: f32) {
        for (d, &x) in d.iter_mut().zip(x) {
            *d = exp(x - shift) * scale;
        }
    }
}

multiversion! {
    /// `d = e^(d − shift) · scale`, elementwise in place.
    pub(crate) fn exp_scaled_in_place(d: &mut [f32], shift: f32, scale: f32) {
        d.iter_mut().for_each(|d| *d = exp(*d - shift) * scale);
    }
}

multiversion! {
    /// Softmax of the rows (of `v`) of `x` into `y`.
    fn softmax_rows(y: &mut [f32], x: &[f32], v: usize) {
        for (yr, xr) in y.chunks_mut(v).zip(x.chunks(v)) {
            let max = max(xr);
            for (y, &x) in yr.iter_mut().zip(xr) {
                // e^-inf is exactly 0 (masked positions), which `exp` does not give.
                *y = if x == f32::NEG_INFINITY {
                    0.0
                } else {
                    exp(x - max)
                };
            }
            let inv = 1.0 / sum_map(yr, |y| y);
            yr.iter_mut().for_each(|y| *y *= inv);
        }
    }
}

multiversion! {
    /// Softmax backward of rows: `dx = y ⊙ (g − Σ g ⊙ y)`.
    fn softmax_bwd_rows(dx: &mut [f32], y: &[f32], g: &[f32], v: usize) {
        for ((dr, yr), gr) in dx.chunks_mut(v).zip(y.chunks(v)).zip(g.chunks(v)) {
            let dot = dot(yr, gr);
            for ((d, &y), &g) in dr.iter_mut().zip(yr).zip(gr) {
                *d = y * (g - dot);
            }
        }
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let v = *l.dims().last().unwrap_or(&1);
        let mut y = vec![0f32; x.len()];
        let rows = chunk_rows(x.len() / v.max(1), 8) * v;

        y.par_chunks_mut(rows)
            .zip(x.par_chunks(rows))
            .for_each(|(yc, xc)| softmax_rows(yc, xc, v));
        Ok(out(y, l.dims()))
    }

    /// `dx = y ⊙ (g − Σ g ⊙ y)` per row.
    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let v = y.dim(candle_core::D::Minus1)?;
        let dx = with_slice(y, |y| {
            with_slice(g, |g| {
                let mut dx = vec![0f32; y.len()];
                let rows = chunk_rows(y.len() / v.max(1), 8) * v;

                dx.par_chunks_mut(rows)
                    .zip(y.par_chunks(rows).zip(g.par_chunks(rows)))
                    .for_each(|(dc, (yc, gc))| softmax_bwd_rows(dc, yc, gc, v));
                dx
            })
        })??;
        Ok(Some(tensor(dx, y.dims())?))
    }
}

/// Softmax over the last dimension of contiguous f32 `x`; `-inf` entries give exact zeros.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

struct CrossEntropy {
    targets: Vec<u32>,
    /// Per-row log-sum-exp, saved by the forward for the backward.
    lse: OnceLock<Vec<f32>>,
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (n, v) = l.shape().dims2()?;
        if n != self.targets.len() {
            candle_core::bail!("cross-entropy: {n} rows, {} targets", self.targets.len());
        }
        if let Some(&t) = self.targets.iter().find(|&&t| t as usize >= v) {
            candle_core::bail!("cross-entropy: target {t} out of range for {v} classes");
        }
        let lse: Vec<f32> = x.par_chunks(v).with_min_len(8).map(logsumexp).collect();
        // Summed in f64: 2048 terms of ~9 each would lose digits in f32.
        let loss: f64 = lse
            .iter()
            .zip(&self.targets)
            .enumerate()
            .map(|(i, (&l, &t))| (l - x[i * v + t as usize]) as f64)
            .sum();
        let _ = self.lse.set(lse);
        Ok(out(vec![(loss / n as f64) as f32], &[]))
    }

    /// `d logits = (softmax − onehot(target)) · g / n`.
    fn bwd(&self, x: &Tensor, _loss: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let (n, v) = x.dims2()?;
        let scale = g.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / n as f32;
        let lse = self.lse.get().ok_or_else(|| {
            candle_core::Error::Msg("cross-entropy: backward before forward".into())
        })?;
        let dx = with_slice(x, |x| {
            let mut dx = vec![0f32; x.len()];

            dx.par_chunks_mut(v)
                .zip(x.par_chunks(v))
                .enumerate()
                .with_min_len(8)
                .for_each(|(i, (dr, xr))| {
                    exp_scaled(dr, xr, lse[i], scale);
                    dr[self.targets[i] as usize] -= scale;
                });
            dx
        })?;
        Ok(Some(tensor(dx, &[n, v])?))
    }
}

/// Mean cross-entropy of f32 `logits` (n, v) against `targets` (n,) u32.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.flatten_all()?.to_vec1::<u32>()?;
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets,
        lse: OnceLock::new(),
    })
}
