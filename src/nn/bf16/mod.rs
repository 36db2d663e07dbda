//! bf16 matrix products with f32 sums on the CPU: what `--precision bf16` runs its matrix
//! products with (`crate::nn::precision` says when).
//!
//! `c (m, n) [+]= a (m, k) · b (k, n)`: both operands rounded to bf16 (to nearest even) and
//! packed (`pack/`), each 32 × 32 block of `c` computed by one of three kernels, chosen once
//! at run time:
//! - `amx.rs`: AMX tiles (Sapphire Rapids and later), `tdpbf16ps`, 16 × 16 × 32 per instruction;
//! - `avx512.rs`: AVX512-BF16 `vdpbf16ps` (16 lanes × 2 products) where there is no AMX;
//! - `portable.rs`: plain Rust, the reference the tests hold the other two to.
//!
//! Column blocks of `c` are rayon tasks (the first writes each element, or adds to it), so
//! the result does not depend on the thread count. Only x86-64 has the fast kernels.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod pack;
mod portable;
#[cfg(test)]
pub(crate) mod tests;
pub mod timing;

use crate::nn::fused::{Mat, SendPtr};
use pack::{PackedA, PackedB, BLOCK, K_STEP};
use rayon::prelude::*;

/// Which instructions compute the blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Amx,
    Avx512Bf16,
    Portable,
}

impl Kernel {
    /// How the manifests and `--help` name it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Amx => "AMX-BF16 tiles",
            Kernel::Avx512Bf16 => "AVX512-BF16 dot products",
            Kernel::Portable => "portable (no bf16 instructions)",
        }
    }
}

/// The fastest kernel this CPU and OS allow: AMX, else AVX512-BF16, else the portable one.
pub fn detected() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        if amx::available() {
            return Kernel::Amx;
        }
        if avx512::available() {
            return Kernel::Avx512Bf16;
        }
    }
    Kernel::Portable
}

// Tests run a kernel other than the detected one on the products they make here.
#[cfg(test)]
thread_local! {
    pub(crate) static FORCE: std::cell::Cell<Option<Kernel>> = const { std::cell::Cell::new(None) };
}

fn kernel() -> Kernel {
    #[cfg(test)]
    if let Some(k) = FORCE.with(|f| f.get()) {
        return k;
    }
    static K: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *K.get_or_init(detected)
}

/// `c (m, n) [+]= a (m, k) · b (k, n)` in bf16 with f32 sums, `c` row-major at stride `ldc`.
///
/// # Safety
/// As [`crate::nn::fused::gemm`]: `c_ptr` valid for the m rows of n at `ldc` and not aliased,
/// `a` valid for (m, k).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    c_ptr: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: Mat,
    b: &PackedB,
    parallel: bool,
) {
    assert_eq!(
        (b.k, b.n),
        (k, n),
        "bf16 gemm: packed b does not match the product"
    );
    if m == 0 || n == 0 {
        return;
    }
    let a = PackedA::new(a, m, k);
    let walk = Walk::for_kernel(kernel());
    run(walk, &a, b, SendPtr(c_ptr), ldc, accumulate, parallel);
}

/// [`gemm`] into a fresh row-major (m, n) buffer.
///
/// # Safety
/// As [`gemm`].
pub(crate) unsafe fn product(m: usize, a: Mat, b: &PackedB, parallel: bool) -> Vec<f32> {
    // Not zeroed first: gemm without accumulate writes every element (each block of `run`).
    let mut c = Vec::with_capacity(m * b.n);
    gemm(m, b.n, b.k, c.as_mut_ptr(), b.n, false, a, b, parallel);
    c.set_len(m * b.n);
    c
}

/// How [`run`] walks a product, so that each operand is read from memory about once: k in
/// chunks of `CHUNK_STEPS` steps (AMX only: its partial sums go to C in f32 and come back
/// exactly, so the bits do not change; the other kernels sum each block whole), rows in
/// panels of at most `PANEL_BYTES` of A's chunk (bf16), which stays in L2 (2 MB a core here)
/// while every column block reads it. Walked whole instead, a product with a long k read all
/// of A again for every 32 columns: OPT's head gradient 512 × 50,272 × 768 streamed 51 MB 24
/// times.
const CHUNK_STEPS: usize = 32;
const PANEL_BYTES: usize = 1 << 20;

/// Which kernel computes the blocks, in k chunks of how many steps (`None`: whole) and row
/// panels of how many blocks (`None`: [`PANEL_BYTES`] of A's chunk).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    pub kernel: Kernel,
    pub chunk_steps: Option<usize>,
    pub panel_blocks: Option<usize>,
}

impl Walk {
    /// AMX in chunks of [`CHUNK_STEPS`]; the other kernels whole.
    pub(crate) fn for_kernel(kernel: Kernel) -> Walk {
        let chunk_steps = (kernel == Kernel::Amx).then_some(CHUNK_STEPS);
        Walk {
            kernel,
            chunk_steps,
            panel_blocks: None,
        }
    }
}

