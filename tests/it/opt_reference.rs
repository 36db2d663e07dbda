//! Our OPT against PyTorch and `transformers` (as gpt_reference.rs does for GPT-2): two tiny
//! random `OPTForCausalLM`s, one pre-LayerNorm like opt-125m, one post-LayerNorm with
//! `project_in`/`project_out` like opt-350m, written by scripts/opt_reference.py into
//! tests/fixtures/opt_tiny_{preln,postln} (CI only reads them). For each: logits and loss on
//! token blocks that start with OPT's BOS and contain `<pad>` (whose embedding row gets no
//! gradient from lookups in PyTorch), every parameter's gradient, 10 AdamW steps with
//! clipping and the warmup+cosine schedule, the final weights and logits, and the last 4
//! positions' logits computed one token at a time through the KV cache.
//!
//! Tolerances are gpt_reference.rs's (f32 on both sides): logits and loss 1e-4 (absolute
//! below 1, relative above), gradients 1e-3 of the tensor's largest, losses along the
//! trajectory 1e-3, gradient norms 1e-3 relative, final weights 1e-4, cached logits 1e-4.
//! The attention key biases (`k_proj.bias`) do not affect the loss, so, as GPT-2's, their
//! gradients must be rounding noise and their final values only within what Adam can move.
//!
//! The fixture's `padded.*` tensors (a left-padded batch with an attention mask) are not
//! compared: our generation and training never pad (equal-length prompts share a batch).
//! A second test runs `transformers.generate`'s cases (greedy; 5-beam search with repetition
//! penalty 1.2, with EOS, early stopping, batching) on tests/fixtures/opt_generate.

use crate::compare::{block_loss_steps, fixture_lrs, read_json, values, Report};
use crate::gpt_generate::check_cases;
use candle_core::{DType, Device, Tensor, Var};
use collapse_lab::lm::generate::{beam_search, BeamConfig};
use collapse_lab::lm::layers::KvCache;
use collapse_lab::lm::params::Params;
use collapse_lab::lm::CausalLm;
use collapse_lab::models::opt::config::OptConfig;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

const LOGITS_TOL: f64 = 1e-4;
const GRAD_REL_TOL: f64 = 1e-3;
const TRAJECTORY_TOL: f64 = 1e-3;
const NORM_REL_TOL: f64 = 1e-3;
const FINAL_TOL: f64 = 1e-4;
const KEY_BIAS_GRAD_NOISE: f64 = 1e-6;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn opt_pre_layernorm_matches_pytorch() {
    compare("opt_tiny_preln");
}

#[test]
fn opt_post_layernorm_with_projections_matches_pytorch() {
    compare("opt_tiny_postln");
}

