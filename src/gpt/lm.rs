//! What the training loop, generation and scoring need from a causal language model, so GPT-2
//! (trained from scratch) and OPT (fine-tuned from the Hub) share them.
//!
//! [`Arch`] is a model's `config.json` (serde, compared on resume) that knows its parameter
//! names and shapes and builds the model from named tensors; [`CausalLm`] is the built model.

use super::model::{Dropout, KvCache};
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A decoder-only language model.
pub trait CausalLm {
    /// Logits (b, t, vocab) for token ids (b, t). With a cache, the ids continue the cached
    /// positions and the cache is extended; with `drop`, dropout is applied (training).
    fn forward(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        drop: Option<Dropout>,
    ) -> Result<Tensor>;
    /// Mean next-token cross-entropy of blocks (b, t+1): inputs the first t ids, targets the
    /// last t.
    fn block_loss(&self, blocks: &Tensor, drop: Option<Dropout>) -> Result<Tensor>;
    /// The most positions the model has embeddings for.
    fn n_positions(&self) -> usize;
    fn n_layer(&self) -> usize;
    fn vocab_size(&self) -> usize;
    fn device(&self) -> &Device;
}

/// A model configuration: parameter names and shapes, and how to build the model.
pub trait Arch: Clone + PartialEq + Serialize + DeserializeOwned {
    type Model: CausalLm;
    /// Every trainable parameter, Hugging Face state-dict names, in a fixed order.
    fn shapes(&self) -> Vec<(String, Vec<usize>)>;
    /// Other names a checkpoint on the Hub may store `name` under (checked after `name`).
    fn aliases(&self, name: &str) -> Vec<String> {
        let _ = name;
        Vec::new()
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model>;
}

impl CausalLm for super::model::Gpt2 {
    fn forward(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        drop: Option<Dropout>,
    ) -> Result<Tensor> {
        super::model::Gpt2::forward(self, ids, cache, drop)
    }
    fn block_loss(&self, blocks: &Tensor, drop: Option<Dropout>) -> Result<Tensor> {
        super::model::block_loss(self, blocks, drop)
    }
    fn n_positions(&self) -> usize {
        self.cfg.n_positions
    }
    fn n_layer(&self) -> usize {
        self.cfg.n_layer
    }
    fn vocab_size(&self) -> usize {
        self.cfg.vocab_size
    }
    fn device(&self) -> &Device {
        super::model::Gpt2::device(self)
    }
}

impl Arch for super::config::Config {
    type Model = super::model::Gpt2;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        super::params::shapes(self)
    }
    /// The original GPT-2 checkpoints on the Hub store names without `transformer.`.
    fn aliases(&self, name: &str) -> Vec<String> {
        name.strip_prefix("transformer.")
            .map(|s| vec![s.to_string()])
            .unwrap_or_default()
    }
    fn build(&self, vb: VarBuilder) -> Result<Self::Model> {
        super::model::Gpt2::load(vb, self)
    }
}
