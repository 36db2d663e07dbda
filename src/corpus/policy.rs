//! Corpus policies: what generation g trains on.
//!
//! Whether a chain of models collapses depends less on the model than on this choice:
//! - `replace`: only the previous generation's text. The setting of Shumailov et al. (2024),
//!   where errors compound and the tails of the distribution vanish.
//! - `accumulate`: the human text plus every earlier generation's text, growing each generation.
//!   Gerstgrasser et al. (2024) show this bounds the test error instead of letting it grow.
//! - `mix:F`: a fixed budget, a fraction F of it real data and the rest the previous generation's
//!   text (Shumailov et al.'s "10% of the original data kept" is `mix:0.1`).
//! - `accumulate-subsample`: the accumulated pool drawn down to a fixed budget, separating the
//!   effect of keeping old data from the effect of simply having more of it.
//! - `fresh:F`: like `mix:F`, but the real fraction is human text no earlier generation trained
//!   on (a seeded stream through the human split, [`super::fresh`]): Briesch et al. (2023) find
//!   fresh data slows the decline without stopping it.
//!
//! Draws are whole documents (a document cut only where it crosses the budget, at a line
//! boundary), from an RNG stream derived from (seed, policy, generation), so a training mix is
//! reproducible byte for byte and every parent's share is recorded in the manifest.

use super::manifest::ParentShare;
use super::{Corpus, Document};
use crate::error::{Error, Result};
use crate::rng::Rng;
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// What a generation after the first trains on (generation 0 always trains on human text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    Replace,
    Accumulate,
    /// Fraction of real (human) data kept in a budget of the human corpus's size, 0 < F < 1.
    Mix(f64),
    AccumulateSubsample,
    /// Fraction of *fresh* human data (never trained on before) in a budget of generation 0's
    /// size, 0 < F <= 1.
    Fresh(f64),
}

impl FromStr for Policy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s {
            "replace" => return Ok(Policy::Replace),
            "accumulate" => return Ok(Policy::Accumulate),
            "accumulate-subsample" => return Ok(Policy::AccumulateSubsample),
            _ => {}
        }
        if s == "fresh" || s.starts_with("fresh:") {
            return s
                .strip_prefix("fresh:")
                .and_then(|f| f.trim().parse::<f64>().ok())
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .map(Policy::Fresh)
                .ok_or_else(|| {
                    Error::invalid(
                        format!("`{s}` needs a fraction of fresh human data in (0, 1]"),
                        "write fresh:<fraction of each generation's text that is new human text>, e.g. fresh:0.1",
                    )
                });
        }
        if s != "mix" && !s.starts_with("mix:") {
            return Err(Error::UnknownPolicy { name: s.into() });
        }
        s.strip_prefix("mix:")
            .and_then(|f| f.trim().parse::<f64>().ok())
            .filter(|f| *f > 0.0 && *f < 1.0)
            .map(Policy::Mix)
            .ok_or_else(|| {
                Error::invalid(
                    format!("`{s}` needs a fraction of real data strictly between 0 and 1"),
                    "write mix:<fraction of real data kept>, e.g. mix:0.1",
                )
            })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Replace => f.write_str("replace"),
            Policy::Accumulate => f.write_str("accumulate"),
            // `{}` on f64 is the shortest string that parses back to the same value.
            Policy::Mix(x) => write!(f, "mix:{x}"),
            Policy::AccumulateSubsample => f.write_str("accumulate-subsample"),
            Policy::Fresh(x) => write!(f, "fresh:{x}"),
        }
    }
}

impl Policy {
    /// The policy as a directory name: no `:` (awkward in paths on some systems).
    pub fn slug(&self) -> String {
        match self {
            Policy::Mix(x) => format!("mix{x}"),
            Policy::Fresh(x) => format!("fresh{x}"),
            other => other.to_string(),
        }
    }
}

impl serde::Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: Error| serde::de::Error::custom(format!("{e} ({})", e.hint())))
    }
}

/// A parent corpus with the name and sha256 its manifest share records.
#[derive(Clone, Debug)]
pub struct NamedCorpus<'a> {
    /// Path of the corpus file, relative to the workdir.
    pub name: String,
    pub sha256: String,
    pub corpus: &'a Corpus,
}

