//! Training tests: exact resume after a stop, divergence named by its step.
use super::*;
use crate::models::gpt2::config::Config;

fn setup() -> (Config, GptSettings, Blocks) {
    let cfg = Config::new(40, 8, 16, 2, 2).unwrap();
    let mut s = GptSettings {
        batch_size: 4,
        micro_batch: 2,
        epochs: 3.0,
        eval_every: 2,
        checkpoint_every: 3,
        dropout: 0.1,
        ..GptSettings::default()
    };
    s.lr = 3e-3;
    let mut rng = Rng::new(5);
    let docs: Vec<Vec<u32>> = (0..12)
        .map(|_| (0..20).map(|_| 1 + rng.below(39) as u32).collect())
        .collect();
    let blocks = Blocks::new(&docs, 0, 8, 0.1, 1);
    (cfg, s, blocks)
}

fn weights(p: &Params) -> Vec<Vec<f32>> {
    p.vars
        .values()
        .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

#[test]
fn a_stopped_run_resumes_to_the_same_weights() {
    let (mut cfg, s, blocks) = setup();
    cfg.resid_pdrop = s.dropout;
    let job = |dir, stop_at| TrainJob {
        cfg: &cfg,
        settings: &s,
        seed: 3,
        dir,
        label: "t",
        stop_at,
    };
    let mut a = crate::models::gpt2::params::init(&cfg, 1, &Device::Cpu).unwrap();
    let log_a = train(&job(None, None), &blocks, &mut a).unwrap();
    assert!(log_a.total_steps >= 10, "{}", log_a.total_steps);
    let first = log_a.history[0].train_loss;
    assert!(
        log_a.best_valid_loss.unwrap() < first,
        "training lowers the loss"
    );

    let tmp = tempfile::tempdir().unwrap();
    let mut b = crate::models::gpt2::params::init(&cfg, 1, &Device::Cpu).unwrap();
    let part = train(&job(Some(tmp.path()), Some(4)), &blocks, &mut b).unwrap();
    assert_eq!(part.steps_done, 4);
    // A fresh process: new parameters, everything else from the checkpoint.
    let mut c = crate::models::gpt2::params::init(&cfg, 1, &Device::Cpu).unwrap();
    let log_c = train(&job(Some(tmp.path()), None), &blocks, &mut c).unwrap();
    assert_eq!(log_c.resumed_at, vec![4]);
    assert_eq!(weights(&a), weights(&c), "resumed weights differ");
    assert_eq!(log_a.history, log_c.history);
}

#[test]
fn divergence_names_the_step() {
    let (cfg, mut s, blocks) = setup();
    s.lr = 1e30;
    s.grad_clip = 0.0;
    s.warmup_frac = 0.0;
    let job = TrainJob {
        cfg: &cfg,
        settings: &s,
        seed: 3,
        dir: None,
        label: "t",
        stop_at: None,
    };
    let mut p = crate::models::gpt2::params::init(&cfg, 1, &Device::Cpu).unwrap();
    let err = train(&job, &blocks, &mut p).unwrap_err();
    assert!(
        matches!(err, Error::Diverged { step, .. } if step >= 1),
        "{err}"
    );
}
