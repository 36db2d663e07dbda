//! Writing new corpora from an n-gram model: the next generation's training text.
//!
//! An interpolated model is a mixture: p(x | c) = u(x | c) + γ(c) p(x | c'), where the u mass of
//! c sums to 1 - γ(c). So a word is drawn exactly by walking down from the longest context:
//! with probability Σu(· | c) draw from u(· | c), else move to the shorter context c'; at the
//! bottom, draw from the unigram distribution. Cumulative u sums over each sibling range make a
//! draw one binary search, so sampling runs at millions of words per second with no per-word
//! allocation. `<s>` is never drawn.
//!
//! Temperature T != 1 needs the whole distribution, p^(1/T) renormalised, so it walks the full
//! vocabulary per word: exact, but slower.
//!
//! Documents are independent, each with its own random stream derived from (seed, index):
//! the output is the same whatever the number of threads.

use super::query::{advance, State};
use super::vocab::{BOS, EOS, UNK};
use super::NgramModel;
use crate::corpus::{Corpus, Document};
use crate::rng::Rng;
use crate::sampling::{Protocol, SampleSettings};
use crate::tokenize;
use rayon::prelude::*;

/// Cumulative u sums of a model, ready for drawing.
pub struct Sampler<'m> {
    model: &'m NgramModel,
    /// `cum[n][i]`: Σ u over entry i's siblings up to and including i (order n+1).
    /// For unigrams: Σ p over word ids up to i (`<s>` and `<unk>` weigh 0).
    cum: Vec<Vec<f64>>,
}

impl<'m> Sampler<'m> {
    pub fn new(model: &'m NgramModel) -> Self {
        let t1 = &model.tables[0];
        let mut acc = 0.0;
        let mut cum1 = Vec::with_capacity(t1.len());
        for (w, &lp) in t1.log_prob.iter().enumerate() {
            if w as u32 != BOS {
                acc += 10f64.powf(f64::from(lp));
            }
            cum1.push(acc);
        }
        let mut cum = vec![cum1];
        // suffix[i]: index of entry i's suffix (the n-gram without its first word) one order down.
        let mut suffix_prev: Vec<u32> = Vec::new();
        for n in 2..=model.order() {
            let (parent_t, t) = (&model.tables[n - 2], &model.tables[n - 1]);
            let below = (n >= 3).then(|| &model.tables[n - 3]);
            let mut c_n = vec![0f64; t.len()];
            let mut suffix = vec![0u32; t.len()];
            let mut chunks: Vec<(usize, &mut [f64], &mut [u32])> =
                Vec::with_capacity(parent_t.len());
            let (mut crest, mut srest): (&mut [f64], &mut [u32]) = (&mut c_n, &mut suffix);
            for c in 0..parent_t.len() {
                let len = parent_t.children(c).len();
                let (ch, ct) = crest.split_at_mut(len);
                let (sh, st) = srest.split_at_mut(len);
                crest = ct;
                srest = st;
                if len > 0 {
                    chunks.push((c, ch, sh));
                }
            }
            chunks
                .into_par_iter()
                .with_min_len(1024)
                .for_each(|(c, cs, ss)| {
                    let gamma = 10f64.powf(f64::from(parent_t.log_backoff[c]));
                    let range = below.map(|b| b.children(suffix_prev[c] as usize));
                    let mut acc = 0.0;
                    for (k, i) in parent_t.children(c).enumerate() {
                        let w = t.words[i];
                        let si = match &range {
                            None => w as usize,
                            Some(r) => parent_t
                                .find(r.clone(), w)
                                .expect("suffix of an n-gram is an n-gram"),
                        };
                        let lower = 10f64.powf(f64::from(parent_t.log_prob[si]));
                        let u = (10f64.powf(f64::from(t.log_prob[i])) - gamma * lower).max(0.0);
                        acc += u;
                        cs[k] = acc;
                        ss[k] = si as u32;
                    }
                });
            cum.push(c_n);
            suffix_prev = suffix;
        }
        Sampler { model, cum }
    }

