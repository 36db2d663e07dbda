//! Tests of `repetition.rs`, kept apart so the module itself stays short.
use super::*;
use crate::corpus::{Corpus, Document};

fn corpus(texts: &[&str]) -> Corpus {
    Corpus::new(texts.iter().map(|t| Document::new("d", *t)).collect())
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
    let none: [&str; 0] = [];
    assert_eq!(
        (seq_rep_n(&t, 5), seq_rep_n(&t, 0), seq_rep_n(&none, 1)),
        (None, None, None)
    );
}

#[test]
fn every_measure_by_hand() {
    // Docs [a b a b a b], [a d a] (two lines), [d d d d d], []: 14 tokens, types a b d.
    let c = corpus(&["a b a b a b", "a d\na", " d d  d d d \n", ""]);
    let t = TokenizedCorpus::new(&c);
    let r = repetition(&t);
    // seq-rep-1: 1 - 2/6, 1 - 2/3, 1 - 1/5 -> mean (2/3 + 1/3 + 4/5) / 3 = 0.6
    close(r.seq_rep[0], 0.6);
    // seq-rep-2: ab ba ab ba ab -> 1 - 2/5; ad da -> 0; dd x4 -> 1 - 1/4: (0.6 + 0.75) / 3
    close(r.seq_rep[1], 0.45);
    // seq-rep-3: aba bab aba bab -> 1/2; ada -> 0; ddd x3 -> 2/3: (1/2 + 2/3) / 3 = 7/18
    close(r.seq_rep[2], 7.0 / 18.0);
    // seq-rep-4: abab baba abab -> 1/3; [a d a] too short; dddd x2 -> 1/2: 5/12
    close(r.seq_rep[3], 5.0 / 12.0);
    // n-grams per document, none across documents: 1-grams 14, 2-grams 5+2+4, 3-grams
    // 4+1+3, 4-grams 3+0+2; distinct: {a,b,d}, {ab,ba,ad,da,dd}, {aba,bab,ada,ddd},
    // {abab,baba,dddd}.
    assert_eq!(r.ngrams, [14, 11, 8, 5]);
    assert_eq!(r.unique_ngrams, [3, 5, 4, 3]);
    close(r.distinct_per_ngram(2), 5.0 / 11.0);
    close(r.distinct_per_token(2), 5.0 / 14.0);
    close(r.distinct_per_ngram(4), 3.0 / 5.0);
    close(r.distinct_per_token(4), 3.0 / 14.0);
    assert_eq!(r.distinct_per_ngram(1), r.distinct_per_token(1));
    // rep/l: doc 1 repeats 4 tokens (gap 2), doc 2 one (a, gap 2), doc 3 four (gap 1); the
    // first d of doc 3 is not a repeat although doc 2 had a d. 9 of 14 for every l.
    for k in 0..3 {
        close(r.rep_l[k], 9.0 / 14.0);
    }
}

