//! Tests of `self_bleu.rs`, kept apart so the module itself stays short.
use super::*;

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "got {got}, want {want}");
}

#[test]
fn two_documents_by_hand() {
    // A = a b a b, B = a b c (a = 0, b = 1, c = 2).
    let (a, b): (&[u32], &[u32]) = (&[0, 1, 0, 1], &[0, 1, 2]);
    // A against B: unigrams a2 b2 clipped to 1 + 1 of 4; bigrams ab2 ba1 -> ab 1 of 3;
    // trigrams aba bab -> 0 of 2 (smoothed 0.1/2); 4-gram abab -> 0 of 1 (0.1/1).
    // |A| = 4 > |B| = 3: BP = 1.
    let bleu_a = (0.5f64 * (1.0 / 3.0) * 0.05 * 0.1).powf(0.25);
    // B against A: a b c -> 2 of 3; ab bc -> 1 of 2; abc -> 0 of 1 (0.1); no 4-gram:
    // 0 of max(1, 0) (0.1). |B| = 3 < 4: BP = exp(1 - 4/3).
    let bleu_b = (-1.0f64 / 3.0).exp() * (2.0f64 / 3.0 * 0.5 * 0.1 * 0.1).powf(0.25);
    close(sentence_bleu(&[b], a), bleu_a);
    close(sentence_bleu(&[a], b), bleu_b);
    close(self_bleu(&[a, b], 3), (bleu_a + bleu_b) / 2.0);
}

#[test]
fn the_hypothesis_is_left_out_of_its_references() {
    // A, B and a copy of A: each copy of A finds itself in the other copy (BLEU 1, the closest
    // reference length 4 gives BP 1); B is scored against two copies of A. If a hypothesis
    // were its own reference every score would be 1.
    let (a, b): (&[u32], &[u32]) = (&[0, 1, 0, 1], &[0, 1, 2]);
    close(sentence_bleu(&[b, a], a), 1.0);
    let want = (1.0 + 1.0 + sentence_bleu(&[a, a], b)) / 3.0;
    close(self_bleu(&[a, b, a], 3), want);
    assert!(want < 0.9);
}

#[test]
fn no_unigram_match_and_empty_documents_score_zero() {
    let (a, b, e): (&[u32], &[u32], &[u32]) = (&[0, 0], &[1], &[]);
    assert_eq!(sentence_bleu(&[b], a), 0.0);
    assert_eq!(sentence_bleu(&[a], e), 0.0);
    assert_eq!(self_bleu(&[a, b, e], 2), 0.0);
    assert!(self_bleu(&[a], 2).is_nan() && self_bleu(&[], 0).is_nan());
}

#[test]
fn closest_reference_length_excludes_the_hypothesis() {
    let lens = [1, 3, 3, 7];
    assert_eq!(closest_other_length(&lens, 3), 3); // the other 3
    assert_eq!(closest_other_length(&lens, 7), 3);
    assert_eq!(closest_other_length(&lens, 1), 3);
    assert_eq!(closest_other_length(&[2, 4, 6], 4), 2); // tie: the shorter
    assert_eq!(closest_other_length(&[2, 4, 5], 4), 5);
}

#[test]
fn fast_path_equals_nltk_arithmetic_on_random_documents() {
    let mut x = 4242u64;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let docs: Vec<Vec<u32>> = (0..30)
        .map(|_| {
            let len = next(25);
            (0..len).map(|_| next(5) as u32).collect()
        })
        .collect();
    let refs: Vec<&[u32]> = docs.iter().map(|d| d.as_slice()).collect();
    let mut sum = 0.0;
    for j in 0..refs.len() {
        let others: Vec<&[u32]> = (0..refs.len())
            .filter(|&k| k != j)
            .map(|k| refs[k])
            .collect();
        sum += sentence_bleu(&others, refs[j]);
    }
    let want = sum / refs.len() as f64;
    close(self_bleu(&refs, 5), want);
    // Ids anywhere below `types` (they are made local to the sample first).
    let wide: Vec<Vec<u32>> = docs
        .iter()
        .map(|d| d.iter().map(|&i| i * 70_000 + 3).collect())
        .collect();
    let wide: Vec<&[u32]> = wide.iter().map(|d| d.as_slice()).collect();
    close(self_bleu(&wide, 5 * 70_000), want);
    assert!(want > 0.1 && want < 1.0, "{want}");
    // Every packing gives the same matches: u64 (3 bits per id), u128 where 20 bits per id
    // overflow 64 (n >= 3), and plain pairs.
    for n in 1..=BLEU_MAX_N {
        let narrow = clipped_matches(&refs, n, 5);
        assert_eq!(narrow, clipped_matches(&refs, n, 1 << 20), "n = {n}");
        assert_eq!(narrow, clipped_matches_of_pairs(&refs, n), "n = {n}");
    }
}

#[test]
fn sample_is_all_documents_or_a_seeded_subset() {
    assert_eq!(sample_docs(5, 10, 1), [0, 1, 2, 3, 4]);
    let s = sample_docs(1000, 10, 0);
    assert_eq!(s.len(), 10);
    assert!(s.windows(2).all(|w| w[0] < w[1]) && s[9] < 1000);
    assert_eq!(s, sample_docs(1000, 10, 0));
    assert_ne!(s, sample_docs(1000, 10, 1));
    // Uniform draws: over many seeds every index is picked about sample/documents of the time.
    let mut hits = [0u32; 20];
    for seed in 0..2000 {
        for i in sample_docs(20, 5, seed) {
            hits[i] += 1;
        }
    }
    assert!(hits.iter().all(|&h| (400..600).contains(&h)), "{hits:?}");
}
