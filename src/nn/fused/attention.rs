//! Causal multi-head attention from the fused `qkv` projection, as one op.
//!
//! Composed, attention splits `qkv` into three head-major copies, multiplies, scales, adds
//! the mask, runs a five-op softmax, multiplies again and copies back to token-major order;
//! candle differentiates each step separately. Here each (batch row, head) pair is one rayon
//! task that reads its q, k, v columns in place from `qkv` (b, t, 3c) by stride, computes
//! `P = softmax(q kᵀ · scale)` over the causal positions only, and writes `P v` into its
//! columns of the output (b, t, c). `P` is kept for the backward, which computes
//! `dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale` and writes `dq, dk, dv` straight into the
//! columns of `d qkv`. Training only: generation with a KV cache uses the composed path.

use super::{
    dot, exp, filled, gemm, max, multiversion, out, slice, sum_map, tensor, with_slice, Mat,
    SendPtr,
};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

multiversion! {
    /// Scores `p` (t, t) to causal probabilities: row i is `softmax(p[i, ..=i] · scale)`,
    /// zeros after.
    fn causal_softmax(p: &mut [f32], t: usize, scale: f32) {
        for (i, row) in p.chunks_mut(t).enumerate() {
            let seen = &mut row[..=i];
            let max = max(seen);
            seen.iter_mut().for_each(|s| *s = exp((*s - max) * scale));
            let inv = 1.0 / sum_map(seen, |s| s);
            seen.iter_mut().for_each(|s| *s *= inv);
            row[i + 1..].iter_mut().for_each(|s| *s = 0.0);
        }
    }
}

multiversion! {
    /// `dP` (t, t) in `ds` to `dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale`, causal part only.
    fn causal_softmax_bwd(ds: &mut [f32], p: &[f32], t: usize, scale: f32) {
        for i in 0..t {
            let (pr, dr) = (&p[i * t..=i * t + i], &mut ds[i * t..(i + 1) * t]);
            let dot = dot(pr, dr);
            for (d, &p) in dr.iter_mut().zip(pr) {
                *d = p * (*d - dot) * scale;
            }
            dr[i + 1..].iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

struct CausalAttention {
    n_head: usize,
    scale: f32,
    /// Attention probabilities (b, h, t, t), zero above the diagonal, saved for the backward.
    probs: OnceLock<Vec<f32>>,
}

impl CausalAttention {
    /// (batch, positions, width, head width) from the qkv dims (b, t, 3c).
    fn dims(&self, dims: &[usize]) -> Result<(usize, usize, usize, usize)> {
        let &[b, t, c3] = dims else {
            candle_core::bail!("attention: qkv must be (b, t, 3c), got {dims:?}")
        };
        let c = c3 / 3;
        if c3 % 3 != 0 || c % self.n_head != 0 {
            candle_core::bail!("attention: width {c3} does not split into q, k, v heads");
        }
        Ok((b, t, c, c / self.n_head))
    }
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = slice(s, l)?;
        let (b, t, c, d) = self.dims(l.dims())?;
        let h = self.n_head;
        let mut probs = vec![0f32; b * h * t * t];
        let fill = |yp: SendPtr| {
            probs
                .par_chunks_mut(t * t)
                .enumerate()
                .for_each(|(task, p)| {
                    let (bi, hi) = (task / h, task % h);
                    let base = bi * t * 3 * c + hi * d;
                    let q = Mat::rows(qkv, base, t, d, 3 * c);
                    let k = Mat::rows(qkv, base + c, t, d, 3 * c);
                    let v = Mat::rows(qkv, base + 2 * c, t, d, 3 * c);
                    // SAFETY: p is this task's (t, t); q, k, v are bounds-checked views.
                    unsafe { gemm(t, t, d, p.as_mut_ptr(), t, false, q, k.t(), false) };
                    causal_softmax(p, t, self.scale);
                    // SAFETY: each task writes only its own (rows of bi, columns of hi) block
                    // of y (b, t, c); blocks of different tasks are disjoint.
                    unsafe {
                        let dst = yp.get().add(bi * t * c + hi * d);
                        gemm(t, d, t, dst, c, false, Mat::rows(p, 0, t, t, t), v, false);
                    }
                })
        };
        // SAFETY: the (b, h) tasks' column blocks of y tile it completely.
        let y = unsafe { filled(b * t * c, fill) };
        let _ = self.probs.set(probs);
        Ok(out(y, &[b, t, c]))
    }

    fn bwd(&self, qkv: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let (b, t, c, d) = self.dims(qkv.dims())?;
        let h = self.n_head;
        let probs = self
            .probs
            .get()
            .ok_or_else(|| candle_core::Error::Msg("attention: backward before forward".into()))?;
        let dqkv = with_slice(qkv, |qkv| {
            with_slice(dy, |dy| {
                let fill = |dp: SendPtr| {
                    probs.par_chunks(t * t).enumerate().for_each(|(task, p)| {
                        let (bi, hi) = (task / h, task % h);
                        let base = bi * t * 3 * c + hi * d;
                        let q = Mat::rows(qkv, base, t, d, 3 * c);
                        let k = Mat::rows(qkv, base + c, t, d, 3 * c);
                        let v = Mat::rows(qkv, base + 2 * c, t, d, 3 * c);
                        let g = Mat::rows(dy, bi * t * c + hi * d, t, d, c);
                        let pm = Mat::rows(p, 0, t, t, t);
                        let mut ds = vec![0f32; t * t];
                        // SAFETY: ds is local; the three outputs are this task's disjoint
                        // column blocks of dqkv (b, t, 3c).
                        unsafe {
                            // dP (t, t) = dY vᵀ, then dS in place.
                            gemm(t, t, d, ds.as_mut_ptr(), t, false, g, v.t(), false);
                            causal_softmax_bwd(&mut ds, p, t, self.scale);
                            let dsm = Mat::rows(&ds, 0, t, t, t);
                            let at = |off: usize| dp.get().add(bi * t * 3 * c + off + hi * d);
                            gemm(t, d, t, at(0), 3 * c, false, dsm, k, false); // dq = dS k
                            gemm(t, d, t, at(c), 3 * c, false, dsm.t(), q, false); // dk = dSᵀ q
                            gemm(t, d, t, at(2 * c), 3 * c, false, pm.t(), g, false);
                            // dv = Pᵀ dY
                        }
                    });
                };
                // SAFETY: the (b, h) tasks' dq, dk, dv column blocks tile dqkv completely.
                unsafe { filled(b * t * 3 * c, fill) }
            })
        })??;
        Ok(Some(tensor(dqkv, qkv.dims())?))
    }
}

/// Causal self-attention of f32 `qkv` (b, t, 3c) laid out `[q | k | v]` with `n_head` heads
/// each; returns (b, t, c) with heads side by side (what `c_proj` takes).
pub fn causal_attention(qkv: &Tensor, n_head: usize, scale: f64) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(CausalAttention {
        n_head,
        scale: scale as f32,
        probs: OnceLock::new(),
    })
}
