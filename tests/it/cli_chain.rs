//! The real CLI, end to end: a chain's files and provenance, policies, determinism, resume after
//! a kill, extension, the lock.

use crate::util::{
    arg, assert_same_outputs, cli, cli_command, cli_ok, json, output_files, sha256, small_corpus,
    write_corpus,
};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// `chain --experiment <exp> --corpus <corpus> --model ngram:3 --seed 7` plus `extra`.
fn chain_args<'a>(exp: &'a str, corpus: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["chain", "--experiment", exp, "--corpus", arg(corpus)];
    a.extend(["--model", "ngram:3", "--seed", "7"]);
    a.extend(extra);
    a
}

fn tokens(v: &Value) -> u64 {
    v["tokens"].as_u64().expect("tokens")
}

#[test]
fn end_to_end_layout_metrics_and_manifests() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    let args = chain_args(
        "e2e",
        &corpus,
        &["--generations", "3", "--policy", "replace"],
    );
    cli_ok(&w, &args);

    let mut expected: Vec<String> = vec![];
    for s in ["train", "valid", "test"] {
        expected.push(format!("corpora/e2e/human/{s}.jsonl"));
        expected.push(format!("corpora/e2e/human/{s}.manifest.json"));
    }
    for g in 0..3 {
        for f in [
            "train.manifest.json",
            "generated.jsonl",
            "generated.manifest.json",
        ] {
            expected.push(format!("corpora/e2e/gen-{g:02}/{f}"));
        }
        for f in ["model.arpa.gz", "model.json"] {
            expected.push(format!("checkpoints/e2e/gen-{g:02}/{f}"));
        }
        expected.push(format!("evals/e2e/gen-{g:02}.json"));
    }
    expected.extend([
        "evals/e2e/chain.json".into(),
        "evals/e2e/metrics.csv".into(),
    ]);
    for p in &expected {
        assert!(w.join(p).is_file(), "{p} missing");
    }
    assert!(!w.join("evals/e2e/gen-03.json").exists());

    let csv = std::fs::read_to_string(w.join("evals/e2e/metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for col in [
        "test_ppl",
        "test_ppl_excl_oov",
        "types",
        "seq_rep_4",
        "rare_types_lost",
        "self_bleu",
        "mtld",
        "gen0_doc_ppl_p50",
    ] {
        assert!(
            header.contains(&col),
            "metrics.csv header lacks {col}: {header:?}"
        );
    }
    let rows: Vec<&str> = csv.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let ppl = header.iter().position(|c| *c == "test_ppl").unwrap();
    for r in &rows {
        let v: f64 = r.split(',').nth(ppl).unwrap().parse().unwrap();
        assert!(v.is_finite() && v > 1.0, "test_ppl {v} in {r}");
    }
    // The eval record holds the per-document perplexities under generation 0 (tail loss):
    // every scored document of the generated text in one of the 50 fixed bins.
    let e = json(&w.join("evals/e2e/gen-01.json"));
    let d = &e["gen0_doc_ppl"];
    let hist: Vec<u64> = serde_json::from_value(d["histogram"].clone()).unwrap();
    assert_eq!(hist.len(), 50);
    assert_eq!(hist.iter().sum::<u64>(), d["documents"].as_u64().unwrap());
    assert!(d["documents"].as_u64().unwrap() > 0 && d["p50"].as_f64().unwrap() > 1.0);
    assert!(e["generated"]["self_bleu_docs"].as_u64().unwrap() > 0);

    // Every manifest's sha256 is the sha256 of the file it describes.
    for s in ["train", "valid", "test"] {
        let m = json(&w.join(format!("corpora/e2e/human/{s}.manifest.json")));
        let bytes = std::fs::read(w.join(format!("corpora/e2e/human/{s}.jsonl"))).unwrap();
        assert_eq!(m["sha256"], sha256(&bytes), "human {s}");
        assert_eq!(m["kind"], "human");
    }
    for g in 0..3u64 {
        let dir = w.join(format!("corpora/e2e/gen-{g:02}"));
        let gm = json(&dir.join("generated.manifest.json"));
        let bytes = std::fs::read(dir.join("generated.jsonl")).unwrap();
        assert_eq!(gm["sha256"], sha256(&bytes), "gen {g} generated");
        assert_eq!(gm["kind"], "generated");
        assert_eq!(gm["generation"], g);
        assert_eq!(gm["parent_model"], format!("checkpoints/e2e/gen-{g:02}"));
        assert!(gm["seed"].is_u64(), "gen {g}: no seed in {gm}");
        assert_eq!(gm["sampling"]["seed"], gm["seed"]);
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(gm["documents"].as_u64(), Some(lines));

        let tm = json(&dir.join("train.manifest.json"));
        assert_eq!(tm["kind"], "training-mix");
        assert_eq!(tm["generation"], g);
        for p in tm["parents"].as_array().unwrap() {
            let bytes = std::fs::read(w.join(p["corpus"].as_str().unwrap())).unwrap();
            assert_eq!(p["sha256"], sha256(&bytes), "gen {g} parent {p}");
        }
    }
    let settings = json(&w.join("evals/e2e/chain.json"));
    assert_eq!(settings["seed"], 7);
    assert_eq!(settings["generations"], 3);
}

