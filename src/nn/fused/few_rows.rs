//! Products with few rows whose right operand is a weight read transposed, `x (m, k) · Wᵀ`
//! with W's rows contiguous: what every linear layer and the head compute when decoding (one
//! row per sequence or beam). Done as dot products of `a`'s rows with W's rows, so each weight
//! row is read from memory once for all of `a`'s rows, at the memory's pace.
//!
//! Why not `gemm`: decoding reads every weight once per token, so it is bound by memory, and
//! the `gemm` crate's dot-product kernel reached about half the memory's bandwidth here
//! (SmolLM2-135M's shape sampling 8 rows: 56% of the time in it, at 10-11 GB/s of weights,
//! where two threads read 23 GB/s); called on a whole product with W read transposed, it
//! first packs W (10 × 3072 × 768: 4.5 times slower than with W untransposed).
//!
//! AVX-512 only (the decoding machines we measure have it); elsewhere `gemm` runs as before.
//! Each element is one dot product in a fixed order (16 lanes along k, then the lanes summed),
//! whatever the row count, the column blocks or the threads, so results do not depend on how
//! the work is split.

use super::{Mat, SendPtr};
use rayon::prelude::*;

/// At most this many rows go through dot products (beyond 8, each further group of 8 reads
/// the weights again, from cache). More rows: a frozen weight's products up to 256 rows run on
/// it packed once ([`super::packed`], AVX-512, in a precision scope); others go to `gemm`, through the f32 linear layers'
/// tiling of it (`linear::few_rows_t`) up to 128 rows, its packed kernels otherwise.
pub(crate) const MAX_ROWS: usize = 16;

/// Columns of one register block: 8 rows × 2 columns of sums (16 registers), 2 weight
/// vectors and a row vector. In a throwaway benchmark of the 211 products of one SmolLM2
/// decoding step at 8 rows, 8 × 2 read the weights at 19-20 GB/s, 8 × 3 at 18-19 (its sums
/// spilled to the stack in this crate's build) and 4 × 4 at 15.
const COLS: usize = 2;
/// Rows of one register block at most: a batch of 8 sequences reads each weight once.
const ROWS: usize = 8;

/// Whether [`gemm`] computes this product: few rows, `a`'s rows and `b`'s columns contiguous
/// (b = Wᵀ), on a CPU with AVX-512 (the CPU's own level: tests that force narrower levels for
/// the multiversioned kernels, concurrently, do not move products off this kernel).
pub(crate) fn takes(m: usize, a: Mat, b: Mat) -> bool {
    shape_fits(m, a, b) && super::simd::detected() == super::simd::Level::V4
}

fn shape_fits(m: usize, a: Mat, b: Mat) -> bool {
    m <= MAX_ROWS && a.cs == 1 && b.rs == 1
}

/// `c (m, n) [+]= a (m, k) · b (k, n)` as dot products, for products [`takes`] accepts.
///
/// # Safety
/// As [`super::gemm`]; [`takes`] true for `m`, `a`, `b`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
    parallel: bool,
) {
    debug_assert!(shape_fits(m, a, b));
    let (c, a_ptr, b_ptr) = (SendPtr(c), a.ptr as usize, b.ptr as usize);
    let task = |cols: std::ops::Range<usize>| {
        let (a_ptr, b_ptr) = (a_ptr as *const f32, b_ptr as *const f32);
        let col = |j: usize| b_ptr.wrapping_offset(j as isize * b.cs);
        let mut j = cols.start;
        while j < cols.end {
            let nc = COLS.min(cols.end - j);
            let w: [*const f32; COLS] = std::array::from_fn(|q| col(j + q.min(nc - 1)));
            // The next block's columns, fetched while this one is computed: the weights
            // then stream at the memory's pace (4 × 4 blocks in the benchmark above: 15 GB/s
            // with it, 12 without).
            let next: [*const f32; COLS] = std::array::from_fn(|q| col(j + COLS + q));
            for i in (0..m).step_by(ROWS) {
                let nr = ROWS.min(m - i);
                let prefetch = if i == 0 { Some(next) } else { None };
                macro_rules! rows {
                    ($r:literal) => {{
                        let x: [*const f32; $r] = std::array::from_fn(|r| {
                            a_ptr.wrapping_offset((i + r.min(nr - 1)) as isize * a.rs)
                        });
                        // SAFETY: rows i..i + nr of a, columns j..j + nc of b, k long (the
                        // caller's promise); past them, the block repeats its last.
                        let sums = unsafe { block::<$r>(x, w, k, prefetch) };
                        for (r, row) in sums.iter().enumerate().take(nr) {
                            for (q, &s) in row.iter().enumerate().take(nc) {
                                // SAFETY: element (i + r, j + q) of c; this task alone writes
                                // column j + q.
                                unsafe {
                                    let at = c.get().add((i + r) * ldc + j + q);
                                    *at = if accumulate { *at + s } else { s };
                                }
                            }
                        }
                    }};
                }
                // The fewest rows that hold the group: a lone row costs one row's work.
                match nr {
                    1 => rows!(1),
                    2 => rows!(2),
                    3 | 4 => rows!(4),
                    _ => rows!(8),
                }
            }
            j += nc;
        }
    };
    // About 8 tasks a thread, in whole register blocks; one when the product is small (under
    // 64k weight elements, rayon's hand-off would cost more than the work).
    let threads = rayon::current_num_threads();
    if !parallel || threads == 1 || n * k < 1 << 16 {
        return task(0..n);
    }
    let per_task = n.div_ceil(8 * threads).next_multiple_of(COLS);
    (0..n.div_ceil(per_task))
        .into_par_iter()
        .for_each(|t| task(t * per_task..((t + 1) * per_task).min(n)));
}

