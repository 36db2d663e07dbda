//! The `collapse-lab` binary: parse flags, call the library, map errors to exit codes.
//!
//! Exit codes: 0 success; 1 `eval --fail-on` flagged a sign of collapse; 2 an error (bad
//! input, with a one-line message and a hint); clap's own usage errors are 2 as well.

mod bench;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    single_threaded_candle_elementwise();
    let args = cli::Cli::parse();
    collapse_lab::progress::set_quiet(args.quiet);
    init_logging(args.verbose, args.quiet);
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // One line, always: some errors (candle's, with a backtrace when CUDA fails) carry
            // many; the first says what went wrong.
            let first = |s: String| s.lines().next().unwrap_or_default().trim_end().to_string();
            match e.downcast_ref::<collapse_lab::Error>() {
                Some(lib) => eprintln!(
                    "error: {} (hint: {})",
                    first(lib.to_string()),
                    first(lib.hint())
                ),
                None => eprintln!("error: {}", first(format!("{e:#}"))),
            }
            ExitCode::from(2)
        }
    }
}

/// Tells glibc's malloc to serve every allocation from its heap and never hand freed memory
/// back to the kernel. Why: GPT training allocates and frees tens of megabytes per op (logits,
/// activations, gradients); by default blocks that large are fresh `mmap`s, so every step
/// page-faults and the kernel zeroes hundreds of megabytes again (a fifth of a CPU training
/// step, measured with perf). The process keeps its peak memory instead, which a training
/// run reaches in its first step anyway.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_MAX: i32 = -4;
        // SAFETY: mallopt only sets allocator parameters; called before any other thread runs.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// Runs candle's own elementwise ops (residual adds, gradient accumulation: what is left after
/// our fused kernels, see `nn::fused`) on the calling thread, unless CANDLE_NUM_THREADS is set.
/// Why: candle parallelises them on a second pool of spinning threads beside rayon's (which
/// our kernels and the matrix products use); on a small machine the two pools take turns
/// spinning on the same cores. Measured on 2 cores, tiny preset: 340-380 ms/step with one
/// thread there against 445-560 with the default.
fn single_threaded_candle_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Before any thread starts: nothing reads the environment concurrently.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, 0) => tracing::Level::ERROR,
        (_, 0) => tracing::Level::WARN,
        (_, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
