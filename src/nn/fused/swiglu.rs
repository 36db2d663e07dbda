//! Llama's gated MLP activation `silu(a) ⊙ b` (`act_fn(gate_proj(x)) * up_proj(x)`) as one op.
//!
//! Composed, candle runs silu as its own pass and the product as another, and differentiates
//! silu through the sigmoid's ops; here the forward is one pass and the backward one pass that
//! computes both input gradients from `a` and `b`:
//! `da = g b σ(a) (1 + a (1 − σ(a)))`, `db = g silu(a)`.

use super::{exp, multiversion, out, slice, tensor, with_slice};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

#[inline(always)]
fn sigmoid(a: f32) -> f32 {
    1.0 / (1.0 + exp(-a))
}

multiversion! {
    /// `y = silu(a) b`, elementwise.
    fn forward(y: &mut [f32], a: &[f32], b: &[f32]) {
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = a * sigmoid(a) * b;
        }
    }
}

multiversion! {
    /// Both input gradients, elementwise.
    fn backward(da: &mut [f32], db: &mut [f32], a: &[f32], b: &[f32], g: &[f32]) {
        for ((((da, db), &a), &b), &g) in da.iter_mut().zip(db.iter_mut()).zip(a).zip(b).zip(g) {
            let s = sigmoid(a);
            *da = g * b * s * (1.0 + a * (1.0 - s));
            *db = g * a * s;
        }
    }
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(
        &self,
        as_: &CpuStorage,
        al: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (slice(as_, al)?, slice(bs, bl)?);
        if al.dims() != bl.dims() {
            candle_core::bail!("swiglu: shapes {:?} and {:?} differ", al.dims(), bl.dims());
        }
        let mut y = vec![0f32; a.len()];
        y.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(yc, (ac, bc))| forward(yc, ac, bc));
        Ok(out(y, al.dims()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (da, db) = with_slice(a, |a| {
            with_slice(b, |b| {
                with_slice(g, |g| {
                    let (mut da, mut db) = (vec![0f32; a.len()], vec![0f32; a.len()]);
                    da.par_chunks_mut(CHUNK)
                        .zip(db.par_chunks_mut(CHUNK))
                        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                        .zip(g.par_chunks(CHUNK))
                        .for_each(|(((dac, dbc), (ac, bc)), gc)| backward(dac, dbc, ac, bc, gc));
                    (da, db)
                })
            })
        })???;
        Ok((Some(tensor(da, a.dims())?), Some(tensor(db, b.dims())?)))
    }
}

/// `silu(a) ⊙ b` for `a`, `b` of one shape; f32 on the CPU.
pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.contiguous()?.apply_op2(&b.contiguous()?, SwiGlu)
}