#[test]
fn policies_through_the_cli() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    for (exp, policy) in [
        ("acc", "accumulate"),
        ("mix", "mix:0.5"),
        ("rep", "replace"),
    ] {
        cli_ok(
            &w,
            &chain_args(exp, &corpus, &["--generations", "3", "--policy", policy]),
        );
    }
    let train =
        |exp: &str, g: u32| json(&w.join(format!("corpora/{exp}/gen-{g:02}/train.manifest.json")));
    let generated = |exp: &str, g: u32| {
        json(&w.join(format!("corpora/{exp}/gen-{g:02}/generated.manifest.json")))
    };

    // accumulate: generation 2 trains on human + gen 0 + gen 1, all of each.
    let m = train("acc", 2);
    let parents = m["parents"].as_array().unwrap();
    let names: Vec<&str> = parents
        .iter()
        .map(|p| p["corpus"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "corpora/acc/human/train.jsonl",
            "corpora/acc/gen-00/generated.jsonl",
            "corpora/acc/gen-01/generated.jsonl"
        ]
    );
    assert_eq!(parents.iter().map(tokens).sum::<u64>(), tokens(&m));
    assert_eq!(tokens(&parents[1]), tokens(&generated("acc", 0)));
    assert_eq!(tokens(&parents[2]), tokens(&generated("acc", 1)));

    // mix:0.5: about half of a human-sized budget is human text, within one human line.
    let human = std::fs::read_to_string(w.join("corpora/mix/human/train.jsonl")).unwrap();
    let (mut total, mut longest) = (0u64, 0u64);
    for l in human.lines() {
        let text = serde_json::from_str::<Value>(l).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        for line in text.lines() {
            let n = line.split_ascii_whitespace().count() as u64;
            total += n;
            longest = longest.max(n);
        }
    }
    for g in 1..3 {
        let m = train("mix", g);
        let parents = m["parents"].as_array().unwrap();
        assert_eq!(parents.len(), 2, "{m}");
        assert_eq!(parents[0]["corpus"], "corpora/mix/human/train.jsonl");
        let (h, half) = (tokens(&parents[0]), (total as f64 * 0.5).round() as u64);
        assert!(
            h.abs_diff(half) <= longest,
            "gen {g}: {h} human tokens, expected ~{half} (+-{longest})"
        );
        assert_eq!(parents.iter().map(tokens).sum::<u64>(), tokens(&m));
    }

    // replace: generation g trains on exactly what generation g-1 wrote.
    for g in 1..3 {
        let m = train("rep", g);
        let parents = m["parents"].as_array().unwrap();
        assert_eq!(parents.len(), 1, "{m}");
        assert_eq!(
            parents[0]["corpus"],
            format!("corpora/rep/gen-{:02}/generated.jsonl", g - 1)
        );
        assert_eq!(tokens(&m), tokens(&generated("rep", g - 1)));
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_text() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let args = chain_args(
        "det",
        &corpus,
        &["--generations", "2", "--policy", "mix:0.3"],
    );
    cli_ok(&a, &args);
    cli_ok(&b, &args);
    assert_same_outputs(&a, &b);
    assert!(output_files(&a).len() >= 20);

    let mut other = args.clone();
    let i = other.iter().position(|s| *s == "7").unwrap();
    other[i] = "8";
    cli_ok(&c, &other);
    let gen0 = "corpora/det/gen-00/generated.jsonl";
    assert_ne!(
        std::fs::read(a.join(gen0)).unwrap(),
        std::fs::read(c.join(gen0)).unwrap()
    );
}

