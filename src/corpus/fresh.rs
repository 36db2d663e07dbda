//! The fresh-data stream of `fresh:F`: human training documents no earlier generation used.
//!
//! Generation 0 trains on its usual draw of the human split (the draw every policy shares).
//! The documents it left out are put in one seeded order, fixed for the chain, and generation
//! g ≥ 1 takes the next documents of that order until it has its `F · budget` words: so no
//! fresh document is used twice, and the stream does not depend on anything a generation
//! writes. Whole documents are taken (the last one may overshoot the share by part of a
//! document), so a document is either fresh or unused.

use super::Corpus;
use crate::error::{Error, Result};
use crate::rng::Rng;
use std::collections::HashSet;

/// Checks, before generation 0, that the human training split (`human_words`) holds fresh
/// text for `generations` under `fresh:fraction` with generation 0 taking `budget` words (an
/// estimate to the document: [`fresh_docs`] still refuses exactly when the text runs out).
pub fn check_supply(
    fraction: f64,
    human_words: usize,
    budget: usize,
    generations: u32,
) -> Result<()> {
    let first = budget.min(human_words);
    let share = ((fraction * first as f64).round() as usize).max(1);
    let pool = human_words - first;
    let later = generations.saturating_sub(1) as usize;
    if share * later <= pool {
        return Ok(());
    }
    Err(Error::invalid(
        format!(
            "fresh:{fraction} runs out of unused human text: generation 0 trains on {first} of the \
             {human_words} words of the human training split and each later generation takes about \
             {share} new ones, enough for {} generations after the first, not {later}",
            pool / share
        ),
        "give generation 0 less (--train-tokens), fewer --generations, a smaller fraction, or a \
         larger corpus",
    ))
}

/// The indices (into `human.docs`) of generation `g`'s fresh documents: about `words` words
/// each generation, from the documents generation 0 did not use (`used`, by id).
pub fn fresh_docs(
    human: &Corpus,
    used: &HashSet<&str>,
    g: usize,
    words: usize,
    fraction: f64,
    seed: u64,
) -> Result<Vec<usize>> {
    let mut order: Vec<usize> = (0..human.docs.len())
        .filter(|&i| !used.contains(human.docs[i].id.as_str()))
        .collect();
    Rng::derive(seed, "fresh-stream", 0).shuffle(&mut order);
    let mut next = order.iter().copied().peekable();
    let pool: usize = order.iter().map(|&i| human.docs[i].words()).sum();
    for generation in 1..=g {
        let mut taken = Vec::new();
        let mut have = 0;
        while have < words.max(1) {
            let Some(i) = next.next() else {
                let per = words.max(1);
                return Err(Error::invalid(
                    format!(
                        "fresh:{fraction} ran out of unused human text at generation {generation}: \
                         generation 0 left {pool} words of the human training split, and each \
                         generation takes about {per}, enough for {} generations",
                        pool / per
                    ),
                    "give generation 0 less (--train-tokens), fewer --generations, a smaller \
                     fraction, or a larger corpus",
                ));
            };
            have += human.docs[i].words();
            taken.push(i);
        }
        if generation == g {
            taken.sort_unstable();
            return Ok(taken);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Document;

    fn human(n: usize) -> Corpus {
        Corpus::new(
            (0..n)
                .map(|i| Document::new(format!("d{i}"), "a b c d"))
                .collect(),
        )
    }

    #[test]
    fn fresh_documents_never_repeat_and_follow_one_stream() {
        let h = human(40);
        let used: HashSet<&str> = ["d0", "d1", "d2"].into_iter().collect();
        let mut seen = HashSet::new();
        for g in 1..=4 {
            let docs = fresh_docs(&h, &used, g, 8, 0.1, 7).unwrap();
            assert_eq!(docs.len(), 2, "8 words = 2 documents of 4");
            for i in docs {
                assert!(
                    !used.contains(h.docs[i].id.as_str()),
                    "generation 0's document"
                );
                assert!(seen.insert(i), "document {i} used twice");
            }
        }
        // The same seed gives the same stream; another seed another.
        assert_eq!(
            fresh_docs(&h, &used, 2, 8, 0.1, 7).unwrap(),
            fresh_docs(&h, &used, 2, 8, 0.1, 7).unwrap()
        );
        assert_ne!(
            fresh_docs(&h, &used, 1, 8, 0.1, 7).unwrap(),
            fresh_docs(&h, &used, 1, 8, 0.1, 8).unwrap()
        );
    }

    #[test]
    fn the_supply_is_checked_before_generation_0() {
        assert!(check_supply(0.1, 700_000, 200_000, 10).is_ok()); // 9 × 20,000 <= 500,000
        let e = check_supply(0.5, 10_000, 4_000, 5).unwrap_err().to_string();
        assert!(
            e.contains("enough for 3 generations after the first, not 4"),
            "{e}"
        );
        // Generation 0 on the whole split leaves nothing.
        assert!(check_supply(0.1, 10_000, usize::MAX, 2).is_err());
    }

    #[test]
    fn an_exhausted_pool_says_when_and_what_to_change() {
        let h = human(10);
        let used: HashSet<&str> = ["d0", "d1"].into_iter().collect(); // 8 docs = 32 words left
        assert!(fresh_docs(&h, &used, 4, 8, 0.5, 1).is_ok());
        let e = fresh_docs(&h, &used, 5, 8, 0.5, 1).unwrap_err().to_string();
        assert!(
            e.contains("fresh:0.5 ran out of unused human text at generation 5"),
            "{e}"
        );
        assert!(e.contains("enough for 4 generations"), "{e}");
    }
}
