//! Reading a human corpus from what the user names: `embedded:<name>`, a text file, a JSONL
//! file, a folder of text files, or a Hub dataset (`hf:owner/name/config`, see [`super::hf`]).
//!
//! Why so strict: every later number in a collapse experiment (perplexity, diversity, the
//! generations' drift) is measured against this text, so a corpus that silently lost a file to
//! a bad encoding, or took a PDF for prose, poisons the whole chain. Bad input therefore stops
//! here with an error that names the file and line, and what to do about it.
//!
//! Why paragraphs: prose files wrap lines at ~70 columns, so a file's line breaks are layout, not
//! sentences. A paragraph (lines up to a blank line) is the unit of meaning, so its wrapped lines
//! are joined with one space into one line, the unit an n-gram model brackets with `<s> </s>`.
//! JSONL text is taken as written: its line breaks are the author's.
//!
//! Why groups of lines: the most common layout of LM corpora is one sentence per line with no
//! blank lines (what `lmplz` reads). Joined as paragraphs, such a file would be one document,
//! too few to split. A file with no blank line among at least [`LINES_PER_DOCUMENT`] · 2 lines
//! is therefore read as sentences, each line kept, [`LINES_PER_DOCUMENT`] consecutive lines a
//! document; the source description (in every manifest) says so.
//!
//! Why a sha256 of the input: a manifest must say exactly which bytes a run started from; for a
//! folder that is the sorted list of (relative path, file sha256), so renaming a file counts.

pub use super::LoadedSource;
use super::{Corpus, Document};
use crate::error::{Error, Result};
use crate::fsutil::sha256_hex;
use crate::tokenize;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Lines per document of a file written one sentence per line: enough context for a
/// document-level metric, small enough that a 5% test split holds many documents.
pub const LINES_PER_DOCUMENT: usize = 50;

/// How many leading bytes the binary check looks at.
const SNIFF_BYTES: usize = 8192;

/// Loads a corpus from a spec: `embedded:<name>`, a `.jsonl` file, any other file (plain text),
/// or a folder (every non-hidden regular file below it, recursively, is one document).
pub fn load(spec: &str) -> Result<LoadedSource> {
    let loaded = if let Some(name) = spec.strip_prefix("embedded:") {
        LoadedSource {
            corpus: super::embedded::load(name)?,
            source: format!("embedded:{name}"),
            sha256: None,
        }
    } else if let Some(dataset) = spec.strip_prefix("hf:") {
        super::hf::load(dataset)?
    } else {
        load_path(Path::new(spec))?
    };
    // A corpus with no words cannot train or evaluate anything; say so here, not generations later.
    if !loaded.corpus.docs.iter().any(|d| has_words(&d.text)) {
        return Err(Error::EmptyCorpus {
            source_name: spec.to_string(),
        });
    }
    Ok(loaded)
}

fn load_path(path: &Path) -> Result<LoadedSource> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let abs = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let source = abs.display().to_string();
    if meta.is_dir() {
        let (corpus, sha) = load_folder(path)?;
        return Ok(LoadedSource {
            corpus,
            source,
            sha256: Some(sha),
        });
    }
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha = sha256_hex(&bytes);
    let text = decode(path, bytes)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.clone());
    let is_jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let text = strip_bom(&text);
    let (docs, source) = if is_jsonl {
        (jsonl_documents(path, &file_name, text)?, source)
    } else if is_line_per_sentence(text) {
        let layout =
            format!("{source} (one sentence per line, {LINES_PER_DOCUMENT} lines a document)");
        (line_group_documents(&file_name, text), layout)
    } else {
        (paragraph_documents(&file_name, text), source)
    };
    Ok(LoadedSource {
        corpus: Corpus::new(docs),
        source,
        sha256: Some(sha),
    })
}

/// Reads a text file whose lines are taken as they are (KenLM's convention: a line is a
/// sentence), with the same checks as corpora: it exists, is text, is UTF-8 and has words.
pub fn read_text_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = decode(path, bytes)?;
    if !has_words(&text) {
        return Err(Error::EmptyCorpus {
            source_name: path.display().to_string(),
        });
    }
    Ok(text)
}

/// Checks that bytes are text and turns them into a `String` without copying.
fn decode(path: &Path, bytes: Vec<u8>) -> Result<String> {
    if looks_binary(&bytes) {
        return Err(Error::Binary { path: path.into() });
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        Error::NotUtf8 {
            path: path.into(),
            line: 1 + good.iter().filter(|&&b| b == b'\n').count(),
        }
    })
}

/// A NUL byte, or more than 10% control bytes other than text whitespace, in the first 8 KiB.
/// Why a sniff and not a full scan: binary formats show themselves in their headers, and text
/// files of any size stay cheap to check.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)) || b == 0x7F)
        .count();
    control * 10 > head.len()
}

/// Whether text has at least one KenLM word; stops at the first, unlike counting them all.
fn has_words(text: &str) -> bool {
    tokenize::words(text).next().is_some()
}

/// Editors on Windows start UTF-8 files with a byte-order mark; it is not text.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// One line per paragraph: each paragraph's trimmed lines joined with one space, paragraphs
/// separated by `\n`. Blank (whitespace-only) lines end paragraphs; `\r\n` ends lines too.
fn join_paragraphs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Whether the paragraph being written has text yet, so blank runs give one break.
    let mut open = false;
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            open = false;
            continue;
        }
        if open {
            out.push(' ');
        } else if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
        open = true;
    }
    out
}

