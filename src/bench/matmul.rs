//! `bench matmul`: the matrix products alone, f32 (the `gemm` crate, what every fp32 layer
//! runs) against bf16 (`crate::nn::bf16`, what `--precision bf16` runs), in GFLOP/s, with the
//! bf16 kernel's share of the processor's peak.
//!
//! Three bf16 figures per shape: the whole product from f32 operands (both rounded and packed
//! on every call: what a training step pays for activations), with the right operand packed
//! once beforehand (a frozen weight under generation or scoring), and the peak it is measured
//! against: the kernel's products per cycle (AMX: one 16 × 16 × 32 `tdpbf16ps` per 16 cycles,
//! 1,024 FLOP/cycle; AVX512-BF16: two 16-lane `vdpbf16ps` per cycle, 128) × the clock the
//! kernel reports in /proc/cpuinfo × threads. That clock is the nominal one; a core boosting
//! above it makes the share read high, so it is an estimate.

use super::lm::init_threads;
use anyhow::{bail, Result};
use collapse_lab::nn::bf16::{self, timing::time_products, Kernel};

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
    println!(
        "{:>20} {:>10} {:>10} {:>12} {:>9} {:>12}",
        "m x k x n", "f32", "bf16", "bf16 packed", "bf16/f32", "of bf16 peak"
    );
    for (m, k, n) in shapes {
        let flop = 2.0 * (m * k * n) as f64;
        let t = time_products(m, k, n, a.reps);
        let (f32_s, bf16_s, packed_s) = (t.f32_s, t.bf16_s, t.bf16_packed_s);
        let g = |s: f64| flop / s / 1e9;
        println!(
            "{:>20} {:>10.0} {:>10.0} {:>12.0} {:>9.2} {:>12}",
            format!("{m}x{k}x{n}"),
            g(f32_s),
            g(bf16_s),
            g(packed_s),
            f32_s / bf16_s,
            peak.map_or("-".into(), |p| format!("{:.0}%", 100.0 * g(packed_s) / p))
        );
    }
    println!("GFLOP/s, medians of {} runs; bf16: operands rounded and packed per call; bf16 packed: the right operand packed once", a.reps);
    Ok(())
}
