//! `bench metrics`: the speed of every corpus metric on real data.
//!
//! Why: the suite runs on every generation of every arm, so its cost multiplies; issue 6 asks
//! for the whole suite except self-BLEU under 10 s on the gutenberg train split (~4.9M words)
//! on this 2-core machine, and self-BLEU on 1000 documents in seconds. Each metric is timed on
//! its own (on one shared tokenization), then the suite end to end as the chain calls it.

use anyhow::{Context, Result};
use collapse_lab::corpus::{source, Corpus, Document};
use collapse_lab::metrics::corpus_metrics::{
    compare_with_human, corpus_metrics_with, HumanReference, MetricOptions,
};
use collapse_lab::metrics::diversity::{self, MATTR_WINDOW, MTLD_THRESHOLD, ZIPF_TOP_TYPES};
use collapse_lab::metrics::doc_ppl::doc_ppl_distribution;
use collapse_lab::metrics::repetition::{self, ngram_uniques, window_repeats};
use collapse_lab::metrics::self_bleu::{sample_docs, self_bleu, SELF_BLEU_SEED};
use collapse_lab::metrics::tokens::TokenizedCorpus;
use collapse_lab::metrics::{DocScore, Scores};
use std::path::Path;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct MetricsBenchArgs {
    /// A gutenberg-style folder (split.tsv and books/: the train books are measured, the test
    /// books are the human reference), or any corpus spec (`embedded:kjv`, a file, a folder),
    /// measured against itself
    #[arg(long)]
    input: String,
    /// Documents of a gutenberg folder: consecutive paragraphs of a book, closed once they
    /// reach this many words (about a Bible chapter, the unit of the embedded corpora)
    #[arg(long, default_value_t = 1000)]
    doc_words: usize,
    /// Documents sampled for self-BLEU
    #[arg(long, default_value_t = 1000)]
    self_bleu_sample: usize,
    /// Runs of each measurement; the fastest is reported (the machine is shared)
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

pub fn run(a: MetricsBenchArgs) -> Result<()> {
    let t0 = Instant::now();
    let (corpus, human) = load(&a.input, a.doc_words)?;
    let stats = corpus.stats();
    println!(
        "input: {} ({} documents, {} words, {:.1} MB; human reference {} words); loaded in {:.1} s",
        a.input,
        stats.documents,
        stats.tokens,
        stats.bytes as f64 / 1e6,
        human.stats().tokens,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "threads: {}; fastest of {} runs each",
        rayon::current_num_threads(),
        a.repeat.max(1)
    );
    let words = stats.tokens as f64;
    let report = |what: &str, secs: f64| {
        println!(
            "  {what:<44} {secs:>7.3} s  {:>7.1} M words/s",
            words / secs / 1e6
        );
    };

    let (reference, s) = timed_min(a.repeat, || HumanReference::new(&human));
    println!(
        "  {:<44} {s:>7.3} s  (once per experiment)",
        "human reference (counts)"
    );
    let (t, s) = timed_min(a.repeat, || TokenizedCorpus::new(&corpus));
    report("tokenize (ids, counts)", s);
    let (_, s) = timed_min(a.repeat, || window_repeats(&t));
    report("rep/16,32,128 + seq-rep-1 (one walk)", s);
    for n in 2..=repetition::MAX_N {
        let (_, s) = timed_min(a.repeat, || ngram_uniques(&t, n));
        report(&format!("distinct-{n} + seq-rep-{n}"), s);
    }
    let (_, s) = timed_min(a.repeat, || compare_with_human(&t, &reference));
    report("types lost by band, unigram KL, JS", s);
    let (_, s) = timed_min(a.repeat, || {
        diversity::mattr(&t.ids, t.types(), MATTR_WINDOW)
    });
    report("MATTR (window 100)", s);
    let (_, s) = timed_min(a.repeat, || {
        diversity::mtld(&t.ids, t.types(), MTLD_THRESHOLD)
    });
    report("MTLD (both directions)", s);
    let (_, s) = timed_min(a.repeat, || {
        diversity::zipf_coefficient(&t.counts, ZIPF_TOP_TYPES)
    });
    report("Zipf coefficient (top 1000)", s);
    let (_, s) = timed_min(a.repeat, || diversity::compression_ratio(&corpus));
    report("compression ratio (DEFLATE level 6)", s);
    let scores = unigram_scores(&t);
    let (_, s) = timed_min(a.repeat, || doc_ppl_distribution(&scores));
    report("per-document perplexity distribution", s);
    let sample = sample_docs(t.documents(), a.self_bleu_sample, SELF_BLEU_SEED);
    let docs: Vec<&[u32]> = sample.iter().map(|&d| t.doc(d)).collect();
    let sample_words: usize = docs.iter().map(|d| d.len()).sum();
    let (bleu, s) = timed_min(a.repeat, || self_bleu(&docs, t.types()));
    println!(
        "  {:<44} {s:>7.3} s  ({} documents, {sample_words} words; self-BLEU {bleu:.4})",
        "self-BLEU",
        docs.len()
    );
    drop(t);

    println!("the suite as the chain runs it (corpus_metrics, all groups in parallel):");
    let no_bleu = MetricOptions {
        self_bleu_sample: 0,
        ..MetricOptions::default()
    };
    let (m, s) = timed_min(a.repeat, || {
        corpus_metrics_with(&corpus, &reference, &no_bleu)
    });
    report("everything except self-BLEU", s);
    let all = MetricOptions {
        self_bleu_sample: a.self_bleu_sample,
        ..MetricOptions::default()
    };
    let (_, s) = timed_min(a.repeat, || corpus_metrics_with(&corpus, &reference, &all));
    report("everything", s);
    println!(
        "values: seq_rep_4 {:.4}, rep_128 {:.4}, distinct_4_per_ngram {:.4}, mattr {:.4}, mtld {:.1}, \
         compression_ratio {:.3}, zipf_coefficient {:.3}, unigram_js {:.4}",
        m.seq_rep_4,
        m.rep_128,
        m.distinct_4_per_ngram,
        m.mattr,
        m.mtld,
        m.compression_ratio,
        m.zipf_coefficient,
        m.unigram_js
    );
    Ok(())
}

/// The result of `f` and its fastest time over `repeat` runs.
fn timed_min<T>(repeat: usize, f: impl Fn() -> T) -> (T, f64) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        out = Some(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (out.expect("ran at least once"), best)
}

/// Per-document scores under the corpus's own unigram model (the bench has no trained model;
/// the distribution code only reads log-likelihoods and token counts).
fn unigram_scores(t: &TokenizedCorpus) -> Scores {
    let total = t.tokens() as f64;
    let logp: Vec<f64> = t.counts.iter().map(|&c| (c as f64 / total).ln()).collect();
    Scores {
        docs: (0..t.documents())
            .map(|d| DocScore {
                logprob: t.doc(d).iter().map(|&i| logp[i as usize]).sum(),
                tokens: t.doc(d).len() as u64,
                ..Default::default()
            })
            .collect(),
    }
}

/// The measured corpus and the human reference.
fn load(input: &str, doc_words: usize) -> Result<(Corpus, Corpus)> {
    let tsv = Path::new(input).join("split.tsv");
    if !tsv.exists() {
        let c = source::load(input)?.corpus;
        return Ok((c.clone(), c));
    }
    let listing =
        std::fs::read_to_string(&tsv).with_context(|| format!("reading {}", tsv.display()))?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for row in listing.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 2 || !["train", "test"].contains(&f[1]) {
            continue;
        }
        let text = source::read_text_file(&Path::new(input).join(f[0]))?;
        let docs = if f[1] == "train" {
            &mut train
        } else {
            &mut test
        };
        docs.extend(book_documents(f[0], &text, doc_words));
    }
    Ok((Corpus::new(train), Corpus::new(test)))
}

/// A book as documents of consecutive paragraphs (one line each, wrapped lines joined), each
/// closed once it reaches `doc_words` words.
fn book_documents(name: &str, text: &str, doc_words: usize) -> Vec<Document> {
    let mut out = Vec::new();
    let (mut lines, mut words) = (Vec::new(), 0);
    for para in text.split("\n\n") {
        let line = collapse_lab::tokenize::words(para)
            .collect::<Vec<_>>()
            .join(" ");
        if line.is_empty() {
            continue;
        }
        words += collapse_lab::tokenize::count_words(&line);
        lines.push(line);
        if words >= doc_words {
            out.push(Document::new(
                format!("{name}#{}", out.len()),
                lines.join("\n"),
            ));
            (lines, words) = (Vec::new(), 0);
        }
    }
    if !lines.is_empty() {
        out.push(Document::new(
            format!("{name}#{}", out.len()),
            lines.join("\n"),
        ));
    }
    out
}
