//! Writing a generation's corpus with a GPT, following the chain's [`SamplePlan`].
//!
//! - Unconditional: each template document is a word budget. Rows start from the end-of-text
//!   token and sample until the budget is met; when the model ends a document (end-of-text)
//!   before that, its text becomes a document and the row starts a new one (up to 8 rounds),
//!   so a generation writes as many words as the plan asks however the model splits them.
//! - `continue:K` (Shumailov et al.): each template document is cut into blocks of K tokens;
//!   every block prompts K new tokens (beam search when `num_beams > 1`), and only the new
//!   tokens are kept, one line per block. K is in model tokens here (words for n-grams).

use super::{self as generate, BeamConfig, SampleConfig};
use crate::corpus::{Corpus, Document};
use crate::error::Result;
use crate::lm::settings::GptSettings;
use crate::lm::tokenizer::Bpe;
use crate::lm::CausalLm;
use crate::rng::Rng;
use crate::sampling::Protocol;
use crate::sampling::SamplePlan;

/// Rounds a row may take to fill its budget (a model that only ever ends documents at once
/// would otherwise loop forever).
const MAX_ROUNDS: usize = 8;

pub fn sample_corpus(
    model: &impl CausalLm,
    tok: &Bpe,
    plan: &SamplePlan,
    s: &GptSettings,
) -> Result<Corpus> {
    let _autocast = crate::nn::precision::Autocast::new(s.precision);
    let mut rng = Rng::new(plan.settings.seed);
    let cfg = SampleConfig {
        temperature: plan.settings.temperature,
        top_k: s.top_k,
        top_p: s.top_p,
    };
    match plan.settings.protocol {
        Protocol::Unconditional => unconditional(model, tok, plan, s, &cfg, &mut rng),
        Protocol::Continue { prompt_words } => {
            continuations(model, tok, plan, s, &cfg, prompt_words.max(1), &mut rng)
        }
    }
}

fn unconditional(
    model: &impl CausalLm,
    tok: &Bpe,
    plan: &SamplePlan,
    s: &GptSettings,
    cfg: &SampleConfig,
    rng: &mut Rng,
) -> Result<Corpus> {
    let eot = tok.eot();
    let tokens_per_word = tokens_per_word(tok, &plan.template)?;
    let mut docs = Vec::new();
    let slots: Vec<usize> = plan.doc_words.clone();
    let bar = crate::progress::bar(slots.iter().sum::<usize>() as u64, "sampling", "words");
    for batch in slots.chunks(s.gen_batch.max(1)) {
        let mut remaining: Vec<usize> = batch.to_vec();
        for _ in 0..MAX_ROUNDS {
            let active: Vec<usize> = (0..batch.len()).filter(|&i| remaining[i] > 0).collect();
            if active.is_empty() {
                break;
            }
            let most = active.iter().map(|&i| remaining[i]).max().unwrap_or(0);
            let max_new = (most as f64 * tokens_per_word * 1.3).ceil() as usize + 8;
            let prompts = vec![vec![tok.bos()]; active.len()];
            let outs = generate::sample(model, &prompts, max_new, Some(eot), cfg, rng)?;
            // Every round's text is a document of its own: one sample from end-of-text to
            // end-of-text (or to the budget), never pieces of two samples stitched together.
            for (&i, out) in active.iter().zip(outs) {
                let new: Vec<u32> = out.into_iter().take_while(|&t| t != eot).collect();
                let text = printable(&tok.decode(&new)?);
                let (kept, words) = truncate_words(&text, remaining[i]);
                bar.inc(words as u64);
                remaining[i] -= words;
                let kept = kept.trim_start_matches(is_space);
                if !kept.is_empty() {
                    docs.push(Document::new("", kept));
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(Corpus::new(docs))
}

fn continuations(
    model: &impl CausalLm,
    tok: &Bpe,
    plan: &SamplePlan,
    s: &GptSettings,
    cfg: &SampleConfig,
    k: usize,
    rng: &mut Rng,
) -> Result<Corpus> {
    let eot = tok.eot();
    let texts: Vec<&str> = plan.template.docs.iter().map(|d| d.text.as_str()).collect();
    let ids = tok.encode_docs(&texts)?;
    // (doc, prompt) for every K-token block; a shorter last block keeps its own length. A
    // document's first block starts with the end-of-text token, as the document did in
    // training (GPT: after the previous one's; OPT: its `</s>` BOS).
    let mut prompts: Vec<(usize, Vec<u32>)> = ids
        .iter()
        .enumerate()
        .flat_map(|(d, t)| {
            t.chunks(k).enumerate().map(move |(i, c)| {
                let bos = (i == 0).then_some(tok.bos());
                (d, bos.into_iter().chain(c.iter().copied()).collect())
            })
        })
        .collect();
    let ctx = model.n_positions();
    for (_, p) in &mut prompts {
        if p.len() + k > ctx {
            p.drain(..p.len() + k - ctx); // keep room for the K new tokens
        }
    }
    let mut outs: Vec<Vec<u32>> = vec![Vec::new(); prompts.len()];
    let bar = crate::progress::bar(prompts.len() as u64, "continuing", "blocks");
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].1.len()));
    let mut i = 0;
    while i < order.len() {
        let len = prompts[order[i]].1.len();
        let per_batch = (s.gen_batch / s.num_beams.max(1)).max(1);
        let group: Vec<usize> = order[i..]
            .iter()
            .copied()
            .take_while(|&j| prompts[j].1.len() == len)
            .take(per_batch)
            .collect();
        let batch: Vec<Vec<u32>> = group.iter().map(|&j| prompts[j].1.clone()).collect();
        let new = if s.num_beams > 1 {
            // k rows per prompt: fewer prompts per batch keep the batch size near gen_batch.
            let beam = BeamConfig {
                num_beams: s.num_beams,
                max_new_tokens: k,
                length_penalty: 1.0,
                repetition_penalty: s.repetition_penalty,
                early_stopping: false,
                eos: Some(eot),
            };
            generate::beam_search_batch(model, &batch, &beam)?
        } else {
            generate::sample(model, &batch, k, Some(eot), cfg, rng)?
        };
        for (&j, o) in group.iter().zip(new) {
            outs[j] = o;
        }
        bar.inc(group.len() as u64);
        i += group.len();
    }
    bar.finish_and_clear();
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
    for ((d, _), out) in prompts.iter().zip(outs) {
        let new: Vec<u32> = out.into_iter().take_while(|&t| t != eot).collect();
        let text = printable(&tok.decode(&new)?);
        if !text.trim().is_empty() {
            lines[*d].push(text.trim().replace('\n', " "));
        }
    }
    Ok(Corpus::new(
        lines
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|l| Document::new("", l.join("\n")))
            .collect(),
    ))
}

