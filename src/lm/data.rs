//! Training data for a GPT: documents → one token stream → fixed-length blocks.
//!
//! Each document is followed by the end-of-text token, the stream is cut into blocks of
//! `context + 1` tokens with stride `context` (inputs are a block's first `context` tokens,
//! targets its last `context`), so every token is a target exactly once per epoch. A seeded
//! share of blocks is held out for validation; each epoch visits the rest in a seeded order, so
//! the data order is a function of (seed, epoch) and a resumed run sees the same batches.

use crate::rng::Rng;

/// Blocks of token ids, split into training and validation.
pub struct Blocks {
    pub len: usize,
    /// Tokens between block starts: `len - 1` (every token a target once) or `len`.
    stride: usize,
    data: Vec<u32>,
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

impl Blocks {
    /// `docs`: token ids per document; `eot` is appended to each.
    pub fn new(docs: &[Vec<u32>], eot: u32, context: usize, valid_frac: f64, seed: u64) -> Blocks {
        let mut data: Vec<u32> = Vec::with_capacity(docs.iter().map(|d| d.len() + 1).sum());
        for d in docs {
            data.extend_from_slice(d);
            data.push(eot);
        }
        Blocks::cut(data, context + 1, context, valid_frac, seed)
    }

    /// `transformers`' `run_clm` grouping, the protocol of Shumailov et al.: `bos` before
    /// each document (what OPT's tokenizer adds), the stream cut into disjoint blocks of
    /// `block` tokens (the remainder dropped), each predicting its last `block - 1` tokens.
    pub fn grouped(
        docs: &[Vec<u32>],
        bos: u32,
        block: usize,
        valid_frac: f64,
        seed: u64,
    ) -> Blocks {
        let mut data: Vec<u32> = Vec::with_capacity(docs.iter().map(|d| d.len() + 1).sum());
        for d in docs {
            data.push(bos);
            data.extend_from_slice(d);
        }
        Blocks::cut(data, block, block, valid_frac, seed)
    }

    fn cut(data: Vec<u32>, len: usize, stride: usize, valid_frac: f64, seed: u64) -> Blocks {
        let n = if data.len() >= len {
            (data.len() - len) / stride + 1
        } else {
            0
        };
        let mut idx: Vec<usize> = (0..n).collect();
        Rng::derive(seed, "gpt-valid", 0).shuffle(&mut idx);
        // At least one validation block when any is asked for and there are two or more,
        // never all of them; `valid_frac = 0`: none (the last weights are kept).
        let n_valid = if n >= 2 && valid_frac > 0.0 {
            ((n as f64 * valid_frac).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        let mut valid = idx[..n_valid].to_vec();
        let mut train = idx[n_valid..].to_vec();
        valid.sort_unstable();
        train.sort_unstable();
        Blocks {
            len,
            stride,
            data,
            train,
            valid,
        }
    }

    /// Block `i`: `len` ids starting at `i · stride`.
    pub fn block(&self, i: usize) -> &[u32] {
        let start = i * self.stride;
        &self.data[start..start + self.len]
    }

    /// Tokens in the stream (targets per epoch ≈ this).
    pub fn tokens(&self) -> usize {
        self.data.len()
    }

    /// The training block at global sample position `k` (epoch `k / n`, seeded order).
    pub fn train_block_at(&self, k: u64, seed: u64, order: &mut EpochOrder) -> usize {
        let n = self.train.len() as u64;
        let epoch = k / n;
        if order.epoch != Some(epoch) {
            let mut perm = self.train.clone();
            Rng::derive(seed, "gpt-epoch", epoch).shuffle(&mut perm);
            *order = EpochOrder {
                epoch: Some(epoch),
                perm,
            };
        }
        order.perm[(k % n) as usize]
    }
}

/// The current epoch's permutation of training blocks (a cache of a pure function).
#[derive(Default)]
pub struct EpochOrder {
    epoch: Option<u64>,
    perm: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_token_once_and_orders_are_seeded() {
        let docs = vec![vec![1, 2, 3, 4, 5], vec![6, 7, 8, 9]];
        let b = Blocks::new(&docs, 0, 3, 0.25, 7);
        // stream 1 2 3 4 5 0 6 7 8 9 0 (11 tokens) → blocks of 4 at stride 3: 3 blocks
        assert_eq!(b.tokens(), 11);
        assert_eq!(b.block(0), &[1, 2, 3, 4]);
        assert_eq!(b.block(1), &[4, 5, 0, 6]);
        assert_eq!(b.block(2), &[6, 7, 8, 9]);
        assert_eq!(b.valid.len(), 1);
        assert_eq!(b.train.len() + b.valid.len(), 3);
        let (mut o1, mut o2) = (EpochOrder::default(), EpochOrder::default());
        let a: Vec<usize> = (0..6).map(|k| b.train_block_at(k, 1, &mut o1)).collect();
        let c: Vec<usize> = (0..6).map(|k| b.train_block_at(k, 1, &mut o2)).collect();
        assert_eq!(a, c);
        let mut first: Vec<usize> = a[..2].to_vec();
        first.sort_unstable();
        assert_eq!(first, b.train, "an epoch visits every training block once");
        assert!(Blocks::new(&[vec![1]], 0, 8, 0.1, 1).train.is_empty());
    }

    #[test]
    fn grouped_blocks_are_disjoint_with_bos_before_each_document() {
        let docs = vec![vec![5, 6, 7], vec![8, 9, 10, 11]];
        // stream 2 5 6 7 2 8 9 10 11 (9 tokens) → 2 blocks of 4, the last token dropped
        let b = Blocks::grouped(&docs, 2, 4, 0.0, 1);
        assert_eq!(b.block(0), &[2, 5, 6, 7]);
        assert_eq!(b.block(1), &[2, 8, 9, 10]);
        assert_eq!((b.train.len(), b.valid.len()), (2, 0));
    }
}
