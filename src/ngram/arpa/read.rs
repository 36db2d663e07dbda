//! ARPA in: header, sections parsed in parallel, trie rebuilt; every error names its line.

use crate::error::{Error, Result};
use crate::ngram::vocab::{Vocab, BOS_WORD, EOS_WORD};
use crate::ngram::{child_starts, ModelMeta, NgramModel, OrderTable, MAX_ORDER};
use rayon::prelude::*;
use std::io::Read;
use std::path::Path;

/// Reads an ARPA file (plain or gzip).
pub fn read_arpa(path: &Path) -> Result<NgramModel> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| bad(path, 0, format!("gzip: {e}")))?;
        raw = out;
    }
    let text = std::str::from_utf8(&raw).map_err(|e| {
        let line = raw[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Error::NotUtf8 {
            path: path.into(),
            line,
        }
    })?;
    parse_arpa(text, path)
}

fn bad(path: &Path, line: usize, what: impl Into<String>) -> Error {
    Error::BadArpa {
        path: path.into(),
        line,
        what: what.into(),
    }
}

/// Parses ARPA text; `path` is only used in error messages.
pub fn parse_arpa(text: &str, path: &Path) -> Result<NgramModel> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    // Header.
    let mut counts = Vec::new();
    let mut seen_data = false;
    let mut pos = 0usize; // byte offset after the header
    let mut first_section = None;
    for (no, l) in lines.by_ref() {
        if l.is_empty() {
            continue;
        }
        if !seen_data {
            if l != "\\data\\" {
                return Err(bad(path, no, "expected `\\data\\` at the start"));
            }
            seen_data = true;
            continue;
        }
        if let Some(rest) = l.strip_prefix("ngram ") {
            let (n, c) = rest
                .split_once('=')
                .ok_or_else(|| bad(path, no, "expected `ngram N=count`"))?;
            let (n, c): (usize, usize) = match (n.trim().parse(), c.trim().parse()) {
                (Ok(n), Ok(c)) => (n, c),
                _ => return Err(bad(path, no, "expected `ngram N=count`")),
            };
            if n != counts.len() + 1 {
                return Err(bad(
                    path,
                    no,
                    format!("ngram counts must list orders 1, 2, ... in turn (got {n})"),
                ));
            }
            counts.push(c);
            continue;
        }
        if l == "\\1-grams:" {
            first_section = Some(no);
            pos = line_offset(text, no);
            break;
        }
        return Err(bad(
            path,
            no,
            format!("unexpected line in the header: `{}`", clip(l)),
        ));
    }
    let first_section =
        first_section.ok_or_else(|| bad(path, 0, "no `\\1-grams:` section (truncated file?)"))?;
    if counts.is_empty() || counts.len() > MAX_ORDER {
        return Err(bad(
            path,
            first_section,
            format!("model order must be 1..={MAX_ORDER}"),
        ));
    }
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match counts.len() {
                $($n => parse_body::<$n>(text, pos, first_section, &counts, path),)*
                _ => unreachable!(),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8)
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Byte offset of the start of 1-based line `no + 1` (the line after `no`).
fn line_offset(text: &str, no: usize) -> usize {
    let mut off = 0;
    for _ in 0..no {
        off += text[off..]
            .find('\n')
            .map(|i| i + 1)
            .unwrap_or(text.len() - off);
    }
    off
}

struct Section<'a> {
    first_line: usize,
    body: &'a str,
}

