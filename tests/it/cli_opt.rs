//! The `hf:` family end to end against a fake Hub on 127.0.0.1: a wikitext-like parquet
//! dataset and a tiny random OPT (OPT's tokenizer files, our random weights) are downloaded
//! into a fresh Hugging Face cache, the model
//! fine-tuned for two generations with 2-beam continuations, saved in the Hub layout and
//! evaluated with the paper's block perplexity; the chain then extends offline from the
//! cache alone, and an empty cache offline fails with a one-line error naming the file.

use crate::fake_hub::{commit, FakeHub};
use crate::hub_datasets::{env_cli as hub_cli, serve_wikitext, CONFIG};
use crate::util::{json, run_ok};
use candle_core::Device;
use collapse_lab::models::opt::config::OptConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = "test/tiny-opt";

/// The tokenizer fixture's files and a random OPT sized to its 308-token vocabulary.
fn tiny_opt_files(tmp: &Path) -> Vec<(String, Vec<u8>)> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let base: serde_json::Value = json(&fixture.join("opt_tiny_preln/config.json"));
    let mut cfg: OptConfig = serde_json::from_value(base).unwrap();
    (cfg.vocab_size, cfg.max_position_embeddings) = (308, 64);
    let weights = tmp.join("model.safetensors");
    collapse_lab::models::opt::params::init(&cfg, 3, &Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    let mut files = vec![
        ("config.json".to_string(), serde_json::to_vec(&cfg).unwrap()),
        (
            "model.safetensors".to_string(),
            std::fs::read(&weights).unwrap(),
        ),
    ];
    for f in [
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        files.push((
            f.into(),
            std::fs::read(fixture.join("opt_tokenizer").join(f)).unwrap(),
        ));
    }
    files
}

fn chain_args<'a>(corpus: &'a str, generations: &'a str) -> Vec<&'a str> {
    vec![
        "chain",
        "--experiment",
        "opt",
        "--model",
        "hf:test/tiny-opt",
        "--corpus",
        corpus,
        "--generations",
        generations,
        "--train-tokens",
        "1500",
        "--sample-tokens",
        "400",
        "--protocol",
        "continue:8",
        "--num-beams",
        "2",
        "--repetition-penalty",
        "1.2",
        "--context",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--seed",
        "5",
    ]
}

#[test]
fn opt_chain_downloads_fine_tunes_and_extends_offline() {
    let (tmp, home, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let hub = FakeHub::start();
    let c = commit("tiny-opt");
    let files = tiny_opt_files(tmp.path());
    let borrowed: Vec<(&str, Vec<u8>)> =
        files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    hub.add("models", REPO, &c, &borrowed);
    serve_wikitext(&hub, &commit("wikitext"));
    let corpus = format!("hf:test/wikitext/{CONFIG}");

    run_ok(&mut hub_cli(
        &hub.url,
        home.path(),
        work.path(),
        &chain_args(&corpus, "2"),
    ));
    // The Python client's cache layout, with the commit the Hub named.
    let snap = home
        .path()
        .join(format!("hub/models--test--tiny-opt/snapshots/{c}"));
    assert!(snap.join("model.safetensors").exists() && snap.join("vocab.json").exists());
    // Each generation is a Hugging Face folder: config, weights, the Hub's tokenizer files.
    for g in ["gen-00", "gen-01"] {
        let dir = work.path().join("checkpoints/opt").join(g);
        for f in [
            "config.json",
            "model.safetensors",
            "vocab.json",
            "merges.txt",
            "tokenizer_config.json",
            "train_log.json",
        ] {
            assert!(dir.join(f).exists(), "{g}/{f}");
        }
        let cfg = json(&dir.join("config.json"));
        // Provenance: every generation names the Hub commit it was fine-tuned from.
        assert_eq!(
            cfg["collapse_lab"]["base_commit"].as_str(),
            Some(c.as_str())
        );
        assert_eq!(
            (cfg["model_type"].as_str(), cfg["torch_dtype"].as_str()),
            (Some("opt"), Some("float32"))
        );
    }
    let gen1 = json(&work.path().join("evals/opt/gen-01.json"));
    let block_ppl = gen1["test_block_ppl"]
        .as_f64()
        .expect("block perplexity recorded");
    assert!(block_ppl.is_finite() && block_ppl > 1.0, "{block_ppl}");
    assert!(gen1["notes"][0]
        .as_str()
        .unwrap()
        .contains("test/tiny-opt@main fine-tuned (init hub)"));
    let manifest = json(
        &work
            .path()
            .join("corpora/opt/gen-01/generated.manifest.json"),
    );
    assert_eq!(manifest["sampling"]["model"]["num_beams"], 2);

    // For scripts/opt_reference.py --verify-checkpoint (transformers loads the folder).
    if let Some(out) = std::env::var_os("COLLAPSE_LAB_EXPORT_DIR") {
        let to = PathBuf::from(out).join("opt-chain-gen-01");
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(work.path().join("checkpoints/opt/gen-01")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        // The Hub cache (tiny OPT and wikitext-like dataset), for scripts/gpu_check.sh's offline
        // OPT chain on a GPU machine, which cannot reach a Hub.
        let copied = Command::new("cp")
            .arg("-a")
            .arg(home.path())
            .arg(
                PathBuf::from(std::env::var_os("COLLAPSE_LAB_EXPORT_DIR").unwrap()).join("hf-home"),
            )
            .status()
            .unwrap();
        assert!(copied.success());
    }

    // Offline, from the cache alone: a third generation, and not one request to the Hub.
    hub.clear_log();
    let mut offline = hub_cli(
        &hub.url,
        home.path(),
        work.path(),
        &chain_args(&corpus, "3"),
    );
    run_ok(offline.env("HF_HUB_OFFLINE", "1"));
    assert!(work
        .path()
        .join("checkpoints/opt/gen-02/model.safetensors")
        .exists());
    assert!(
        hub.requests().is_empty(),
        "offline run asked the Hub: {:?}",
        hub.requests().len()
    );

    // Offline with no model in the cache: exit 2, one line naming what is missing, nothing trained.
    let empty = tempfile::tempdir().unwrap();
    // The dataset is cached there (copied with its links), the model is not.
    std::fs::create_dir_all(empty.path().join("hub")).unwrap();
    let copied = Command::new("cp")
        .arg("-a")
        .arg(home.path().join("hub/datasets--test--wikitext"))
        .arg(empty.path().join("hub"))
        .status()
        .unwrap();
    assert!(copied.success());
    let out = hub_cli(&hub.url, empty.path(), work.path(), &{
        let mut a = chain_args(&corpus, "1");
        a[2] = "opt-offline";
        a
    })
    .env("HF_HUB_OFFLINE", "1")
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("config.json of model test/tiny-opt@main is not in the Hugging Face cache")
            && err.contains("hint"),
        "{err}"
    );
    assert!(!work
        .path()
        .join("checkpoints/opt-offline/gen-00/model.safetensors")
        .exists());
}
