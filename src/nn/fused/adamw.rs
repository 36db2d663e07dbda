//! The AdamW update of one parameter as one in-place pass over `p`, `m`, `v` and `g`, and the
//! squared norm of a gradient without a temporary.
//!
//! Composed, the update is ten tensor ops per parameter, each allocating its result; for the
//! 124M model that is gigabytes of traffic per step. The arithmetic (and its order) is
//! [`crate::nn::adamw::AdamW::step`]'s, so both paths agree to float rounding.

use super::{multiversion, sum_map, with_slice, with_slice_mut};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// One step's constants, as the composed update uses them (f32, as candle's `affine` casts).
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    /// `1 − lr·wd` for the decay group, 1 otherwise.
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// `1 − β1` and `1 − β2`, computed in f64 then rounded (as the composed path does).
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    /// `1 / √(1 − β2^t)`.
    pub inv_sqrt_bc2: f32,
    pub eps: f32,
    /// `lr / (1 − β1^t)`.
    pub step_size: f32,
    /// What the gradient is multiplied by first: global-norm clipping's factor (1 without).
    pub grad_scale: f32,
}

/// `p ← p·decay − step_size · m / (√v · inv_sqrt_bc2 + eps)` after updating `m` and `v` with
/// `g · grad_scale`; all four f32, contiguous, on the CPU, and distinct tensors.
pub fn adamw_update(p: &Tensor, m: &Tensor, v: &Tensor, g: &Tensor, h: AdamHyper) -> Result<()> {
    let n = p.elem_count();
    if [m, v, g].iter().any(|t| t.elem_count() != n) {
        candle_core::bail!("adamw: parameter and state sizes differ");
    }
    with_slice(g, |g| {
        with_slice_mut(p, |p| {
            with_slice_mut(m, |m| {
                with_slice_mut(v, |v| {
                    const CHUNK: usize = 1 << 14;
                    p.par_chunks_mut(CHUNK)
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(v.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)))
                        .for_each(|((p, m), (v, g))| update_chunk(p, m, v, g, h));
                    Ok(())
                })
            })
        })
    })?
}

multiversion! {
    /// The update on one chunk of a parameter and its moments.
    fn update_chunk(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], h: AdamHyper) {
        for ((p, m), (v, &g)) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut().zip(g)) {
            let g = g * h.grad_scale;
            *m = *m * h.beta1 + g * h.one_minus_beta1;
            *v = *v * h.beta2 + g * g * h.one_minus_beta2;
            let denom = v.sqrt() * h.inv_sqrt_bc2 + h.eps;
            *p = *p * h.decay - *m / denom * h.step_size;
        }
    }
}

multiversion! {
    /// Σ x² of a chunk.
    fn sum_squares_chunk(x: &[f32]) -> f32 {
        sum_map(x, |v| v * v)
    }
}

/// Σ g² of an f32 CPU tensor, accumulated in f64.
pub fn sum_squares(g: &Tensor) -> Result<f64> {
    with_slice(g, |g| {
        // Fixed chunks summed in order: the same bits whatever the scheduling.
        g.par_chunks(1 << 14)
            .map(|c| sum_squares_chunk(c) as f64)
            .collect::<Vec<f64>>()
            .iter()
            .sum()
    })
}