    /// Draws the next word after `state` at temperature 1.
    fn draw(&self, state: &State, rng: &mut Rng) -> u32 {
        let m = self.model;
        for (j, &node) in state.nodes().iter().enumerate().rev() {
            let range = m.tables[j].children(node);
            if range.is_empty() {
                continue;
            }
            let cum = &self.cum[j + 1][range.clone()];
            let total = *cum.last().expect("non-empty");
            let r = rng.next_f64();
            if r < total {
                let k = cum.partition_point(|&x| x <= r).min(cum.len() - 1);
                return m.tables[j + 1].words[range.start + k];
            }
        }
        let cum = &self.cum[0];
        let r = rng.next_f64() * cum.last().copied().unwrap_or(0.0);
        cum.partition_point(|&x| x <= r).min(cum.len() - 1) as u32
    }

    /// Draws at temperature `t` from the full distribution (exact, O(|V|) per word).
    fn draw_tempered(&self, state: &State, t: f64, rng: &mut Rng, buf: &mut Vec<f64>) -> u32 {
        let m = self.model;
        buf.clear();
        buf.extend(
            m.tables[0]
                .log_prob
                .iter()
                .map(|&lp| 10f64.powf(f64::from(lp))),
        );
        for (j, &node) in state.nodes().iter().enumerate() {
            let range = m.tables[j].children(node);
            if range.is_empty() {
                continue;
            }
            let gamma = 10f64.powf(f64::from(m.tables[j].log_backoff[node]));
            buf.iter_mut().for_each(|p| *p *= gamma);
            let cum = &self.cum[j + 1][range.clone()];
            let mut prev = 0.0;
            for (k, i) in range.enumerate() {
                let w = m.tables[j + 1].words[i] as usize;
                buf[w] += cum[k] - prev;
                prev = cum[k];
            }
        }
        buf[BOS as usize] = 0.0;
        buf[UNK as usize] = 0.0; // conditioned on a real word, as in `draw`
        let mut acc = 0.0;
        for p in buf.iter_mut() {
            acc += p.powf(1.0 / t);
            *p = acc;
        }
        let r = rng.next_f64() * acc;
        buf.partition_point(|&x| x <= r).min(buf.len() - 1) as u32
    }

    /// Continues `state` until `</s>` or `max_words`, appending words to `out` (space-separated).
    /// Returns the number of words written.
    fn sentence(
        &self,
        mut state: State,
        s: &SampleSettings,
        rng: &mut Rng,
        out: &mut String,
        buf: &mut Vec<f64>,
    ) -> usize {
        let mut words = 0;
        while words < s.max_line_words {
            let mut w = UNK;
            for _ in 0..64 {
                w = if s.temperature == 1.0 {
                    self.draw(&state, rng)
                } else {
                    self.draw_tempered(&state, s.temperature, rng, buf)
                };
                if w != UNK && w != BOS {
                    break;
                }
            }
            if w == EOS || w == UNK || w == BOS {
                break;
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
            }
            out.push_str(self.model.vocab.word(w));
            words += 1;
            state = advance(self.model, &state, w);
        }
        words
    }

