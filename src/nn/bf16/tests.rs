//! The kernels against exact sums, the rounding against its definition, the three kernels
//! against each other (where this CPU has them: AMX and AVX512-BF16 tests say when they skip).

use super::pack::{from_bf16, round, to_bf16, PackedB};
use super::*;
use crate::nn::fused::Mat;
use crate::rng::Rng;

#[test]
fn rounding_is_to_nearest_even_and_keeps_specials() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    assert_eq!(to_bf16(-2.0), 0xc000);
    // Halfway between 1 and 1 + 2⁻⁷: to the even one (1); just above halfway: up.
    assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
    assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
    assert_eq!(to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    assert_eq!(
        from_bf16(to_bf16(f32::MAX)),
        f32::INFINITY,
        "rounds past the largest bf16"
    );
    assert_eq!(round(0.1), 0.100097656);
}

fn rand(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
        .collect()
}

/// Random a (m, k), b (k, n) and a starting c (m, n).
fn operands(rng: &mut Rng, (m, n, k): (usize, usize, usize)) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    (rand(rng, m * k), rand(rng, k * n), rand(rng, m * n))
}

/// The kernels this CPU can run, each named; the others are reported as skipped.
fn kernels() -> Vec<Kernel> {
    let mut ks = vec![Kernel::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        for (k, ok) in [
            (Kernel::Amx, amx::available()),
            (Kernel::Avx512Bf16, avx512::available()),
        ] {
            if ok {
                ks.push(k);
            } else {
                eprintln!("bf16 tests: this CPU has no {}, skipped", k.name());
            }
        }
    }
    ks
}

/// `c [+]= a b` by `kernel` on (m, k) × (k, n), `a` read transposed when `at`, `b` when `bt`
/// (the packers' other loops).
#[allow(clippy::too_many_arguments)]
fn run_kernel(
    kernel: Kernel,
    a: &[f32],
    b: &[f32],
    c0: &[f32],
    dims: (usize, usize, usize),
    (at, bt): (bool, bool),
    acc: bool,
    parallel: bool,
) -> Vec<f32> {
    let (m, n, k) = dims;
    FORCE.with(|f| f.set(Some(kernel)));
    let am = if at {
        Mat::rows(a, 0, k, m, m).t()
    } else {
        Mat::rows(a, 0, m, k, k)
    };
    let mut c = c0.to_vec();
    // SAFETY: the operands are bounds-checked views; c is (m, n).
    unsafe {
        let bm = if bt {
            Mat::rows(b, 0, n, k, k).t()
        } else {
            Mat::rows(b, 0, k, n, n)
        };
        let pb = PackedB::new(bm, k, n);
        gemm(m, n, k, c.as_mut_ptr(), n, acc, am, &pb, parallel);
    }
    FORCE.with(|f| f.set(None));
    c
}

