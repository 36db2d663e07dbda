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

use crate::nn::fused::Mat;
use rayon::prelude::*;

/// Rows and columns of a block of C (2 × 2 tiles of 16 × 16).
pub const BLOCK: usize = 32;
/// k per step: one tile row of A is 32 bf16 (64 bytes).
pub const K_STEP: usize = 32;

/// f32 to bf16 bits, rounded to nearest even (NaN stays NaN), as PyTorch and the hardware's
/// `vcvtneps2bf16` round.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
    if x.is_nan() {
        ((b >> 16) as u16) | 0x40
    } else {
        rounded
    }
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
        let mut data = vec![0u16; mp * kp];
        let src = SyncMat(a);
        data.par_chunks_mut(BLOCK * kp)
            .enumerate()
            .for_each(|(ib, block)| {
                let a = src.get();
                let rows = BLOCK.min(m.saturating_sub(ib * BLOCK));
                let at = |r: usize, kk: usize| {
                    a.ptr
                        .offset((ib * BLOCK + r) as isize * a.rs + kk as isize * a.cs)
                };
                if a.cs == 1 {
                    // Rows contiguous: 32 consecutive k go to one tile row.
                    for r in 0..rows {
                        for s in 0..k.div_ceil(K_STEP) {
                            let n = K_STEP.min(k - s * K_STEP);
                            let src = std::slice::from_raw_parts(at(r, s * K_STEP), n);
                            let dst = &mut block[in_block(r, s * K_STEP)..][..n];
                            dst.iter_mut().zip(src).for_each(|(d, &x)| *d = to_bf16(x));
                        }
                    }
                } else {
                    // Columns contiguous (a transposed view): read down them, each row's
                    // place in the tiles computed once.
                    let offsets: Vec<usize> = (0..rows).map(|r| in_block(r, 0)).collect();
                    for kk in 0..k {
                        let (base, src) = (in_block(0, kk), at(0, kk));
                        for (r, &o) in offsets.iter().enumerate() {
                            block[base + o] = to_bf16(*src.offset(r as isize * a.rs));
                        }
                    }
                }
            });
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
        // Written as u32 words, each the pair (b[2p, j], b[2p + 1, j]): whole words, so the
        // conversion loops vectorise.
        let mut data = vec![0u32; kp * np / 2];
        let src = SyncMat(b);
        data.par_chunks_mut(BLOCK * kp / 2)
            .enumerate()
            .for_each(|(jb, words)| {
                let b = src.get();
                let cols = BLOCK.min(n.saturating_sub(jb * BLOCK));
                let at = |kk: usize, j: usize| -> f32 {
                    if kk < k {
                        *b.ptr
                            .offset(kk as isize * b.rs + (jb * BLOCK + j) as isize * b.cs)
                    } else {
                        0.0
                    }
                };
                let word = |lo: f32, hi: f32| to_bf16(lo) as u32 | (to_bf16(hi) as u32) << 16;
                if b.cs == 1 {
                    // Rows contiguous: two rows make 16 words of a tile row at a time.
                    for p in 0..k.div_ceil(2) {
                        let row = |kk: usize| {
                            b.ptr
                                .wrapping_offset(kk as isize * b.rs + (jb * BLOCK) as isize)
                        };
                        let (ra, rb) = (row(2 * p), row(2 * p + 1));
                        for half in 0..cols.div_ceil(16) {
                            let m = 16.min(cols - half * 16);
                            let base = in_pair_block(2 * p, half * 16) / 2;
                            let a = std::slice::from_raw_parts(ra.add(half * 16), m);
                            let dst = &mut words[base..base + m];
                            if 2 * p + 1 < k {
                                let bb = std::slice::from_raw_parts(rb.add(half * 16), m);
                                for ((d, &x), &y) in dst.iter_mut().zip(a).zip(bb) {
                                    *d = word(x, y);
                                }
                            } else {
                                dst.iter_mut().zip(a).for_each(|(d, &x)| *d = word(x, 0.0));
                            }
                        }
                    }
                } else if b.rs == 1 {
                    // Columns contiguous along k (a stored (out, in) weight read transposed):
                    // each column's consecutive pairs go down its place in the tile rows.
                    for j in 0..cols {
                        let col = b.ptr.offset((jb * BLOCK + j) as isize * b.cs);
                        for p in 0..k / 2 {
                            let w = word(*col.add(2 * p), *col.add(2 * p + 1));
                            words[in_pair_block(2 * p, j) / 2] = w;
                        }
                        if k % 2 == 1 {
                            words[in_pair_block(k - 1, j) / 2] = word(*col.add(k - 1), 0.0);
                        }
                    }
                } else {
                    for j in 0..cols {
                        for p in 0..k.div_ceil(2) {
                            words[in_pair_block(2 * p, j) / 2] =
                                word(at(2 * p, j), at(2 * p + 1, j));
                        }
                    }
                }
            });
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
