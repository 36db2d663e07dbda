//! Rotary positions (`apply_rotary_pos_emb`) on q or k as one op.
//!
//! Composed, rotating a head takes two narrows, a negation, a concatenation, two broadcast
//! products and a sum (and two more copies when only part of the head rotates, as Pythia's),
//! each a pass over memory, and as many again backward. Here each (position, head) row is
//! rotated in one pass: for i < r/2, with the halves `x₁ = x[i]`, `x₂ = x[i + r/2]`,
//! `y[i] = x₁ cos[i] − x₂ sin[i]`, `y[i + r/2] = x₂ cos[i + r/2] + x₁ sin[i + r/2]`, and
//! dimensions from r on are copied. The rotation is linear in x, so the backward applies its
//! transpose: `dx₁ = g₁ cos[i] + g₂ sin[i + r/2]`, `dx₂ = g₂ cos[i + r/2] − g₁ sin[i]`.
//! cos and sin are constants of the op (positions, not parameters).

use super::{out, slice, tensor, with_slice};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct Rope {
    /// cos and sin (t, r), row-major.
    cos: Vec<f32>,
    sin: Vec<f32>,
    t: usize,
    r: usize,
}

impl Rope {
    /// Applies the rotation (`transpose`: its transpose) to `x` (b, t, h, d) into `y`.
    fn apply(&self, y: &mut [f32], x: &[f32], dims: &[usize], transpose: bool) -> Result<()> {
        let &[_, t, h, d] = dims else {
            candle_core::bail!("rope: x must be (b, t, h, d), got {dims:?}")
        };
        let (r, half) = (self.r, self.r / 2);
        if t != self.t || r > d || r % 2 != 0 {
            candle_core::bail!("rope: x {dims:?} against cos/sin ({}, {r})", self.t)
        }
        // One task per (batch row, position): its h heads share one row of cos and sin.
        y.par_chunks_mut(h * d)
            .zip(x.par_chunks(h * d))
            .enumerate()
            .for_each(|(bt, (yp, xp))| {
                let p = bt % t;
                let (c, s) = (&self.cos[p * r..(p + 1) * r], &self.sin[p * r..(p + 1) * r]);
                for (yh, xh) in yp.chunks_mut(d).zip(xp.chunks(d)) {
                    let (x1, x2) = xh[..r].split_at(half);
                    let (y1, y2) = yh[..r].split_at_mut(half);
                    let (c1, c2) = c.split_at(half);
                    let (s1, s2) = s.split_at(half);
                    // The transpose swaps which half's sine goes with which sign.
                    let (s1, s2, sign) = if transpose {
                        (s2, s1, -1.0)
                    } else {
                        (s1, s2, 1.0)
                    };
                    for i in 0..half {
                        y1[i] = x1[i] * c1[i] - sign * x2[i] * s1[i];
                        y2[i] = x2[i] * c2[i] + sign * x1[i] * s2[i];
                    }
                    yh[r..].copy_from_slice(&xh[r..]);
                }
            });
        Ok(())
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        self.apply(&mut y, x, l.dims(), false)?;
        Ok(out(y, l.dims()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let dx = with_slice(g, |g| {
            let mut dx = vec![0f32; g.len()];
            self.apply(&mut dx, g, x.dims(), true).map(|_| dx)
        })??;
        Ok(Some(tensor(dx, x.dims())?))
    }
}

/// Rotary positions on `x` (b, t, h, d) with `cos`, `sin` (t, r), r <= d even; f32 on the CPU.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (t, r) = cos.dims2()?;
    let op = Rope {
        cos: cos.flatten_all()?.to_vec1()?,
        sin: sin.flatten_all()?.to_vec1()?,
        t,
        r,
    };
    x.contiguous()?.apply_op1(op)
}
