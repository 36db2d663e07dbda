//! The real CLI on what makes a result defensible: vocabularies that shrink, a headline
//! perplexity over the human words, seeds with intervals, named arms, fresh human data.

use crate::util::{arg, assert_same_outputs, cli, cli_command, cli_ok, json, small_corpus, Lcg};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// `column` of every generation in `evals/<exp>/metrics.csv`.
fn column(workdir: &Path, exp: &str, column: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(workdir.join("evals").join(exp).join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|c| *c == column).expect(column);
    lines
        .map(|l| l.split(',').nth(i).unwrap().to_string())
        .collect()
}

fn numbers(v: &[String]) -> Vec<f64> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

/// A folder of 40 documents whose words have a long tail: word k is drawn with probability
/// about 1/k (log-uniform over 1..3000), as in natural text, so rare words exist to be lost.
fn zipf_corpus(dir: &Path) -> std::path::PathBuf {
    let dir = dir.join("zipf");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Lcg::new(11);
    for d in 0..40 {
        let lines: Vec<String> = (0..15)
            .map(|_| {
                (0..10)
                    .map(|_| {
                        let u = rng.below(1_000_000) as f64 / 1e6;
                        format!("w{}", (u * 3000f64.ln()).exp() as u64)
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        std::fs::write(dir.join(format!("d{d:02}.txt")), lines.join("\n") + "\n").unwrap();
    }
    dir
}

#[test]
fn vocabulary_shrinks_under_own_and_not_under_fixed() {
    let tmp = TempDir::new().unwrap();
    let corpus = zipf_corpus(tmp.path());
    let w = tmp.path().join("w");
    for vocab in ["own", "fixed"] {
        let exp = format!("v-{vocab}");
        cli_ok(
            &w,
            &[
                "chain",
                "--experiment",
                &exp,
                "--corpus",
                arg(&corpus),
                "--generations",
                "5",
                "--policy",
                "replace",
                "--seed",
                "3",
                "--vocab",
                vocab,
            ],
        );
        let chain = json(&w.join("evals").join(&exp).join("chain.json"));
        assert_eq!(chain["vocab"], vocab);
        let meta = json(&w.join("checkpoints").join(&exp).join("gen-01/model.json"));
        assert_eq!(meta["vocab_mode"], vocab);
    }
    let own = numbers(&column(&w, "v-own", "model_vocab"));
    let fixed = numbers(&column(&w, "v-fixed", "model_vocab"));
    assert!(own.windows(2).all(|p| p[1] <= p[0]), "own grew: {own:?}");
    assert!(own[4] < own[0], "own did not shrink: {own:?}");
    assert!(
        fixed.iter().all(|&v| v == fixed[0]),
        "fixed moved: {fixed:?}"
    );
    assert_eq!(own[0], fixed[0]);
    let oov = numbers(&column(&w, "v-own", "test_oov_rate"));
    assert!(oov[4] > oov[0], "{oov:?}");
    let rare = numbers(&column(&w, "v-own", "rare_types_unnamed"));
    assert!(rare[0] == 0.0 && rare[4] > 0.0, "{rare:?}");
    // The headline charges every OOV a share of p(<unk>): never below KenLM's value, and
    // further above it the more words are lost.
    for exp in ["v-own", "v-fixed"] {
        let head = numbers(&column(&w, exp, "test_ppl"));
        let kenlm = numbers(&column(&w, exp, "test_ppl_incl_oov"));
        assert!(
            head.iter().zip(&kenlm).all(|(h, k)| h >= k),
            "{exp}: {head:?} {kenlm:?}"
        );
    }
    let head = numbers(&column(&w, "v-own", "test_ppl"));
    let kenlm = numbers(&column(&w, "v-own", "test_ppl_incl_oov"));
    let unnamed = column(&w, "v-own", "unnamed_human_words");
    assert!(
        head[4] / kenlm[4] > head[0] / kenlm[0],
        "{head:?} {kenlm:?} {unnamed:?} {oov:?} {own:?}"
    );
}

fn write_spec(dir: &Path, corpus: &Path) -> std::path::PathBuf {
    let spec = dir.join("study.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"st\"\ncorpus = \"{}\"\nmodel = \"ngram:2\"\ngenerations = 3\n\
             seeds = [1, 2, 3]\ntrain_tokens = 3000\n\
             [arms.rep]\npolicy = \"replace\"\n[arms.acc]\npolicy = \"accumulate\"\n",
            arg(corpus)
        ),
    )
    .unwrap();
    spec
}

#[test]
fn seeds_give_intervals_differences_and_tidy_csv_and_resume_midway() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let spec = write_spec(tmp.path(), &corpus);
    let (killed, straight) = (tmp.path().join("killed"), tmp.path().join("straight"));

    // Killed once the first chain is done, then rerun: the same files as one straight run.
    let mut child = cli_command(&killed, &["run", arg(&spec)]).spawn().unwrap();
    let marker = killed.join("evals/st-rep-s1/gen-02.json");
    let start = Instant::now();
    while !marker.exists() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert!(marker.exists(), "the first chain did not finish in 120 s");
    assert!(!status.success(), "the run finished before the kill");
    assert!(!killed.join("evals/st-acc-s3/gen-02.json").exists());
    let out = cli_ok(&killed, &["run", arg(&spec)]);
    let straight_out = cli_ok(&straight, &["run", arg(&spec)]);
    assert_same_outputs(&killed, &straight);
    assert_eq!(
        out.lines().filter(|l| l.contains('±')).count(),
        straight_out.lines().filter(|l| l.contains('±')).count()
    );

    // Every seed of the spec trained on the same human split.
    let split =
        |c: &str| std::fs::read(straight.join("corpora").join(c).join("human/test.jsonl")).unwrap();
    assert_eq!(split("st-rep-s1"), split("st-acc-s3"));
    // The table shows mean ± half-width per arm, and the paired difference.
    assert!(out.contains("seeds per arm: rep 3, acc 3"), "{out}");
    assert!(out.contains("acc − rep"), "{out}");
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    assert_eq!(row.matches('±').count(), 2 * 4, "{row}");

    // compare --csv: tidy long data, full precision.
    let csv = tmp.path().join("long.csv");
    let names: Vec<String> = ["rep", "acc"]
        .iter()
        .flat_map(|a| (1..=3).map(move |s| format!("st-{a}-s{s}")))
        .collect();
    let mut args: Vec<&str> = vec!["compare"];
    args.extend(names.iter().map(String::as_str));
    args.extend(["--csv", arg(&csv)]);
    cli_ok(&straight, &args);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("arm,seed,generation,metric,value"));
    let ppl: Vec<&str> = text.lines().filter(|l| l.contains(",test_ppl,")).collect();
    assert_eq!(ppl.len(), 2 * 3 * 3, "arms × seeds × generations");
    assert!(ppl.contains(
        &format!(
            "st-acc,2,1,test_ppl,{}",
            column(&straight, "st-acc-s2", "test_ppl")[1]
        )
        .as_str()
    ));
    // The report draws bands and writes the same long data.
    let report = straight.join("evals/report-st-rep+acc");
    assert!(
        report.join("report.html").exists(),
        "no report at {}",
        report.display()
    );
    assert_eq!(
        std::fs::read_to_string(report.join("metrics-long.csv"))
            .unwrap()
            .lines()
            .count(),
        text.lines().count()
    );
    let svg = std::fs::read_to_string(report.join("plots/metric-test_ppl.svg")).unwrap();
    assert!(svg.contains("mean of 3 seeds"), "no seed band in the chart");
}

#[test]
fn fresh_data_is_never_reused_and_runs_out_with_a_hint() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let w = tmp.path().join("w");
    let base = [
        "chain",
        "--experiment",
        "fr",
        "--corpus",
        arg(&corpus),
        "--policy",
        "fresh:0.2",
        "--train-tokens",
        "2000",
        "--seed",
        "4",
        "--model",
        "ngram:2",
    ];
    let mut args = base.to_vec();
    args.extend(["--generations", "4"]);
    cli_ok(&w, &args);
    // (That none was in generation 0's draw is the unit test's: no file lists that draw.)
    let mut seen = HashSet::new();
    for g in 1..4 {
        let m = json(&w.join(format!("corpora/fr/gen-{g:02}/train.manifest.json")));
        let ids = m["parents"][0]["ids"]
            .as_array()
            .expect("fresh ids in the manifest");
        assert!(!ids.is_empty());
        for id in ids {
            let id = id.as_str().unwrap().to_string();
            assert!(seen.insert(id.clone()), "{id} used twice");
        }
    }
    // ~6000 words, 2000 for generation 0, ~400 fresh a generation: gone after about 10.
    let mut long = base.to_vec();
    long.extend(["--generations", "30"]);
    let out = cli(&w, &long);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // Refused before generation 4 starts: the supply is checked against the split's size.
    assert!(
        err.contains("fresh:0.2 runs out of unused human text"),
        "{err}"
    );
    assert!(!w.join("evals/fr/gen-04.json").exists());
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn without_a_terminal_each_finished_generation_is_one_line_on_stderr() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let spec = tmp.path().join("s.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"lg\"\ncorpus = \"{}\"\nmodel = \"ngram:2\"\ngenerations = 2\nseeds = [1, 2]\n\
             arms = [\"replace\"]\n",
            arg(&corpus)
        ),
    )
    .unwrap();
    // Not --quiet, and stderr is a pipe: the log a batch job keeps.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_collapse-lab"))
        .args(["--workdir", arg(&tmp.path().join("w")), "run", arg(&spec)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(": finished in"))
        .collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("[1/2] lg-replace-s1 gen 0/1: finished in"),
        "{err}"
    );
    assert!(
        lines[3].starts_with("[2/2] lg-replace-s2 gen 1/1: finished in"),
        "{err}"
    );
}

