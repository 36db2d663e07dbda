//! A study on more than one process: the chains a spec makes, indexed once so that a job array
//! (Slurm, a Kubernetes Indexed Job, an AWS Batch array) can hand each task one chain by number.
//!
//! The unit of work stays the chain: resumable, with atomic files, under its own lock. What
//! this module adds is the index ([`plan`]), the task number an engine gives a process
//! ([`task`]), the scripts a Slurm cluster runs ([`slurm`]), and the data every task shares,
//! fetched once before any task starts ([`prepare`]).

pub mod plan;
pub mod slurm;
pub mod task;

use crate::chain::{ChainModel, ChainSettings};
use crate::error::Result;
use std::collections::BTreeSet;

/// Fetches what the chains share and would otherwise each download at the same instant: Hub
/// datasets and Hub models, into the Hub cache (`HF_HOME`; on a cluster, shared storage).
/// Run by `plan` before an array is submitted and by `run --jobs` before its chains start, so
/// no two tasks race to write one file of the cache and none reads one half-written. Human
/// splits need nothing here: each chain writes its own, under its own lock.
pub fn prepare(chains: &[ChainSettings]) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let corpora: BTreeSet<&str> = chains
        .iter()
        .map(|c| c.corpus.as_str())
        .filter(|c| c.starts_with("hf:"))
        .collect();
    for corpus in corpora {
        crate::corpus::source::load(corpus)?;
        done.push(format!("dataset {corpus}"));
    }
    let mut models = BTreeSet::new();
    for c in chains {
        if let ChainModel::Hf { repo, .. } = &c.model {
            if models.insert(repo.clone()) {
                crate::hub::fetch_model(&repo.parse()?, false)?;
                done.push(format!("model {repo}"));
            }
        }
    }
    Ok(done)
}