    /// Writes one document per template document: unconditionally (about `words[i]` words
    /// each, in whole lines) or by continuing each template line's prompt.
    pub fn sample(&self, template: &Corpus, words: &[usize], s: &SampleSettings) -> Corpus {
        assert_eq!(template.docs.len(), words.len());
        let indices: Vec<usize> = (0..words.len()).collect();
        let docs: Vec<Document> = indices
            .par_chunks(PLAN_GROUP)
            .flat_map_iter(|group| {
                // Words planned and written by this group's documents so far.
                let (mut planned, mut written) = (0usize, 0usize);
                group
                    .iter()
                    .map(|&i| {
                        let mut rng = Rng::derive(s.seed, "ngram-sample", i as u64);
                        let text = match s.protocol {
                            Protocol::Unconditional => {
                                planned += words[i];
                                let (text, n) = self.unconditional(
                                    planned.saturating_sub(written),
                                    s,
                                    &mut rng,
                                );
                                written += n;
                                text
                            }
                            Protocol::Continue { prompt_words } => {
                                self.continuations(&template.docs[i], prompt_words, s, &mut rng)
                            }
                        };
                        Document::new(format!("sample-{i:06}"), text)
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|d| !d.text.is_empty())
            .collect();
        Corpus::new(docs)
    }

    /// `n` sentences, one per line, each from its own random stream (`ngram sample`).
    pub fn sentences(&self, n: usize, s: &SampleSettings) -> Vec<String> {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let mut rng = Rng::derive(s.seed, "ngram-sample", i as u64);
                self.unconditional(1, s, &mut rng).0
            })
            .collect()
    }

    /// Whole sentences while fewer than `budget` words are written. Whether to start another
    /// sentence is decided before it is drawn, so sentence lengths keep the model's
    /// distribution (cutting or dropping the sentence that crosses the budget would favour
    /// short ones and fake a collapse of sentence length).
    fn unconditional(&self, budget: usize, s: &SampleSettings, rng: &mut Rng) -> (String, usize) {
        let mut text = String::with_capacity(budget * 6);
        let mut buf = Vec::new();
        let (mut written, mut empty_in_a_row) = (0, 0);
        while written < budget {
            let before = text.len();
            written += self.sentence(State::begin(), s, rng, &mut text, &mut buf);
            if text.len() > before {
                text.push('\n');
                empty_in_a_row = 0;
            } else {
                // A model that ends (almost) every sentence at once: do not spin forever.
                empty_in_a_row += 1;
                if empty_in_a_row == MAX_EMPTY_SENTENCES {
                    break;
                }
            }
        }
        if text.ends_with('\n') {
            text.pop();
        }
        (text, written)
    }

    /// Every line of `doc` continued after its first `prompt_words` words (all but the last
    /// word of a shorter line); only the new words are kept.
    fn continuations(
        &self,
        doc: &Document,
        prompt_words: usize,
        s: &SampleSettings,
        rng: &mut Rng,
    ) -> String {
        let mut text = String::new();
        let mut buf = Vec::new();
        for line in doc.lines() {
            let toks: Vec<&str> = tokenize::words(line).collect();
            let keep = prompt_words.min(toks.len().saturating_sub(1));
            let mut state = State::begin();
            for w in &toks[..keep] {
                state = advance(self.model, &state, self.model.vocab.id_or_unk(w));
            }
            let before = text.len();
            self.sentence(state, s, rng, &mut text, &mut buf);
            if text.len() > before {
                text.push('\n');
            }
        }
        if text.ends_with('\n') {
            text.pop();
        }
        text
    }
}

/// Documents planned together. A document planned shorter than a sentence (one-line documents)
/// would otherwise still get a whole sentence, and the corpus would come out up to twice its
/// planned size. Within a group, a document writes sentences while the group's words so far
/// are below the plan of its documents so far, so a group overshoots by at most one sentence.
/// Groups are fixed by document index, not by thread: the output is the same whatever the
/// number of threads.
const PLAN_GROUP: usize = 64;

/// Empty sentences in a row after which a document is ended.
const MAX_EMPTY_SENTENCES: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{build_lines, BuildOptions};

    fn model() -> NgramModel {
        let text = [
            "the cat sat",
            "the dog sat",
            "a cat ran",
            "the cat ran",
            "a dog sat down",
        ];
        build_lines(text.iter().copied(), &BuildOptions::new(3)).unwrap()
    }

