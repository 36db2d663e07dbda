//! Our generation against `transformers.generate`: the same tiny random `GPT2LMHeadModel`
//! and prompts must give identical token ids for greedy decoding and beam search (5 beams,
//! repetition penalty 1.2, with and without an EOS that ends hypotheses early, and with
//! `early_stopping=True`, `length_penalty=0.5`). The fixture in tests/fixtures/gpt2_generate
//! is written by scripts/gpt2_generate_reference.py (see its header; CI only reads it).
//!
//! transformers ran each prompt alone; we run each case's prompts as one call (equal-length
//! prompts share a batch) and beam search also prompt by prompt, so batching is checked too.

use candle_core::{DType, Device};
use collapse_lab::lm::generate::{self, BeamConfig, SampleConfig};
use collapse_lab::lm::params::Params;
use collapse_lab::lm::CausalLm;
use collapse_lab::models::gpt2::config::Config;
use collapse_lab::rng::Rng;
use serde_json::Value;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_generate")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("a list of token ids")
        .iter()
        .map(|t| t.as_u64().expect("a token id") as u32)
        .collect()
}

#[test]
fn generation_matches_transformers() {
    let dir = fixture();
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let cfg: Config = serde_json::from_value(read("config.json")).unwrap();
    let params = Params::load(
        &dir.join("model.safetensors"),
        &cfg,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let model = params.model(&cfg).unwrap();
    assert_eq!(
        check_cases(&model, &read("expected.json")),
        5,
        "cases in expected.json"
    );
}

/// Runs every case of an expected.json (GPT-2's or OPT's layout) and asserts our tokens are
/// transformers'; returns how many cases ran.
pub fn check_cases(model: &impl CausalLm, expected: &Value) -> usize {
    let all: Vec<Vec<u32>> = expected["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let mut checked = 0;
    for case in expected["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        // OPT's layout names each case's prompts; GPT-2's cases use all of them.
        let prompts: Vec<Vec<u32>> = match case["prompt_indices"].as_array() {
            Some(ix) => ix
                .iter()
                .map(|i| all[i.as_u64().unwrap() as usize].clone())
                .collect(),
            None => all.clone(),
        };
        let want: Vec<Vec<u32>> = case["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect();
        let max_new = case["max_new_tokens"].as_u64().unwrap() as usize;
        let eos = case["eos"].as_u64().map(|e| e as u32);
        let got = match case["kind"].as_str().unwrap() {
            "greedy" => {
                let mut rng = Rng::new(0); // unused by greedy decoding
                let greedy = SampleConfig::greedy();
                generate::sample(model, &prompts, max_new, eos, &greedy, &mut rng).unwrap()
            }
            "beam" => {
                let beam = BeamConfig {
                    num_beams: case["num_beams"].as_u64().unwrap() as usize,
                    max_new_tokens: max_new,
                    length_penalty: case["length_penalty"].as_f64().unwrap(),
                    repetition_penalty: case["repetition_penalty"].as_f64().unwrap(),
                    early_stopping: case["early_stopping"].as_bool().unwrap(),
                    eos,
                };
                let batched = generate::beam_search_batch(model, &prompts, &beam).unwrap();
                for (p, b) in prompts.iter().zip(&batched) {
                    let alone = generate::beam_search(model, p, &beam).unwrap();
                    assert_eq!(&alone, b, "{name}: prompt {p:?} alone vs batched");
                }
                batched
            }
            other => panic!("unknown case kind {other}"),
        };
        for ((p, g), w) in prompts.iter().zip(&got).zip(&want) {
            assert_eq!(g, w, "{name}: prompt {p:?}");
        }
        if let Some(e) = eos {
            // The fixture was made so that the EOS really ends some outputs early.
            assert!(
                want.iter()
                    .any(|w| w.len() < max_new && w.last() == Some(&e)),
                "{name}"
            );
        }
        checked += 1;
    }
    checked
}
