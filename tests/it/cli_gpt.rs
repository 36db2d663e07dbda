//! GPT chains through the real CLI: the checkpoint layout (a Hugging Face model folder), one
//! tokenizer for the whole chain, finite perplexities, and a training run killed mid-way that
//! resumes to the same files as an uninterrupted one.

use crate::util::{arg, cli, cli_command, cli_ok, json, output_files, write_corpus};
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A `gpt:nano` chain small enough for a test: 2 generations, one short epoch.
fn gpt_args<'a>(exp: &'a str, corpus: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "chain",
        "--experiment",
        exp,
        "--corpus",
        arg(corpus),
        "--seed",
        "3",
    ];
    a.extend([
        "--model",
        "gpt:nano",
        "--generations",
        "2",
        "--vocab-size",
        "300",
    ]);
    a.extend([
        "--train-tokens",
        "4000",
        "--sample-tokens",
        "600",
        "--epochs",
        "1",
    ]);
    a.extend(extra);
    a
}

#[test]
fn gpt_chain_writes_hf_checkpoints_and_comparable_perplexities() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 12, 4, 60, 2);
    let w = tmp.path().join("w");
    cli_ok(&w, &gpt_args("g", &corpus, &[]));
    for g in ["gen-00", "gen-01"] {
        let ck = w.join("checkpoints/g").join(g);
        for f in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "train_log.json",
        ] {
            assert!(ck.join(f).is_file(), "{g}/{f} missing");
        }
        assert!(
            !ck.join("train-state").exists(),
            "resumable state is removed when done"
        );
        let cfg = json(&ck.join("config.json"));
        assert_eq!(cfg["model_type"], "gpt2");
        assert_eq!(cfg["architectures"][0], "GPT2LMHeadModel");
        let log = json(&ck.join("train_log.json"));
        assert!(log["steps_done"].as_u64().unwrap() >= 1);
        let e = json(&w.join("evals/g").join(format!("{g}.json")));
        let t = &e["test"];
        for k in ["token_ppl", "word_ppl", "bits_per_byte"] {
            let v = t[k].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "{g} {k} = {v}");
        }
        assert_eq!(t["oov"], 0, "byte-level BPE has no OOVs");
        // Bits per byte and word perplexity are two views of one log-likelihood.
        let ll_bytes = t["bits_per_byte"].as_f64().unwrap()
            * std::f64::consts::LN_2
            * t["bytes"].as_f64().unwrap();
        let ll_words = t["word_ppl"].as_f64().unwrap().ln() * t["words"].as_f64().unwrap();
        assert!(
            (ll_bytes - ll_words).abs() < 1e-6 * ll_words,
            "{ll_bytes} vs {ll_words}"
        );
    }
    let tok0 = std::fs::read(w.join("checkpoints/g/gen-00/tokenizer.json")).unwrap();
    let tok1 = std::fs::read(w.join("checkpoints/g/gen-01/tokenizer.json")).unwrap();
    assert_eq!(tok0, tok1, "the tokenizer is fixed at generation 0");
    let generated = std::fs::read_to_string(w.join("corpora/g/gen-00/generated.jsonl")).unwrap();
    assert!(generated.lines().count() >= 1);
}

