//! GPT-2 (Radford et al. 2019), trained from scratch (`gpt:<preset>`): its configuration and
//! presets, its model, its parameter names and initialisation.

pub mod config;
pub mod model;
pub mod params;

use crate::lm::Arch;
use candle_core::Result;
use candle_nn::VarBuilder;
use config::Config;
use model::Gpt2;

impl Arch for Config {
    type Model = Gpt2;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        params::shapes(self)
    }
    /// The original GPT-2 checkpoints on the Hub store names without `transformer.`.
    fn aliases(&self, name: &str) -> Vec<String> {
        name.strip_prefix("transformer.")
            .map(|s| vec![s.to_string()])
            .unwrap_or_default()
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model> {
        Gpt2::load(vb, self)
    }
}

#[cfg(test)]
mod model_tests;
