//! The real CLI: `eval` (the collapse monitor) on held-out and degenerate corpora, its exit
//! codes and files; `report` and the report `run` writes at its end.

use crate::util::{arg, cli, cli_ok, json, write_corpus};
use std::path::Path;
use tempfile::TempDir;

/// The human reference: 60 files of 4 paragraphs of ~50 words (about 12,000 words).
fn human(root: &Path) -> std::path::PathBuf {
    write_corpus(&root.join("human"), 60, 4, 50, 1)
}

/// Runs `eval` and returns (exit code, stdout, stderr).
fn eval(w: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut a = vec!["eval"];
    a.extend(args);
    let out = cli(w, &a);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_small_held_out_human_sample_passes() {
    let tmp = TempDir::new().unwrap();
    let reference = human(tmp.path());
    // Three new documents from the same source: a twentieth of the reference.
    let held_out = write_corpus(&tmp.path().join("held-out"), 3, 4, 50, 99);
    let (json_path, csv_path) = (tmp.path().join("v.json"), tmp.path().join("v.csv"));
    let (code, stdout, stderr) = eval(
        tmp.path(),
        &[
            "--reference",
            arg(&reference),
            "--corpus",
            arg(&held_out),
            "--fail-on",
            "--json",
            arg(&json_path),
            "--csv",
            arg(&csv_path),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("verdict: no sign of early collapse"),
        "{stdout}"
    );
    assert!(!stdout.contains("FLAGGED"), "{stdout}");
    let v = json(&json_path);
    assert_eq!(v["flagged"], serde_json::json!([]));
    let size = v["baseline"]["tokens"].as_u64().unwrap();
    assert_eq!(size, v["candidate"]["tokens"].as_u64().unwrap());
    assert!(size * 10 < v["reference"]["tokens"].as_u64().unwrap());
    let rows = v["rows"].as_array().unwrap();
    let rare = rows
        .iter()
        .find(|r| r["metric"] == "rare_types_lost")
        .unwrap();
    assert!(rare["threshold"].is_number() && rare["flagged"] == false);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("metric,sign,worse,value,baseline,sd,min,max,threshold,flagged\n"));
    assert!(csv.contains("\nseq_rep_4,repetition,higher,"), "{csv}");
}

#[test]
fn repeated_passages_are_flagged_and_fail_on_exits_1() {
    let tmp = TempDir::new().unwrap();
    let reference = human(tmp.path());
    // Two human paragraphs, written again and again.
    let text = std::fs::read_to_string(reference.join("doc-00.txt")).unwrap();
    let paras: Vec<String> = text
        .split("\n\n")
        .take(2)
        .map(|p| p.replace('\n', " "))
        .collect();
    let loop_file = tmp.path().join("loop.jsonl");
    let lines: Vec<String> = (0..40)
        .map(|i| serde_json::json!({"id": i.to_string(), "text": paras[i % 2]}).to_string())
        .collect();
    std::fs::write(&loop_file, lines.join("\n") + "\n").unwrap();
    let base = ["--reference", arg(&reference), "--corpus", arg(&loop_file)];

    let (code, stdout, _) = eval(tmp.path(), &[&base[..], &["--fail-on"]].concat());
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FLAGGED") && stdout.contains("SIGNS OF COLLAPSE"),
        "{stdout}"
    );
    for sign in ["tail-loss", "diversity"] {
        let flagged = stdout
            .lines()
            .any(|l| l.trim_start().starts_with(sign) && l.ends_with("FLAGGED"));
        assert!(flagged, "no {sign} flag:\n{stdout}");
    }
    // Without --fail-on the verdict is the same but the exit code is 0; a list narrows it.
    let (code, _, _) = eval(tmp.path(), &base);
    assert_eq!(code, Some(0));
    let (code, _, _) = eval(
        tmp.path(),
        &[&base[..], &["--fail-on", "diversity"]].concat(),
    );
    assert_eq!(code, Some(1));
}

/// Runs the CLI expecting exit code 2 and one `error: ... (hint: ...)` line; returns it.
fn bad(w: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = eval(w, args);
    assert_eq!(code, Some(2), "{args:?}: {stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("(hint: "),
        "{stderr}"
    );
    lines[0].to_string()
}

#[test]
fn bad_eval_input_exits_2_with_a_hint_and_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let reference = human(tmp.path());
    let cand = write_corpus(&tmp.path().join("cand"), 2, 2, 30, 5);
    let (r, c) = (arg(&reference), arg(&cand));
    let out = tmp.path().join("v.json");
    let e = bad(tmp.path(), &["--reference", "/nonexistent", "--corpus", c]);
    assert!(e.contains("/nonexistent"), "{e}");
    let e = bad(
        tmp.path(),
        &["--reference", r, "--corpus", c, "--fail-on", "boredom"],
    );
    assert!(e.contains("boredom") && e.contains("tail-loss"), "{e}");
    let e = bad(tmp.path(), &["--reference", r, "--corpus", c, "--model", r]);
    assert!(e.contains("not a saved model"), "{e}");
    let e = bad(
        tmp.path(),
        &["--reference", r, "--corpus", c, "--draws", "1"],
    );
    assert!(e.contains("--draws"), "{e}");
    let tiny = tmp.path().join("tiny.txt");
    std::fs::write(&tiny, "one\n").unwrap();
    let e = bad(
        tmp.path(),
        &[
            "--reference",
            arg(&tiny),
            "--corpus",
            c,
            "--json",
            arg(&out),
        ],
    );
    assert!(e.contains("too small"), "{e}");
    assert!(!out.exists());
}

