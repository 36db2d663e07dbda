//! OPT (Zhang et al. 2022) from the Hugging Face Hub, fine-tuned generation after generation,
//! as in Shumailov et al. (Nature 2024). The model shares GPT-2's attention, training loop,
//! generation and scoring ([`crate::gpt::lm::CausalLm`]); what differs is here.

pub mod config;
pub mod model;
pub mod params;
