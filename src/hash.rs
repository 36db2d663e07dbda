//! A fast, deterministic hasher for hash maps keyed by words and ids.
//!
//! std's SipHash guards against adversarial keys, which we do not face, at several times the
//! cost; word counting and vocabulary lookups sit on the hot path of every build, metric and
//! sample. This is the multiply-add scheme of rustc's FxHash (v2), with no random state, so iteration
//! order (which we never rely on for output) is at least reproducible.

use std::hash::{BuildHasher, Hasher};

/// Builds [`FxHasher`]s; a unit struct, so maps are `FxHashMap::default()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxBuildHasher;

/// Multiplicative hasher in the style of rustc's FxHash (v2).
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher(u64);

const FX_K: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = self.0.wrapping_add(w).wrapping_mul(FX_K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.add(bytes.len() as u64);
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The product's high bits are the well-mixed ones; hashbrown indexes by the low bits.
        self.0.rotate_left(26)
    }
}

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;
    #[inline]
    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuildHasher>;
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuildHasher>;
