//! Fused CPU kernels with hand-written backward passes, for training speed.
//!
//! Why: candle's CPU autograd runs every primitive op as its own pass over memory, allocates a
//! zero tensor per gradient it accumulates, and differentiates GELU and softmax through ten or
//! so ops each; a GPT step spent most of its time there rather than in matrix products (candle
//! issues #2877, #2913). Each op here is one candle `CustomOp` whose forward and backward are
//! single passes over rows (rayon-parallel, SIMD where the CPU has it), with matrix products
//! sent straight to the `gemm` crate with the strides they need, so nothing is transposed or
//! copied to be multiplied; decoding's few rows go to `few_rows`, and a frozen weight's
//! products to `packed` (packed once per scope).
//!
//! They run for f32 tensors on the CPU; [`crate::nn::ops`] falls back to the composed versions
//! elsewhere (CUDA, half precision). Every kernel is tested against its composed reference,
//! forward and backward (`tests.rs`).

pub mod adamw;
pub mod attention;
pub mod embedding;
pub(crate) mod few_rows;
pub mod head;
pub mod linear;
pub mod norm;
pub(crate) mod packed;
pub mod relu;
pub mod rope;
pub(crate) mod simd;
pub mod softmax;
pub mod swiglu;

#[cfg(test)]
mod tests;

use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Storage, Tensor};
use rayon::prelude::*;
pub(crate) use simd::{dot, dot3, erf, exp, max, multiversion, sum_map, tanh};

/// Whether the fused kernels can run on `t`: f32 on the CPU.
pub fn usable(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32
}

/// The f32 elements a contiguous layout covers.
pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused op: input not contiguous".into()))?;
    Ok(&s.as_slice::<f32>()?[a..b])
}

/// Runs `f` on the contiguous f32 elements of `t` (copied to contiguous first if needed).
pub(crate) fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(c) => Ok(f(slice(c, l)?)),
        _ => candle_core::bail!("fused op: tensor not on the CPU"),
    }
}

/// Runs `f` on the elements of contiguous `t`, mutably, in place (candle's in-place op hook:
/// the only way to write a tensor's storage from outside candle).
pub(crate) fn with_slice_mut<F: FnOnce(&mut [f32]) -> Result<()>>(t: &Tensor, f: F) -> Result<()> {
    struct Op<F>(std::cell::RefCell<Option<F>>);
    impl<F: FnOnce(&mut [f32]) -> Result<()>> InplaceOp1 for Op<F> {
        fn name(&self) -> &'static str {
            "with-slice-mut"
        }
        fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
            let (a, b) = l
                .contiguous_offsets()
                .ok_or_else(|| candle_core::Error::Msg("in-place: not contiguous".into()))?;
            let f = self.0.borrow_mut().take().expect("called once");
            match s {
                CpuStorage::F32(v) => f(&mut v[a..b]),
                _ => candle_core::bail!("in-place: not f32"),
            }
        }
    }
    t.inplace_op1(&Op(std::cell::RefCell::new(Some(f))))
}

/// A tensor owning `data` with `shape` on the CPU.
pub(crate) fn tensor(data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}

/// A raw pointer that rayon tasks may share, for outputs that tasks write in disjoint parts
/// (column blocks of one matrix, which slices cannot express).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so closures capture the whole `SendPtr`, not its field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

