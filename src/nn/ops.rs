//! Differentiable building blocks. For f32 on the CPU each is one fused op with a
//! hand-written backward ([`crate::nn::fused`], for speed); elsewhere (CUDA, half precision)
//! it is composed of ops candle knows how to differentiate ([`reference`]). Both compute the
//! same function; tests hold them to each other.

use super::fused;
use candle_core::{DType, Result, Tensor, D};

/// Layer normalisation over the last dimension: `(x - mean) / sqrt(var + eps) * w + b`,
/// with the biased variance (as PyTorch). Differentiable in `x`, `w` and `b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(w) && fused::usable(b) {
        return fused::norm::layer_norm(x, w, b, eps);
    }
    reference::layer_norm(x, w, b, eps)
}

/// Softmax over the last dimension.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused::usable(x) {
        return fused::softmax::softmax_last_dim(x);
    }
    reference::softmax_last_dim(x)
}

/// Log-softmax over the last dimension (max detached, as in [`reference::softmax_last_dim`]).
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    reference::log_softmax_last_dim(x)
}

/// Mean cross-entropy of `logits` (n, v) against `targets` (n,) u32, natural log.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if fused::usable(logits) {
        return fused::softmax::cross_entropy(logits, targets);
    }
    reference::cross_entropy(logits, targets)
}

/// Rows `ids` (n,) of the table `w` (v, d): (n, d). On the CPU the backward adds only the
/// looked-up rows ([`fused::embedding`]); elsewhere it is candle's `index_select`.
pub fn embedding(w: &Tensor, ids: &Tensor) -> Result<Tensor> {
    if fused::usable(w) && ids.device().is_cpu() && ids.dtype() == DType::U32 {
        return fused::embedding::embedding(w, &ids.flatten_all()?);
    }
    w.index_select(&ids.flatten_all()?, 0)
}

/// `x (.., in) · w (in, out) + b (out,)`: GPT-2's Conv1D. Under a bf16 scope
/// ([`crate::nn::precision`]) the product runs in bf16 with f32 sums.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(w) && fused::usable(b) {
        return fused::linear::linear(x, w, b);
    }
    if let Some((x, w)) = autocast_operands(x, w)? {
        return reference::linear(&x, &w, &b.to_dtype(DType::BF16)?)?.to_dtype(DType::F32);
    }
    reference::linear(x, w, b)
}

/// `x (.., in) · w (out, in)ᵀ + b (out,)`: `torch.nn.Linear` (OPT), as [`linear`].
pub fn linear_t(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(w) && fused::usable(b) {
        return fused::linear::linear_t(x, w, b);
    }
    if let Some((x, w)) = autocast_operands(x, w)? {
        return reference::linear_t(&x, &w, &b.to_dtype(DType::BF16)?)?.to_dtype(DType::F32);
    }
    reference::linear_t(x, w, b)
}

/// `max(linear_t(x, w, b), 0)` (OPT's `fc1` and ReLU): one op on the fused path.
pub fn linear_t_relu(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(w) && fused::usable(b) {
        return fused::linear::linear_t_relu(x, w, b);
    }
    relu(&linear_t(x, w, b)?)
}

/// Off the fused path (CUDA) under a bf16 scope: the f32 operands cast to bf16 (candle
/// differentiates the casts, so gradients reach the f32 weights), as autocast does.
fn autocast_operands(x: &Tensor, w: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
    use crate::nn::precision::{current, Precision};
    if current() != Precision::Bf16 || x.dtype() != DType::F32 {
        return Ok(None);
    }
    Ok(Some((x.to_dtype(DType::BF16)?, w.to_dtype(DType::BF16)?)))
}

/// Llama's RMS norm over the last dimension: `x / sqrt(mean(x²) + eps) ⊙ w`, in f32.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(w) {
        return fused::norm::rms_norm(x, w, eps);
    }
    reference::rms_norm(x, w, eps)
}

/// Llama's gated activation `silu(a) ⊙ b`.
pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused::usable(a) && fused::usable(b) {
        return fused::swiglu::swiglu(a, b);
    }
    reference::swiglu(a, b)
}

/// Rotary positions on x (b, t, h, d) with cos/sin (t, r), r <= d: the first r dimensions
/// become `x cos + rotate_half(x) sin`, the others are kept (`apply_rotary_pos_emb`).
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    if fused::usable(x) && fused::usable(cos) && fused::usable(sin) {
        return fused::rope::rope(x, cos, sin);
    }
    reference::rope(x, cos, sin)
}

/// Per-position log-probabilities of `targets` (n,) under `logits` (n, v), as f32 (n,).
pub fn target_logprobs(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let lp = log_softmax_last_dim(&logits.to_dtype(DType::F32)?)?;
    lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)
}

/// ReLU (OPT's activation); its derivative at 0 is 0, as PyTorch's, on every device.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if fused::usable(x) {
        return fused::relu::relu(x);
    }
    reference::relu(x)
}

/// GPT-2's activations: `gelu_new` (tanh approximation) or `gelu` (erf).
pub fn gelu(x: &Tensor, exact: bool) -> Result<Tensor> {
    if fused::usable(x) {
        return match exact {
            true => fused::linear::gelu_erf(x),
            false => fused::linear::gelu_tanh(x),
        };
    }
    reference::gelu(x, exact)
}

/// The composed versions: what runs off the CPU, and what the fused kernels are tested
/// against.
pub mod reference {
    use super::*;

