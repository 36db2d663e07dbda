//! A chain's inputs cannot change under it: a resume refuses, in one line, generated text,
//! a test split or a judging checkpoint that no longer match what the chain recorded.

use crate::util::{arg, cli, cli_ok, json, small_corpus};
use std::path::Path;
use tempfile::TempDir;

fn chain<'a>(corpus: &'a Path, generations: &'a str) -> Vec<&'a str> {
    vec![
        "chain",
        "--experiment",
        "in",
        "--corpus",
        arg(corpus),
        "--model",
        "ngram:2",
        "--seed",
        "5",
        "--generations",
        generations,
    ]
}

/// Runs the extension and checks the one-line refusal naming `what`.
fn refused(w: &Path, corpus: &Path, what: &str) {
    let out = cli(w, &chain(corpus, "3"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(what) && err.contains("no longer matches"),
        "{err}"
    );
    assert!(
        err.contains("hint: restore it, or start experiment `in` over"),
        "{err}"
    );
    assert!(!w.join("evals/in/gen-02.json").exists());
}

#[test]
fn an_edited_generated_corpus_is_refused_on_resume() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    cli_ok(&w, &chain(&corpus, "2"));
    let gen = w.join("corpora/in/gen-00/generated.jsonl");
    let text = std::fs::read_to_string(&gen).unwrap();
    // Still valid JSON lines, one word changed.
    let edited = text.replacen("\"text\":\"", "\"text\":\"edited ", 1);
    std::fs::write(&gen, edited).unwrap();
    refused(&w, &corpus, "gen-00/generated.jsonl");
}

#[test]
fn a_changed_test_split_is_refused_on_resume() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    cli_ok(&w, &chain(&corpus, "2"));
    assert!(json(&w.join("evals/in/gen-01.json"))["test_sha256"].is_string());
    // Another split under the same name, with consistent manifests (as a re-split writes).
    let human = w.join("corpora/in/human");
    let other = tmp.path().join("other");
    cli_ok(
        &other,
        &[
            "corpus",
            "split",
            arg(&corpus),
            "--name",
            "x",
            "--seed",
            "99",
        ],
    );
    for f in [
        "train.jsonl",
        "train.manifest.json",
        "test.jsonl",
        "test.manifest.json",
    ] {
        std::fs::copy(other.join("corpora/x/human").join(f), human.join(f)).unwrap();
    }
    refused(&w, &corpus, "human/test.jsonl");
    // And `corpus split` itself will not replace an experiment's split.
    let out = cli(&w, &["corpus", "split", arg(&corpus), "--name", "in"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("already holds a split"), "{err}");
}

#[test]
fn a_changed_generation_zero_model_is_refused_on_resume() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    cli_ok(&w, &chain(&corpus, "2"));
    let m = json(&w.join("corpora/in/gen-00/generated.manifest.json"));
    assert_eq!(m["parent_model_sha256"].as_str().map(str::len), Some(64));
    let meta = w.join("checkpoints/in/gen-00/model.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replacen('{', "{ ", 1)).unwrap();
    refused(&w, &corpus, "checkpoints/in/gen-00");
}
