//! Corpora: documents of text, where they come from, how they are split, and how generations mix.
//!
//! A [`Corpus`] is a list of [`Document`]s. A document's text is a sequence of lines separated
//! by `\n`; a line is a sentence or a paragraph, the unit an n-gram model brackets with `<s>` and
//! `</s>`. On disk a corpus is JSONL, one document per line (`{"id": ..., "text": ...}`), so any
//! corpus we write is also a valid input, and its bytes (hence its sha256) are deterministic.
//!
//! - [`source`]: reading human corpora (embedded, text files and folders, JSONL).
//! - [`hf`]: Hub datasets (parquet) as human corpora, with their official split.
//! - [`split`]: the deterministic train/valid/test split by document.
//! - [`manifest`]: the provenance record written next to every corpus.
//! - [`policy`]: what generation g trains on (replace, accumulate, mix, accumulate-subsample).

pub mod embedded;
pub mod fresh;
pub mod hf;
pub mod manifest;
pub mod policy;
pub mod source;
pub mod split;

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::tokenize;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// One document: an id (stable across runs) and its text, lines separated by `\n`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub text: String,
}

impl Document {
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
        }
    }

    /// The document's lines (sentences or paragraphs), empty ones skipped.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text
            .split('\n')
            .filter(|l| tokenize::words(l).next().is_some())
    }

    /// KenLM tokens (words) in the document.
    pub fn words(&self) -> usize {
        tokenize::count_words(&self.text)
    }
}

/// An ordered list of documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corpus {
    pub docs: Vec<Document>,
}

/// Sizes of a corpus, as recorded in manifests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusStats {
    pub documents: usize,
    pub lines: usize,
    /// KenLM tokens (whitespace-separated words), without `<s>`/`</s>`.
    pub tokens: usize,
    pub bytes: usize,
}

impl Corpus {
    pub fn new(docs: Vec<Document>) -> Self {
        Corpus { docs }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// All lines of all documents, in order.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.docs.iter().flat_map(|d| d.lines())
    }

    pub fn stats(&self) -> CorpusStats {
        let mut s = CorpusStats {
            documents: self.docs.len(),
            ..Default::default()
        };
        for d in &self.docs {
            s.bytes += d.text.len();
            for l in d.lines() {
                s.lines += 1;
                s.tokens += tokenize::count_words(l);
            }
        }
        s
    }

    /// Writes JSONL atomically and returns the sha256 of the bytes written.
    pub fn write_jsonl(&self, path: &Path) -> Result<String> {
        let bytes = self.to_jsonl_bytes();
        let mut f = AtomicFile::create(path)?;
        f.write_all(&bytes).map_err(|e| Error::io(path, e))?;
        f.commit()?;
        Ok(crate::fsutil::sha256_hex(&bytes))
    }

    /// The exact bytes [`Corpus::write_jsonl`] writes.
    pub fn to_jsonl_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.docs.iter().map(|d| d.text.len() + 32).sum());
        for d in &self.docs {
            serde_json::to_writer(&mut out, d).expect("documents always serialize");
            out.push(b'\n');
        }
        out
    }

    /// Reads a JSONL corpus this crate wrote (`id` and `text` on every line).
    pub fn read_jsonl(path: &Path) -> Result<Corpus> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut docs = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => Error::NotUtf8 {
                    path: path.into(),
                    line: i + 1,
                },
                _ => Error::io(path, e),
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let doc: Document = serde_json::from_str(&line).map_err(|e| Error::BadJson {
                path: path.into(),
                what: format!("line {}: {e}", i + 1),
            })?;
            docs.push(doc);
        }
        Ok(Corpus { docs })
    }

    /// sha256 of the JSONL form.
    pub fn sha256(&self) -> String {
        crate::fsutil::sha256_hex(&self.to_jsonl_bytes())
    }
}

/// A corpus and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedSource {
    pub corpus: Corpus,
    /// Canonical description: `embedded:kjv`, the absolute path of the file or folder, or
    /// `hf:owner/name/config@<commit>`.
    pub source: String,
    /// sha256 of the input bytes (files), of the sorted `(relative path, sha256)` list
    /// (folders; Hub datasets, of their parquet files), or `None` (embedded corpora, whose
    /// bytes are fixed by the binary's version).
    pub sha256: Option<String>,
}

/// A corpus split three ways, plus the record of how.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Corpus,
    pub valid: Corpus,
    pub test: Corpus,
    pub info: manifest::SplitInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trip_and_stats() {
        let c = Corpus::new(vec![
            Document::new("a", "one two\nthree \"quoted\"\n\n"),
            Document::new("b", "four\tfive six"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        let sha = c.write_jsonl(&p).unwrap();
        assert_eq!(sha, c.sha256());
        let back = Corpus::read_jsonl(&p).unwrap();
        assert_eq!(back, c);
        let s = c.stats();
        assert_eq!((s.documents, s.lines, s.tokens), (2, 3, 7));
    }
}
