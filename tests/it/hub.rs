//! The Hugging Face Hub client against a fake Hub served on 127.0.0.1 ([`crate::fake_hub`]):
//! model files and the cache here, failures in `hub_failures.rs`, datasets in
//! `hub_datasets.rs`. Tests pass a [`HubConfig`] (endpoint, cache) instead of environment
//! variables, which every test thread shares.

use crate::fake_hub::{
    cfg, commit, hub_error, opt_like, parts_left, repo, sha256_hex, weights_bytes, FakeHub, REPO,
};
use crate::util::run_ok;
use collapse_lab::hub::{
    fetch_model_with, HubConfig, HubErrorKind, HubRepo, TokenizerFiles, Weights,
};
use std::path::{Path, PathBuf};

#[test]
fn downloads_into_the_python_cache_layout_and_reuses_it() {
    let hub = FakeHub::start();
    let c = commit("one");
    opt_like(&hub, &c);
    let cache = tempfile::tempdir().unwrap();
    let m = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();

    let snap = cache
        .path()
        .join("models--test--opt-tiny/snapshots")
        .join(&c);
    assert_eq!(m.commit.as_deref(), Some(c.as_str()));
    assert_eq!(m.config, snap.join("config.json"));
    assert_eq!(
        m.weights,
        Weights::PytorchBin(snap.join("pytorch_model.bin"))
    );
    assert_eq!(
        m.tokenizer,
        TokenizerFiles::VocabMerges {
            vocab: snap.join("vocab.json"),
            merges: snap.join("merges.txt")
        }
    );
    assert_eq!(
        m.special_tokens_map,
        Some(snap.join("special_tokens_map.json"))
    );
    assert_eq!(m.tokenizer_config, Some(snap.join("tokenizer_config.json")));
    assert_eq!(m.generation_config, None, "not in the repository");
    assert!(
        !snap.join("README.md").exists(),
        "only what a model needs is fetched"
    );

    // Python's layout: refs/main holds the commit, snapshot entries link to blobs/<etag>.
    let dir = cache.path().join("models--test--opt-tiny");
    assert_eq!(std::fs::read_to_string(dir.join("refs/main")).unwrap(), c);
    assert!(
        !dir.join("refs").join(&c).exists(),
        "no ref named by a commit"
    );
    let bin = weights_bytes(100_000);
    let link = std::fs::read_link(snap.join("pytorch_model.bin")).unwrap();
    assert_eq!(link, PathBuf::from("../../blobs").join(sha256_hex(&bin)));
    assert_eq!(std::fs::read(snap.join("pytorch_model.bin")).unwrap(), bin);
    assert!(parts_left(&dir).is_empty(), "no partial files left");

    // Second fetch: one listing request, no downloads.
    hub.clear_log();
    let again = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    assert_eq!(again, m);
    let log = hub.requests();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0]
        .path
        .starts_with("/api/models/test/opt-tiny/revision/main"));
}

#[test]
fn prefers_safetensors_and_tokenizer_json() {
    let hub = FakeHub::start();
    let c = commit("both");
    hub.add(
        "models",
        REPO,
        &c,
        &[
            ("config.json", b"{}".to_vec()),
            ("pytorch_model.bin", weights_bytes(5000)),
            ("model.safetensors", weights_bytes(4000)),
            ("tokenizer.json", b"{}".to_vec()),
            ("vocab.json", b"{}".to_vec()),
            ("merges.txt", b"".to_vec()),
            ("generation_config.json", b"{}".to_vec()),
        ],
    );
    let cache = tempfile::tempdir().unwrap();
    let m = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    let snap = cache
        .path()
        .join("models--test--opt-tiny/snapshots")
        .join(&c);
    assert_eq!(
        m.weights,
        Weights::Safetensors(snap.join("model.safetensors"))
    );
    assert_eq!(
        m.tokenizer,
        TokenizerFiles::Json(snap.join("tokenizer.json"))
    );
    assert_eq!(
        m.generation_config,
        Some(snap.join("generation_config.json"))
    );
    for skipped in ["pytorch_model.bin", "vocab.json", "merges.txt"] {
        assert_eq!(hub.body_gets(skipped), 0, "{skipped} not downloaded");
    }
}

