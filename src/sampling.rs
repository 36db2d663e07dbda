//! What a generation writes, whatever the model: the protocol (from scratch, or continuing
//! human lines), the sampling settings recorded in the generated corpus's manifest, and the
//! plan of documents (how many, how long) that every family's sampler follows.
//!
//! Decoding itself is the family's: [`crate::ngram::sample`] draws from an n-gram model,
//! [`crate::lm::generate`] samples and beam-searches a neural one.

use crate::corpus::{policy, Corpus};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// What each generated document continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "kebab-case")]
pub enum Protocol {
    /// Documents written from scratch, shaped like the template's (sizes, lines).
    Unconditional,
    /// Every template line's first `prompt_words` words are given and the model writes the
    /// rest; only the new words are kept (Shumailov et al. 2024).
    Continue { prompt_words: usize },
}

/// Sampling settings, recorded in the generated corpus's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleSettings {
    pub protocol: Protocol,
    pub temperature: f64,
    pub seed: u64,
    /// Lines longer than this are ended (a degenerate model can loop forever otherwise).
    pub max_line_words: usize,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings {
            protocol: Protocol::Unconditional,
            temperature: 1.0,
            seed: 0,
            max_line_words: 1024,
        }
    }
}

/// What a generated corpus should look like: one document per template document, with
/// about `doc_words[i]` words each (unconditional) or continuing its lines (continue).
pub struct SamplePlan<'a> {
    pub template: Cow<'a, Corpus>,
    pub doc_words: Vec<usize>,
    pub settings: SampleSettings,
}

/// Document shapes for generation `g`'s sample: the template's documents, scaled to
/// `sample_tokens` words (subsampled when smaller, stretched when larger). The subsample is
/// drawn from (`chain_seed`, `g`), so a resumed chain plans the same documents.
pub fn plan<'a>(
    template: &'a Corpus,
    sample_tokens: Option<usize>,
    settings: SampleSettings,
    chain_seed: u64,
    g: u32,
) -> SamplePlan<'a> {
    let total = template.stats().tokens.max(1);
    let target = sample_tokens.unwrap_or(total);
    let doc_words = |c: &Corpus, scale: f64| {
        c.docs
            .iter()
            .map(|d| ((d.words() as f64 * scale).round() as usize).max(1))
            .collect::<Vec<_>>()
    };
    if target >= total {
        SamplePlan {
            template: Cow::Borrowed(template),
            doc_words: doc_words(template, target as f64 / total as f64),
            settings,
        }
    } else {
        // A smaller sample keeps document sizes and takes fewer documents.
        let mut rng = Rng::derive(chain_seed, "sample-template", u64::from(g));
        let sub = policy::subsample(template, target, &mut rng);
        let words = doc_words(&sub, 1.0);
        SamplePlan {
            template: Cow::Owned(sub),
            doc_words: words,
            settings,
        }
    }
}

/// `continue:K` for an n-gram model gives each line's first K words as its prompt (all but the
/// last word of a shorter line). A K at or above the median line length leaves most lines one
/// word or none to write, so the next generation learns line endings, not language: refused.
pub fn check_continue_words(template: &Corpus, k: usize) -> crate::Result<()> {
    let mut lengths: Vec<usize> = template
        .lines()
        .map(|l| crate::tokenize::words(l).count())
        .filter(|&n| n > 0)
        .collect();
    if lengths.is_empty() {
        return Ok(());
    }
    let mid = lengths.len() / 2;
    let median = *lengths.select_nth_unstable(mid).1;
    if k >= median {
        return Err(crate::Error::invalid(
            format!(
                "continue:{k} prompts with {k} words, but half of the human lines have {median} \
                 words or fewer: most lines would leave nothing to continue"
            ),
            match median {
                0 | 1 => "use unconditional: the lines are one word long".to_string(),
                m => format!(
                    "use continue:{} or less (half the median line length), or unconditional",
                    (m / 2).max(1)
                ),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Document;

    #[test]
    fn continue_longer_than_the_lines_is_refused() {
        let c = Corpus::new(vec![Document::new(
            "a",
            "one two three four five six\nan eight word line of text here now\nshort one",
        )]);
        assert!(check_continue_words(&c, 2).is_ok());
        let e = check_continue_words(&c, 6).unwrap_err();
        let what = e.to_string();
        assert!(
            what.contains("continue:6") && what.contains("6 words or fewer"),
            "{what}"
        );
        assert!(e.hint().contains("continue:3 or less"), "{}", e.hint());
        let words = Corpus::new(vec![Document::new("w", "a\nb\nc d")]);
        let e = check_continue_words(&words, 1).unwrap_err();
        assert!(e.hint().starts_with("use unconditional"), "{}", e.hint());
    }
}