    /// Layer norm from primitive ops. Half-precision input is normalised in f32 (as PyTorch
    /// does): a sum of squares over 768 f16 values overflows once their RMS passes ~9.
    pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
        if matches!(x.dtype(), DType::F16 | DType::BF16) {
            let f = |t: &Tensor| t.to_dtype(DType::F32);
            return layer_norm(&f(x)?, &f(w)?, &f(b)?, eps)?.to_dtype(x.dtype());
        }
        let mean = x.mean_keepdim(D::Minus1)?; // (.., 1)
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
        xn.broadcast_mul(w)?.broadcast_add(b)
    }

    /// Softmax over the last dimension. The row maximum is detached: softmax does not depend on
    /// it, and leaving it out of the graph saves a backward op.
    pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
        if matches!(x.dtype(), DType::F16 | DType::BF16) {
            // In f32, as PyTorch's attention does: the row sum of exponentials needs the range.
            return softmax_last_dim(&x.to_dtype(DType::F32)?)?.to_dtype(x.dtype());
        }
        let max = x.max_keepdim(D::Minus1)?.detach();
        let e = x.broadcast_sub(&max)?.exp()?;
        e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
    }

    /// Log-softmax over the last dimension (max detached, as in [`softmax_last_dim`]).
    pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
        let max = x.max_keepdim(D::Minus1)?.detach();
        let diff = x.broadcast_sub(&max)?;
        let lse = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
        diff.broadcast_sub(&lse)
    }

    /// Mean cross-entropy of `logits` (n, v) against `targets` (n,) u32, natural log.
    pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let n = targets.dim(0)?;
        let lp = log_softmax_last_dim(logits)?; // (n, v)
        let picked = lp.gather(&targets.unsqueeze(1)?, 1)?; // (n, 1)
        picked.sum_all()?.affine(-1.0 / n as f64, 0.0)
    }

    /// `x w + b` as a matmul and a broadcast add.
    pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        let (n_in, _) = w.dims2()?;
        let mut dims = x.dims().to_vec();
        let rows = x.elem_count() / n_in;
        let y = x.reshape((rows, n_in))?.matmul(w)?.broadcast_add(b)?; // (rows, out)
        *dims.last_mut().expect("x has a last dimension") = y.dim(1)?;
        y.reshape(dims)
    }

    /// `x wᵀ + b` for `w` stored (out, in): a transposed view, no copy.
    pub fn linear_t(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        linear(x, &w.t()?, b)
    }

    /// RMS norm, computed in f32 and returned in x's dtype times w (as `LlamaRMSNorm`).
    pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let var = x.sqr()?.mean_keepdim(D::Minus1)?; // (.., 1)
        let x = x.broadcast_div(&(var + eps)?.sqrt()?)?;
        x.to_dtype(dtype)?.broadcast_mul(w)
    }

    /// `silu(a) ⊙ b`.
    pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.silu()? * b
    }

    /// Rotary positions from narrows, a concatenation and broadcast products.
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

    /// ReLU as `x · [x > 0]`: the mask is a constant to autograd, so the derivative at 0 is
    /// 0, as PyTorch's (candle's own `relu` gives 1 there).
    pub fn relu(x: &Tensor) -> Result<Tensor> {
        x * x.gt(0.0)?.to_dtype(x.dtype())?
    }

    /// GPT-2's activations: `gelu_new` (tanh approximation) or `gelu` (erf).
    pub fn gelu(x: &Tensor, exact: bool) -> Result<Tensor> {
        if exact {
            x.gelu_erf()
        } else {
            x.gelu()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &[f32], b: &[f32], tol: f32) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn layer_norm_matches_hand_computation_and_differentiates() {
        let dev = Device::Cpu;
        let x = Var::new(&[[1f32, 2., 3., 6.]], &dev).unwrap();
        let w = Var::new(&[1f32, 1., 2., 1.], &dev).unwrap();
        let b = Var::new(&[0f32, 0., 0., 1.], &dev).unwrap();
        let y = layer_norm(&x, &w, &b, 0.0).unwrap();
        // mean 3, var (4+1+0+9)/4 = 3.5
        let s = 3.5f32.sqrt();
        close(
            &y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &[-2. / s, -1. / s, 0., 3. / s + 1.],
            1e-6,
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        // d/db of sum = 1 each; d/dw = normalised x.
        close(
            &g.get(&b).unwrap().to_vec1::<f32>().unwrap(),
            &[1.; 4],
            1e-6,
        );
        close(
            &g.get(&w).unwrap().to_vec1::<f32>().unwrap(),
            &[-2. / s, -1. / s, 0., 3. / s],
            1e-6,
        );
        assert!(g.get(&x).is_some());
    }

    #[test]
    fn softmax_and_cross_entropy_have_gradients() {
        let dev = Device::Cpu;
        let z = Var::new(&[[0f32, (2f32).ln()]], &dev).unwrap();
        let p = softmax_last_dim(&z).unwrap();
        close(
            &p.flatten_all().unwrap().to_vec1().unwrap(),
            &[1. / 3., 2. / 3.],
            1e-6,
        );
        let t = Tensor::new(&[1u32], &dev).unwrap();
        let loss = cross_entropy(&z, &t).unwrap();
        close(&[loss.to_scalar::<f32>().unwrap()], &[(1.5f32).ln()], 1e-6);
        // dL/dz = softmax - onehot
        let g = loss.backward().unwrap();
        close(
            &g.get(&z).unwrap().flatten_all().unwrap().to_vec1().unwrap(),
            &[1. / 3., -1. / 3.],
            1e-6,
        );
        let g2 = p.sum_all().unwrap().backward().unwrap();
        close(
            &g2.get(&z)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap(),
            &[0., 0.],
            1e-6,
        );
    }
}
