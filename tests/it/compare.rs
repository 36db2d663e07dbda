//! Comparing our tensors with PyTorch's: max differences, tolerances, and a report that
//! prints every comparison and fails loudly with all the failures at once.

use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;

pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// (max |ours − ref|, max |ref|) over all elements; shapes must agree.
pub fn max_diff(ours: &Tensor, reference: &Tensor, what: &str) -> (f64, f64) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shape differs");
    let (a, b) = (values(ours), values(reference));
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f64, f64::max);
    let m = b.iter().map(|y| y.abs()).fold(0f64, f64::max);
    assert!(d.is_finite(), "{what}: non-finite difference");
    (d, m)
}

/// Collects every comparison, prints it, and keeps the failures for one loud panic.
#[derive(Default)]
pub struct Report {
    pub failures: Vec<String>,
    pub worst: HashMap<&'static str, f64>,
}

impl Report {
    /// `metric` (what is held to `tol`) and the raw numbers behind it.
    pub fn check(
        &mut self,
        kind: &'static str,
        what: &str,
        d: f64,
        max_ref: f64,
        metric: f64,
        tol: f64,
    ) {
        let ok = metric <= tol;
        println!(
            "{:<4} {kind:<10} {what:<45} max|d| {d:9.2e}  max|ref| {max_ref:9.3e}  \
             metric {metric:9.2e} (tol {tol:.1e})",
            if ok { "ok" } else { "FAIL" }
        );
        let w = self.worst.entry(kind).or_insert(0.0);
        *w = w.max(metric);
        if !ok {
            self.failures.push(format!(
                "{kind} {what}: {metric:.3e} > {tol:.1e} (max|d| {d:.3e}, max|ref| {max_ref:.3e})"
            ));
        }
    }

    /// Absolute for O(1) values, relative above: d / max(1, max|ref|).
    pub fn abs_or_rel(
        &mut self,
        kind: &'static str,
        what: &str,
        ours: &Tensor,
        r: &Tensor,
        tol: f64,
    ) {
        let (d, m) = max_diff(ours, r, what);
        self.check(kind, what, d, m, d / m.max(1.0), tol);
    }

    /// Relative to the tensor's largest value: d / max|ref|.
    pub fn rel(&mut self, kind: &'static str, what: &str, ours: &Tensor, r: &Tensor, tol: f64) {
        let (d, m) = max_diff(ours, r, what);
        self.check(kind, what, d, m, if m > 0.0 { d / m } else { d }, tol);
    }

    pub fn abs(&mut self, kind: &'static str, what: &str, ours: &Tensor, r: &Tensor, tol: f64) {
        let (d, m) = max_diff(ours, r, what);
        self.check(kind, what, d, m, d, tol);
    }
}

/// The fixtures' training run: one AdamW step per learning rate in `lrs` (decay on tensors
/// with 2 or more dimensions, hyperparameters from hyperparams.json, global-norm clipping
/// first), each on `loss(params)`; returns the loss and the gradient norm before each step.
pub fn adamw_steps(
    params: &collapse_lab::lm::params::Params,
    hp: &serde_json::Value,
    lrs: &[f64],
    loss: impl Fn() -> Tensor,
) -> (Vec<f64>, Vec<f64>) {
    use collapse_lab::nn::adamw::{grad_norm, AdamW, AdamWConfig};
    let f = |k: &str| hp[k].as_f64().unwrap_or_else(|| panic!("hyperparams: {k}"));
    let vars: Vec<candle_core::Var> = params.vars.values().cloned().collect();
    let groups = (params.vars.iter())
        .map(|(n, v)| {
            (
                n.clone(),
                v.clone(),
                collapse_lab::lm::params::decays(n, v.dims()),
            )
        })
        .collect();
    let cfg = AdamWConfig {
        beta1: f("beta1"),
        beta2: f("beta2"),
        eps: f("eps"),
        weight_decay: f("weight_decay"),
    };
    let mut opt = AdamW::new(groups, cfg).unwrap();
    let (mut losses, mut norms) = (Vec::new(), Vec::new());
    for &lr in lrs {
        let l = loss();
        losses.push(l.to_scalar::<f32>().unwrap() as f64);
        let grads = collapse_lab::nn::grad_sink::backward(&l).unwrap();
        let (norm, clip) = grad_norm(&grads, &vars, f("max_grad_norm")).unwrap();
        norms.push(norm);
        opt.step_clipped(&grads, lr, clip).unwrap();
    }
    (losses, norms)
}

