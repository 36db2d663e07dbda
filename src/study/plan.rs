//! The plan: every chain of a spec under a stable index, kept in `<workdir>/plans/<spec>.json`.
//!
//! Why a file and not an order computed from the spec: a task number must keep naming the same
//! chain when the spec grows (a task resubmitted after a seed was added must still run its
//! chain), and no order computed from the spec alone can do that with contiguous numbers: a
//! spec grown by an arm and then a seed looks the same as one grown by a seed and then an arm,
//! yet the chains indexed first must keep their numbers in both. So the first plan numbers the
//! chains in the spec's order (arms in turn, each arm's seeds in turn), and a later plan keeps
//! every number it finds and appends the chains new to it in the same order. A chain dropped
//! from the spec keeps its number, marked retired; numbers are never reused.

use crate::chain::ChainSettings;
use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One chain of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChain {
    pub index: usize,
    pub experiment: String,
    pub arm: String,
    pub seed: u64,
    pub model: String,
    /// No longer in the spec: its number stays taken, and a task given it refuses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

/// Every chain of a spec, by index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub spec: String,
    pub chains: Vec<PlannedChain>,
}

impl Plan {
    /// `<workdir>/plans/<spec>.json`.
    pub fn path(workdir: &Path, spec: &str) -> PathBuf {
        workdir.join("plans").join(format!("{spec}.json"))
    }

    /// The plan on disk, if there is one.
    pub fn read(workdir: &Path, spec: &str) -> Result<Option<Plan>> {
        let path = Plan::path(workdir, spec);
        if !path.exists() {
            return Ok(None);
        }
        fsutil::read_json(&path).map(Some)
    }

    /// `old` with `chains` merged in: known chains keep their numbers, new ones are appended
    /// in the spec's order, chains no longer in the spec are retired.
    pub fn merge(spec: &str, old: Option<Plan>, chains: &[ChainSettings]) -> Plan {
        let mut plan = old.unwrap_or(Plan {
            spec: spec.to_string(),
            chains: Vec::new(),
        });
        for p in &mut plan.chains {
            p.retired = !chains.iter().any(|c| c.experiment == p.experiment);
        }
        for c in chains {
            if !plan.chains.iter().any(|p| p.experiment == c.experiment) {
                plan.chains.push(PlannedChain {
                    index: plan.chains.len(),
                    experiment: c.experiment.clone(),
                    arm: arm_name(spec, c),
                    seed: c.seed,
                    model: c.model.spec().to_string(),
                    retired: false,
                });
            }
        }
        plan
    }

    /// Indexes `chains` in the workdir's plan and writes it when that changes it; returns the
    /// plan and how many chains were new to it. Processes that index the same spec at the same
    /// instant compute the same bytes, and each write is a rename of a whole file, so whichever
    /// lands last leaves the same plan and no reader ever sees half of one.
    pub fn update(workdir: &Path, spec: &str, chains: &[ChainSettings]) -> Result<(Plan, usize)> {
        // One writer at a time: two updates with different chains would otherwise both
        // append, and the last rename would give one number to two chains.
        let lock_path = workdir.join("plans").join(format!(".{spec}.lock"));
        let _lock = fsutil::Lock::acquire(&lock_path, spec).map_err(|e| match e {
            Error::Locked { .. } => Error::invalid(
                format!("the plan of `{spec}` is being updated by another process"),
                "wait for that `plan` or `run` to finish indexing, then rerun",
            ),
            e => e,
        })?;
        let old = Plan::read(workdir, spec)?;
        let before = old.as_ref().map_or(0, |p| p.chains.len());
        let plan = Plan::merge(spec, old.clone(), chains);
        if old.as_ref() != Some(&plan) {
            fsutil::write_json(Plan::path(workdir, spec), &plan)?;
        }
        let new = plan.chains.len() - before;
        Ok((plan, new))
    }

