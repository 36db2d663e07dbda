//! The architectures on CUDA, against the PyTorch fixtures the CPU tests read: f32 logits, loss,
//! every gradient, the KV cache and 10 AdamW steps for GPT-2, OPT (both layouts), Llama and
//! GPT-NeoX; `transformers.generate`'s token ids; and bf16/f16 inference against f32.
//!
//! These run only in a `--features cuda` build (scripts/cuda_build.sh) on a machine with a GPU;
//! anywhere else each test prints why it was skipped and passes (CI and the development
//! machine have no GPU; scripts/gpu_check.sh runs them on a lent one).
//!
//! Tolerances (f32 on the GPU: cuBLAS sums in another order than the CPU, without TF32):
//! logits and loss 1e-3 (absolute below 1, relative above), gradients 1e-3 of the tensor's
//! largest (the key biases' loss-free gradients apart, as on the CPU), losses and gradient
//! norms along 10 AdamW steps 1e-3, final weights 1e-3. Half-precision inference against our
//! own f32 logits on the same GPU: bf16 within 5% and f16 within 1% of the largest |logit|
//! (bf16 keeps 8 bits of mantissa, f16 11).

use crate::compare::{block_loss_steps, cached_logits, read_json, Report};
use crate::gpt_generate::check_cases;
use candle_core::{DType, Device};
use collapse_lab::lm::params::Params;
use collapse_lab::lm::{Arch, CausalLm};
use collapse_lab::models::{gpt2, gpt_neox, llama, opt};
use serde::de::DeserializeOwned;
use std::path::PathBuf;

const TOL: f64 = 1e-3;
const BF16_TOL: f64 = 0.05;
const F16_TOL: f64 = 0.01;

/// The GPU, or `None` with a note saying why these tests are skipped.
fn cuda() -> Option<Device> {
    if !cfg!(feature = "cuda") {
        eprintln!("skipped: built without --features cuda (scripts/cuda_build.sh builds it)");
        return None;
    }
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            let first = e.to_string().lines().next().unwrap_or("").to_string();
            eprintln!("skipped: no CUDA device here ({first})");
            None
        }
    }
}

/// A fixture folder; `COLLAPSE_LAB_ROOT` names the crate root when the test binary runs away
/// from where it was built (scripts/gpu_check.sh on a lent GPU machine).
fn fixture(name: &str) -> PathBuf {
    let root = std::env::var_os("COLLAPSE_LAB_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    root.join("tests/fixtures").join(name)
}

fn config<A: DeserializeOwned>(name: &str) -> A {
    serde_json::from_value(read_json(&fixture(name).join("config.json"))).unwrap()
}

/// Gradients the loss does not depend on (rounding noise on both sides, as on the CPU).
fn loss_free(name: &str) -> bool {
    name.ends_with("k_proj.bias")
        || name.ends_with("c_attn.bias")
        || name.ends_with("query_key_value.bias")
}

#[test]
fn cuda_f32_matches_pytorch_and_half_precision_stays_close() {
    let Some(dev) = cuda() else { return };
    let mut r = Report::default();
    check::<gpt2::config::Config>("gpt2_tiny", &dev, &mut r);
    check::<opt::config::OptConfig>("opt_tiny_preln", &dev, &mut r);
    check::<opt::config::OptConfig>("opt_tiny_postln", &dev, &mut r);
    check::<llama::config::Config>("llama_tiny", &dev, &mut r);
    check::<gpt_neox::config::Config>("neox_tiny", &dev, &mut r);
    r.print_worst("cuda: ");
    assert!(
        r.failures.is_empty(),
        "on CUDA:\n  {}",
        r.failures.join("\n  ")
    );
}

fn check<A: Arch>(name: &str, dev: &Device, r: &mut Report) {
    let dir = fixture(name);
    let cfg: A = config(name);
    let all =
        candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu).unwrap();
    let take = |k: &str| {
        all.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no `{k}`"))
    };
    let params = Params::load(&dir.join("model.safetensors"), &cfg, DType::F32, dev).unwrap();
    let blocks = take("blocks")
        .to_dtype(DType::U32)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let t = blocks.dim(1).unwrap() - 1;
    let input = blocks.narrow(1, 0, t).unwrap();
    let model = params.model(&cfg).unwrap();
    let logits = model.forward(&input, None, None).unwrap();
    r.abs_or_rel("logits", name, &logits, &take("logits"), TOL);
    let loss = model.block_loss(&blocks, None).unwrap();
    r.abs_or_rel("loss", name, &loss, &take("loss"), TOL);
    // The KV cache against the full pass, on the GPU.
    let row = input.narrow(0, 0, 1).unwrap();
    let cached = cached_logits(&model, &row, 4);
    let full = logits
        .narrow(0, 0, 1)
        .unwrap()
        .narrow(1, t - 4, 4)
        .unwrap()
        .squeeze(0)
        .unwrap();
    r.abs_or_rel("cache", name, &cached, &full, TOL);
    let grads = loss.backward().unwrap();
    for (pname, var) in &params.vars {
        if loss_free(pname) {
            continue;
        }
        let want = all
            .get(&format!("grad.{pname}"))
            .or_else(|| {
                all.get(&format!(
                    "grad.{}",
                    pname.replace("embed_out.weight", "lm_head.weight")
                ))
            })
            .unwrap_or_else(|| panic!("{name}: no gradient of {pname}"));
        r.rel(
            "grad",
            &format!("{name} {pname}"),
            grads.get(var.as_tensor()).unwrap(),
            want,
            TOL,
        );
    }
    // Half precision: inference only, against our own f32 logits.
    for (dtype, kind, tol) in [
        (DType::BF16, "bf16", BF16_TOL),
        (DType::F16, "f16", F16_TOL),
    ] {
        let half = params.to_dtype(dtype).unwrap().frozen_model(&cfg).unwrap();
        let l = half
            .forward(&input, None, None)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        r.abs_or_rel(kind, name, &l, &logits.detach(), tol);
    }
    // 10 AdamW steps.
    let hp = read_json(&dir.join("hyperparams.json"));
    let (losses, norms) = block_loss_steps(&params, &cfg, &hp, &blocks);
    r.trajectory(
        (&losses, &norms),
        (&take("losses"), &take("grad_norms")),
        (TOL, TOL),
    );
}

#[test]
fn cuda_generation_matches_transformers() {
    let Some(dev) = cuda() else { return };
    fn cases<A: Arch>(name: &str, dev: &Device) -> usize {
        let cfg: A = config(name);
        let params = Params::load(
            &fixture(name).join("model.safetensors"),
            &cfg,
            DType::F32,
            dev,
        )
        .unwrap();
        check_cases(
            &params.model(&cfg).unwrap(),
            &read_json(&fixture(name).join("expected.json")),
        )
    }
    assert!(cases::<gpt2::config::Config>("gpt2_generate", &dev) > 0);
    assert_eq!(cases::<opt::config::OptConfig>("opt_generate", &dev), 7);
    assert_eq!(cases::<llama::config::Config>("llama_generate", &dev), 7);
    assert_eq!(cases::<gpt_neox::config::Config>("neox_generate", &dev), 7);
}
