//! Fused CPU kernels with hand-written backward passes, for training speed.
//!
//! Why: candle's CPU autograd runs every primitive op as its own pass over memory, allocates a
//! zero tensor per gradient it accumulates, and differentiates GELU and softmax through ten or
//! so ops each; a GPT step spent most of its time there rather than in matrix products (candle
//! issues #2877, #2913). Each op here is one candle `CustomOp` whose forward and backward are
//! single passes over rows (rayon-parallel, SIMD where the CPU has it), with matrix products
//! sent straight to the `gemm` crate with the strides they need, so nothing is transposed or
//! copied to be multiplied.
//!
//! They run for f32 tensors on the CPU; [`crate::nn::ops`] falls back to the composed versions
//! elsewhere (CUDA, half precision). Every kernel is tested against its composed reference,
//! forward and backward (`tests.rs`).

pub mod adamw;
pub mod attention;
pub mod head;
pub mod linear;
pub mod norm;
pub mod softmax;

#[cfg(test)]
mod tests;

use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Storage, Tensor};

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
#[derive(Clone, Copy)]
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
    let par = if parallel && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
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

/// Runs `f` compiled for the widest vector unit the CPU has (AVX-512, else AVX2+FMA), so the
/// loops inlined into it vectorise; the crate itself is built for baseline x86-64.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
        unsafe fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the features were detected at run time.
            return unsafe { v4(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { v3(f) };
        }
    }
    f()
}

/// `e^x` to about 2 ulp, in plain float arithmetic that vectorises (libm's `expf` does not,
/// and softmax over a 50k vocabulary calls it millions of times a step). Cody-Waite range
/// reduction `x = k ln2 + r`, |r| ≤ ln2/2, then a degree-6 polynomial for `e^r`, scaled by
/// `2^k` through the exponent bits. Inputs are clamped to the finite, normal range, so
/// `exp(-inf)` gives ~1e-38 rather than 0: callers that need exact zeros (masked positions)
/// skip them.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let kf = x * LOG2E + ROUND;
    let k = kf.to_bits() as i32 - ROUND.to_bits() as i32;
    let kf = kf - ROUND;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((k + 127) << 23) as u32)
}

/// `tanh(x) = 1 − 2 / (e^{2x} + 1)` with the fast [`exp`]; absolute error ~1e-7.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// Lanes of the reductions below: independent partial results the compiler keeps in one
/// vector register. A single running sum is a serial chain it must keep in order (float
/// addition does not reassociate), which leaves the loop scalar.
const LANES: usize = 16;

/// `Σ f(x_i)`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn sum_map(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `Σ a_i b_i`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let split = n - n % LANES;
    for (ca, cb) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let rest: f32 = a[split..].iter().zip(&b[split..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + rest
}

/// `Σ a_i b_i c_i`, in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot3(a: &[f32], b: &[f32], c: &[f32]) -> f32 {
    let n = a.len().min(b.len()).min(c.len());
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let mut acc = [0f32; LANES];
    let split = n - n % LANES;
    for k in (0..split).step_by(LANES) {
        for i in 0..LANES {
            acc[i] += a[k + i] * b[k + i] * c[k + i];
        }
    }
    let rest: f32 = (split..n).map(|i| a[i] * b[i] * c[i]).sum();
    acc.iter().sum::<f32>() + rest
}

/// The largest element (−∞ for an empty slice), in [`LANES`] partial maxima.
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for i in 0..LANES {
            // Not f32::max: its NaN rules keep the compiler from using the vector instruction.
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().fold(rest, |m, &v| m.max(v))
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
