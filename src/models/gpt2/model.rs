//! GPT-2 (Radford et al. 2019) in candle, read bottom-up: attention, MLP, block, model. The
//! layers it shares with other architectures are in [`crate::lm::layers`].
//!
//! Tensor names are Hugging Face's `GPT2LMHeadModel` names (`transformer.h.0.attn.c_attn.weight`
//! ...), and, as there, the linear layers are `Conv1D`s whose weights are stored (in, out):
//! the transpose of `torch.nn.Linear`. Our checkpoints therefore load in `transformers`
//! unchanged and Hub GPT-2 checkpoints load here. The output head is tied to the token
//! embedding (`lm_head.weight` = `transformer.wte.weight`, not stored).
//!
//! Everything here is differentiable: layer norm and softmax come from [`crate::nn::ops`],
//! since candle-nn's fused versions have no backward pass. On the CPU, the linear layers,
//! norms, GELU, attention and loss run as our fused kernels ([`crate::nn::fused`]).

use super::config::Config;
use crate::lm::layers::{decoder_stack, dropout, Attention, Dropout, KvCache, Linear, Norm};
use crate::lm::CausalLm;
use crate::nn::ops;
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

/// GPT-2's attention: one Conv1D to `[q | k | v]`, one back; q·k scaled by 1/√d unless the
/// config turns scaling off.
fn attention(vb: VarBuilder, cfg: &Config) -> Result<Attention> {
    let c = cfg.n_embd;
    let scale = if cfg.scale_attn_weights {
        1.0 / (cfg.head_dim() as f64).sqrt()
    } else {
        1.0
    };
    Ok(Attention::new(
        Linear::conv1d(vb.pp("c_attn"), c, 3 * c)?,
        Linear::conv1d(vb.pp("c_proj"), c, c)?,
        cfg.n_head,
        scale,
        (cfg.attn_pdrop, cfg.resid_pdrop),
    ))
}

/// The feed-forward part: Conv1D up, GELU, Conv1D down.
pub struct Mlp {
    c_fc: Linear,
    c_proj: Linear,
    exact_gelu: bool,
    resid_pdrop: f64,
}

impl Mlp {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Ok(Mlp {
            c_fc: Linear::conv1d(vb.pp("c_fc"), cfg.n_embd, cfg.inner())?,
            c_proj: Linear::conv1d(vb.pp("c_proj"), cfg.inner(), cfg.n_embd)?,
            exact_gelu: cfg.activation_function == "gelu",
            resid_pdrop: cfg.resid_pdrop,
        })
    }

    pub fn forward(&self, x: &Tensor, drop: &mut Option<Dropout>) -> Result<Tensor> {
        let hidden = ops::gelu(&self.c_fc.forward(x)?, self.exact_gelu)?; // (b, t, 4c)
        dropout(self.c_proj.forward(&hidden)?, self.resid_pdrop, drop)
    }
}

/// A pre-LayerNorm transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
pub struct Block {
    ln_1: Norm,
    attn: Attention,
    ln_2: Norm,
    mlp: Mlp,
}

impl Block {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let eps = cfg.layer_norm_epsilon;
        Ok(Block {
            ln_1: Norm::load(vb.pp("ln_1"), cfg.n_embd, eps)?,
            attn: attention(vb.pp("attn"), cfg)?,
            ln_2: Norm::load(vb.pp("ln_2"), cfg.n_embd, eps)?,
            mlp: Mlp::load(vb.pp("mlp"), cfg)?,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let x = (x + self
            .attn
            .forward(&self.ln_1.forward(x)?, mask, cache, drop)?)?;
        &x + self.mlp.forward(&self.ln_2.forward(&x)?, drop)?
    }
}

/// `GPT2LMHeadModel`: embeddings, blocks, final norm, tied output head.
pub struct Gpt2 {
    wte: Tensor, // (vocab, c)
    wpe: Tensor, // (n_positions, c)
    h: Vec<Block>,
    ln_f: Norm,
    pub cfg: Config,
}

impl Gpt2 {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let vt = vb.pp("transformer");
        let h = (0..cfg.n_layer)
            .map(|i| Block::load(vt.pp("h").pp(i), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Gpt2 {
            wte: vt.pp("wte").get((cfg.vocab_size, cfg.n_embd), "weight")?,
            wpe: vt.pp("wpe").get((cfg.n_positions, cfg.n_embd), "weight")?,
            h,
            ln_f: Norm::load(vt.pp("ln_f"), cfg.n_embd, cfg.layer_norm_epsilon)?,
            cfg: cfg.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        self.wte.device()
    }
}

impl CausalLm for Gpt2 {
    fn hidden(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        mut drop: Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = KvCache::past(&cache, t, self.cfg.n_positions)?;
        let pos = Tensor::arange(past as u32, (past + t) as u32, self.device())?;
        let tok = ops::embedding(&self.wte, ids)?.reshape((b, t, ()))?;
        let x = tok.broadcast_add(&ops::embedding(&self.wpe, &pos)?)?; // (b, t, c)
        let x = dropout(x, self.cfg.embd_pdrop, &mut drop)?;
        let x = decoder_stack(x, &self.h, cache, past, |block, x, mask, slot| {
            block.forward(x, mask, slot, &mut drop)
        })?;
        self.ln_f.forward(&x)
    }
    fn tied_head(&self) -> &Tensor {
        &self.wte
    }
    fn n_positions(&self) -> usize {
        self.cfg.n_positions
    }
    fn n_layer(&self) -> usize {
        self.cfg.n_layer
    }
}
