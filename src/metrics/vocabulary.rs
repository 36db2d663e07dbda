//! How much of the human vocabulary a model can still write, and the headline perplexity that
//! this makes comparable across generations.
//!
//! Why: an n-gram model built on its own training text (lmplz's way, `--vocab own`) knows only
//! the words that text contains; a word no generation wrote is gone for good, which is the
//! finite-sample tail loss of Shumailov et al.'s discrete analysis. KenLM's perplexity
//! *including* OOVs charges every unknown word p(`<unk>`), a probability that grows as the
//! vocabulary shrinks, so a model that knows fewer words would look better. The headline
//! perplexity instead scores every model over the same event space, the human words:
//! p(`<unk>` | context) is spread evenly over the K human word types the model cannot name,
//! so an OOV word costs p(`<unk>` | context) / K (the idea of lmplz's `--vocab_pad`). A model
//! that names every human word (a subword model, or `--vocab fixed`) has no OOV, or K equal to
//! the test-only words, and its headline equals KenLM's including-OOV value up to that K.

use super::corpus_metrics::HumanReference;
use super::perplexity::f64_or_nan;
use super::DocScore;
use serde::{Deserialize, Serialize};

/// What a model can write of the human vocabulary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VocabularyReport {
    /// Word types the model can write (n-grams: its vocabulary without `<unk>`, `<s>`,
    /// `</s>`); `None` for subword models, which can write any word.
    pub model_types: Option<usize>,
    /// Shares of the human training types the model cannot write: all, and per frequency
    /// band (rare: seen at most 5 times, medium: at most 100, frequent: more).
    #[serde(deserialize_with = "f64_or_nan")]
    pub human_types_unnamed: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub rare_types_unnamed: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub medium_types_unnamed: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub frequent_types_unnamed: f64,
    /// K: human word types (training and test splits) the model cannot name, over which the
    /// headline perplexity spreads p(`<unk>`).
    pub unnamed_words: u64,
}

impl Default for VocabularyReport {
    fn default() -> Self {
        VocabularyReport {
            model_types: None,
            human_types_unnamed: f64::NAN,
            rare_types_unnamed: f64::NAN,
            medium_types_unnamed: f64::NAN,
            frequent_types_unnamed: f64::NAN,
            unnamed_words: 0,
        }
    }
}

/// The report for a model that names a word when `names(word)` says so. `test_only` are the
/// human test split's word types absent from the training text (they count toward K).
pub fn vocabulary_report(
    human: &HumanReference,
    test_only: &[String],
    model_types: Option<usize>,
    names: impl Fn(&str) -> bool,
) -> VocabularyReport {
    let mut unnamed = [0usize; 3];
    for (w, band) in human.types_by_band() {
        if !names(w) {
            unnamed[band] += 1;
        }
    }
    let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let bands = human.band_types();
    let train_unnamed: usize = unnamed.iter().sum();
    let test_unnamed = test_only.iter().filter(|w| !names(w)).count();
    VocabularyReport {
        model_types,
        human_types_unnamed: share(train_unnamed, human.types()),
        rare_types_unnamed: share(unnamed[0], bands[0]),
        medium_types_unnamed: share(unnamed[1], bands[1]),
        frequent_types_unnamed: share(unnamed[2], bands[2]),
        unnamed_words: (train_unnamed + test_unnamed) as u64,
    }
}

/// The headline perplexity: `exp(-(Σll - Σoov · ln K) / Σtokens)`, each OOV token charged
/// p(`<unk>`)/K with K = `unnamed_words` (at least 1). `NaN` with no tokens.
pub fn headline_ppl(total: &DocScore, unnamed_words: u64) -> f64 {
    if total.tokens == 0 {
        return f64::NAN;
    }
    let k = unnamed_words.max(1) as f64;
    let ll = total.logprob - total.oov as f64 * k.ln();
    (-ll / total.tokens as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Corpus, Document};

    fn corpus(text: &str) -> Corpus {
        Corpus {
            docs: vec![Document {
                id: "d".into(),
                text: text.into(),
            }],
        }
    }

    #[test]
    fn unnamed_types_by_band_and_k() {
        // a ×101 (frequent), b ×6 (medium), c ×1 and d ×1 (rare).
        let text = format!("{}{}c d", "a ".repeat(101), "b ".repeat(6));
        let human = HumanReference::new(&corpus(&text));
        let test_only = vec!["e".to_string(), "f".to_string()];
        // The model knows a, b and e.
        let r = vocabulary_report(&human, &test_only, Some(3), |w| {
            ["a", "b", "e"].contains(&w)
        });
        assert_eq!(r.model_types, Some(3));
        assert_eq!(r.rare_types_unnamed, 1.0);
        assert_eq!(r.medium_types_unnamed, 0.0);
        assert_eq!(r.frequent_types_unnamed, 0.0);
        assert_eq!(r.human_types_unnamed, 0.5); // c, d of a, b, c, d
        assert_eq!(r.unnamed_words, 3); // c, d, f
        let all = vocabulary_report(&human, &test_only, None, |_| true);
        assert_eq!((all.human_types_unnamed, all.unnamed_words), (0.0, 0));
    }

    #[test]
    fn headline_charges_each_oov_a_share_of_unk() {
        // 4 tokens, ln p summing to -6, one OOV: with K = 10 it costs ln 10 more.
        let t = DocScore {
            logprob: -6.0,
            tokens: 4,
            oov: 1,
            oov_logprob: -3.0,
            words: 3,
            bytes: 10,
        };
        let want = ((6.0 + 10f64.ln()) / 4.0).exp();
        assert!((headline_ppl(&t, 10) - want).abs() < 1e-12);
        // K = 1 (or no OOV) is KenLM's perplexity including OOVs.
        assert!((headline_ppl(&t, 1) - (6.0f64 / 4.0).exp()).abs() < 1e-12);
        assert!((headline_ppl(&t, 0) - (6.0f64 / 4.0).exp()).abs() < 1e-12);
        // Fewer words known (larger K) can only make it worse.
        assert!(headline_ppl(&t, 1000) > headline_ppl(&t, 10));
        assert!(headline_ppl(&DocScore::default(), 5).is_nan());
    }
}
