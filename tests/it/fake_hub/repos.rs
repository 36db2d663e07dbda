//! What the model tests (hub.rs, hub_failures.rs, cli_opt.rs) put on the fake Hub and ask of
//! its answers: an OPT-125m-like repository, a client configuration, a Hub error's parts.

use super::FakeHub;
use collapse_lab::hub::{HubConfig, HubErrorKind, HubRepo};
use collapse_lab::Error;
use std::path::{Path, PathBuf};

pub const REPO: &str = "test/opt-tiny";

pub fn weights_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// An OPT-125m-like repository: only `pytorch_model.bin`, GPT-2 style tokenizer files.
pub fn opt_like(hub: &FakeHub, c: &str) {
    hub.add(
        "models",
        REPO,
        c,
        &[
            ("config.json", br#"{"model_type":"opt"}"#.to_vec()),
            ("pytorch_model.bin", weights_bytes(100_000)),
            ("vocab.json", br#"{"a":0}"#.to_vec()),
            ("merges.txt", b"#version: 0.2\n".to_vec()),
            ("special_tokens_map.json", b"{}".to_vec()),
            ("tokenizer_config.json", b"{}".to_vec()),
            ("README.md", b"# tiny\n".to_vec()),
        ],
    );
}

pub fn cfg(hub: &FakeHub, cache: &Path) -> HubConfig {
    HubConfig::new(&hub.url, cache)
}

pub fn repo() -> HubRepo {
    REPO.parse().unwrap()
}

pub fn hub_error(e: Error) -> (HubErrorKind, String, String) {
    let line = format!("{e} (hint: {})", e.hint());
    assert!(!line.contains('\n'), "one line: {line}");
    match e {
        Error::Hub { kind, what, hint } => (kind, what, hint),
        other => panic!("not a Hub error: {other:?}"),
    }
}

pub fn parts_left(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(parts_left(&p));
        } else if p.extension().is_some_and(|x| x == "part") {
            out.push(p);
        }
    }
    out
}
