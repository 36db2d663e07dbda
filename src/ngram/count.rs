//! Stage 1, count: every n-gram occurrence, in suffix order.
//!
//! Each position of a sentence `<s> w1 .. wk </s>` (after `<s>`) ends one n-gram: the N words
//! ending there, or fewer when the sentence start is closer, in which case the n-gram begins
//! with `<s>` (KenLM pads with `<s>` and collapses the same way). Keys are stored *reversed*
//! (`key[0]` is the last word) and padded with [`PAD`], so sorting keys sorts n-grams in suffix
//! order: all n-grams sharing a suffix are adjacent, at every length at once. Stage 2 needs
//! exactly that. One flat `Vec` of fixed-size keys, sorted in parallel: no allocation per n-gram.

use super::vocab::{IdStream, BOS};
use rayon::prelude::*;

/// Fills a reversed key past the first word of a short (`<s>`-initial) n-gram.
pub const PAD: u32 = u32::MAX;

/// A reversed, padded n-gram key: `key[0]` is the predicted word, `key[1]` the one before...
pub type RevKey<const N: usize> = [u32; N];

/// Number of real words in a reversed key.
#[inline]
pub fn key_order<const N: usize>(key: &RevKey<N>) -> usize {
    key.iter().position(|&w| w == PAD).unwrap_or(N)
}

/// Statistics of the count stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CountStats {
    pub sentences: usize,
    pub words: usize,
    /// Distinct n-grams of the highest available length (what stage 2 reads).
    pub unique_ngrams: usize,
}

/// Counts the n-grams of `stream`; returns unique reversed keys with raw counts, in suffix order.
pub fn count<const N: usize>(stream: &IdStream) -> (Vec<(RevKey<N>, u32)>, CountStats) {
    let ids = &stream.ids;
    // Cut the stream into chunks at sentence starts so threads never share a sentence.
    let target = (ids.len() / (rayon::current_num_threads() * 8)).max(1 << 16);
    let mut cuts = vec![0usize];
    let mut next = target;
    while next < ids.len() {
        match ids[next..].iter().position(|&w| w == BOS) {
            Some(off) => {
                cuts.push(next + off);
                next += off + target;
            }
            None => break,
        }
    }
    cuts.push(ids.len());

    let mut keys: Vec<RevKey<N>> = cuts
        .par_windows(2)
        .flat_map_iter(|w| {
            let chunk = &ids[w[0]..w[1]];
            let mut out = Vec::with_capacity(chunk.len());
            let mut start = 0;
            for (i, &id) in chunk.iter().enumerate() {
                if id == BOS {
                    start = i;
                    continue;
                }
                let mut key = [PAD; N];
                let len = (i - start + 1).min(N);
                for (j, slot) in key.iter_mut().enumerate().take(len) {
                    *slot = chunk[i - j];
                }
                out.push(key);
            }
            out
        })
        .collect();
    keys.par_sort_unstable();

    let mut grams: Vec<(RevKey<N>, u32)> = Vec::with_capacity(keys.len() / 2);
    for k in keys {
        match grams.last_mut() {
            Some((last, c)) if *last == k => *c += 1,
            _ => grams.push((k, 1)),
        }
    }
    let stats = CountStats {
        sentences: stream.sentences,
        words: stream.words,
        unique_ngrams: grams.len(),
    };
    (grams, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::vocab::{encode, VocabPolicy};

    #[test]
    fn counts_highest_available_ngrams_in_suffix_order() {
        // ids: a=3 b=4
        let (_, s) = encode(
            ["a b", "a b", "b"].iter().copied(),
            &VocabPolicy::FromText { min_count: 1 },
        );
        let (grams, st) = count::<3>(&s);
        let p = PAD;
        // Reversed keys: "<s> a" -> [3,1,P]; "<s> a b" -> [4,3,1]; "a b </s>" -> [2,4,3];
        // "<s> b" -> [4,1,P]; "<s> b </s>" -> [2,4,1].
        let expect = vec![
            ([2, 4, 1], 1),
            ([2, 4, 3], 2),
            ([3, 1, p], 2),
            ([4, 1, p], 1),
            ([4, 3, 1], 2),
        ];
        assert_eq!(grams, expect);
        assert_eq!(
            st,
            CountStats {
                sentences: 3,
                words: 5,
                unique_ngrams: 5
            }
        );
        assert_eq!(key_order(&[4u32, 1, p]), 2);
    }
}
