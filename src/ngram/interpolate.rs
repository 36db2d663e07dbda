//! Stage 4, interpolate: probabilities and backoffs, written straight into the model's trie.
//!
//! For a context c with continuations x (adjusted counts a), as in KenLM lmplz:
//!   u(x | c)  = (a(c x) - D(a(c x))) / Σ_x a(c x)
//!   γ(c)      = Σ_{k=1,2,3+} D_k · |{x : a(c x) = k}| / Σ_x a(c x)
//!   p(x | c)  = u(x | c) + γ(c) · p(x | c minus its first word)
//! and unigrams are interpolated with the uniform distribution over the vocabulary without
//! `<s>`: p(x) = u(x) + γ(ε) / (|V| - 1). γ(c) is the ARPA backoff of c.
//!
//! Each order is sorted by context (prefix order); contexts of order n are then entries of order
//! n-1, found by a merge walk, which also gives the trie's child ranges. The lower-order
//! probability p(x | c') is found by one binary search among the children of c' (the context's
//! own suffix, remembered per entry), so no hash table is built.

use super::adjust::Adjusted;
use super::count::RevKey;
use super::discount::Discount;
use super::vocab::BOS;
use super::{child_starts, OrderTable};
use rayon::prelude::*;

/// Builds the trie tables (orders 1..=N) from adjusted counts and discounts.
pub fn interpolate<const N: usize>(
    mut adj: Adjusted<N>,
    discounts: &[Discount],
) -> Vec<OrderTable> {
    let v = adj.unigrams.len();
    let mut tables = Vec::with_capacity(N);

    // Unigrams, indexed by word id.
    let d1 = &discounts[0];
    let (denom, gamma) = group_sums(adj.unigrams.iter().copied(), d1);
    let uniform = 1.0 / (v as f64 - 1.0); // |V| includes <unk> but not <s>, as in lmplz.
    let mut p_prev: Vec<f64> = adj
        .unigrams
        .iter()
        .map(|&a| if a == 0 { 0.0 } else { (a as f64 - d1.for_count(a)) / denom } + gamma * uniform)
        .collect();
    let mut log_prob: Vec<f32> = p_prev.iter().map(|&p| p.log10() as f32).collect();
    // lmplz writes 0 for <s>: it is never predicted, only used as context.
    log_prob[BOS as usize] = 0.0;
    tables.push(OrderTable {
        words: (0..v as u32).collect(),
        log_prob,
        log_backoff: vec![0.0; v],
        child_start: Vec::new(),
    });
    // Index of each entry's suffix (the n-gram minus its first word) in the order below.
    let mut suffix_prev: Vec<u32> = Vec::new();
    let mut keys_prev: Vec<RevKey<N>> = Vec::new();

    for n in 2..=N {
        let mut entries = std::mem::take(&mut adj.orders[n - 2]);
        entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let disc = &discounts[n - 1];

        // Context groups, and each context's index in order n-1 (merge walk: both sorted).
        let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, context index)
        let mut j = 0usize;
        let mut s = 0usize;
        while s < entries.len() {
            let ctx = &entries[s].0[..n - 1];
            let mut t = s + 1;
            while t < entries.len() && &entries[t].0[..n - 1] == ctx {
                t += 1;
            }
            let c = if n == 2 {
                ctx[0] as usize
            } else {
                while keys_prev[j][..n - 1] < *ctx {
                    j += 1;
                }
                debug_assert_eq!(&keys_prev[j][..n - 1], ctx, "context of a {n}-gram missing");
                j
            };
            groups.push((s, t, c));
            s = t;
        }

        // Children of order n-1 entries are the groups.
        let prev_len = tables[n - 2].words.len();
        let child_start = child_starts(
            prev_len,
            entries.len(),
            groups.iter().map(|&(s, _, c)| (s, c)),
        );
        tables[n - 2].child_start = child_start;

        // Probabilities, group by group in parallel (each group writes its own slice).
        let lower = &tables[n - 2];
        let below = if n >= 3 { Some(&tables[n - 3]) } else { None };
        let mut probs = vec![0f64; entries.len()];
        let mut suffix = vec![0u32; entries.len()];
        let mut gammas = vec![0f64; groups.len()];
        {
            let mut work: Vec<(&(usize, usize, usize), &mut [f64], &mut [u32], &mut f64)> =
                Vec::new();
            let mut prest: &mut [f64] = &mut probs;
            let mut srest: &mut [u32] = &mut suffix;
            for (g, gamma) in groups.iter().zip(gammas.iter_mut()) {
                let len = g.1 - g.0;
                let (ph, pt) = prest.split_at_mut(len);
                let (sh, st) = srest.split_at_mut(len);
                prest = pt;
                srest = st;
                work.push((g, ph, sh, gamma));
            }
            work.into_par_iter()
                .with_min_len(256)
                .for_each(|(&(s, t, c), ps, ss, gamma_out)| {
                    let group = &entries[s..t];
                    let (denom, gamma) = group_sums(group.iter().map(|e| e.1), disc);
                    *gamma_out = gamma;
                    // Children range of the context's suffix, where each x's lower n-gram lives.
                    let range = below.map(|b| b.children(suffix_prev[c] as usize));
                    for (i, (key, a)) in group.iter().enumerate() {
                        let x = key[n - 1];
                        let si = match &range {
                            None => x as usize,
                            Some(r) => lower
                                .find(r.clone(), x)
                                .expect("suffix of an n-gram is an n-gram"),
                        };
                        let u = (*a as f64 - disc.for_count(*a)) / denom;
                        ps[i] = u + gamma * p_prev[si];
                        ss[i] = si as u32;
                    }
                });
        }
        let lower = &mut tables[n - 2];
        for (&(_, _, c), &g) in groups.iter().zip(&gammas) {
            lower.log_backoff[c] = g.log10() as f32;
        }
        let is_last = n == N;
        tables.push(OrderTable {
            words: entries.iter().map(|e| e.0[n - 1]).collect(),
            log_prob: probs.par_iter().map(|&p| p.log10() as f32).collect(),
            log_backoff: if is_last {
                Vec::new()
            } else {
                vec![0.0; entries.len()]
            },
            child_start: Vec::new(),
        });
        p_prev = probs;
        suffix_prev = suffix;
        keys_prev = if is_last {
            Vec::new()
        } else {
            entries.into_iter().map(|e| e.0).collect()
        };
    }
    tables
}