/// The fixtures' learning rate before each step (hyperparams.json `lrs`).
pub fn fixture_lrs(hp: &serde_json::Value) -> Vec<f64> {
    (hp["lrs"].as_array().expect("hyperparams: lrs").iter())
        .map(|v| v.as_f64().expect("hyperparams: lrs are numbers"))
        .collect()
}

/// [`adamw_steps`] at the fixture's rates on the loss of `cfg`'s model over `blocks` (the
/// training run every fixture records).
pub fn block_loss_steps<A: collapse_lab::lm::Arch>(
    params: &collapse_lab::lm::params::Params,
    cfg: &A,
    hp: &serde_json::Value,
    blocks: &Tensor,
) -> (Vec<f64>, Vec<f64>) {
    use collapse_lab::lm::CausalLm;
    adamw_steps(params, hp, &fixture_lrs(hp), || {
        params.model(cfg).unwrap().block_loss(blocks, None).unwrap()
    })
}

impl Report {
    /// The same function after training: logits on `input` of our weights and of the
    /// reference's final weights (`theirs`), within `tol`.
    pub fn final_logits<A: collapse_lab::lm::Arch>(
        &mut self,
        cfg: &A,
        ours: &collapse_lab::lm::params::Params,
        theirs: std::collections::BTreeMap<String, candle_core::Var>,
        input: &Tensor,
        tol: f64,
    ) {
        use collapse_lab::lm::CausalLm;
        let logits = |p: &collapse_lab::lm::params::Params| {
            p.model(cfg).unwrap().forward(input, None, None).unwrap()
        };
        let want = logits(&collapse_lab::lm::params::Params { vars: theirs });
        self.abs_or_rel("final", "logits after the steps", &logits(ours), &want, tol);
    }

    /// One line with the worst metric of each kind, after `prefix`.
    pub fn print_worst(&self, prefix: &str) {
        let mut worst: Vec<String> = (self.worst.iter())
            .map(|(k, v)| format!("{k} {v:.2e}"))
            .collect();
        worst.sort();
        println!("{prefix}worst metric per kind: {}", worst.join(", "));
    }

    /// Losses (absolute) and gradient norms (relative) before each step against the fixture's.
    pub fn trajectory(
        &mut self,
        ours: (&[f64], &[f64]),
        want: (&Tensor, &Tensor),
        tol: (f64, f64),
    ) {
        for (i, (o, w)) in ours.0.iter().zip(values(want.0)).enumerate() {
            let d = (o - w).abs();
            self.check(
                "trajectory",
                &format!("loss before step {}", i + 1),
                d,
                w,
                d,
                tol.0,
            );
        }
        for (i, (o, w)) in ours.1.iter().zip(values(want.1)).enumerate() {
            let d = (o - w).abs();
            self.check(
                "grad norm",
                &format!("norm before step {}", i + 1),
                d,
                w,
                d / w,
                tol.1,
            );
        }
    }
}

/// Logits of `row` (1, t)'s last `n` positions computed one token at a time through the KV
/// cache after a prefill of the others: (n, vocab).
pub fn cached_logits(model: &impl collapse_lab::lm::CausalLm, row: &Tensor, n: usize) -> Tensor {
    use collapse_lab::lm::layers::KvCache;
    let t = row.dim(1).unwrap();
    let mut cache = KvCache::new(model.n_layer());
    model
        .forward(&row.narrow(1, 0, t - n).unwrap(), Some(&mut cache), None)
        .unwrap();
    let steps: Vec<Tensor> = (t - n..t)
        .map(|i| {
            let l = model.forward(&row.narrow(1, i, 1).unwrap(), Some(&mut cache), None);
            l.unwrap().squeeze(0).unwrap()
        })
        .collect();
    Tensor::cat(&steps, 0).unwrap()
}
