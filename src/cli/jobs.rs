//! `run --jobs N`: up to N chains at once, each a child process running `run ... --task I`
//! with its share of the cores, and one progress line per running chain.
//!
//! Processes, not threads: a chain is then exactly what a task of a job array runs (same
//! command, same files), and each one's thread count (`RAYON_NUM_THREADS`, which candle's
//! matrix products also follow) is its own.

use anyhow::Result;
use collapse_lab::chain::ChainSettings;
use collapse_lab::error::Error;
use collapse_lab::study::plan::Plan;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A chain running in a child process.
struct Running {
    experiment: String,
    child: Child,
    bar: ProgressBar,
    /// The child's last line on stderr (its error, when it fails).
    last: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

/// Runs every chain of `chains` (numbered by `plan`), at most `jobs` at once.
pub fn run_jobs(plan: &Plan, chains: &[ChainSettings], jobs: usize) -> Result<()> {
    if jobs == 0 {
        return Err(Error::invalid(
            "--jobs 0 runs nothing",
            "give --jobs 1 or more (at most the number of cores is useful)",
        )
        .into());
    }
    let fetched = collapse_lab::study::prepare(chains)?;
    let quiet = collapse_lab::progress::is_quiet();
    if !fetched.is_empty() && !quiet {
        eprintln!("fetched before starting the chains: {}", fetched.join(", "));
    }
    let mut queue: Vec<(usize, String)> = plan
        .chains
        .iter()
        .filter(|p| chains.iter().any(|c| c.experiment == p.experiment))
        .map(|p| (p.index, p.experiment.clone()))
        .rev()
        .collect();
    let jobs = jobs.min(queue.len()).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / jobs).max(1);
    let multi = if quiet || !std::io::stderr().is_terminal() {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let total = queue.len();
    let mut running: Vec<Running> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut finished = 0;
    loop {
        while running.len() < jobs {
            let Some((index, experiment)) = queue.pop() else {
                break;
            };
            match start(&multi, index, experiment, threads) {
                Ok(r) => running.push(r),
                Err(e) => {
                    stop_all(&mut running);
                    return Err(e);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut i = 0;
        while i < running.len() {
            let status = match running[i].child.try_wait() {
                Ok(s) => s,
                Err(e) => {
                    stop_all(&mut running);
                    return Err(Error::invalid(format!("waiting for a chain: {e}"), "rerun").into());
                }
            };
            let Some(status) = status else {
                i += 1;
                continue;
            };
            let r = running.swap_remove(i);
            let _ = r.reader.join();
            r.bar.finish_and_clear();
            finished += 1;
            let last = r.last.lock().map(|l| l.clone()).unwrap_or_default();
            let line = if status.success() {
                format!("[{finished}/{total}] {} finished", r.experiment)
            } else {
                format!(
                    "[{finished}/{total}] {} failed ({status}): {last}",
                    r.experiment
                )
            };
            if !quiet {
                // Above the bars when they are drawn; a plain line otherwise.
                if multi.is_hidden() {
                    eprintln!("{line}");
                } else {
                    let _ = multi.println(&line);
                }
            }
            if !status.success() {
                failed.push((r.experiment, last));
            }
        }
    }
    if let Some((first, why)) = failed.first() {
        return Err(Error::invalid(
            format!(
                "{} of {total} chains failed; {first}: {}",
                failed.len(),
                why.trim_start_matches("error: ")
            ),
            "fix the cause and rerun the same command: finished generations are kept and the \
             failed chains resume",
        )
        .into());
    }
    Ok(())
}

/// Stops the chains still running (they resume when the command is rerun).
fn stop_all(running: &mut [Running]) {
    for r in running {
        let _ = r.child.kill();
        let _ = r.child.wait();
        r.bar.finish_and_clear();
    }
}

/// Starts `run ... --task index` as this process was started, less `--jobs`.
fn start(
    multi: &MultiProgress,
    index: usize,
    experiment: String,
    threads: usize,
) -> Result<Running> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::invalid(format!("cannot find this program: {e}"), "rerun"))?;
    let mut args: Vec<OsString> = Vec::new();
    let mut skip = false;
    for a in std::env::args_os().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        let s = a.to_string_lossy();
        if s == "--jobs" {
            skip = true;
            continue;
        }
        if s.starts_with("--jobs=") {
            continue;
        }
        args.push(a);
    }
    args.push("--task".into());
    args.push(index.to_string().into());
    let mut child = Command::new(exe)
        .args(&args)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::invalid(format!("cannot start chain {experiment}: {e}"), "rerun"))?;
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})").expect("valid"),
    );
    bar.set_prefix(experiment.clone());
    bar.set_message("starting");
    bar.enable_steady_tick(Duration::from_millis(250));
    let last = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped");
    let (b, l) = (bar.clone(), last.clone());
    // Without a terminal there are no bars: the children's log lines are passed on instead.
    let echo = !collapse_lab::progress::is_quiet() && !std::io::stderr().is_terminal();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            // "[task 3] name gen 4/9: finished in 3 s, ..." shows as "gen 4/9: finished ...".
            b.set_message(match line.split_once(" gen ") {
                Some((_, rest)) => format!("gen {rest}"),
                None => line.clone(),
            });
            if echo {
                eprintln!("{line}");
            }
            if let Ok(mut l) = l.lock() {
                *l = line;
            }
        }
    });
    Ok(Running {
        experiment,
        child,
        bar,
        last,
        reader,
    })
}