/// Which documents to take, by index in ascending order; `Some(k)` keeps only the first k lines.
fn pick(docs: &[Document], tokens: usize, rng: &mut Rng) -> Vec<(usize, Option<usize>)> {
    let words: Vec<usize> = docs.iter().map(Document::words).collect();
    if words.iter().sum::<usize>() <= tokens {
        return (0..docs.len()).map(|i| (i, None)).collect();
    }
    let mut order: Vec<usize> = (0..docs.len()).collect();
    rng.shuffle(&mut order);
    let mut chosen = Vec::new();
    let mut left = tokens;
    for i in order {
        if left == 0 {
            break;
        }
        if words[i] <= left {
            chosen.push((i, None));
            left -= words[i];
            continue;
        }
        // The document that crosses the budget: keep its first lines while they fit, and at
        // least one, so the total lands within one line of the budget.
        let mut kept = 0;
        for line in docs[i].lines() {
            let w = crate::tokenize::count_words(line);
            if w > left {
                break;
            }
            left -= w;
            kept += 1;
        }
        chosen.push((i, Some(kept.max(1))));
        break;
    }
    chosen.sort_unstable();
    chosen
}

fn take(doc: &Document, lines: Option<usize>) -> Document {
    match lines {
        None => doc.clone(),
        Some(k) => Document::new(
            doc.id.clone(),
            doc.lines().take(k).collect::<Vec<_>>().join("\n"),
        ),
    }
}

/// Draws documents at random down to about `tokens` KenLM tokens: whole documents in a shuffled
/// order while they fit, then the first lines of the one that crosses the budget (at least one
/// line). The result is within one line of `tokens` and keeps the corpus order; a corpus with
/// no more than `tokens` tokens comes back whole.
pub fn subsample(corpus: &Corpus, tokens: usize, rng: &mut Rng) -> Corpus {
    let docs = pick(&corpus.docs, tokens, rng)
        .into_iter()
        .map(|(i, k)| take(&corpus.docs[i], k))
        .collect();
    Corpus::new(docs)
}

/// A mix under construction: documents, each with the index of the parent it came from.
#[derive(Default)]
struct Pool {
    docs: Vec<Document>,
    parent: Vec<usize>,
}

impl Pool {
    fn extend(&mut self, other: Pool) {
        self.docs.extend(other.docs);
        self.parent.extend(other.parent);
    }

    /// The pool drawn down to `tokens` as one corpus; documents keep their order.
    fn draw(self, tokens: usize, rng: &mut Rng) -> Pool {
        let mut out = Pool::default();
        for (i, k) in pick(&self.docs, tokens, rng) {
            out.docs.push(take(&self.docs[i], k));
            out.parent.push(self.parent[i]);
        }
        out
    }

    fn cap(self, budget: Option<usize>, rng: &mut Rng) -> Pool {
        match budget {
            Some(b) => self.draw(b, rng),
            None => self,
        }
    }
}

