//! Our Llama and GPT-NeoX against PyTorch and `transformers` (as opt_reference.rs does for
//! OPT): a tiny random `LlamaForCausalLM` with grouped-query attention and Llama 3's rotary
//! scaling, and a tiny `GPTNeoXForCausalLM` with Pythia's partial rotary and parallel residual,
//! written by scripts/arch_reference.py into tests/fixtures/{llama,neox}_tiny (CI only reads
//! them): logits and loss, every parameter's gradient, 10 AdamW steps with clipping and the
//! warmup+cosine schedule, the final weights and logits, and 4 positions through the KV cache.
//!
//! Tolerances are opt_reference.rs's (f32 on both sides): logits and loss 1e-4 (absolute
//! below 1, relative above), gradients 1e-3 of the tensor's largest, losses 1e-3, gradient
//! norms 1e-3 relative, final weights 1e-4, cached logits 1e-4.

use crate::compare::{block_loss_steps, cached_logits, fixture_lrs, read_json, Report};
use candle_core::{DType, Device, Tensor, Var};
use collapse_lab::lm::params::Params;
use collapse_lab::lm::Arch;
use collapse_lab::lm::CausalLm;
use std::collections::BTreeMap;
use std::path::PathBuf;

const LOGITS_TOL: f64 = 1e-4;
const GRAD_REL_TOL: f64 = 1e-3;
const TRAJECTORY_TOL: f64 = 1e-3;
const NORM_REL_TOL: f64 = 1e-3;
const FINAL_TOL: f64 = 1e-4;

#[test]
fn llama_with_gqa_and_llama3_rope_matches_pytorch() {
    let cfg: collapse_lab::models::llama::config::Config = config("llama_tiny");
    cfg.check().unwrap();
    assert_eq!((cfg.num_attention_heads, cfg.kv_heads()), (4, 2));
    compare(&cfg, "llama_tiny", None);
}

