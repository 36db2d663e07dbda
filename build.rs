//! Finds the Bible texts that the `bible-lib` dependency ships and tells the crate where they are.
//!
//! `bible-lib` 1.2.2's own parser cuts every verse at its first `:` (see
//! `src/corpus/embedded.rs`), so we parse its raw `Book Chapter:Verse text` files ourselves. The
//! files must still arrive through the registry dependency (never copied into this repository),
//! so this script finds the unpacked `bible-lib` package and sets
//! `COLLAPSE_LAB_BIBLE_DIR` to its `src/bible_translations` folder, which
//! `embedded.rs` reads with `include_str!`.
//!
//! Where the package is:
//! 1. `cargo metadata --offline` (the package's `manifest_path`): right for the registry, a
//!    vendored copy, a `[patch]` or a path override alike. It runs under a time limit, so a
//!    cargo lock held elsewhere can never hang the build.
//! 2. Otherwise `$CARGO_HOME/registry/src/*/bible-lib-1.2.2` (`CARGO_HOME` defaults to
//!    `~/.cargo`).
//!
//! Neither: the build stops with a message saying what was tried.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The dependency that carries the texts, and the version whose layout this script knows.
const PACKAGE: &str = "bible-lib";
const VERSION: &str = "1.2.2";
/// Where the texts lie inside the package.
const TEXTS: &str = "src/bible_translations";
/// The files `embedded.rs` includes.
const FILES: [&str; 4] = ["kjv.txt", "akjv.txt", "asv.txt", "erv.txt"];
/// How long `cargo metadata` may take before we stop waiting for it.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");

    let mut tried = Vec::new();
    // What this script found is in its stderr (target/*/build/collapse-lab-*/stderr).
    let dir = match from_cargo_metadata() {
        Ok(dir) => {
            eprintln!("bible texts via cargo metadata: {}", dir.display());
            Some(dir)
        }
        Err(e) => {
            eprintln!("cargo metadata did not find the bible texts: {e}");
            tried.push(format!("cargo metadata: {e}"));
            match from_registry() {
                Ok(dir) => {
                    eprintln!("bible texts via the registry cache: {}", dir.display());
                    Some(dir)
                }
                Err(e) => {
                    tried.push(format!("registry search: {e}"));
                    None
                }
            }
        }
    };
    let Some(dir) = dir else {
        panic!(
            "collapse-lab: cannot find the Bible texts of the {PACKAGE} {VERSION} dependency \
             ({TEXTS}/{{{}}}).\n  {}\nFetch the dependency first (`cargo fetch`), or check \
             that Cargo.toml still depends on {PACKAGE} = \"={VERSION}\".",
            FILES.join(","),
            tried.join("\n  ")
        );
    };
    let dir = dir.to_str().unwrap_or_else(|| {
        panic!(
            "collapse-lab: the {PACKAGE} texts are at a path that is not UTF-8: {}",
            dir.display()
        )
    });
    println!("cargo:rustc-env=COLLAPSE_LAB_BIBLE_DIR={dir}");
    // `include_str!` already rebuilds the crate when a text changes; these make the script
    // run again (and look again) if one disappears, e.g. after the cargo cache is cleaned.
    for file in FILES {
        println!("cargo:rerun-if-changed={dir}/{file}");
    }
}

/// The texts folder inside `package_dir`, if all four files are there.
fn texts_in(package_dir: &Path) -> Option<PathBuf> {
    let texts = package_dir.join(TEXTS);
    FILES
        .iter()
        .all(|f| texts.join(f).is_file())
        .then_some(texts)
}

/// Asks cargo where the `bible-lib` package is.
fn from_cargo_metadata() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR unset")?;
    let manifest = Path::new(&manifest_dir).join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "metadata",
        "--format-version",
        "1",
        "--offline",
        "--manifest-path",
    ])
    .arg(&manifest);
    // Only the platforms being built: an offline build has not downloaded the crates other
    // platforms need (e.g. Windows-only ones), and without the filter metadata asks for them.
    let mut platforms: Vec<String> = ["TARGET", "HOST"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    platforms.dedup();
    for p in platforms {
        cmd.args(["--filter-platform", &p]);
    }
    let json = run_with_timeout(&mut cmd, METADATA_TIMEOUT)?;
    // Every package object has exactly one `manifest_path`; the package is the one whose
    // manifest names bible-lib at our version. No JSON parser needed (nor a build dependency).
    let mut rest = json.as_str();
    let key = "\"manifest_path\":";
    while let Some(at) = rest.find(key) {
        rest = rest[at + key.len()..].trim_start();
        let Some((path, after)) = json_string(rest) else {
            return Err("unreadable manifest_path in its output".into());
        };
        rest = after;
        let path = PathBuf::from(path);
        if is_our_package(&path) {
            let dir = path.parent().ok_or("manifest_path without a folder")?;
            return texts_in(dir).ok_or_else(|| {
                format!(
                    "{PACKAGE} {VERSION} is at {} but has no {TEXTS}/{{{}}}",
                    dir.display(),
                    FILES.join(",")
                )
            });
        }
    }
    Err(format!("no package {PACKAGE} {VERSION} in its output"))
}

/// Whether the manifest at `path` is `bible-lib` at [`VERSION`] (its `[package]` name and
/// version lines).
fn is_our_package(path: &Path) -> bool {
    let Ok(toml) = std::fs::read_to_string(path) else {
        return false;
    };
    let mut in_package = false;
    let (mut name, mut version) = (None, None);
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "name" => name = Some(value.to_string()),
                "version" => version = Some(value.to_string()),
                _ => {}
            }
        }
    }
    name.as_deref() == Some(PACKAGE) && version.as_deref() == Some(VERSION)
}

/// Reads the JSON string at the start of `s`; returns it unescaped and the text after it.
fn json_string(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[1 + i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = (0..4).filter_map(|_| chars.next().map(|x| x.1)).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    // Paths are UTF-8 in cargo's output; escaped surrogate pairs do not occur.
                    out.push(char::from_u32(unit)?);
                }
                other => out.push(other), // `\"`, `\\`, `\/`
            },
            c => out.push(c),
        }
    }
    None
}

/// Runs `cmd`, returns its stdout; an error if it fails, or is still running after `limit`
/// (then it is killed).
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    // Read both pipes on threads so a full pipe cannot stall the child while we wait.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running after {}s; stopped", limit.as_secs()));
            }
            Err(e) => return Err(format!("could not wait for it: {e}")),
        }
    };
    let stdout = out
        .join()
        .map_err(|_| "stdout reader panicked")?
        .map_err(|e| format!("could not read its output: {e}"))?;
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!("failed ({status}): {last}"));
    }
    String::from_utf8(stdout).map_err(|_| "output is not UTF-8".into())
}

/// Searches cargo's registry cache: `$CARGO_HOME/registry/src/*/bible-lib-1.2.2`.
fn from_registry() -> Result<PathBuf, String> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(h) => PathBuf::from(h),
        None => {
            let home = std::env::var_os("HOME")
                .or_else(|| std::env::var_os("USERPROFILE"))
                .ok_or("neither CARGO_HOME nor HOME is set")?;
            Path::new(&home).join(".cargo")
        }
    };
    let src = home.join("registry").join("src");
    let entries = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut registries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    registries.sort(); // the same answer on every run, whatever order the folder lists in
    registries
        .iter()
        .find_map(|r| texts_in(&r.join(format!("{PACKAGE}-{VERSION}"))))
        .ok_or_else(|| {
            format!(
                "no {PACKAGE}-{VERSION} with its texts under {}",
                src.display()
            )
        })
}
