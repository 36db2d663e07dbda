//! GPT-NeoX (Black et al. 2022; the Pythia suite) in candle, read bottom-up: attention with
//! partial rotary positions, the GELU MLP, the layer with its parallel residual, the model.
//! From `transformers`' modeling_gpt_neox.py:
//! - one `query_key_value` projection whose output is, per head, `[q | k | v]` (not q of
//!   every head, then k, as GPT-2's);
//! - rotary positions on the first `rotary_pct` of each head's dimensions (a quarter in Pythia);
//! - `x + attn(ln1(x)) + mlp(ln2(x))` with `use_parallel_residual` (Pythia), else sequential;
//! - an untied output head (`embed_out.weight` in files; `lm_head` in transformers 5's module).

use super::config::Config;
use crate::lm::layers::{cached_attention, decoder_stack, dropout, Dropout, KvCache, Linear, Norm};
use crate::lm::rotary::{frequencies, rotary};
use crate::lm::CausalLm;
use crate::nn::{fused, ops};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// `attention`: packed per-head `[q | k | v]`, partial rotary, causal softmax attention.
pub struct Attention {
    qkv: Linear,
    dense: Linear,
    heads: usize,
    attn_pdrop: f64,
}

impl Attention {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let c = cfg.hidden_size;
        Ok(Attention {
            qkv: Linear::load_torch(&vb.pp("query_key_value"), c, 3 * c, cfg.attention_bias)?,
            dense: Linear::load_torch(&vb.pp("dense"), c, c, cfg.attention_bias)?,
            heads: cfg.num_attention_heads,
            attn_pdrop: cfg.attention_dropout,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let (h, d) = (self.heads, c / self.heads);
        let qkv = self.qkv.forward(x)?.reshape((b, t, h, 3 * d))?; // per head [q | k | v]
        let q = ops::rope(&qkv.narrow(3, 0, d)?, cos, sin)?; // (b, t, h, d)
        let k = ops::rope(&qkv.narrow(3, d, d)?, cos, sin)?;
        let v = qkv.narrow(3, 2 * d, d)?;
        let scale = 1.0 / (d as f64).sqrt();
        let attn_dropout = self.attn_pdrop > 0.0 && drop.is_some();
        if cache.is_none() && !attn_dropout && fused::usable(&q) {
            let flat = |x: &Tensor| x.reshape((b, t, c)); // (b, t, c)
            let qkv = (&flat(&q)?, &flat(&k)?, &flat(&v)?);
            let y = fused::attention::separate_causal_attention(qkv, h, h, scale)?; // (b, t, c)
            return self.dense.forward(&y);
        }
        let y = cached_attention((&q, &k, &v), mask, cache, (scale, self.attn_pdrop), drop)?;
        self.dense.forward(&y) // (b, t, c)
    }
}

/// One layer: attention and MLP, each after its own LayerNorm, in parallel or in turn.
pub struct Layer {
    input_layernorm: Norm,
    post_attention_layernorm: Norm,
    attention: Attention,
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
    parallel: bool,
    exact_gelu: bool,
    hidden_pdrop: f64,
}

impl Layer {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (c, f, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Layer {
            input_layernorm: Norm::load(vb.pp("input_layernorm"), c, eps)?,
            post_attention_layernorm: Norm::load(vb.pp("post_attention_layernorm"), c, eps)?,
            attention: Attention::load(vb.pp("attention"), cfg)?,
            dense_h_to_4h: Linear::load_torch(&vb.pp("mlp").pp("dense_h_to_4h"), c, f, true)?,
            dense_4h_to_h: Linear::load_torch(&vb.pp("mlp").pp("dense_4h_to_h"), f, c, true)?,
            parallel: cfg.use_parallel_residual,
            exact_gelu: cfg.hidden_act == "gelu",
            hidden_pdrop: cfg.hidden_dropout,
        })
    }

    fn mlp(&self, x: &Tensor, drop: &mut Option<Dropout>) -> Result<Tensor> {
        let h = ops::gelu(&self.dense_h_to_4h.forward(x)?, self.exact_gelu)?;
        dropout(self.dense_4h_to_h.forward(&h)?, self.hidden_pdrop, drop)
    }

    pub fn forward(
        &self,
        x: &Tensor,
        rot: (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let a =
            self.attention
                .forward(&self.input_layernorm.forward(x)?, rot, mask, cache, drop)?;
        let a = dropout(a, self.hidden_pdrop, drop)?;
        if self.parallel {
            let m = self.mlp(&self.post_attention_layernorm.forward(x)?, drop)?;
            return (x + a)? + m;
        }
        let h = (x + a)?;
        let m = self.mlp(&self.post_attention_layernorm.forward(&h)?, drop)?;
        h + m
    }
}

/// `GPTNeoXForCausalLM`: embeddings, layers, final norm, the output head.
pub struct GptNeox {
    embed_in: Tensor, // (vocab, c)
    layers: Vec<Layer>,
    final_layer_norm: Norm,
    lm_head: Tensor, // (vocab, c): embed_in itself when tied
    inv_freq: Vec<f64>,
    pub cfg: Config,
}

impl GptNeox {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let m = vb.pp("gpt_neox");
        let c = cfg.hidden_size;
        let embed_in = m.pp("embed_in").get((cfg.vocab_size, c), "weight")?;
        let lm_head = match cfg.tie_word_embeddings {
            true => embed_in.clone(),
            false => vb.pp("embed_out").get((cfg.vocab_size, c), "weight")?,
        };
        let (theta, r) = cfg
            .rotary()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(GptNeox {
            embed_in,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| Layer::load(m.pp("layers").pp(i), cfg))
                .collect::<Result<Vec<_>>>()?,
            final_layer_norm: Norm::load(m.pp("final_layer_norm"), c, cfg.layer_norm_eps)?,
            lm_head,
            inv_freq: frequencies(theta, r),
            cfg: cfg.clone(),
        })
    }
}

impl CausalLm for GptNeox {
    fn hidden(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        mut drop: Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = KvCache::past(&cache, t, self.cfg.max_position_embeddings)?;
        let x = ops::embedding(&self.embed_in, ids)?.reshape((b, t, ()))?; // (b, t, c)
        let x = dropout(x, self.cfg.hidden_dropout, &mut drop)?;
        let (cos, sin) = rotary(&self.inv_freq, past, t, self.device())?;
        let x = decoder_stack(x, &self.layers, cache, past, |layer, x, mask, slot| {
            layer.forward(x, (&cos, &sin), mask, slot, &mut drop)
        })?;
        self.final_layer_norm.forward(&x)
    }
    fn tied_head(&self) -> &Tensor {
        &self.lm_head
    }
    fn n_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }
    fn n_layer(&self) -> usize {
        self.cfg.num_hidden_layers
    }
}
