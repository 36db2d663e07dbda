//! The one integration-test binary: the library against reference outputs, and the real CLI
//! run in temporary directories. Tests that need `../shared` (this workplace's reference data)
//! are `#[ignore]`d so a user's `cargo test` passes without it; CI runs them with `--ignored`
//! when `../shared` is present. Ignored tests named `venv_*` need a dev-time Python venv
//! (`.venv`), which CI never has: CI skips them by that prefix.

mod arch_reference;
mod arch_tokenizers;
mod bf16_reference;
mod cli;
mod cli_chain;
mod cli_cluster;
mod cli_degenerate;
mod cli_errors;
mod cli_eval_report;
mod cli_gpt;
mod cli_hub_models;
mod cli_inputs;
mod cli_opt;
mod cli_study;
mod compare;
mod cuda;
mod fake_hub;
mod gpt_generate;
mod gpt_reference;
mod hub;
mod hub_datasets;
mod hub_failures;
mod kenlm_reference;
mod layout;
mod metrics_reference;
mod opt_reference;
mod util;
