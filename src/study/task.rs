//! Which chain of the plan a process runs: `--task I`, or `--task env` for the index a job-array
//! engine puts in the task's environment.

use crate::error::{Error, Result};
use std::str::FromStr;

/// The variables job-array engines set to a task's index, in the order they are looked for.
pub const ENGINE_VARIABLES: &[(&str, &str)] = &[
    ("SLURM_ARRAY_TASK_ID", "Slurm job array"),
    ("JOB_COMPLETION_INDEX", "Kubernetes Indexed Job"),
    ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS Batch array job"),
];

/// `--task`: a plan index, or where to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// `--task 3`.
    Index(usize),
    /// `--task env` (any engine's variable) or `--task env:VAR`.
    Env(Option<String>),
}

fn bad(value: &str) -> Error {
    Error::invalid(
        format!("--task {value} is not a task index"),
        "give a whole number from 0 (`collapse-lab plan SPEC` lists them), `env` for the job \
         array's variable, or `env:VAR` to read VAR",
    )
}

impl FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Task> {
        let s = s.trim();
        if s == "env" {
            return Ok(Task::Env(None));
        }
        if let Some(var) = s.strip_prefix("env:") {
            let ok = !var.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            return if ok {
                Ok(Task::Env(Some(var.to_string())))
            } else {
                Err(bad(s))
            };
        }
        s.parse().map(Task::Index).map_err(|_| bad(s))
    }
}

impl Task {
    /// The index, read from `var` (the environment, in use) when it is given there; with the
    /// variable it came from, for messages.
    pub fn resolve(&self, var: impl Fn(&str) -> Option<String>) -> Result<(usize, String)> {
        let (name, value) = match self {
            Task::Index(i) => return Ok((*i, format!("--task {i}"))),
            Task::Env(Some(name)) => match var(name) {
                Some(v) => (name.clone(), v),
                None => {
                    return Err(Error::invalid(
                        format!("--task env:{name}: {name} is not set"),
                        "start the task from the engine that sets it, or give --task I",
                    ))
                }
            },
            Task::Env(None) => {
                let found = ENGINE_VARIABLES
                    .iter()
                    .find_map(|(name, _)| var(name).map(|v| (name.to_string(), v)));
                match found {
                    Some(f) => f,
                    None => {
                        let names: Vec<&str> = ENGINE_VARIABLES.iter().map(|(n, _)| *n).collect();
                        return Err(Error::invalid(
                            format!(
                                "--task env: no job-array variable is set ({})",
                                names.join(", ")
                            ),
                            "run it as a task of a job array, name the variable with \
                             --task env:VAR, or give --task I",
                        ));
                    }
                }
            }
        };
        match value.trim().parse::<usize>() {
            Ok(i) => Ok((i, format!("{name}={i}"))),
            Err(_) => Err(Error::invalid(
                format!("--task env: {name}={value:?} is not a task index"),
                "the engine should set a whole number from 0; give --task I to choose one",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_engine_variables() {
        let none = |_: &str| None;
        assert_eq!("3".parse::<Task>().unwrap().resolve(none).unwrap().0, 3);
        for bad in ["-1", "x", "1.5", "env:", "env:1A", ""] {
            assert!(bad.parse::<Task>().is_err(), "{bad}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let task = Task::Env(None);
        assert_eq!(
            task.resolve(env(&[("JOB_COMPLETION_INDEX", "4")])).unwrap(),
            (4, "JOB_COMPLETION_INDEX=4".into())
        );
        assert_eq!(
            task.resolve(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0")]))
                .unwrap()
                .0,
            0
        );
        let e = task.resolve(none).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID"), "{e}");
        let e = task
            .resolve(env(&[("SLURM_ARRAY_TASK_ID", "-2")]))
            .unwrap_err();
        assert!(e.to_string().contains("not a task index"), "{e}");
        let mine = "env:MY_INDEX".parse::<Task>().unwrap();
        assert_eq!(mine.resolve(env(&[("MY_INDEX", "7")])).unwrap().0, 7);
        assert!(mine.resolve(none).is_err());
    }
}
