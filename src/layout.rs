//! Where a run's files live, in one place.
//!
//! ```text
//! corpora/<exp>/human/{train,valid,test}.jsonl (+ .manifest.json)   the split human corpus
//! corpora/<exp>/gen-NN/train.manifest.json       what generation NN trained on (policy recipe)
//! corpora/<exp>/gen-NN/generated.jsonl (+ .manifest.json)  text written by generation NN
//! checkpoints/<exp>/gen-NN/                      the model of generation NN
//! evals/<exp>/chain.json                         the chain's settings
//! evals/<exp>/gen-NN.json                        generation NN's eval (written last)
//! evals/<exp>/metrics.csv                        one row per finished generation
//! ```
//! Paths recorded in manifests are relative to the workdir, so a moved workdir stays valid.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Layout {
    pub workdir: PathBuf,
    pub name: String,
}

impl Layout {
    pub fn new(workdir: &Path, name: &str) -> Self {
        Layout {
            workdir: workdir.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// Experiment names become directory names: letters, digits, `.`, `_`, `-`.
    pub fn check_name(name: &str) -> Result<()> {
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && !name.starts_with('-') // read as a flag by every command that takes names
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                format!("experiment name `{name}` is not a plain file name"),
                "use letters, digits, '.', '_' and '-' (e.g. --experiment kjv-replace)",
            ))
        }
    }

    pub fn corpus_dir(&self) -> PathBuf {
        self.workdir.join("corpora").join(&self.name)
    }
    pub fn human_dir(&self) -> PathBuf {
        self.corpus_dir().join("human")
    }
    pub fn gen_dir(&self, g: u32) -> PathBuf {
        self.corpus_dir().join(format!("gen-{g:02}"))
    }
    pub fn train_manifest(&self, g: u32) -> PathBuf {
        self.gen_dir(g).join("train.manifest.json")
    }
    pub fn generated_corpus(&self, g: u32) -> PathBuf {
        self.gen_dir(g).join("generated.jsonl")
    }
    pub fn generated_manifest(&self, g: u32) -> PathBuf {
        self.gen_dir(g).join("generated.manifest.json")
    }
    pub fn checkpoint_dir(&self, g: u32) -> PathBuf {
        self.workdir
            .join("checkpoints")
            .join(&self.name)
            .join(format!("gen-{g:02}"))
    }
    pub fn eval_dir(&self) -> PathBuf {
        self.workdir.join("evals").join(&self.name)
    }
    pub fn eval_file(&self, g: u32) -> PathBuf {
        self.eval_dir().join(format!("gen-{g:02}.json"))
    }
    pub fn metrics_csv(&self) -> PathBuf {
        self.eval_dir().join("metrics.csv")
    }
    pub fn chain_json(&self) -> PathBuf {
        self.eval_dir().join("chain.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.eval_dir().join(".lock")
    }

    /// `path` relative to the workdir (as recorded in manifests).
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.workdir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// Removes temporary files a killed run left (`.<name>.tmp-<host>-<pid>`); they never look
    /// finished, but they take space.
    pub fn remove_stale_temporaries(&self) {
        let roots = [
            self.corpus_dir(),
            self.workdir.join("checkpoints").join(&self.name),
            self.eval_dir(),
        ];
        let mut stack: Vec<PathBuf> = roots.into_iter().filter(|p| p.is_dir()).collect();
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if p.is_dir() {
                    stack.push(p);
                } else if name.starts_with('.') && name.contains(".tmp-") {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
}
