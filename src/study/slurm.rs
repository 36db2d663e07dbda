//! The scripts `plan --slurm` writes: one job array over the plan, each task running
//! `run SPEC --task env`, and a report job that runs once every task has succeeded.
//!
//! Three files, because one `sbatch` script is one job: `array.sbatch`, `report.sbatch`, and
//! `submit.sh`, which submits the first and then the second with `--dependency=afterok` on it.

use super::plan::Plan;
use crate::error::{Error, Result};
use std::fmt::Write;
use std::path::Path;

/// What the cluster is asked for; each `None` is left to the cluster's defaults.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// Slurm's time format: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M` or `D-H:M:S`.
    pub time: Option<String>,
    /// At most this many tasks at once (`--array=0-N%K`).
    pub max_parallel: Option<u32>,
}

impl SlurmOptions {
    /// Refuses values `sbatch` would refuse after the array was written (or worse, accept).
    pub fn check(&self) -> Result<()> {
        if let Some(p) = &self.partition {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ','));
            if !ok {
                return Err(Error::invalid(
                    format!("--partition {p:?} is not a partition name"),
                    "give a name `sinfo -s` lists (letters, digits, '_', '-', '.'; several \
                     separated by ',')",
                ));
            }
        }
        for (flag, v) in [
            ("--gpus-per-task", self.gpus_per_task),
            ("--cpus-per-task", self.cpus_per_task),
            ("--max-parallel", self.max_parallel),
        ] {
            if v == Some(0) {
                return Err(Error::invalid(
                    format!("{flag} 0 asks for nothing"),
                    format!("give {flag} 1 or more, or leave it out for the cluster's default"),
                ));
            }
        }
        if let Some(t) = &self.time {
            if !valid_time(t) {
                return Err(Error::invalid(
                    format!("--time {t:?} is not a Slurm time limit"),
                    "use minutes (90), H:M:S (12:00:00) or D-H:M:S (2-00:00:00)",
                ));
            }
        }
        Ok(())
    }
}

/// Slurm's formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, all numbers.
fn valid_time(t: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(number)
        && parts.iter().all(|p| number(p))
        && match days {
            Some(_) => (1..=3).contains(&parts.len()),
            None => (1..=3).contains(&parts.len()),
        }
}

