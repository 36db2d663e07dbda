//! The neural architectures, one folder each: its `config.json` (serde, mirroring the Hub's),
//! its model read bottom-up, its parameter names and initialisation. What they share (layers,
//! training, generation, scoring) is in [`crate::lm`]; how a chain uses them is in
//! [`crate::family`].

pub mod gpt2;
pub mod gpt_neox;
pub mod llama;
pub mod opt;
