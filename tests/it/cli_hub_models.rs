//! `hf:` dispatches on the repository's `model_type`: a tiny random GPT-2, Llama (grouped-query
//! attention, its own BOS) and GPT-NeoX (Pythia's layout) served by the fake Hub are fine-tuned
//! as OPT is
//! (download, Hub-layout checkpoints, resume offline, `eval --model`), and a model type `hf:`
//! does not serve is refused in one line.

use crate::fake_hub::{commit, FakeHub};
use crate::hub_datasets::{env_cli as hub_cli, serve_wikitext, CONFIG};
use crate::util::{json, run_ok};
use candle_core::Device;
use collapse_lab::models::gpt2::config::Config;
use std::path::{Path, PathBuf};

/// OPT's tokenizer fixture (GPT-2's byte-level BPE, 308 tokens) with GPT-2's end-of-text token
/// added as id 308, and a random GPT-2 sized to it.
fn tiny_gpt2_files(tmp: &Path, model_type: &str) -> Vec<(String, Vec<u8>)> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(fixture.join("opt_tokenizer/vocab.json")).unwrap())
            .unwrap();
    vocab.insert("<|endoftext|>".into(), 308.into());
    let mut cfg: Config =
        serde_json::from_value(json(&fixture.join("gpt2_tiny/config.json"))).unwrap();
    (
        cfg.vocab_size,
        cfg.n_positions,
        cfg.bos_token_id,
        cfg.eos_token_id,
    ) = (309, 64, 308, 308);
    let weights = tmp.join("model.safetensors");
    collapse_lab::models::gpt2::params::init(&cfg, 3, &Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    let mut config = serde_json::to_value(&cfg).unwrap();
    config["model_type"] = model_type.into();
    vec![
        ("config.json".into(), serde_json::to_vec(&config).unwrap()),
        ("model.safetensors".into(), std::fs::read(&weights).unwrap()),
        ("vocab.json".into(), serde_json::to_vec(&vocab).unwrap()),
        (
            "merges.txt".into(),
            std::fs::read(fixture.join("opt_tokenizer/merges.txt")).unwrap(),
        ),
    ]
}

/// A fake Hub serving models and the wikitext-like dataset, a fresh Hub home and workdir.
struct Served {
    hub: FakeHub,
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    /// The dataset as `--corpus` names it.
    corpus: String,
}

fn serve(models: &[(&str, Vec<(String, Vec<u8>)>)]) -> Served {
    let hub = FakeHub::start();
    for (repo, files) in models {
        let borrowed: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        hub.add("models", repo, &commit(repo), &borrowed);
    }
    serve_wikitext(&hub, &commit("wikitext"));
    Served {
        hub,
        home: tempfile::tempdir().unwrap(),
        work: tempfile::tempdir().unwrap(),
        corpus: format!("hf:test/wikitext/{CONFIG}"),
    }
}

fn args<'a>(corpus: &'a str, model: &'a str, generations: &'a str) -> Vec<&'a str> {
    vec![
        "chain",
        "--experiment",
        "g2",
        "--model",
        model,
        "--corpus",
        corpus,
        "--generations",
        generations,
        "--train-tokens",
        "1500",
        "--sample-tokens",
        "400",
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
fn gpt2_from_the_hub_fine_tunes_and_other_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Served {
        hub,
        home,
        work,
        corpus,
    } = serve(&[
        ("test/tiny-gpt2", tiny_gpt2_files(tmp.path(), "gpt2")),
        ("test/tiny-bert", tiny_gpt2_files(tmp.path(), "bert")),
    ]);

    run_ok(&mut hub_cli(
        &hub.url,
        home.path(),
        work.path(),
        &args(&corpus, "hf:test/tiny-gpt2", "2"),
    ));
    for g in ["gen-00", "gen-01"] {
        let dir = work.path().join("checkpoints/g2").join(g);
        for f in [
            "config.json",
            "model.safetensors",
            "vocab.json",
            "merges.txt",
            "train_log.json",
        ] {
            assert!(dir.join(f).exists(), "{g}/{f}");
        }
        let cfg = json(&dir.join("config.json"));
        assert_eq!(cfg["model_type"], "gpt2");
        // The Hub's keys we do not model are written back (transformers reads them).
        assert_eq!(cfg["summary_type"], "cls_index");
    }
    export(
        &work.path().join("checkpoints/g2/gen-01"),
        "gpt2-chain-gen-01",
    );
    let gen1 = json(&work.path().join("evals/g2/gen-01.json"));
    assert!(gen1["test_block_ppl"]
        .as_f64()
        .is_some_and(|p| p.is_finite() && p > 1.0));
    // Resumed offline from the cache: one more generation.
    let mut offline = hub_cli(
        &hub.url,
        home.path(),
        work.path(),
        &args(&corpus, "hf:test/tiny-gpt2", "3"),
    );
    run_ok(offline.env("HF_HUB_OFFLINE", "1"));
    assert!(work
        .path()
        .join("checkpoints/g2/gen-02/model.safetensors")
        .exists());

    let out = hub_cli(&hub.url, home.path(), work.path(), &{
        let mut a = args(&corpus, "hf:test/tiny-bert", "1");
        a[2] = "bert";
        a
    })
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("is a `bert` model; hf: fine-tunes opt, gpt2, llama, gpt_neox models"),
        "{err}"
    );
    assert!(!work.path().join("evals/bert/chain.json").exists());
}

