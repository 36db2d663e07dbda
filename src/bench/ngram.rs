//! `bench ngram`: estimator, ARPA, query and sampling speed on real data.
//!
//! Reference point (issue #2): KenLM `lmplz -o 5` builds the gutenberg train split of
//! ../shared (one sentence per line, ~4.9M words) in about 9 s wall on this 2-core machine,
//! peaking at about 340 MB with `-S 1G`.

use anyhow::{Context, Result};
use collapse_lab::corpus::{source, Corpus, Document};
use collapse_lab::ngram::sample::Sampler;
use collapse_lab::ngram::{arpa, build_lines, query, BuildOptions};
use collapse_lab::sampling::SampleSettings;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(
    input: &Path,
    order: usize,
    arpa_out: Option<PathBuf>,
    sample_words: usize,
) -> Result<()> {
    let (train, test) = load(input)?;
    let words: usize = train
        .par_iter()
        .map(|l| collapse_lab::tokenize::count_words(l))
        .sum();
    println!(
        "input: {} ({} training sentences, {} words; {} test sentences)",
        input.display(),
        train.len(),
        words,
        test.len()
    );
    println!("threads: {}", rayon::current_num_threads());

    reset_peak_memory();
    let t = Instant::now();
    let model = build_lines(train.iter().map(|s| s.as_str()), &BuildOptions::new(order))?;
    let build_s = t.elapsed().as_secs_f64();
    println!(
        "build {order}-gram: {build_s:.2} s, {:.0} words/s, n-grams per order {:?}",
        words as f64 / build_s,
        model.meta.ngrams
    );
    println!("peak memory after build: {} MiB", peak_memory_mib());

    let tmp = tempfile_path();
    let path = arpa_out.clone().unwrap_or_else(|| tmp.clone());
    let t = Instant::now();
    arpa::write_arpa(&model, &path)?;
    let write_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "write ARPA: {write_s:.2} s, {:.0} MB ({:.0} MB/s)",
        size as f64 / 1e6,
        size as f64 / 1e6 / write_s
    );
    println!(
        "build + write ARPA: {:.2} s wall (lmplz -o 5 reference: ~9 s)",
        build_s + write_s
    );
    if arpa_out.is_none() {
        let _ = std::fs::remove_file(&tmp);
    }

    if !test.is_empty() {
        let t = Instant::now();
        let s = query::summarize(&model, test.par_iter().map(|s| s.as_str()));
        let q = t.elapsed().as_secs_f64();
        println!(
            "query: {:.0} tokens/s; test perplexity {:.2} (excl. OOV {:.2}), {} OOVs of {} tokens",
            s.tokens as f64 / q,
            s.perplexity_including_oovs,
            s.perplexity_excluding_oovs,
            s.oovs,
            s.tokens
        );
    }

    let sampler = Sampler::new(&model);
    let docs = 200;
    let template = Corpus::new(
        (0..docs)
            .map(|i| Document::new(i.to_string(), ""))
            .collect(),
    );
    let t = Instant::now();
    let out = sampler.sample(
        &template,
        &vec![sample_words / docs; docs],
        &SampleSettings::default(),
    );
    let written = out.stats().tokens;
    println!(
        "sample: {written} words in {:.2} s, {:.0} words/s",
        t.elapsed().as_secs_f64(),
        written as f64 / t.elapsed().as_secs_f64()
    );
    println!("peak memory overall: {} MiB", peak_memory_mib());
    Ok(())
}

/// Training and test sentences: a gutenberg-style folder (split.tsv) or one text file.
fn load(input: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let tsv = input.join("split.tsv");
    if !tsv.exists() {
        let text = source::read_text_file(input)?;
        return Ok((
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect(),
            Vec::new(),
        ));
    }
    let listing =
        std::fs::read_to_string(&tsv).with_context(|| format!("reading {}", tsv.display()))?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for row in listing.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 2 {
            continue;
        }
        let text = source::read_text_file(&input.join(f[0]))?;
        let sentences = sentences(&text);
        match f[1] {
            "train" => train.extend(sentences),
            "test" => test.extend(sentences),
            _ => {}
        }
    }
    Ok((train, test))
}

/// One sentence per line: paragraphs (blank-line separated) joined, then cut after `.`, `!`
/// or `?` (and closing quotes) when the next word starts with a capital or a quote.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let words: Vec<&str> = collapse_lab::tokenize::words(para).collect();
        let mut cur: Vec<&str> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            cur.push(w);
            let end = w
                .trim_end_matches(['"', '\'', ')', '’', '”', '_'])
                .ends_with(['.', '!', '?']);
            let next_starts = words
                .get(i + 1)
                .and_then(|n| n.chars().next())
                .is_some_and(|c| c.is_uppercase() || "\"'“‘(_".contains(c));
            if end && next_starts {
                out.push(cur.join(" "));
                cur.clear();
            }
        }
        if !cur.is_empty() {
            out.push(cur.join(" "));
        }
    }
    out
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!("collapse-lab-bench-{}.arpa", std::process::id()))
}

/// Resets the kernel's peak-RSS counter (Linux), so the next reading covers what follows.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory (VmHWM) in MiB, 0 where /proc is unavailable.
fn peak_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}
