//! Tests of `corpus_metrics.rs`, kept apart so the module itself stays short.
use super::*;

fn corpus(texts: &[&str]) -> Corpus {
    let docs = texts.iter().map(|t| Document::new("d", *t));
    Corpus::new(docs.collect())
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "got {got}, want {want}");
}

#[test]
fn seq_rep_n_by_hand() {
    let t = ["a", "b", "a", "b"];
    close(seq_rep_n(&t, 2).unwrap(), 1.0 - 2.0 / 3.0); // ab ba ab: 2 unique of 3
    assert_eq!(seq_rep_n(&t, 1), Some(0.5)); // a b a b: 2 unique of 4
    assert_eq!(seq_rep_n(&t, 4), Some(0.0)); // one 4-gram
    assert_eq!(
        (seq_rep_n(&t, 5), seq_rep_n(&t, 0), seq_rep_n(&[], 1)),
        (None, None, None)
    );
    // The id-based n = 4 path agrees: a b a b a b -> abab baba abab: 1 - 2/3.
    let mut set = FxHashSet::default();
    let rep = seq_rep_4_ids(&[0, 1, 0, 1, 0, 1], &mut set);
    close(rep.unwrap(), 1.0 / 3.0);
    assert_eq!(seq_rep_4_ids(&[7, 7, 7], &mut set), None);
}

#[test]
fn human_reference_counts() {
    let h = HumanReference::new(&corpus(&["a a a\ta a a b", "c\n\n"]));
    assert_eq!((h.types(), h.tokens(), h.rare_types()), (3, 8, 2)); // a:6 b:1 c:1
    assert_eq!((h.count("a"), h.count("b"), h.count("zzz")), (6, 1, 0));
}

#[test]
fn every_metric_by_hand() {
    // Human: a:6 b:1 c:1 (H = 8, types {a,b,c}, rare {b,c}).
    let human = HumanReference::new(&corpus(&["a a a a a a b c"]));
    // Corpus docs: [a b a b a b], [a d a] (two lines), [d d d d d]; a:5 b:3 d:6.
    let texts = ["a b a b a b", "a d\na", " d d  d d d \n"];
    let m = corpus_metrics(&corpus(&texts), &human);
    assert_eq!((m.documents, m.tokens, m.types), (3, 14, 3));
    // seq_rep_4: doc1 abab baba abab -> 1/3; doc2 has 3 tokens (skipped);
    // doc3 dddd dddd -> 1/2. Mean (1/3 + 1/2) / 2 = 5/12.
    close(m.seq_rep_4, 5.0 / 12.0);
    close(m.distinct_1, 3.0 / 14.0);
    // Bigrams within documents: ab ba ab ba ab | ad da | dd dd dd dd -> 11 (13 if they
    // crossed documents); distinct {ab, ba, ad, da, dd} = 5.
    close(m.distinct_2, 5.0 / 11.0);
    close(m.human_types_lost, 1.0 / 3.0); // c lost
    close(m.rare_types_lost, 1.0 / 2.0); // c of {b, c}
                                         // V = {a,b,c,d}, N = 14, denominator 14 + 0.5·4 = 16:
                                         // Q(a) = 5.5/16, Q(b) = 3.5/16, Q(c) = 0.5/16; P = 6/8, 1/8, 1/8.
                                         // KL = 0.75 ln(0.75·16/5.5) + 0.125 ln(0.125·16/3.5) + 0.125 ln(0.125·16/0.5)
                                         //    = 0.75 ln(24/11) + 0.125 ln(4/7) + 0.125 ln 4 = 0.6884537398102397
    close(m.unigram_kl, 0.688_453_739_810_239_7);
    // Against itself: nothing lost; KL is the smoothing's cost alone:
    // Q = (6.5, 1.5, 1.5)/9.5: KL = 0.75 ln(0.75·9.5/6.5) + 0.25 ln(0.125·9.5/1.5)
    let same = corpus_metrics(&corpus(&["a a a a a a b c"]), &human);
    assert_eq!((same.human_types_lost, same.rare_types_lost), (0.0, 0.0));
    let want = 0.75 * (7.125f64 / 6.5).ln() + 0.25 * (1.1875f64 / 1.5).ln();
    close(same.unigram_kl, want);
}

#[test]
fn empty_inputs_give_documented_values() {
    let human = HumanReference::new(&corpus(&["a a a a a a b c"]));
    let m = corpus_metrics(&Corpus::default(), &human);
    assert_eq!((m.documents, m.tokens, m.types), (0, 0, 0));
    assert_eq!((m.seq_rep_4, m.distinct_1, m.distinct_2), (0.0, 0.0, 0.0));
    assert_eq!((m.human_types_lost, m.rare_types_lost), (1.0, 1.0));
    // Q uniform 1/3 over {a,b,c}: KL = 0.75 ln 2.25 + 0.25 ln 0.375
    close(m.unigram_kl, 0.362_990_348_909_315_03);
    let none = HumanReference::new(&corpus(&["", " \n\t"]));
    let m = corpus_metrics(&corpus(&["", "x"]), &none);
    assert_eq!((m.documents, m.tokens, m.types), (2, 1, 1));
    assert_eq!(
        (m.distinct_1, m.human_types_lost, m.rare_types_lost),
        (1.0, 0.0, 0.0)
    );
    assert_eq!(m.unigram_kl, 0.0);
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<CorpusMetrics>(&json).unwrap(), m);
}

#[test]
fn chunking_does_not_change_results() {
    // Pseudo-random documents over a small vocabulary (so n-grams repeat), with odd
    // whitespace and non-ASCII tokens; one chunk per document vs one chunk in all.
    let words = ["the", "é", "\u{00A0}x", "a\u{3000}b"];
    let seps = [" ", "\n", "\t", " \r\n", "  "];
    let mut x: u64 = 12345;
    let mut next = |m: usize| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as usize % m
    };
    let texts: Vec<String> = (0..60)
        .map(|_| {
            (0..next(80))
                .map(|_| [words[next(4)], seps[next(5)]].concat())
                .collect()
        })
        .collect();
    let c = Corpus::new(
        texts
            .iter()
            .map(|t| Document::new("d", t.as_str()))
            .collect(),
    );
    let human = HumanReference::new(&corpus(&["the é é zebra", "\u{00A0}x"]));
    let one = metrics_with_chunks(&c, &human, usize::MAX);
    assert_eq!(one, metrics_with_chunks(&c, &human, 1));
    // seq_rep_4 equals the mean of the public seq_rep_n over the same documents.
    let tokens = c
        .docs
        .iter()
        .map(|d| tokenize::words(&d.text).collect::<Vec<_>>());
    let reps: Vec<f64> = tokens.filter_map(|t| seq_rep_n(&t, 4)).collect();
    close(one.seq_rep_4, reps.iter().sum::<f64>() / reps.len() as f64);
    assert!(one.seq_rep_4 > 0.0 && one.distinct_2 < 1.0 && one.types == 4);
    close(one.human_types_lost, 0.25); // zebra
}