#[test]
fn gpt_flags_are_refused_for_ngrams_and_bad_presets_explain_themselves() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 4, 2, 30, 2);
    let out = cli(
        tmp.path(),
        &[
            "chain",
            "--experiment",
            "x",
            "--corpus",
            arg(&corpus),
            "--epochs",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("do not apply") && err.contains("hint"),
        "{err}"
    );
    let out = cli(
        tmp.path(),
        &[
            "chain",
            "--experiment",
            "y",
            "--corpus",
            arg(&corpus),
            "--model",
            "gpt:huge",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gpt:tiny"));
    let out = cli(
        tmp.path(),
        &[
            "chain",
            "--experiment",
            "z",
            "--corpus",
            arg(&corpus),
            "--model",
            "gpt:nano",
            "--device",
            "cuda",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn impossible_gpt_settings_are_refused_before_training() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 4, 2, 30, 2);
    for (i, extra) in [
        &["--protocol", "continue:64"][..], // nano's context is 64: no room for new tokens
        &["--batch-size", "6", "--micro-batch", "4"][..],
        &["--top-p", "1.5"][..],
        &["--dropout", "1"][..],
    ]
    .iter()
    .enumerate()
    {
        let exp = format!("bad{i}");
        let out = cli(tmp.path(), &gpt_args(&exp, &corpus, extra));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains("hint:"), "{err}");
        assert!(
            !tmp.path().join("checkpoints").join(&exp).exists(),
            "{extra:?}: nothing may be trained"
        );
    }
}

#[test]
fn gpt_training_killed_mid_run_resumes_to_the_same_files() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 12, 4, 60, 2);
    let spec = tmp.path().join("resume.toml");
    let text = format!(
        "corpus = {:?}\nmodel = \"gpt:nano\"\ngenerations = 1\narms = [\"replace\"]\nseed = 5\n\
         train_tokens = 6000\nsample_tokens = 300\n\n[gpt]\nvocab_size = 300\nepochs = 6.0\n\
         checkpoint_every = 1\neval_every = 5\n",
        arg(&corpus)
    );
    std::fs::write(&spec, text).unwrap();
    let args = ["run", arg(&spec)];
    let (killed, straight) = (tmp.path().join("killed"), tmp.path().join("straight"));
    let mut child = cli_command(&killed, &args).spawn().unwrap();
    let state = killed.join("checkpoints/resume-replace/gen-00/train-state/state.json");
    let start = Instant::now();
    while !state.exists() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300)); // a few more steps in
    let _ = child.kill();
    child.wait().unwrap();
    assert!(state.exists() || killed.join("evals/resume-replace/gen-00.json").exists());
    cli_ok(&killed, &args);
    cli_ok(&straight, &args);
    let (a, b) = (output_files(&killed), output_files(&straight));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        if k.ends_with("train_log.json") {
            let strip = |bytes: &[u8]| {
                let mut j: serde_json::Value = serde_json::from_slice(bytes).unwrap();
                j.as_object_mut().unwrap().remove("resumed_at");
                j
            };
            assert_eq!(strip(v), strip(&b[k]), "training logs differ");
        } else {
            assert!(v == &b[k], "{} differs after resuming", k.display());
        }
    }
    let log = json(&killed.join("checkpoints/resume-replace/gen-00/train_log.json"));
    assert!(
        !log["resumed_at"].as_array().unwrap().is_empty(),
        "the kill came too late to test a resume"
    );
}

#[test]
fn gpt_continue_protocol_with_beam_search_keeps_only_new_tokens() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 12, 4, 60, 2);
    let w = tmp.path().join("w");
    let extra = [
        "--protocol",
        "continue:16",
        "--num-beams",
        "3",
        "--repetition-penalty",
        "1.2",
    ];
    let mut args = gpt_args("b", &corpus, &extra);
    let at = args.iter().position(|a| *a == "--generations").unwrap();
    args[at + 1] = "1";
    cli_ok(&w, &args);
    let manifest = json(&w.join("corpora/b/gen-00/generated.manifest.json"));
    let sampling = &manifest["sampling"];
    assert_eq!(sampling["protocol"]["prompt_words"], 16, "{manifest}");
    assert_eq!(sampling["model"]["num_beams"], 3, "{manifest}");
    assert_eq!(sampling["model"]["repetition_penalty"], 1.2, "{manifest}");
    let text = std::fs::read_to_string(w.join("corpora/b/gen-00/generated.jsonl")).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!docs.is_empty());
    // One line per 16-token block; each holds at most 16 new tokens (≤ 16 words).
    for d in &docs {
        for line in d["text"].as_str().unwrap().lines() {
            assert!(line.split_whitespace().count() <= 16, "{line}");
        }
    }
}