/// The R × 2 dot products of rows `x` with columns `w`, each `k` long, prefetching `next`
/// (the following columns) into L2. Rows and columns past the block's real ones repeat its
/// last (computed, not stored).
///
/// # Safety
/// Each pointer of `x` and `w` valid for `k` elements; AVX-512F present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block<const R: usize>(
    x: [*const f32; R],
    w: [*const f32; COLS],
    k: usize,
    next: Option<[*const f32; COLS]>,
) -> [[f32; COLS]; R] {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); COLS]; R];
    // One step of 16 k (fewer under `mask`): a macro, not a closure, so that it is compiled
    // with this function's AVX-512.
    macro_rules! step {
        ($kk:expr, $mask:expr) => {
            let mut wv = [_mm512_setzero_ps(); COLS];
            for q in 0..COLS {
                wv[q] = _mm512_maskz_loadu_ps($mask, w[q].add($kk));
            }
            if let Some(next) = next {
                for p in next {
                    // A hint: never faults, even past the operand's end.
                    _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add($kk) as *const i8);
                }
            }
            for r in 0..R {
                let xv = _mm512_maskz_loadu_ps($mask, x[r].add($kk));
                for q in 0..COLS {
                    acc[r][q] = _mm512_fmadd_ps(xv, wv[q], acc[r][q]);
                }
            }
        };
    }
    let whole = k / 16 * 16;
    let mut kk = 0;
    while kk < whole {
        step!(kk, !0);
        kk += 16;
    }
    if whole < k {
        step!(whole, (1u16 << (k - whole)) - 1);
    }
    let mut sums = [[0f32; COLS]; R];
    for r in 0..R {
        for q in 0..COLS {
            sums[r][q] = _mm512_reduce_add_ps(acc[r][q]);
        }
    }
    sums
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn block<const R: usize>(
    _: [*const f32; R],
    _: [*const f32; COLS],
    _: usize,
    _: Option<[*const f32; COLS]>,
) -> [[f32; COLS]; R] {
    unreachable!("few_rows::takes is false without AVX-512")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::nn::fused::simd::{detected, Level};

    /// a (m, k) row-major with row stride k + 3, w (n, k) at row stride k + 1, read as b = wᵀ
    /// ([`views`]); the strides keep rows from being contiguous with each other.
    pub(in crate::nn::fused) fn operands(
        m: usize,
        n: usize,
        k: usize,
        seed: u64,
    ) -> (Vec<f32>, Vec<f32>) {
        let mut rng = crate::rng::Rng::new(seed);
        let mut rand =
            |len| -> Vec<f32> { (0..len).map(|_| rng.next_f64() as f32 - 0.5).collect() };
        (rand(m * (k + 3)), rand(n * (k + 1)))
    }

    /// [`operands`] as the product's a (m, k) and b = wᵀ (k, n).
    pub(in crate::nn::fused) fn views(
        x: &[f32],
        w: &[f32],
        (m, n, k): (usize, usize, usize),
    ) -> (Mat, Mat) {
        (
            Mat::rows(x, 0, m, k, k + 3),
            Mat::rows(w, 0, n, k, k + 1).t(),
        )
    }

    /// Element (i, j) of [`operands`]' product, summed in f64.
    pub(in crate::nn::fused) fn exact(
        x: &[f32],
        w: &[f32],
        k: usize,
        (i, j): (usize, usize),
    ) -> f64 {
        (0..k)
            .map(|l| x[i * (k + 3) + l] as f64 * w[j * (k + 1) + l] as f64)
            .sum()
    }

    /// `c (m, n)` at row stride n + 2, starting from `init`, after few_rows' product.
    fn run(
        m: usize,
        n: usize,
        k: usize,
        (x, w): (&[f32], &[f32]),
        init: f32,
        parallel: bool,
    ) -> Vec<f32> {
        let (a, b) = views(x, w, (m, n, k));
        assert!(takes(m, a, b));
        let mut c = vec![init; m * (n + 2)];
        // SAFETY: c holds m rows of n at stride n + 2; a and b are bounds-checked views.
        unsafe { gemm(m, n, k, c.as_mut_ptr(), n + 2, init != 0.0, a, b, parallel) };
        c
    }

    #[test]
    fn dot_products_match_f64_sums_and_do_not_depend_on_the_split() {
        if detected() != Level::V4 {
            return; // gemm computes these products without AVX-512 (its own tests)
        }
        // Every row block (1, 2, 4, 8, 8 + 1, 8 + 4, 8 + 8 rows), odd and even columns, k
        // below, at and past 16 lanes, and (3, 1001, 97) large enough for several rayon tasks.
        let shapes = [
            (1, 1, 1),
            (2, 5, 15),
            (3, 5, 15),
            (8, 33, 16),
            (9, 7, 17),
            (12, 9, 40),
        ];
        let shapes = shapes
            .into_iter()
            .chain([(16, 300, 70), (5, 2, 600), (3, 1001, 97)]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (m, n, k) in shapes {
            let (x, w) = operands(m, n, k, (m * 1000 + n * 10 + k) as u64);
            for init in [0.0, 0.25] {
                let c = run(m, n, k, (&x, &w), init, false);
                for i in 0..m {
                    for j in 0..n {
                        let want = init as f64 + exact(&x, &w, k, (i, j));
                        let got = c[i * (n + 2) + j];
                        assert!(
                            (got as f64 - want).abs() < 1e-5 * (k as f64).sqrt() + 1e-6,
                            "({m}, {n}, {k}) [{i}, {j}]: {got} vs {want}"
                        );
                    }
                    // The padding between rows is not written.
                    assert_eq!(&c[i * (n + 2) + n..(i + 1) * (n + 2)], &[init, init]);
                }
                // Threads, and each row computed alone, give the same bits.
                assert_eq!(pool.install(|| run(m, n, k, (&x, &w), init, true)), c);
                for i in 0..m {
                    let alone = run(1, n, k, (&x[i * (k + 3)..], &w), init, false);
                    assert_eq!(
                        &alone[..n],
                        &c[i * (n + 2)..i * (n + 2) + n],
                        "row {i} alone"
                    );
                }
            }
        }
    }

    #[test]
    fn only_few_rows_of_a_transposed_weight_are_taken() {
        let (x, w) = (vec![0f32; 17 * 8], vec![0f32; 8 * 8]);
        let wt = Mat::rows(&w, 0, 8, 8, 8).t();
        let v4 = detected() == Level::V4;
        assert_eq!(takes(16, Mat::rows(&x, 0, 16, 8, 8), wt), v4);
        assert!(!takes(17, Mat::rows(&x, 0, 17, 8, 8), wt));
        // An untransposed weight, or a strided a: gemm's packed kernels.
        assert!(!takes(
            4,
            Mat::rows(&x, 0, 4, 8, 8),
            Mat::rows(&w, 0, 8, 8, 8)
        ));
        assert!(!takes(4, Mat::rows(&x, 0, 8, 4, 4).t(), wt));
    }
}
