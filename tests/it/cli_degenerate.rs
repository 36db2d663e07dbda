//! Settings that would run but measure nothing are refused before anything is written: one
//! line, exit 2, with a hint that fits.

use crate::util::{arg, cli};
use std::path::Path;
use tempfile::TempDir;

fn refused(workdir: &Path, args: &[&str]) -> String {
    let out = cli(workdir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains("(hint: "), "{stderr}");
    assert!(
        !workdir.join("evals").exists() || !has_file(&workdir.join("evals"), "chain.json"),
        "{args:?} wrote chain.json"
    );
    stderr
}

fn has_file(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            p.file_name().is_some_and(|n| n == name) || (p.is_dir() && has_file(&p, name))
        })
}

#[test]
fn empty_spec_name_and_continue_longer_than_the_lines() {
    let tmp = TempDir::new().unwrap();
    let w = tmp.path().join("w");
    for (file, body) in [
        ("empty.toml", "name = \"\""),
        ("dash.toml", "name = \"-x\""),
    ] {
        let spec = tmp.path().join(file);
        std::fs::write(&spec, format!("{body}\narms = [\"replace\"]\n")).unwrap();
        let e = refused(&w, &["run", arg(&spec)]);
        assert!(e.contains("is not a plain file name"), "{e}");
    }
    // KJV verses are about 24 words at the median: 40 prompt words leave nothing to write.
    let e = refused(
        &w,
        &[
            "chain",
            "--experiment",
            "k",
            "--protocol",
            "continue:40",
            "--generations",
            "1",
        ],
    );
    assert!(
        e.contains("continue:40") && e.contains("continue:12 or less"),
        "{e}"
    );
}