/// A random Llama sized to OPT's tokenizer fixture (`tokenizer.json`, 308 tokens): `<s>` (0)
/// starts documents, `</s>` (2) ends them, as in Llama 2.
fn tiny_llama_files(tmp: &Path) -> Vec<(String, Vec<u8>)> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut cfg: collapse_lab::models::llama::config::Config =
        serde_json::from_value(json(&fixture.join("llama_tiny/config.json"))).unwrap();
    cfg.vocab_size = 308;
    (cfg.bos_token_id, cfg.eos_token_id) = (Some(0), Some(2.into()));
    let weights = tmp.join("llama.safetensors");
    collapse_lab::models::llama::params::init(&cfg, 4, &Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    vec![
        ("config.json".into(), serde_json::to_vec(&cfg).unwrap()),
        ("model.safetensors".into(), std::fs::read(&weights).unwrap()),
        (
            "tokenizer.json".into(),
            std::fs::read(fixture.join("opt_tokenizer/tokenizer.json")).unwrap(),
        ),
    ]
}

#[test]
fn llama_from_the_hub_fine_tunes_resumes_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let Served {
        hub,
        home,
        work,
        corpus,
    } = serve(&[("test/tiny-llama", tiny_llama_files(tmp.path()))]);
    let mut a = args(&corpus, "hf:test/tiny-llama", "2");
    a.extend(["--protocol", "continue:8", "--num-beams", "2"]);
    run_ok(&mut hub_cli(&hub.url, home.path(), work.path(), &a));
    let dir = work.path().join("checkpoints/g2");
    for g in ["gen-00", "gen-01"] {
        for f in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "train_log.json",
        ] {
            assert!(dir.join(g).join(f).exists(), "{g}/{f}");
        }
        let cfg = json(&dir.join(g).join("config.json"));
        assert_eq!(
            (
                cfg["model_type"].as_str(),
                cfg["num_key_value_heads"].as_u64()
            ),
            (Some("llama"), Some(2))
        );
        assert_eq!(cfg["rope_parameters"]["rope_type"], "llama3");
    }
    let gen1 = json(&work.path().join("evals/g2/gen-01.json"));
    assert!(gen1["test_block_ppl"]
        .as_f64()
        .is_some_and(|p| p.is_finite() && p > 1.0));
    let generated =
        std::fs::read_to_string(work.path().join("corpora/g2/gen-01/generated.jsonl")).unwrap();
    assert!(generated.lines().count() > 3, "{generated}");
    // Resumed offline from the cache, and the checkpoint scores text on its own (eval --model).
    a[8] = "3";
    run_ok(hub_cli(&hub.url, home.path(), work.path(), &a).env("HF_HUB_OFFLINE", "1"));
    assert!(dir.join("gen-02/model.safetensors").exists());
    export(&dir.join("gen-02"), "llama-chain-gen-02");
    let model = collapse_lab::family::checkpoint::Checkpoint::open(&dir.join("gen-02")).unwrap();
    assert!(
        model.describe().starts_with("llama (2 layers × 32)"),
        "{}",
        model.describe()
    );
}

/// A random GPT-NeoX (Pythia's layout) on OPT's byte-level BPE with Pythia's two specials added.
fn tiny_neox_files(tmp: &Path) -> Vec<(String, Vec<u8>)> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(fixture.join("opt_tokenizer/vocab.json")).unwrap())
            .unwrap();
    vocab.insert("<|endoftext|>".into(), 308.into());
    vocab.insert("<|padding|>".into(), 309.into());
    let mut cfg: collapse_lab::models::gpt_neox::config::Config =
        serde_json::from_value(json(&fixture.join("neox_tiny/config.json"))).unwrap();
    (cfg.vocab_size, cfg.bos_token_id, cfg.eos_token_id) = (310, Some(308), Some(308));
    let weights = tmp.join("neox.safetensors");
    collapse_lab::models::gpt_neox::params::init(&cfg, 6, &Device::Cpu)
        .unwrap()
        .save(&weights)
        .unwrap();
    vec![
        ("config.json".into(), serde_json::to_vec(&cfg).unwrap()),
        ("model.safetensors".into(), std::fs::read(&weights).unwrap()),
        ("vocab.json".into(), serde_json::to_vec(&vocab).unwrap()),
        (
            "merges.txt".into(),
            std::fs::read(fixture.join("opt_tokenizer/merges.txt")).unwrap(),
        ),
    ]
}

#[test]
fn gpt_neox_from_the_hub_fine_tunes_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let Served {
        hub,
        home,
        work,
        corpus,
    } = serve(&[("test/tiny-pythia", tiny_neox_files(tmp.path()))]);
    run_ok(&mut hub_cli(
        &hub.url,
        home.path(),
        work.path(),
        &args(&corpus, "hf:test/tiny-pythia", "2"),
    ));
    let dir = work.path().join("checkpoints/g2/gen-01");
    let cfg = json(&dir.join("config.json"));
    assert_eq!(cfg["model_type"], "gpt_neox");
    // The head is saved under the name the Hub's Pythia files and save_pretrained use.
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(tensors.contains_key("embed_out.weight") && !tensors.contains_key("lm_head.weight"));
    let gen1 = json(&work.path().join("evals/g2/gen-01.json"));
    assert!(gen1["test_block_ppl"]
        .as_f64()
        .is_some_and(|p| p.is_finite() && p > 1.0));
    let model = collapse_lab::family::checkpoint::Checkpoint::open(&dir).unwrap();
    assert!(
        model.describe().starts_with("gpt_neox (2 layers × 32)"),
        "{}",
        model.describe()
    );
    export(&dir, "neox-chain-gen-01");
}

/// For scripts/arch_reference.py --verify-checkpoint: transformers loads the folder as saved.
fn export(dir: &Path, name: &str) {
    if let Some(out) = std::env::var_os("COLLAPSE_LAB_EXPORT_DIR") {
        let to = PathBuf::from(out).join(name);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
