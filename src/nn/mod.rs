//! What candle-nn lacks for training: differentiable normalisation and softmax, AdamW with
//! parameter groups and clipping, learning-rate schedules.
//!
//! Why our own: in candle-nn 0.11 `LayerNorm::forward`, `ops::layer_norm`,
//! `ops::softmax_last_dim` and `rms_norm` are fused kernels with no backward pass, so
//! gradients silently stop at them (candle issues #2168, #3011, #3569, #3752). The versions
//! here are built from ops that candle differentiates, and a test checks that every parameter
//! of the GPT gets a gradient. On the CPU they run as fused kernels with their own backward
//! passes ([`fused`]): candle's per-op CPU autograd was most of a training step.

pub mod adamw;
pub mod bf16;
pub mod fused;
pub mod grad_sink;
pub mod ops;
pub mod precision;
pub mod safetensors;