#[test]
fn every_kernel_sums_bf16_products_exactly_enough() {
    let mut rng = Rng::new(3);
    // Odd shapes: one row (decoding), partial blocks in every direction, k not a multiple of
    // 32, k = 1.
    for &(m, n, k) in &[
        (1, 40, 37),
        (33, 17, 100),
        (70, 65, 5),
        (32, 32, 64),
        (3, 2, 1),
    ] {
        let (a, b, c0) = operands(&mut rng, (m, n, k));
        for (at, bt) in [(false, false), (true, false), (false, true)] {
            let a_at = |i: usize, kk: usize| if at { a[kk * m + i] } else { a[i * k + kk] };
            let b_at = |kk: usize, j: usize| if bt { b[j * k + kk] } else { b[kk * n + j] };
            for kernel in kernels() {
                for acc in [false, true] {
                    let c = run_kernel(kernel, &a, &b, &c0, (m, n, k), (at, bt), acc, true);
                    for i in 0..m {
                        for j in 0..n {
                            let (mut exact, mut size) = (0f64, 0f64);
                            for kk in 0..k {
                                let p = round(a_at(i, kk)) as f64 * round(b_at(kk, j)) as f64;
                                exact += p;
                                size += p.abs();
                            }
                            if acc {
                                exact += c0[i * n + j] as f64;
                                size += (c0[i * n + j] as f64).abs();
                            }
                            let d = (c[i * n + j] as f64 - exact).abs();
                            assert!(d <= 1e-6 * size + 1e-30, "{kernel:?} ({m},{n},{k}) at={at} acc={acc} [{i},{j}]: {d} of {size}");
                            // And within bf16's rounding of the f32 product: each operand
                            // moves by at most 2⁻⁸ of itself (8 significant bits), a product 2⁻⁷.
                            let f32_sum: f64 = (0..k)
                                .map(|kk| a_at(i, kk) as f64 * b_at(kk, j) as f64)
                                .sum::<f64>()
                                + if acc { c0[i * n + j] as f64 } else { 0.0 };
                            assert!(
                                (c[i * n + j] as f64 - f32_sum).abs()
                                    <= 2f64.powi(-7) * size + 1e-6
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_threads_or_kernel_beyond_rounding() {
    let mut rng = Rng::new(4);
    let (m, n, k) = (50, 130, 200);
    let (a, b, c0) = (
        rand(&mut rng, m * k),
        rand(&mut rng, k * n),
        vec![0f32; m * n],
    );
    let reference = run_kernel(
        Kernel::Portable,
        &a,
        &b,
        &c0,
        (m, n, k),
        (false, false),
        false,
        false,
    );
    for kernel in kernels() {
        let serial = run_kernel(kernel, &a, &b, &c0, (m, n, k), (false, false), false, false);
        let parallel = run_kernel(kernel, &a, &b, &c0, (m, n, k), (false, false), false, true);
        assert_eq!(serial, parallel, "{kernel:?}: threads changed the bits");
        let d = serial
            .iter()
            .zip(&reference)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-4, "{kernel:?} vs portable: {d}");
    }
}

/// Rows of `c` values held in every other element of `wide`: a view with neither stride 1.
fn every_other(wide: &[f32], c: usize) -> Mat {
    Mat {
        ptr: wide.as_ptr(),
        rs: 2 * c as isize,
        cs: 2,
    }
}

/// Also run at the narrower SIMD levels by `nn::fused::tests::narrower_simd_levels_match_too`.
#[test]
pub(crate) fn packers_hold_every_element_rounded_and_zero_padding() {
    use super::pack::PackedA;
    let mut rng = Rng::new(5);
    for &(r, c) in &[(1, 1), (33, 70), (64, 32), (5, 97), (96, 70), (70, 96)] {
        let mut x = rand(&mut rng, r * c);
        x[0] = f32::NAN;
        // A tie, to round to even.
        x[r * c - 1] = 1.0 + 2f32.powi(-8);
        // The same (r, c) values read row-major, transposed (columns contiguous) and with
        // neither stride 1 (every other element of a wider buffer).
        let t: Vec<f32> = (0..c * r).map(|i| x[(i % r) * c + i / r]).collect();
        let wide: Vec<f32> = x.iter().flat_map(|&v| [v, -7.0]).collect();
        let views = [
            Mat::rows(&x, 0, r, c, c),
            Mat::rows(&t, 0, c, r, r).t(),
            every_other(&wide, c),
        ];
        for v in views {
            // SAFETY: the views are valid for (r, c).
            let (a, b) = unsafe { (PackedA::new(v, r, c), PackedB::new(v, r, c)) };
            for i in 0..a.data.len() / a.kp {
                for kk in 0..a.kp {
                    let want = if i < r && kk < c {
                        to_bf16(x[i * c + kk])
                    } else {
                        0
                    };
                    assert_eq!(a.at(i, kk), want, "A ({r},{c}) [{i},{kk}] {v:?}");
                }
            }
            for kk in 0..b.kp {
                for j in 0..b.np {
                    let want = if kk < r && j < c {
                        to_bf16(x[kk * c + j])
                    } else {
                        0
                    };
                    assert_eq!(b.at(kk, j), want, "B ({r},{c}) [{kk},{j}] {v:?}");
                }
            }
        }
    }
}

/// `c0 [+]= a b` on (m, k) × (k, n) row-major operands, walked as `walk` says.
fn walked(
    walk: Walk,
    (a, b, c0): (&[f32], &[f32], &[f32]),
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) -> Vec<f32> {
    // SAFETY: the views are valid for their shapes; c is (m, n); the caller checked the kernel.
    unsafe {
        let pa = super::pack::PackedA::new(Mat::rows(a, 0, m, k, k), m, k);
        let pb = PackedB::new(Mat::rows(b, 0, k, n, n), k, n);
        let mut c = c0.to_vec();
        run(walk, &pa, &pb, SendPtr(c.as_mut_ptr()), n, accumulate, true);
        c
    }
}

/// Row panels of any size give the bits of one panel, on every kernel this CPU has, alone
/// (every kernel) and with k chunks (AMX: stored to C in f32 between chunks, reloaded): the
/// sums of a block do not depend on how the product is walked, accumulating or not, in
/// whole and partial blocks.
#[test]
fn any_walk_gives_the_bits_of_one_panel_walked_whole() {
    let mut rng = Rng::new(11);
    let (m, n, k) = (70, 70, 300); // 3 row blocks, 10 steps of k; partial blocks
    let (a, b, c0) = operands(&mut rng, (m, n, k));
    for kernel in kernels() {
        for accumulate in [false, true] {
            let walk = |chunk_steps, panel_blocks| Walk {
                kernel,
                chunk_steps,
                panel_blocks,
            };
            let once = walked(walk(None, None), (&a, &b, &c0), (m, n, k), accumulate);
            let chunks: &[Option<usize>] = match kernel {
                Kernel::Amx => &[None, Some(1), Some(3), Some(4)],
                _ => &[None],
            };
            for &chunk in chunks {
                for panel in [Some(1), Some(2), None] {
                    assert!(
                        walked(walk(chunk, panel), (&a, &b, &c0), (m, n, k), accumulate) == once,
                        "{kernel:?}: chunks {chunk:?}, panels {panel:?}, accumulate {accumulate}"
                    );
                }
            }
        }
    }
}

/// A weight's two layouts packed from one read hold the bits of two separate packs, for
/// rows or columns contiguous, whole blocks and edges (and a view with neither stride 1,
/// which `both` hands to two separate packs: a check of that fallback only). The values
/// themselves are held to their definition by the test above.
#[test]
fn packing_both_layouts_at_once_gives_each_packs_bits() {
    let mut rng = Rng::new(6);
    for &(r, c) in &[(1, 1), (33, 70), (64, 32), (96, 70), (70, 96)] {
        let x = rand(&mut rng, r * c);
        let wide: Vec<f32> = x.iter().flat_map(|&v| [v, -7.0]).collect();
        let views = [
            Mat::rows(&x, 0, r, c, c),
            Mat::rows(&x, 0, r, c, c).t(),
            every_other(&wide, c),
        ];
        for (i, v) in views.into_iter().enumerate() {
            let (k, n) = if i == 1 { (c, r) } else { (r, c) };
            // SAFETY: the views are valid for (k, n).
            let ((b, bt), (want_b, want_bt)) = unsafe {
                (
                    PackedB::both(v, k, n),
                    (PackedB::new(v, k, n), PackedB::new(v.t(), n, k)),
                )
            };
            assert_eq!((b.kp, b.np), (want_b.kp, want_b.np));
            assert!(b.data == want_b.data, "b ({k},{n}) view {i}");
            assert!(bt.data == want_bt.data, "bᵀ ({n},{k}) view {i}");
        }
    }
}

/// A row's result does not depend on the rows around it: the same row alone (a partial
/// block) and among 40 (in a whole one) give the same bits, accumulating or not. Decoding one
/// token and scoring a whole block must not round differently.
#[test]
fn a_rows_bits_do_not_depend_on_the_rows_beside_it() {
    let mut rng = Rng::new(9);
    let (m, n, k) = (40, 64, 96);
    let (a, b, c0) = operands(&mut rng, (m, n, k));
    for kernel in kernels() {
        for acc in [false, true] {
            let all = run_kernel(kernel, &a, &b, &c0, (m, n, k), (false, false), acc, true);
            let one = run_kernel(
                kernel,
                &a[..k],
                &b,
                &c0[..n],
                (1, n, k),
                (false, false),
                acc,
                true,
            );
            assert_eq!(all[..n], one[..], "{kernel:?} accumulate={acc}");
        }
    }
}

#[test]
fn every_amx_probe_runs() {
    // `bench matmul`'s ceilings (amx::Probe) are hand-written asm: each must run (a tile
    // outside the configuration, or a bad operand, faults) and take time. What they measure is
    // the bench's to report, not a test's to assert.
    #[cfg(target_arch = "x86_64")]
    if amx::available() {
        use amx::{time_steps, Probe, Tiles};
        for probe in [
            Probe::Products,
            Probe::Step,
            Probe::Alternating,
            Probe::Loads,
        ] {
            // SAFETY: AMX is available; the tiles are configured on this thread meanwhile.
            let secs = unsafe {
                let _tiles = Tiles::load();
                time_steps(1_000, probe)
            };
            assert!(secs > 0.0, "{probe:?}");
        }
    }
}
