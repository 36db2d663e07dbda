//! `bench matmul`: the matrix products alone, f32 (the `gemm` crate, what fp32 layers run on
//! more than 16 rows; decoding's few rows take `fused::few_rows`) against bf16 (`crate::nn::bf16`, what `--precision bf16` runs), in GFLOP/s, with the
//! bf16 kernel's share of the processor's peak.
//!
//! Three bf16 figures per shape: the whole product from f32 operands (both rounded and packed
//! on every call: what a training step pays for activations), with the right operand packed
//! once beforehand (a frozen weight under generation or scoring), and its share of two
//! ceilings. The nominal peak is the kernel's products per cycle (AMX: one 16 × 16 × 32
//! `tdpbf16ps` per 16 cycles, 1,024 FLOP/cycle; AVX512-BF16: two 16-lane `vdpbf16ps` per cycle,
//! 128) × the clock /proc/cpuinfo reports × threads; cores boost above that clock, so on AMX
//! the bench also measures, on every thread at once, `tdpbf16ps` alone (the instruction's real
//! rate) and the kernel's inner step from L1 (four tile loads and four products: the most a
//! 2 × 2 block of tiles reaches here), and what sets that step's pace: the tile loads alone
//! (cycles each), and a 1 × 2 block whose operands alternate between two sets of tiles (no
//! load waits for a product still reading its tile, but six loads per four products).

use super::lm::init_threads;
use anyhow::{bail, Result};
use collapse_lab::nn::bf16::{
    self,
    timing::{amx_ceilings, time_products},
    Kernel,
};

#[derive(clap::Args, Debug)]
pub struct MatmulArgs {
    /// Shapes m x k x n (rows, inner, columns), comma-separated; the default is a square and
    /// OPT-125m's layers at 4 × 128 tokens (q/k/v/out, fc1, fc2) and its head
    #[arg(
        long,
        default_value = "2048x2048x2048,512x768x768,512x768x3072,512x3072x768,512x768x50272"
    )]
    shapes: String,
    /// Worker threads; default: physical cores
    #[arg(long)]
    threads: Option<usize>,
    /// Timed repetitions per measure (after one untimed)
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn parse(shapes: &str) -> Result<Vec<(usize, usize, usize)>> {
    shapes
        .split(',')
        .map(|s| {
            let d: Vec<usize> = s.split('x').filter_map(|v| v.trim().parse().ok()).collect();
            match d[..] {
                [m, k, n] if m * k * n > 0 => Ok((m, k, n)),
                _ => bail!("shape `{s}` is not m x k x n with positive sizes, e.g. 512x768x3072"),
            }
        })
        .collect()
}

/// The clock /proc/cpuinfo reports, in GHz (None where there is none).
fn nominal_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    Some(line.split(':').nth(1)?.trim().parse::<f64>().ok()? / 1000.0)
}

pub fn run(a: MatmulArgs) -> Result<()> {
    let shapes = parse(&a.shapes)?;
    let threads = init_threads(a.threads)?;
    let kernel = bf16::detected();
    let per_cycle = match kernel {
        Kernel::Amx => 1024.0,
        Kernel::Avx512Bf16 => 128.0,
        Kernel::Portable => {
            bail!("this CPU has neither AMX-BF16 nor AVX512-BF16: no bf16 kernel to measure")
        }
    };
    let ghz = nominal_ghz();
    let peak = ghz.map(|g| per_cycle * g * threads as f64);
    println!(
        "bf16 kernel: {}; threads {threads}; nominal clock {}; bf16 peak {}",
        kernel.name(),
        ghz.map_or("unknown".into(), |g| format!("{g:.2} GHz")),
        peak.map_or("unknown".into(), |p| format!("{p:.0} GFLOP/s"))
    );
    // Measured ceilings (AMX): the instruction alone, the kernel's step from L1, and what
    // sets the step's pace.
    let ceilings = amx_ceilings();
    if let Some(c) = ceilings {
        println!(
            "measured: tdpbf16ps alone {:.0} GFLOP/s, the kernel's step from L1 (4 tile loads + 4 products) {:.0} GFLOP/s",
            c.products / 1e9,
            c.step / 1e9
        );
        // tdpbf16ps takes 16 cycles: its rate gives the clock the cores ran at.
        let implied_ghz = c.products / threads as f64 / 1024.0 / 1e9;
        println!(
            "          1 x 2 blocks with alternating operand tiles (6 loads + 4 products) {:.0} GFLOP/s; tile loads alone {:.1} per thread per µs, {:.0} cycles each at the {implied_ghz:.2} GHz tdpbf16ps implies",
            c.alternating / 1e9,
            c.loads_per_thread / 1e6,
            implied_ghz * 1e9 / c.loads_per_thread
        );
    }
    println!(
        "{:>20} {:>8} {:>8} {:>12} {:>9} {:>13} {:>13} {:>10}",
        "m x k x n",
        "f32",
        "bf16",
        "bf16 packed",
        "bf16/f32",
        "of nominal",
        "of tdpbf16ps",
        "of step"
    );
    let share =
        |g: f64, of: Option<f64>| of.map_or("-".into(), |p| format!("{:.0}%", 100.0 * g / p));
    for (m, k, n) in shapes {
        let flop = 2.0 * (m * k * n) as f64;
        let t = time_products(m, k, n, a.reps);
        let (f32_s, bf16_s, packed_s) = (t.f32_s, t.bf16_s, t.bf16_packed_s);
        let g = |s: f64| flop / s / 1e9;
        println!(
            "{:>20} {:>8.0} {:>8.0} {:>12.0} {:>9.2} {:>13} {:>13} {:>10}",
            format!("{m}x{k}x{n}"),
            g(f32_s),
            g(bf16_s),
            g(packed_s),
            f32_s / bf16_s,
            share(g(packed_s), peak),
            share(g(packed_s), ceilings.map(|c| c.products / 1e9)),
            share(g(packed_s), ceilings.map(|c| c.step / 1e9)),
        );
    }
    println!("GFLOP/s, medians of {} runs; bf16: operands rounded and packed per call; bf16 packed: the right operand packed once", a.reps);
    Ok(())
}
