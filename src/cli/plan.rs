//! `plan`: the chains a spec makes, numbered for job arrays, and the scripts for Slurm.

use anyhow::Result;
use collapse_lab::fsutil;
use collapse_lab::spec::{self, Spec};
use collapse_lab::study::plan::Plan;
use collapse_lab::study::slurm::{self, SlurmOptions};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
collapse-lab --workdir /shared/study plan experiments/quickstart.toml\n  \
collapse-lab --workdir /shared/study plan study.toml --slurm --partition gpu --gpus-per-task 1 --time 12:00:00 --max-parallel 8\n  \
bash /shared/study/plans/study-slurm/submit.sh\n\n\
The numbers are kept in <workdir>/plans/<spec>.json: a spec that gains arms or seeds keeps every \
chain's number and appends the new ones. `plan` also fetches what the tasks share (Hub models and \
datasets, into HF_HOME), so that no two tasks download them at once. Each task then runs\n  \
collapse-lab --workdir DIR run SPEC --task env\n\
which reads its number from SLURM_ARRAY_TASK_ID (Slurm), JOB_COMPLETION_INDEX (a Kubernetes \
Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job). The spec is taken as \
written: put a study's settings in its spec, where every task reads them.")]
pub struct PlanArgs {
    /// Experiment spec (TOML), or the name of a built-in one; without one, the quickstart
    pub spec: Option<PathBuf>,
    /// Print the plan as JSON (index, experiment, arm, seed, model, command)
    #[arg(long)]
    pub json: bool,
    /// Write a Slurm job array over the plan and a report job after it (array.sbatch,
    /// report.sbatch, submit.sh) to --out
    #[arg(long)]
    pub slurm: bool,
    /// Folder for the Slurm scripts [default: <workdir>/plans/<spec>-slurm]
    #[arg(long, value_name = "DIR", requires = "slurm")]
    pub out: Option<PathBuf>,
    /// Slurm partition of every task
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// GPUs for each task (a chain uses one)
    #[arg(long, value_name = "N", requires = "slurm")]
    pub gpus_per_task: Option<u32>,
    /// CPU cores for each task (its threads follow)
    #[arg(long, value_name = "N", requires = "slurm")]
    pub cpus_per_task: Option<u32>,
    /// Time limit of each task (minutes, H:M:S or D-H:M:S); a task stopped by it resumes
    /// when resubmitted
    #[arg(long, value_name = "T", requires = "slurm")]
    pub time: Option<String>,
    /// At most K tasks at once (--array=0-N%K)
    #[arg(long, value_name = "K", requires = "slurm")]
    pub max_parallel: Option<u32>,
}

pub fn run(a: PlanArgs, workdir: &Path) -> Result<()> {
    let options = SlurmOptions {
        partition: a.partition.clone(),
        gpus_per_task: a.gpus_per_task,
        cpus_per_task: a.cpus_per_task,
        time: a.time.clone(),
        max_parallel: a.max_parallel,
    };
    options.check()?;
    let (spec, spec_arg) = match &a.spec {
        Some(p) => (spec::load(p)?, spec_argument(p)),
        None => (
            Spec::parse(spec::QUICKSTART, Path::new("quickstart.toml"))?,
            "quickstart".to_string(),
        ),
    };
    let name = spec.name.clone().unwrap_or_else(|| "experiment".into());
    let chains = spec.arms()?;
    fsutil::create_dir_all(workdir)?;
    let workdir =
        std::fs::canonicalize(workdir).map_err(|e| collapse_lab::error::Error::io(workdir, e))?;
    let (plan, new) = Plan::update(&workdir, &name, &chains)?;
    let fetched = collapse_lab::study::prepare(&chains)?;
    let exe = std::env::current_exe()?;
    if a.slurm {
        slurm::check_paths(&workdir)?;
    }
    let q = |p: &Path| slurm::shell_quote(&p.display().to_string());
    let command = |i: usize| {
        format!(
            "{} --workdir {} run {} --task {i}",
            q(&exe),
            q(&workdir),
            slurm::shell_quote(&spec_arg)
        )
    };
    if a.json {
        let rows: Vec<serde_json::Value> = plan
            .chains
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).expect("serializable");
                v["command"] = command(c.index).into();
                v
            })
            .collect();
        let out = serde_json::json!({
            "spec": name,
            "workdir": workdir,
            "plan_file": Plan::path(&workdir, &name),
            "chains": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let rows: Vec<Vec<String>> = plan
            .chains
            .iter()
            .map(|c| {
                vec![
                    c.index.to_string(),
                    c.experiment.clone(),
                    c.arm.clone(),
                    c.seed.to_string(),
                    c.model.clone(),
                    if c.retired {
                        "(no longer in the spec)".into()
                    } else {
                        command(c.index)
                    },
                ]
            })
            .collect();
        let header: Vec<String> = ["index", "experiment", "arm", "seed", "model", "command"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        super::print_table(&[], &header, &rows);
    }
    if !collapse_lab::progress::is_quiet() {
        eprintln!(
            "plan: {} ({} chains, {new} new to it)",
            Plan::path(&workdir, &name).display(),
            plan.chains.len()
        );
        if !fetched.is_empty() {
            eprintln!("fetched for every task: {}", fetched.join(", "));
        }
    }
    if a.slurm {
        let dir = a
            .out
            .clone()
            .unwrap_or_else(|| workdir.join("plans").join(format!("{name}-slurm")));
        let scripts = slurm::scripts(&plan, &exe, &spec_arg, &workdir, &options);
        for (file, text) in &scripts.files {
            fsutil::write_atomic(dir.join(file), text.as_bytes())?;
        }
        set_executable(&dir.join("submit.sh"))?;
        println!(
            "wrote {}: submit with `bash {}`",
            dir.display(),
            dir.join("submit.sh").display()
        );
    }
    Ok(())
}

/// How tasks name the spec: its absolute path, or a built-in spec's name.
fn spec_argument(p: &Path) -> String {
    match std::fs::canonicalize(p) {
        Ok(abs) if abs.is_file() => abs.display().to_string(),
        _ => p.display().to_string(),
    }
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = std::fs::metadata(path)?.permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(path, perm)?;
    Ok(())
}
