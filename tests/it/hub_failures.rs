//! The Hub client when things go wrong: a dropped connection, a transfer that keeps failing,
//! a damaged download, an unreachable endpoint, a server gone silent. Each ends in a resumed
//! download, the cache, or one line with a hint, and never in a file that looks finished.

use crate::fake_hub::{
    cfg, commit, hub_error, opt_like, parts_left, repo, sha256_hex, weights_bytes, FakeHub,
};
use collapse_lab::hub::{fetch_model_with, HubConfig, HubErrorKind, Weights};
use std::time::{Duration, Instant};

#[test]
fn a_dropped_connection_is_retried_and_resumes() {
    let hub = FakeHub::start();
    let c = commit("flaky");
    opt_like(&hub, &c);
    hub.drop_once("pytorch_model.bin");
    let cache = tempfile::tempdir().unwrap();
    let m = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    let Weights::PytorchBin(bin) = &m.weights else {
        panic!("{m:?}")
    };
    assert_eq!(std::fs::read(bin).unwrap(), weights_bytes(100_000));
    let gets: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| {
            r.path.ends_with("/pytorch_model.bin") && r.range.as_deref() != Some("bytes=0-0")
        })
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range.as_deref(), Some("bytes=0-"));
    assert_eq!(
        gets[1].range.as_deref(),
        Some("bytes=50000-"),
        "resumed where it stopped"
    );
    assert!(parts_left(cache.path()).is_empty());
}

#[test]
fn a_damaged_download_is_removed_and_reported() {
    let hub = FakeHub::start();
    let c = commit("bad");
    opt_like(&hub, &c);
    hub.corrupt("pytorch_model.bin");
    let cache = tempfile::tempdir().unwrap();
    let (kind, what, hint) =
        hub_error(fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::Corrupt);
    assert!(
        what.starts_with(
            "downloaded pytorch_model.bin of model test/opt-tiny@main is damaged (sha256 "
        ),
        "{what}"
    );
    assert!(hint.contains("rerun"));
    let dir = cache.path().join("models--test--opt-tiny");
    assert_no_weights(&dir, &c);
    assert!(
        !dir.join("refs/main").exists(),
        "an incomplete fetch records no ref"
    );
}

