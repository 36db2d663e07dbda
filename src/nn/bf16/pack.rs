//! bf16 numbers and the two operand layouts the kernels read.
//!
//! A product `c (m, n) = a (m, k) · b (k, n)` is computed in 32 × 32 blocks of `c`, 32 of k at
//! a time ("a step"): two A tiles (16 rows × 32 k) and two B tiles (16 pairs of k × 16
//! columns). Both operands are packed so that each tile is 1 KB of contiguous memory, in the
//! order the kernels read them:
//! - `a`: block of 32 rows `ib`, then step `s`, then the tile (rows 0-15, 16-31), then row-major
//!   16 × 32;
//! - `b`: block of 32 columns `jb`, then step, then the tile (columns 0-15, 16-31), then 16
//!   pair-rows of 16 columns × 2 consecutive k (the "VNNI" layout the bf16 dot-product
//!   instructions want: `b[2r, j]` and `b[2r + 1, j]` side by side).
//!
//! A block's steps follow each other, so a kernel streams its A and B operands in order; m, n
//! and k are zero padded to multiples of 32 (the padding adds zeros to the sums).

use crate::nn::fused::{multiversion, Mat};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Rows and columns of a block of C (2 × 2 tiles of 16 × 16).
pub const BLOCK: usize = 32;
/// k per step: one tile row of A is 32 bf16 (64 bytes).
pub const K_STEP: usize = 32;

/// f32 to bf16 bits, rounded to nearest even (NaN stays NaN), as PyTorch and the hardware's
/// `vcvtneps2bf16` round (except that subnormals are kept, not flushed to zero).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    (rounded_bits(x) >> 16) as u16
}

/// The bf16 of `x` in the upper half of an f32's bits (the lower half is garbage): one select
/// and no branch, so the packers' loops vectorise.
#[inline(always)]
fn rounded_bits(x: f32) -> u32 {
    let b = x.to_bits();
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1));
    // NaN: quieted, its sign and top payload bits kept.
    if b & 0x7fff_ffff > 0x7f80_0000 {
        b | 0x40_0000
    } else {
        rounded
    }
}

/// The pair `(lo, hi)` of bf16 as one word, `lo` in the low half.
#[inline(always)]
fn pair_word(lo: f32, hi: f32) -> u32 {
    (rounded_bits(lo) >> 16) | (rounded_bits(hi) & 0xffff_0000)
}

/// bf16 bits to f32 (exact).
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// f32 rounded to the nearest bf16, as f32.
#[inline(always)]
pub fn round(x: f32) -> f32 {
    from_bf16(to_bf16(x))
}

fn up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// `a` (m, k) in bf16, tile-major (module doc).
pub struct PackedA {
    pub m: usize,
    pub k: usize,
    pub kp: usize,
    pub data: Vec<u16>,
}

/// Elements of one tile (16 × 32 bf16), of one step of a block (two tiles).
pub const TILE: usize = 16 * 32;
const STEP: usize = 2 * TILE;

/// Index of element (r, kk) of a block of 32 rows (or columns) × k, tile-major.
#[inline(always)]
fn in_block(r: usize, kk: usize) -> usize {
    (kk / K_STEP) * STEP + (r / 16) * TILE + (r % 16) * 32 + kk % K_STEP
}

impl PackedA {
    /// Rounds and packs the strided f32 operand `a` (m, k).
    ///
    /// # Safety
    /// `a` must be valid for (m, k) at its strides.
    pub(crate) unsafe fn new(a: Mat, m: usize, k: usize) -> PackedA {
        let (kp, mp) = (up(k.max(1), K_STEP), up(m.max(1), BLOCK));
        // Every element (padding included) is written below, so no zeroing pass first.
        let mut data: Vec<u16> = Vec::with_capacity(mp * kp);
        let src = SyncMat(a);
        data.spare_capacity_mut()[..mp * kp]
            .par_chunks_mut(BLOCK * kp)
            .enumerate()
            .for_each(|(ib, block)| {
                let a = src.get();
                let rows = BLOCK.min(m.saturating_sub(ib * BLOCK));
                // A step's two tiles are its 32 rows × 32 k in row-major order: staged in f32
                // (L1-resident), then rounded in one vectorised pass.
                let mut stage = [0f32; STEP];
                for (s, dst) in block.chunks_exact_mut(STEP).enumerate() {
                    let cols = K_STEP.min(k.saturating_sub(s * K_STEP));
                    let at = a.ptr.wrapping_offset(
                        (ib * BLOCK) as isize * a.rs + (s * K_STEP) as isize * a.cs,
                    );
                    // SAFETY: rows × cols from `at` lie inside `a` (the caller's promise).
                    unsafe { stage_rows(&mut stage, Mat { ptr: at, ..a }, rows, cols) };
                    round_into(dst, &stage);
                }
            });
        data.set_len(mp * kp);
        PackedA { m, k, kp, data }
    }

    /// The tile (rows `half`·16.. of block `ib`, step `s`).
    #[inline(always)]
    pub fn tile(&self, ib: usize, s: usize, half: usize) -> *const u16 {
        self.data[ib * BLOCK * self.kp + s * STEP + half * TILE..].as_ptr()
    }

    /// Element (i, kk) as stored.
    pub fn at(&self, i: usize, kk: usize) -> u16 {
        self.data[(i / BLOCK) * BLOCK * self.kp + in_block(i % BLOCK, kk)]
    }
}

/// `b` (k, n) in bf16, tile-major with pairs of k side by side (module doc).
pub struct PackedB {
    pub k: usize,
    pub n: usize,
    pub kp: usize,
    pub np: usize,
    /// Pairs of bf16 (the even k in the low half), tile-major.
    pub data: Vec<u32>,
}

