//! OPT (Zhang et al. 2022) in candle, read bottom-up: attention, MLP, block, model.
//!
//! Differences from GPT-2 ([`crate::models::gpt2::model`]), all from `transformers`' modeling_opt.py:
//! - linear layers are `torch.nn.Linear` (weights stored (out, in)) with separate q, k, v
//!   projections; we apply them as one layer whose output is `[q | k | v]`, so the attention
//!   itself is GPT-2's (fused on the CPU, KV cache for generation);
//! - learned positions start at row 2 of their table ([`POSITION_OFFSET`]);
//! - pre-LayerNorm (opt-125m) or post-LayerNorm (opt-350m, `do_layer_norm_before = false`),
//!   and `project_in`/`project_out` when the embeddings are narrower than the model;
//! - ReLU, and no dropout on the embeddings;
//! - the embedding has `padding_idx`: `<pad>` lookups give its row no gradient (the tied
//!   head still does), as in PyTorch.
//!
//! Tensor names are `OPTForCausalLM`'s (`model.decoder.layers.0.self_attn.q_proj.weight`, ...);
//! the output head is tied to `embed_tokens` and not stored.

use super::config::{OptConfig, LN_EPS, POSITION_OFFSET};
use crate::lm::layers::{decoder_stack, dropout, Attention, Dropout, KvCache, Linear, Norm};
use crate::lm::CausalLm;
use crate::nn::ops;
use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// `self_attn`: q, k and v projections concatenated into GPT-2's packed attention.
fn attention(vb: VarBuilder, cfg: &OptConfig) -> Result<Attention> {
    let c = cfg.hidden_size;
    let (mut ws, mut bs) = (Vec::new(), Vec::new());
    for p in ["q_proj", "k_proj", "v_proj"] {
        ws.push(vb.pp(p).get((c, c), "weight")?);
        bs.push(vb.pp(p).get(c, "bias")?);
    }
    // Applied as one layer: the output is [q | k | v], what the packed attention reads.
    let qkv = Linear::torch(ws, bs);
    let out = Linear::load_torch(&vb.pp("out_proj"), c, c, true)?;
    // OPT scales q by head_dim^-0.5 before q·k; scaling the product is the same function.
    let scale = 1.0 / (cfg.head_dim() as f64).sqrt();
    Ok(Attention::new(
        qkv,
        out,
        cfg.num_attention_heads,
        scale,
        (cfg.attention_dropout, cfg.dropout),
    ))
}

/// One decoder layer: attention and a ReLU MLP, each with a residual connection and a
/// LayerNorm before (pre-LN) or after (post-LN) it.
pub struct Layer {
    self_attn: Attention,
    self_attn_layer_norm: Norm,
    fc1: Linear,
    fc2: Linear,
    /// The MLP's norm (named `final_layer_norm` in every layer on the Hub).
    final_layer_norm: Norm,
    pre_ln: bool,
    dropout: f64,
}