fn compare(name: &str) {
    let dir = fixture(name);
    let dev = Device::Cpu;
    let cfg: OptConfig = serde_json::from_value(read_json(&dir.join("config.json"))).unwrap();
    cfg.check().unwrap();
    let hp = read_json(&dir.join("hyperparams.json"));
    let reference = Reference {
        all: candle_core::safetensors::load(dir.join("reference.safetensors"), &dev).unwrap(),
        seen: RefCell::new(HashSet::new()),
    };
    let take = |k: &str| reference.get(k);
    let params = Params::load(&dir.join("model.safetensors"), &cfg, DType::F32, &dev).unwrap();
    let blocks = take("blocks").to_dtype(DType::U32).unwrap();
    let (_, t1) = blocks.dims2().unwrap();
    let input = blocks.narrow(1, 0, t1 - 1).unwrap();
    println!("{name}: {} parameters", params.count());
    let mut r = Report::default();

    let model = params.model(&cfg).unwrap();
    let logits = model.forward(&input, None, None).unwrap();
    r.abs_or_rel("logits", "logits", &logits, &take("logits"), LOGITS_TOL);
    let loss = model.block_loss(&blocks, None).unwrap();
    r.abs_or_rel("loss", "loss", &loss, &take("loss"), LOGITS_TOL);

    // The KV cache: row 0's last 4 positions, one token at a time after a prefill.
    let row = input.narrow(0, 0, 1).unwrap();
    let t = t1 - 1;
    let mut cache = KvCache::new(cfg.num_hidden_layers);
    model
        .forward(&row.narrow(1, 0, t - 4).unwrap(), Some(&mut cache), None)
        .unwrap();
    let mut cached = Vec::new();
    for i in t - 4..t {
        let l = model
            .forward(&row.narrow(1, i, 1).unwrap(), Some(&mut cache), None)
            .unwrap();
        cached.push(l.squeeze(0).unwrap());
    }
    let cached = Tensor::cat(&cached, 0).unwrap(); // (4, v)
    r.abs_or_rel(
        "cache",
        "cached logits",
        &cached,
        &take("cached_logits"),
        LOGITS_TOL,
    );

    let grads = collapse_lab::nn::grad_sink::backward(&loss).unwrap();
    for (pname, var) in &params.vars {
        let g = grads
            .get(var.as_tensor())
            .expect("every parameter has a gradient");
        let want = take(&format!("grad.{pname}"));
        if pname.ends_with("k_proj.bias") {
            // Noise: compared with the scale of the layer's q_proj.bias gradient.
            let q = take(&format!("grad.{}", pname.replace("k_proj", "q_proj")));
            let scale = values(&q).iter().fold(0f64, |m, x| m.max(x.abs()));
            for (side, t) in [("ours", g), ("ref", &want)] {
                let m = values(t).iter().fold(0f64, |m, x| m.max(x.abs()));
                let what = format!("{pname} {side}");
                r.check("k noise", &what, m, scale, m / scale, KEY_BIAS_GRAD_NOISE);
            }
        } else {
            r.rel("grad", pname, g, &want, GRAD_REL_TOL);
        }
    }

    // 10 AdamW steps on the same batch, clipping first.
    let lrs = fixture_lrs(&hp);
    let (losses, norms) = block_loss_steps(&params, &cfg, &hp, &blocks);
    let want = (&take("losses"), &take("grad_norms"));
    r.trajectory((&losses, &norms), want, (TRAJECTORY_TOL, NORM_REL_TOL));
    let lr_sum: f64 = lrs.iter().sum();
    let mut theirs = BTreeMap::new();
    for (pname, var) in &params.vars {
        let want = take(&format!("final.{pname}"));
        let tol = if pname.ends_with("k_proj.bias") {
            2.0 * lr_sum
        } else {
            FINAL_TOL
        };
        let kind = if pname.ends_with("k_proj.bias") {
            "free k"
        } else {
            "final"
        };
        r.abs(kind, pname, var.as_tensor(), &want, tol);
        theirs.insert(pname.clone(), Var::from_tensor(&want).unwrap());
    }
    r.final_logits(&cfg, &params, theirs, &input, LOGITS_TOL);

    // Not compared (see the module docs): left padding with an attention mask.
    let seen = reference.seen.borrow();
    let left: Vec<&String> = (reference.all.keys())
        .filter(|k| !seen.contains(*k) && !k.starts_with("padded.") && *k != "pad_row_grad_dropped")
        .collect();
    assert!(left.is_empty(), "reference tensors not compared: {left:?}");
    if let Some(out) = std::env::var_os("COLLAPSE_LAB_EXPORT_DIR") {
        let out = PathBuf::from(out).join(name);
        std::fs::create_dir_all(&out).unwrap();
        params.save(&out.join("model.safetensors")).unwrap();
        std::fs::write(
            out.join("config.json"),
            serde_json::to_string_pretty(&cfg).unwrap(),
        )
        .unwrap();
    }
    r.print_worst(&format!("{name}: "));
    assert!(
        r.failures.is_empty(),
        "{name}: our OPT disagrees with PyTorch beyond tolerance:\n  {}",
        r.failures.join("\n  ")
    );
}