#[test]
fn rep_l_separates_the_windows() {
    // x f1..f20 x g1..g50 x y h1..h130 y: the second x is 21 tokens after the first
    // (in rep/32 and rep/128, not rep/16), the third 51 after the second (rep/128 only), the
    // second y 131 after the first (in none). 205 tokens.
    let words = |p: &str, n: usize| (1..=n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    let mut doc = vec!["x".to_string()];
    doc.extend(words("f", 20));
    doc.push("x".into());
    doc.extend(words("g", 50));
    doc.extend(["x".into(), "y".into()]);
    doc.extend(words("h", 130));
    doc.push("y".into());
    assert_eq!(doc.len(), 205);
    let c = corpus(&[&doc.join(" ")]);
    let r = repetition(&TokenizedCorpus::new(&c));
    assert_eq!(REP_WINDOWS, [16, 32, 128]);
    close(r.rep_l[0], 0.0);
    close(r.rep_l[1], 1.0 / 205.0);
    close(r.rep_l[2], 2.0 / 205.0);
    close(r.seq_rep[0], 1.0 - 202.0 / 205.0); // 202 distinct tokens
}

#[test]
fn empty_corpus_gives_zeros() {
    let c = corpus(&["", " \n"]);
    let r = repetition(&TokenizedCorpus::new(&c));
    assert_eq!(r.seq_rep, [0.0; 4]);
    assert_eq!(r.rep_l, [0.0; 3]);
    assert_eq!((r.ngrams, r.unique_ngrams, r.tokens), ([0; 4], [0; 4], 0));
    assert_eq!(
        (r.distinct_per_ngram(2), r.distinct_per_token(3)),
        (0.0, 0.0)
    );
}

#[test]
fn packer_widths_and_both_key_types_agree() {
    assert_eq!(Packer::for_types(0).bits, 1);
    assert_eq!(Packer::for_types(2).bits, 1);
    assert_eq!(Packer::for_types(3).bits, 2);
    assert_eq!(Packer::for_types(1 << 16).bits, 16);
    assert_eq!(Packer::for_types((1 << 16) + 1).bits, 17);
    assert!(Packer::for_types(1 << 16).fits_u64(4) && !Packer::for_types(70_000).fits_u64(4));
    let p = Packer { bits: 17 };
    assert_eq!(p.pack128(&[1, 2, 3, 4]), 1 << 51 | 2 << 34 | 3 << 17 | 4);
    // Keys are injective: (1, 0) and (0, 2) differ with 1 bit each.
    let q = Packer { bits: 1 };
    assert_ne!(q.pack64(&[1, 0]), q.pack64(&[0, 1]));

    let c = random_corpus(40, 7);
    let t = TokenizedCorpus::new(&c);
    let ranges = t.doc_ranges(1);
    let p = Packer::for_types(t.types());
    for n in 2..=4 {
        let bits = p.bits * n as u32;
        let a = unique_keys(&t, &ranges, n, bits, |w| p.pack64(w));
        let b = unique_keys(&t, &ranges, n, bits, |w| p.pack128(w));
        assert_eq!(a, b);
    }
}

/// Pseudo-random documents over a 6-word vocabulary (so n-grams repeat).
fn random_corpus(docs: usize, seed: u64) -> Corpus {
    let mut x = seed;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % m) as usize
    };
    let words = ["the", "é", "a\u{3000}b", "x", "y", "z"];
    let texts: Vec<String> = (0..docs)
        .map(|_| {
            let len = next(90);
            (0..len)
                .map(|_| words[next(6)])
                .collect::<Vec<_>>()
                .join(if next(2) == 0 { " " } else { "\n" })
        })
        .collect();
    Corpus::new(
        texts
            .iter()
            .map(|t| Document::new("d", t.as_str()))
            .collect(),
    )
}

#[test]
fn fast_paths_match_the_definitions_and_any_work_split() {
    let c = random_corpus(60, 12345);
    let t = TokenizedCorpus::new(&c);
    let one = repetition_in(&t, std::slice::from_ref(&(0..t.documents())));
    let singles: Vec<_> = (0..t.documents()).map(|d| d..d + 1).collect();
    assert_eq!(one, repetition_in(&t, &singles));
    assert_eq!(one, repetition(&t));
    let seqs: Vec<Vec<&str>> = c
        .docs
        .iter()
        .map(|d| crate::tokenize::words(&d.text).collect())
        .collect();
    for n in 1..=4 {
        let reps: Vec<f64> = seqs.iter().filter_map(|s| seq_rep_n(s, n)).collect();
        close(
            one.seq_rep[n - 1],
            reps.iter().sum::<f64>() / reps.len() as f64,
        );
        let mut all = std::collections::HashSet::new();
        for s in &seqs {
            all.extend(s.windows(n));
        }
        assert_eq!(one.unique_ngrams[n - 1], all.len() as u64);
    }
    // rep/l by its definition: token i repeats one of tokens i-l..i-1 of its document.
    for (k, &l) in REP_WINDOWS.iter().enumerate() {
        let repeats: usize = seqs
            .iter()
            .map(|s| {
                (0..s.len())
                    .filter(|&i| s[i.saturating_sub(l)..i].contains(&s[i]))
                    .count()
            })
            .sum();
        close(one.rep_l[k], repeats as f64 / one.tokens as f64);
    }
    assert!(one.seq_rep[3] > 0.0 && one.rep_l[0] > 0.5);
}