/// Index of element (kk, j) of a block of 32 columns, tile-major, pairs of k side by side.
#[inline(always)]
fn in_pair_block(kk: usize, j: usize) -> usize {
    (kk / K_STEP) * STEP + (j / 16) * TILE + ((kk % K_STEP) / 2) * 32 + (j % 16) * 2 + kk % 2
}

impl PackedB {
    /// Rounds and packs the strided f32 operand `b` (k, n).
    ///
    /// # Safety
    /// `b` must be valid for (k, n) at its strides.
    pub(crate) unsafe fn new(b: Mat, k: usize, n: usize) -> PackedB {
        let (kp, np) = (up(k.max(1), K_STEP), up(n.max(1), BLOCK));
        // Written as u32 words, each the pair (b[2p, j], b[2p + 1, j]); every word (padding
        // included) is written below.
        let mut data: Vec<u32> = Vec::with_capacity(kp * np / 2);
        let src = SyncMat(b);
        data.spare_capacity_mut()[..kp * np / 2]
            .par_chunks_mut(BLOCK * kp / 2)
            .enumerate()
            .for_each(|(jb, block)| {
                let b = src.get();
                let cols = BLOCK.min(n.saturating_sub(jb * BLOCK));
                let mut stage = [0f32; STEP];
                for (s, dst) in block.chunks_exact_mut(STEP / 2).enumerate() {
                    let rows = K_STEP.min(k.saturating_sub(s * K_STEP));
                    let at = b.ptr.wrapping_offset(
                        (s * K_STEP) as isize * b.rs + (jb * BLOCK) as isize * b.cs,
                    );
                    let at = Mat { ptr: at, ..b };
                    // SAFETY: rows × cols from `at` lie inside `b` (the caller's promise).
                    if b.rs == 1 && b.cs != 1 {
                        // Columns contiguous along k (a stored (out, in) weight read
                        // transposed): staged column by column, each column's consecutive k
                        // already the pairs a word holds.
                        unsafe { stage_rows(&mut stage, at.t(), cols, rows) };
                        pair_columns_into(dst, &stage);
                    } else {
                        unsafe { stage_rows(&mut stage, at, rows, cols) };
                        pair_rows_into(dst, &stage);
                    }
                }
            });
        data.set_len(kp * np / 2);
        PackedB { k, n, kp, np, data }
    }

    /// The tile (columns `half`·16.. of block `jb`, step `s`).
    #[inline(always)]
    pub fn tile(&self, jb: usize, s: usize, half: usize) -> *const u16 {
        let at = jb * BLOCK * self.kp + s * STEP + half * TILE;
        assert!(at < self.data.len() * 2);
        // SAFETY: in bounds (asserted); u16 halves of the u32 words, little-endian.
        unsafe { (self.data.as_ptr() as *const u16).add(at) }
    }

    /// Element (kk, j) as stored.
    pub fn at(&self, kk: usize, j: usize) -> u16 {
        let i = (j / BLOCK) * BLOCK * self.kp + in_pair_block(kk, j % BLOCK);
        (self.data[i / 2] >> (16 * (i % 2))) as u16
    }
}

/// Copies the (rows, cols) f32 corner of `src` into `stage` (32 × 32, row-major), zeros
/// elsewhere.
///
/// # Safety
/// `src` must be valid for (rows, cols) at its strides; rows, cols ≤ 32.
unsafe fn stage_rows(stage: &mut [f32; STEP], src: Mat, rows: usize, cols: usize) {
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

multiversion! {
    /// A's step: the staged 32 × 32 rounded, in order (it is already the two tiles' layout).
    fn round_into(dst: &mut [MaybeUninit<u16>], stage: &[f32; STEP]) {
        for (d, &x) in dst.iter_mut().zip(stage) {
            d.write(to_bf16(x));
        }
    }
}

multiversion! {
    /// B's step from its 32 k × 32 columns staged row-major: tile `half`, pair-row p, column
    /// jj gets the word (k = 2p, k = 2p + 1) of column 16·half + jj.
    fn pair_rows_into(dst: &mut [MaybeUninit<u32>], stage: &[f32; STEP]) {
        for (t, tile) in dst.chunks_exact_mut(TILE / 2).enumerate() {
            for (p, row) in tile.chunks_exact_mut(16).enumerate() {
                let lo = &stage[2 * p * K_STEP + 16 * t..][..16];
                let hi = &stage[(2 * p + 1) * K_STEP + 16 * t..][..16];
                for ((d, &x), &y) in row.iter_mut().zip(lo).zip(hi) {
                    d.write(pair_word(x, y));
                }
            }
        }
    }
}

multiversion! {
    /// B's step from its 32 columns × 32 k staged column by column: each column's 16 words
    /// in one contiguous pass, then moved to their places down the tiles.
    fn pair_columns_into(dst: &mut [MaybeUninit<u32>], stage: &[f32; STEP]) {
        let mut words = [0u32; STEP / 2];
        for (w, pair) in words.iter_mut().zip(stage.chunks_exact(2)) {
            *w = pair_word(pair[0], pair[1]);
        }
        for (j, column) in words.chunks_exact(16).enumerate() {
            let (t, jj) = (j / 16, j % 16);
            for (p, &w) in column.iter().enumerate() {
                dst[t * TILE / 2 + p * 16 + jj].write(w);
            }
        }
    }
}

/// A `Mat` that rayon tasks may share: the packers only read through it.
#[derive(Clone, Copy)]
struct SyncMat(Mat);
unsafe impl Send for SyncMat {}
unsafe impl Sync for SyncMat {}

impl SyncMat {
    fn get(self) -> Mat {
        self.0
    }
}
