//! Rotary position embeddings (Su et al. 2021) as `transformers` applies them to Llama and
//! GPT-NeoX: the first `r` dimensions of each head (all of them for Llama, a quarter for
//! Pythia) are rotated in two halves (`rotate_half`), the rest pass unchanged. This file
//! makes the cos/sin tables; [`crate::nn::ops::rope`] applies them.

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
