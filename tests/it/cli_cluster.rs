//! A study split over processes: `plan`, `run --task` (many at once on one workdir, as a job
//! array's tasks start), `run --jobs`, the Slurm scripts, and their bad input. Each way ends
//! with exactly the files of one `run` in one process.

use crate::util::{arg, assert_same_outputs, cli, cli_command, cli_ok, small_corpus};
use std::path::Path;
use tempfile::TempDir;

fn spec(dir: &Path) -> std::path::PathBuf {
    let corpus = small_corpus(dir);
    let p = dir.join("study.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"study\"\ncorpus = \"{}\"\narms = [\"replace\", \"accumulate\"]\n\
             seeds = [1, 2, 3]\ngenerations = 2\n",
            arg(&corpus)
        ),
    )
    .unwrap();
    p
}

/// Starts every task of the plan at the same instant, as an array engine does, and waits.
fn tasks_together(w: &Path, spec: &Path, n: usize, by_env: bool) {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let mut c = if by_env {
                let mut c = cli_command(w, &["run", arg(spec), "--task", "env"]);
                c.env("SLURM_ARRAY_TASK_ID", i.to_string());
                c
            } else {
                cli_command(w, &["run", arg(spec), "--task", &i.to_string()])
            };
            c.stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
}

#[test]
fn tasks_and_jobs_end_with_the_files_of_one_run() {
    let tmp = TempDir::new().unwrap();
    let spec = spec(tmp.path());
    let one = tmp.path().join("one");
    cli_ok(&one, &["run", arg(&spec)]);
    let names: Vec<String> = ["replace", "accumulate"]
        .iter()
        .flat_map(|a| (1..=3).map(move |s| format!("study-{a}-s{s}")))
        .collect();
    let report: Vec<&str> = std::iter::once("report")
        .chain(names.iter().map(String::as_str))
        .collect();

    // A job array: `plan` first, then every task at once, reading SLURM_ARRAY_TASK_ID.
    let array = tmp.path().join("array");
    let listed = cli_ok(&array, &["plan", arg(&spec)]);
    for (i, n) in names.iter().enumerate() {
        let line = listed.lines().find(|l| l.contains(n.as_str())).unwrap();
        assert!(line.trim_start().starts_with(&format!("{i} ")), "{line}");
        assert!(line.ends_with(&format!("--task {i}")), "{line}");
    }
    tasks_together(&array, &spec, 6, true);
    cli_ok(&array, &report);
    assert_same_outputs(&one, &array);

    // Numbered tasks with no plan yet: they all write the same plan, whichever lands last.
    let numbered = tmp.path().join("numbered");
    tasks_together(&numbered, &spec, 6, false);
    cli_ok(&numbered, &report);
    assert_same_outputs(&one, &numbered);
    assert_eq!(
        std::fs::read(one.join("plans/study.json")).unwrap(),
        std::fs::read(numbered.join("plans/study.json")).unwrap()
    );

    // --jobs: two chains at a time in child processes.
    let jobs = tmp.path().join("jobs");
    cli_ok(&jobs, &["run", arg(&spec), "--jobs", "2"]);
    assert_same_outputs(&one, &jobs);

    // A task resumes: its chain extended by a generation is the chain one run makes.
    let out = cli(
        &jobs,
        &["run", arg(&spec), "--task", "3", "--generations", "3"],
    );
    assert!(out.status.success());
    assert!(jobs.join("evals/study-accumulate-s1/gen-02.json").is_file());
    assert!(!jobs.join("evals/study-accumulate-s2/gen-02.json").exists());
}

#[test]
fn slurm_scripts_and_bad_input() {
    let tmp = TempDir::new().unwrap();
    let spec = spec(tmp.path());
    let w = tmp.path().join("w");
    let out = cli_ok(
        &w,
        &[
            "plan",
            arg(&spec),
            "--slurm",
            "--partition",
            "gpu",
            "--gpus-per-task",
            "1",
            "--cpus-per-task",
            "4",
            "--time",
            "12:00:00",
            "--max-parallel",
            "2",
        ],
    );
    assert!(out.contains("submit.sh"), "{out}");
    let dir = w.join("plans/study-slurm");
    let array = std::fs::read_to_string(dir.join("array.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-5%2",
        "#SBATCH --ntasks=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=12:00:00",
        "--task env",
        "task-%a-%A.log",
    ] {
        assert!(array.contains(want), "{want} not in:\n{array}");
    }
    let report = std::fs::read_to_string(dir.join("report.sbatch")).unwrap();
    assert!(
        report.contains("report study-replace-s1 study-replace-s2"),
        "{report}"
    );
    let submit = std::fs::read_to_string(dir.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=afterok:$array"), "{submit}");

    let refused = |args: &[&str], env: Option<(&str, &str)>, want: &str| {
        let mut c = cli_command(&w, args);
        for (v, _) in collapse_lab::study::task::ENGINE_VARIABLES {
            c.env_remove(v);
        }
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(want) && err.contains("(hint: "),
            "{args:?}: {err}"
        );
    };
    let s = arg(&spec);
    refused(&["run", s, "--task", "6"], None, "has chains 0 to 5, not 6");
    refused(&["run", s, "--task", "-1"], None, "is not a task index");
    refused(&["run", s, "--task", "two"], None, "is not a task index");
    refused(
        &["run", s, "--task", "env"],
        None,
        "no job-array variable is set",
    );
    refused(
        &["run", s, "--task", "env"],
        Some(("SLURM_ARRAY_TASK_ID", "x")),
        "is not a task index",
    );
    refused(
        &["plan", s, "--slurm", "--time", "3hours"],
        None,
        "not a Slurm time limit",
    );
    refused(
        &["plan", s, "--slurm", "--max-parallel", "0"],
        None,
        "asks for nothing",
    );
    refused(&["run", s, "--jobs", "0"], None, "--jobs 0 runs nothing");
    // Flags that make other chains do not renumber a planned array.
    let plan_file = std::fs::read(w.join("plans/study.json")).unwrap();
    refused(
        &["run", s, "--task", "0", "--seed", "5"],
        None,
        "does not make",
    );
    assert_eq!(
        std::fs::read(w.join("plans/study.json")).unwrap(),
        plan_file
    );
    // A task whose workdir was not planned: not the folder the array was planned in.
    let elsewhere = tmp.path().join("elsewhere");
    let o = cli_command(&elsewhere, &["run", s, "--task", "env"])
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no plan for `study`") && err.contains("storage they all share"),
        "{err}"
    );
    assert!(!elsewhere.join("evals").exists());
}
