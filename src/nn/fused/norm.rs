//! Layer normalisation over the last dimension as one op: forward one pass per row, backward
//! one pass per row for the input gradient with per-thread partial sums for the scale and
//! shift gradients (the composed version is nine ops forward and about twenty backward).
//! RMS normalisation (Llama's) the same way, without the mean and the shift.

use super::{chunk_rows, dot, dot3, multiversion, out, slice, sum_map, tensor, with_slice};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct LayerNorm {
    eps: f32,
}

/// Mean and 1/σ of a row (biased variance, as PyTorch).
#[inline(always)]
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum_map(row, |x| x) / n;
    let var = sum_map(row, |x| (x - mean) * (x - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

multiversion! {
    /// Normalises the rows of `x` (rows of `w.len()`) into `y`.
    fn forward_rows(y: &mut [f32], x: &[f32], w: &[f32], b: &[f32], eps: f32) {
        let c = w.len();
        for (yr, xr) in y.chunks_mut(c).zip(x.chunks(c)) {
            let (mean, rstd) = moments(xr, eps);
            for ((y, &x), (&w, &b)) in yr.iter_mut().zip(xr).zip(w.iter().zip(b)) {
                *y = (x - mean) * rstd * w + b;
            }
        }
    }
}

multiversion! {
    /// Input gradients of rows into `dx`; scale and shift gradients added to `dw`, `db`.
    /// `dx = rstd (gw − mean(gw) − x̂ mean(gw x̂))` with `gw = g ⊙ w`.
    fn backward_rows(
        dx: &mut [f32],
        x: &[f32],
        g: &[f32],
        w: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        eps: f32,
    ) {
        let c = w.len();
        for ((dxr, xr), gr) in dx.chunks_mut(c).zip(x.chunks(c)).zip(g.chunks(c)) {
            let (mean, rstd) = moments(xr, eps);
            // x̂ goes through dxr as scratch.
            for (((d, &x), &g), (dw, db)) in dxr
                .iter_mut()
                .zip(xr)
                .zip(gr)
                .zip(dw.iter_mut().zip(db.iter_mut()))
            {
                *d = (x - mean) * rstd;
                *dw += g * *d;
                *db += g;
            }
            let m1 = dot(gr, w) / c as f32;
            let m2 = dot3(gr, w, dxr) / c as f32;
            for ((d, &g), &w) in dxr.iter_mut().zip(gr).zip(w) {
                *d = rstd * (g * w - m1 - *d * m2);
            }
        }
    }
}

/// The backward both norms share: `dx` computed by `f` on chunks of rows (rows of `c`) in
/// parallel, each chunk adding its parameter gradients (`N` of width `c`: dw, and db for the
/// layer norm) into its own partial sums, which are then added in chunk order, so the result
/// does not depend on scheduling.
fn rows_backward<const N: usize>(
    x: &[f32],
    g: &[f32],
    c: usize,
    f: impl Fn(&mut [f32], &[f32], &[f32], [&mut [f32]; N]) + Sync,
) -> (Vec<f32>, [Vec<f32>; N]) {
    let mut dx = vec![0f32; x.len()];
    let rows = chunk_rows(x.len() / c, 16) * c;
    let partial: Vec<[Vec<f32>; N]> = dx
        .par_chunks_mut(rows)
        .zip(x.par_chunks(rows).zip(g.par_chunks(rows)))
        .map(|(dxc, (xc, gc))| {
            let mut sums: [Vec<f32>; N] = std::array::from_fn(|_| vec![0f32; c]);
            f(dxc, xc, gc, sums.each_mut().map(|v| v.as_mut_slice()));
            sums
        })
        .collect();
    let mut total: [Vec<f32>; N] = std::array::from_fn(|_| vec![0f32; c]);
    for part in partial {
        for (t, p) in total.iter_mut().zip(&part) {
            t.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
    }
    (dx, total)
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(xs, xl)?, slice(ws, wl)?, slice(bs, bl)?);
        let c = w.len();
        let mut y = vec![0f32; x.len()];
        let rows = chunk_rows(x.len() / c, 16) * c;
        y.par_chunks_mut(rows)
            .zip(x.par_chunks(rows))
            .for_each(|(yc, xc)| forward_rows(yc, xc, w, b, self.eps));
        Ok(out(y, xl.dims()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = w.elem_count();
        let (dx, dw, db) = with_slice(x, |x| {
            with_slice(w, |w| {
                with_slice(g, |g| {
                    let (dx, [dw, db]) = rows_backward(x, g, c, |dxc, xc, gc, [dw, db]| {
                        backward_rows(dxc, xc, gc, w, dw, db, self.eps)
                    });
                    (dx, dw, db)
                })
            })
        })???;
        Ok((
            Some(tensor(dx, x.dims())?),
            Some(tensor(dw, w.dims())?),
            Some(tensor(db, w.dims())?),
        ))
    }
}

/// Layer norm of `x` (.., c) with scale `w` (c,) and shift `b` (c,); f32 on the CPU.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        LayerNorm { eps: eps as f32 },
    )
}

/// `LlamaRMSNorm`: `y = x / sqrt(mean(x²) + eps) ⊙ w`, no mean subtracted, no shift.
struct RmsNorm {
    eps: f32,
}

/// 1/rms of a row.
#[inline(always)]
fn inv_rms(row: &[f32], eps: f32) -> f32 {
    1.0 / (sum_map(row, |x| x * x) / row.len() as f32 + eps).sqrt()
}

multiversion! {
    /// RMS-normalises the rows of `x` (rows of `w.len()`) into `y`.
    fn rms_forward_rows(y: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
        let c = w.len();
        for (yr, xr) in y.chunks_mut(c).zip(x.chunks(c)) {
            let r = inv_rms(xr, eps);
            for ((y, &x), &w) in yr.iter_mut().zip(xr).zip(w) {
                *y = x * r * w;
            }
        }
    }
}

multiversion! {
    /// Input gradients of rows into `dx`, scale gradients added to `dw`:
    /// `dx = r (gw − x̂ mean(gw x̂))` with `x̂ = r x`, `gw = g ⊙ w`; `dw += g ⊙ x̂`.
    fn rms_backward_rows(dx: &mut [f32], x: &[f32], g: &[f32], w: &[f32], dw: &mut [f32], eps: f32) {
        let c = w.len();
        for ((dxr, xr), gr) in dx.chunks_mut(c).zip(x.chunks(c)).zip(g.chunks(c)) {
            let r = inv_rms(xr, eps);
            // x̂ goes through dxr as scratch.
            for (((d, &x), &g), dw) in dxr.iter_mut().zip(xr).zip(gr).zip(dw.iter_mut()) {
                *d = x * r;
                *dw += g * *d;
            }
            let m = dot3(gr, w, dxr) / c as f32;
            for ((d, &g), &w) in dxr.iter_mut().zip(gr).zip(w) {
                *d = r * (g * w - *d * m);
            }
        }
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (slice(xs, xl)?, slice(ws, wl)?);
        let c = w.len();
        let mut y = vec![0f32; x.len()];
        let rows = chunk_rows(x.len() / c, 16) * c;
        y.par_chunks_mut(rows)
            .zip(x.par_chunks(rows))
            .for_each(|(yc, xc)| rms_forward_rows(yc, xc, w, self.eps));
        Ok(out(y, xl.dims()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let c = w.elem_count();
        let (dx, dw) = with_slice(x, |x| {
            with_slice(w, |w| {
                with_slice(g, |g| {
                    let (dx, [dw]) = rows_backward(x, g, c, |dxc, xc, gc, [dw]| {
                        rms_backward_rows(dxc, xc, gc, w, dw, self.eps)
                    });
                    (dx, dw)
                })
            })
        })???;
        Ok((Some(tensor(dx, x.dims())?), Some(tensor(dw, w.dims())?)))
    }
}

/// RMS norm of `x` (.., c) with scale `w` (c,); f32 on the CPU.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}