/// Σ a and γ = Σ_k D_k · |{a = k}| / Σ a over one context's continuations.
fn group_sums(counts: impl Iterator<Item = u32>, d: &Discount) -> (f64, f64) {
    let mut denom = 0f64;
    let mut removed = 0f64;
    for a in counts {
        denom += a as f64;
        removed += d.for_count(a);
    }
    if denom == 0.0 {
        (0.0, 1.0)
    } else {
        (denom, removed / denom)
    }
}

#[cfg(test)]
mod tests {
    use crate::ngram::{build_lines, BuildOptions};

    #[test]
    fn probabilities_by_hand_and_normalised() {
        // Bigram model on "a b", "a b", "b" with fixed discounts 0.5/1/1.5 is checked by hand:
        // unigram adjusted counts a:1 b:2 </s>:1 (sum 4); D1 from fallback (t3 = 0) = 0.5, D2 = 1.
        // u(a) = 0.5/4, u(b) = 1/4, u(</s>) = 0.5/4; γ = (0.5+1+0.5)/4 = 0.5; |V|-1 = 4.
        // p(a) = 0.125 + 0.5/4 = 0.25; p(b) = 0.25 + 0.125 = 0.375; p(</s>) = 0.25; p(<unk>) = 0.125.
        let m = build_lines(["a b", "a b", "b"].iter().copied(), &BuildOptions::new(2)).unwrap();
        let p = |w: &str| 10f64.powf(m.tables[0].log_prob[m.vocab.get(w).unwrap() as usize] as f64);
        assert!((p("a") - 0.25).abs() < 1e-6);
        assert!((p("b") - 0.375).abs() < 1e-6);
        assert!((p("</s>") - 0.25).abs() < 1e-6);
        assert!((p("<unk>") - 0.125).abs() < 1e-6);
        // Every context's distribution sums to 1 over the vocabulary without <s>.
        for ctx in ["<s>", "a", "b"] {
            let total: f64 = ["a", "b", "</s>", "<unk>"]
                .iter()
                .map(|w| 10f64.powf(m.log10_prob_of(&[ctx], w)))
                .sum();
            assert!((total - 1.0).abs() < 1e-6, "context {ctx}: {total}");
        }
    }
}