fn parse_body<const N: usize>(
    text: &str,
    start: usize,
    header_line: usize,
    counts: &[usize],
    path: &Path,
) -> Result<NgramModel> {
    // Find the sections: `\n-grams:` headers in order, then `\end\`.
    let mut sections: Vec<Section> = Vec::new();
    let mut off = start;
    let mut line = header_line + 1;
    for n in 1..=N {
        let next_header = if n < N {
            format!("\\{}-grams:", n + 1)
        } else {
            "\\end\\".to_string()
        };
        let rest = &text[off..];
        let end = find_line(rest, &next_header).ok_or_else(|| {
            bad(
                path,
                0,
                format!("missing `{next_header}` (truncated file?)"),
            )
        })?;
        sections.push(Section {
            first_line: line,
            body: &rest[..end],
        });
        line += rest[..end].matches('\n').count() + 1;
        off += end + next_header.len();
        off += text[off..]
            .find('\n')
            .map(|i| i + 1)
            .unwrap_or(text.len() - off);
    }

    // Unigrams define the vocabulary (specials get ids 0..3, as our ids require).
    let uni = parse_unigrams(&sections[0], N, path)?;
    if uni.len() != counts[0] {
        let what = format!(
            "header says {} unigrams, section has {}",
            counts[0],
            uni.len()
        );
        return Err(bad(path, sections[0].first_line, what));
    }
    let mut vocab = Vocab::new();
    let mut seen = vec![false; 3];
    for &(no, w, _, _) in &uni {
        let id = vocab.insert(w) as usize;
        seen.resize(vocab.len(), false);
        if std::mem::replace(&mut seen[id], true) {
            return Err(bad(path, no, format!("unigram `{}` listed twice", clip(w))));
        }
    }
    for special in [BOS_WORD, EOS_WORD] {
        if !seen[vocab.get(special).expect("special") as usize] {
            return Err(bad(
                path,
                sections[0].first_line,
                format!("no unigram `{special}`"),
            ));
        }
    }
    let v = vocab.len();
    // KenLM substitutes p(<unk>) = 10^-100 when a model lacks it; so do we.
    let mut t1 = OrderTable {
        words: (0..v as u32).collect(),
        log_prob: vec![-100.0; v],
        log_backoff: vec![0.0; v],
        child_start: Vec::new(),
    };
    for &(_, w, p, b) in &uni {
        let id = vocab.get(w).expect("inserted above") as usize;
        t1.log_prob[id] = p;
        t1.log_backoff[id] = b;
    }
    let mut tables = vec![t1];
    let mut keys_prev: Vec<[u32; N]> = Vec::new();
    for n in 2..=N {
        let parsed = parse_ngrams::<N>(&sections[n - 1], n, &vocab, path)?;
        if parsed.len() != counts[n - 1] {
            return Err(bad(
                path,
                sections[n - 1].first_line,
                format!(
                    "header says {} {n}-grams, section has {}",
                    counts[n - 1],
                    parsed.len()
                ),
            ));
        }
        let mut entries = parsed;
        entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let prev_len = tables[n - 2].len();
        let mut pairs = Vec::with_capacity(entries.len());
        let mut j = 0usize;
        for (i, e) in entries.iter().enumerate() {
            if i > 0 && entries[i - 1].0 == e.0 {
                return Err(bad(path, e.3, format!("{n}-gram listed twice")));
            }
            let ctx = &e.0[..n - 1];
            let c = if n == 2 {
                ctx[0] as usize
            } else {
                while j < keys_prev.len() && keys_prev[j][..n - 1] < *ctx {
                    j += 1;
                }
                if j == keys_prev.len() || keys_prev[j][..n - 1] != *ctx {
                    return Err(bad(
                        path,
                        e.3,
                        format!(
                            "the context of this {n}-gram is not a {}-gram of the model",
                            n - 1
                        ),
                    ));
                }
                j
            };
            pairs.push((i, c));
        }
        tables[n - 2].child_start = child_starts(prev_len, entries.len(), pairs);
        let last = n == N;
        tables.push(OrderTable {
            words: entries.iter().map(|e| e.0[n - 1]).collect(),
            log_prob: entries.iter().map(|e| e.1).collect(),
            log_backoff: if last {
                Vec::new()
            } else {
                entries.iter().map(|e| e.2).collect()
            },
            child_start: Vec::new(),
        });
        keys_prev = if last {
            Vec::new()
        } else {
            entries.into_iter().map(|e| e.0).collect()
        };
    }
    let meta = ModelMeta {
        order: N,
        vocab_size: v,
        ngrams: tables.iter().map(|t| t.len()).collect(),
        ..Default::default()
    };
    Ok(NgramModel {
        vocab,
        tables,
        meta,
    })
}