/// Runs the walk's kernel on every block, chunk by chunk and panel by panel ([`CHUNK_STEPS`],
/// [`PANEL_BYTES`]); in each, the column blocks are the tasks (each loads its own AMX tiles).
///
/// # Safety
/// `c` valid for the a.m rows of b.n at `ldc` and not aliased; the walk's kernel available on
/// this CPU.
pub(crate) unsafe fn run(
    walk: Walk,
    a: &PackedA,
    b: &PackedB,
    c: SendPtr,
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    assert_eq!(a.kp, b.kp, "bf16 run: the operands' k differ");
    let (m, n, steps) = (a.m, b.n, a.kp / K_STEP);
    let kernel = walk.kernel;
    let chunk = match walk.chunk_steps {
        // Only AMX can stop and resume its sums exactly.
        Some(c) if kernel == Kernel::Amx => c.max(1),
        _ => steps,
    };
    for (first, s0) in (0..steps).step_by(chunk).map(|s| (s == 0, s)) {
        let ks = s0..(s0 + chunk).min(steps);
        // Later chunks add to the sums the earlier ones left in C.
        let accumulate = accumulate || !first;
        let panel_blocks = walk
            .panel_blocks
            .unwrap_or(PANEL_BYTES / (ks.len() * K_STEP * BLOCK * 2))
            .max(1);
        for p0 in (0..m.div_ceil(BLOCK)).step_by(panel_blocks) {
            let panel = p0..(p0 + panel_blocks).min(m.div_ceil(BLOCK));
            let task = |jb: usize| {
                // SAFETY: the caller's promises, for this task's column block.
                unsafe {
                    column_block(
                        kernel,
                        (a, b),
                        (panel.clone(), jb, ks.clone()),
                        (c, ldc),
                        accumulate,
                    )
                }
            };
            let blocks = n.div_ceil(BLOCK);
            if parallel && blocks > 1 {
                (0..blocks).into_par_iter().for_each(task);
            } else {
                (0..blocks).for_each(task);
            }
        }
    }
}

/// Blocks `ib` in `rows` of column block `jb` over the k steps `ks` (all of them for kernels
/// other than AMX), into C.
///
/// # Safety
/// As [`run`]; no other task writes these columns of these rows.
unsafe fn column_block(
    kernel: Kernel,
    (a, b): (&PackedA, &PackedB),
    (rows, jb, ks): (std::ops::Range<usize>, usize, std::ops::Range<usize>),
    (c, ldc): (SendPtr, usize),
    accumulate: bool,
) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ks; // only AMX walks k in chunks
    let (m, n) = (a.m, b.n);
    let mut buf = vec![0f32; BLOCK * BLOCK];
    #[cfg(target_arch = "x86_64")]
    // SAFETY: Amx is chosen only when amx::available() (or forced by a test that checked).
    let _tiles = (kernel == Kernel::Amx).then(|| unsafe { amx::Tiles::load() });
    let j0 = jb * BLOCK;
    let cols = BLOCK.min(n - j0);
    for ib in rows {
        let i0 = ib * BLOCK;
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx && i0 + BLOCK <= m && cols == BLOCK {
            // A whole block: the tiles are loaded from (to accumulate) and stored straight
            // into C.
            let at = c.get().add(i0 * ldc + j0);
            // SAFETY: this task alone reads and writes these 32 columns of these rows of c.
            unsafe { amx::block(a, b, (ib, jb), ks.clone(), (at, ldc), accumulate) };
            continue;
        }
        let rows = BLOCK.min(m - i0);
        let corner = |i: usize| c.get().add((i0 + i) * ldc + j0);
        // The AMX sums start from C, in whole blocks and in partial ones alike (a corner
        // copied into the zero-padded buffer), so its bits do not depend on where a row
        // falls; the other kernels add C to their sums afterwards.
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx && accumulate {
            buf.fill(0.0);
            for i in 0..rows {
                // SAFETY: this task alone reads and writes these columns of c's rows.
                unsafe {
                    std::ptr::copy_nonoverlapping(corner(i), buf[i * BLOCK..].as_mut_ptr(), cols)
                };
            }
        }
        // SAFETY: ib, jb are inside the operands' padding; the kernel matches the CPU.
        unsafe {
            match kernel {
                #[cfg(target_arch = "x86_64")]
                Kernel::Amx => amx::block(
                    a,
                    b,
                    (ib, jb),
                    ks.clone(),
                    (buf.as_mut_ptr(), BLOCK),
                    accumulate,
                ),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512Bf16 => avx512::block(a, b, ib, jb, &mut buf),
                _ => portable::block(a, b, ib, jb, &mut buf),
            }
        }
        for i in 0..rows {
            let src = &buf[i * BLOCK..i * BLOCK + cols];
            if accumulate && kernel != Kernel::Amx {
                // SAFETY: this task alone reads and writes these columns of c's rows
                // (initialised: the caller accumulates into them).
                let dst = unsafe { std::slice::from_raw_parts_mut(corner(i), cols) };
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            } else {
                // SAFETY: as above; written without being read (c may be uninitialised).
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), corner(i), cols) };
            }
        }
    }
}
