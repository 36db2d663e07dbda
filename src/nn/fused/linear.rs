//! `y = x W + b` (GPT-2's Conv1D, `W` stored (in, out); or `torch.nn.Linear`, `W` stored
//! (out, in), as OPT stores it) and GELU (tanh or erf form) as single ops.
//!
//! The linear forward writes the bias into the output and lets gemm accumulate the product
//! on top (no separate broadcast add); the backward computes `dx = g Wᵀ` and `dW = xᵀ g` by
//! handing gemm transposed strides (no transposed copies) and `db` as column sums. GELU's
//! backward is one pass computing the derivative from `x`, instead of candle's ten ops with
//! `powf` and libm `tanh`.

use super::{
    chunk_rows, erf, exp, multiversion, out, relu, slice, tanh, tensor, with_slice, Mat, SendPtr,
};
use crate::nn::grad_sink;
use crate::nn::precision::Products;
use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `out_in`: the weight is stored (out, in) (`torch.nn.Linear`), else (in, out) (Conv1D).
struct Linear {
    out_in: bool,
    /// ReLU applied to the output in place (OPT's `fc1`): no separate op, whose input and
    /// output would both be kept, and whose gradient candle would add to a fresh zero tensor.
    relu: bool,
    /// f32 or bf16 (`--precision`), fixed when the op is built.
    products: Products,
}

impl Linear {
    /// (in, out) of the weight's layout.
    fn dims(&self, w: &Layout) -> Result<(usize, usize)> {
        let (a, b) = w.shape().dims2()?;
        Ok(if self.out_in { (b, a) } else { (a, b) })
    }

    /// The weight as an (in, out) operand.
    fn w_in_out(&self, w: &[f32], n_in: usize, n_out: usize) -> Mat {
        if self.out_in {
            Mat::rows(w, 0, n_out, n_in, n_in).t()
        } else {
            Mat::rows(w, 0, n_in, n_out, n_out)
        }
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "fused-linear"
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
        let (n_in, n_out) = self.dims(wl)?;
        let n = x.len() / n_in;
        let mut y: Vec<f32> = Vec::with_capacity(n * n_out);
        for _ in 0..n {
            y.extend_from_slice(b);
        }
        if self.out_in && n <= FEW_ROWS && !self.products.is_bf16() && !self.products.packs_f32(n) {
            few_rows_t(&mut y, x, w, n, n_in, n_out);
        } else {
            // SAFETY: y is (n, n_out) row-major; x (n, n_in) and w (n_in, n_out) are checked.
            unsafe {
                self.products.weight_gemm(
                    self.out_in, // the (in, out) operand is the stored weight's transpose
                    (n, n_out, n_in),
                    (y.as_mut_ptr(), n_out, true),
                    Mat::rows(x, 0, n, n_in, n_in),
                    self.w_in_out(w, n_in, n_out),
                );
            }
        }
        if self.relu {
            y.par_chunks_mut(relu::CHUNK).for_each(relu::in_place);
        }
        let mut dims = xl.dims().to_vec();
        *dims.last_mut().expect("x has a last dimension") = n_out;
        Ok(out(y, &dims))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n_in, n_out) = self.dims(w.layout())?;
        let n = x.elem_count() / n_in;
        // Through the ReLU first, by the output's signs.
        let masked = self.relu.then(|| relu::grad(y, g)).transpose()?;
        let g = masked.as_ref().unwrap_or(g);
        let (dx, dw, db) = with_slice(x, |x| {
            with_slice(w, |w| {
                with_slice(g, |g| {
                    let (gm, wm) = (
                        Mat::rows(g, 0, n, n_out, n_out),
                        self.w_in_out(w, n_in, n_out),
                    );
                    let xm = Mat::rows(x, 0, n, n_in, n_in);
                    // SAFETY: the operands are bounds-checked views of live slices.
                    // dx (n, in) = g (n, out) · Wᵀ (out, in)
                    let p = &self.products;
                    let dx =
                        unsafe { p.weight_product(!self.out_in, (n, n_in, n_out), gm, wm.t()) };
                    let dw = if self.out_in {
                        // dW (out, in) = gᵀ (out, n) · x (n, in)
                        unsafe { p.product((n_out, n_in, n), gm.t(), xm) }
                    } else {
                        // dW (in, out) = xᵀ (in, n) · g (n, out)
                        unsafe { p.product((n_in, n_out, n), xm.t(), gm) }
                    };
                    (dx, dw, column_sums(g, n_out))
                })
            })
        })???;
        Ok((
            Some(tensor(dx, x.dims())?),
            weight_grad(w, dw)?,
            weight_grad(b, db)?,
        ))
    }
}

