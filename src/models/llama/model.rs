//! Llama in candle, read bottom-up: RMSNorm, rotary positions, grouped-query attention, the
//! SwiGLU MLP, the decoder layer, the model. From `transformers`' modeling_llama.py:
//! - pre-norm layers with RMSNorm (no mean, no bias), in f32 on f32 weights;
//! - rotary positions on q and k, the two halves of each head rotated together
//!   (`rotate_half`), frequencies `theta^(-2i/d)` with the config's scaling;
//! - `num_key_value_heads` key/value heads shared by groups of query heads;
//! - MLP `down(silu(gate(x)) * up(x))`; no dropout but the attention's.
//!
//! Tensor names are `LlamaForCausalLM`'s (`model.layers.0.self_attn.q_proj.weight`, ...);
//! `lm_head.weight` exists only when the head is not tied to `embed_tokens`. A pad token's
//! embedding row is trained like any other (PyTorch's `padding_idx` drops the gradient of its
//! lookups; our chains never pad, so lookups of it come only from text that spells it).

use super::config::{Config, RopeKind};
use crate::lm::layers::{cached_attention, decoder_stack, Dropout, KvCache, Linear};
use crate::lm::rotary::rotary;
use crate::lm::CausalLm;
use crate::nn::fused;
use crate::nn::ops::{self, rope};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// `LlamaRMSNorm`: x / sqrt(mean(x²) + eps) · weight, computed in f32.
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn load(vb: VarBuilder, n: usize, eps: f64) -> Result<Self> {
        Ok(RmsNorm {
            weight: vb.get(n, "weight")?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::rms_norm(x, &self.weight, self.eps)
    }
}

/// Rotary frequencies (d/2,), with the config's scaling (`_compute_*_parameters`).
pub fn inv_freq(cfg: &Config) -> crate::Result<Vec<f64>> {
    let rope = cfg.rope()?;
    let base = crate::lm::rotary::frequencies(rope.theta, cfg.head_dim());
    Ok(match rope.kind {
        RopeKind::Default => base,
        RopeKind::Linear { factor } => base.iter().map(|f| f / factor).collect(),
        RopeKind::Llama3 {
            factor,
            low_freq_factor: lo,
            high_freq_factor: hi,
            original_max_position_embeddings: old,
        } => base
            .iter()
            .map(|&f| {
                let wavelen = 2.0 * std::f64::consts::PI / f;
                if wavelen < old / hi {
                    f
                } else if wavelen > old / lo {
                    f / factor
                } else {
                    let smooth = (old / wavelen - lo) / (hi - lo);
                    (1.0 - smooth) * f / factor + smooth * f
                }
            })
            .collect(),
    })
}

/// `self_attn`: grouped-query attention with rotary positions.
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    attn_pdrop: f64,
}

impl Attention {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (e, d) = (cfg.hidden_size, cfg.head_dim());
        let (h, kv, bias) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.attention_bias);
        Ok(Attention {
            q: Linear::load_torch(&vb.pp("q_proj"), e, h * d, bias)?,
            k: Linear::load_torch(&vb.pp("k_proj"), e, kv * d, bias)?,
            v: Linear::load_torch(&vb.pp("v_proj"), e, kv * d, bias)?,
            o: Linear::load_torch(&vb.pp("o_proj"), h * d, e, bias)?,
            heads: h,
            kv_heads: kv,
            head_dim: d,
            attn_pdrop: cfg.attention_dropout,
        })
    }

    /// `x` (b, t, e); `cos`/`sin` (t, d) of the new positions; `mask` (t, T) or `None`.
    pub fn forward(
        &self,
        x: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, kv, d) = (self.heads, self.kv_heads, self.head_dim);
        let q = rope(&self.q.forward(x)?.reshape((b, t, h, d))?, cos, sin)?; // (b, t, h, d)
        let k = rope(&self.k.forward(x)?.reshape((b, t, kv, d))?, cos, sin)?; // (b, t, kv, d)
        let v = self.v.forward(x)?.reshape((b, t, kv, d))?;
        let scale = 1.0 / (d as f64).sqrt();
        let attn_dropout = self.attn_pdrop > 0.0 && drop.is_some();
        if cache.is_none() && !attn_dropout && fused::usable(&q) {
            // Training and full passes: the fused causal attention on q, k, v, each
            // key/value head read in place by its group of query heads.
            let (qf, kf, vf) = (
                q.reshape((b, t, h * d))?,
                k.reshape((b, t, kv * d))?,
                v.reshape((b, t, kv * d))?,
            );
            // (b, t, h·d)
            let y = fused::attention::separate_causal_attention((&qf, &kf, &vf), h, kv, scale)?;
            return self.o.forward(&y);
        }
        let y = cached_attention((&q, &k, &v), mask, cache, (scale, self.attn_pdrop), drop)?;
        self.o.forward(&y) // (b, t, e)
    }
}

