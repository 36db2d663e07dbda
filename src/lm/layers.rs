//! The layers GPT-2, OPT and the next decoder-only architectures share, in candle, each with
//! `load`/`new` and `forward`: seeded dropout, a linear layer in either of the Hub's weight
//! layouts, layer norm, the KV cache, causal self-attention from a fused `[q | k | v]`
//! projection, and the causal mask.
//!
//! Everything here is differentiable: layer norm and softmax come from [`crate::nn::ops`],
//! since candle-nn's fused versions have no backward pass. On the CPU, the linear layers,
//! norms, attention and loss run as our fused kernels ([`crate::nn::fused`]).

use crate::nn::{fused, ops};
use crate::rng::Rng;
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

/// Dropout with our own seeded generator (candle's CPU generator cannot be seeded), so a
/// resumed training run draws the same masks as an uninterrupted one.
pub struct Dropout<'a> {
    pub rng: &'a mut Rng,
}

impl Dropout<'_> {
    fn apply(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let scale = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if self.rng.next_f64() < p { 0.0 } else { scale })
            .collect();
        x.mul(&Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?)
    }
}

pub fn dropout(x: Tensor, p: f64, drop: &mut Option<Dropout>) -> Result<Tensor> {
    match drop {
        Some(d) => d.apply(&x, p),
        None => Ok(x),
    }
}

/// A linear layer `y = x W + b`: GPT-2's Conv1D stores `W` (in, out), `torch.nn.Linear` (OPT)
/// stores it (out, in); the tensors are used as stored, so names and layouts stay the Hub's.
pub struct Linear {
    weight: Vec<Tensor>, // (in, out); or (out, in) when `out_in`; parts side by side on `out`
    bias: Vec<Tensor>,   // (out,), in parts like the weight
    out_in: bool,
}

impl Linear {
    /// GPT-2's `Conv1D`: weight (in, out), bias (out,).
    pub fn conv1d(vb: VarBuilder, n_in: usize, n_out: usize) -> Result<Self> {
        Ok(Linear {
            weight: vec![vb.get((n_in, n_out), "weight")?],
            bias: vec![vb.get(n_out, "bias")?],
            out_in: false,
        })
    }

    /// `torch.nn.Linear` layers (weights (out_i, in), biases (out_i,)) applied as one, their
    /// outputs side by side.
    pub fn torch(weights: Vec<Tensor>, biases: Vec<Tensor>) -> Self {
        Linear {
            weight: weights,
            bias: biases,
            out_in: true,
        }
    }

    /// One `torch.nn.Linear` (n_in → n_out) as stored on the Hub, with its bias or, when the
    /// model has none (Llama's), a constant zero one.
    pub fn load_torch(vb: &VarBuilder, n_in: usize, n_out: usize, bias: bool) -> Result<Self> {
        let w = vb.get((n_out, n_in), "weight")?;
        let b = match bias {
            true => vb.get(n_out, "bias")?,
            false => Tensor::zeros(n_out, w.dtype(), w.device())?,
        };
        Ok(Linear::torch(vec![w], vec![b]))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.forward_parts(x)?.as_slice() {
            [y] => Ok(y.clone()),
            ys => Tensor::cat(ys, x.rank() - 1), // (b, t, out)
        }
    }

    /// `max(forward(x), 0)`: for one `torch.nn.Linear` (OPT's `fc1`), one fused op.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        match (self.weight.as_slice(), self.bias.as_slice(), self.out_in) {
            ([w], [b], true) => ops::linear_t_relu(x, w, b),
            _ => ops::relu(&self.forward(x)?),
        }
    }

    /// Each part's output (b, t, out_i), unjoined (what attention takes from OPT's q, k, v).
    /// Parts are applied one by one, never as one stacked weight: that would be a new tensor
    /// at every pass (copied, its gradient split again in the backward, and under bf16 packed
    /// as a frozen weight and kept until the scope ends, as none of its values is a trained
    /// variable).
    pub fn forward_parts(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let part = |(w, b): (&Tensor, &Tensor)| match self.out_in {
            true => ops::linear_t(x, w, b), // (b, t, out_i)
            false => ops::linear(x, w, b),
        };
        self.weight.iter().zip(&self.bias).map(part).collect()
    }
}