#[test]
fn resume_after_kill_gives_the_uninterrupted_files() {
    let tmp = TempDir::new().unwrap();
    // Larger than the other tests' corpus, so a generation takes long enough to be killed in.
    let corpus = write_corpus(&tmp.path().join("big"), 20, 20, 200, 5);
    let args = chain_args("kill", &corpus, &["--generations", "4"]);
    let (killed, straight) = (tmp.path().join("killed"), tmp.path().join("straight"));

    let mut child = cli_command(&killed, &args).spawn().unwrap();
    let marker = killed.join("evals/kill/gen-01.json");
    let start = Instant::now();
    while !marker.exists() && start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL; harmless if it already finished
    let status = child.wait().unwrap();
    assert!(marker.exists(), "generation 1 did not finish within 60 s");
    // The kill must land mid-chain, or the rerun below would test nothing.
    assert!(!status.success(), "the chain finished before the kill");
    assert!(!killed.join("evals/kill/gen-03.json").exists());
    let finished = |w: &Path| std::fs::metadata(w.join("evals/kill/gen-00.json")).unwrap();
    let before = finished(&killed).modified().unwrap();

    let out = cli(&killed, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Resumed, not restarted: the finished generation was kept, not written again.
    assert_eq!(finished(&killed).modified().unwrap(), before);
    cli_ok(&straight, &args);
    assert_same_outputs(&killed, &straight);
    let tmps: Vec<_> = output_files(&killed)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(tmps.is_empty(), "temporary files left: {tmps:?}");
}

#[test]
fn extend_a_finished_chain_and_refuse_other_settings() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let (w, straight) = (tmp.path().join("w"), tmp.path().join("straight"));
    cli_ok(&w, &chain_args("ext", &corpus, &["--generations", "3"]));
    let mtimes = |w: &Path| -> Vec<_> {
        output_files(w)
            .into_keys()
            .filter(|p| {
                p.to_string_lossy().contains("gen-0") && !p.to_string_lossy().contains("gen-03")
            })
            .map(|p| {
                (
                    p.clone(),
                    std::fs::metadata(w.join(&p)).unwrap().modified().unwrap(),
                )
            })
            .collect()
    };
    let before = mtimes(&w);
    assert_eq!(before.len(), 3 * 6, "{before:?}");

    cli_ok(&w, &chain_args("ext", &corpus, &["--generations", "4"]));
    assert!(w.join("evals/ext/gen-03.json").is_file());
    assert_eq!(mtimes(&w), before, "finished generations were rewritten");
    cli_ok(
        &straight,
        &chain_args("ext", &corpus, &["--generations", "4"]),
    );
    assert_same_outputs(&w, &straight);

    let out = cli(
        &w,
        &chain_args(
            "ext",
            &corpus,
            &["--generations", "4", "--policy", "accumulate"],
        ),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("other settings"),
        "{stderr}"
    );
    assert!(stderr.contains("policy"), "{stderr}");
    assert_same_outputs(&w, &straight);
}

#[test]
fn a_held_lock_refuses_a_second_run() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    std::fs::create_dir_all(w.join("evals/lk")).unwrap();
    let args = chain_args("lk", &corpus, &["--generations", "1"]);
    let lock = collapse_lab::fsutil::Lock::acquire(w.join("evals/lk/.lock"), "lk").unwrap();
    let out = cli(&w, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("already running"),
        "{stderr}"
    );
    assert!(!w.join("evals/lk/chain.json").exists() && !w.join("corpora").exists());
    drop(lock);
    cli_ok(&w, &args);
    assert!(w.join("evals/lk/gen-00.json").is_file());
}
