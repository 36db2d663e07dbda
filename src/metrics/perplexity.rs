//! Perplexity and its relatives, computed from a model's [`Scores`].
//!
//! Why here and not in each model: one set of formulas for every model family means an n-gram
//! generation and a BPE generation are compared on the same footing. Models report only sums of
//! natural-log likelihoods and the counts those sums are normalised by; the normalisation lives
//! in this file. Two conventions are reproduced exactly, so our numbers can be checked against
//! the tools people already trust:
//!
//! - KenLM `query`: `token_ppl` is its "Perplexity including OOVs" and `token_ppl_excl_oov` its
//!   "Perplexity excluding OOVs" (tokens are words plus one `</s>` per line; KenLM works in
//!   log10, `10^(-Σlog10/N)` equals our `exp(-Σln/N)`).
//! - lm-evaluation-harness (wikitext task): `word_ppl`, `byte_ppl` and `bits_per_byte` divide
//!   the same total log-likelihood by words or UTF-8 bytes, which makes models with different
//!   tokenizers comparable.
//!
//! Everything is summed over documents first and divided once (a corpus-level, token-weighted
//! mean, not a mean of per-document perplexities). A zero denominator gives `NaN`, never a
//! panic. `serde_json` writes non-finite numbers as `null`; reading a report back turns `null`
//! into `NaN`, so a report always round-trips through JSON. Definitions: `docs/metrics.md`.

use super::Scores;
use serde::{Deserialize, Deserializer, Serialize};
use std::f64::consts::LN_2;

/// Corpus-level perplexities of one model on one corpus (see `docs/metrics.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityReport {
    /// `exp(-Σll / Σtokens)`: KenLM's "perplexity including OOVs".
    #[serde(deserialize_with = "f64_or_nan")]
    pub token_ppl: f64,
    /// `exp(-(Σll - Σoov_ll) / (Σtokens - Σoov))`: KenLM's "perplexity excluding OOVs".
    #[serde(deserialize_with = "f64_or_nan")]
    pub token_ppl_excl_oov: f64,
    /// `Σoov / Σwords`: share of the words the model had never seen.
    #[serde(deserialize_with = "f64_or_nan")]
    pub oov_rate: f64,
    /// `exp(-Σll / Σwords)` (lm-evaluation-harness `word_perplexity`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub word_ppl: f64,
    /// `exp(-Σll / Σbytes)` (lm-evaluation-harness `byte_perplexity`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub byte_ppl: f64,
    /// `-Σll / (Σbytes · ln 2)` (lm-evaluation-harness `bits_per_byte`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub bits_per_byte: f64,
    /// Σtokens: predicted model tokens (n-grams: words plus one `</s>` per line).
    pub tokens: u64,
    /// Σoov: tokens scored as `<unk>`.
    pub oov: u64,
    /// Σwords: KenLM words (whitespace-separated).
    pub words: u64,
    /// Σbytes: UTF-8 bytes of the document texts.
    pub bytes: u64,
}

/// Reads a JSON number, or `null` (what `serde_json` writes for NaN and ±inf) as `NaN`.
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// `num / den`, or `NaN` when `den == 0` (instead of ±inf).
fn ratio(num: f64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num / den as f64
    }
}