/// Offset of a line equal to `header` in `s`.
fn find_line(s: &str, header: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(header) {
        let at = from + i;
        let line_start = at == 0 || s.as_bytes()[at - 1] == b'\n';
        let after = &s[at + header.len()..];
        if line_start
            && (after.is_empty()
                || after.starts_with('\n')
                || after.starts_with("\r\n")
                || after.trim_start_matches([' ', '\t']).starts_with('\n'))
        {
            return Some(at);
        }
        from = at + header.len();
    }
    None
}

/// Non-blank lines of a section with their 1-based line numbers.
fn section_lines<'a>(sec: &Section<'a>) -> Vec<(usize, &'a str)> {
    let first = sec.first_line;
    sec.body
        .lines()
        .enumerate()
        .map(|(i, l)| (first + i, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect()
}

/// Splits one n-gram line into (log10 p, words into `words`, backoff).
fn parse_fields<'a>(
    l: &'a str,
    words: &mut [&'a str],
    order: usize,
    no: usize,
    path: &Path,
) -> Result<(f32, f32)> {
    let n = words.len();
    let mut f = l.split_ascii_whitespace();
    let p: f32 = f.next().and_then(|x| x.parse().ok()).ok_or_else(|| {
        bad(
            path,
            no,
            format!("expected a log10 probability, got `{}`", clip(l)),
        )
    })?;
    for slot in words.iter_mut() {
        *slot = f
            .next()
            .ok_or_else(|| bad(path, no, format!("expected {n} words in a {n}-gram line")))?;
    }
    let b: f32 = match f.next() {
        Some(x) if n < order => x
            .parse()
            .map_err(|_| bad(path, no, format!("bad backoff `{}`", clip(x))))?,
        Some(_) => {
            return Err(bad(
                path,
                no,
                format!("too many fields for a {n}-gram line"),
            ))
        }
        None => 0.0,
    };
    if f.next().is_some() {
        return Err(bad(
            path,
            no,
            format!("too many fields for a {n}-gram line"),
        ));
    }
    if !p.is_finite() || p > 0.0 || !b.is_finite() {
        return Err(bad(
            path,
            no,
            format!("log10 probability {p} must be finite and <= 0"),
        ));
    }
    Ok((p, b))
}

fn parse_unigrams<'a>(
    sec: &Section<'a>,
    order: usize,
    path: &Path,
) -> Result<Vec<(usize, &'a str, f32, f32)>> {
    let mut out = Vec::new();
    for (no, l) in section_lines(sec) {
        let mut w = [""];
        let (p, b) = parse_fields(l, &mut w, order, no, path)?;
        out.push((no, w[0], p, b));
    }
    Ok(out)
}

/// Parses order-`n` lines in parallel into (forward key, log10 p, backoff, line number).
fn parse_ngrams<const N: usize>(
    sec: &Section,
    n: usize,
    vocab: &Vocab,
    path: &Path,
) -> Result<Vec<([u32; N], f32, f32, usize)>> {
    section_lines(sec)
        .into_par_iter()
        .map(|(no, l)| {
            let mut words = [""; N];
            let (p, b) = parse_fields(l, &mut words[..n], N, no, path)?;
            let mut k = [u32::MAX; N];
            for i in 0..n {
                k[i] = vocab.get(words[i]).ok_or_else(|| {
                    bad(
                        path,
                        no,
                        format!("word `{}` is not among the unigrams", clip(words[i])),
                    )
                })?;
            }
            Ok((k, p, b, no))
        })
        .collect()
}