#[test]
fn gpt_neox_with_partial_rotary_and_parallel_residual_matches_pytorch() {
    let cfg: collapse_lab::models::gpt_neox::config::Config = config("neox_tiny");
    cfg.check().unwrap();
    assert_eq!(cfg.rotary().unwrap(), (10_000.0, 2));
    assert!(cfg.use_parallel_residual && !cfg.tie_word_embeddings);
    let (_, r) = cfg.rotary().unwrap();
    compare(
        &cfg,
        "neox_tiny",
        Some((cfg.num_attention_heads, cfg.head_dim(), r)),
    );
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn config<C: serde::de::DeserializeOwned>(name: &str) -> C {
    serde_json::from_value(read_json(&fixture(name).join("config.json"))).unwrap()
}

/// Our parameter names are the files'; PyTorch's state names GPT-NeoX's head `lm_head`.
fn torch_name(ours: &str) -> String {
    ours.replace("embed_out.weight", "lm_head.weight")
}

/// For GPT-NeoX's packed `query_key_value.bias`: (heads, head_dim, rotary dims), whose key
/// part past the rotary dims is free (see `compare`).
fn free_key_bias(name: &str, free: Option<(usize, usize, usize)>) -> Option<(usize, usize, usize)> {
    free.filter(|_| name.ends_with("query_key_value.bias"))
}

/// A frozen model (scoring, generation) in an fp32 scope: with AVX-512 its weights are packed
/// once and its products of 17-256 rows (48 here) run on the copies
/// (`src/nn/fused/packed.rs`), giving PyTorch's logits.
fn frozen_in_a_scope<A: Arch>(
    params: &Params,
    cfg: &A,
    input: &Tensor,
    want: &Tensor,
    r: &mut Report,
) {
    use collapse_lab::nn::precision::{packs_held, Autocast, Precision};
    let _scope = Autocast::new(Precision::Fp32);
    let frozen = params.frozen_model(cfg).unwrap();
    let logits = frozen.forward(input, None, None).unwrap();
    r.abs_or_rel(
        "logits",
        "frozen logits, fp32 scope",
        &logits,
        want,
        LOGITS_TOL,
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        assert!(packs_held() > 0, "the frozen weights were packed");
    }
}

/// `free`: GPT-NeoX's (heads, head_dim, rotary dims), `None` for Llama (no biases).
fn compare<A: Arch>(cfg: &A, name: &str, free: Option<(usize, usize, usize)>) {
    let dir = fixture(name);
    let dev = Device::Cpu;
    let hp = read_json(&dir.join("hyperparams.json"));
    let all = candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap();
    let take = |k: &str| all.get(k).cloned().unwrap_or_else(|| panic!("no `{k}`"));
    let params = Params::load(&dir.join("model.safetensors"), cfg, DType::F32, &dev).unwrap();
    let blocks = take("blocks").to_dtype(DType::U32).unwrap();
    let t = blocks.dim(1).unwrap() - 1;
    let input = blocks.narrow(1, 0, t).unwrap();
    let mut r = Report::default();
    let model = params.model(cfg).unwrap();
    let logits = model.forward(&input, None, None).unwrap();
    r.abs_or_rel("logits", "logits", &logits, &take("logits"), LOGITS_TOL);
    let loss = model.block_loss(&blocks, None).unwrap();
    r.abs_or_rel("loss", "loss", &loss, &take("loss"), LOGITS_TOL);
    frozen_in_a_scope(&params, cfg, &input, &take("logits"), &mut r);
    // The KV cache (key/value heads stored once, after rotation).
    let row = input.narrow(0, 0, 1).unwrap();
    let cached = cached_logits(&model, &row, 4);
    r.abs_or_rel(
        "cache",
        "cached logits",
        &cached,
        &take("cached_logits"),
        LOGITS_TOL,
    );
    let grads = collapse_lab::nn::grad_sink::backward(&loss).unwrap();
    for (name, var) in &params.vars {
        let g = grads
            .get(var.as_tensor())
            .expect("every parameter has a gradient");
        r.rel(
            "grad",
            name,
            g,
            &take(&format!("grad.{}", torch_name(name))),
            GRAD_REL_TOL,
        );
    }
    let lrs = fixture_lrs(&hp);
    let (losses, norms) = block_loss_steps(&params, cfg, &hp, &blocks);
    let want = (&take("losses"), &take("grad_norms"));
    r.trajectory((&losses, &norms), want, (TRAJECTORY_TOL, NORM_REL_TOL));
    let mut theirs = BTreeMap::new();
    let lr_sum: f64 = lrs.iter().sum();
    for (name, var) in &params.vars {
        let want = take(&format!("final.{}", torch_name(name)));
        match free_key_bias(name, free) {
            // The key bias's unrotated dimensions add the same q·b to every score of a query:
            // softmax ignores them, their gradient is rounding noise, and Adam moves them by
            // up to lr a step (as GPT-2's and OPT's key biases): only that bound is checked.
            Some((h, d, rot)) => {
                let split = |t: &Tensor| {
                    let t = t.reshape((h, 3 * d)).unwrap();
                    let fixed = [
                        t.narrow(1, 0, d + rot).unwrap(),
                        t.narrow(1, 2 * d, d).unwrap(),
                    ];
                    (
                        Tensor::cat(&fixed, 1).unwrap(),
                        t.narrow(1, d + rot, d - rot).unwrap(),
                    )
                };
                let ((ours_fixed, ours_free), (want_fixed, want_free)) =
                    (split(var.as_tensor()), split(&want));
                r.abs("final", name, &ours_fixed, &want_fixed, FINAL_TOL);
                r.abs("free k", name, &ours_free, &want_free, 2.0 * lr_sum);
            }
            None => r.abs("final", name, var.as_tensor(), &want, FINAL_TOL),
        }
        theirs.insert(name.clone(), Var::from_tensor(&want).unwrap());
    }
    r.final_logits(cfg, &params, theirs, &input, LOGITS_TOL);
    r.print_worst(&format!("{name}: "));
    assert!(
        r.failures.is_empty(),
        "{name}: ours disagrees with PyTorch beyond tolerance:\n  {}",
        r.failures.join("\n  ")
    );
}

/// `transformers.generate`'s token ids for greedy and 5-beam search with repetition penalty
/// (OPT's seven cases, scripts/arch_generate_reference.py): identical.
#[test]
fn llama_and_gpt_neox_generation_matches_transformers() {
    use crate::gpt_generate::check_cases;
    let llama: collapse_lab::models::llama::config::Config = config("llama_generate");
    let neox: collapse_lab::models::gpt_neox::config::Config = config("neox_generate");
    let load = |name: &str| {
        let dir = fixture(name);
        (
            read_json(&dir.join("expected.json")),
            dir.join("model.safetensors"),
        )
    };
    let (expected, weights) = load("llama_generate");
    let params = Params::load(&weights, &llama, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(check_cases(&params.model(&llama).unwrap(), &expected), 7);
    let (expected, weights) = load("neox_generate");
    let params = Params::load(&weights, &neox, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(check_cases(&params.model(&neox).unwrap(), &expected), 7);
}
