//! The AMX kernel: a 32 × 32 block of C in four 16 × 16 f32 tiles, `tdpbf16ps` on two A tiles
//! (16 rows × 32 bf16) and two B tiles (16 pair-rows × 16 columns) per 32 of k.
//!
//! AMX needs two things from the system before its first instruction: the CPU's bits
//! (CPUID.7.0:EDX AMX-TILE and AMX-BF16, and the OS enabling the tile state in XCR0 bits 17-18),
//! and, on Linux, the process's permission to use the tile data state, which the kernel
//! grants through `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)` (without it the first
//! tile instruction kills the process with SIGILL). Each rayon task then loads the tile
//! configuration (`ldtilecfg`: eight tiles of 16 rows × 64 bytes) and releases it at the end.
//! The instructions are written with `asm!`: Rust's AMX intrinsics are not stable.

use super::pack::{PackedA, PackedB, K_STEP, TILE};
use std::arch::asm;

/// Whether this CPU and OS let this process use AMX-BF16 (asks the kernel's permission once).
pub fn available() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        // SAFETY: CPUID and XGETBV are available on every x86-64 CPU that reports OSXSAVE.
        unsafe {
            use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
            if __cpuid(0).eax < 7 || (__cpuid(1).ecx >> 27) & 1 == 0 {
                return false; // no leaf 7, or no XGETBV
            }
            let edx = __cpuid_count(7, 0).edx;
            let (bf16, tile) = ((edx >> 22) & 1 == 1, (edx >> 24) & 1 == 1);
            if !(bf16 && tile) || (_xgetbv(0) >> 17) & 3 != 3 {
                return false;
            }
        }
        permission()
    })
}

#[cfg(target_os = "linux")]
fn permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a request for a process-wide permission; no memory is passed.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn permission() -> bool {
    false // other systems: not supported here (their permission models differ)
}

/// The tile configuration of one task: loaded on creation, released on drop.
pub struct Tiles;

#[repr(C, align(64))]
struct Config([u8; 64]);

impl Tiles {
    /// # Safety
    /// [`available`] must have returned true.
    pub unsafe fn load() -> Tiles {
        let mut cfg = Config([0; 64]);
        cfg.0[0] = 1; // palette 1
        for t in 0..8 {
            cfg.0[16 + 2 * t] = 64; // bytes per row
            cfg.0[48 + t] = 16; // rows
        }
        asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack));
        Tiles
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: a configuration was loaded by `load`.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// The block (ib, jb) of C (32 × 32, padded) over the k steps `steps`, into `out`, 32 rows of
/// 32 at row stride `ld` (the tiles are stored straight there: into C itself when the block
/// is whole), added to what `out` holds when `accumulate` (the sums then start from it, so a
/// product done in k chunks has the bits of one done whole: the sums go out and come back in
/// f32).
///
/// # Safety
/// A [`Tiles`] must be live on this thread; ib, jb and `steps` inside the packed operands;
/// `out` valid for 32 rows of 32 at stride `ld`.
pub unsafe fn block(
    a: &PackedA,
    b: &PackedB,
    (ib, jb): (usize, usize),
    steps: std::ops::Range<usize>,
    (out, ld): (*mut f32, usize),
    accumulate: bool,
) {
    debug_assert!(a.kp == b.kp && steps.end <= a.kp / K_STEP);
    let (pa, pb) = (a.tile(ib, steps.start, 0), b.tile(jb, steps.start, 0));
    if accumulate {
        asm!(
            "tileloadd tmm0, [{o0} + {s}*1]",
            "tileloadd tmm1, [{o1} + {s}*1]",
            "tileloadd tmm2, [{o2} + {s}*1]",
            "tileloadd tmm3, [{o3} + {s}*1]",
            o0 = in(reg) out,
            o1 = in(reg) out.add(16),
            o2 = in(reg) out.add(16 * ld),
            o3 = in(reg) out.add(16 * ld + 16),
            s = in(reg) ld * 4,
            options(nostack, readonly)
        );
    } else {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        );
    }
    // Each step's two A tiles and two B tiles are 2 KB of contiguous memory (pack/).
    for s in 0..steps.len() {
        step(pa.add(s * 2 * TILE), pb.add(s * 2 * TILE));
    }
    let o = out;
    asm!(
        "tilestored [{o0} + {s}*1], tmm0",
        "tilestored [{o1} + {s}*1], tmm1",
        "tilestored [{o2} + {s}*1], tmm2",
        "tilestored [{o3} + {s}*1], tmm3",
        o0 = in(reg) o,
        o1 = in(reg) o.add(16),
        o2 = in(reg) o.add(16 * ld),
        o3 = in(reg) o.add(16 * ld + 16),
        s = in(reg) ld * 4,
        options(nostack)
    );
}

