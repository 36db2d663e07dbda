//! Run-time SIMD dispatch and the vectorisable math the kernels share.
//!
//! The crate is built for baseline x86-64 (SSE2), but training machines have AVX2 or
//! AVX-512: [`multiversion!`] compiles a kernel three times (AVX-512, AVX2+FMA, baseline) and
//! picks one at run time. Loops in those kernels vectorise only if they have no serial
//! dependency and no libm calls, hence the lane-wise reductions and the polynomial `exp`.

use std::sync::OnceLock;

/// The widest vector unit this CPU has, among those the kernels are compiled for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Level {
    V4,
    V3,
    Baseline,
}

/// Tests force lower levels with this (0: none), so every compiled variant is checked on a
/// machine that has the widest; global rather than thread-local because kernels run on rayon's
/// threads.
#[cfg(test)]
pub(crate) static FORCE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Detected once.
pub(crate) fn level() -> Level {
    #[cfg(test)]
    match FORCE.load(std::sync::atomic::Ordering::Relaxed) {
        2 => return Level::V3.max(detected()), // the narrower of the two
        3 => return Level::Baseline,
        _ => {}
    }
    detected()
}

/// What this CPU has, whatever a test forces (for kernels that exist at one level only).
pub(crate) fn detected() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("fma") {
                return Level::V4;
            }
            if has!("avx2") && has!("fma") {
                return Level::V3;
            }
        }
        Level::Baseline
    })
}

/// Defines a function whose body is compiled for AVX-512, AVX2+FMA and baseline, the best
/// chosen at run time. The body goes into an `#[inline(always)]` inner function that the
/// `#[target_feature]` wrappers inline, so it is compiled with their instruction sets
/// (a closure handed to such a wrapper is not: it stays a separate, baseline function).
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? {
                    generic($($arg),*)
                }
                match $crate::nn::fused::simd::level() {
                    // SAFETY: the features were detected at run time.
                    $crate::nn::fused::simd::Level::V4 => return unsafe { v4($($arg),*) },
                    $crate::nn::fused::simd::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::nn::fused::simd::Level::Baseline => {}
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;

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

/// `erf(x)` by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, plus f32 rounding),
/// branch-free so it vectorises: `1 − (a₁t + … + a₅t⁵) e^{−x²}`, `t = 1/(1 + p|x|)`, odd.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
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
