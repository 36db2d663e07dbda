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

mod columns;
mod steps;

use crate::nn::fused::Mat;
use rayon::prelude::*;
use steps::*;

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
pub(crate) const STEP: usize = 2 * TILE;

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
        let (blocks, steps) = (mp / BLOCK, kp / K_STEP);
        // Every element (padding included) is written below, so no zeroing pass first.
        let mut data: Vec<u16> = Vec::with_capacity(mp * kp);
        let out = Out(data.spare_capacity_mut().as_mut_ptr());
        let src = SyncMat(a);
        // Step s of block ib: its two tiles are its 32 rows × 32 k in row-major order.
        let step = |ib: usize, s: usize| {
            let a = src.get();
            // SAFETY: each (ib, s) is one task's, inside the capacity.
            let dst = unsafe { out.slice((ib * steps + s) * STEP, STEP) };
            let rows = BLOCK.min(m.saturating_sub(ib * BLOCK));
            let cols = K_STEP.min(k.saturating_sub(s * K_STEP));
            let at = a
                .ptr
                .wrapping_offset((ib * BLOCK) as isize * a.rs + (s * K_STEP) as isize * a.cs);
            let at = Mat { ptr: at, ..a };
            // SAFETY (each branch): rows × cols from `at` lie inside `a` (the caller's promise).
            match (rows == BLOCK && cols == K_STEP, contiguous(a)) {
                (true, Some(false)) => round_into(dst, unsafe { lines(at, BLOCK, K_STEP) }),
                (true, Some(true)) => {
                    round_transposed_into(dst, unsafe { lines(at.t(), K_STEP, BLOCK) })
                }
                _ => {
                    // Edges and doubly strided operands: staged in f32 (zero padded, in L1),
                    // then rounded in one vectorised pass.
                    let mut stage = [0f32; STEP];
                    unsafe { stage_rows(&mut stage, at, rows, cols) };
                    round_into(
                        dst,
                        Lines {
                            data: &stage,
                            ld: K_STEP,
                        },
                    );
                }
            }
        };
        // Memory is read along its lines: block-major for rows contiguous (each block's 32
        // rows streamed), step-major for columns contiguous (each step's 32 columns streamed).
        let tasks = (0..blocks * steps).into_par_iter().with_min_len(MIN_STEPS);
        if contiguous(a) == Some(true) {
            tasks.for_each(|i| step(i % blocks, i / blocks));
        } else {
            tasks.for_each(|i| step(i / steps, i % steps));
        }
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
        let (mut data, p) = BPacker::new(b, k, n);
        if contiguous(b) == Some(true) {
            // Columns contiguous (a stored (out, in) weight read transposed): block by block.
            (0..p.blocks)
                .into_par_iter()
                .for_each(|jb| p.column_block(jb));
        } else {
            // Rows contiguous (or neither): step-major, so each step's 32 rows are streamed.
            (0..p.steps * p.blocks)
                .into_par_iter()
                .with_min_len(MIN_STEPS)
                .for_each(|i| p.step(i / p.blocks, i % p.blocks));
        }
        p.finish(&mut data)
    }

    /// `b` (k, n) and its transpose (n, k) packed from one read of `b`: what a trained weight
    /// needs in a step (its forward reads one, its backward the other). The same bits as two
    /// [`PackedB::new`].
    ///
    /// # Safety
    /// As [`PackedB::new`].
    pub(crate) unsafe fn both(b: Mat, k: usize, n: usize) -> (PackedB, PackedB) {
        let Some(transposed) = contiguous(b) else {
            return (PackedB::new(b, k, n), PackedB::new(b.t(), n, k));
        };
        // w: the operand as its memory lies (rows contiguous), (rows, cols).
        let (w, rows, cols) = if transposed { (b.t(), n, k) } else { (b, k, n) };
        let (mut w_data, w_packer) = BPacker::new(w, rows, cols);
        let (mut t_data, t_packer) = BPacker::new(w.t(), cols, rows);
        // Each 32 rows of w are block g of wᵀ's packing and step g of w's: read from memory
        // once for the first, from the cache for the second.
        (0..t_packer.blocks).into_par_iter().for_each(|g| {
            t_packer.column_block(g);
            (0..w_packer.blocks).for_each(|jb| w_packer.step(g, jb));
        });
        let (w, t) = (w_packer.finish(&mut w_data), t_packer.finish(&mut t_data));
        if transposed {
            (t, w)
        } else {
            (w, t)
        }
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

/// Packs one `b` (k, n) into [`PackedB`]'s layout, a step or a block at a time; rayon tasks
/// share it, each writing its own steps.
struct BPacker {
    src: SyncMat,
    k: usize,
    n: usize,
    steps: usize,
    blocks: usize,
    out: Out<u32>,
}

impl BPacker {
    /// The packer, and the buffer it writes (every word, padding included, is written by the
    /// steps, so it is not zeroed first).
    ///
    /// # Safety
    /// `b` must be valid for (k, n) at its strides.
    unsafe fn new(b: Mat, k: usize, n: usize) -> (Vec<u32>, BPacker) {
        let (kp, np) = (up(k.max(1), K_STEP), up(n.max(1), BLOCK));
        let mut data: Vec<u32> = Vec::with_capacity(kp * np / 2);
        let out = Out(data.spare_capacity_mut().as_mut_ptr());
        let (steps, blocks) = (kp / K_STEP, np / BLOCK);
        let src = SyncMat(b);
        (
            data,
            BPacker {
                src,
                k,
                n,
                steps,
                blocks,
                out,
            },
        )
    }

    /// The packed operand, once every step is written.
    ///
    /// # Safety
    /// Every step of every block must have been written into `data`, this packer's buffer.
    unsafe fn finish(self, data: &mut Vec<u32>) -> PackedB {
        let (kp, np) = (self.steps * K_STEP, self.blocks * BLOCK);
        data.set_len(kp * np / 2);
        let data = std::mem::take(data);
        PackedB {
            k: self.k,
            n: self.n,
            kp,
            np,
            data,
        }
    }

    /// Step s of block jb: 32 k × 32 columns as pairs of k.
    fn step(&self, s: usize, jb: usize) {
        let b = self.src.get();
        // SAFETY: each (jb, s) is one task's, inside the capacity.
        let dst = unsafe { self.out.slice((jb * self.steps + s) * STEP / 2, STEP / 2) };
        let rows = K_STEP.min(self.k.saturating_sub(s * K_STEP));
        let cols = BLOCK.min(self.n.saturating_sub(jb * BLOCK));
        let at = b
            .ptr
            .wrapping_offset((s * K_STEP) as isize * b.rs + (jb * BLOCK) as isize * b.cs);
        let at = Mat { ptr: at, ..b };
        // SAFETY (here and in each branch below): rows × cols from `at` lie inside `b` (the
        // packer's promise).
        if contiguous(b) == Some(false) && rows == K_STEP && cols == BLOCK {
            return pair_rows_into(dst, unsafe { lines(at, K_STEP, BLOCK) });
        }
        // Only the staged steps need the 4 KB stage: zeroed for every step, whole ones too,
        // it cost a memset of the whole operand (3% of `perf`'s samples in a bf16 OPT step
        // went to memset, a sixth of them here).
        let mut stage = [0f32; STEP];
        match contiguous(b) {
            Some(true) => {
                // Columns contiguous along k: staged column by column (zero padded), then
                // packed as a block's whole columns are.
                unsafe { stage_rows(&mut stage, at.t(), cols, rows) };
                columns::column_steps_into(
                    dst,
                    Lines {
                        data: &stage,
                        ld: K_STEP,
                    },
                );
            }
            _ => {
                unsafe { stage_rows(&mut stage, at, rows, cols) };
                pair_rows_into(
                    dst,
                    Lines {
                        data: &stage,
                        ld: BLOCK,
                    },
                );
            }
        }
    }

    /// Every step of block jb, `b`'s columns contiguous along k: the block's 32 columns are
    /// read one after the other, each in one pass down its whole steps; the last, partial
    /// step (and a partial block) as the edges are.
    fn column_block(&self, jb: usize) {
        let b = self.src.get();
        let (first, whole) = (jb * BLOCK, self.k / K_STEP);
        if contiguous(b) != Some(true) || first + BLOCK > self.n || whole == 0 {
            return (0..self.steps).for_each(|s| self.step(s, jb));
        }
        // SAFETY: block jb's words are this task's.
        let dst = unsafe { self.out.slice(jb * self.steps * STEP / 2, whole * STEP / 2) };
        let columns = Mat {
            ptr: b.ptr.wrapping_offset(first as isize * b.cs),
            ..b
        };
        // SAFETY: columns first.. first + 32 of b, their k (whole steps of them) inside b.
        columns::column_steps_into(dst, unsafe { lines(columns.t(), BLOCK, whole * K_STEP) });
        (whole..self.steps).for_each(|s| self.step(s, jb));
    }
}
