//! ReLU (OPT's activation) as one pass forward and one backward.
//!
//! Why: candle differentiates `relu` through a comparison to a zero tensor, a cast of the mask,
//! a product and the sum into a fresh zero gradient: five passes over the (tokens × ffn)
//! activation per layer, where one suffices. The derivative at 0 is 0, as PyTorch's (it
//! masks by `y > 0`; candle by `x ≥ 0`).

use super::{multiversion, out, slice, tensor, with_slice};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

pub(super) const CHUNK: usize = 1 << 14;

multiversion! {
    /// `y = max(x, 0)`.
    fn forward(y: &mut [f32], x: &[f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = if x > 0.0 { x } else { 0.0 };
        }
    }
}

multiversion! {
    /// `y = max(y, 0)` in place (a linear layer's output, [`super::linear::linear_t_relu`]).
    pub(super) fn in_place(y: &mut [f32]) {
        for y in y.iter_mut() {
            *y = if *y > 0.0 { *y } else { 0.0 };
        }
    }
}

multiversion! {
    /// `dx = g` where `x > 0`, else 0.
    fn backward(dx: &mut [f32], x: &[f32], g: &[f32]) {
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            *d = if x > 0.0 { g } else { 0.0 };
        }
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "fused-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(yc, xc)| forward(yc, xc));
        Ok(out(y, l.dims()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad(x, g)?))
    }
}

/// The gradient `g` through a ReLU: `g` where `x > 0`, else 0. `x` is the ReLU's input or its
/// output (the same signs), so a linear layer with the ReLU in its op passes its output.
pub(super) fn grad(x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let dx = with_slice(x, |x| {
        with_slice(g, |g| {
            let mut dx = vec![0f32; x.len()];
            dx.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
                .for_each(|(dc, (xc, gc))| backward(dc, xc, gc));
            dx
        })
    })??;
    tensor(dx, x.dims())
}

/// `max(x, 0)`, f32 on the CPU.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Relu)
}