/// The fixture's tensors, and which of them a comparison has read.
struct Reference {
    all: HashMap<String, Tensor>,
    seen: RefCell<HashSet<String>>,
}

impl Reference {
    fn get(&self, k: &str) -> Tensor {
        self.seen.borrow_mut().insert(k.to_string());
        (self.all.get(k).cloned()).unwrap_or_else(|| panic!("reference.safetensors lacks `{k}`"))
    }
}

#[test]
fn opt_generation_matches_transformers() {
    let dir = fixture("opt_generate");
    let cfg: OptConfig = serde_json::from_value(read_json(&dir.join("config.json"))).unwrap();
    let params = Params::load(
        &dir.join("model.safetensors"),
        &cfg,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let model = params.model(&cfg).unwrap();
    let expected = read_json(&dir.join("expected.json"));
    assert_eq!(check_cases(&model, &expected), 7, "cases in expected.json");
    // The paper's protocol on this model: 5 beams, penalty 1.2, no EOS stop inside 12 tokens.
    let beam = BeamConfig {
        num_beams: 5,
        max_new_tokens: 12,
        length_penalty: 1.0,
        repetition_penalty: 1.2,
        early_stopping: false,
        eos: None,
    };
    let prompt = &expected["prompts"][0];
    let p: Vec<u32> = prompt
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(beam_search(&model, &p, &beam).unwrap().len(), 12);
}

/// OPT's tokenizer, read from vocab.json + merges.txt (facebook/opt-125m ships only these)
/// and from tokenizer.json, gives transformers' ids (after the BOS `</s>` it prepends, which
/// our callers add themselves) and decodes back to the text.
#[test]
fn opt_tokenizer_matches_transformers() {
    use collapse_lab::family::hub::load_tokenizer;
    use collapse_lab::hub::TokenizerFiles;
    let dir = fixture("opt_tokenizer");
    let expected = read_json(&dir.join("expected.json"));
    let from_files = [
        TokenizerFiles::VocabMerges {
            vocab: dir.join("vocab.json"),
            merges: dir.join("merges.txt"),
        },
        TokenizerFiles::Json(dir.join("tokenizer.json")),
    ];
    for files in &from_files {
        let tok = load_tokenizer::<OptConfig>(files).unwrap();
        assert_eq!(tok.eot(), 2, "{files:?}: </s> is id 2");
        let cases = expected["cases"].as_array().unwrap();
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let want: Vec<u32> = (case["ids"].as_array().unwrap().iter())
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let mut got = vec![tok.eot()];
            got.extend(tok.encode(text).unwrap());
            assert_eq!(got, want, "{files:?}: {text:?}");
            assert_eq!(
                tok.decode(&got[1..]).unwrap(),
                text,
                "{files:?}: round trip"
            );
        }
        assert!(cases.len() >= 10);
    }
}

/// facebook/opt-125m ships only `pytorch_model.bin` (f16, `decoder.*` names, an explicit
/// `lm_head.weight`): it loads as the same model as the f32 safetensors, within f16 rounding
/// (scripts/opt_bin_fixture.py writes it from the fixture's weights).
#[test]
fn opt_loads_pytorch_bin_like_safetensors() {
    let dir = fixture("opt_tiny_preln");
    let cfg: OptConfig = serde_json::from_value(read_json(&dir.join("config.json"))).unwrap();
    let dev = Device::Cpu;
    let st = Params::load(&dir.join("model.safetensors"), &cfg, DType::F32, &dev).unwrap();
    let bin = Params::load(&dir.join("pytorch_model.bin"), &cfg, DType::F32, &dev).unwrap();
    assert_eq!(st.vars.len(), bin.vars.len());
    for (name, v) in &st.vars {
        let (a, b) = (values(v.as_tensor()), values(bin.vars[name].as_tensor()));
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= x.abs() * 2f64.powi(-11) + 1e-7,
                "{name}: {x} vs {y}"
            );
        }
    }
}