/// `mlp`: down(silu(gate(x)) · up(x)).
pub struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (e, f, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Mlp {
            gate: Linear::load_torch(&vb.pp("gate_proj"), e, f, bias)?,
            up: Linear::load_torch(&vb.pp("up_proj"), e, f, bias)?,
            down: Linear::load_torch(&vb.pp("down_proj"), f, e, bias)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = ops::swiglu(&self.gate.forward(x)?, &self.up.forward(x)?)?;
        self.down.forward(&h)
    }
}

/// One decoder layer: x + attn(norm(x)), then h + mlp(norm(h)).
pub struct Layer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl Layer {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (e, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(Layer {
            input_layernorm: RmsNorm::load(vb.pp("input_layernorm"), e, eps)?,
            self_attn: Attention::load(vb.pp("self_attn"), cfg)?,
            post_attention_layernorm: RmsNorm::load(vb.pp("post_attention_layernorm"), e, eps)?,
            mlp: Mlp::load(vb.pp("mlp"), cfg)?,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        rot: (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let h = self.input_layernorm.forward(x)?;
        let x = (x + self.self_attn.forward(&h, rot, mask, cache, drop)?)?; // (b, t, e)
        let h = self.post_attention_layernorm.forward(&x)?;
        x + self.mlp.forward(&h)?
    }
}

/// `LlamaForCausalLM`: embeddings, layers, final norm, the (tied or own) output head.
pub struct Llama {
    embed_tokens: Tensor, // (vocab, e)
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Tensor, // (vocab, e): embed_tokens itself when tied
    inv_freq: Vec<f64>,
    pub cfg: Config,
}

impl Llama {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let m = vb.pp("model");
        let e = cfg.hidden_size;
        let embed_tokens = m.pp("embed_tokens").get((cfg.vocab_size, e), "weight")?;
        let lm_head = match cfg.tie_word_embeddings {
            true => embed_tokens.clone(),
            false => vb.pp("lm_head").get((cfg.vocab_size, e), "weight")?,
        };
        let inv_freq = inv_freq(cfg).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(Llama {
            embed_tokens,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| Layer::load(m.pp("layers").pp(i), cfg))
                .collect::<Result<Vec<_>>>()?,
            norm: RmsNorm::load(m.pp("norm"), e, cfg.rms_norm_eps)?,
            lm_head,
            inv_freq,
            cfg: cfg.clone(),
        })
    }
}

impl CausalLm for Llama {
    fn hidden(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        mut drop: Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = KvCache::past(&cache, t, self.cfg.max_position_embeddings)?;
        let x = ops::embedding(&self.embed_tokens, ids)?.reshape((b, t, ()))?; // (b, t, e)
        let (cos, sin) = rotary(&self.inv_freq, past, t, self.device())?;
        let x = decoder_stack(x, &self.layers, cache, past, |layer, x, mask, slot| {
            layer.forward(x, (&cos, &sin), mask, slot, &mut drop)
        })?;
        self.norm.forward(&x)
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
