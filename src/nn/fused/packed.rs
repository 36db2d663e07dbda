//! f32 products by a frozen weight packed once: `c (m, n) [+]= a (m, k) · b (k, n)` with `b`
//! stored as panels of [`NR`] columns, k-major, so that the kernel reads it as vectors.
//!
//! Why: a weight changes only when the optimiser steps, but the `gemm` crate packs its right
//! operand on every call. Scoring a test set, or prefilling prompts, multiplies the same
//! frozen weights again and again: in Pythia-160m's eval forward (4 × 64 tokens, 2 threads),
//! `gemm` spent 20% of the time packing and 67% in its kernel (a `perf` profile of `bench
//! opt-train --shape pythia-160m`). Packed
//! once per scope ([`crate::nn::precision`] keeps them, as it keeps bf16's), each later
//! product runs the kernel alone.
//!
//! The kernel is the classic broadcast one: a register block of [`MR`] rows × [`NR`] columns
//! (24 vectors of sums), each step broadcasting one element of each of `a`'s rows (read where
//! they are: activations are row-major already) against three vectors of the panel. k goes in
//! chunks of [`KC`] so that the panel's chunk stays in L1 while every row block reads it.
//! Each element is summed in k order whatever the threads, so results do not depend on them.
//! AVX-512 only; elsewhere `gemm` runs as before.

use super::{Mat, SendPtr};
use candle_core::{Tensor, TensorId};
use rayon::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Columns of a panel: three 16-lane vectors.
pub(crate) const NR: usize = 48;
/// Rows of a register block: 8 × 3 sums (24 registers), 3 panel vectors and a broadcast row
/// element fill 28 of the 32 registers.
const MR: usize = 8;
/// k per pass: a panel's 128 × 48 floats (24 KB) stay in L1 (48 KB) beside 8 rows of `a`.
const KC: usize = 128;
/// Bytes of c a task's group of panels spans (all rows), kept in L2 (2 MB a core here) while k
/// goes by. At 256 rows, 768 KB (16 panels) took Pythia's 256 × 3072 × 768 from 368-379
/// GFLOP/s (256 KB) to 383-386.
const GROUP_BYTES: usize = 768 << 10;
/// Rows up to which a frozen weight's products run here. At 512 rows `gemm`'s packing is a
/// smaller share of its time, and it was faster on the head (OPT-125m's 512 × 768 × 50272:
/// 342-361 GFLOP/s against our 288-301; the layers about even), so it keeps them.
pub(crate) const MAX_ROWS: usize = 256;

/// A right operand `b` (k, n) packed for [`gemm`]: panel `p` holds columns `p·NR ..` as k rows
/// of [`NR`] floats (zeros past `n`).
pub struct PackedF32 {
    pub k: usize,
    pub n: usize,
    data: Vec<f32>,
}

impl PackedF32 {
    /// Packs the strided operand `b` (k, n): a weight, or a weight read transposed (then
    /// each column is contiguous, and read as such).
    ///
    /// # Safety
    /// `b` must be valid for (k, n) at its strides.
    pub(crate) unsafe fn new(b: Mat, k: usize, n: usize) -> PackedF32 {
        let mut data = vec![0f32; n.div_ceil(NR) * k * NR];
        let (ptr, rs, cs) = (b.ptr as usize, b.rs, b.cs);
        if k > 0 {
            data.par_chunks_mut(k * NR)
                .enumerate()
                .for_each(|(p, panel)| {
                    let at = |kk: usize, j: usize| {
                        let (kk, col) = (kk as isize, (p * NR + j) as isize);
                        // SAFETY: (kk, col) is inside b's (k, n), the caller's promise.
                        unsafe { *(ptr as *const f32).offset(kk * rs + col * cs) }
                    };
                    let cols = NR.min(n - p * NR);
                    if rs == 1 {
                        for j in 0..cols {
                            for kk in 0..k {
                                panel[kk * NR + j] = at(kk, j);
                            }
                        }
                    } else {
                        for kk in 0..k {
                            for j in 0..cols {
                                panel[kk * NR + j] = at(kk, j);
                            }
                        }
                    }
                });
        }
        PackedF32 { k, n, data }
    }
}

