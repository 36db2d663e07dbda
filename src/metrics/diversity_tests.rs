//! Tests of `diversity.rs`, kept apart so the module itself stays short.
use super::*;
use crate::corpus::Document;

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "got {got}, want {want}");
}

#[test]
fn mattr_by_hand() {
    // a a b a, window 2: {a} {a b} {b a} -> (1 + 2 + 2) / (2 · 3)
    let ids = [0, 0, 1, 0];
    close(mattr(&ids, 2, 2), 5.0 / 6.0);
    // window 3: {a b} {a b} -> (2 + 2) / (3 · 2)
    close(mattr(&ids, 2, 3), 2.0 / 3.0);
    close(mattr(&ids, 2, 4), 0.5); // one window, TTR 2/4
    assert!(mattr(&ids, 2, 5).is_nan() && mattr(&ids, 2, 0).is_nan());
}

#[test]
fn mattr_does_not_depend_on_the_split() {
    // Long enough for several tasks (windows are split in blocks of 2^16).
    let mut x = 99u64;
    let ids: Vec<u32> = (0..300_000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((x >> 33) % 500) as u32
        })
        .collect();
    let got = mattr(&ids, 500, 100);
    // The plain definition, window by window.
    let mut sum = 0usize;
    for w in ids.windows(100) {
        let mut s = w.to_vec();
        s.sort_unstable();
        s.dedup();
        sum += s.len();
    }
    close(got, sum as f64 / (100.0 * (ids.len() - 99) as f64));
}

#[test]
fn mtld_by_hand() {
    // a a b b: forward, TTR 1/2 at the 2nd and 4th token -> 2 factors, nothing left: 4/2 = 2;
    // backward b b a a the same.
    close(mtld(&[0, 0, 1, 1], 2, 0.72), 2.0);
    // a b a c: forward a b a -> TTR 2/3 <= 0.72 (1 factor), c left with TTR 1 (partial 0):
    // 4/1 = 4. Backward c a b a: TTR 1, 1, 1, 3/4 > 0.72, partial (1 - 0.75)/(1 - 0.72):
    // 4 / (0.25/0.28) = 4.48. Mean 4.24.
    close(
        mtld(&[0, 1, 0, 2], 3, 0.72),
        (4.0 + 4.0 * 0.28 / 0.25) / 2.0,
    );
    // All distinct: no factor and no partial; the whole text (TTR 1) is one factor: 3/1.
    close(mtld(&[0, 1, 2], 3, 0.72), 3.0);
    assert!(mtld(&[], 0, 0.72).is_nan());
}

#[test]
fn zipf_by_hand() {
    // Exact Zipf (count = 12 / rank): slope -1 whatever the input order.
    close(zipf_coefficient(&[3, 12, 4, 6], 1000), 1.0);
    // Two ranks: slope (ln 1 - ln 9) / (ln 2 - ln 1) -> coefficient ln 9 / ln 2.
    close(zipf_coefficient(&[1, 0, 9], 1000), 9f64.ln() / 2f64.ln());
    // Top 2 of counts 12 6 4 3 (all exact Zipf) and of 9 1 1: only the head is fitted.
    close(zipf_coefficient(&[3, 12, 4, 6], 2), 1.0);
    close(zipf_coefficient(&[9, 1, 1], 2), 9f64.ln() / 2f64.ln());
    assert!(zipf_coefficient(&[5, 0], 1000).is_nan() && zipf_coefficient(&[], 10).is_nan());
}

#[test]
fn compression_ratio_by_hand() {
    // One document "" is the single byte "\n": DEFLATE writes one fixed-Huffman block of
    // 3 header bits + an 8-bit literal + a 7-bit end-of-block code = 18 bits -> 3 bytes.
    let one = Corpus::new(vec![Document::new("a", "")]);
    close(compression_ratio(&one), 1.0 / 3.0);
    assert!(compression_ratio(&Corpus::default()).is_nan());
    // A repetitive corpus compresses far better than varied text.
    let same = Corpus::new(vec![Document::new("a", "a a a a"); 1000]);
    assert!(
        compression_ratio(&same) > 100.0,
        "{}",
        compression_ratio(&same)
    );
}