#[test]
fn network_failure_hints_at_offline_and_falls_back_to_a_filled_cache() {
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cache = tempfile::tempdir().unwrap();
    let mut c = HubConfig::new(&dead, cache.path());
    c.retries = 1;
    let (kind, what, hint) = hub_error(fetch_model_with(&c, &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::Network);
    assert!(
        what.starts_with(&format!(
            "model test/opt-tiny@main: cannot get it from {dead} after 1 retry: "
        )),
        "{what}"
    );
    assert!(
        hint.contains("HF_ENDPOINT") && hint.contains("HF_HUB_OFFLINE=1"),
        "{hint}"
    );

    // With the files cached, an unreachable Hub is not fatal (as in Python).
    let hub = FakeHub::start();
    opt_like(&hub, &commit("fb"));
    let m = fetch_model_with(&cfg(&hub, cache.path()), &repo()).unwrap();
    assert_eq!(fetch_model_with(&c, &repo()).unwrap(), m);
}

#[test]
fn a_transfer_that_keeps_failing_ends_in_one_line_and_no_blob() {
    let hub = FakeHub::start();
    let c = commit("dead");
    opt_like(&hub, &c);
    hub.drop_always("pytorch_model.bin");
    let cache = tempfile::tempdir().unwrap();
    let mut config = cfg(&hub, cache.path());
    config.retries = 1;
    let (kind, what, hint) = hub_error(fetch_model_with(&config, &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::Network);
    let want = format!(
        "pytorch_model.bin of model test/opt-tiny@main: cannot get it from {} after 1 retry: ",
        hub.url
    );
    assert!(what.starts_with(&want), "{what}");
    assert!(
        hint.contains("resumes") && hint.contains("HF_HUB_OFFLINE=1"),
        "{hint}"
    );
    let dir = cache.path().join("models--test--opt-tiny");
    assert_no_weights(&dir, &c);
    // What did arrive waits as a .part file (hf-hub's name, which Python ignores) for a rerun.
    assert_eq!(parts_left(&dir).len(), 1);
}

#[test]
fn a_silent_listing_is_given_up_and_a_filled_cache_answers() {
    let hub = FakeHub::start();
    opt_like(&hub, &commit("quiet"));
    let (empty, filled) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let m = fetch_model_with(&cfg(&hub, filled.path()), &repo()).unwrap();
    hub.silent_listing();
    hub.clear_log();
    let quick = |cache: &std::path::Path| {
        let mut c = cfg(&hub, cache);
        c.etag_timeout = Duration::from_millis(300);
        c
    };

    // Without a cache: one line, after the time-out and no retry (not after 60 s of silence).
    let t = Instant::now();
    let (kind, what, hint) =
        hub_error(fetch_model_with(&quick(empty.path()), &repo()).unwrap_err());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(kind, HubErrorKind::Network);
    let want = format!(
        "model test/opt-tiny@main: {} stopped answering (nothing received for 0.3 s)",
        hub.url
    );
    assert_eq!(what, want);
    assert!(hint.contains("HF_HUB_ETAG_TIMEOUT"), "{hint}");
    let listings = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"));
    assert_eq!(
        listings.count(),
        1,
        "a silent server is asked once, not retried"
    );

    // With the snapshot cached, the run goes on from the cache, as when the network is down.
    let t = Instant::now();
    assert_eq!(fetch_model_with(&quick(filled.path()), &repo()).unwrap(), m);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_listing_cut_mid_answer_is_a_network_failure() {
    let hub = FakeHub::start();
    opt_like(&hub, &commit("cut"));
    hub.cut_listing();
    let cache = tempfile::tempdir().unwrap();
    let mut c = cfg(&hub, cache.path());
    c.retries = 1;
    let (kind, what, _) = hub_error(fetch_model_with(&c, &repo()).unwrap_err());
    assert_eq!(kind, HubErrorKind::Network);
    let want = format!(
        "model test/opt-tiny@main: cannot get it from {} after 1 retry: ",
        hub.url
    );
    assert!(what.starts_with(&want), "{what}");
    let listings = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"));
    assert_eq!(listings.count(), 2, "retried once");
}

#[test]
fn a_listing_that_keeps_arriving_is_not_cut_off() {
    let hub = FakeHub::start();
    opt_like(&hub, &commit("slow"));
    // About 1.2 s in all, in pieces 100 ms apart: well past the limit, never silent for it.
    hub.trickle_listing(Duration::from_millis(100));
    let cache = tempfile::tempdir().unwrap();
    let mut c = cfg(&hub, cache.path());
    c.etag_timeout = Duration::from_millis(400);
    let t = Instant::now();
    fetch_model_with(&c, &repo()).unwrap();
    assert!(
        t.elapsed() > Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_transfer_gone_silent_is_given_up_in_one_line_and_no_blob() {
    let hub = FakeHub::start();
    let c = commit("stall");
    opt_like(&hub, &c);
    hub.silent_body("pytorch_model.bin");
    let cache = tempfile::tempdir().unwrap();
    let mut config = cfg(&hub, cache.path());
    config.download_timeout = Duration::from_millis(500);
    let t = Instant::now();
    let (kind, what, hint) = hub_error(fetch_model_with(&config, &repo()).unwrap_err());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(kind, HubErrorKind::Network);
    let want = format!(
        "pytorch_model.bin of model test/opt-tiny@main: {} stopped answering (nothing received for 0.5 s)",
        hub.url
    );
    assert_eq!(what, want);
    assert!(
        hint.contains("HF_HUB_DOWNLOAD_TIMEOUT") && hint.contains("resumes"),
        "{hint}"
    );
    let dir = cache.path().join("models--test--opt-tiny");
    assert_no_weights(&dir, &c);
    // The silent transfer was asked for once: a stall is not retried.
    assert_eq!(hub.body_gets("pytorch_model.bin"), 1);
}

/// Neither the weights' blob nor their snapshot entry exists: nothing looks finished.
fn assert_no_weights(dir: &std::path::Path, c: &str) {
    let blob = dir.join("blobs").join(sha256_hex(&weights_bytes(100_000)));
    assert!(!blob.exists(), "{}", blob.display());
    let link = dir.join("snapshots").join(c).join("pytorch_model.bin");
    assert!(!link.exists(), "{}", link.display());
}