impl Layer {
    pub fn load(vb: VarBuilder, cfg: &OptConfig) -> Result<Self> {
        let (c, f) = (cfg.hidden_size, cfg.ffn_dim);
        Ok(Layer {
            self_attn: attention(vb.pp("self_attn"), cfg)?,
            self_attn_layer_norm: Norm::load(vb.pp("self_attn_layer_norm"), c, LN_EPS)?,
            fc1: Linear::load_torch(&vb.pp("fc1"), c, f, true)?,
            fc2: Linear::load_torch(&vb.pp("fc2"), f, c, true)?,
            final_layer_norm: Norm::load(vb.pp("final_layer_norm"), c, LN_EPS)?,
            pre_ln: cfg.do_layer_norm_before,
            dropout: cfg.dropout,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let (ln1, ln2) = (&self.self_attn_layer_norm, &self.final_layer_norm);
        let h = if self.pre_ln {
            ln1.forward(x)?
        } else {
            x.clone()
        };
        // Attention applies the residual dropout to its output (p = `dropout`).
        let mut x = (x + self.self_attn.forward(&h, mask, cache, drop)?)?; // (b, t, c)
        if !self.pre_ln {
            x = ln1.forward(&x)?;
        }
        let h = if self.pre_ln {
            ln2.forward(&x)?
        } else {
            x.clone()
        };
        let h = self.fc2.forward(&self.fc1.forward_relu(&h)?)?; // (b, t, c)
        let mut x = (x + dropout(h, self.dropout, drop)?)?;
        if !self.pre_ln {
            x = ln2.forward(&x)?;
        }
        Ok(x)
    }
}

/// `OPTForCausalLM`: embeddings, layers, final norm and projection, tied output head.
pub struct Opt {
    embed_tokens: Tensor,        // (vocab, e)
    embed_positions: Tensor,     // (max_positions + 2, c)
    project_in: Option<Tensor>,  // (c, e)
    project_out: Option<Tensor>, // (e, c)
    layers: Vec<Layer>,
    final_layer_norm: Option<Norm>,
    pub cfg: OptConfig,
}

impl Opt {
    pub fn load(vb: VarBuilder, cfg: &OptConfig) -> Result<Self> {
        let d = vb.pp("model").pp("decoder");
        let (c, e) = (cfg.hidden_size, cfg.embed_dim());
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(d.pp("layers").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        let rows = cfg.max_position_embeddings + POSITION_OFFSET;
        Ok(Opt {
            embed_tokens: d.pp("embed_tokens").get((cfg.vocab_size, e), "weight")?,
            embed_positions: d.pp("embed_positions").get((rows, c), "weight")?,
            project_in: match cfg.projects() {
                true => Some(d.pp("project_in").get((c, e), "weight")?),
                false => None,
            },
            project_out: match cfg.projects() {
                true => Some(d.pp("project_out").get((e, c), "weight")?),
                false => None,
            },
            layers,
            final_layer_norm: match cfg.final_norm() {
                true => Some(Norm::load(d.pp("final_layer_norm"), c, LN_EPS)?),
                false => None,
            },
            cfg: cfg.clone(),
        })
    }

    /// Token embeddings (b, t, e). Lookups of `<pad>` read its row without a gradient path
    /// (PyTorch's `padding_idx`); other rows are ordinary lookups. Only a trainable model
    /// (weights that are variables) looks for `<pad>`: the check reads a count back from the
    /// device, which generation and scoring, run on detached weights, need not pay per token.
    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let flat = ids.flatten_all()?;
        let tok = ops::embedding(&self.embed_tokens, &flat)?; // (b*t, e)
        if !self.embed_tokens.is_variable() {
            return tok.reshape((b, t, ()));
        }
        let is_pad = flat.eq(self.cfg.pad_token_id)?; // (b*t,) u8
        let tok = if is_pad.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? > 0 {
            let frozen = self.embed_tokens.detach().index_select(&flat, 0)?;
            is_pad
                .unsqueeze(1)?
                .broadcast_as(tok.shape())?
                .where_cond(&frozen, &tok)?
        } else {
            tok
        };
        tok.reshape((b, t, ()))
    }
}

impl CausalLm for Opt {
    fn hidden(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        mut drop: Option<Dropout>,
    ) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let past = KvCache::past(&cache, t, self.cfg.max_position_embeddings)?;
        let mut x = self.embed(ids)?; // (b, t, e)
        if let Some(w) = &self.project_in {
            x = x.broadcast_matmul(&w.t()?)?; // (b, t, c)
        }
        let first = (past + POSITION_OFFSET) as u32;
        let pos = Tensor::arange(first, first + t as u32, self.device())?;
        let x = x.broadcast_add(&ops::embedding(&self.embed_positions, &pos)?)?; // (b, t, c)
        let mut x = decoder_stack(x, &self.layers, cache, past, |layer, x, mask, slot| {
            layer.forward(x, mask, slot, &mut drop)
        })?;
        if let Some(n) = &self.final_layer_norm {
            x = n.forward(&x)?;
        }
        if let Some(w) = &self.project_out {
            x = x.broadcast_matmul(&w.t()?)?; // (b, t, e)
        }
        Ok(x)
    }
    fn tied_head(&self) -> &Tensor {
        &self.embed_tokens
    }
    fn n_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }
    fn n_layer(&self) -> usize {
        self.cfg.num_hidden_layers
    }
}

impl crate::lm::HubArch for OptConfig {
    const MODEL_TYPE: &'static str = "opt";
    /// OPT's end-of-document token, also its BOS, prepended to every document.
    const EOS: &'static str = "</s>";
    /// `<s>` and `<unk>` are plain text to OPT's tokenizer.
    const SPECIALS: &'static [&'static str] = &["</s>", "<pad>"];
    fn check(&self) -> crate::Result<()> {
        OptConfig::check(self)
    }
    fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
    fn bos_token_id(&self) -> u32 {
        self.bos_token_id
    }
    fn set_dropout(&mut self, p: f64) {
        self.dropout = p;
    }
    fn shape_note(&self) -> String {
        format!("{} layers × {}", self.num_hidden_layers, self.hidden_size)
    }
    fn extra_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.extra
    }
}

impl crate::lm::Arch for OptConfig {
    type Model = Opt;
    fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        OptConfig::shapes(self)
    }
    /// The original OPT checkpoints (facebook/opt-125m's `pytorch_model.bin`) store
    /// `decoder.…` without the `model.` prefix.
    fn aliases(&self, name: &str) -> Vec<String> {
        name.strip_prefix("model.")
            .map(|s| vec![s.to_string()])
            .unwrap_or_default()
    }
    fn build(&self, vb: VarBuilder) -> Result<Opt> {
        Opt::load(vb, self)
    }
}
