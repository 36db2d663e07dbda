//! Causal multi-head attention from the fused `qkv` projection or separate q, k, v, as one op.
//!
//! Composed, attention splits `qkv` into three head-major copies, multiplies, scales, adds
//! the mask, runs a five-op softmax, multiplies again and copies back to token-major order;
//! candle differentiates each step separately. Here each (batch row, head) pair is one rayon
//! task that reads its q, k, v columns in place from `qkv` (b, t, 3c) by stride, computes
//! `P = softmax(q kᵀ · scale)` over the causal positions only, and writes `P v` into its
//! columns of the output (b, t, c). `P` is kept for the backward, which computes
//! `dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale` and writes `dq, dk, dv` straight into the
//! columns of `d qkv`. Models with separate q, k, v projections (OPT, Llama, Pythia after its
//! rotary) pass the three as they are ([`separate_causal_attention`]): joining them into one
//! tensor would cost a copy forward, and a copy of each part's gradient backward. Training
//! only: generation with a KV cache uses the composed path.

use super::{
    dot, exp, filled, gemm, max, multiversion, out, slice, sum_map, tensor, with_slice, Mat,
    SendPtr,
};
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
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

/// Where the heads of one of q, k, v sit: in which input (0 when `[q | k | v]` is packed in
/// one, else 0, 1, 2), its row stride, and the column of its first head.
#[derive(Clone, Copy)]
struct Part {
    input: usize,
    stride: usize,
    first: usize,
}

impl Part {
    /// Offset of head `j`'s first element in batch row `bi` of `t` positions, heads `d` wide.
    fn at(self, bi: usize, t: usize, j: usize, d: usize) -> usize {
        bi * t * self.stride + self.first + j * d
    }
}

/// The geometry of one call: batch rows, positions, head width, and where q, k, v sit.
#[derive(Clone, Copy)]
struct Heads {
    b: usize,
    t: usize,
    d: usize,
    q: Part,
    k: Part,
    v: Part,
}

impl CausalAttention {
    /// The heads of a packed `qkv` (b, t, (h + 2 kv) d).
    fn packed(&self, dims: &[usize]) -> Result<Heads> {
        let &[b, t, width] = dims else {
            candle_core::bail!("attention: qkv must be (b, t, (h + 2kv) d), got {dims:?}")
        };
        let (h, kv) = (self.n_head, self.n_kv);
        if kv == 0 || h % kv != 0 || width % (h + 2 * kv) != 0 {
            candle_core::bail!(
                "attention: width {width} does not split into {h} query and {kv} key/value heads"
            );
        }
        let d = width / (h + 2 * kv);
        let part = |first| Part {
            input: 0,
            stride: width,
            first,
        };
        Ok(Heads {
            b,
            t,
            d,
            q: part(0),
            k: part(h * d),
            v: part((h + kv) * d),
        })
    }

    /// The heads of separate q (b, t, h d), k and v (b, t, kv d).
    fn separate(&self, q: &[usize], k: &[usize], v: &[usize]) -> Result<Heads> {
        let (h, kv) = (self.n_head, self.n_kv);
        let (&[b, t, qw], &[kb, kt, kw]) = (q, k) else {
            candle_core::bail!("attention: q, k, v must be (b, t, width), got {q:?}, {k:?}")
        };
        if kv == 0
            || h % kv != 0
            || qw % h != 0
            || (kb, kt) != (b, t)
            || k != v
            || kw * h != qw * kv
        {
            candle_core::bail!(
                "attention: q {q:?}, k {k:?}, v {v:?} do not split into {h} query and {kv} \
                 key/value heads"
            );
        }
        let part = |input, stride| Part {
            input,
            stride,
            first: 0,
        };
        Ok(Heads {
            b,
            t,
            d: qw / h,
            q: part(0, qw),
            k: part(1, kw),
            v: part(2, kw),
        })
    }