    /// The plan on disk, or, when there is none, the first plan of `chains`, created so that
    /// of processes starting at the same instant exactly one writes it (a hard link never
    /// replaces a file) and the others read it. Tasks only read a plan that exists: flags
    /// that make other chains (`--seed`, `--model`) must not renumber a submitted array.
    pub fn existing_or_first(workdir: &Path, spec: &str, chains: &[ChainSettings]) -> Result<Plan> {
        if let Some(p) = Plan::read(workdir, spec)? {
            return Ok(p);
        }
        let path = Plan::path(workdir, spec);
        let plan = Plan::merge(spec, None, chains);
        let tmp = path.with_file_name(format!(
            ".{spec}.json.new-{}-{}",
            fsutil::host(),
            std::process::id()
        ));
        fsutil::write_json(&tmp, &plan)?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(plan),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Plan::read(workdir, spec)?.ok_or_else(|| Error::io(&path, e))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Chain `i`, refused in one line when there is none or it was retired.
    pub fn get(&self, i: usize, source: &str) -> Result<&PlannedChain> {
        let last = self.chains.len().saturating_sub(1);
        match self.chains.get(i) {
            None => Err(Error::invalid(
                format!(
                    "{source}: the plan of `{}` has chains 0 to {last}, not {i}",
                    self.spec
                ),
                format!(
                    "`collapse-lab plan SPEC` lists them; an array over them is --array=0-{last}"
                ),
            )),
            Some(p) if p.retired => Err(Error::invalid(
                format!(
                    "{source}: chain {i} ({}) is no longer in the spec `{}`",
                    p.experiment, self.spec
                ),
                "its number stays taken; run the plan's other indices (`collapse-lab plan SPEC`)",
            )),
            Some(p) => Ok(p),
        }
    }
}

/// The arm of a chain named `<spec>-<arm>` or `<spec>-<arm>-s<seed>`.
fn arm_name(spec: &str, c: &ChainSettings) -> String {
    let e = c.experiment.as_str();
    let e = e.strip_prefix(&format!("{spec}-")).unwrap_or(e);
    let seed = format!("-s{}", c.seed);
    e.strip_suffix(seed.as_str()).unwrap_or(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn chains(arms: &str, seeds: &str) -> Vec<ChainSettings> {
        let text = format!("arms = [{arms}]\nseeds = [{seeds}]\n");
        Spec::parse(&text, Path::new("s.toml"))
            .unwrap()
            .arms()
            .unwrap()
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.chains.iter().map(|c| c.experiment.as_str()).collect()
    }

    #[test]
    fn numbers_survive_appended_arms_and_seeds_in_either_order() {
        let first = Plan::merge("s", None, &chains("\"replace\", \"accumulate\"", "1, 2"));
        assert_eq!(
            names(&first),
            [
                "s-replace-s1",
                "s-replace-s2",
                "s-accumulate-s1",
                "s-accumulate-s2"
            ]
        );
        assert_eq!(
            (first.chains[2].arm.as_str(), first.chains[2].seed),
            ("accumulate", 1)
        );
        // A seed, then an arm.
        let a = Plan::merge(
            "s",
            Some(first.clone()),
            &chains("\"replace\", \"accumulate\"", "1, 2, 3"),
        );
        let a = Plan::merge(
            "s",
            Some(a),
            &chains("\"replace\", \"accumulate\", \"mix:0.1\"", "1, 2, 3"),
        );
        // An arm, then a seed.
        let b = Plan::merge(
            "s",
            Some(first.clone()),
            &chains("\"replace\", \"accumulate\", \"mix:0.1\"", "1, 2"),
        );
        let b = Plan::merge(
            "s",
            Some(b),
            &chains("\"replace\", \"accumulate\", \"mix:0.1\"", "1, 2, 3"),
        );
        for p in [&a, &b] {
            assert_eq!(names(p)[..4], names(&first)[..]);
            assert_eq!(p.chains.len(), 9);
            assert!(p
                .chains
                .iter()
                .enumerate()
                .all(|(i, c)| c.index == i && !c.retired));
        }
        assert_eq!(names(&a)[4..6], ["s-replace-s3", "s-accumulate-s3"]);
        assert_eq!(names(&b)[4..6], ["s-mix0.1-s1", "s-mix0.1-s2"]);
        // A dropped arm keeps its numbers, retired; the same spec again changes nothing.
        let c = Plan::merge("s", Some(first.clone()), &chains("\"replace\"", "1, 2"));
        assert!(c.chains[2].retired && c.chains[3].retired && !c.chains[0].retired);
        assert!(c
            .get(2, "--task 2")
            .unwrap_err()
            .to_string()
            .contains("no longer in the spec"));
        let e = c.get(4, "--task 4").unwrap_err().to_string();
        assert!(e.contains("chains 0 to 3, not 4"), "{e}");
        let same = Plan::merge(
            "s",
            Some(first.clone()),
            &chains("\"replace\", \"accumulate\"", "1, 2"),
        );
        assert_eq!(same, first);
    }
}
