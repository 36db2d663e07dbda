//! Rotary position embeddings (Su et al. 2021) as `transformers` applies them to Llama and
//! GPT-NeoX: the first `r` dimensions of each head (all of them for Llama, a quarter for
//! Pythia) are rotated in two halves (`rotate_half`), the rest pass unchanged.

use candle_core::{Device, Result, Tensor};

/// Frequencies `theta^(-2i/r)` for i < r/2.
pub fn frequencies(theta: f64, r: usize) -> Vec<f64> {
    (0..r / 2)
        .map(|i| 1.0 / theta.powf((2 * i) as f64 / r as f64))
        .collect()
}

/// cos and sin (t, r) for positions `first..first + t`, in f32 as transformers computes them
/// (angles `p · f` in f32, the frequencies twice: `cat(freqs, freqs)`).
pub fn rotary(inv_freq: &[f64], first: usize, t: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    let half: Vec<f32> = inv_freq.iter().map(|&f| f as f32).collect();
    let mut angles = Vec::with_capacity(t * half.len() * 2);
    for p in first..first + t {
        let row: Vec<f32> = half.iter().map(|&f| p as f32 * f).collect();
        angles.extend_from_slice(&row);
        angles.extend_from_slice(&row);
    }
    let angles = Tensor::from_vec(angles, (t, half.len() * 2), dev)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// `apply_rotary_pos_emb` on x (b, t, h, d) with cos/sin (t, r), r <= d: the first r
/// dimensions become x·cos + rotate_half(x)·sin, the others are kept.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (d, r) = (x.dim(3)?, cos.dim(1)?);
    let (cos, sin) = (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?);
    let (cos, sin) = (cos.unsqueeze(1)?, sin.unsqueeze(1)?); // (t, 1, r)
    let xr = x.narrow(3, 0, r)?;
    let x1 = xr.narrow(3, 0, r / 2)?;
    let x2 = xr.narrow(3, r / 2, r / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], 3)?; // (b, t, h, r)
    let turned = (xr.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?;
    if r == d {
        return Ok(turned);
    }
    Tensor::cat(&[&turned, &x.narrow(3, r, d - r)?], 3)
}