/// `asm!` of the given lines with the operands a step reads: `{a0}` and `{a1}`, the A tiles at
/// `a0` and `a0 + TILE`; `{b0}` and `{b1}`, the B tiles at `b0` and `b0 + TILE`; `{row}`, the
/// 64 bytes between a tile's rows. Shared by [`step`] and the probes of [`time_steps`].
macro_rules! on_operand_tiles {
    ($a0:expr, $b0:expr; $($line:literal),+ $(,)?) => {
        asm!(
            $($line),+,
            a0 = in(reg) $a0,
            a1 = in(reg) $a0.add(TILE),
            b0 = in(reg) $b0,
            b1 = in(reg) $b0.add(TILE),
            row = in(reg) 64usize,
            options(nostack, readonly)
        )
    };
}

/// One step: the A tiles at `a0` and `a0 + TILE` times the B tiles at `b0` and `b0 + TILE`,
/// added to the four sums (tmm0-3).
///
/// # Safety
/// A [`Tiles`] must be live on this thread; the four tiles readable.
#[inline(always)]
unsafe fn step(a0: *const u16, b0: *const u16) {
    on_operand_tiles!(
        a0, b0;
        // Each load just before the first product that needs it, so a reload waits only for
        // the products that read the tile before (in a throwaway loop on this machine, not
        // kept in the repo, this order was about 12% faster than four loads first).
        "tileloadd tmm4, [{a0} + {row}*1]",
        "tileloadd tmm6, [{b0} + {row}*1]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tileloadd tmm7, [{b1} + {row}*1]",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tileloadd tmm5, [{a1} + {row}*1]",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
    );
}

/// What [`time_steps`] times: the ceilings `bench matmul` measures the kernel against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The four `tdpbf16ps` of a step alone, on whatever the tiles hold: the instruction's rate.
    Products,
    /// [`block`]'s inner step: its four tile loads and four products (a 2 × 2 block of tiles).
    Step,
    /// Two steps of a 1 × 2 block (one A tile, two B tiles) whose operands alternate between
    /// two sets of tiles, so that no load waits for a product still reading its tile: six
    /// loads and four products.
    Alternating,
    /// The step's four tile loads alone.
    Loads,
}

impl Probe {
    /// `tdpbf16ps` per timed repetition (each 16 × 16 × 32 × 2 = 16,384 FLOP).
    pub fn products(self) -> usize {
        match self {
            Probe::Loads => 0,
            _ => 4,
        }
    }
}

/// Seconds for `reps` repetitions of `probe` on one 4 KB set of operand tiles that stays in L1.
///
/// # Safety
/// A [`Tiles`] must be live on this thread.
pub unsafe fn time_steps(reps: usize, probe: Probe) -> f64 {
    let operands = vec![0u16; 4 * TILE];
    let p = operands.as_ptr();
    let (a0, b0) = (p, p.add(2 * TILE)); // A tiles a0, a0 + TILE; B tiles b0, b0 + TILE
    let start = std::time::Instant::now();
    for _ in 0..reps {
        match probe {
            Probe::Step => step(a0, b0),
            Probe::Products => asm!(
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                options(nostack, nomem)
            ),
            // Sums in tmm0-1; operands in tmm2-4, then tmm5-7.
            Probe::Alternating => on_operand_tiles!(
                a0, b0;
                "tileloadd tmm2, [{a0} + {row}*1]",
                "tileloadd tmm3, [{b0} + {row}*1]",
                "tdpbf16ps tmm0, tmm2, tmm3",
                "tileloadd tmm4, [{b1} + {row}*1]",
                "tdpbf16ps tmm1, tmm2, tmm4",
                "tileloadd tmm5, [{a1} + {row}*1]",
                "tileloadd tmm6, [{b0} + {row}*1]",
                "tdpbf16ps tmm0, tmm5, tmm6",
                "tileloadd tmm7, [{b1} + {row}*1]",
                "tdpbf16ps tmm1, tmm5, tmm7",
            ),
            Probe::Loads => on_operand_tiles!(
                a0, b0;
                "tileloadd tmm4, [{a0} + {row}*1]",
                "tileloadd tmm6, [{b0} + {row}*1]",
                "tileloadd tmm7, [{b1} + {row}*1]",
                "tileloadd tmm5, [{a1} + {row}*1]",
            ),
        }
    }
    start.elapsed().as_secs_f64()
}
