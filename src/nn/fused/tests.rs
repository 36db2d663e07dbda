//! Every fused kernel against its composed reference ([`crate::nn::ops::reference`]), forward
//! and backward, on random inputs: outputs within 1e-5 absolute (1e-4 for the attention, whose
//! two chained products sum more terms), gradients within 1e-4 relative to their largest entry.
//! The backward is driven by `sum(y ⊙ r)` for a random `r`, so every output entry carries a
//! different upstream gradient.

use super::{adamw, attention, head, linear, norm, softmax};
use crate::nn::ops::reference;
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor, Var};

fn rand(rng: &mut Rng, shape: &[usize], scale: f64, shift: f64) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * scale + shift) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn vals(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Largest |a − b|, divided by the largest |b| when `relative`.
fn diff(a: &Tensor, b: &Tensor, relative: bool) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (vals(a), vals(b));
    assert!(a.iter().all(|x| x.is_finite()), "non-finite values");
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0f32, f32::max);
    if relative {
        d / scale.max(1e-12)
    } else {
        d
    }
}

/// Runs `f` fused and composed on fresh variables with the same values; checks outputs within
/// `tol` and the gradients of every input within 1e-4 relative.
fn check(
    inputs: &[Tensor],
    tol: f32,
    fused: impl Fn(&[Tensor]) -> Tensor,
    composed: impl Fn(&[Tensor]) -> Tensor,
) {
    let run = |f: &dyn Fn(&[Tensor]) -> Tensor| {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts);
        let r = rand(&mut Rng::new(99), y.dims(), 1.0, 0.0);
        let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<Tensor> = vars
            .iter()
            .map(|v| grads.get(v.as_tensor()).expect("gradient").clone())
            .collect();
        (y, g)
    };
    let (yf, gf) = run(&fused);
    let (yc, gc) = run(&composed);
    let d = diff(&yf, &yc, false);
    assert!(d <= tol, "forward differs by {d}");
    for (i, (a, b)) in gf.iter().zip(&gc).enumerate() {
        let d = diff(a, b, true);
        assert!(d <= 1e-4, "gradient of input {i} differs by {d} (relative)");
    }
}

#[test]
fn layer_norm_matches_composed() {
    let mut rng = Rng::new(1);
    let x = rand(&mut rng, &[3, 7, 33], 2.0, 0.5);
    let w = rand(&mut rng, &[33], 1.0, 1.0);
    let b = rand(&mut rng, &[33], 0.5, 0.0);
    check(
        &[x, w, b],
        1e-5,
        |t| norm::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
        |t| reference::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
    );
}

#[test]
fn softmax_matches_composed_with_masked_entries() {
    let mut rng = Rng::new(2);
    let mut v = vals(&rand(&mut rng, &[5, 19], 4.0, 0.0));
    v[3] = f32::NEG_INFINITY;
    v[40] = f32::NEG_INFINITY;
    let x = Tensor::from_vec(v, (5, 19), &Device::Cpu).unwrap();
    let y = softmax::softmax_last_dim(&x).unwrap();
    assert_eq!(vals(&y)[3], 0.0, "e^-inf must be exactly 0");
    // Gradients through -inf inputs are NaN-free in both; compare on finite inputs.
    let x = rand(&mut rng, &[5, 19], 4.0, 0.0);
    check(
        &[x],
        1e-6,
        |t| softmax::softmax_last_dim(&t[0]).unwrap(),
        |t| reference::softmax_last_dim(&t[0]).unwrap(),
    );
}

#[test]
fn cross_entropy_matches_composed() {
    let mut rng = Rng::new(3);
    let logits = rand(&mut rng, &[37, 101], 6.0, 1.0);
    let t: Vec<u32> = (0..37).map(|_| rng.below(101) as u32).collect();
    let targets = Tensor::from_vec(t, 37, &Device::Cpu).unwrap();
    check(
        &[logits],
        1e-5,
        |x| softmax::cross_entropy(&x[0], &targets).unwrap(),
        |x| reference::cross_entropy(&x[0], &targets).unwrap(),
    );
    let bad = Tensor::new(&[101u32], &Device::Cpu).unwrap();
    let one = rand(&mut rng, &[1, 101], 1.0, 0.0);
    assert!(
        softmax::cross_entropy(&one, &bad).is_err(),
        "target out of range"
    );
}