/// Packed copies of frozen weights one thread keeps at most, in bytes: a second copy of a
/// model's weights, which Pythia-160m's (650 MB) and SmolLM2-360M's (1.4 GB) fit; beyond it,
/// weights are packed by `gemm` on every call, as trained ones are.
const KEEP_BYTES: usize = 2 << 30;

thread_local! {
    static KEPT: RefCell<HashMap<(TensorId, bool), Rc<PackedF32>>> = RefCell::new(HashMap::new());
    /// Weights refused for want of room: their later products take the paths they took
    /// before this module (a linear layer's few-row tiling up to 128 rows), not plain `gemm`.
    static REFUSED: RefCell<std::collections::HashSet<TensorId>> = RefCell::new(Default::default());
}

/// The frozen weight `w` packed as `b` (k, n) (`transposed`: b is wᵀ), packed at its first
/// product in the caller's scope and kept until [`forget_kept`]; None once [`KEEP_BYTES`]
/// are held.
///
/// # Safety
/// `b` a valid (k, n) view of `w`, whose values do not change while kept (not a variable).
pub(crate) unsafe fn kept(
    w: &Tensor,
    transposed: bool,
    b: Mat,
    k: usize,
    n: usize,
) -> Option<Rc<PackedF32>> {
    let key = (w.id(), transposed);
    if let Some(p) = KEPT.with(|c| c.borrow().get(&key).cloned()) {
        assert_eq!((p.k, p.n), (k, n), "a kept weight read at another shape");
        return Some(p);
    }
    let held: usize = KEPT.with(|c| c.borrow().values().map(|p| p.data.len() * 4).sum());
    if held + n.div_ceil(NR) * NR * k * 4 > KEEP_BYTES {
        REFUSED.with(|r| r.borrow_mut().insert(w.id()));
        return None;
    }
    let p = Rc::new(PackedF32::new(b, k, n));
    KEPT.with(|c| c.borrow_mut().insert(key, p.clone()));
    Some(p)
}

/// Whether `w` was refused a kept copy (no room left) since the last [`forget_kept`].
pub(crate) fn refused(w: &Tensor) -> bool {
    REFUSED.with(|r| r.borrow().contains(&w.id()))
}

/// Frees the kept weights ([`crate::nn::precision::forget_frozen_packs`]).
pub(crate) fn forget_kept() {
    KEPT.with(|c| c.borrow_mut().clear());
    REFUSED.with(|r| r.borrow_mut().clear());
}

/// How many packed weights this thread keeps.
pub(crate) fn kept_count() -> usize {
    KEPT.with(|c| c.borrow().len())
}

/// Whether [`gemm`] can run here: AVX-512 (the CPU's own level, as [`super::few_rows::takes`]).
pub(crate) fn available() -> bool {
    super::simd::detected() == super::simd::Level::V4
}