/// A weight's gradient: to the grad sink when one is open ([`crate::nn::grad_sink`]), else
/// returned to candle.
pub(crate) fn weight_grad(w: &Tensor, grad: Vec<f32>) -> Result<Option<Tensor>> {
    if grad_sink::takes(w) {
        grad_sink::add(w, grad)?;
        return Ok(None);
    }
    Ok(Some(tensor(grad, w.dims())?))
}

/// Rows up to which a weight stored (out, in) is applied by [`few_rows_t`] (measured on
/// opt-125m, 2 AVX-512 cores: at 128 rows its forward is 30% faster than gemm's packed
/// kernels, at 256 about even over a training step), unless it is frozen and kept packed
/// (beyond 16 rows: [`super::packed`]).
const FEW_ROWS: usize = 128;

/// `y (n, n_out) += x (n, n_in) · Wᵀ` for `W` stored (out, in) and few rows of `x` (decoding:
/// one row per sequence or beam). gemm's kernels want the weight's columns contiguous, so on
/// the whole product it would repack all of `W` on every call, which for a few rows costs
/// several times the product itself. Instead, up to [`super::few_rows::MAX_ROWS`] rows on a
/// CPU with AVX-512 go to [`super::few_rows`]' dot products; otherwise tiles of `W`'s rows
/// times groups of `x`'s rows go to gemm's dot-product ("horizontal") kernels, which read
/// both operands along `in`, where they are contiguous. Tiles run in parallel; each reads its
/// rows of `W` from memory once (the row groups reuse them from cache).
fn few_rows_t(y: &mut [f32], x: &[f32], w: &[f32], n: usize, n_in: usize, n_out: usize) {
    assert!(y.len() == n * n_out && x.len() == n * n_in && w.len() == n_out * n_in);
    let (xm, wm) = (
        Mat::rows(x, 0, n, n_in, n_in),
        Mat::rows(w, 0, n_out, n_in, n_in).t(),
    );
    if super::few_rows::takes(n, xm, wm) {
        // SAFETY: y is (n, n_out) row-major; x and w are bounds-checked views (asserted).
        return unsafe {
            super::few_rows::gemm(n, n_out, n_in, y.as_mut_ptr(), n_out, true, xm, wm, true)
        };
    }
    // gemm takes its dot-product path for at most 256 outputs per call.
    let group = n.clamp(1, 16);
    let tile = ((256 / group) / 4 * 4).clamp(4, n_out.max(4));
    let yp = SendPtr(y.as_mut_ptr());
    (0..n_out.div_ceil(tile)).into_par_iter().for_each(|t| {
        let o0 = t * tile;
        let m = tile.min(n_out - o0);
        for r0 in (0..n).step_by(group) {
            let rows = group.min(n - r0);
            // SAFETY: tile t writes the columns o0..o0+m of y's rows, no other tile does; the
            // tile of W (rows o0..o0+m) and x's rows r0..r0+rows are in bounds (asserted).
            unsafe {
                gemm::gemm(
                    m,
                    rows,
                    n_in,
                    yp.get().add(r0 * n_out + o0), // yᵀ tile (m, rows): (o, r) at o + r * n_out
                    n_out as isize,
                    1,
                    true,
                    w.as_ptr().add(o0 * n_in), // (m, n_in) row-major
                    1,
                    n_in as isize,
                    x.as_ptr().add(r0 * n_in), // xᵀ (n_in, rows): (i, r) at i + r * n_in
                    n_in as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    });
}

multiversion! {
    /// Adds each row of `g` (rows of `s.len()`) to `s`.
    fn add_rows(s: &mut [f32], g: &[f32]) {
        for r in g.chunks(s.len()) {
            s.iter_mut().zip(r).for_each(|(a, b)| *a += b);
        }
    }
}

/// Sums of the columns of row-major `g` (rows of `cols`), rows split across threads; the
/// result depends on the thread count (chunking) but never on scheduling.
fn column_sums(g: &[f32], cols: usize) -> Vec<f32> {
    let rows = chunk_rows(g.len() / cols, 64) * cols;
    g.par_chunks(rows)
        .map(|gc| {
            let mut s = vec![0f32; cols];
            add_rows(&mut s, gc);
            s
        })
        // Collected, then added in chunk order: a parallel `reduce` groups the partial sums by
        // how work was stolen, and f32 addition depends on the grouping (same seed, other bits).
        .collect::<Vec<_>>()
        .into_iter()
        .reduce(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            a
        })
        .unwrap_or_else(|| vec![0f32; cols])
}

/// `x (.., in) · w (in, out) + b (out,)`, f32 tensors on the CPU (products in the thread's
/// precision: [`crate::nn::precision`]).
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let op = Linear {
        out_in: false,
        relu: false,
        products: Products::for_weight(w),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

/// `x (.., in) · w (out, in)ᵀ + b (out,)` (`torch.nn.Linear`), as [`linear`].
pub fn linear_t(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    linear_t_op(x, w, b, false)
}

/// `max(x wᵀ + b, 0)`: [`linear_t`] then ReLU, as one op (OPT's `fc1` and activation).
pub fn linear_t_relu(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    linear_t_op(x, w, b, true)
}

fn linear_t_op(x: &Tensor, w: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    let op = Linear {
        out_in: true,
        relu,
        products: Products::for_weight(w),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, op)
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

multiversion! {
    /// `y = ½ x (1 + tanh(√(2/π)(x + c x³)))`, elementwise.
    fn gelu_forward(y: &mut [f32], x: &[f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
            *y = 0.5 * x * (1.0 + tanh(u));
        }
    }
}

multiversion! {
    /// `dx = g · gelu'(x)`, elementwise.
    fn gelu_backward(dx: &mut [f32], x: &[f32], g: &[f32]) {
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let th = tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x);
            *d = g * (0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du);
        }
    }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

multiversion! {
    /// `y = ½ x (1 + erf(x/√2))` (exact GELU, Pythia's), elementwise.
    fn gelu_erf_forward(y: &mut [f32], x: &[f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
        }
    }
}

multiversion! {
    /// `dx = g (½(1 + erf(x/√2)) + x φ(x))`, φ the standard normal density, elementwise.
    fn gelu_erf_backward(dx: &mut [f32], x: &[f32], g: &[f32]) {
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
            *d = g * (cdf + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x));
        }
    }
}

/// GELU, `exact`: the erf form, else the tanh approximation.
struct Gelu {
    exact: bool,
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        if self.exact {
            "fused-gelu-erf"
        } else {
            "fused-gelu-tanh"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        let f = if self.exact {
            gelu_erf_forward
        } else {
            gelu_forward
        };
        y.par_chunks_mut(1 << 14)
            .zip(x.par_chunks(1 << 14))
            .for_each(|(yc, xc)| f(yc, xc));
        Ok(out(y, l.dims()))
    }

    /// tanh form: `d/dx = ½(1 + th) + ½ x (1 − th²) √(2/π) (1 + 3c x²)`,
    /// th = tanh(√(2/π)(x + c x³)).
    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let f = if self.exact {
            gelu_erf_backward
        } else {
            gelu_backward
        };
        let dx = with_slice(x, |x| {
            with_slice(g, |g| {
                let mut dx = vec![0f32; x.len()];
                dx.par_chunks_mut(1 << 14)
                    .zip(x.par_chunks(1 << 14).zip(g.par_chunks(1 << 14)))
                    .for_each(|(dc, (xc, gc))| f(dc, xc, gc));
                dx
            })
        })??;
        Ok(Some(tensor(dx, x.dims())?))
    }
}

/// GPT-2's `gelu_new` (tanh approximation), f32 on the CPU.
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu { exact: false })
}

/// Exact GELU (`gelu`, erf form: Pythia's, GPT-2 configs that ask for it), f32 on the CPU.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu { exact: true })
}