    /// `softmax(q kᵀ · scale) v` (b, t, h d), each (batch row, head) one rayon task reading
    /// its q, k, v columns in place; keeps the probabilities for the backward.
    fn forward(&self, inputs: [&[f32]; 3], g: Heads) -> Vec<f32> {
        let (h, rep) = (self.n_head, self.n_head / self.n_kv);
        let (b, t, d) = (g.b, g.t, g.d);
        let c = h * d;
        let mut probs = vec![0f32; b * h * t * t];
        let fill = |yp: SendPtr| {
            probs
                .par_chunks_mut(t * t)
                .enumerate()
                .for_each(|(task, p)| {
                    let (bi, hi) = (task / h, task % h);
                    let view = |part: Part, j| {
                        Mat::rows(inputs[part.input], part.at(bi, t, j, d), t, d, part.stride)
                    };
                    let (q, k, v) = (view(g.q, hi), view(g.k, hi / rep), view(g.v, hi / rep));
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
        y
    }

    /// dq, dk, dv written through `out` (one pointer per input, laid out as the inputs), one
    /// task per (batch row, key/value head): its query heads one after another, each adding
    /// its share to the group's dk and dv (so no two tasks write the same columns). Every
    /// element of the outputs is written.
    fn backward(
        &self,
        probs: &[f32],
        inputs: [&[f32]; 3],
        dy: &[f32],
        g: Heads,
        out: [SendPtr; 3],
    ) {
        let (h, kv) = (self.n_head, self.n_kv);
        let (b, t, d, rep) = (g.b, g.t, g.d, h / kv);
        let c = h * d;
        (0..b * kv).into_par_iter().for_each(|task| {
            let (bi, gi) = (task / kv, task % kv);
            let view = |part: Part, j| {
                Mat::rows(inputs[part.input], part.at(bi, t, j, d), t, d, part.stride)
            };
            // SAFETY (of `at`'s callers): the offsets lie inside the output laid out as its input.
            let at = |part: Part, j| unsafe { out[part.input].get().add(part.at(bi, t, j, d)) };
            let (k, v) = (view(g.k, gi), view(g.v, gi));
            let mut ds = vec![0f32; t * t];
            for hi in gi * rep..(gi + 1) * rep {
                let p = &probs[(bi * h + hi) * t * t..(bi * h + hi + 1) * t * t];
                let q = view(g.q, hi);
                let dyh = Mat::rows(dy, bi * t * c + hi * d, t, d, c);
                let pm = Mat::rows(p, 0, t, t, t);
                // The group's first head writes dk and dv, the others add to them.
                let acc = hi > gi * rep;
                // SAFETY: ds is local; dq's block is this head's, dk's and dv's this task's
                // group's: disjoint column blocks of the outputs.
                unsafe {
                    // dP (t, t) = dY vᵀ, then dS in place.
                    gemm(t, t, d, ds.as_mut_ptr(), t, false, dyh, v.t(), false);
                    causal_softmax_bwd(&mut ds, p, t, self.scale);
                    let dsm = Mat::rows(&ds, 0, t, t, t);
                    let (sq, sk, sv) = (g.q.stride, g.k.stride, g.v.stride);
                    gemm(t, d, t, at(g.q, hi), sq, false, dsm, k, false); // dq = dS k
                    gemm(t, d, t, at(g.k, gi), sk, acc, dsm.t(), q, false); // dk += dSᵀ q
                    gemm(t, d, t, at(g.v, gi), sv, acc, pm.t(), dyh, false); // dv += Pᵀ dY
                }
            }
        });
    }

    /// The forward's probabilities.
    fn probs(&self) -> Result<&[f32]> {
        let p = self.probs.get();
        p.map(|p| p.as_slice())
            .ok_or_else(|| candle_core::Error::Msg("attention: backward before forward".into()))
    }
}

/// Attention on a packed `qkv` (GPT-2's `c_attn`): one input, its gradient one tensor.
struct Packed(CausalAttention);

impl CustomOp1 for Packed {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = slice(s, l)?;
        let g = self.0.packed(l.dims())?;
        let y = self.0.forward([qkv; 3], g);
        Ok(out(y, &[g.b, g.t, self.0.n_head * g.d]))
    }

    fn bwd(&self, qkv: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let (g, probs) = (self.0.packed(qkv.dims())?, self.0.probs()?);
        let dqkv = with_slice(qkv, |qkv| {
            with_slice(dy, |dy| {
                // SAFETY: backward writes every element of d qkv (laid out as qkv).
                unsafe {
                    filled(qkv.len(), |p| {
                        self.0.backward(probs, [qkv; 3], dy, g, [p; 3])
                    })
                }
            })
        })??;
        Ok(Some(tensor(dqkv, qkv.dims())?))
    }
}

/// Attention on separate q, k, v (OPT's, Llama's and Pythia's projections): no joined copy
/// in the forward, and no split of its gradient (a copy per part) in the backward.
struct Separate(CausalAttention);

impl CustomOp3 for Separate {
    fn name(&self) -> &'static str {
        "fused-causal-attention-qkv"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0.separate(ql.dims(), kl.dims(), vl.dims())?;
        let y = self
            .0
            .forward([slice(qs, ql)?, slice(ks, kl)?, slice(vs, vl)?], g);
        Ok(out(y, &[g.b, g.t, self.0.n_head * g.d]))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (g, probs) = (
            self.0.separate(q.dims(), k.dims(), v.dims())?,
            self.0.probs()?,
        );
        let (dq, dk, dv) = with_slice(q, |q| {
            with_slice(k, |k| {
                with_slice(v, |v| {
                    with_slice(dy, |dy| {
                        let mut outs = [q.len(), k.len(), v.len()].map(Vec::<f32>::with_capacity);
                        let ptrs = [0, 1, 2].map(|i| SendPtr(outs[i].as_mut_ptr()));
                        self.0.backward(probs, [q, k, v], dy, g, ptrs);
                        // SAFETY: backward wrote every element of each output.
                        let [mut dq, mut dk, mut dv] = outs;
                        unsafe {
                            dq.set_len(q.len());
                            dk.set_len(k.len());
                            dv.set_len(v.len());
                        }
                        (dq, dk, dv)
                    })
                })
            })
        })????;
        let grad = |d, t: &Tensor| Ok::<_, candle_core::Error>(Some(tensor(d, t.dims())?));
        Ok((grad(dq, q)?, grad(dk, k)?, grad(dv, v)?))
    }
}

fn attention(n_head: usize, n_kv: usize, scale: f64) -> CausalAttention {
    CausalAttention {
        n_head,
        n_kv,
        scale: scale as f32,
        probs: OnceLock::new(),
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
    qkv.contiguous()?
        .apply_op1(Packed(attention(n_head, n_kv, scale)))
}

/// [`grouped_causal_attention`] of separate f32 `q` (b, t, h d), `k` and `v` (b, t, kv d):
/// the same sums, without joining them into one tensor first.
pub fn separate_causal_attention(
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    n_head: usize,
    n_kv: usize,
    scale: f64,
) -> Result<Tensor> {
    q.contiguous()?.apply_op3(
        &k.contiguous()?,
        &v.contiguous()?,
        Separate(attention(n_head, n_kv, scale)),
    )
}
