//! Tests of generation on small random models (the token-for-token comparison with
//! `transformers` is `tests/it/gpt_generate.rs`).

use super::*;
use crate::models::gpt2::config::Config;
use crate::models::gpt2::model::Gpt2;
use candle_core::Device;

/// A random model; a wide initialisation makes its distributions far from uniform.
fn model(vocab: usize, n_positions: usize, init: f64) -> Gpt2 {
    let mut cfg = Config::new(vocab, n_positions, 32, 2, 4).unwrap();
    cfg.initializer_range = init;
    crate::models::gpt2::params::init(&cfg, 7, &Device::Cpu)
        .unwrap()
        .model(&cfg)
        .unwrap()
}

fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![1, 2, 3],
        vec![4, 5, 6],
        vec![7],
        vec![8, 9, 10, 11, 12],
    ]
}

fn run(
    m: &Gpt2,
    p: &[Vec<u32>],
    n: usize,
    stop: Option<u32>,
    cfg: &SampleConfig,
    seed: u64,
) -> Vec<Vec<u32>> {
    sample(m, p, n, stop, cfg, &mut Rng::new(seed)).unwrap()
}

/// Greedy decoding recomputing the whole visible window at every token, with the documented
/// sliding rule: what the KV cache path must reproduce.
fn naive_greedy(m: &Gpt2, prompt: &[u32], n: usize) -> Vec<u32> {
    let ctx = m.cfg.n_positions;
    let mut hist = prompt.to_vec();
    let mut window = prompt.len().min(ctx);
    let mut out = Vec::new();
    for _ in 0..n {
        let vis = &hist[hist.len() - window..];
        let ids = Tensor::new(vis, m.device()).unwrap().unsqueeze(0).unwrap();
        let logits = m.forward(&ids, None, None).unwrap(); // (1, t, v)
        let last = logits.get(0).unwrap().get(vis.len() - 1).unwrap(); // (v)
        let tok = argmax(&last.to_vec1::<f32>().unwrap());
        out.push(tok);
        hist.push(tok);
        window = if window + 1 > ctx {
            (ctx / 2).max(1)
        } else {
            window + 1
        };
    }
    out
}

#[test]
fn same_seed_same_tokens_other_seed_other_tokens() {
    let m = model(40, 32, 0.02);
    let cfg = SampleConfig::plain();
    let a = run(&m, &prompts(), 12, None, &cfg, 1);
    assert_eq!(a, run(&m, &prompts(), 12, None, &cfg, 1));
    assert_ne!(a, run(&m, &prompts(), 12, None, &cfg, 2));
    assert!(a.iter().all(|o| o.len() == 12 && o.iter().all(|&t| t < 40)));
    // A row's tokens depend on its index and the seed, not on its batch mates.
    let other = vec![vec![1, 2, 3], vec![30, 31, 32]];
    assert_eq!(run(&m, &other, 12, None, &cfg, 1)[0], a[0]);
}

#[test]
fn top_k_1_and_tiny_top_p_are_greedy() {
    let m = model(40, 32, 0.3);
    let greedy = run(&m, &prompts(), 10, None, &SampleConfig::greedy(), 0);
    let k1 = SampleConfig {
        top_k: Some(1),
        ..SampleConfig::plain()
    };
    let p0 = SampleConfig {
        top_p: Some(1e-9),
        temperature: 0.7,
        ..SampleConfig::plain()
    };
    assert_eq!(run(&m, &prompts(), 10, None, &k1, 5), greedy);
    assert_eq!(run(&m, &prompts(), 10, None, &p0, 6), greedy);
    // Truncation keeps samples among the likely tokens but still samples.
    let k3 = SampleConfig {
        top_k: Some(3),
        top_p: Some(0.9),
        ..SampleConfig::plain()
    };
    assert_ne!(run(&m, &prompts(), 10, None, &k3, 5), greedy);
}