/// Whether a text file is written one sentence per line: no blank line between its first and
/// last text line, and at least two documents' worth of lines.
fn is_line_per_sentence(text: &str) -> bool {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines.len() >= 2 * LINES_PER_DOCUMENT && lines.iter().all(|l| !l.trim().is_empty())
}

/// A file of sentences: every [`LINES_PER_DOCUMENT`] lines a document (the last may be
/// shorter), lines kept as they are (trimmed), id `<file name>:<first line>-<last line>`.
fn line_group_documents(file_name: &str, text: &str) -> Vec<Document> {
    let lines: Vec<&str> = text.trim().lines().map(str::trim).collect();
    lines
        .chunks(LINES_PER_DOCUMENT)
        .enumerate()
        .map(|(i, chunk)| {
            let first = i * LINES_PER_DOCUMENT + 1;
            let id = format!("{file_name}:{first}-{}", first + chunk.len() - 1);
            Document::new(id, chunk.join("\n"))
        })
        .filter(|d| has_words(&d.text))
        .collect()
}

/// A plain text file: one document per paragraph, id `<file name>:<paragraph number>`.
fn paragraph_documents(file_name: &str, text: &str) -> Vec<Document> {
    join_paragraphs(text)
        .split('\n')
        .filter(|p| !p.is_empty())
        .enumerate()
        .map(|(i, p)| Document::new(format!("{file_name}:{}", i + 1), p))
        .filter(|d| has_words(&d.text))
        .collect()
}

/// One JSONL line; only `text` is required, other fields are ignored.
#[derive(serde::Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

/// A JSONL file: one document per non-empty line. The id is the line's `id` (a string or a
/// number) when no other document has the same one, else `<file name>:<line number>`; an
/// explicit id that equals such a fallback is not used either, so ids are unique by construction.
fn jsonl_documents(path: &Path, file_name: &str, text: &str) -> Result<Vec<Document>> {
    let mut rows: Vec<(usize, Option<String>, String)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed: JsonLine = serde_json::from_str(line).map_err(|e| Error::BadJson {
            path: path.into(),
            what: format!(
                "line {}: {e} (each line must be an object with a string `text`)",
                i + 1
            ),
        })?;
        let mut body = String::with_capacity(parsed.text.len());
        for l in parsed
            .text
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(l);
        }
        if !has_words(&body) {
            continue;
        }
        let id = match parsed.id {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        rows.push((i + 1, id, body));
    }

    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, id, _) in &rows {
        if let Some(id) = id {
            *counts.entry(id.as_str()).or_default() += 1;
        }
    }
    let lines: HashSet<usize> = rows.iter().map(|r| r.0).collect();
    // Would this explicit id equal the fallback id of some document?
    let is_fallback_like = |id: &str| {
        id.strip_prefix(file_name)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|n| n.parse::<usize>().ok().filter(|v| v.to_string() == n))
            .is_some_and(|n| lines.contains(&n))
    };
    let keep: Vec<bool> = rows
        .iter()
        .map(|(_, id, _)| {
            id.as_deref()
                .is_some_and(|id| counts[id] == 1 && !is_fallback_like(id))
        })
        .collect();
    Ok(rows
        .into_iter()
        .zip(keep)
        .map(|((line, id, body), keep)| match id {
            Some(id) if keep => Document::new(id, body),
            _ => Document::new(format!("{file_name}:{line}"), body),
        })
        .collect())
}

/// A folder: every regular file below it (hidden files and folders skipped), sorted by relative
/// path, is one document whose lines are its paragraphs. Returns the corpus and the folder sha.
fn load_folder(root: &Path) -> Result<(Corpus, String)> {
    let mut files = Vec::new();
    walk(root, "", &mut files)?;
    files.sort();
    // Files are independent, so read and check them in parallel; results keep the sorted order
    // and the first error in that order is reported, so the outcome does not depend on threads.
    let read: Vec<Result<(Option<Document>, String)>> = files
        .par_iter()
        .map(|(rel, path)| {
            let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
            let sha = sha256_hex(&bytes);
            let text = decode(path, bytes)?;
            let doc = Document::new(rel.clone(), join_paragraphs(strip_bom(&text)));
            Ok((has_words(&doc.text).then_some(doc), sha))
        })
        .collect();
    let mut docs = Vec::with_capacity(read.len());
    let mut listing = String::new();
    for ((rel, _), r) in files.iter().zip(read) {
        let (doc, sha) = r?;
        listing.push_str(&format!("{rel}\t{sha}\n"));
        docs.extend(doc);
    }
    Ok((Corpus::new(docs), sha256_hex(listing.as_bytes())))
}

/// Collects `(relative path with '/' separators, path)` of the regular files below `dir`.
/// Symbolic links to files count; links to folders are skipped (they could form cycles).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            // A lossy name could collide with another file's: refuse rather than guess.
            return Err(Error::invalid(
                format!("{}: file name is not UTF-8", path.display()),
                "rename the file, or move it out of the corpus folder",
            ));
        };
        if name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            walk(&path, &child, out)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            out.push((child, path));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
