//! B's steps where its columns are contiguous along k (a `torch.nn.Linear` weight, or the
//! tied head, read transposed: the forward's layout of every OPT, Llama and NeoX weight).
//!
//! A column's consecutive k are already the pairs a word holds, so a column's 32 k of a step
//! round to its 16 words in order; the tile wants them down its column: each 16 columns × 16
//! words of a step is a 16 × 16 transpose. With AVX-512 it is done in registers (four rounds
//! of two-source permutes) and each tile row stored whole; elsewhere each word is stored to
//! its place, one column at a time.

use super::steps::Lines;
use super::{pair_word, BLOCK, K_STEP, STEP, TILE};
use crate::nn::fused::multiversion;
use std::mem::MaybeUninit;

/// Every step of a block from its 32 columns (`src.line(r, ..)`: column r's k, `steps` × 32 of
/// them, `steps` = the whole steps `dst` holds).
pub(super) fn column_steps_into(dst: &mut [MaybeUninit<u32>], src: Lines) {
    let len = dst.len() / (STEP / 2) * K_STEP;
    #[cfg(target_arch = "x86_64")]
    if crate::nn::fused::simd::level() == crate::nn::fused::simd::Level::V4 {
        assert!(
            src.data.len() >= (BLOCK - 1) * src.ld + len,
            "columns inside the operand"
        );
        // SAFETY: AVX-512 F and BW were detected (level V4); every read is inside `src`
        // (asserted) and every write inside `dst` (its whole steps).
        return unsafe { avx512::column_steps_into(dst, src) };
    }
    for r in 0..BLOCK {
        pair_column_into(dst, src.line(r, 0, len), r);
    }
}

multiversion! {
    /// Column `r` of a block's whole steps, from that column's k contiguous (`src`): each
    /// step's 32 k are 16 words, written down the column's place in its tile.
    fn pair_column_into(dst: &mut [MaybeUninit<u32>], src: &[f32], r: usize) {
        let (t, jj) = (r / 16, r % 16);
        for (step, x) in dst.chunks_exact_mut(STEP / 2).zip(src.chunks_exact(K_STEP)) {
            let tile = &mut step[t * TILE / 2..][..TILE / 2];
            for (p, pair) in x.chunks_exact(2).enumerate() {
                tile[p * 16 + jj].write(pair_word(pair[0], pair[1]));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::steps::Lines;
    use super::super::TILE;
    use super::{K_STEP, STEP};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `rounded_bits` on 16 lanes: to nearest even, NaN quieted (the bf16 in the upper half).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn rounded(b: __m512i) -> __m512i {
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
        let r = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
        let magnitude = _mm512_and_si512(b, _mm512_set1_epi32(0x7fff_ffff));
        let nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7f80_0000));
        _mm512_mask_or_epi32(r, nan, b, _mm512_set1_epi32(0x40_0000))
    }

    /// The upper halves of `a`'s 16 lanes then `b`'s: the 32 bf16 in order, 16 words.
    const UPPER_HALVES: [u16; 32] = {
        let mut idx = [0u16; 32];
        let mut i = 0;
        while i < 32 {
            idx[i] = 2 * i as u16 + 1;
            i += 1;
        }
        idx
    };

    /// Permute indices of the transpose's round that swaps blocks of `b` lanes between rows
    /// `b` apart: the row with bit `b` clear keeps its lanes with it clear and takes the other
    /// row's (lo); the other row the reverse (hi). Lanes 16-31 are the second source's.
    const fn swap_indices(b: u32) -> ([u32; 16], [u32; 16]) {
        let (mut lo, mut hi) = ([0u32; 16], [0u32; 16]);
        let mut l = 0;
        while l < 16 {
            let l32 = l as u32;
            if l32 & b == 0 {
                lo[l] = l32;
                hi[l] = l32 + b;
            } else {
                lo[l] = 16 + l32 - b;
                hi[l] = 16 + l32;
            }
            l += 1;
        }
        (lo, hi)
    }
    const ROUNDS: [([u32; 16], [u32; 16]); 4] = [
        swap_indices(8),
        swap_indices(4),
        swap_indices(2),
        swap_indices(1),
    ];

    /// `v[i]` lane j becomes `v[j]` lane i.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(v: &mut [__m512i; 16]) {
        for (round, (lo, hi)) in ROUNDS.iter().enumerate() {
            let b = 8 >> round;
            // SAFETY: 16 u32 are 64 bytes, an unaligned load.
            let (lo, hi) = unsafe {
                (
                    _mm512_loadu_si512(lo.as_ptr().cast()),
                    _mm512_loadu_si512(hi.as_ptr().cast()),
                )
            };
            for i in (0..16).filter(|i| i & b == 0) {
                let (x, y) = (v[i], v[i + b]);
                v[i] = _mm512_permutex2var_epi32(x, lo, y);
                v[i + b] = _mm512_permutex2var_epi32(x, hi, y);
            }
        }
    }

    /// [`super::column_steps_into`] in registers.
    ///
    /// # Safety
    /// AVX-512 F and BW; `src` holds 32 columns of the whole steps `dst` holds.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn column_steps_into(dst: &mut [MaybeUninit<u32>], src: Lines) {
        let steps = dst.len() / (STEP / 2);
        let out = dst.as_mut_ptr() as *mut u32;
        let upper = _mm512_loadu_si512(UPPER_HALVES.as_ptr().cast());
        for s in 0..steps {
            for half in 0..2 {
                let mut v = [_mm512_setzero_si512(); 16];
                for (jj, row) in v.iter_mut().enumerate() {
                    let at = src
                        .data
                        .as_ptr()
                        .add((16 * half + jj) * src.ld + s * K_STEP);
                    let a = rounded(_mm512_loadu_si512(at.cast()));
                    let b = rounded(_mm512_loadu_si512(at.add(16).cast()));
                    // Column jj's 16 words of this step.
                    *row = _mm512_permutex2var_epi16(a, upper, b);
                }
                transpose(&mut v);
                // Tile row p: word p of each of the 16 columns.
                let tile = out.add(s * STEP / 2 + half * TILE / 2);
                for (p, row) in v.iter().enumerate() {
                    _mm512_storeu_si512(tile.add(16 * p).cast(), *row);
                }
            }
        }
    }
}