#[test]
fn a_stopped_row_ends_at_its_stop_token_and_others_go_on() {
    let m = model(20, 64, 0.02);
    let stop = 3;
    let out = run(&m, &prompts(), 60, Some(stop), &SampleConfig::plain(), 11);
    let stopped: Vec<&Vec<u32>> = out.iter().filter(|o| o.last() == Some(&stop)).collect();
    assert!(!stopped.is_empty(), "{out:?}");
    for o in &out {
        // The stop token appears once, last, or not at all (then the row ran to the limit).
        match o.iter().position(|&t| t == stop) {
            Some(i) => assert_eq!(i, o.len() - 1),
            None => assert_eq!(o.len(), 60),
        }
    }
    let lens: Vec<usize> = out.iter().map(Vec::len).collect();
    assert!(lens.iter().any(|&l| l != lens[0]), "{lens:?}");
}

#[test]
fn cache_and_sliding_match_full_recomputation() {
    // Context 16: 40 new tokens slide several times, from a short and an over-long prompt.
    let m = model(40, 16, 0.3);
    let long: Vec<u32> = (0..20).collect();
    for p in [vec![1, 2, 3], long] {
        let fast = run(&m, &[p.clone()], 40, None, &SampleConfig::greedy(), 0);
        assert_eq!(fast[0], naive_greedy(&m, &p, 40), "prompt {p:?}");
    }
    let sampled = run(&m, &prompts(), 50, None, &SampleConfig::plain(), 3);
    assert!(sampled.iter().all(|o| o.len() == 50));
}

#[test]
fn one_beam_is_greedy_and_beams_batch() {
    let m = model(40, 32, 0.3);
    let greedy = run(&m, &prompts(), 10, None, &SampleConfig::greedy(), 0);
    let mut cfg = BeamConfig {
        num_beams: 1,
        max_new_tokens: 10,
        length_penalty: 1.0,
        repetition_penalty: 1.0,
        early_stopping: false,
        eos: None,
    };
    for (p, g) in prompts().iter().zip(&greedy) {
        assert_eq!(&beam_search(&m, p, &cfg).unwrap(), g);
    }
    cfg.num_beams = 4;
    cfg.repetition_penalty = 1.3;
    let one_by_one: Vec<Vec<u32>> = prompts()
        .iter()
        .map(|p| beam_search(&m, p, &cfg).unwrap())
        .collect();
    let mut same_len = prompts();
    same_len[2] = vec![7, 7, 7];
    let batched = beam_search_batch(&m, &prompts(), &cfg).unwrap();
    assert_eq!(batched, one_by_one);
    assert!(batched.iter().all(|o| o.len() == 10));
    let b2 = beam_search_batch(&m, &same_len, &cfg).unwrap();
    assert_eq!(b2[0], one_by_one[0]);
    assert_eq!(b2[1], one_by_one[1]);
    // Past the context: beams slide too.
    cfg.max_new_tokens = 45;
    assert_eq!(beam_search(&m, &[1, 2], &cfg).unwrap().len(), 45);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let m = model(40, 16, 0.02);
    let mut rng = Rng::new(0);
    let cfg = SampleConfig::plain();
    assert!(sample(&m, &[vec![]], 5, None, &cfg, &mut rng).is_err());
    assert!(sample(&m, &[vec![40]], 5, None, &cfg, &mut rng).is_err());
    for bad in [
        SampleConfig {
            temperature: -1.0,
            ..SampleConfig::plain()
        },
        SampleConfig {
            top_k: Some(0),
            ..SampleConfig::plain()
        },
        SampleConfig {
            top_p: Some(0.0),
            ..SampleConfig::plain()
        },
        SampleConfig {
            top_p: Some(f64::NAN),
            ..SampleConfig::plain()
        },
    ] {
        assert!(
            sample(&m, &[vec![1]], 5, None, &bad, &mut rng).is_err(),
            "{bad:?}"
        );
    }
    let beam = BeamConfig {
        num_beams: 0,
        max_new_tokens: 5,
        length_penalty: 1.0,
        repetition_penalty: 1.0,
        early_stopping: false,
        eos: None,
    };
    assert!(beam_search(&m, &[1], &beam).is_err());
    assert!(beam_search(
        &m,
        &[],
        &BeamConfig {
            num_beams: 2,
            ..beam
        }
    )
    .is_err());
    assert_eq!(
        sample(&m, &[vec![1]], 0, None, &cfg, &mut rng).unwrap(),
        vec![Vec::<u32>::new()]
    );
}