/// `llama:nano` from scratch through the same family: a Hugging Face Llama folder per
/// generation (grouped-query, the trained tokenizer's end-of-text as BOS and EOS), the same
/// files from the same seed, and finite perplexities.
#[test]
fn llama_chain_from_scratch_is_deterministic() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 8, 3, 60, 5);
    let run = |w: &Path| {
        let mut a = gpt_args("ll", &corpus, &[]);
        a[8] = "llama:nano";
        cli_ok(w, &a);
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&a);
    run(&b);
    assert_eq!(output_files(&a), output_files(&b), "same seed, same files");
    let cfg = json(&a.join("checkpoints/ll/gen-01/config.json"));
    assert_eq!(
        (
            cfg["model_type"].as_str(),
            cfg["num_key_value_heads"].as_u64()
        ),
        (Some("llama"), Some(2))
    );
    assert_eq!(cfg["bos_token_id"], cfg["eos_token_id"]);
    let gen1 = json(&a.join("evals/ll/gen-01.json"));
    assert!(gen1["test_ppl"]
        .as_f64()
        .is_some_and(|p| p.is_finite() && p > 1.0));
    assert!(gen1["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("llama 2 layers × 64"));
}

/// `--precision bf16`: recorded in the training log and the generated corpus's manifest, and a
/// short chain's perplexities within 1% of the same chain's in fp32 (measured: see the note
/// printed). Any CPU runs it: without AMX or AVX512-BF16 the refusal is checked instead.
#[test]
fn bf16_chain_records_its_precision_and_stays_near_fp32() {
    let tmp = TempDir::new().unwrap();
    let corpus = write_corpus(&tmp.path().join("c"), 12, 4, 60, 2);
    let w = tmp.path().join("w");
    let out = cli(&w, &gpt_args("b", &corpus, &["--precision", "bf16"]));
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("neither AMX-BF16 nor AVX512-BF16") {
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("hint: use --precision fp32"), "{err}");
        eprintln!("this CPU has no bf16 instructions: checked the refusal only");
        return;
    }
    assert!(out.status.success(), "{err}");
    cli_ok(&w, &gpt_args("f", &corpus, &[]));
    let log = json(&w.join("checkpoints/b/gen-00/train_log.json"));
    assert!(
        log["precision"].as_str().unwrap().starts_with("bf16, "),
        "{log}"
    );
    let manifest =
        std::fs::read_to_string(w.join("corpora/b/gen-00/generated.manifest.json")).unwrap();
    assert!(manifest.contains("\"precision\": \"bf16, "), "{manifest}");
    for g in ["gen-00", "gen-01"] {
        let ppl = |exp: &str| {
            json(&w.join(format!("evals/{exp}/{g}.json")))["test"]["token_ppl"]
                .as_f64()
                .unwrap()
        };
        let (b, f) = (ppl("b"), ppl("f"));
        eprintln!(
            "{g}: token perplexity bf16 {b:.3}, fp32 {f:.3} ({:+.2}%)",
            100.0 * (b / f - 1.0)
        );
        assert!((b / f - 1.0).abs() < 0.01, "{g}: bf16 {b} vs fp32 {f}");
    }
    let bad = cli(&w, &gpt_args("x", &corpus, &["--precision", "fp16"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`fp16` is not fp32 or bf16"));

    // eval --model scores in the precision asked for, says so in the verdict, and its
    // per-document perplexities stay within 1% of fp32's.
    let other = write_corpus(&tmp.path().join("other"), 10, 4, 60, 99);
    let generated = w.join("corpora/f/gen-01/generated.jsonl");
    let verdict = |precision: &str| {
        let j = tmp.path().join(format!("v-{precision}.json"));
        cli_ok(
            &w,
            &[
                "eval",
                "--reference",
                arg(&other),
                "--corpus",
                arg(&generated),
                "--model",
                arg(&w.join("checkpoints/f/gen-00")),
                "--precision",
                precision,
                "--json",
                arg(&j),
            ],
        );
        json(&j)["model"].clone()
    };
    let (b, f) = (verdict("bf16"), verdict("fp32"));
    assert!(
        b["precision"].as_str().unwrap().starts_with("bf16, "),
        "{b}"
    );
    assert_eq!(f["precision"], "fp32");
    let (pb, pf) = (
        b["candidate"]["mean"].as_f64().unwrap(),
        f["candidate"]["mean"].as_f64().unwrap(),
    );
    assert!(
        pb != pf && (pb / pf - 1.0).abs() < 0.01,
        "bf16 {pb} vs fp32 {pf}"
    );
}
