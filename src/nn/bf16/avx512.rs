//! The AVX512-BF16 kernel (CPUs with AVX512-BF16 but no AMX, e.g. Cooper Lake, Zen 4): a
//! 32 × 32 block of C as four 8-row strips, each 8 rows × 2 vectors of 16 f32 accumulators.
//! One pair-row of a packed B tile (`pack/`) is 16 columns × 2 consecutive k in 64 bytes,
//! exactly one `vdpbf16ps` operand; the matching two values of A's row are broadcast to every
//! lane.

use super::pack::{PackedA, PackedB, BLOCK, K_STEP};
use std::arch::x86_64::*;

/// Whether this CPU has AVX512-BF16 (and the AVX-512 foundation it extends).
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512bf16")
        && std::arch::is_x86_feature_detected!("avx512f")
}

/// Rows per strip: 8 × 2 accumulators + 2 B vectors + 1 broadcast of 32 registers.
const ROWS: usize = 8;

/// The block (ib, jb) of C (32 × 32, padded) into `out` (row-major, 32 wide).
///
/// # Safety
/// [`available`] must have returned true; ib and jb inside the packed operands.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn block(a: &PackedA, b: &PackedB, ib: usize, jb: usize, out: &mut [f32]) {
    debug_assert!(a.kp == b.kp && out.len() >= BLOCK * BLOCK);
    for strip in 0..BLOCK / ROWS {
        let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
        for s in 0..a.kp / K_STEP {
            // The strip's rows sit in one A tile: 16 rows of 32 k.
            let rows = a
                .tile(ib, s, strip * ROWS / 16)
                .add((strip * ROWS % 16) * 32);
            let (b0, b1) = (b.tile(jb, s, 0), b.tile(jb, s, 1));
            for pair in 0..K_STEP / 2 {
                let load = |p: *const u16| -> __m512bh {
                    std::mem::transmute(_mm512_loadu_si512(p.add(pair * 32) as *const _))
                };
                let (v0, v1) = (load(b0), load(b1));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let two = (rows.add(r * 32 + 2 * pair) as *const i32).read_unaligned();
                    let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(two));
                    acc[0] = _mm512_dpbf16_ps(acc[0], av, v0);
                    acc[1] = _mm512_dpbf16_ps(acc[1], av, v1);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let o = out.as_mut_ptr().add((strip * ROWS + r) * BLOCK);
            _mm512_storeu_ps(o, acc[0]);
            _mm512_storeu_ps(o.add(16), acc[1]);
        }
    }
}
