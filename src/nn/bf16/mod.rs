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
use pack::{PackedA, PackedB, BLOCK};
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
    run(kernel(), &a, b, SendPtr(c_ptr), ldc, accumulate, parallel);
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

/// Runs `kernel` on every block; column blocks are the tasks (each loads its own AMX tiles).
unsafe fn run(
    kernel: Kernel,
    a: &PackedA,
    b: &PackedB,
    c: SendPtr,
    ldc: usize,
    accumulate: bool,
    parallel: bool,
) {
    let (m, n) = (a.m, b.n);
    let task = |jb: usize| {
        let mut buf = vec![0f32; BLOCK * BLOCK];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Amx is chosen only when amx::available() (or forced by a test that checked).
        let _tiles = (kernel == Kernel::Amx).then(|| unsafe { amx::Tiles::load() });
        let j0 = jb * BLOCK;
        let cols = BLOCK.min(n - j0);
        for (ib, i0) in (0..m).step_by(BLOCK).enumerate() {
            #[cfg(target_arch = "x86_64")]
            if kernel == Kernel::Amx && i0 + BLOCK <= m && cols == BLOCK {
                // A whole block: the tiles are loaded from (to accumulate) and stored straight
                // into C.
                let at = c.get().add(i0 * ldc + j0);
                // SAFETY: this task alone reads and writes these 32 columns of these rows of c.
                unsafe { amx::block(a, b, (ib, jb), at, ldc, accumulate) };
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
                        std::ptr::copy_nonoverlapping(
                            corner(i),
                            buf[i * BLOCK..].as_mut_ptr(),
                            cols,
                        )
                    };
                }
            }
            // SAFETY: ib, jb are inside the operands' padding; the kernel matches the CPU.
            unsafe {
                match kernel {
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Amx => amx::block(a, b, (ib, jb), buf.as_mut_ptr(), BLOCK, accumulate),
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
    };
    let blocks = n.div_ceil(BLOCK);
    if parallel && blocks > 1 {
        (0..blocks).into_par_iter().for_each(task);
    } else {
        (0..blocks).for_each(task);
    }
}
