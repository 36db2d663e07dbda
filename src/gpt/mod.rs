//! GPT-2-architecture models trained from scratch: configuration, model, parameters,
//! tokenizer, training and generation. The training loop, generation and scoring work on any
//! [`lm::CausalLm`]: OPT ([`crate::opt`]) uses them too.

pub mod config;
pub mod data;
pub mod generate;
pub mod lm;
pub mod model;
pub mod params;
pub mod sample;
pub mod score;
pub mod settings;
pub mod tokenizer;
pub mod train;

#[cfg(test)]
mod model_tests;
