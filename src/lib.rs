//! collapse-lab: a laboratory for model collapse.
//!
//! Generation 0 trains on human text; generation g trains on text written by generation g-1
//! (or on a policy's mix of it with real data). Every box reads what the previous one wrote to
//! disk and writes its own output atomically, so a chain can stop anywhere and resume:
//!
//! ```text
//! spec ──► arms (one per policy) ──► chain ──► generation g (chain::stages):
//!     corpus_g = policy(human train, synthetic 0..g-1)      corpora/<exp>/gen-NN/
//!     model_g  = family.train(corpus_g)                     checkpoints/<exp>/gen-NN/
//!     synth_g  = model_g.sample(...)                        corpora/<exp>/gen-NN/
//!     eval_g   = metrics(model_g, human test, synth_g)      evals/<exp>/gen-NN.json
//!  ──► metrics.csv per arm ──► compare, report
//! ```
//!
//! Where things live: `docs/architecture.md`. Neural models: the shared causal-LM machinery in
//! [`lm`], one folder per architecture in [`models`].
//!
//! Library modules return [`error::Error`]; only the binary turns errors into exit codes.

pub mod chain;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod family;
pub mod fsutil;
pub mod hash;
pub mod hub;
pub mod layout;
pub mod lm;
pub mod memory;
pub mod metrics;
pub mod models;
pub mod ngram;
pub mod nn;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rng;
pub mod sampling;
pub mod spec;
pub mod study;
pub mod tokenize;

pub use error::{Error, Result};
