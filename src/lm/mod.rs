//! The causal-LM machinery every neural architecture shares: the layers, the parameter store,
//! the tokenizer, training data and the training loop, generation (sampling, beam search, a
//! generation's corpus), scoring, and the settings of all of these. An architecture
//! ([`crate::models`]) gives its config and its model; everything here works on any
//! [`CausalLm`] built by an [`Arch`].
//!
//! [`Arch`] is a model's `config.json` (serde, compared on resume) that knows its parameter
//! names and shapes and builds the model from named tensors; [`CausalLm`] is the built model.

pub mod data;
pub mod device;
pub mod generate;
pub mod layers;
pub mod params;
pub mod rotary;
pub mod score;
pub mod settings;
pub mod tokenizer;
pub mod train;

use crate::nn::{fused, ops};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use layers::{Dropout, KvCache};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A decoder-only language model whose output head is its token embeddings (tied, as in
/// GPT-2 and OPT). A model gives its layers ([`CausalLm::hidden`]) and its embeddings; the
/// head, the loss and the last-position logits that decoding needs are written once, here.
pub trait CausalLm {
    /// The final hidden states (b, t, e) for token ids (b, t), in the width the head reads.
    /// With a cache, the ids continue the cached positions and the cache is extended; with
    /// `drop`, dropout is applied (training).
    fn hidden(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        drop: Option<Dropout>,
    ) -> Result<Tensor>;
    /// The token embeddings (vocab, e), which are also the output head.
    fn tied_head(&self) -> &Tensor;
    /// The most positions the model has embeddings for.
    fn n_positions(&self) -> usize;
    fn n_layer(&self) -> usize;
    fn vocab_size(&self) -> usize {
        self.tied_head().dims()[0]
    }
    fn device(&self) -> &Device {
        self.tied_head().device()
    }

    /// Logits (b, t, vocab) for token ids (b, t); cache and dropout as in [`CausalLm::hidden`].
    fn forward(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        drop: Option<Dropout>,
    ) -> Result<Tensor> {
        let h = self.hidden(ids, cache, drop)?; // (b, t, e)
        let (b, t, e) = h.dims3()?;
        let logits = head(&h.reshape((b * t, e))?, self.tied_head())?; // (b*t, v)
        logits.reshape((b, t, ()))
    }

    /// The last position's logits (b, vocab), the cache extended by all of `ids` (b, t).
    /// Why not `forward`: decoding reads only the last position, and at a prefill of t
    /// positions the head would be t times the work (for OPT-125m, 39M of 124M multiply-adds
    /// per position, and a (b, t, 50272) tensor).
    fn last_logits(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let h = self.hidden(ids, cache, None)?; // (b, t, e)
        let t = h.dim(1)?;
        head(&h.narrow(1, t - 1, 1)?.squeeze(1)?, self.tied_head()) // (b, v)
    }

    /// Mean next-token cross-entropy of blocks (b, t+1): inputs the first t ids, targets the
    /// last t.
    fn block_loss(&self, blocks: &Tensor, drop: Option<Dropout>) -> Result<Tensor> {
        let t = blocks.dim(1)? - 1;
        let input = blocks.narrow(1, 0, t)?;
        let target = blocks.narrow(1, 1, t)?.flatten_all()?;
        if fused::usable(self.tied_head()) {
            // Head and loss in one op: the (b·t, v) logits never become a tensor.
            let h = self.hidden(&input, None, drop)?.flatten_to(1)?; // (b*t, e)
            return fused::head::lm_head_loss(&h, self.tied_head(), &target);
        }
        let logits = self.forward(&input, None, drop)?.flatten_to(1)?; // (b*t, v)
        ops::cross_entropy(&logits.to_dtype(DType::F32)?, &target)
    }
}

/// The tied head (n, e) -> (n, v) as a bias-free `torch.nn.Linear`: on the CPU the fused op
/// reads the embeddings as stored, where a matmul with their transpose would repack all of
/// them at every call.
fn head(h: &Tensor, embeddings: &Tensor) -> Result<Tensor> {
    let zero = Tensor::zeros(embeddings.dim(0)?, h.dtype(), h.device())?;
    ops::linear_t(h, embeddings, &zero)
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

/// An architecture fine-tuned from the Hugging Face Hub (`hf:` models): what the Hub family
/// reads and writes of its `config.json` beyond [`Arch`], and its tokenizer's conventions.
pub trait HubArch: Arch {
    /// `model_type` in `config.json`.
    const MODEL_TYPE: &'static str;
    /// The token that ends a document (and, for OPT, starts one), as the tokenizer adds it.
    const EOS: &'static str;
    /// The tokens the tokenizer matches whole in text.
    const SPECIALS: &'static [&'static str];
    /// Rejects configurations the implementation does not cover, naming the field.
    fn check(&self) -> crate::Result<()>;
    fn max_positions(&self) -> usize;
    /// The token every training document starts with (`run_clm`'s grouping).
    fn bos_token_id(&self) -> u32;
    /// The end-of-text id from `config.json`, for architectures whose token differs between
    /// models (Llama's); `None`: [`HubArch::EOS`] names it.
    fn eos_token_id(&self) -> Option<u32> {
        None
    }
    /// Fine-tuning's dropout, wherever the config keeps it.
    fn set_dropout(&mut self, p: f64);
    /// The model's shape for a note: `12 layers × 768`.
    fn shape_note(&self) -> String;
    /// The keys of `config.json` the config does not model, written back unchanged.
    fn extra_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value>;
}

/// An architecture trained from scratch each generation (`gpt:`, `llama:`), on a BPE tokenizer
/// trained on generation 0's human text: its presets, and its shape for that tokenizer.
pub trait ScratchArch: Arch {
    /// The model spec's prefix (`gpt` in `gpt:tiny`).
    const PREFIX: &'static str;
    /// Preset names with their one-line reasons, smallest first.
    fn presets() -> Vec<(&'static str, &'static str)>;
    /// A preset's shape with `vocab_size` tokens.
    fn preset(name: &str, vocab_size: usize) -> crate::Result<Self>;
    /// The shape for a tokenizer (`vocab_size`, end-of-text `eot`) with the settings'
    /// overrides (layers, heads, width, context, dropout), checked.
    fn shaped(self, s: &settings::GptSettings, vocab_size: usize, eot: u32) -> crate::Result<Self>;
    fn n_positions(&self) -> usize;
    fn vocab_size(&self) -> usize;
    /// (layers, width, heads), for notes and memory estimates.
    fn dims(&self) -> (usize, usize, usize);
    /// Seeded random initialisation.
    fn init(&self, seed: u64, dev: &Device) -> crate::Result<params::Params>;
}