/// The three scripts, as (file name, text).
pub struct Scripts {
    pub files: Vec<(&'static str, String)>,
}

/// `#SBATCH` lines end at the first space: a workdir whose path has one cannot hold the logs.
pub fn check_paths(workdir: &Path) -> Result<()> {
    let w = workdir.display().to_string();
    if w.contains(char::is_whitespace) {
        return Err(Error::invalid(
            format!("the workdir {w:?} has a space, which #SBATCH --output cannot hold"),
            "give --workdir a path without spaces on the shared filesystem",
        ));
    }
    Ok(())
}

/// Writes the scripts for `plan`. `exe`, `spec` and `workdir` are the paths tasks use: on a
/// cluster, paths every node sees (shared storage).
pub fn scripts(plan: &Plan, exe: &Path, spec: &str, workdir: &Path, o: &SlurmOptions) -> Scripts {
    let live: Vec<usize> = plan
        .chains
        .iter()
        .filter(|c| !c.retired)
        .map(|c| c.index)
        .collect();
    let array = ranges(&live);
    let name = &plan.spec;
    let logs = workdir
        .join("plans")
        .join(format!("{name}-slurm"))
        .join("logs");
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut head = String::new();
    let _ = writeln!(head, "#!/bin/bash");
    let mut array_job = head.clone();
    let _ = writeln!(
        array_job,
        "# Written by `collapse-lab plan {name} --slurm`: one task per chain of the plan\n\
         # ({} chains; `collapse-lab --workdir {} plan {spec}` lists them). Submit with submit.sh.\n\
         # A failed task resumes where it stopped when resubmitted alone: sbatch --array=I array.sbatch",
        live.len(),
        workdir.display()
    );
    let _ = writeln!(array_job, "#SBATCH --job-name=cl-{name}");
    // One task per array element: Slurm 23.11+ refuses --gpus-per-task without a task count.
    let _ = writeln!(array_job, "#SBATCH --ntasks=1");
    let limit = o.max_parallel.map_or(String::new(), |k| format!("%{k}"));
    let _ = writeln!(array_job, "#SBATCH --array={array}{limit}");
    let _ = writeln!(
        array_job,
        "#SBATCH --output={}/task-%a-%A.log",
        logs.display()
    );
    if let Some(p) = &o.partition {
        let _ = writeln!(array_job, "#SBATCH --partition={p}");
    }
    if let Some(n) = o.cpus_per_task {
        let _ = writeln!(array_job, "#SBATCH --cpus-per-task={n}");
    }
    if let Some(n) = o.gpus_per_task {
        let _ = writeln!(array_job, "#SBATCH --gpus-per-task={n}");
    }
    if let Some(t) = &o.time {
        let _ = writeln!(array_job, "#SBATCH --time={t}");
    }
    let _ = writeln!(
        array_job,
        "set -euo pipefail\n\
         # Each task's share of the node: the CPUs Slurm gave it.\n\
         export RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-${{RAYON_NUM_THREADS:-}}}}\n\
         [ -n \"$RAYON_NUM_THREADS\" ] || unset RAYON_NUM_THREADS\n\
         exec {} --workdir {} run {} --task env",
        q(exe),
        q(workdir),
        shell_quote(spec)
    );
    let names: Vec<String> = plan
        .chains
        .iter()
        .filter(|c| !c.retired)
        .map(|c| shell_quote(&c.experiment))
        .collect();
    let mut report = head.clone();
    let _ = writeln!(
        report,
        "# The study's report over every arm and seed, once every task of the array succeeded.\n\
         #SBATCH --job-name=cl-{name}-report\n\
         #SBATCH --output={}/report-%j.log",
        logs.display()
    );
    if let Some(p) = &o.partition {
        let _ = writeln!(report, "#SBATCH --partition={p}");
    }
    let _ = writeln!(
        report,
        "set -euo pipefail\nexec {} --workdir {} report {}",
        q(exe),
        q(workdir),
        names.join(" ")
    );
    let mut submit = head;
    let _ = writeln!(
        submit,
        "# Submits the array, then the report job to run after every task has succeeded. If a\n\
         # task fails, the report job can never start: cancel it (scancel REPORT_ID), resubmit\n\
         # the task (sbatch --array=I array.sbatch; it resumes), then the report (sbatch\n\
         # --dependency=afterok:NEW_ID report.sbatch).\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         mkdir -p {}\n\
         array=$(sbatch --parsable array.sbatch)\n\
         array=${{array%%;*}}\n\
         report=$(sbatch --parsable --dependency=afterok:$array report.sbatch)\n\
         report=${{report%%;*}}\n\
         echo \"submitted job array $array ({} tasks) and report job $report (after every task succeeds)\"",
        q(&logs),
        live.len()
    );
    Scripts {
        files: vec![
            ("array.sbatch", array_job),
            ("report.sbatch", report),
            ("submit.sh", submit),
        ],
    }
}

/// `0-5,7,9-10`: Slurm's array list for sorted indices.
fn ranges(indices: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '=' | ',')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_ranges_and_quoting() {
        for t in ["90", "30:00", "12:00:00", "2-00", "2-12:30", "1-00:00:00"] {
            assert!(valid_time(t), "{t}");
        }
        for t in ["", "3hours", "1:2:3:4", "-5", "1-", "x-1", "1.5"] {
            assert!(!valid_time(t), "{t}");
        }
        assert_eq!(ranges(&[0, 1, 2, 3, 5, 7, 8]), "0-3,5,7-8");
        assert_eq!(ranges(&[4]), "4");
        assert_eq!(shell_quote("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(shell_quote("my dir/it's"), "'my dir/it'\\''s'");
        let o = SlurmOptions {
            time: Some("3hours".into()),
            ..Default::default()
        };
        assert!(o
            .check()
            .unwrap_err()
            .to_string()
            .contains("not a Slurm time limit"));
        let o = SlurmOptions {
            max_parallel: Some(0),
            ..Default::default()
        };
        assert!(o.check().is_err());
        let o = SlurmOptions {
            partition: Some("gpu;rm -rf".into()),
            ..Default::default()
        };
        assert!(o.check().is_err());
    }
}
