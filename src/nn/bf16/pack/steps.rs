//! The packers' inner loops: one step (32 × 32) of an operand rounded into its layout, read
//! straight from the operand where its rows (or columns) are contiguous, else staged in L1.

use super::{pair_word, to_bf16, BLOCK, K_STEP, STEP, TILE};
use crate::nn::fused::{multiversion, Mat};
use std::mem::MaybeUninit;

/// Copies the (rows, cols) f32 corner of `src` into `stage` (32 × 32, row-major), zeros
/// elsewhere.
///
/// # Safety
/// `src` must be valid for (rows, cols) at its strides; rows, cols ≤ 32.
pub(super) unsafe fn stage_rows(stage: &mut [f32; STEP], src: Mat, rows: usize, cols: usize) {
    if rows < BLOCK || cols < K_STEP {
        stage.fill(0.0);
    }
    if cols == 0 {
        return; // nothing to read (and a row's start may lie past the operand)
    }
    for (r, row) in stage.chunks_exact_mut(K_STEP).take(rows).enumerate() {
        let from = src.ptr.offset(r as isize * src.rs);
        if src.cs == 1 {
            row[..cols].copy_from_slice(std::slice::from_raw_parts(from, cols));
        } else {
            for (c, x) in row[..cols].iter_mut().enumerate() {
                *x = *from.offset(c as isize * src.cs);
            }
        }
    }
}

/// Steps per rayon task at least: packing a step takes about a microsecond.
pub(super) const MIN_STEPS: usize = 16;

/// `rows` lines of `cols` f32 at stride `ld`: a whole step read straight from its operand.
#[derive(Clone, Copy)]
pub(super) struct Lines<'a> {
    pub data: &'a [f32],
    pub ld: usize,
}

impl<'a> Lines<'a> {
    #[inline(always)]
    pub(super) fn line(self, i: usize, from: usize, len: usize) -> &'a [f32] {
        &self.data[i * self.ld + from..][..len]
    }
}

/// `Some(false)` when `m`'s rows are contiguous (its column stride is 1), `Some(true)` when its
/// columns are, `None` when neither (or a stride is not positive): how its steps can be read.
pub(super) fn contiguous(m: Mat) -> Option<bool> {
    match (m.rs, m.cs) {
        (_, 1) if m.rs > 0 => Some(false),
        (1, cs) if cs > 0 => Some(true),
        _ => None,
    }
}

/// The (rows, cols) corner of the row-contiguous `m` as lines.
///
/// # Safety
/// `m` must be valid for (rows, cols), its column stride 1, its row stride positive.
pub(super) unsafe fn lines<'a>(m: Mat, rows: usize, cols: usize) -> Lines<'a> {
    let ld = m.rs as usize;
    Lines {
        data: std::slice::from_raw_parts(m.ptr, (rows - 1) * ld + cols),
        ld,
    }
}

multiversion! {
    /// A's step from its 32 rows × 32 k: rounded in order (already the two tiles' layout).
    pub(super) fn round_into(dst: &mut [MaybeUninit<u16>], src: Lines) {
        for (r, d) in dst.chunks_exact_mut(K_STEP).enumerate() {
            for (d, &x) in d.iter_mut().zip(src.line(r, 0, K_STEP)) {
                d.write(to_bf16(x));
            }
        }
    }
}

multiversion! {
    /// A's step from its 32 k × 32 rows (the operand's columns contiguous): each line rounded,
    /// then the 32 × 32 transposed in L1.
    pub(super) fn round_transposed_into(dst: &mut [MaybeUninit<u16>], src: Lines) {
        let mut rounded = [0u16; STEP];
        for (c, d) in rounded.chunks_exact_mut(BLOCK).enumerate() {
            for (d, &x) in d.iter_mut().zip(src.line(c, 0, BLOCK)) {
                *d = to_bf16(x);
            }
        }
        for (r, d) in dst.chunks_exact_mut(K_STEP).enumerate() {
            for (c, d) in d.iter_mut().enumerate() {
                d.write(rounded[c * BLOCK + r]);
            }
        }
    }
}

multiversion! {
    /// B's step from its 32 k × 32 columns: tile `half`, pair-row p, column jj gets the word
    /// (k = 2p, k = 2p + 1) of column 16·half + jj.
    pub(super) fn pair_rows_into(dst: &mut [MaybeUninit<u32>], src: Lines) {
        for (t, tile) in dst.chunks_exact_mut(TILE / 2).enumerate() {
            for (p, row) in tile.chunks_exact_mut(16).enumerate() {
                let lo = src.line(2 * p, 16 * t, 16);
                let hi = src.line(2 * p + 1, 16 * t, 16);
                for ((d, &x), &y) in row.iter_mut().zip(lo).zip(hi) {
                    d.write(pair_word(x, y));
                }
            }
        }
    }
}

/// Where the packers write: rayon tasks each write their own steps of one allocation.
#[derive(Clone, Copy)]
pub(super) struct Out<T>(pub *mut MaybeUninit<T>);
unsafe impl<T> Send for Out<T> {}
unsafe impl<T> Sync for Out<T> {}

impl<T> Out<T> {
    /// `len` elements from `at`.
    ///
    /// # Safety
    /// Inside the allocation, and written by no other task.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn slice<'a>(self, at: usize, len: usize) -> &'a mut [MaybeUninit<T>] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}

/// A `Mat` that rayon tasks may share: the packers only read through it.
#[derive(Clone, Copy)]
pub(super) struct SyncMat(pub Mat);
unsafe impl Send for SyncMat {}
unsafe impl Sync for SyncMat {}

impl SyncMat {
    pub(super) fn get(self) -> Mat {
        self.0
    }
}