/// A matrix operand: element (i, j) is at `ptr + i * rs + j * cs` (strides in elements).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Mat {
    /// Row-major `rows`-by-`cols` with row stride `ld`, starting at `s[off]`; checks bounds.
    pub fn rows(s: &[f32], off: usize, rows: usize, cols: usize, ld: usize) -> Mat {
        assert!(rows == 0 || cols == 0 || off + (rows - 1) * ld + cols <= s.len());
        Mat {
            ptr: s[off..].as_ptr(),
            rs: ld as isize,
            cs: 1,
        }
    }

    /// The transpose (no copy: the strides swap).
    pub fn t(self) -> Mat {
        Mat {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `c (m, n) = [c +] a (m, k) · b (k, n)`, `c` row-major with row stride `ldc` from `c_ptr`.
///
/// # Safety
/// `c_ptr` must be valid for the `m` rows of `n` elements at stride `ldc`, not aliased by
/// another writer, and `a`, `b` valid for their shapes (built with [`Mat::rows`]).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    c_ptr: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if few_rows::takes(m, a, b) {
        return few_rows::gemm(m, n, k, c_ptr, ldc, accumulate, a, b, parallel);
    }
    let threads = rayon::current_num_threads();
    if parallel && (2..=4).contains(&threads) && b.rs == 1 && n >= 32 * threads {
        // A weight read transposed (a linear layer's forward, the tied head): given all the
        // threads, gemm packed the weight's blocks in each (256 × 3072 × 768: 6.4-6.8 ms);
        // one single-threaded gemm per thread on its own columns took 4.2-4.5, and the eval
        // forward at 4 × 64 rose from 740-855 tokens/s to 998-1,115 (OPT-125m's and
        // Pythia-160m's shapes, 3 interleaved rounds) and from 736-792 to 882-914
        // (SmolLM2-135M's). Measured with 2
        // threads; each task packs all of `a`, so with many threads (narrow column slices)
        // that could cost more than it saves: beyond 4, gemm divides the work as before.
        let (c, a_ptr, b_ptr) = (SendPtr(c_ptr), a.ptr as usize, b.ptr as usize);
        // Whole 16-column blocks, spread evenly.
        let per = n.div_ceil(16).div_ceil(threads) * 16;
        return (0..n.div_ceil(per)).into_par_iter().for_each(|t| {
            let (j0, j1) = (t * per, ((t + 1) * per).min(n));
            let a = Mat {
                ptr: a_ptr as *const f32,
                ..a
            };
            let b = Mat {
                ptr: (b_ptr as *const f32).wrapping_offset(j0 as isize * b.cs),
                ..b
            };
            // SAFETY: columns j0..j1 of c and of b, which this task alone writes.
            unsafe { gemm(m, j1 - j0, k, c.get().add(j0), ldc, accumulate, a, b, false) }
        });
    }
    let par = if parallel && threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        c_ptr,
        1,
        ldc as isize,
        accumulate,
        a.ptr,
        a.cs,
        a.rs,
        b.ptr,
        b.cs,
        b.rs,
        1.0,
        1.0,
        false,
        false,
        false,
        par,
    );
}

/// `a (m, k) · b (k, n)` into a fresh row-major (m, n) buffer that gemm writes without it
/// being zeroed first (a memset pass saved per product: 64 MB for the logits).
///
/// # Safety
/// As [`gemm`]: `a` and `b` valid for their shapes.
pub(crate) unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    a: Mat,
    b: Mat,
    parallel: bool,
) -> Vec<f32> {
    if k == 0 {
        return vec![0f32; m * n];
    }
    let mut c = Vec::with_capacity(m * n);
    // gemm without accumulation writes every element before set_len exposes them.
    gemm(m, n, k, c.as_mut_ptr(), n, false, a, b, parallel);
    c.set_len(m * n);
    c
}

/// A buffer of `n` elements that `fill` writes completely through the pointer (from rayon
/// tasks, in disjoint blocks), not zeroed first.
///
/// # Safety
/// `fill` must write all `n` elements.
pub(crate) unsafe fn filled(n: usize, fill: impl FnOnce(SendPtr)) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    fill(SendPtr(v.as_mut_ptr()));
    v.set_len(n);
    v
}

/// Splits `n` rows into chunks for rayon: about four per thread, at least `min` rows each.
pub(crate) fn chunk_rows(n: usize, min: usize) -> usize {
    (n / (4 * rayon::current_num_threads()).max(1))
        .max(min)
        .max(1)
}

/// A graph-tracked result of a forward pass: what `apply_op*` returns, typed for clarity.
pub(crate) fn out(data: Vec<f32>, shape: &[usize]) -> (CpuStorage, candle_core::Shape) {
    (CpuStorage::F32(data), shape.into())
}

#[cfg(test)]
mod gemm_tests {
    use super::few_rows::tests::{exact, operands, views};
    use super::*;

    /// A product by a weight read transposed, on two threads (one gemm per thread on its own
    /// columns), matches f64 sums, accumulating or not, and leaves c's padding alone.
    #[test]
    fn a_transposed_weight_split_across_threads_matches_f64_sums() {
        let (m, n, k, ldc) = (40, 203, 300, 211);
        let (x, w) = operands(m, n, k, 7);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for init in [0.0f32, 0.5] {
            let mut c = vec![init; m * ldc];
            let cp = SendPtr(c.as_mut_ptr());
            pool.install(|| {
                let (a, b) = views(&x, &w, (m, n, k));
                // SAFETY: c holds m rows of n at stride ldc; a and b are bounds-checked views.
                unsafe { gemm(m, n, k, cp.get(), ldc, init != 0.0, a, b, true) }
            });
            for i in 0..m {
                for j in 0..n {
                    let want = init as f64 + exact(&x, &w, k, (i, j));
                    let got = c[i * ldc + j] as f64;
                    assert!((got - want).abs() < 1e-4, "[{i}, {j}]: {got} vs {want}");
                }
                assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == init));
            }
        }
    }
}
