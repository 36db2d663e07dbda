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
    /// Key/value heads: `n_head` for multi-head attention, fewer for grouped-query attention
    /// (query head j reads key/value head j / (n_head / n_kv)).
    n_kv: usize,
    scale: f32,
    /// Attention probabilities (b, h, t, t), zero above the diagonal, saved for the backward.
    probs: OnceLock<Vec<f32>>,
}

/// Where one batch row's heads sit in `qkv` (b, t, (h + 2 kv) d): row stride and the column
/// offsets of query head `j`, and key and value head `g`.
#[derive(Clone, Copy)]
struct Cols {
    width: usize,
    d: usize,
    h: usize,
    kv: usize,
}

impl Cols {
    fn q(self, j: usize) -> usize {
        j * self.d
    }
    fn k(self, g: usize) -> usize {
        (self.h + g) * self.d
    }
    fn v(self, g: usize) -> usize {
        (self.h + self.kv + g) * self.d
    }
}

impl CausalAttention {
    /// (batch, positions, columns) from the qkv dims (b, t, (h + 2 kv) d).
    fn dims(&self, dims: &[usize]) -> Result<(usize, usize, Cols)> {
        let &[b, t, width] = dims else {
            candle_core::bail!("attention: qkv must be (b, t, (h + 2kv) d), got {dims:?}")
        };
        let (h, kv) = (self.n_head, self.n_kv);
        let heads = h + 2 * kv;
        if kv == 0 || h % kv != 0 || width % heads != 0 {
            candle_core::bail!(
                "attention: width {width} does not split into {h} query and {kv} key/value heads"
            );
        }
        let d = width / heads;
        Ok((b, t, Cols { width, d, h, kv }))
    }
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = slice(s, l)?;
        let (b, t, cols) = self.dims(l.dims())?;
        let (h, d, w) = (self.n_head, cols.d, cols.width);
        let (c, rep) = (h * d, h / self.n_kv);
        let mut probs = vec![0f32; b * h * t * t];
        let fill = |yp: SendPtr| {
            probs
                .par_chunks_mut(t * t)
                .enumerate()
                .for_each(|(task, p)| {
                    let (bi, hi) = (task / h, task % h);
                    let row = bi * t * w;
                    let q = Mat::rows(qkv, row + cols.q(hi), t, d, w);
                    let k = Mat::rows(qkv, row + cols.k(hi / rep), t, d, w);
                    let v = Mat::rows(qkv, row + cols.v(hi / rep), t, d, w);
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

    /// One task per (batch row, key/value head): its query heads one after another, each
    /// adding its share to the group's dk and dv (so no two tasks write the same columns).
    fn bwd(&self, qkv: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let (b, t, cols) = self.dims(qkv.dims())?;
        let (h, kv, d, w) = (self.n_head, self.n_kv, cols.d, cols.width);
        let (c, rep) = (h * d, h / kv);
        let probs = self
            .probs
            .get()
            .ok_or_else(|| candle_core::Error::Msg("attention: backward before forward".into()))?;
        let dqkv = with_slice(qkv, |qkv| {
            with_slice(dy, |dy| {
                let fill = |dp: SendPtr| {
                    (0..b * kv).into_par_iter().for_each(|task| {
                        let (bi, gi) = (task / kv, task % kv);
                        let row = bi * t * w;
                        let k = Mat::rows(qkv, row + cols.k(gi), t, d, w);
                        let v = Mat::rows(qkv, row + cols.v(gi), t, d, w);
                        let mut ds = vec![0f32; t * t];
                        for hi in gi * rep..(gi + 1) * rep {
                            let p = &probs[(bi * h + hi) * t * t..(bi * h + hi + 1) * t * t];
                            let q = Mat::rows(qkv, row + cols.q(hi), t, d, w);
                            let g = Mat::rows(dy, bi * t * c + hi * d, t, d, c);
                            let pm = Mat::rows(p, 0, t, t, t);
                            let acc = hi > gi * rep; // the group's first head writes dk, dv
                                                     // SAFETY: ds is local; dq's block is this head's, dk's and dv's
                                                     // this task's group's: disjoint column blocks of dqkv (b, t, w).
                            unsafe {
                                // dP (t, t) = dY vᵀ, then dS in place.
                                gemm(t, t, d, ds.as_mut_ptr(), t, false, g, v.t(), false);
                                causal_softmax_bwd(&mut ds, p, t, self.scale);
                                let dsm = Mat::rows(&ds, 0, t, t, t);
                                let at = |col: usize| dp.get().add(row + col);
                                gemm(t, d, t, at(cols.q(hi)), w, false, dsm, k, false); // dq = dS k
                                gemm(t, d, t, at(cols.k(gi)), w, acc, dsm.t(), q, false); // dk += dSᵀ q
                                gemm(t, d, t, at(cols.v(gi)), w, acc, pm.t(), g, false);
                                // dv += Pᵀ dY
                            }
                        }
                    });
                };
                // SAFETY: the (b, kv) tasks' dq, dk, dv column blocks tile dqkv completely.
                unsafe { filled(b * t * w, fill) }
            })
        })??;
        Ok(Some(tensor(dqkv, qkv.dims())?))
    }
}

/// Causal self-attention of f32 `qkv` (b, t, 3c) laid out `[q | k | v]` with `n_head` heads
/// each; returns (b, t, c) with heads side by side (what `c_proj` takes).
pub fn causal_attention(qkv: &Tensor, n_head: usize, scale: f64) -> Result<Tensor> {
    grouped_causal_attention(qkv, n_head, n_head, scale)
}

/// Grouped-query causal attention of f32 `qkv` (b, t, (h + 2 kv) d) laid out `[q | k | v]`
/// with `n_head` query heads and `n_kv` key/value heads (each serving n_head / n_kv query
/// heads, Llama's GQA); returns (b, t, h d). The key/value heads are read in place, not
/// repeated for their groups.
pub fn grouped_causal_attention(
    qkv: &Tensor,
    n_head: usize,
    n_kv: usize,
    scale: f64,
) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(CausalAttention {
        n_head,
        n_kv,
        scale: scale as f32,
        probs: OnceLock::new(),
    })
}
