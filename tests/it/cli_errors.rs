//! The real CLI on bad input: exit code 2, one `error: ... (hint: ...)` line, no panic, and
//! nothing written that looks finished.

use crate::util::{arg, cli, cli_ok, small_corpus, write_corpus, Lcg};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Files a run writes only when something is finished.
fn finished_outputs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if name == "metrics.csv"
                || (name.starts_with("gen-") && name.ends_with(".json"))
                || name.contains(".arpa")
                || name == "generated.jsonl"
            {
                found.push(p);
            }
        }
    }
    found
}

/// Runs the CLI in `<tmp>/w` and checks the bad-input contract; returns the error line.
fn bad_input(tmp: &Path, args: &[&str]) -> String {
    bad_input_in(&tmp.join("w"), args)
}

fn bad_input_in(workdir: &Path, args: &[&str]) -> String {
    let out = cli(workdir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: not one line:\n{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("(hint: "),
        "{args:?}: {stderr}"
    );
    let done = finished_outputs(workdir);
    assert!(done.is_empty(), "{args:?} left {done:?}");
    lines[0].to_string()
}

fn chain_on(corpus: &Path) -> Vec<String> {
    ["chain", "--experiment", "bad", "--generations", "2"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--corpus".into(), arg(corpus).into()])
        .collect()
}

fn bad_corpus(file_bytes: &[u8], expect: &str) {
    let tmp = TempDir::new().unwrap();
    let f = tmp.path().join("c.txt");
    std::fs::write(&f, file_bytes).unwrap();
    let args = chain_on(&f);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = bad_input(tmp.path(), &args);
    assert!(e.contains(expect), "expected `{expect}` in: {e}");
}

#[test]
fn missing_corpus() {
    let tmp = TempDir::new().unwrap();
    let e = bad_input(
        tmp.path(),
        &["chain", "--experiment", "bad", "--corpus", "/nonexistent"],
    );
    assert!(e.contains("/nonexistent: no such file"), "{e}");
}

#[test]
fn empty_whitespace_utf8_binary_and_tiny_corpora() {
    bad_corpus(b"", "no usable text");
    bad_corpus(b"  \n\n\t \r\n   \n", "no usable text");
    bad_corpus(b"good words then \xff\xfe bad bytes\n", "not valid UTF-8");
    bad_corpus(b"PK\x03\x04\x00\x00binary\x00\x01\x02 stuff", "binary");
    bad_corpus(
        b"One short paragraph here.\n\nAnd a second one there.\n",
        "too small to split",
    );
}

#[test]
fn corrupt_arpa() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let mut rng = Lcg::new(9);
    let text: String = (0..50)
        .map(|_| crate::util::sentence(&mut rng) + "\n")
        .collect();
    std::fs::write(d.join("x.txt"), &text).unwrap();
    let good = d.join("good.arpa");
    cli_ok(
        d,
        &[
            "ngram",
            "build",
            "-o",
            "3",
            "--input",
            arg(&d.join("x.txt")),
            "--arpa",
            arg(&good),
        ],
    );
    let arpa = std::fs::read_to_string(&good).unwrap();
    let first_prob = arpa.lines().find(|l| l.starts_with('-')).unwrap();
    let two = arpa.lines().find(|l| l.starts_with("ngram 2=")).unwrap();
    let cases = [
        ("no-end", arpa.replace("\\end\\", ""), "\\end\\"),
        (
            "truncated",
            arpa[..arpa.len() / 2].to_string(),
            "corrupt ARPA",
        ),
        (
            "nan-prob",
            arpa.replacen(first_prob, &first_prob.replacen('-', "x", 1), 1),
            "probability",
        ),
        (
            "counts",
            arpa.replacen(two, "ngram 2=3", 1),
            "header says 3",
        ),
        ("garbage", "hello world\n".to_string(), "corrupt ARPA"),
    ];
    for (name, body, expect) in cases {
        let p = d.join(format!("{name}.arpa"));
        std::fs::write(&p, body).unwrap();
        let e = bad_input(
            d,
            &[
                "ngram",
                "query",
                "--arpa",
                arg(&p),
                "--input",
                arg(&d.join("x.txt")),
            ],
        );
        assert!(
            e.contains(expect) && e.contains(&format!("{name}.arpa")),
            "{name}: {e}"
        );
    }
}

#[test]
fn unknown_model_policy_and_zero_generations() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let c = arg(&corpus);
    for (flags, expect) in [
        (["--model", "gpt9:1"], "unknown model `gpt9:1`"),
        (["--model", "ngram:x"], "unknown model `ngram:x`"),
        (["--policy", "recycle"], "unknown corpus policy `recycle`"),
        (["--generations", "0"], "--generations 0"),
    ] {
        let mut args = vec!["chain", "--experiment", "bad", "--corpus", c];
        args.extend(flags);
        let e = bad_input(tmp.path(), &args);
        assert!(e.contains(expect), "{flags:?}: {e}");
    }
}

#[test]
fn spec_with_unknown_key() {
    let tmp = TempDir::new().unwrap();
    let spec = tmp.path().join("bad.toml");
    std::fs::write(&spec, "arms = [\"replace\"]\ngenerashuns = 3\n").unwrap();
    let e = bad_input(tmp.path(), &["run", arg(&spec)]);
    assert!(e.contains("bad.toml") && e.contains("generashuns"), "{e}");
}

#[test]
fn workdir_not_writable() {
    // Tests may run as root, where permissions do not stop writes: a path under a file does.
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    std::fs::write(tmp.path().join("afile"), "not a directory").unwrap();
    let w = tmp.path().join("afile/sub");
    bad_input_in(
        &w,
        &["chain", "--experiment", "bad", "--corpus", arg(&corpus)],
    );
    assert_eq!(
        std::fs::read(tmp.path().join("afile")).unwrap(),
        b"not a directory"
    );
}

