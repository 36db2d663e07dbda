//! The real CLI's smaller commands: `ngram build/query/sample`, `corpus split/info`, `--help`.

use crate::util::{arg, cli, cli_ok, sentence, small_corpus, Lcg};
use collapse_lab::ngram::arpa;
use tempfile::TempDir;

#[test]
fn ngram_build_query_sample_round_trip() {
    let tmp = TempDir::new().unwrap();
    let d = tmp.path();
    let mut rng = Lcg::new(11);
    let text: String = (0..300).map(|_| sentence(&mut rng) + "\n").collect();
    std::fs::write(d.join("train.txt"), &text).unwrap();
    std::fs::write(d.join("test.txt"), "The miller watched the harbour zebra\n").unwrap();
    let m = d.join("m.arpa");
    cli_ok(
        d,
        &[
            "ngram",
            "build",
            "--order",
            "3",
            "--input",
            arg(&d.join("train.txt")),
            "--arpa",
            arg(&m),
        ],
    );

    let out = cli_ok(
        d,
        &[
            "ngram",
            "query",
            "--arpa",
            arg(&m),
            "--input",
            arg(&d.join("test.txt")),
        ],
    );
    let field = |name: &str| -> f64 {
        let line = out.lines().find_map(|l| l.strip_prefix(name));
        let v = line.unwrap_or_else(|| panic!("no `{name}` line in:\n{out}"));
        v.trim().parse().unwrap()
    };
    let (incl, excl) = (
        field("Perplexity including OOVs:"),
        field("Perplexity excluding OOVs:"),
    );
    assert!(
        incl.is_finite() && excl.is_finite() && incl > 1.0 && excl > 1.0,
        "{out}"
    );
    assert_eq!(field("OOVs:"), 1.0, "`zebra` is not in the training text");
    assert_eq!(field("Tokens:"), 7.0, "6 words and </s>");

    // ARPA round trip: what the CLI wrote, read and written again, is the same bytes.
    let model = arpa::read_arpa(&m).unwrap();
    let mut again = Vec::new();
    arpa::write_arpa_to(&model, &mut again).unwrap();
    assert!(
        again == std::fs::read(&m).unwrap(),
        "ARPA did not round-trip"
    );

    // Without a `<unk>` unigram each OOV costs 10^-100: scored as KenLM does, with a warning.
    // The header's unigram count drops by one with the line.
    let arpa_text = std::fs::read_to_string(&m).unwrap();
    let unigrams = arpa_text
        .lines()
        .find(|l| l.starts_with("ngram 1="))
        .unwrap();
    let n: usize = unigrams["ngram 1=".len()..].parse().unwrap();
    let no_unk: String = arpa_text
        .lines()
        .filter(|l| !l.contains("\t<unk>"))
        .map(|l| {
            if l == unigrams {
                format!("ngram 1={}\n", n - 1)
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(d.join("no-unk.arpa"), no_unk).unwrap();
    let o = cli(
        d,
        &[
            "ngram",
            "query",
            "--arpa",
            arg(&d.join("no-unk.arpa")),
            "--input",
            arg(&d.join("test.txt")),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("has no `<unk>` unigram") && err.contains("1 OOV"),
        "{err}"
    );
    assert!(!cli(
        d,
        &[
            "ngram",
            "query",
            "--arpa",
            arg(&m),
            "--input",
            arg(&d.join("test.txt"))
        ]
    )
    .stderr
    .windows(7)
    .any(|w| w == b"warning"));

    // A gzip model scores the same.
    let gz = d.join("m.arpa.gz");
    cli_ok(
        d,
        &[
            "ngram",
            "build",
            "-o",
            "3",
            "--input",
            arg(&d.join("train.txt")),
            "--arpa",
            arg(&gz),
        ],
    );
    assert_eq!(&std::fs::read(&gz).unwrap()[..2], b"\x1f\x8b");
    let out_gz = cli_ok(
        d,
        &[
            "ngram",
            "query",
            "--arpa",
            arg(&gz),
            "--input",
            arg(&d.join("test.txt")),
        ],
    );
    assert_eq!(out_gz, out);

    let sample = |seed: &str| {
        cli_ok(
            d,
            &[
                "ngram",
                "sample",
                "--arpa",
                arg(&m),
                "--lines",
                "20",
                "--seed",
                seed,
            ],
        )
    };
    let a = sample("3");
    assert_eq!(a.lines().count(), 20, "{a}");
    assert!(a.lines().all(|l| !l.trim().is_empty()), "{a}");
    assert_eq!(sample("3"), a, "same seed, same sample");
    assert_ne!(sample("4"), a, "other seed, other sample");
}

#[test]
fn corpus_split_is_deterministic_and_info_counts() {
    let tmp = TempDir::new().unwrap();
    let corpus = small_corpus(tmp.path());
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let args = [
        "corpus",
        "split",
        arg(&corpus),
        "--name",
        "sp",
        "--seed",
        "5",
    ];
    let out = cli_ok(&a, &args);
    assert!(out.contains("train") && out.contains("test"), "{out}");
    cli_ok(&b, &args);
    let dir = "corpora/sp/human";
    let names: Vec<_> = std::fs::read_dir(a.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    for n in names {
        let (x, y) = (
            std::fs::read(a.join(dir).join(&n)).unwrap(),
            std::fs::read(b.join(dir).join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{n:?} differs between two splits with the same seed"
        );
    }
    let docs: usize = ["train", "valid", "test"]
        .iter()
        .map(|s| {
            std::fs::read_to_string(a.join(dir).join(format!("{s}.jsonl")))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(docs, 30);

    let info = cli_ok(tmp.path(), &["corpus", "info", arg(&corpus)]);
    let value = |key: &str| -> usize {
        let line = info
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key));
        let line = line.unwrap_or_else(|| panic!("no `{key}` line in:\n{info}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(value("documents"), 30);
    assert!(value("words") >= 30 * 200, "{info}");
}

#[test]
fn help_mentions_the_main_flags_and_examples() {
    let tmp = TempDir::new().unwrap();
    for args in [&["--help"][..], &["chain", "--help"]] {
        let out = cli(tmp.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for needle in [
            "--generations",
            "--policy",
            "collapse-lab chain --experiment",
        ] {
            assert!(
                text.contains(needle),
                "{args:?} help lacks `{needle}`:\n{text}"
            );
        }
    }
    let chain = cli_ok(tmp.path(), &["chain", "--help"]);
    assert!(chain.contains("Example"), "{chain}");
}
