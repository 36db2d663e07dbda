//! GPT-NeoX's tokenization against transformers on Pythia's real tokenizer (GPT-NeoX-20B's, as
//! every EleutherAI/pythia-* repository ships it), trimmed to the merges a dozen texts need;
//! scripts/neox_tokenizer_reference.py takes it from two PyPI packages that ship it (and checks
//! that they agree on every token and merge), and writes tests/fixtures/neox_tokenizer.
//!
//! Ids must match exactly: runs of spaces as the tokenizer's added tokens (50254-50276), a
//! decomposed accent composed (NFC), `<|endoftext|>` and `<|padding|>` in the text as their
//! special ids, nothing added in front or behind (transformers adds no BOS or EOS for
//! GPT-NeoX).

use crate::compare::read_json;
use collapse_lab::family::hub::load_tokenizer;
use collapse_lab::hub::TokenizerFiles;
use collapse_lab::models::gpt_neox::config::Config;
use std::path::PathBuf;

#[test]
fn pythia_tokenizer_gives_transformers_ids() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/neox_tokenizer");
    let expected = read_json(&dir.join("expected.json"));
    // Pythia's tokenizer_config.json names `<|endoftext|>` its BOS and EOS, the token our
    // loader takes for end-of-text (id 0); its config.json says bos_token_id = eos_token_id =
    // 0, which also starts each document when we train or score.
    let config = read_json(&dir.join("tokenizer_config.json"));
    for key in ["bos_token", "eos_token"] {
        assert_eq!(config[key], "<|endoftext|>", "{key}");
    }
    let tok = load_tokenizer::<Config>(&TokenizerFiles::Json(dir.join("tokenizer.json"))).unwrap();
    assert_eq!(tok.eot(), 0);
    let tok = tok.with_ids(Some(0), Some(0)).unwrap();
    assert_eq!((tok.bos(), tok.eot()), (0, 0));
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    let mut added = 0;
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = (case["ids"].as_array().unwrap().iter())
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(tok.decode(&got).unwrap(), case["decoded"].as_str().unwrap());
        added += got.iter().filter(|&&i| i <= 1 || i >= 50254).count();
    }
    // The cases reach the specials and the added runs of spaces, not only BPE.
    assert!(added >= 6, "{added}");
}
