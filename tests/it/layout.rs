//! The source tree's shape, as `docs/architecture.md` states it: no import circles between
//! modules (each module's non-test code names only modules that do not name it back), and
//! files of a readable size.
//!
//! A module is a file (`a/b.rs`) or a folder (`a/b/mod.rs`); `use crate::x::y` and
//! `super::y` paths in code (not in comments or tests) are its edges, resolved to the longest
//! module they name. A path into an enclosing module (`super::Thing` defined in `mod.rs`) is
//! not an edge: a parent holding its children's shared types is the point of a folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_test_file(file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// The code of a file before its tests, without comment lines.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    // Tests start at `#[cfg(test)]` on a module (the attribute also marks test-only items).
    let cut = text
        .match_indices("#[cfg(test)]")
        .find(|(i, m)| {
            let rest = text[i + m.len()..].trim_start();
            rest.starts_with("mod ") || rest.starts_with("#[path")
        })
        .map_or(text.len(), |(i, _)| i);
    let before_tests = &text[..cut];
    before_tests
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Module paths named in `code` (`crate::a::b`, `super::c`), as written.
fn named_paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for (root, is_crate) in [("crate::", true), ("super::", false)] {
        let mut rest = code;
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            rest = &rest[i + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `$crate::`, or a longer identifier
            }
            let mut parts = Vec::new();
            let mut s = rest;
            loop {
                let end = s
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(s.len());
                if end == 0 {
                    break;
                }
                parts.push(s[..end].to_string());
                match s[end..].strip_prefix("::") {
                    Some(next) => s = next,
                    None => break,
                }
            }
            out.push((is_crate, parts));
        }
    }
    out
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for f in files.iter().filter(|f| !is_test_file(f)) {
        let me = module_of(&src, f);
        let deps = edges.entry(me.clone()).or_default();
        for (is_crate, parts) in named_paths(&code(f)) {
            let mut path: Module = if is_crate {
                Vec::new()
            } else {
                me[..me.len().saturating_sub(1)].to_vec()
            };
            path.extend(parts);
            while !path.is_empty() && !modules.contains(&path) {
                path.pop();
            }
            let enclosing = path.len() <= me.len() && me[..path.len()] == path[..];
            if !path.is_empty() && !enclosing {
                deps.insert(path);
            }
        }
    }
    edges
}

/// A module that reaches itself through others, if any: the circle, in order.
fn find_circle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            return Some(stack[i..].to_vec());
        }
        if !done.insert(m.clone()) {
            return None;
        }
        stack.push(m.clone());
        for d in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = graph();
    // The check sees edges: the chain stages use the report's record, the models the layers.
    let has = |a: &[&str], b: &[&str]| {
        let key: Module = a.iter().map(|s| s.to_string()).collect();
        let dep: Module = b.iter().map(|s| s.to_string()).collect();
        edges.get(&key).is_some_and(|d| d.contains(&dep))
    };
    assert!(has(&["chain", "stages"], &["report", "record"]));
    assert!(has(&["models", "gpt2", "model"], &["lm", "layers"]));
    if let Some(circle) = find_circle(&edges) {
        let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
        panic!("import circle: {} -> back", names.join(" -> "));
    }
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    assert_eq!(find_circle(&edges).map(|c| c.len()), Some(3));
    edges.insert(m("c"), BTreeSet::new());
    assert_eq!(find_circle(&edges), None);
    assert_eq!(
        named_paths("use crate::lm::layers::{A, B};\nlet x = super::y::z(1);\n$crate::no"),
        vec![
            (true, vec!["lm".into(), "layers".into()]),
            (false, vec!["y".into(), "z".into()])
        ]
    );
}

#[test]
fn source_files_stay_readable() {
    // About 400 lines (docs/architecture.md); a file past this wants splitting at a seam.
    const MOST: usize = 450;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MOST).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MOST} lines: {long:?}");
}
