//! Tests of `corpus_metrics.rs`, kept apart so the module itself stays short.
use super::*;
use crate::corpus::Document;

fn corpus(texts: &[&str]) -> Corpus {
    let docs = texts.iter().map(|t| Document::new("d", *t));
    Corpus::new(docs.collect())
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "got {got}, want {want}");
}

#[test]
fn human_reference_counts() {
    let h = HumanReference::new(&corpus(&["a a a\ta a a b", "c\n\n"]));
    assert_eq!((h.types(), h.tokens(), h.rare_types()), (3, 8, 2)); // a:6 b:1 c:1
    assert_eq!((h.count("a"), h.count("b"), h.count("zzz")), (6, 1, 0));
    assert_eq!(h.band_types, [2, 1, 0]);
    assert_eq!((band(5), band(6), band(100), band(101)), (0, 1, 1, 2));
}

#[test]
fn every_metric_by_hand() {
    // Human: a:6 b:1 c:1 (H = 8, types {a,b,c}; rare {b,c}, medium {a}, no frequent type).
    let human = HumanReference::new(&corpus(&["a a a a a a b c"]));
    // Corpus docs: [a b a b a b], [a d a] (two lines), [d d d d d]; a:5 b:3 d:6.
    let texts = ["a b a b a b", "a d\na", " d d  d d d \n"];
    let m = corpus_metrics(&corpus(&texts), &human);
    assert_eq!((m.documents, m.tokens, m.types), (3, 14, 3));
    // Repetition and distinct-n: the case of `repetition_tests::every_measure_by_hand`.
    close(m.seq_rep_4, 5.0 / 12.0);
    close(m.seq_rep_1, (2.0 / 3.0 + 1.0 / 3.0 + 4.0 / 5.0) / 3.0);
    close(m.distinct_1, 3.0 / 14.0);
    close(m.distinct_2, 5.0 / 11.0);
    assert_eq!(m.distinct_2, m.distinct_2_per_ngram);
    close(m.distinct_3_per_token, 4.0 / 14.0);
    close(m.rep_128, 9.0 / 14.0);
    close(m.human_types_lost, 1.0 / 3.0); // c lost
    close(m.rare_types_lost, 1.0 / 2.0); // c of {b, c}
    assert_eq!((m.medium_types_lost, m.frequent_types_lost), (0.0, 0.0));
    // V = {a,b,c,d}, N = 14, denominator 14 + 0.5·4 = 16:
    // Q(a) = 5.5/16, Q(b) = 3.5/16, Q(c) = 0.5/16; P = 6/8, 1/8, 1/8.
    // KL = 0.75 ln(0.75·16/5.5) + 0.125 ln(0.125·16/3.5) + 0.125 ln(0.125·16/0.5)
    //    = 0.75 ln(24/11) + 0.125 ln(4/7) + 0.125 ln 4 = 0.6884537398102397
    close(m.unigram_kl, 0.688_453_739_810_239_7);
    // JS (bits), P = (3/4, 1/8, 1/8, 0), Q = (5/14, 3/14, 0, 6/14) over a b c d:
    // ½[P_a log2(P_a/M_a) + P_b log2(P_b/M_b) + P_c·1] + ½[Q_a log2(Q_a/M_a)
    // + Q_b log2(Q_b/M_b) + Q_d·1]; scipy `jensenshannon(P, Q, base=2)**2` = 0.3367511974830169
    let (pa, pb, qa, qb) = (0.75f64, 0.125f64, 5.0 / 14.0, 3.0 / 14.0);
    let (ma, mb) = ((pa + qa) / 2.0, (pb + qb) / 2.0);
    let js = 0.5 * (pa * (pa / ma).log2() + pb * (pb / mb).log2() + 0.125)
        + 0.5 * (qa * (qa / ma).log2() + qb * (qb / mb).log2() + 6.0 / 14.0);
    close(m.unigram_js, js);
    close(m.unigram_js, 0.336_751_197_483_016_9);
    // Self-BLEU, each document against the other two (NLTK: 0.05643737198897474):
    // [a b a b a b]: unigrams 2 of 6 clipped (a ≤ 2 in [a d a], b absent), no higher match,
    //   closest length 5 < 6 (BP 1): (2/6 · 0.1/5 · 0.1/4 · 0.1/3)^¼
    // [a d a]: 3 of 3, then 0.1/2, 0.1/1, 0.1/1; closest length 5: BP exp(1 - 5/3)
    // [d d d d d]: 1 of 5, then 0.1/4, 0.1/3, 0.1/2; closest length 6: BP exp(1 - 6/5)
    let b1 = (2.0f64 / 6.0 * 0.02 * 0.025 * (0.1 / 3.0)).powf(0.25);
    let b2 = (-2.0f64 / 3.0).exp() * (0.05f64 * 0.1 * 0.1).powf(0.25);
    let b3 = (-0.2f64).exp() * (0.2f64 * 0.025 * (0.1 / 3.0) * 0.05).powf(0.25);
    close(m.self_bleu, (b1 + b2 + b3) / 3.0);
    close(m.self_bleu, 0.056_437_371_988_974_74);
    assert_eq!((m.self_bleu_docs, m.self_bleu_seed), (3, 0));
    // The stream a b a b a b a d a d d d d d: five factors each way (see diversity tests'
    // rules), nothing left over: MTLD 14/5. MATTR needs 100 tokens.
    close(m.mtld, 2.8);
    assert!(m.mattr.is_nan());
    // Zipf over counts 6 5 3 at ranks 1 2 3 (numpy polyfit: 0.5913140334701706).
    close(m.zipf_coefficient, 0.591_314_033_470_170_6);
    assert!(m.compression_ratio > 0.5 && m.compression_ratio < 2.0);

    // Against itself: nothing lost, JS 0; KL is the smoothing's cost alone:
    // Q = (6.5, 1.5, 1.5)/9.5: KL = 0.75 ln(0.75·9.5/6.5) + 0.25 ln(0.125·9.5/1.5)
    let same = corpus_metrics(&corpus(&["a a a a a a b c"]), &human);
    assert_eq!((same.human_types_lost, same.rare_types_lost), (0.0, 0.0));
    let want = 0.75 * (7.125f64 / 6.5).ln() + 0.25 * (1.1875f64 / 1.5).ln();
    close(same.unigram_kl, want);
    close(same.unigram_js, 0.0);
    assert!(same.self_bleu.is_nan()); // one document
}