    #[test]
    fn draws_follow_the_model_distribution() {
        // Empirical frequencies after "<s> the" match p(x | <s> the) (excluding <unk>).
        let m = model();
        let sampler = Sampler::new(&m);
        let the = m.vocab.get("the").unwrap();
        let state = advance(&m, &State::begin(), the);
        let mut rng = Rng::new(5);
        let mut hits = vec![0u32; m.vocab.len()];
        let draws = 200_000;
        for _ in 0..draws {
            let mut w = sampler.draw(&state, &mut rng);
            while w == UNK {
                w = sampler.draw(&state, &mut rng);
            }
            hits[w as usize] += 1;
        }
        let unk = 10f64.powf(m.log10_prob_of(&["<s>", "the"], "<unk>"));
        for w in ["cat", "dog", "sat", "a", "</s>", "down"] {
            let p = 10f64.powf(m.log10_prob_of(&["<s>", "the"], w)) / (1.0 - unk);
            let f = f64::from(hits[m.vocab.get(w).unwrap() as usize]) / f64::from(draws);
            assert!((f - p).abs() < 0.005, "{w}: sampled {f:.4}, model {p:.4}");
        }
    }

    #[test]
    fn same_seed_same_corpus_whatever_the_threads() {
        let m = model();
        let sampler = Sampler::new(&m);
        let template = Corpus::new(vec![Document::new("a", "x y z"), Document::new("b", "p q")]);
        let s = SampleSettings {
            seed: 9,
            ..Default::default()
        };
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| sampler.sample(&template, &[50, 20], &s));
        let b = sampler.sample(&template, &[50, 20], &s);
        assert_eq!(a, b);
        assert!(a.docs.iter().map(Document::words).sum::<usize>() >= 70);
        let c = sampler.sample(
            &template,
            &[50, 20],
            &SampleSettings {
                seed: 10,
                ..s.clone()
            },
        );
        assert_ne!(a, c);
        // Every word is in the vocabulary and no special token leaks into the text.
        for d in &a.docs {
            for w in tokenize::words(&d.text) {
                assert!(m.vocab.get(w).is_some_and(|id| id > EOS), "{w}");
            }
        }
    }

    #[test]
    fn documents_shorter_than_a_sentence_keep_the_planned_size() {
        // One-line documents planned at 2 words, from a model whose sentences are 3-4 words:
        // one whole sentence each would write about 1.7x the plan.
        let m = model();
        let sampler = Sampler::new(&m);
        let docs = 10 * PLAN_GROUP;
        let template = Corpus::new(
            (0..docs)
                .map(|i| Document::new(format!("{i}"), "x y"))
                .collect(),
        );
        let s = SampleSettings {
            seed: 4,
            ..Default::default()
        };
        let out = sampler.sample(&template, &vec![2; docs], &s);
        let words: usize = out.docs.iter().map(Document::words).sum();
        // At most one sentence over the plan per group of documents (the model's sentences
        // are 4-5 words on average; one whole sentence per document would write over 4,000).
        assert!((2 * docs..=2 * docs * 13 / 10).contains(&words), "{words}");
    }

    #[test]
    fn continue_keeps_only_new_words_and_temperature_sharpens() {
        let m = model();
        let sampler = Sampler::new(&m);
        let template = Corpus::new(vec![Document::new("a", "the cat sat\na dog sat down")]);
        let s = SampleSettings {
            protocol: Protocol::Continue { prompt_words: 2 },
            seed: 1,
            ..Default::default()
        };
        let out = sampler.sample(&template, &[0], &s);
        // "the cat" and "a dog" are prompts; what follows must be a continuation seen in training.
        for line in out.docs[0].text.lines() {
            assert!(
                !line.starts_with("the cat") && !line.starts_with("a dog"),
                "{line}"
            );
        }
        let cold = SampleSettings {
            temperature: 0.05,
            seed: 3,
            ..Default::default()
        };
        let text = sampler.sample(&template, &[200], &cold).docs[0]
            .text
            .clone();
        // Near-greedy: every line starts with the model's most likely first word.
        let best = m
            .vocab
            .words()
            .max_by(|a, b| {
                m.log10_prob_of(&["<s>"], a)
                    .total_cmp(&m.log10_prob_of(&["<s>"], b))
            })
            .unwrap();
        assert!(
            text.lines().all(|l| l.split(' ').next() == Some(best)),
            "{best}: {text}"
        );
    }
}