#[test]
fn head_loss_matches_matmul_then_cross_entropy() {
    let mut rng = Rng::new(7);
    let h = rand(&mut rng, &[23, 16], 1.0, 0.0);
    let wte = rand(&mut rng, &[61, 16], 0.5, 0.0);
    let t: Vec<u32> = (0..23).map(|_| rng.below(61) as u32).collect();
    let targets = Tensor::from_vec(t, 23, &Device::Cpu).unwrap();
    check(
        &[h, wte],
        1e-5,
        |x| head::lm_head_loss(&x[0], &x[1], &targets).unwrap(),
        |x| {
            let logits = x[0].matmul(&x[1].t().unwrap()).unwrap();
            reference::cross_entropy(&logits, &targets).unwrap()
        },
    );
}

#[test]
fn linear_and_gelu_match_composed() {
    let mut rng = Rng::new(4);
    let x = rand(&mut rng, &[2, 5, 24], 1.0, 0.0);
    let w = rand(&mut rng, &[24, 40], 0.3, 0.0);
    let b = rand(&mut rng, &[40], 0.3, 0.0);
    check(
        &[x, w, b],
        1e-5,
        |t| linear::linear(&t[0], &t[1], &t[2]).unwrap(),
        |t| reference::linear(&t[0], &t[1], &t[2]).unwrap(),
    );
    // torch.nn.Linear's layout (out, in), OPT's: few rows (decoding: dot-product tiles, one
    // row, more than 1024 inputs, outputs not a multiple of the tile, rows in groups) and
    // many (one gemm).
    let shapes = [
        (10, 24, 40),
        (1, 24, 40),
        (7, 1100, 37),
        (70, 24, 40),
        (150, 24, 40),
    ];
    for (rows, n_in, n_out) in shapes {
        let x = rand(&mut rng, &[rows, n_in], 1.0, 0.0);
        let w = rand(&mut rng, &[n_out, n_in], 0.3, 0.0);
        let b = rand(&mut rng, &[n_out], 0.3, 0.0);
        let tol = if n_in > 100 { 1e-4 } else { 1e-5 };
        check(
            &[x.clone(), w.clone(), b.clone()],
            tol,
            |t| linear::linear_t(&t[0], &t[1], &t[2]).unwrap(),
            |t| reference::linear_t(&t[0], &t[1], &t[2]).unwrap(),
        );
        // OPT's fc1 with its ReLU in the op (about half the outputs negative).
        check(
            &[x, w, b],
            tol,
            |t| linear::linear_t_relu(&t[0], &t[1], &t[2]).unwrap(),
            |t| reference::relu(&reference::linear_t(&t[0], &t[1], &t[2]).unwrap()).unwrap(),
        );
    }
    // Wide enough range for both tails of the tanh.
    let x = rand(&mut rng, &[3, 1000], 8.0, 0.0);
    check(
        &[x.clone()],
        1e-5,
        |t| linear::gelu_tanh(&t[0]).unwrap(),
        |t| reference::gelu(&t[0], false).unwrap(),
    );
    // The erf form against candle's libm erf, over both tails too.
    check(
        &[x.clone()],
        1e-5,
        |t| linear::gelu_erf(&t[0]).unwrap(),
        |t| reference::gelu(&t[0], true).unwrap(),
    );
    // ReLU against the composed `x · [x > 0]`, exact zeros included (derivative 0 there).
    let x = (x.clone()
        * x.abs()
            .unwrap()
            .gt(1.0)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap())
    .unwrap();
    check(
        &[x],
        0.0,
        |t| super::relu::relu(&t[0]).unwrap(),
        |t| reference::relu(&t[0]).unwrap(),
    );
}

/// Attention composed from primitive ops, as the model's generation path computes it.
fn composed_attention(qkv: &Tensor, h: usize, scale: f64) -> Tensor {
    let (b, t, c3) = qkv.dims3().unwrap();
    let (c, d) = (c3 / 3, c3 / 3 / h);
    let heads = |i: usize| {
        qkv.narrow(2, i * c, c)
            .unwrap()
            .reshape((b, t, h, d))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap() // (b, h, t, d)
    };
    let (q, k, v) = (heads(0), heads(1), heads(2));
    let mask: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t <= i / t {
                0.0
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, (t, t), &Device::Cpu).unwrap();
    let att = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
    let att = reference::softmax_last_dim(&att.broadcast_add(&mask).unwrap()).unwrap();
    let y = att.matmul(&v).unwrap(); // (b, h, t, d)
    y.transpose(1, 2).unwrap().reshape((b, t, c)).unwrap()
}