/// Model tokens per word on the template (at least 1), to size a row's token budget.
fn tokens_per_word(tok: &Bpe, template: &Corpus) -> Result<f64> {
    let sample: Vec<&str> = template
        .docs
        .iter()
        .take(64)
        .map(|d| d.text.as_str())
        .collect();
    let words: usize = template.docs.iter().take(64).map(|d| d.words()).sum();
    let tokens: usize = tok.encode_docs(&sample)?.iter().map(Vec::len).sum();
    Ok((tokens as f64 / words.max(1) as f64).max(1.0))
}

/// The longest prefix of `text` with at most `n` words (whitespace-separated, as KenLM counts
/// them), without trailing whitespace; and how many words it has.
/// The text a generated document may hold: byte-level BPE can end a sample inside a UTF-8
/// sequence or write a byte token for a control character, which decode as U+FFFD and control
/// codes; those are dropped (line breaks and tabs kept), so a corpus is printable text that
/// every later stage reads the same way.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '\u{FFFD}' && (!c.is_control() || c == '\n' || c == '\t'))
        .collect()
}

pub fn truncate_words(text: &str, n: usize) -> (&str, usize) {
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let space = is_space(c);
        if !space && !in_word {
            if words == n {
                return (trim_kenlm_end(&text[..i]), words);
            }
            words += 1;
        }
        in_word = !space;
    }
    (trim_kenlm_end(text), words)
}

fn trim_kenlm_end(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// A KenLM word separator (the six ASCII whitespace bytes; not NBSP and other Unicode spaces).
fn is_space(c: char) -> bool {
    c.is_ascii() && crate::tokenize::is_kenlm_space(c as u8)
}

#[cfg(test)]
mod tests {
    use super::truncate_words;

    #[test]
    fn generated_text_is_printable() {
        assert_eq!(
            super::printable("a\u{FFFD}b\u{4}c\u{1d}\nd\te"),
            "abc\nd\te"
        );
    }

    #[test]
    fn truncation_counts_whitespace_words_and_keeps_lines() {
        assert_eq!(truncate_words("a b\nc  d", 3), ("a b\nc", 3));
        assert_eq!(truncate_words("  a b ", 5), ("  a b", 2));
        assert_eq!(truncate_words("one", 0), ("", 0));
    }
}