#[test]
fn run_writes_a_report_and_report_redraws_it() {
    let tmp = TempDir::new().unwrap();
    let reference = human(tmp.path());
    let spec = tmp.path().join("small.toml");
    let text = format!(
        "name = \"small\"\ncorpus = \"{}\"\nmodel = \"ngram:2\"\ngenerations = 2\nseed = 3\n\
         arms = [\"replace\", \"accumulate\"]\nsample_tokens = 4000\n",
        arg(&reference)
    );
    std::fs::write(&spec, text).unwrap();
    let w = tmp.path().join("w");
    let stdout = cli_ok(&w, &["run", arg(&spec)]);
    let dir = w.join("evals/report-small-replace+accumulate");
    assert!(
        stdout.contains("report-small-replace+accumulate/report.html"),
        "{stdout}"
    );
    for f in [
        "report.html",
        "summary.md",
        "plots/metric-test_ppl.svg",
        "plots/metric-test_ppl.png",
        "plots/metric-distinct_2.png",
        "plots/gen0-ppl-small-replace.png",
        "plots/rank-frequency-small-accumulate.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(dir.join("plots/metric-test_ppl.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("replace") && html.contains("accumulate"));
    // Provenance: the spec and the generated corpora's sha256 (shown shortened, whole on hover).
    let m = json(&w.join("corpora/small-replace/gen-01/generated.manifest.json"));
    assert!(
        html.contains(m["sha256"].as_str().unwrap()),
        "sha256 of gen 1 missing"
    );
    for split in ["train", "valid", "test"] {
        let m = json(&w.join(format!("corpora/small-replace/human/{split}.manifest.json")));
        assert!(
            html.contains(m["sha256"].as_str().unwrap()),
            "{split} split missing"
        );
    }
    assert!(
        html.contains("&quot;policy&quot;: &quot;replace&quot;"),
        "spec missing"
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("![") && md.contains("plots/metric-test_ppl.png"),
        "{md}"
    );

    // The same report again: the same bytes. One experiment: its own folder; --out elsewhere.
    let before = std::fs::read(dir.join("report.html")).unwrap();
    cli_ok(&w, &["report", "small-replace", "small-accumulate"]);
    assert_eq!(std::fs::read(dir.join("report.html")).unwrap(), before);
    cli_ok(&w, &["report", "small-replace"]);
    assert!(w.join("evals/small-replace/report/report.html").is_file());
    let out = tmp.path().join("elsewhere");
    cli_ok(&w, &["report", "small-accumulate", "--out", arg(&out)]);
    assert!(out.join("plots/metric-test_ppl.svg").is_file());

    // compare shows any metrics.csv columns (the new metrics too) and writes them as CSV.
    let csv = tmp.path().join("cmp.csv");
    let args = [
        "compare",
        "small-replace",
        "small-accumulate",
        "--columns",
        "test_ppl,mattr",
    ];
    let table = cli_ok(&w, &[&args[..], &["--csv", arg(&csv)]].concat());
    assert!(
        table.contains("mattr") && table.contains("small-*"),
        "{table}"
    );
    // --csv is tidy long data with every column (not only the ones shown), full precision.
    let long = std::fs::read_to_string(&csv).unwrap();
    assert!(
        long.starts_with("arm,seed,generation,metric,value\n"),
        "{long}"
    );
    assert!(long.contains("\nsmall-replace,"), "{long}");
    assert!(long.contains("\nsmall-accumulate,") && long.contains(",seq_rep_4,"));
    let out = cli(&w, &["compare", "small-replace", "--columns", "nope"]);
    assert_eq!(out.status.code(), Some(2));

    // eval --model with a chain's checkpoint: per-document perplexities in the JSON. Its own
    // training text as the reference is refused (the human baseline would be contaminated).
    let j = tmp.path().join("m.json");
    let gen = w.join("corpora/small-replace/gen-01/generated.jsonl");
    let gen0 = w.join("checkpoints/small-replace/gen-00");
    let train = w.join("corpora/small-replace/human/train.jsonl");
    let (code, _, stderr) = eval(
        &w,
        &[
            "--reference",
            arg(&train),
            "--corpus",
            arg(&gen),
            "--model",
            arg(&gen0),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("trained on 100% of the lines") && stderr.contains("test.jsonl"),
        "{stderr}"
    );
    // The same model named from inside its chain's folder is the same model.
    let out = crate::util::cli_command(
        &w,
        &[
            "eval",
            "--reference",
            arg(&train),
            "--corpus",
            arg(&gen),
            "--model",
            "gen-00",
        ],
    )
    .current_dir(w.join("checkpoints/small-replace"))
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = write_corpus(&tmp.path().join("other"), 10, 4, 60, 99);
    let with_model = |extra: &[&str]| {
        let mut a = vec!["--reference", arg(&other), "--corpus", arg(&gen)];
        a.extend(["--model", arg(&gen0)]);
        a.extend(extra);
        eval(&w, &a)
    };
    let (code, stdout, stderr) = with_model(&["--json", arg(&j)]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let v = json(&j);
    assert_eq!(v["model"]["model"], "ngram:2");
    assert!(
        v["model"]["precision"].is_null(),
        "an n-gram model has no precision"
    );
    let (code, _, stderr) = with_model(&["--precision", "bf16"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("an n-gram model has no matrix products"),
        "{stderr}"
    );
    assert!(v["model"]["candidate"]["p50"].as_f64().unwrap() > 1.0);
    assert!(v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["metric"] == "doc_ppl_p95"));
}

#[test]
fn report_on_a_missing_experiment_exits_2() {
    let tmp = TempDir::new().unwrap();
    let out = cli(tmp.path(), &["report", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`nope` has no results") && stderr.contains("hint"),
        "{stderr}"
    );
    assert!(!tmp.path().join("evals/nope/report").exists());
}
