//! The library's typed errors.
//!
//! Every error a user can cause carries a hint: what to do about it. The binary prints
//! `error: <what went wrong> (hint: <what to do>)` on one line and exits with code 2.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: no such file or directory")]
    MissingPath { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: not valid UTF-8 (line {line})")]
    NotUtf8 { path: PathBuf, line: usize },

    #[error("{path}: looks like a binary file, not text")]
    Binary { path: PathBuf },

    #[error("corpus {source_name} has no usable text")]
    EmptyCorpus { source_name: String },

    #[error("corpus {source_name} is too small to split: {what}")]
    CorpusTooSmall { source_name: String, what: String },

    #[error("{path}:{line}: corrupt ARPA file: {what}")]
    BadArpa {
        path: PathBuf,
        line: usize,
        what: String,
    },

    #[error("unknown model `{name}`")]
    UnknownModel { name: String },

    #[error("unknown corpus policy `{name}`")]
    UnknownPolicy { name: String },

    #[error("unknown corpus source `{name}`")]
    UnknownSource { name: String },

    #[error("{path}: bad experiment spec: {what}")]
    BadSpec { path: PathBuf, what: String },

    #[error("{path}: bad JSON: {what}")]
    BadJson { path: PathBuf, what: String },

    #[error("{path}: not writable ({source})")]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("experiment `{name}` is already running (lock held on {path})")]
    Locked { name: String, path: PathBuf },

    /// A tensor operation failed (shape, device or dtype): a bug or a damaged checkpoint.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),

    #[error("tokenizer: {what}")]
    Tokenizer { what: String },

    /// Training diverged; the last good checkpoint is kept.
    #[error("training diverged at step {step}: {what}")]
    Diverged { step: u64, what: String },

    /// A setting that cannot work (e.g. `--generations 0`); `hint` says what would.
    #[error("{what}")]
    Invalid { what: String, hint: String },

    /// The Hugging Face Hub, or its cache when offline, could not give a repository or a file;
    /// `kind` lets callers tell a missing repository from a network failure.
    #[error("{what}")]
    Hub {
        kind: crate::hub::HubErrorKind,
        what: String,
        hint: String,
    },
}

impl Error {
    /// What the user can do about it, in one short sentence.
    pub fn hint(&self) -> String {
        match self {
            Error::MissingPath { .. } => "check the path; corpora are given as a file, a folder, embedded:<name> or hf:<owner>/<name>/<config>".into(),
            Error::Io { source, .. } => {
                use std::io::ErrorKind as K;
                match source.kind() {
                    K::IsADirectory => "this command reads a file: give a file, not a folder".into(),
                    K::NotADirectory => "a part of the path is a file, not a folder".into(),
                    K::PermissionDenied => "check the file's permissions".into(),
                    K::StorageFull => "free some disk space, then rerun (finished work resumes)".into(),
                    K::NotFound => "check the path".into(),
                    _ => "check the path, its permissions and free disk space".into(),
                }
            }
            Error::NotUtf8 { .. } => "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)".into(),
            Error::Binary { .. } => "pass plain text (.txt) or JSONL with a `text` field".into(),
            Error::EmptyCorpus { .. } => "give a corpus with at least a few documents of text".into(),
            Error::CorpusTooSmall { .. } => {
                "use a larger corpus or smaller --valid-frac/--test-frac".into()
            }
            Error::BadArpa { .. } => "rebuild the model with `collapse-lab ngram build`".into(),
            Error::UnknownModel { .. } => "models are ngram:<order> (e.g. ngram:3), gpt:<preset> (nano, tiny, small, gpt2), llama:<preset> (nano, tiny, 15m, 42m) or hf:<owner>/<name>[@rev] (e.g. hf:facebook/opt-125m)".into(),
            Error::UnknownPolicy { .. } => {
                "policies are replace, accumulate, mix:<fraction> (e.g. mix:0.1), accumulate-subsample, fresh:<fraction>".into()
            }
            Error::UnknownSource { .. } => {
                "use embedded:kjv (or akjv, asv, erv), a text/JSONL file, a folder, or hf:<owner>/<name>/<config>".into()
            }
            Error::BadSpec { .. } => "see experiments/quickstart.toml for the keys a spec takes".into(),
            Error::BadJson { .. } => "the file is damaged; delete it and rerun to rebuild it".into(),
            Error::NotWritable { .. } => "choose a writable --workdir".into(),
            Error::Locked { .. } => {
                "wait for the other run to finish, or use another --experiment name".into()
            }
            Error::Tensor(_) => {
                "if a checkpoint was loaded, it may be damaged or of another shape; delete it and rerun".into()
            }
            Error::Tokenizer { .. } => "delete the tokenizer.json and rerun to retrain it".into(),
            Error::Diverged { .. } => {
                "lower the learning rate (--lr) or raise warmup; rerunning resumes from the last good checkpoint".into()
            }
            Error::Invalid { hint, .. } | Error::Hub { hint, .. } => hint.clone(),
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::MissingPath { path }
        } else {
            Error::Io { path, source }
        }
    }
}
