//! The `collapse-lab` binary: parse flags, call the library, map errors to exit codes.
//!
//! Exit codes: 0 success; 2 an error (bad input, with a one-line message and a hint); clap's
//! own usage errors are 2 as well.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    collapse_lab::progress::set_quiet(args.quiet);
    init_logging(args.verbose, args.quiet);
    if let Err(e) = cli::run(args) {
        match e.downcast_ref::<collapse_lab::Error>() {
            Some(lib) => eprintln!("error: {lib} (hint: {})", lib.hint()),
            None => eprintln!("error: {e:#}"),
        }
        std::process::exit(2);
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, 0) => tracing::Level::ERROR,
        (_, 0) => tracing::Level::WARN,
        (_, 1) => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