/// Composes generation `generation`'s training corpus under `policy`.
///
/// `synthetic[i]` is the text generation i wrote (at least `generation` of them). Generation 0
/// trains on `human` under every policy, and its draw does not depend on the policy, so all arms
/// of an experiment share it. `budget_tokens` caps every result; for `mix` and
/// `accumulate-subsample` the fixed size is `min(human tokens, budget)`. Returns the corpus and,
/// for every parent the policy draws from (human first), what was taken from it.
pub fn compose(
    policy: &Policy,
    generation: u32,
    human: &NamedCorpus,
    synthetic: &[NamedCorpus],
    budget_tokens: Option<usize>,
    seed: u64,
) -> Result<(Corpus, Vec<ParentShare>)> {
    let g = generation as usize;
    if synthetic.len() < g {
        return Err(Error::invalid(
            format!(
                "generation {g} trains on text from generations 0..{g}, but only {} exist",
                synthetic.len()
            ),
            "run the earlier generations first",
        ));
    }
    if budget_tokens == Some(0) {
        return Err(Error::invalid(
            "--train-tokens 0 leaves nothing to train on",
            "give --train-tokens > 0, or leave it out",
        ));
    }
    let label = if g == 0 {
        "policy-gen0".to_string()
    } else {
        format!("policy-{}", policy.slug())
    };
    let mut rng = Rng::derive(seed, &label, u64::from(generation));
    let human_tokens: usize = human.corpus.docs.iter().map(Document::words).sum();
    let fixed = budget_tokens.map_or(human_tokens, |b| b.min(human_tokens));

    // Parent 0 is the human corpus, parent p > 0 the text generation p-1 wrote. Generated ids
    // get a `gNN/` prefix: unique across generations, and the mix shows where text came from.
    let parents: Vec<&NamedCorpus> = std::iter::once(human).chain(&synthetic[..g]).collect();
    let of = |p: usize| {
        let docs = parents[p].corpus.docs.iter();
        let docs: Vec<Document> = if p == 0 {
            docs.cloned().collect()
        } else {
            let prefixed =
                |d: &Document| Document::new(format!("g{:02}/{}", p - 1, d.id), d.text.clone());
            docs.map(prefixed).collect()
        };
        let parent = vec![p; docs.len()];
        Pool { docs, parent }
    };
    let all = || {
        let mut pool = Pool::default();
        (0..=g).for_each(|p| pool.extend(of(p)));
        pool
    };

    // Growing policies are cut to the budget; fixed-size ones are drawn to `fixed` (<= budget)
    // and not drawn again, which would only blur their proportions.
    let (pool, from): (Pool, Vec<usize>) = match (g, policy) {
        (0, _) => (of(0).cap(budget_tokens, &mut rng), vec![0]),
        (_, Policy::Replace) => (of(g).cap(budget_tokens, &mut rng), vec![g]),
        (_, Policy::Accumulate) => (all().cap(budget_tokens, &mut rng), (0..=g).collect()),
        (_, Policy::Mix(f)) => {
            let real = ((f * fixed as f64).round() as usize).min(fixed);
            let mut pool = of(0).draw(real, &mut rng);
            pool.extend(of(g).draw(fixed - real, &mut rng));
            (pool, vec![0, g])
        }
        (_, Policy::AccumulateSubsample) => (all().draw(fixed, &mut rng), (0..=g).collect()),
        (_, Policy::Fresh(f)) => {
            let real = ((f * fixed as f64).round() as usize).min(fixed);
            let gen0 = of(0).cap(budget_tokens, &mut Rng::derive(seed, "policy-gen0", 0));
            let used: HashSet<&str> = gen0.docs.iter().map(|d| d.id.as_str()).collect();
            let fresh = super::fresh::fresh_docs(human.corpus, &used, g, real, *f, seed)?;
            let mut pool = Pool {
                docs: fresh
                    .iter()
                    .map(|&i| human.corpus.docs[i].clone())
                    .collect(),
                parent: vec![0; fresh.len()],
            };
            let taken: usize = pool.docs.iter().map(Document::words).sum();
            pool.extend(of(g).draw(fixed.saturating_sub(taken), &mut rng));
            (pool, vec![0, g])
        }
    };

    let shares = from
        .iter()
        .map(|&p| {
            let taken = pool.docs.iter().zip(&pool.parent).filter(|(_, &q)| q == p);
            let (documents, tokens) = taken.fold((0, 0), |(n, t), (d, _)| (n + 1, t + d.words()));
            // Fresh human documents are named: the manifest shows none is ever reused.
            let ids = (p == 0 && matches!(policy, Policy::Fresh(_)) && g > 0).then(|| {
                let human = pool.docs.iter().zip(&pool.parent).filter(|(_, &q)| q == 0);
                human.map(|(d, _)| d.id.clone()).collect()
            });
            ParentShare {
                corpus: parents[p].name.clone(),
                sha256: parents[p].sha256.clone(),
                documents,
                tokens,
                ids,
            }
        })
        .collect();
    let docs = pool.docs;
    if docs.iter().all(|d| d.words() == 0) {
        return Err(Error::EmptyCorpus {
            source_name: format!("generation {g}'s {policy} training mix"),
        });
    }
    let mut seen = HashSet::with_capacity(docs.len());
    if let Some(d) = docs.iter().find(|d| !seen.insert(d.id.as_str())) {
        return Err(Error::invalid(
            format!(
                "document id `{}` appears twice in generation {g}'s training mix",
                d.id
            ),
            "give human documents ids that do not start with gNN/ (the prefix of generated text)",
        ));
    }
    Ok((Corpus::new(docs), shares))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
