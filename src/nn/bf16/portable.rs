//! The reference kernel, in plain Rust: every CPU runs it, the tests hold the others to it,
//! and it is what `--precision bf16` would compute anywhere (bf16 operands, f32 sums, k in
//! order). Too slow to be worth running for speed: a CPU without AMX or AVX512-BF16 is
//! refused bf16 (`crate::nn::precision`).

use super::pack::{from_bf16, PackedA, PackedB, BLOCK};

/// The block (ib, jb) of C (32 × 32, padded) into `out` (row-major, 32 wide).
pub fn block(a: &PackedA, b: &PackedB, ib: usize, jb: usize, out: &mut [f32]) {
    out[..BLOCK * BLOCK].fill(0.0);
    for i in 0..BLOCK {
        let o = &mut out[i * BLOCK..(i + 1) * BLOCK];
        for kk in 0..a.kp {
            let x = from_bf16(a.at(ib * BLOCK + i, kk));
            for (j, o) in o.iter_mut().enumerate() {
                *o += x * from_bf16(b.at(kk, jb * BLOCK + j));
            }
        }
    }
}
