//! The corpus metrics against their Python references (NLTK BLEU, lexicalrichness, numpy,
//! scipy, zlib) on the committed fixture `tests/fixtures/metrics/`, which
//! `scripts/metrics_reference.py` writes (dev-time; CI does not run Python).
//!
//! Tolerances: 1e-9 (relative above 1) for everything computed by the same arithmetic; 3% for
//! the compression ratio, whose DEFLATE encoder (zlib-rs, zlib-ng's algorithms) is not Python's
//! zlib 1.2.13: both write valid level-6 streams, of sizes 2.4% apart on this 7 KB fixture and
//! 0.7% apart on 4 MB of gutenberg text. Run with `--nocapture` to see the values side by side.

use collapse_lab::corpus::Corpus;
use collapse_lab::metrics::corpus_metrics::{corpus_metrics, HumanReference};
use collapse_lab::metrics::doc_ppl::doc_ppl_distribution;
use collapse_lab::metrics::{DocScore, Scores};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Whether `ours` is within `tol` of `theirs` (relative when |theirs| > 1).
fn near(ours: f64, theirs: f64, tol: f64) -> bool {
    (ours - theirs).abs() <= tol * theirs.abs().max(1.0)
}

#[test]
fn corpus_metrics_match_the_python_references() {
    let human = Corpus::read_jsonl(&fixture("human.jsonl")).unwrap();
    let generated = Corpus::read_jsonl(&fixture("generated.jsonl")).unwrap();
    let ours =
        serde_json::to_value(corpus_metrics(&generated, &HumanReference::new(&human))).unwrap();
    let exp = expected();
    let theirs = exp["metrics"].as_object().unwrap();
    assert!(
        theirs.len() >= 28,
        "expected.json lists {} metrics",
        theirs.len()
    );
    let mut failures = Vec::new();
    for (name, want) in theirs {
        let got = &ours[name];
        let (g, w) = (got.as_f64().unwrap_or(f64::NAN), want.as_f64().unwrap());
        let tol = if name == "compression_ratio" {
            0.03
        } else {
            1e-9
        };
        let ok = if want.is_u64() {
            got == want
        } else {
            near(g, w, tol)
        };
        eprintln!(
            "{name:<24} ours {g:<22} python {w:<22} diff {:.2e} {}",
            (g - w).abs(),
            if ok { "" } else { "MISMATCH" }
        );
        if !ok {
            failures.push(name.clone());
        }
    }
    assert!(failures.is_empty(), "mismatches: {failures:?}");
    // The fixture exercises every band and both self-BLEU edge cases (an empty document and
    // one-word documents are hypotheses too).
    assert!(theirs["medium_types_lost"].as_f64().unwrap() > 0.0);
    assert!(theirs["frequent_types_lost"].as_f64().unwrap() > 0.0);
    assert_eq!(ours["self_bleu_docs"], 30);
}

#[test]
fn doc_ppl_distribution_matches_numpy() {
    let exp = expected();
    let docs = exp["doc_scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| DocScore {
            logprob: s[0].as_f64().unwrap(),
            tokens: s[1].as_u64().unwrap(),
            ..Default::default()
        })
        .collect();
    let d = doc_ppl_distribution(&Scores { docs });
    let want = &exp["doc_ppl"];
    assert_eq!(d.documents as u64, want["documents"].as_u64().unwrap());
    for (name, got) in [
        ("mean", d.mean),
        ("p5", d.p5),
        ("p25", d.p25),
        ("p50", d.p50),
        ("p75", d.p75),
        ("p95", d.p95),
    ] {
        let w = want[name].as_f64().unwrap();
        eprintln!("doc_ppl.{name:<5} ours {got:<22} numpy {w:<22}");
        assert!(near(got, w, 1e-9), "{name}: {got} vs {w}");
    }
    let edges: Vec<f64> = serde_json::from_value(want["histogram_edges"].clone()).unwrap();
    assert_eq!(edges.len(), d.histogram_edges.len());
    for (a, b) in d.histogram_edges.iter().zip(&edges) {
        assert!(near(*a, *b, 1e-12), "edge {a} vs {b}");
    }
    let hist: Vec<u64> = serde_json::from_value(want["histogram"].clone()).unwrap();
    assert_eq!(d.histogram, hist);
}
