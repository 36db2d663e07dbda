//! OPT (Zhang et al. 2022) from the Hugging Face Hub, fine-tuned generation after generation,
//! as in Shumailov et al. (Nature 2024): its configuration, its model (which shares GPT-2's
//! attention through [`crate::lm::layers`]) and its random initialisation for tests and
//! benchmarks.

pub mod config;
pub mod model;
pub mod params;
