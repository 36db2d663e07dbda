//! GPT-2-architecture models trained from scratch: configuration, model, parameters,
//! tokenizer, training and generation.

pub mod config;
pub mod model;
pub mod params;

#[cfg(test)]
mod model_tests;
