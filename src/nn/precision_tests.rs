//! Tests of [`super`]: which layouts an op keeps, and frozen f32 weights packed once per scope.

use super::*;
use candle_core::{Device, Var};

/// The largest absolute difference between two tensors of one shape.
fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// A trained weight's op keeps its backward's layout, unless no backward will follow.
#[test]
fn an_op_keeps_the_backward_layout_only_when_a_backward_may_follow() {
    let w = Var::from_vec(
        (0..64 * 48).map(|i| i as f32).collect(),
        (64, 48),
        &Device::Cpu,
    )
    .unwrap();
    let _bf16 = Autocast::new(Precision::Bf16);
    let kept = |p: &Products| p.backward.lock().unwrap().as_ref().map(|(t, _)| *t);
    let pack = |p: &Products| {
        crate::nn::fused::with_slice(w.as_tensor(), |s| {
            let b = Mat::rows(s, 0, 64, 48, 48);
            // SAFETY: b is a valid (64, 48) view of w's values.
            let packed = unsafe { p.packed(w.as_tensor(), false, b, (64, 48)) };
            (packed.k, packed.n)
        })
        .unwrap()
    };
    let training = Products::for_weight(w.as_tensor());
    assert_eq!(pack(&training), (64, 48));
    assert_eq!(
        kept(&training),
        Some(true),
        "the transposed layout, for the backward"
    );
    let validation = {
        let _forward_only = NoBackward::new();
        Products::for_weight(w.as_tensor())
    };
    assert_eq!(pack(&validation), (64, 48));
    assert_eq!(kept(&validation), None);
}

/// Under an fp32 scope, a frozen weight's products of 17..=256 rows (a linear layer stored
/// either way, and the head) run on a copy packed once and kept until the scope ends,
/// with the results of `gemm` on the weight as a variable (1e-5); decoding's few rows and
/// more than 256 rows pack nothing.
#[test]
fn a_frozen_f32_weight_is_packed_once_per_scope() {
    use crate::nn::fused::{head, linear};
    if !packed::available() {
        return; // gemm computes every product without AVX-512
    }
    let dev = Device::Cpu;
    let (n_in, n_out) = (40, 70);
    let w = Tensor::randn(0f32, 1.0, (n_out, n_in), &dev).unwrap();
    let b = Tensor::randn(0f32, 1.0, n_out, &dev).unwrap();
    let var = Var::from_tensor(&w).unwrap();
    let _scope = Autocast::new(Precision::Fp32);
    for (rows, packs) in [(8, 0), (17, 1), (256, 1), (257, 0)] {
        let x = Tensor::randn(0f32, 1.0, (rows, n_in), &dev).unwrap();
        let w = w.copy().unwrap(); // a weight of its own, not kept yet
        let held = packs_held();
        let want = linear::linear_t(&x, var.as_tensor(), &b).unwrap();
        let got = linear::linear_t(&x, &w, &b).unwrap();
        assert_eq!(packs_held(), held + packs, "{rows} rows");
        assert!(max_diff(&got, &want) < 1e-5, "{rows} rows");
        // Again: the kept copy, nothing new.
        let again = linear::linear_t(&x, &w, &b).unwrap();
        assert_eq!(packs_held(), held + packs, "{rows} rows, again");
        assert!(max_diff(&again, &got) == 0.0);
    }
    // A weight stored (in, out), and the head (wte read transposed).
    let wt = w.t().unwrap().contiguous().unwrap();
    let x = Tensor::randn(0f32, 1.0, (64, n_in), &dev).unwrap();
    let held = packs_held();
    let want = linear::linear(&x, &Var::from_tensor(&wt).unwrap(), &b).unwrap();
    let got = linear::linear(&x, &wt, &b).unwrap();
    assert!(max_diff(&got, &want) < 1e-5);
    let targets = Tensor::new((0..64).map(|i| i % n_out as u32).collect::<Vec<_>>(), &dev).unwrap();
    let loss = |wte: &Tensor| -> f32 {
        head::lm_head_loss(&x, wte, &targets)
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    assert!((loss(&w) - loss(var.as_tensor())).abs() < 1e-5);
    assert_eq!(packs_held(), held + 2);
    // The gradient through a frozen weight (dx = g · W: W packed in its other layout).
    let dx = |w: &Tensor| -> Tensor {
        let xv = Var::from_tensor(&x).unwrap();
        let y = linear::linear_t(xv.as_tensor(), w, &b).unwrap();
        let grads = (y.clone() * &y)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        grads.get(xv.as_tensor()).unwrap().clone()
    };
    let frozen_w = w.copy().unwrap();
    let (got, want) = (dx(&frozen_w), dx(var.as_tensor()));
    let scale: f32 = want.abs().unwrap().max_all().unwrap().to_scalar().unwrap();
    assert!(
        max_diff(&got, &want) < 1e-5 * scale,
        "{} of {scale}",
        max_diff(&got, &want)
    );
    assert_eq!(packs_held(), held + 4, "both layouts of the frozen weight");
    drop(_scope);
    assert_eq!(packs_held(), 0, "the scope's end frees them");
}

/// An optimiser step rewrites the variables in place, under the frozen views a scope may have
/// packed: the step drops the copies, so the views' next products see the new values.
#[test]
fn an_optimiser_step_drops_the_packed_frozen_weights() {
    use crate::nn::adamw::{AdamW, AdamWConfig};
    use crate::nn::fused::linear;
    if !packed::available() {
        return;
    }
    let dev = Device::Cpu;
    let var = Var::from_tensor(&Tensor::randn(0f32, 1.0, (30, 20), &dev).unwrap()).unwrap();
    let (b, x) = (
        Tensor::zeros(30, candle_core::DType::F32, &dev).unwrap(),
        Tensor::randn(0f32, 1.0, (32, 20), &dev).unwrap(),
    );
    let frozen = var.as_tensor().detach(); // what Params::frozen_model builds
    let _scope = Autocast::new(Precision::Fp32);
    let before = linear::linear_t(&x, &frozen, &b).unwrap();
    assert_eq!(packs_held(), 1);
    let mut opt = AdamW::new(
        vec![("w".into(), var.clone(), true)],
        AdamWConfig::default(),
    )
    .unwrap();
    let loss = linear::linear_t(&x, var.as_tensor(), &b)
        .unwrap()
        .sum_all()
        .unwrap();
    opt.step(&loss.backward().unwrap(), 0.1).unwrap();
    assert_eq!(packs_held(), 0);
    let after = linear::linear_t(&x, &frozen, &b).unwrap();
    let want = linear::linear_t(&x, var.as_tensor(), &b).unwrap();
    assert!(
        max_diff(&after, &want) < 1e-4,
        "{}",
        max_diff(&after, &want)
    );
    assert!(
        max_diff(&after, &before) > 0.1,
        "the step moved the weights"
    );
}
