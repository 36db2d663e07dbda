//! Progress bars for long steps, silenced by `--quiet` and when stderr is not a terminal user.
//!
//! The library reports progress through [`Progress`] so that tests and `--quiet` runs print
//! nothing, while an interactive run shows what step it is in and how fast it goes.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static QUIET: AtomicBool = AtomicBool::new(false);
/// What the run as a whole is at (`[2/9]`: the second of nine chains), shown before each bar.
static CONTEXT: Mutex<String> = Mutex::new(String::new());

/// Sets the prefix of every bar's message (empty for none).
pub fn set_context(context: &str) {
    if let Ok(mut c) = CONTEXT.lock() {
        *c = context.to_string();
    }
}

/// `message` after the run's context, if any.
pub fn with_context(message: &str) -> String {
    match CONTEXT.lock() {
        Ok(c) if !c.is_empty() => format!("{c} {message}"),
        _ => message.to_string(),
    }
}

/// A line for a log file: printed to stderr when stderr is not a terminal (a batch job, a
/// pipe), where bars draw nothing; a terminal has the bar instead. Silenced by `--quiet`.
pub fn log_line(line: &str) {
    if !is_quiet() && !std::io::stderr().is_terminal() {
        eprintln!("{}", with_context(line));
    }
}

/// Turns every progress bar off (set once by the CLI for `--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A bar with a known length (`len` units of `unit`), or hidden when quiet.
pub fn bar(len: u64, message: &str, unit: &str) -> ProgressBar {
    if is_quiet() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    let template = format!(
        "{{spinner}} {{msg:<28}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})"
    );
    pb.set_style(
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(with_context(message));
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// A spinner for a step of unknown length.
pub fn spinner(message: &str) -> ProgressBar {
    if is_quiet() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}
