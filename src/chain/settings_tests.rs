//! Tests of `settings.rs`, kept apart so the module itself stays short.
use super::*;

fn ngram_chain() -> ChainSettings {
    ChainSettings {
        experiment: "x".into(),
        corpus: "embedded:kjv".into(),
        model: ChainModel::new("ngram:3".parse().unwrap(), Some(2), None, None).unwrap(),
        generations: 3,
        policy: Policy::Replace,
        seed: 1,
        split_seed: None,
        valid_frac: 0.05,
        test_frac: 0.05,
        sample_tokens: None,
        train_tokens: Some(100),
        human_tokens: None,
        temperature: 1.0,
        protocol: Protocol::Unconditional,
        max_line_words: 1024,
    }
}

#[test]
fn chain_json_keeps_its_flat_form_and_reads_back() {
    let s = ngram_chain();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""model":"ngram:3""#), "{json}");
    assert!(json.contains(r#""min_count":2"#), "{json}");
    assert!(json.contains(r#""vocab":"own""#), "{json}");
    assert!(!json.contains("gpt"), "{json}");
    let back: ChainSettings = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    // Chains written before --vocab existed ran generation 0's vocabulary throughout.
    let old = json.replace(r#""vocab":"own","#, "");
    let back: ChainSettings = serde_json::from_str(&old).unwrap();
    assert!(matches!(
        back.model,
        ChainModel::Ngram {
            vocab: VocabMode::Fixed,
            ..
        }
    ));
    // A neural chain written before `gpt` was always recorded reads as its defaults.
    let old = old.replace(r#""model":"ngram:3""#, r#""model":"gpt:tiny""#);
    let back: ChainSettings = serde_json::from_str(&old).unwrap();
    assert_eq!(back.model.neural(), Some(&GptSettings::default()));
}

#[test]
fn neural_settings_for_an_ngram_model_are_refused() {
    let e = ChainModel::new(
        "ngram:3".parse().unwrap(),
        None,
        None,
        Some(GptSettings::default()),
    );
    assert!(matches!(e, Err(Error::Invalid { .. })));
    let e = ChainModel::new(
        "gpt:tiny".parse().unwrap(),
        None,
        Some(VocabMode::Own),
        None,
    );
    assert!(matches!(e, Err(Error::Invalid { .. })));
    let e = ChainModel::new("gpt:tiny".parse().unwrap(), Some(2), None, None).unwrap_err();
    assert!(
        e.to_string().contains("--min-count 2 is an n-gram setting"),
        "{e}"
    );
    let hf = ChainModel::new("hf:a/b".parse().unwrap(), None, None, None).unwrap();
    assert_eq!(hf.neural(), Some(&GptSettings::fine_tune()));
}

#[test]
fn a_resume_names_only_the_keys_that_differ() {
    let old = ngram_chain();
    let mut new = old.clone();
    new.generations = 9; // allowed: the chain extends
    assert!(new.check_same_as(&old).is_ok());
    new.seed = 2;
    let e = new.check_same_as(&old).unwrap_err().to_string();
    assert!(e.contains("seed was 1, now 2"), "{e}");
    assert!(!e.contains("corpus"), "{e}");
    // A nested neural setting is named alone, not as its whole table.
    let gpt = |epochs: f64| {
        let mut s = GptSettings::default();
        s.epochs = epochs;
        let mut c = old.clone();
        c.model = ChainModel::new("gpt:nano".parse().unwrap(), None, None, Some(s)).unwrap();
        c
    };
    let e = gpt(3.0).check_same_as(&gpt(2.0)).unwrap_err();
    assert!(e.to_string().contains("gpt.epochs was 2.0, now 3.0"), "{e}");
    assert!(!e.to_string().contains("gpt.lr"), "{e}");
    assert!(
        e.hint()
            .contains("deleting corpora/x, checkpoints/x and evals/x"),
        "{}",
        e.hint()
    );
}