#[test]
fn offline_reads_only_the_cache_and_names_what_is_missing() {
    let hub = FakeHub::start();
    let c = commit("off");
    opt_like(&hub, &c);
    let cache = tempfile::tempdir().unwrap();
    let online = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();

    // A dead endpoint: offline must not try it.
    let mut off = HubConfig::new("http://127.0.0.1:9", cache.path());
    off.offline = true;
    assert_eq!(fetch_model_with(&off, &repo()).unwrap(), online);
    // By commit hash too (no ref needed).
    let pinned: HubRepo = format!("{REPO}@{c}").parse().unwrap();
    assert_eq!(
        fetch_model_with(&off, &pinned).unwrap().config,
        online.config
    );

    let empty = tempfile::tempdir().unwrap();
    off.cache_dir = empty.path().to_path_buf();
    let (kind, what, hint) = hub_error(fetch_model_with(&off, &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::NotCached);
    assert!(
        what.starts_with(
            "offline: config.json of model test/opt-tiny@main is not in the Hugging Face cache"
        ),
        "{what}"
    );
    assert!(
        hint.contains("HF_HUB_OFFLINE")
            && hint.contains("hf download test/opt-tiny --revision main config.json"),
        "{hint}"
    );

    // A snapshot that lost its merges (blob deleted): that file is named.
    let dir = cache.path().join("models--test--opt-tiny");
    let merges = std::fs::canonicalize(dir.join("snapshots").join(&c).join("merges.txt")).unwrap();
    std::fs::remove_file(merges).unwrap();
    off.cache_dir = cache.path().to_path_buf();
    let (kind, what, _) = hub_error(fetch_model_with(&off, &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::NotCached);
    assert!(
        what.contains("merges.txt of model test/opt-tiny@main"),
        "{what}"
    );
}

#[test]
fn missing_repository_is_one_clear_line() {
    let hub = FakeHub::start();
    opt_like(&hub, &commit("x"));
    let cache = tempfile::tempdir().unwrap();
    let nope: HubRepo = "test/nope".parse().unwrap();
    let (kind, what, hint) =
        hub_error(fetch_model_with(&cfg(&hub, cache.path()), &nope).unwrap_err());
    assert_eq!(kind, HubErrorKind::NotFound);
    assert_eq!(
        what,
        format!(
            "model test/nope@main: repository or file not found on {}",
            hub.url
        )
    );
    assert_eq!(
        hint,
        "check the name, or set HF_TOKEN for gated/private repos"
    );
    let bad_rev: HubRepo = format!("{REPO}@v9").parse().unwrap();
    let (kind, _, _) = hub_error(fetch_model_with(&cfg(&hub, cache.path()), &bad_rev).unwrap_err());
    assert_eq!(kind, HubErrorKind::NotFound);

    // A repository without weights: named, not a 404 per guess.
    hub.add(
        "models",
        "test/empty",
        &commit("e"),
        &[("config.json", b"{}".to_vec())],
    );
    let empty: HubRepo = "test/empty".parse().unwrap();
    let (kind, what, _) =
        hub_error(fetch_model_with(&cfg(&hub, cache.path()), &empty).unwrap_err());
    assert_eq!(kind, HubErrorKind::NotFound);
    assert_eq!(
        what,
        "model test/empty@main has no model.safetensors or pytorch_model.bin"
    );
}

#[test]
fn cached_blobs_are_linked_into_a_new_commit_without_downloading() {
    let hub = FakeHub::start();
    opt_like(&hub, &commit("v1"));
    let cache = tempfile::tempdir().unwrap();
    fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    // A README-only push moves main; the weights are the same blob.
    let c2 = commit("v2");
    opt_like(&hub, &c2);
    hub.clear_log();
    let m = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    assert_eq!(m.commit.as_deref(), Some(c2.as_str()));
    assert_eq!(hub.body_gets("pytorch_model.bin"), 0);
    let dir = cache.path().join("models--test--opt-tiny");
    assert_eq!(std::fs::read_to_string(dir.join("refs/main")).unwrap(), c2);
    assert!(dir
        .join("snapshots")
        .join(&c2)
        .join("pytorch_model.bin")
        .is_file());
}

/// The Python client (`.venv`, huggingface_hub) and we share one cache both ways: it finds
/// what we downloaded without the network, and we find offline what it downloaded from the
/// same fake Hub. Needs `.venv/bin/python` with huggingface_hub (set up at dev time, never in
/// CI): the `venv_` prefix is what CI's `--skip venv_` leaves out.
#[test]
#[ignore = "needs .venv/bin/python with huggingface_hub"]
fn venv_python_client_shares_the_cache() {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(python.is_file(), "this test needs {}", python.display());
    let hub = FakeHub::start();
    let c = commit("py");
    opt_like(&hub, &c);
    let ours = tempfile::tempdir().unwrap();
    let m = fetch_model_with(&cfg(&hub, ours.path()), &repo()).unwrap();
    let py = |cache: &Path, endpoint: &str, local_only: bool, files: &[&str]| -> String {
        let script = format!(
            "import huggingface_hub as h\n\
             for f in {files:?}:\n    print(h.hf_hub_download('{REPO}', f, local_files_only={}))\n\
             info = h.scan_cache_dir()\n\
             assert not info.warnings, info.warnings\n\
             print(sorted(r.repo_id for r in info.repos))\n",
            if local_only { "True" } else { "False" }
        );
        run_ok(
            std::process::Command::new(&python)
                .arg("-c")
                .arg(script)
                .env("HF_HUB_CACHE", cache)
                .env("HF_ENDPOINT", endpoint)
                .env("HF_HUB_DISABLE_TELEMETRY", "1")
                .env_remove("HF_HUB_OFFLINE")
                .env_remove("HF_TOKEN"),
        )
    };
    let files = [
        "config.json",
        "pytorch_model.bin",
        "vocab.json",
        "merges.txt",
    ];
    // An unfinished download of ours, beside hf-hub's `.lock` files: no warning either.
    let blobs = ours.path().join("models--test--opt-tiny/blobs");
    let lock = |e: &std::fs::DirEntry| e.path().extension().is_some_and(|x| x == "lock");
    assert!(std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .any(|e| lock(&e)));
    std::fs::write(blobs.join(format!("{}.part", "0".repeat(64))), b"half").unwrap();
    let printed = py(ours.path(), "http://127.0.0.1:9", true, &files);
    let Weights::PytorchBin(bin) = &m.weights else {
        panic!()
    };
    assert!(
        printed.contains(&format!("{}\n", bin.display())),
        "{printed}"
    );
    assert!(printed.contains("['test/opt-tiny']"), "{printed}");

    let theirs = tempfile::tempdir().unwrap();
    py(theirs.path(), &hub.url, false, &files);
    let mut off = cfg(&hub, theirs.path());
    off.offline = true;
    let from_python = fetch_model_with(&off, &repo()).unwrap();
    assert_eq!(from_python.commit.as_deref(), Some(c.as_str()));
    assert_eq!(
        std::fs::read(from_python.config).unwrap(),
        std::fs::read(&m.config).unwrap()
    );
}