#[test]
fn causal_attention_matches_composed() {
    let mut rng = Rng::new(5);
    let qkv = rand(&mut rng, &[2, 9, 3 * 12], 1.5, 0.0);
    let scale = 1.0 / (4f64).sqrt();
    check(
        &[qkv],
        1e-5,
        |t| attention::causal_attention(&t[0], 3, scale).unwrap(),
        |t| composed_attention(&t[0], 3, scale),
    );
}

#[test]
fn adamw_update_matches_the_composed_formula() {
    let mut rng = Rng::new(6);
    let p0 = rand(&mut rng, &[3000], 1.0, 0.0);
    let (p, m, v) = (
        p0.copy().unwrap(),
        p0.zeros_like().unwrap(),
        p0.zeros_like().unwrap(),
    );
    let (mut mc, mut vc, mut pc) = (m.copy().unwrap(), v.copy().unwrap(), p0.clone());
    let (b1, b2, eps, lr, wd) = (0.9f64, 0.95f64, 1e-8f64, 0.01f64, 0.1f64);
    for step in 1..=3 {
        let g = rand(&mut rng, &[3000], 0.5, 0.1);
        // Step 2's gradient clipped (scaled inside the update, against scaled first).
        let scale = if step == 2 { 0.37 } else { 1.0 };
        let (bc1, bc2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
        let h = adamw::AdamHyper {
            decay: (1.0 - lr * wd) as f32,
            beta1: b1 as f32,
            beta2: b2 as f32,
            one_minus_beta1: (1.0 - b1) as f32,
            one_minus_beta2: (1.0 - b2) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: eps as f32,
            step_size: (lr / bc1) as f32,
            grad_scale: scale as f32,
        };
        adamw::adamw_update(&p, &m, &v, &g, h).unwrap();
        let g = (g * scale).unwrap();
        mc = ((&mc * b1).unwrap() + (&g * (1.0 - b1)).unwrap()).unwrap();
        vc = ((&vc * b2).unwrap() + (g.sqr().unwrap() * (1.0 - b2)).unwrap()).unwrap();
        let denom = ((vc.sqrt().unwrap() / bc2.sqrt()).unwrap() + eps).unwrap();
        let upd = (mc.div(&denom).unwrap() * (lr / bc1)).unwrap();
        pc = (pc.affine(1.0 - lr * wd, 0.0).unwrap() - upd).unwrap();
    }
    assert!(diff(&p, &pc, false) < 1e-6, "{}", diff(&p, &pc, false));
    assert!(diff(&m, &mc, false) < 1e-6);
    assert!(diff(&v, &vc, false) < 1e-6);
    let want: f64 = vals(&p0).iter().map(|&x| (x as f64) * (x as f64)).sum();
    assert!((adamw::sum_squares(&p0).unwrap() - want).abs() < 1e-3);
}

/// The AVX2 and baseline builds of the kernels (this machine may run only the widest one
/// otherwise) against the composed versions, through the same checks.
#[test]
fn narrower_simd_levels_match_too() {
    use super::simd::FORCE;
    use std::sync::atomic::Ordering;
    for level in [2u8, 3] {
        FORCE.store(level, Ordering::Relaxed);
        layer_norm_matches_composed();
        softmax_matches_composed_with_masked_entries();
        cross_entropy_matches_composed();
        head_loss_matches_matmul_then_cross_entropy();
        linear_and_gelu_match_composed();
        causal_attention_matches_composed();
        adamw_update_matches_the_composed_formula();
        rms_norm_swiglu_and_rope_match_composed();
        grouped_query_attention_matches_repeated_heads();
        separate_qkv_attention_matches_packed();
        crate::nn::bf16::tests::packers_hold_every_element_rounded_and_zero_padding();
    }
    FORCE.store(0, Ordering::Relaxed);
}

#[test]
fn rms_norm_swiglu_and_rope_match_composed() {
    use super::{rope, swiglu};
    let mut rng = Rng::new(11);
    let x = rand(&mut rng, &[3, 5, 40], 2.0, 0.3);
    let w = rand(&mut rng, &[40], 1.0, 1.0);
    check(
        &[x, w],
        1e-5,
        |t| norm::rms_norm(&t[0], &t[1], 1e-6).unwrap(),
        |t| reference::rms_norm(&t[0], &t[1], 1e-6).unwrap(),
    );
    let a = rand(&mut rng, &[4, 7, 37], 6.0, 0.0);
    let b = rand(&mut rng, &[4, 7, 37], 1.0, 0.0);
    check(
        &[a, b],
        1e-5,
        |t| swiglu::swiglu(&t[0], &t[1]).unwrap(),
        |t| reference::swiglu(&t[0], &t[1]).unwrap(),
    );
    // Whole heads rotated (Llama) and a quarter of each (Pythia), positions from 3 on.
    for r in [16, 4] {
        let x = rand(&mut rng, &[2, 6, 3, 16], 1.0, 0.0);
        // Angles p θᵢ, different in the two halves (`lm::rotary` repeats them; a kernel that
        // mixed up the halves would pass on those).
        let angles: Vec<f32> = (3..9)
            .flat_map(|p| (0..r).map(move |i| p as f32 * 0.7f32.powi(i as i32)))
            .collect();
        let angles = Tensor::from_vec(angles, (6, r), &Device::Cpu).unwrap();
        let (cos, sin) = (angles.cos().unwrap(), angles.sin().unwrap());
        check(
            &[x],
            1e-6,
            |t| rope::rope(&t[0], &cos, &sin).unwrap(),
            |t| reference::rope(&t[0], &cos, &sin).unwrap(),
        );
    }
}

#[test]
fn grouped_query_attention_matches_repeated_heads() {
    let mut rng = Rng::new(12);
    let (h, kv, d) = (6, 2, 4);
    let qkv = rand(&mut rng, &[2, 9, (h + 2 * kv) * d], 1.5, 0.0);
    let scale = 1.0 / (d as f64).sqrt();
    // Each key/value head copied for its h / kv query heads, then ordinary attention.
    let repeated = |qkv: &Tensor| {
        let head = |i: usize| qkv.narrow(2, i * d, d).unwrap();
        let mut cols: Vec<Tensor> = (0..h).map(head).collect();
        cols.extend((0..h).map(|j| head(h + j / (h / kv))));
        cols.extend((0..h).map(|j| head(h + kv + j / (h / kv))));
        Tensor::cat(&cols, 2).unwrap()
    };
    check(
        &[qkv],
        1e-5,
        |t| attention::grouped_causal_attention(&t[0], h, kv, scale).unwrap(),
        |t| composed_attention(&repeated(&t[0]), h, scale),
    );
}

/// Separate q, k, v (OPT's, Llama's and Pythia's projections) against the packed op on their
/// join, with as many key/value heads as query heads and with fewer.
#[test]
fn separate_qkv_attention_matches_packed() {
    let mut rng = Rng::new(13);
    let (h, d) = (6, 4);
    for kv in [6, 2] {
        let q = rand(&mut rng, &[2, 9, h * d], 1.5, 0.0);
        let k = rand(&mut rng, &[2, 9, kv * d], 1.5, 0.0);
        let v = rand(&mut rng, &[2, 9, kv * d], 1.5, 0.0);
        let scale = 1.0 / (d as f64).sqrt();
        check(
            &[q, k, v],
            1e-6,
            |t| attention::separate_causal_attention((&t[0], &t[1], &t[2]), h, kv, scale).unwrap(),
            |t| {
                let qkv = Tensor::cat(t, 2).unwrap();
                attention::grouped_causal_attention(&qkv, h, kv, scale).unwrap()
            },
        );
    }
    // Keys narrower than the values, or heads that do not divide q: refused, not read past.
    let (q, k) = (
        rand(&mut rng, &[2, 9, 24], 1.0, 0.0),
        rand(&mut rng, &[2, 9, 8], 1.0, 0.0),
    );
    let v = rand(&mut rng, &[2, 9, 12], 1.0, 0.0);
    assert!(attention::separate_causal_attention((&q, &k, &v), 6, 2, 0.5).is_err());
    assert!(attention::separate_causal_attention((&q, &k, &k), 5, 1, 0.5).is_err());
}
