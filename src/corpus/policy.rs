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
        }
    }
}

impl Policy {
    /// The policy as a directory name: no `:` (awkward in paths on some systems).
    pub fn slug(&self) -> String {
        match self {
            Policy::Mix(x) => format!("mix{x}"),
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
    };

    let shares = from
        .iter()
        .map(|&p| {
            let taken = pool.docs.iter().zip(&pool.parent).filter(|(_, &q)| q == p);
            let (documents, tokens) = taken.fold((0, 0), |(n, t), (d, _)| (n + 1, t + d.words()));
            ParentShare {
                corpus: parents[p].name.clone(),
                sha256: parents[p].sha256.clone(),
                documents,
                tokens,
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
mod tests {
    use super::*;

    /// `n` documents `<prefix><i>`, each two lines of five words (10 tokens).
    fn corpus(prefix: &str, n: usize) -> Corpus {
        let doc = |i| {
            Document::new(
                format!("{prefix}{i}"),
                format!("{prefix} a b c {i}\nd e f g h"),
            )
        };
        Corpus::new((0..n).map(doc).collect())
    }

    fn tokens(c: &Corpus) -> usize {
        c.stats().tokens
    }

    type Out = (Corpus, Vec<(String, usize, usize)>);

    /// Composes from a human corpus and three generations of text, 100 documents (1000 tokens)
    /// each; returns the corpus and the shares as (name, documents, tokens).
    fn run(p: &str, g: u32, budget: Option<usize>, seed: u64) -> Result<Out> {
        let cs: Vec<Corpus> = ["h", "s0-", "s1-", "s2-"]
            .iter()
            .map(|p| corpus(p, 100))
            .collect();
        let named = |i: usize, name: &str| NamedCorpus {
            name: name.into(),
            sha256: format!("sha-{name}"),
            corpus: &cs[i],
        };
        let syn: Vec<NamedCorpus> = (1..4).map(|i| named(i, &format!("syn{}", i - 1))).collect();
        let (c, shares) = compose(&p.parse()?, g, &named(0, "human"), &syn, budget, seed)?;
        assert!(shares
            .iter()
            .all(|s| s.sha256 == format!("sha-{}", s.corpus)));
        let shares = shares
            .into_iter()
            .map(|s| (s.corpus, s.documents, s.tokens))
            .collect();
        Ok((c, shares))
    }

    fn share(name: &str, documents: usize, tokens: usize) -> (String, usize, usize) {
        (name.to_string(), documents, tokens)
    }

    #[test]
    fn parse_display_slug_and_serde_round_trip() {
        for (s, slug) in [
            ("replace", "replace"),
            ("accumulate", "accumulate"),
            ("mix:0.1", "mix0.1"),
            ("mix:0.25", "mix0.25"),
            ("accumulate-subsample", "accumulate-subsample"),
        ] {
            let p: Policy = s.parse().unwrap();
            assert_eq!((p.to_string(), p.slug()), (s.to_string(), slug.to_string()));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
        }
        assert_eq!(" mix:1e-1 ".parse::<Policy>().unwrap(), Policy::Mix(0.1));
        assert_eq!(Policy::Mix(0.1).to_string(), "mix:0.1");
    }

    #[test]
    fn bad_policy_strings_are_errors() {
        for s in ["", "Replace", "mixture", "keep", "accumulate-all"] {
            let r = s.parse::<Policy>();
            assert!(
                matches!(r, Err(Error::UnknownPolicy { name }) if name == s),
                "{s}"
            );
        }
        for s in [
            "mix", "mix:", "mix:0", "mix:1", "mix:1.5", "mix:-0.1", "mix:x", "mix:nan",
        ] {
            let e = s.parse::<Policy>().unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{s}");
            assert_eq!(
                e.hint(),
                "write mix:<fraction of real data kept>, e.g. mix:0.1"
            );
        }
        let err = serde_json::from_str::<Policy>("\"bogus\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown corpus policy `bogus` (policies are replace"),
            "{err}"
        );
    }

    #[test]
    fn subsample_takes_whole_documents_then_cuts_one_at_a_line() {
        let c = corpus("d", 20);
        let s = subsample(&c, 100, &mut Rng::new(1));
        assert_eq!((s.len(), tokens(&s)), (10, 100));
        let pos: Vec<usize> = s
            .docs
            .iter()
            .map(|d| c.docs.iter().position(|e| e == d).unwrap())
            .collect();
        assert!(
            pos.windows(2).all(|w| w[0] < w[1]),
            "whole documents in corpus order: {pos:?}"
        );

        // 103 tokens: ten documents, then the crossing one keeps its first line only (5 > 3,
        // but at least one line), so the total is within one line of the budget.
        let s = subsample(&c, 103, &mut Rng::new(1));
        assert_eq!((s.len(), tokens(&s)), (11, 105));
        let cut: Vec<&Document> = s.docs.iter().filter(|d| d.words() == 5).collect();
        let orig = c.docs.iter().find(|d| d.id == cut[0].id).unwrap();
        assert_eq!(
            (cut.len(), cut[0].text.as_str()),
            (1, orig.text.lines().next().unwrap())
        );
        // 107: the crossing document's first line (5) fits, its second (5 > 2) does not.
        assert_eq!(tokens(&subsample(&c, 107, &mut Rng::new(1))), 105);
        assert_eq!(subsample(&c, 1000, &mut Rng::new(1)), c);
        assert_eq!(subsample(&c, 0, &mut Rng::new(1)), Corpus::default());
        let draw = |seed| subsample(&c, 50, &mut Rng::new(seed));
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }

    #[test]
    fn generation_zero_is_the_human_corpus_for_every_policy() {
        let human = corpus("h", 100);
        let mut capped = Vec::new();
        for p in ["replace", "accumulate", "mix:0.1", "accumulate-subsample"] {
            assert_eq!(
                run(p, 0, None, 5).unwrap(),
                (human.clone(), vec![share("human", 100, 1000)])
            );
            let (c, shares) = run(p, 0, Some(300), 5).unwrap();
            assert_eq!(shares, [share("human", 30, 300)]);
            capped.push(c);
        }
        assert!(
            capped.windows(2).all(|w| w[0] == w[1]),
            "arms share generation 0"
        );
    }

    #[test]
    fn replace_is_the_previous_generation() {
        let (c, shares) = run("replace", 2, None, 5).unwrap();
        for (got, want) in c.docs.iter().zip(&corpus("s1-", 100).docs) {
            assert_eq!(
                (got.id.clone(), &got.text),
                (format!("g01/{}", want.id), &want.text)
            );
        }
        assert_eq!((c.len(), shares), (100, vec![share("syn1", 100, 1000)]));
        let (c, shares) = run("replace", 2, Some(250), 5).unwrap();
        assert_eq!((tokens(&c), shares), (250, vec![share("syn1", 25, 250)]));
    }

    #[test]
    fn accumulate_adds_up_and_budget_caps() {
        let (c, shares) = run("accumulate", 3, None, 5).unwrap();
        assert_eq!((c.len(), tokens(&c)), (400, 4000));
        let want = ["human", "syn0", "syn1", "syn2"].map(|n| share(n, 100, 1000));
        assert_eq!(shares, want);
        let ids = [0, 100, 399].map(|i| c.docs[i].id.as_str());
        assert_eq!(ids, ["h0", "g00/s0-0", "g02/s2-99"]);

        let (c, shares) = run("accumulate", 3, Some(1203), 5).unwrap();
        assert_eq!(tokens(&c), 1205, "within one line of the budget");
        assert_eq!(
            shares
                .iter()
                .map(|s| (s.1, s.2))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
            (c.len(), 1205)
        );
    }

    #[test]
    fn mix_keeps_the_real_fraction_of_a_fixed_budget() {
        let (c, shares) = run("mix:0.1", 2, None, 5).unwrap();
        assert_eq!(shares, [share("human", 10, 100), share("syn1", 90, 900)]);
        assert_eq!(tokens(&c), 1000);
        assert!(c.docs[..10].iter().all(|d| d.id.starts_with('h')));
        assert!(c.docs[10..].iter().all(|d| d.id.starts_with("g01/s1-")));

        let (_, shares) = run("mix:0.25", 1, Some(400), 5).unwrap();
        assert_eq!(shares, [share("human", 10, 100), share("syn0", 30, 300)]);
        // A budget above the human size does not grow the mix.
        assert_eq!(tokens(&run("mix:0.5", 1, Some(5000), 5).unwrap().0), 1000);
    }

    #[test]
    fn accumulate_subsample_draws_the_pool_down_to_the_human_size() {
        let (c, shares) = run("accumulate-subsample", 3, None, 5).unwrap();
        assert_eq!((c.len(), tokens(&c), shares.len()), (100, 1000, 4));
        assert_eq!(shares.iter().map(|s| s.2).sum::<usize>(), 1000);
        assert!(
            shares.iter().all(|s| s.1 > 5),
            "every parent drawn from: {shares:?}"
        );
        let (c, _) = run("accumulate-subsample", 3, Some(333), 5).unwrap();
        assert_eq!(tokens(&c), 335);
    }

    #[test]
    fn composing_is_deterministic_and_seeded() {
        for p in ["mix:0.1", "accumulate-subsample", "accumulate"] {
            assert_eq!(
                run(p, 2, Some(700), 5).unwrap(),
                run(p, 2, Some(700), 5).unwrap()
            );
            assert_ne!(
                run(p, 2, Some(700), 5).unwrap().0,
                run(p, 2, Some(700), 6).unwrap().0
            );
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let err = run("replace", 4, None, 5).unwrap_err().to_string();
        assert_eq!(
            err,
            "generation 4 trains on text from generations 0..4, but only 3 exist"
        );
        assert!(matches!(
            run("accumulate", 1, Some(0), 5),
            Err(Error::Invalid { .. })
        ));

        let named = |c| NamedCorpus {
            name: "c".into(),
            sha256: "s".into(),
            corpus: c,
        };
        let syn = corpus("s0-", 3);
        let clash = Corpus::new(vec![Document::new("g00/s0-1", "human text that clashes")]);
        let err = compose(
            &Policy::Accumulate,
            1,
            &named(&clash),
            &[named(&syn)],
            None,
            1,
        );
        let err = err.unwrap_err().to_string();
        assert!(
            err.starts_with("document id `g00/s0-1` appears twice"),
            "{err}"
        );

        let empty = Corpus::new(vec![Document::new("x", " ")]);
        let r = compose(&Policy::Replace, 1, &named(&syn), &[named(&empty)], None, 1);
        assert!(matches!(r, Err(Error::EmptyCorpus { .. })));
    }
}
