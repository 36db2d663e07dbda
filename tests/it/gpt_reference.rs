//! Our GPT-2 against PyTorch and `transformers` (the idea of llm.c's test_gpt2): the same
//! tiny `GPT2LMHeadModel`, the same token blocks, and the same 10 AdamW steps must give the
//! same numbers. The fixture in tests/fixtures/gpt2_tiny is written by
//! scripts/gpt2_reference.py (see its header; CI does not run Python, it only reads the
//! committed files): the initial weights in Hugging Face names, PyTorch's logits, loss and
//! every gradient at those weights, the loss and gradient norm before each of 10
//! `torch.optim.AdamW` steps (decay/no-decay groups, `clip_grad_norm_(1.0)`, warmup+cosine
//! learning rate), and the weights after them.
//!
//! Tolerances (all f32 on both sides, so differences come from summation order in matmuls,
//! reductions and transcendental functions, about 1e-7 relative per op):
//! * logits and loss: max |ours − ref| ≤ 1e-4 · max(1, max |ref|), i.e. absolute 1e-4 for
//!   O(1) values and relative 1e-4 where the values are larger (logits here reach ~5);
//! * gradients: max |ours − ref| / max |ref| ≤ 1e-3 per tensor;
//! * gradient norms (before clipping): relative 1e-3; losses before each step: absolute 1e-3;
//! * final weights after 10 steps: max |ours − ref| ≤ 1e-4 per tensor. Adam moves an element
//!   by about lr per step whatever its gradient's size (|m̂/√v̂| ≲ 1), Σ lr = 0.066 here, so
//!   1e-4 is 0.15% of the largest displacement; we land at ≤ ~5e-6, the f32 noise of the
//!   gradients carried through 10 normalised updates.
//! * except the attention key biases (the middle third of each `c_attn.bias`): the loss does
//!   not depend on them (`q·(k + b)` adds the same `q·b` to every score of a query, and softmax
//!   ignores it), so their true gradient is 0 and both sides hold ~1e-8 of rounding noise,
//!   which Adam normalises into ±lr steps in directions that differ between the two
//!   implementations. There we only check that the gradients are noise (≤ 1e-6 of the
//!   tensor's largest) and that the final values moved no more than Adam can (2 · Σ lr apart),
//!   and instead require the function to agree: our final model's logits against those of the
//!   reference's final weights, within the logits tolerance.
//!
//! The test can fail: each of these one-line perturbations, tried once, breaks it (its worst
//! comparison more than 10× over tolerance): exact gelu instead of gelu_new, layer-norm ε 1e-4,
//! weight decay on every tensor, β2 0.999, Adam ε 1e-6, a 1% larger learning rate, a 5% larger
//! clipping norm.
//!
//! With `COLLAPSE_LAB_EXPORT_DIR=DIR`, the model after the 10 steps is written to DIR
//! (model.safetensors and config.json, as our checkpoints are) for
//! `scripts/gpt2_reference.py --verify-export DIR`, which loads it with
//! `GPT2LMHeadModel.from_pretrained` and compares its logits with PyTorch's.

use crate::compare::{block_loss_steps, fixture_lrs, read_json, values, Report};
use candle_core::{DType, Device, Tensor, Var};
use collapse_lab::lm::params::Params;
use collapse_lab::lm::CausalLm;
use collapse_lab::models::gpt2::config::Config;
use collapse_lab::nn::adamw::warmup_cosine;
use std::collections::HashMap;
use std::path::PathBuf;

const LOGITS_TOL: f64 = 1e-4;
const LOSS_TOL: f64 = 1e-4;
const GRAD_REL_TOL: f64 = 1e-3;
const NORM_REL_TOL: f64 = 1e-3;
const TRAJECTORY_TOL: f64 = 1e-3;
const FINAL_TOL: f64 = 1e-4;
/// Key-bias gradients are rounding noise: at most this fraction of the tensor's largest.
const KEY_BIAS_GRAD_NOISE: f64 = 1e-6;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_tiny")
}

