//! Our estimator against KenLM lmplz's own outputs in ../shared/reference/kenlm.
//!
//! Tolerances: perplexities within 0.5% (the bar; we land far inside it), and every
//! n-gram's log10 probability and backoff within 1e-4 of lmplz's (lmplz computes in f32).

use crate::util::shared_or_panic;
use collapse_lab::ngram::{arpa, build_lines, query, BuildOptions, NgramModel};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The reference `query -v summary` numbers: (ppl incl OOV, ppl excl OOV, OOVs, tokens).
fn reference_summary(p: &Path) -> (f64, f64, u64, u64) {
    let text = read(p);
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing"))
            .trim()
            .to_string()
    };
    (
        field("Perplexity including OOVs:").parse().unwrap(),
        field("Perplexity excluding OOVs:").parse().unwrap(),
        field("OOVs:").parse().unwrap(),
        field("Tokens:").parse().unwrap(),
    )
}

/// Every n-gram of `ours` and `theirs` as words -> (log10 p, log10 backoff).
fn entries(m: &NgramModel) -> HashMap<String, (f32, f32)> {
    let mut buf = Vec::new();
    arpa::write_arpa_to(m, &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    parse_entries(&text)
}

fn parse_entries(text: &str) -> HashMap<String, (f32, f32)> {
    let mut out = HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() >= 2 {
            let b = f.get(2).map(|b| b.parse().unwrap()).unwrap_or(0.0);
            out.insert(f[1].to_string(), (f[0].parse().unwrap(), b));
        }
    }
    out
}

fn check_order(order: usize) {
    let dir = shared_or_panic().join("reference/kenlm/tinyshakespeare");
    let train = read(&dir.join("train.txt"));
    let test = read(&dir.join("test.txt"));
    let model = build_lines(train.lines(), &BuildOptions::new(order)).unwrap();

    let theirs = arpa::read_arpa(&dir.join(format!("o{order}.arpa.gz"))).unwrap();
    assert_eq!(
        model.meta.ngrams, theirs.meta.ngrams,
        "n-gram counts per order differ from lmplz"
    );

    let mut gz = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join(format!("o{order}.arpa.gz"))).unwrap(),
    )
    .read_to_string(&mut gz)
    .unwrap();
    let (ours_e, theirs_e) = (entries(&model), parse_entries(&gz));
    assert_eq!(ours_e.len(), theirs_e.len());
    let (mut max_p, mut max_b) = (0f32, 0f32);
    for (k, (p, b)) in &theirs_e {
        let (op, ob) = ours_e
            .get(k)
            .unwrap_or_else(|| panic!("lmplz has `{k}`, we do not"));
        max_p = max_p.max((op - p).abs());
        max_b = max_b.max((ob - b).abs());
    }
    println!("order {order}: max |Δ log10 p| = {max_p:.2e}, max |Δ log10 backoff| = {max_b:.2e}");
    assert!(
        max_p < 1e-4 && max_b < 1e-4,
        "order {order}: Δp {max_p}, Δb {max_b}"
    );

    let ours = query::summarize(&model, test.par_lines());
    let (ppl, ppl_ex, oov, tokens) =
        reference_summary(&dir.join(format!("o{order}.query-summary.txt")));
    println!(
        "order {order}: ours {ours:?}\n  lmplz ppl {ppl} excl {ppl_ex} oov {oov} tokens {tokens}"
    );
    assert_eq!((ours.oovs, ours.tokens), (oov, tokens));
    let rel = |a: f64, b: f64| (a - b).abs() / b;
    assert!(rel(ours.perplexity_including_oovs, ppl) < 1e-4);
    assert!(rel(ours.perplexity_excluding_oovs, ppl_ex) < 1e-4);
    // Their ARPA read by our reader scores the same too.
    let via_reader = query::summarize(&theirs, test.par_lines());
    assert!(
        rel(via_reader.perplexity_including_oovs, ppl) < 1e-6,
        "{via_reader:?}"
    );
}

#[test]
#[ignore = "needs ../shared"]
fn trigram_matches_lmplz() {
    check_order(3);
}

#[test]
#[ignore = "needs ../shared"]
fn fivegram_matches_lmplz() {
    check_order(5);
}

#[test]
#[ignore = "needs ../shared"]
fn degenerate_corpus_matches_lmplz_discount_fallback() {
    let dir = shared_or_panic().join("reference/kenlm/degenerate");
    let train = read(&dir.join("train.txt"));
    let model = build_lines(train.lines(), &BuildOptions::new(3)).unwrap();
    let d = &model.meta.discounts;
    assert_eq!(
        d[0].d,
        [0.5, 1.0, 1.5],
        "unigram fallback, as lmplz --discount_fallback"
    );
    assert!(d[0].fallback.is_some() && d[1].fallback.is_none() && d[2].fallback.is_none());
    // lmplz's log: "2 129 D1=0.260274 D2=0.929985 D3+=2.32469", "3 347 D1=0.760638 D2=1.59433 D3+=2.23936".
    let want = [[0.260274, 0.929985, 2.32469], [0.760638, 1.59433, 2.23936]];
    for (o, w) in want.iter().enumerate() {
        for k in 0..3 {
            assert!(
                (d[o + 1].d[k] - w[k]).abs() < 1e-5,
                "order {} D{}: {} vs {}",
                o + 2,
                k + 1,
                d[o + 1].d[k],
                w[k]
            );
        }
    }
    assert_eq!(model.meta.ngrams, vec![14, 129, 347]);
    let theirs = parse_entries(&read(&dir.join("o3-discount_fallback.arpa")));
    let ours = entries(&model);
    assert_eq!(ours.len(), theirs.len());
    for (k, (p, b)) in &theirs {
        let (op, ob) = ours[k];
        assert!(
            (op - p).abs() < 1e-4 && (ob - b).abs() < 1e-4,
            "`{k}`: ours ({op}, {ob}) lmplz ({p}, {b})"
        );
    }
}