/// Layer norm with learned scale and shift (`ln_1`, `ln_2`, `ln_f`).
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    pub fn load(vb: VarBuilder, n: usize, eps: f64) -> Result<Self> {
        Ok(Norm {
            weight: vb.get(n, "weight")?,
            bias: vb.get(n, "bias")?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// Keys and values of every layer for the positions seen so far, for generation.
#[derive(Clone)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<(Tensor, Tensor)>>, // per layer: (b, h, len, d) each
    /// Positions already in the cache (the next token's position).
    pub len: usize,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        KvCache {
            layers: vec![None; n_layer],
            len: 0,
        }
    }

    /// Positions already cached before `t` new ones (0 without a cache), refused when they
    /// would not fit in a context of `n_positions`.
    pub(crate) fn past(
        cache: &Option<&mut KvCache>,
        t: usize,
        n_positions: usize,
    ) -> Result<usize> {
        let past = cache.as_ref().map_or(0, |c| c.len);
        if past + t > n_positions {
            candle_core::bail!(
                "{} positions exceed the context length {n_positions}",
                past + t
            );
        }
        Ok(past)
    }

    /// Keeps batch rows `rows` (in that order): how beam search follows its surviving beams.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}

/// Causal self-attention with `n_head` heads.
pub struct Attention {
    c_attn: Linear,
    c_proj: Linear,
    n_head: usize,
    scale: f64,
    attn_pdrop: f64,
    resid_pdrop: f64,
}

impl Attention {
    /// Attention from its parts: `c_attn` maps (b, t, c) to `[q | k | v]` (b, t, 3c), `c_proj`
    /// maps the heads' outputs back; `scale` multiplies q·k.
    pub fn new(
        c_attn: Linear,
        c_proj: Linear,
        n_head: usize,
        scale: f64,
        pdrop: (f64, f64),
    ) -> Self {
        Attention {
            c_attn,
            c_proj,
            n_head,
            scale,
            attn_pdrop: pdrop.0,
            resid_pdrop: pdrop.1,
        }
    }

    /// `x` (b, t, c); `mask` (t, T) additive, `None` when t == 1; `cache` holds earlier k, v.
    pub fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        drop: &mut Option<Dropout>,
    ) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        let (h, d) = (self.n_head, c / self.n_head);
        // GPT-2's one (b, t, 3c), or OPT's three (b, t, c), never joined.
        let parts = self.c_attn.forward_parts(x)?;
        let (q, k, v) = match parts.as_slice() {
            [qkv] => (
                qkv.narrow(2, 0, c)?,
                qkv.narrow(2, c, c)?,
                qkv.narrow(2, 2 * c, c)?,
            ),
            [q, k, v] => (q.clone(), k.clone(), v.clone()),
            _ => candle_core::bail!("attention: {} projections, not 1 or 3", parts.len()),
        };
        let attn_dropout = self.attn_pdrop > 0.0 && drop.is_some();
        if cache.is_none() && !attn_dropout && fused::usable(&q) {
            // Training and full forward passes: one fused op from q, k, v to the heads' outputs.
            let y = match parts.as_slice() {
                [qkv] => fused::attention::causal_attention(qkv, h, self.scale)?,
                _ => fused::attention::separate_causal_attention((&q, &k, &v), h, h, self.scale)?,
            }; // (b, t, c)
            return dropout(self.c_proj.forward(&y)?, self.resid_pdrop, drop);
        }
        let heads = |x: &Tensor| x.reshape((b, t, h, d)); // (b, t, h, d)
        let y = cached_attention(
            (&heads(&q)?, &heads(&k)?, &heads(&v)?),
            mask,
            cache,
            (self.scale, self.attn_pdrop),
            drop,
        )?; // (b, t, c)
        dropout(self.c_proj.forward(&y)?, self.resid_pdrop, drop)
    }
}

/// Softmax attention of q (b, t, h, d) over the cached and new keys and values (b, t, kv, d),
/// each key/value head shared by `h / kv` query heads; the cache keeps (b, kv, T, d), so
/// grouped-query models cache each head once. Returns the heads' outputs (b, t, h·d). The path
/// of generation and of attention dropout; full passes use the fused kernel instead.
pub fn cached_attention(
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    mask: Option<&Tensor>,
    cache: Option<&mut Option<(Tensor, Tensor)>>,
    (scale, pdrop): (f64, f64),
    drop: &mut Option<Dropout>,
) -> Result<Tensor> {
    let (b, t, h, d) = q.dims4()?;
    let kv = k.dim(2)?;
    let q = q.transpose(1, 2)?.contiguous()?; // (b, h, t, d)
    let mut k = k.transpose(1, 2)?.contiguous()?; // (b, kv, t, d)
    let mut v = v.transpose(1, 2)?.contiguous()?;
    if let Some(slot) = cache {
        if let Some((pk, pv)) = slot.as_ref() {
            k = Tensor::cat(&[pk, &k], 2)?; // (b, kv, T, d)
            v = Tensor::cat(&[pv, &v], 2)?;
        }
        *slot = Some((k.clone(), v.clone()));
    }
    // Key/value head i serves query heads i·g..(i + 1)·g (transformers' `repeat_kv`): the
    // group's queries are the rows of one product with it, rather than k and v copied g times
    // (which cost SmolLM2's decoding a copy of 3 × its cache per layer and token).
    let (g, total) = (h / kv, k.dim(2)?);
    let q = q.reshape((b, kv, g * t, d))?; // (b, kv, g·t, d)
    let mut att = (q.matmul(&k.t()?)? * scale)?.reshape((b, kv, g, t, total))?; // (b, kv, g, t, T)
    if let Some(m) = mask {
        att = att.broadcast_add(m)?;
    }
    let att = dropout(ops::softmax_last_dim(&att)?, pdrop, drop)?;
    let y = att.reshape((b, kv, g * t, total))?.matmul(&v)?; // (b, kv, g·t, d)
    y.reshape((b, h, t, d))?
        .transpose(1, 2)?
        .reshape((b, t, h * d)) // (b, t, h·d)
}

/// The decoder stack every architecture runs: the causal mask for `t` new positions after
/// the cache's, each layer with its cache slot, the cache advanced by `t`.
pub fn decoder_stack<L>(
    mut x: Tensor,
    layers: &[L],
    mut cache: Option<&mut KvCache>,
    past: usize,
    mut layer: impl FnMut(
        &L,
        &Tensor,
        Option<&Tensor>,
        Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Result<Tensor>,
) -> Result<Tensor> {
    let t = x.dim(1)?;
    let mask = match t > 1 {
        true => Some(causal_mask(t, past, x.device())?.to_dtype(x.dtype())?),
        false => None,
    };
    for (i, l) in layers.iter().enumerate() {
        let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
        x = layer(l, &x, mask.as_ref(), slot)?;
    }
    if let Some(c) = cache {
        c.len += t;
    }
    Ok(x)
}

/// Additive mask (t, past + t): 0 where query i may see key j (j <= past + i), -inf elsewhere.
pub fn causal_mask(t: usize, past: usize, dev: &Device) -> Result<Tensor> {
    let total = past + t;
    let m: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= past + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(m, (t, total), dev)
}