/// `c (m, n) [+]= a (m, k) · b`, `a`'s rows contiguous (`a.cs == 1`).
///
/// # Safety
/// [`available`]; `c` valid for m rows of `b.n` at stride `ldc`, written by nobody else; `a`
/// valid for (m, `b.k`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: Mat,
    b: &PackedF32,
    parallel: bool,
) {
    assert!(a.cs == 1 && available());
    let (n, k) = (b.n, b.k);

    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::ptr::write_bytes(c.add(i * ldc), 0, n);
            }
        }
        return;
    }
    let (c, a_ptr, lda) = (SendPtr(c), a.ptr as usize, a.rs as usize);
    let data = b.data.as_ptr() as usize;
    // Panels in groups whose columns of c (all m rows) stay in L2 while k goes by in chunks:
    // a's chunk is then read from L3 once per group, not once per panel.
    let group = (GROUP_BYTES / (m * NR * 4)).max(1);
    let task = |panels: std::ops::Range<usize>| {
        let (a_ptr, data) = (a_ptr as *const f32, data as *const f32);
        let mut g0 = panels.start;
        while g0 < panels.end {
            let g1 = (g0 + group).min(panels.end);
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                let add = accumulate || k0 > 0;
                for p in g0..g1 {
                    let cols = NR.min(n - p * NR);
                    // SAFETY: panel p's rows k0..k0 + kc; rows i.. of a and c (below).
                    let panel = unsafe { data.add(p * k * NR + k0 * NR) };
                    // The panel's next chunk in memory (this panel's next k, or the next
                    // panel's first), fetched into L2 a few lines per row block while this
                    // one is computed: streamed from memory (the head's 150 MB) it stalled
                    // the first row block of every chunk.
                    let next = panel.wrapping_add(kc * NR) as *const i8;
                    let lines = (kc * NR * 4).div_ceil(64);
                    let per_block = lines.div_ceil(m.div_ceil(MR));
                    let mut i = 0;
                    while i < m {
                        let rows = m - i;
                        let line0 = i / MR * per_block;
                        for l in line0..(line0 + per_block).min(lines) {
                            // SAFETY: a hint; it never faults, even past the data's end.
                            #[cfg(target_arch = "x86_64")]
                            unsafe {
                                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
                                _mm_prefetch::<_MM_HINT_T1>(next.wrapping_add(l * 64));
                            }
                        }
                        let (a_i, c_i) =
                            unsafe { (a_ptr.add(i * lda + k0), c.get().add(i * ldc + p * NR)) };
                        // SAFETY: `rows` rows of a from a_i (kc long) and of c from c_i
                        // (cols wide); this task alone writes panel p's columns.
                        unsafe {
                            i += match rows {
                                8.. => block::<8>(a_i, lda, panel, kc, c_i, ldc, cols, add),
                                4..=7 => block::<4>(a_i, lda, panel, kc, c_i, ldc, cols, add),
                                2 | 3 => block::<2>(a_i, lda, panel, kc, c_i, ldc, cols, add),
                                _ => block::<1>(a_i, lda, panel, kc, c_i, ldc, cols, add),
                            };
                        }
                    }
                }
            }
            g0 = g1;
        }
    };
    let panels = n.div_ceil(NR);
    let threads = rayon::current_num_threads();
    if !parallel || threads == 1 || m * n * k < 1 << 18 {
        return task(0..panels);
    }
    // Two tasks a thread, each reading all of a and its own panels once. With 4 a thread,
    // Pythia's 256 × 3072 × 768 (16 panels) read a from L3 in twice the groups: 316-330
    // GFLOP/s against 368-379 (2 threads, interleaved runs of a throwaway timing test).
    let per = panels.div_ceil(2 * threads);
    (0..panels.div_ceil(per))
        .into_par_iter()
        .for_each(|t| task(t * per..((t + 1) * per).min(panels)));
}

/// [`gemm`] into a fresh row-major (m, `b.n`) buffer.
///
/// # Safety
/// As [`gemm`].
pub(crate) unsafe fn product(m: usize, a: Mat, b: &PackedF32, parallel: bool) -> Vec<f32> {
    let mut c = Vec::with_capacity(m * b.n);
    // Not zeroed first: without accumulate, gemm writes every element.
    gemm(m, c.as_mut_ptr(), b.n, false, a, b, parallel);
    c.set_len(m * b.n);
    c
}

