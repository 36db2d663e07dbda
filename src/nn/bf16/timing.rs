//! Timings of the products alone, for `collapse-lab bench matmul` (which lives in the binary,
//! outside the crate's internals).

use super::pack::PackedB;
use crate::nn::fused::{self, Mat};
use std::time::Instant;

/// Median seconds of one product of a (m, k) by a (k, n) of random values: f32 (`gemm`), bf16
/// with both operands rounded and packed per call, and bf16 with the right operand packed
/// once beforehand (a frozen weight).
#[derive(Clone, Copy, Debug)]
pub struct ProductTimes {
    pub f32_s: f64,
    pub bf16_s: f64,
    pub bf16_packed_s: f64,
}

/// Median seconds of `reps` runs of `f` after one untimed.
fn median(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Times the three products of shape (m, k) × (k, n), `reps` times each (rayon's threads).
pub fn time_products(m: usize, k: usize, n: usize, reps: usize) -> ProductTimes {
    let mut rng = crate::rng::Rng::new(1);
    let mut rand =
        |len: usize| -> Vec<f32> { (0..len).map(|_| rng.next_f64() as f32 - 0.5).collect() };
    let (x, w) = (rand(m * k), rand(k * n));
    let (a, b) = (Mat::rows(&x, 0, m, k, k), Mat::rows(&w, 0, k, n, n));
    // SAFETY: the operands are bounds-checked views of live vectors.
    unsafe {
        let f32_s = median(reps, || drop(fused::product(m, n, k, a, b, true)));
        let bf16_s = median(reps, || {
            drop(super::product(m, a, &PackedB::new(b, k, n), true))
        });
        let packed = PackedB::new(b, k, n);
        let bf16_packed_s = median(reps, || drop(super::product(m, a, &packed, true)));
        ProductTimes {
            f32_s,
            bf16_s,
            bf16_packed_s,
        }
    }
}

/// The AMX kernel's ceilings, measured on every thread at once (the probes of `amx.rs`):
/// `tdpbf16ps` alone (the instruction's rate at the clock the cores run), the 2 × 2 block's step
/// from L1 (the most [`super::gemm`] can reach), and the alternating 1 × 2 step, in FLOP/s; and
/// the step's four tile loads alone, in tile loads per second per thread.
#[derive(Clone, Copy, Debug)]
pub struct AmxCeilings {
    pub products: f64,
    pub step: f64,
    pub alternating: f64,
    pub loads_per_thread: f64,
}

/// Measures [`AmxCeilings`] (about a second); None without AMX.
pub fn amx_ceilings() -> Option<AmxCeilings> {
    #[cfg(target_arch = "x86_64")]
    if super::detected() == super::Kernel::Amx {
        use super::amx::{time_steps, Probe, Tiles};
        const REPS: usize = 2_000_000;
        let secs = |probe: Probe| {
            // SAFETY: AMX was detected; each thread holds its tile configuration while timing.
            rayon::broadcast(|_| unsafe {
                let _tiles = Tiles::load();
                time_steps(REPS / 10, probe);
                time_steps(REPS, probe)
            })
        };
        let rate = |probe: Probe| {
            let flop = (REPS * probe.products() * 16 * 16 * 32 * 2) as f64;
            secs(probe).iter().map(|s| flop / s).sum::<f64>()
        };
        let loads = secs(Probe::Loads);
        return Some(AmxCeilings {
            products: rate(Probe::Products),
            step: rate(Probe::Step),
            alternating: rate(Probe::Alternating),
            loads_per_thread: loads.iter().map(|s| (REPS * 4) as f64 / s).sum::<f64>()
                / loads.len() as f64,
        });
    }
    None
}