#[test]
fn gpt2_matches_pytorch_forward_backward_and_adamw() {
    let dir = fixture();
    let dev = Device::Cpu;
    let cfg: Config = serde_json::from_value(read_json(&dir.join("config.json"))).unwrap();
    cfg.check().unwrap();
    let hp = read_json(&dir.join("hyperparams.json"));
    let mut reference: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap();
    let mut take = |k: &str| {
        reference
            .remove(k)
            .unwrap_or_else(|| panic!("reference.safetensors lacks `{k}`"))
    };
    let params = Params::load(&dir.join("model.safetensors"), &cfg, DType::F32, &dev).unwrap();
    let blocks = take("blocks").to_dtype(DType::U32).unwrap(); // int64 in the fixture
    let (b, t1) = blocks.dims2().unwrap();
    println!(
        "fixture: {} parameters, blocks ({b}, {t1}), vocab {}, n_embd {}, n_layer {}",
        params.count(),
        cfg.vocab_size,
        cfg.n_embd,
        cfg.n_layer
    );
    let mut r = Report::default();

    // Forward: logits of the inputs, and the loss.
    let model = params.model(&cfg).unwrap();
    let logits = model
        .forward(&blocks.narrow(1, 0, t1 - 1).unwrap(), None, None)
        .unwrap();
    r.abs_or_rel("logits", "logits", &logits, &take("logits"), LOGITS_TOL);
    let loss = model.block_loss(&blocks, None).unwrap();
    r.abs_or_rel("loss", "loss", &loss, &take("loss"), LOSS_TOL);

    // Backward: every parameter's gradient (wte's includes the tied output head's part).
    let grads = collapse_lab::nn::grad_sink::backward(&loss).unwrap();
    for (name, var) in &params.vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let want = take(&format!("grad.{name}"));
        r.rel("grad", name, g, &want, GRAD_REL_TOL);
        if name.ends_with("attn.c_attn.bias") {
            // The key biases do not affect the loss: both gradients must be rounding noise.
            let c = cfg.n_embd;
            let scale = values(&want).iter().map(|x| x.abs()).fold(0f64, f64::max);
            for (side, t) in [("ours", g), ("ref", &want)] {
                let k = values(&t.narrow(0, c, c).unwrap());
                let m = k.iter().map(|x| x.abs()).fold(0f64, f64::max);
                let what = format!("{name}[k] {side}");
                r.check("k noise", &what, m, scale, m / scale, KEY_BIAS_GRAD_NOISE);
            }
        }
    }

    // Training: 10 AdamW steps on the same batch, clipping first, the fixture's schedule.
    let steps = hp["steps"].as_u64().unwrap();
    let s = &hp["schedule"];
    let sched = |k: &str| s[k].as_f64().unwrap();
    let lrs = fixture_lrs(&hp);
    assert_eq!(lrs.len() as u64, steps);
    for (step, &want) in lrs.iter().enumerate() {
        let ours = warmup_cosine(
            step as u64,
            sched("warmup") as u64,
            sched("total") as u64,
            sched("peak"),
            sched("min"),
        );
        assert!(
            (ours - want).abs() <= 1e-12,
            "lr at step {step}: {ours} vs {want}"
        );
    }
    let (losses, norms) = block_loss_steps(&params, &cfg, &hp, &blocks);
    let want = (&take("losses"), &take("grad_norms"));
    r.trajectory((&losses, &norms), want, (TRAJECTORY_TOL, NORM_REL_TOL));
    let lr_sum: f64 = lrs.iter().sum();
    let mut reference_final = std::collections::BTreeMap::new();
    for (name, var) in &params.vars {
        let want = take(&format!("final.{name}"));
        reference_final.insert(name.clone(), Var::from_tensor(&want).unwrap());
        let ours = var.as_tensor();
        if name.ends_with("attn.c_attn.bias") {
            let c = cfg.n_embd;
            let part = |t: &Tensor, i: usize| t.narrow(0, i * c, c).unwrap();
            for (i, qkv) in [(0, "q"), (2, "v")] {
                let what = format!("{name}[{qkv}]");
                r.abs("final", &what, &part(ours, i), &part(&want, i), FINAL_TOL);
            }
            let (what, bound) = (format!("{name}[k]"), 2.0 * lr_sum);
            r.abs("free k", &what, &part(ours, 1), &part(&want, 1), bound);
        } else {
            r.abs("final", name, ours, &want, FINAL_TOL);
        }
    }
    // The same function: logits of our final model and of the reference's final weights.
    let input = blocks.narrow(1, 0, t1 - 1).unwrap();
    r.final_logits(&cfg, &params, reference_final, &input, LOGITS_TOL);
    let left: Vec<&String> = reference.keys().collect();
    assert!(left.is_empty(), "reference tensors not compared: {left:?}");

    r.print_worst("");

    if let Some(out) = std::env::var_os("COLLAPSE_LAB_EXPORT_DIR") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        params.save(&out.join("model.safetensors")).unwrap();
        let json = serde_json::to_string_pretty(&cfg).unwrap();
        std::fs::write(out.join("config.json"), json + "\n").unwrap();
        println!(
            "exported the model after {steps} steps to {}",
            out.display()
        );
    }

    assert!(
        r.failures.is_empty(),
        "our GPT-2 disagrees with PyTorch beyond tolerance:\n  {}",
        r.failures.join("\n  ")
    );
}