/// Perplexities of `scores`, summed over all documents (see the module docs).
///
/// With `ll` the natural-log likelihood:
/// `token_ppl = exp(-Σll/Σtokens)`, `token_ppl_excl_oov = exp(-(Σll-Σoov_ll)/(Σtokens-Σoov))`,
/// `oov_rate = Σoov/Σwords`, `word_ppl = exp(-Σll/Σwords)`, `byte_ppl = exp(-Σll/Σbytes)`,
/// `bits_per_byte = -Σll/(Σbytes·ln 2)`. A zero denominator gives `NaN` (so an empty
/// [`Scores`] gives `NaN` everywhere and zero counts); `Σoov > Σtokens` also gives `NaN`
/// for `token_ppl_excl_oov`.
pub fn perplexity(scores: &Scores) -> PerplexityReport {
    let t = scores.total();
    let nll = -t.logprob;
    let in_vocab = t.tokens.saturating_sub(t.oov); // 0 (-> NaN) if inconsistent
    PerplexityReport {
        token_ppl: ratio(nll, t.tokens).exp(),
        token_ppl_excl_oov: ratio(-(t.logprob - t.oov_logprob), in_vocab).exp(),
        oov_rate: ratio(t.oov as f64, t.words),
        word_ppl: ratio(nll, t.words).exp(),
        byte_ppl: ratio(nll, t.bytes).exp(),
        bits_per_byte: ratio(nll, t.bytes) / LN_2,
        tokens: t.tokens,
        oov: t.oov,
        words: t.words,
        bytes: t.bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::DocScore;

    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "got {got}, want {want}"
        );
    }

    #[test]
    fn hand_computed_two_documents() {
        let scores = Scores {
            docs: vec![
                DocScore {
                    logprob: -4.0,
                    tokens: 3,
                    oov: 1,
                    oov_logprob: -3.0,
                    words: 2,
                    bytes: 8,
                },
                DocScore {
                    logprob: -2.0,
                    tokens: 3,
                    oov: 0,
                    oov_logprob: 0.0,
                    words: 2,
                    bytes: 4,
                },
            ],
        };
        // Σll = -6, Σtokens = 6, Σoov = 1, Σoov_ll = -3, Σwords = 4, Σbytes = 12.
        let r = perplexity(&scores);
        close(r.token_ppl, 1f64.exp()); // exp(6/6)
        close(r.token_ppl_excl_oov, 0.6f64.exp()); // exp((6-3)/(6-1))
        assert_eq!(r.oov_rate, 0.25); // 1/4
        close(r.word_ppl, 1.5f64.exp()); // exp(6/4)
        close(r.byte_ppl, 0.5f64.exp()); // exp(6/12)
        close(r.bits_per_byte, 0.721_347_520_444_481_7); // 6/(12 ln 2) = 1/(2 ln 2)
        assert_eq!((r.tokens, r.oov, r.words, r.bytes), (6, 1, 4, 12));
    }

    #[test]
    fn reproduces_kenlm_query_numbers() {
        // KenLM prints log10 probabilities per token and
        // "Perplexity including OOVs" = 10^(-Σlog10 / N) with N counting </s>.
        // Line "a b <unk-word>" + </s>: log10 = -1, -2 (OOV), -0.5, -1.5 -> Σ = -5, N = 4:
        //   including OOVs: 10^(5/4) = 17.78279410038923
        //   excluding OOVs: 10^((5-2)/(4-1)) = 10
        let log10s = [-1.0, -2.0, -0.5, -1.5];
        let ln10 = std::f64::consts::LN_10;
        let scores = Scores {
            docs: vec![DocScore {
                logprob: log10s.iter().sum::<f64>() * ln10,
                tokens: 4,
                oov: 1,
                oov_logprob: -2.0 * ln10,
                words: 3,
                bytes: 7,
            }],
        };
        let r = perplexity(&scores);
        close(r.token_ppl, 17.782_794_100_389_23);
        close(r.token_ppl, 10f64.powf(5.0 / 4.0));
        close(r.token_ppl_excl_oov, 10.0);
        close(r.oov_rate, 1.0 / 3.0);
    }

    #[test]
    fn empty_scores_are_nan_not_panic_and_round_trip_json() {
        let r = perplexity(&Scores::default());
        for v in [
            r.token_ppl,
            r.token_ppl_excl_oov,
            r.oov_rate,
            r.word_ppl,
            r.byte_ppl,
            r.bits_per_byte,
        ] {
            assert!(v.is_nan());
        }
        assert_eq!((r.tokens, r.oov, r.words, r.bytes), (0, 0, 0, 0));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"token_ppl\":null"), "{json}");
        let back: PerplexityReport = serde_json::from_str(&json).unwrap();
        assert!(back.token_ppl.is_nan() && back.bits_per_byte.is_nan());
        assert_eq!(back.words, 0);
    }

    #[test]
    fn all_oov_and_inconsistent_counts_do_not_panic() {
        // Every token OOV: the excluding-OOV denominator is 0 -> NaN; the rest are finite.
        let all_oov = Scores {
            docs: vec![DocScore {
                logprob: -2.0,
                tokens: 2,
                oov: 2,
                oov_logprob: -2.0,
                words: 2,
                bytes: 3,
            }],
        };
        let r = perplexity(&all_oov);
        assert!(r.token_ppl_excl_oov.is_nan());
        close(r.token_ppl, 1f64.exp());
        assert_eq!(r.oov_rate, 1.0);
        // More OOVs than tokens (a buggy model): NaN, no underflow panic.
        let bad = Scores {
            docs: vec![DocScore {
                oov: 5,
                tokens: 1,
                ..Default::default()
            }],
        };
        assert!(perplexity(&bad).token_ppl_excl_oov.is_nan());
        // A finite report round-trips exactly.
        let json = serde_json::to_string(&r).unwrap();
        let back: PerplexityReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.token_ppl, r.token_ppl);
        assert_eq!(back.tokens, 2);
    }
}