#[test]
fn frequency_bands_and_disjoint_texts() {
    // Human: x ×101 (frequent), y ×6 (medium), z ×1 (rare). The corpus keeps only y and adds
    // w: frequent lost 1/1, medium 0/1, rare 1/1.
    let mut text = vec!["x"; 101];
    text.extend(["y"; 6]);
    text.push("z");
    let human = HumanReference::new(&corpus(&[&text.join(" ")]));
    assert_eq!(human.band_types, [1, 1, 1]);
    let m = corpus_metrics(&corpus(&["y w"]), &human);
    assert_eq!(
        (
            m.frequent_types_lost,
            m.medium_types_lost,
            m.rare_types_lost
        ),
        (1.0, 0.0, 1.0)
    );
    close(m.human_types_lost, 2.0 / 3.0);
    // Disjoint vocabularies: JS reaches its bound, 1 bit.
    let far = corpus_metrics(&corpus(&["v w"]), &human);
    close(far.unigram_js, 1.0);
}

#[test]
fn empty_inputs_give_documented_values() {
    let human = HumanReference::new(&corpus(&["a a a a a a b c"]));
    let m = corpus_metrics(&Corpus::default(), &human);
    assert_eq!((m.documents, m.tokens, m.types), (0, 0, 0));
    assert_eq!((m.seq_rep_4, m.distinct_1, m.distinct_2), (0.0, 0.0, 0.0));
    assert_eq!((m.rep_16, m.distinct_4_per_token), (0.0, 0.0));
    assert_eq!((m.human_types_lost, m.rare_types_lost), (1.0, 1.0));
    // Q uniform 1/3 over {a,b,c}: KL = 0.75 ln 2.25 + 0.25 ln 0.375
    close(m.unigram_kl, 0.362_990_348_909_315_03);
    for v in [
        m.unigram_js,
        m.self_bleu,
        m.mattr,
        m.mtld,
        m.zipf_coefficient,
    ] {
        assert!(v.is_nan());
    }
    assert!(m.compression_ratio.is_nan());
    let none = HumanReference::new(&corpus(&["", " \n\t"]));
    let m = corpus_metrics(&corpus(&["", "x"]), &none);
    assert_eq!((m.documents, m.tokens, m.types), (2, 1, 1));
    assert_eq!(
        (m.distinct_1, m.human_types_lost, m.rare_types_lost),
        (1.0, 0.0, 0.0)
    );
    assert_eq!(m.unigram_kl, 0.0);
    assert!(m.unigram_js.is_nan());
    // NaN is written as null and read back as NaN.
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains("\"mattr\":null"), "{json}");
    let back: CorpusMetrics = serde_json::from_str(&json).unwrap();
    assert!(back.mattr.is_nan() && back.mtld == m.mtld && back.tokens == 1);
}

#[test]
fn records_from_before_the_new_fields_still_read() {
    let old = r#"{"documents":3,"tokens":14,"types":3,"seq_rep_4":0.25,"distinct_1":0.2,
        "distinct_2":0.5,"human_types_lost":0.1,"rare_types_lost":0.2,"unigram_kl":0.3}"#;
    let m: CorpusMetrics = serde_json::from_str(old).unwrap();
    assert_eq!((m.tokens, m.seq_rep_4, m.distinct_2), (14, 0.25, 0.5));
    assert!(m.seq_rep_1.is_nan() && m.self_bleu.is_nan());
    assert_eq!(m.self_bleu_docs, 0);
}

#[test]
fn options_choose_the_self_bleu_sample() {
    let human = HumanReference::new(&corpus(&["a b c"]));
    let texts: Vec<String> = (0..20).map(|i| format!("a b w{i} c")).collect();
    let c = Corpus::new(
        texts
            .iter()
            .map(|t| Document::new("d", t.as_str()))
            .collect(),
    );
    let all = corpus_metrics(&c, &human);
    assert_eq!(all.self_bleu_docs, 20);
    let opts = MetricOptions {
        self_bleu_sample: 5,
        self_bleu_seed: 9,
    };
    let some = corpus_metrics_with(&c, &human, &opts);
    assert_eq!((some.self_bleu_docs, some.self_bleu_seed), (5, 9));
    // Every document is alike (a b _ c), so any sample scores the same as all of them:
    // unigrams 3 of 4, bigrams 1 of 3 (a b), no trigram or 4-gram match, equal lengths.
    let b = (0.75f64 * (1.0 / 3.0) * 0.05 * 0.1).powf(0.25);
    close(all.self_bleu, b);
    close(some.self_bleu, b);
}
