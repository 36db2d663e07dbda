//! Stage 2, adjust: Kneser-Ney adjusted counts for every order, in one pass.
//!
//! The adjusted count of an n-gram is its raw count when n is the model order or the n-gram
//! starts with `<s>` (nothing can precede it); otherwise it is the number of distinct words
//! seen to its left, N1+(• w) (Chen & Goodman 1998; KenLM lmplz). Because stage 1 sorted the
//! n-grams in suffix order, the distinct (n+1)-grams extending an n-gram to the left are
//! adjacent: one walk over the sorted keys yields every order's n-grams and adjusted counts.
//! The walk also collects the counts-of-counts that stage 3 turns into discounts.

use super::count::{key_order, RevKey, PAD};

/// Counts-of-counts of one order: `n[k]` = n-grams with adjusted count k (k = 1..=4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountsOfCounts {
    pub ngrams: u64,
    pub n: [u64; 5],
}

impl CountsOfCounts {
    fn add(&mut self, count: u32) {
        self.ngrams += 1;
        if (1..5).contains(&count) {
            self.n[count as usize] += 1;
        }
    }
}

/// Adjusted counts of all orders.
pub struct Adjusted<const N: usize> {
    /// Unigram adjusted counts indexed by word id (0 for words never seen, `<s>`, `<unk>`).
    pub unigrams: Vec<u32>,
    /// `orders[n - 2]` for n = 2..=N: *forward* keys (`key[0]` is the first word, padded with
    /// [`PAD`] after the n-th) with adjusted counts, in no particular order.
    pub orders: Vec<Vec<(RevKey<N>, u32)>>,
    /// Counts-of-counts for orders 1..=N (index 0 = unigrams).
    pub stats: Vec<CountsOfCounts>,
}

/// The first `n` words of reversed key `r`, as a forward key.
#[inline]
fn forward<const N: usize>(r: &RevKey<N>, n: usize) -> RevKey<N> {
    let mut k = [PAD; N];
    for i in 0..n {
        k[i] = r[n - 1 - i];
    }
    k
}

/// Walks the suffix-sorted unique n-grams of stage 1. `vocab_size` sizes the unigram table.
pub fn adjust<const N: usize>(grams: &[(RevKey<N>, u32)], vocab_size: usize) -> Adjusted<N> {
    let mut out = Adjusted::<N> {
        unigrams: vec![0; vocab_size],
        orders: (2..=N).map(|_| Vec::new()).collect(),
        stats: vec![CountsOfCounts::default(); N],
    };
    // For each order n < N: the entry where the current n-suffix started, and its count.
    let mut current: [Option<(usize, u32)>; N] = [None; N];

    let finish = |out: &mut Adjusted<N>, n: usize, start: usize, adj: u32| {
        let r = &grams[start].0;
        out.stats[n - 1].add(adj);
        if n == 1 {
            out.unigrams[r[0] as usize] = adj;
        } else {
            out.orders[n - 2].push((forward(r, n), adj));
        }
    };

    for (e, (r, c)) in grams.iter().enumerate() {
        let o = key_order(r);
        // First position where this key differs from the previous one.
        let d = if e == 0 {
            0
        } else {
            r.iter()
                .zip(&grams[e - 1].0)
                .position(|(a, b)| a != b)
                .unwrap_or(N)
        };
        // Suffixes longer than d changed: the previous ones are complete.
        for n in (d + 1)..N {
            if let Some((start, adj)) = current[n].take() {
                finish(&mut out, n, start, adj);
            }
        }
        for n in 1..=o.min(N - 1) {
            let cur = current[n].get_or_insert((e, 0));
            if n < o {
                // The (n+1)-suffix is new exactly when n >= d: one more distinct left word.
                if n >= d {
                    cur.1 += 1;
                }
            } else {
                // n == o < N: the n-gram starts with <s>; it keeps its raw count.
                cur.1 = *c;
            }
        }
        if o == N {
            out.stats[N - 1].add(*c);
            if N == 1 {
                out.unigrams[r[0] as usize] = *c;
            } else {
                out.orders[N - 2].push((forward(r, N), *c));
            }
        }
    }
    for n in 1..N {
        if let Some((start, adj)) = current[n].take() {
            finish(&mut out, n, start, adj);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::count::count;
    use crate::ngram::vocab::{encode, VocabPolicy};

    #[test]
    fn adjusted_counts_by_hand() {
        // Sentences "a b", "a b", "b"; ids a=3 b=4 </s>=2 <s>=1.
        // Trigram model. Bigrams and their adjusted counts:
        //   "<s> a": raw count 2 (starts with <s>); "<s> b": raw 1;
        //   "a b": left words {<s>} -> 1;  "b </s>": left words {a, <s>} -> 2.
        // Unigrams: a: left {<s>} -> 1; b: left {a, <s>} -> 2; </s>: left {b} -> 1.
        // Trigrams (raw): "<s> a b" 2, "a b </s>" 2, "<s> b </s>" 1.
        let (v, s) = encode(
            ["a b", "a b", "b"].iter().copied(),
            &VocabPolicy::FromText { min_count: 1 },
        );
        let (grams, _) = count::<3>(&s);
        let a = adjust(&grams, v.len());
        assert_eq!(a.unigrams, vec![0, 0, 1, 1, 2]);
        let p = PAD;
        let mut bi = a.orders[0].clone();
        bi.sort();
        assert_eq!(
            bi,
            vec![
                ([1, 3, p], 2),
                ([1, 4, p], 1),
                ([3, 4, p], 1),
                ([4, 2, p], 2)
            ]
        );
        let mut tri = a.orders[1].clone();
        tri.sort();
        assert_eq!(tri, vec![([1, 3, 4], 2), ([1, 4, 2], 1), ([3, 4, 2], 2)]);
        // Counts-of-counts: unigrams adj {1,1,2}; bigrams {2,1,1,2}; trigrams {2,1,2}.
        assert_eq!(a.stats[0].n, [0, 2, 1, 0, 0]);
        assert_eq!(a.stats[1].n, [0, 2, 2, 0, 0]);
        assert_eq!(a.stats[2].n, [0, 1, 2, 0, 0]);
        assert_eq!(
            a.stats.iter().map(|s| s.ngrams).collect::<Vec<_>>(),
            vec![3, 4, 3]
        );
    }
}