/// One register block: `c (R, cols) [+]= a (R, kc) · panel (kc, NR)`; returns R (the rows
/// done).
///
/// # Safety
/// R rows of `a` (stride `lda`, kc long) and of `c` (stride `ldc`, `cols` ≤ NR wide); the
/// panel's kc rows; AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
unsafe fn block<const R: usize>(
    a: *const f32,
    lda: usize,
    panel: *const f32,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    add: bool,
) -> usize {
    use std::arch::x86_64::*;
    const V: usize = NR / 16;
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    for kk in 0..kc {
        let b: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(panel.add(kk * NR + v * 16)));
        for r in 0..R {
            let x = _mm512_set1_ps(*a.add(r * lda + kk));
            for v in 0..V {
                acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
            }
        }
    }
    let masks: [__mmask16; V] = std::array::from_fn(|v| {
        let valid = cols.saturating_sub(v * 16).min(16);
        ((1u32 << valid) - 1) as __mmask16
    });
    for r in 0..R {
        // Vectors past `cols` (a narrow last panel) store nothing, and their address may lie
        // past c's end: computed with wrapping_add, never dereferenced.
        for v in 0..V.min(cols.div_ceil(16)) {
            let at = c.wrapping_add(r * ldc + v * 16);
            let sum = if add {
                _mm512_add_ps(_mm512_maskz_loadu_ps(masks[v], at), acc[r][v])
            } else {
                acc[r][v]
            };
            _mm512_mask_storeu_ps(at, masks[v], sum);
        }
    }
    R
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const R: usize>(
    _: *const f32,
    _: usize,
    _: *const f32,
    _: usize,
    _: *mut f32,
    _: usize,
    _: usize,
    _: bool,
) -> usize {
    unreachable!("packed::available is false without AVX-512")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fused::few_rows::tests::{exact, operands, views};

    /// Every row block (8, 4, 2, 1 and their sums), a last panel narrower than NR, k below,
    /// at and past KC, accumulating or not, on 1 and 2 threads: f64 sums, the same bits
    /// whatever the threads, and c's padding left alone. Both layouts of the weight pack alike.
    #[test]
    fn packed_products_match_f64_sums() {
        if !available() {
            return; // gemm computes these products without AVX-512 (its own tests)
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (m, n, k) in [
            (1, 1, 1),
            (15, 49, 127),
            (8, 48, 128),
            (23, 203, 300),
            (64, 700, 129),
            (256, 1000, 200), // two groups of panels
            (5, 7, 0),        // no k at all
        ] {
            let (x, w) = operands(m, n, k, (m * 7 + n * 3 + k) as u64);
            let (a, b) = views(&x, &w, (m, n, k));
            // SAFETY: b is a bounds-checked (k, n) view.
            let packed = unsafe { PackedF32::new(b, k, n) };
            // The same weight stored (k, n) row-major packs to the same panels.
            let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * (k + 1) + i / n]).collect();
            let packed_rows = unsafe { PackedF32::new(Mat::rows(&wt, 0, k, n, n), k, n) };
            assert_eq!(packed.data, packed_rows.data);
            let ldc = n + 2;
            for init in [0.0f32, 0.5] {
                let run = |parallel: bool| {
                    let mut c = vec![init; m * ldc];
                    let cp = SendPtr(c.as_mut_ptr());
                    // SAFETY: c holds m rows of n at stride ldc; a is a bounds-checked view.
                    unsafe { gemm(m, cp.get(), ldc, init != 0.0, a, &packed, parallel) };
                    c
                };
                let c = run(false);
                for i in 0..m {
                    for j in 0..n {
                        let want = init as f64 + exact(&x, &w, k, (i, j));
                        let got = c[i * ldc + j] as f64;
                        assert!(
                            (got - want).abs() < 1e-4,
                            "({m}, {n}, {k}) [{i}, {j}]: {got} vs {want}"
                        );
                    }
                    assert_eq!(&c[i * ldc + n..(i + 1) * ldc], &[init, init]);
                }
                let threaded = pool.install(|| {
                    let (a, _) = views(&x, &w, (m, n, k));
                    let mut c2 = vec![init; m * ldc];
                    let cp = SendPtr(c2.as_mut_ptr());
                    unsafe { gemm(m, cp.get(), ldc, init != 0.0, a, &packed, true) };
                    c2
                });
                assert_eq!(threaded, c, "({m}, {n}, {k}): threads change the bits");
            }
        }
    }
}