#[test]
fn ngram_build_missing_input() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("m.arpa");
    let e = bad_input(
        tmp.path(),
        &[
            "ngram",
            "build",
            "-o",
            "3",
            "--input",
            "/nonexistent.txt",
            "--arpa",
            arg(&out),
        ],
    );
    assert!(e.contains("/nonexistent.txt"), "{e}");
    assert!(!out.exists());
}

#[test]
fn fixing_a_bad_corpus_path_then_rerunning_works() {
    let tmp = TempDir::new().unwrap();
    let good = write_corpus(&tmp.path().join("good"), 10, 5, 100, 3);
    let w = tmp.path().join("w");
    bad_input_in(
        &w,
        &[
            "chain",
            "--experiment",
            "typo",
            "--corpus",
            "/nonexistent",
            "--model",
            "ngram:2",
        ],
    );
    let args = [
        "chain",
        "--experiment",
        "typo",
        "--corpus",
        arg(&good),
        "--model",
        "ngram:2",
    ];
    cli_ok(&w, &[&args[..], &["--generations", "1"]].concat());
}

#[test]
fn bad_seeds_vocabularies_arms_and_fresh_fractions() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let c = arg(&corpus);
    let spec = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, format!("corpus = \"{c}\"\n{body}")).unwrap();
        p
    };
    let arms = spec("a.toml", "arms = [\"replace\"]\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", arg(&arms), "--seeds", "1,2,1"],
            "seed 1 is listed twice",
        ),
        (
            vec!["run", arg(&arms), "--vocab", "sometimes"],
            "unknown vocabulary mode",
        ),
        (
            vec![
                "chain",
                "--experiment",
                "x",
                "--corpus",
                c,
                "--model",
                "gpt:nano",
                "--vocab",
                "own",
            ],
            "--vocab own is an n-gram setting",
        ),
        (
            vec![
                "chain",
                "--experiment",
                "x",
                "--corpus",
                c,
                "--policy",
                "fresh:2",
            ],
            "fraction of fresh human data in (0, 1]",
        ),
    ];
    for (args, want) in cases {
        let e = bad_input(tmp.path(), &args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    for (name, body, want) in [
        ("np.toml", "[arms.x]\ntemperature = 1.0\n", "has no policy"),
        (
            "dup.toml",
            "arms = [\"mix:0.1\", \"mix:0.1\"]\n",
            "two arms are named",
        ),
        (
            "empty.toml",
            "seeds = []\narms = [\"replace\"]\n",
            "`seeds` is empty",
        ),
        (
            "mixed.toml",
            "[arms.x]\npolicy = \"replace\"\n[arm.replace]\nepochs = 1.0\n",
            "goes with `arms = [...]`",
        ),
        (
            "family.toml",
            "[arms.x]\npolicy = \"replace\"\nnum_beams = 5\n",
            "does not apply to ngram:3",
        ),
    ] {
        let p = spec(name, body);
        let e = bad_input(tmp.path(), &["run", arg(&p)]);
        assert!(e.contains(want), "{name}: {e}");
    }
}

#[test]
fn absurd_sizes_end_in_one_line_before_anything_is_written() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let c = arg(&corpus);
    let chain = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["chain", "--experiment", "big", "--corpus", c]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (chain(&["--sample-tokens", "1000000000000"]), "of memory"),
        (
            chain(&["--model", "gpt:nano", "--vocab-size", "1000000000000"]),
            "more than any tokenizer needs",
        ),
        (
            chain(&["--model", "gpt:nano", "--batch-size", "1000000000"]),
            "more than a run can use",
        ),
        (
            chain(&[
                "--model",
                "gpt:nano",
                "--batch-size",
                "4096",
                "--micro-batch",
                "4096",
                "--context",
                "4096",
            ]),
            "of memory",
        ),
        (
            chain(&["--generations", "4294967295"]),
            "more than a chain can show",
        ),
        (chain(&["--test-frac", "0"]), "holds out no human text"),
        (chain(&["--train-tokens", "1"]), "too few words"),
        (
            vec![
                "eval".into(),
                "--reference".into(),
                c.into(),
                "--corpus".into(),
                c.into(),
                "--draws".into(),
                "1000000000".into(),
            ],
            "outside 2..=1000",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let w = tmp.path().join("w");
        let e = bad_input_in(&w, &args);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!w.join("evals/big").exists(), "{args:?} left evals/big");
    }
    // A reference of a few dozen words has no spread to measure against.
    let tiny = tmp.path().join("tiny.txt");
    std::fs::write(
        &tiny,
        "a few dozen words of reference text\n\nand a second paragraph\n",
    )
    .unwrap();
    let e = bad_input(
        tmp.path(),
        &["eval", "--reference", arg(&tiny), "--corpus", c],
    );
    assert!(e.contains("too small to draw human samples"), "{e}");
    // A reference given as its own candidate measures nothing.
    let f = tmp.path().join("one.txt");
    std::fs::write(&f, "some text here\n\nand more text there\n").unwrap();
    let e = bad_input(
        tmp.path(),
        &["eval", "--reference", arg(&f), "--corpus", arg(&f)],
    );
    assert!(e.contains("is the reference itself"), "{e}");
}

#[test]
fn a_folder_given_for_a_file_gets_a_hint_about_folders() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let out = tmp.path().join("m.arpa");
    let e = bad_input(
        tmp.path(),
        &[
            "ngram",
            "build",
            "-o",
            "2",
            "--input",
            arg(&corpus),
            "--arpa",
            arg(&out),
        ],
    );
    assert!(e.contains("give a file, not a folder"), "{e}");
}
