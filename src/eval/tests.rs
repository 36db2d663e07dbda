use super::*;
use crate::corpus::Document;

/// Zipf-like text: word `w<r>` with weight 1/r over `types` ranks, `docs` documents of 4
/// lines of 25 words. Same seed, same text.
fn zipf_corpus(docs: usize, types: usize, seed: u64) -> Corpus {
    let weights: Vec<f64> = (1..=types).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(types);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = Rng::new(seed);
    let docs = (0..docs)
        .map(|d| {
            let lines: Vec<String> = (0..4)
                .map(|_| {
                    (0..25)
                        .map(|_| {
                            let u = rng.next_f64();
                            let r = cdf.partition_point(|&c| c < u).min(types - 1);
                            format!("w{r}")
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            Document::new(format!("{seed}-{d}"), lines.join("\n"))
        })
        .collect();
    Corpus::new(docs)
}

fn loaded(corpus: Corpus, name: &str) -> LoadedSource {
    LoadedSource {
        corpus,
        source: name.into(),
        sha256: None,
    }
}

fn settings() -> Settings {
    Settings {
        draws: 6,
        seed: 7,
        precision: Default::default(),
    }
}

#[test]
fn a_small_held_out_human_sample_is_not_flagged() {
    let reference = loaded(zipf_corpus(600, 4000, 1), "human");
    // 30 documents (3,000 words): far smaller than the reference, new text from the same source.
    let held_out = loaded(zipf_corpus(30, 4000, 2), "held-out");
    let v = check(&reference, &held_out, None, &settings()).unwrap();
    assert!(v.flagged.is_empty(), "{:?}", v.rows);
    assert_eq!(v.baseline.tokens, 3000);
    assert!(!v.baseline.candidate_subsampled);
    // Measured against the whole reference it would look like heavy tail loss: the baseline
    // shares that, which is the point of size matching.
    let rare = v
        .rows
        .iter()
        .find(|r| r.metric == "rare_types_lost")
        .unwrap();
    assert!(rare.baseline > 0.5 && rare.value > 0.5, "{rare:?}");
    assert!(v
        .rows
        .iter()
        .any(|r| r.metric == "types" && r.kind.is_none()));
}

#[test]
fn repeated_passages_are_flagged_for_tail_loss_and_diversity() {
    let reference = loaded(zipf_corpus(600, 4000, 1), "human");
    let few = zipf_corpus(3, 4000, 3);
    let repeated: Vec<Document> = (0..30).map(|i| few.docs[i % 3].clone()).collect();
    let v = check(
        &reference,
        &loaded(Corpus::new(repeated), "loop"),
        None,
        &settings(),
    )
    .unwrap();
    let kinds: Vec<Kind> = v.flagged_of(&[]).iter().filter_map(|r| r.kind).collect();
    assert!(kinds.contains(&Kind::TailLoss), "{:?}", v.flagged);
    assert!(kinds.contains(&Kind::Diversity), "{:?}", v.flagged);
    assert!(v.flagged.contains(&"distinct_2".to_string()));
    assert!(v.flagged_of(&[Kind::Repetition]).is_empty());
    let csv = v.to_csv();
    assert!(csv.starts_with("metric,sign,worse,value,baseline"));
    assert!(csv.contains("distinct_2,diversity,lower,"), "{csv}");
}

#[test]
fn looping_documents_are_flagged_for_repetition() {
    let reference = loaded(zipf_corpus(600, 4000, 1), "human");
    let base = zipf_corpus(30, 4000, 4);
    let looping: Vec<Document> = base
        .docs
        .iter()
        .map(|d| {
            let first = d.text.lines().next().unwrap().to_string();
            Document::new(d.id.clone(), vec![first; 4].join("\n"))
        })
        .collect();
    let v = check(
        &reference,
        &loaded(Corpus::new(looping), "loop"),
        None,
        &settings(),
    )
    .unwrap();
    assert!(
        v.flagged.contains(&"seq_rep_4".to_string()),
        "{:?}",
        v.flagged
    );
}

#[test]
fn a_candidate_larger_than_half_the_reference_is_subsampled() {
    let reference = loaded(zipf_corpus(100, 2000, 1), "human");
    let big = loaded(zipf_corpus(80, 2000, 5), "big");
    let v = check(&reference, &big, None, &settings()).unwrap();
    assert!(v.baseline.candidate_subsampled);
    assert_eq!(v.baseline.tokens, 5000);
    assert!(v.flagged.is_empty(), "{:?}", v.flagged);
}

#[test]
fn bad_settings_and_tiny_references_are_errors() {
    let tiny = loaded(Corpus::new(vec![Document::new("a", "one")]), "tiny");
    let cand = loaded(zipf_corpus(2, 100, 1), "c");
    let e = check(&tiny, &cand, None, &settings()).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
    let s = Settings {
        draws: 1,
        seed: 1,
        precision: Default::default(),
    };
    assert!(check(&cand, &cand, None, &s).is_err());
}

#[test]
fn nested_metrics_flatten_to_names() {
    let v = serde_json::json!({"a": 1.0, "seq_rep": [0.1, 0.2], "band": {"rare": 0.5}, "n": null, "s": "x"});
    let mut out = Vec::new();
    flatten(&v, "", &mut out);
    let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["a", "band_rare", "n", "seq_rep_1", "seq_rep_2"]);
    assert!(out[2].1.is_nan());
}