#[test]
fn run_takes_corpus_model_and_seed_and_a_spec_reads_its_corpus_beside_it() {
    let tmp = TempDir::new().unwrap();
    let specs = tmp.path().join("specs");
    small_corpus(&specs); // specs/corpus/
    std::fs::write(
        specs.join("s.toml"),
        "name = \"rel\"\ncorpus = \"corpus\"\nmodel = \"ngram:2\"\ngenerations = 1\narms = [\"replace\"]\n",
    )
    .unwrap();
    let w = tmp.path().join("w");
    // Run from another folder: `corpus` is found beside the spec.
    cli_ok(&w, &["run", arg(&specs.join("s.toml"))]);
    let chain = json(&w.join("evals/rel-replace/chain.json"));
    assert!(
        chain["corpus"].as_str().unwrap().ends_with("specs/corpus"),
        "{chain}"
    );
    // Flags override the spec's corpus, model and seed.
    let other = small_corpus(&tmp.path().join("other"));
    let w2 = tmp.path().join("w2");
    cli_ok(
        &w2,
        &[
            "run",
            arg(&specs.join("s.toml")),
            "--corpus",
            arg(&other),
            "--model",
            "ngram:3",
            "--seed",
            "9",
        ],
    );
    let chain = json(&w2.join("evals/rel-replace/chain.json"));
    assert_eq!(
        (chain["model"].as_str(), chain["seed"].as_u64()),
        (Some("ngram:3"), Some(9))
    );
    assert_eq!(chain["corpus"].as_str(), Some(arg(&other)));
}

#[test]
fn shipped_specs_run_by_name_anywhere() {
    let tmp = TempDir::new().unwrap();
    // Outside the checkout there is no experiments/ folder: the name finds the built-in spec.
    let out = cli(&tmp.path().join("w"), &["run", "experiments/nope.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("decoding-arms, fresh-vs-mix"), "{err}");
    let out = cli(
        &tmp.path().join("w"),
        &["run", "fresh-vs-mix", "--generations", "0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // Found and parsed: it fails on the flag, not on the name.
    assert!(err.contains("--generations 0 runs nothing"), "{err}");
}
