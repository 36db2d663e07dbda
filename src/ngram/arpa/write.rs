//! ARPA out: sections formatted in parallel by ranges of first words, written in order.

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::ngram::NgramModel;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// Writes `model` as ARPA to `path` (gzip when it ends in `.gz`), atomically.
pub fn write_arpa(model: &NgramModel, path: &Path) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    let io = |e| Error::io(path, e);
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(&mut file, flate2::Compression::fast());
        write_arpa_to(model, &mut gz).map_err(io)?;
        gz.finish().map_err(io)?;
    } else {
        write_arpa_to(model, &mut file).map_err(io)?;
    }
    file.commit()
}

/// Writes ARPA text to any writer.
pub fn write_arpa_to<W: Write>(model: &NgramModel, out: &mut W) -> std::io::Result<()> {
    writeln!(out, "\\data\\")?;
    for (n, t) in model.tables.iter().enumerate() {
        writeln!(out, "ngram {}={}", n + 1, t.len())?;
    }
    for n in 1..=model.order() {
        write!(out, "\n\\{n}-grams:\n")?;
        // Split the first words into chunks of about 64k lines of this order.
        let v = model.tables[0].len();
        let mut cuts = vec![0usize];
        let mut last = 0usize;
        for u in 1..=v {
            let d = descendant(model, n, u);
            if d - last >= 1 << 16 || u == v {
                cuts.push(u);
                last = d;
            }
        }
        for batch in cuts.windows(2).collect::<Vec<_>>().chunks(64) {
            let bufs: Vec<Vec<u8>> = batch
                .par_iter()
                .map(|w| {
                    let mut buf = Vec::with_capacity(1 << 20);
                    let mut prefix = Vec::with_capacity(n);
                    emit(model, n, 0, w[0]..w[1], &mut prefix, &mut buf);
                    buf
                })
                .collect();
            for b in bufs {
                out.write_all(&b)?;
            }
        }
    }
    writeln!(out, "\n\\end\\")
}

/// Index at order `n` of the first descendant of unigram `u` (or of the end when u = |V|).
fn descendant(model: &NgramModel, n: usize, u: usize) -> usize {
    let mut i = u;
    for t in &model.tables[..n - 1] {
        i = t.child_start[i] as usize;
    }
    i
}

fn emit(
    model: &NgramModel,
    n: usize,
    level: usize,
    range: std::ops::Range<usize>,
    prefix: &mut Vec<u32>,
    buf: &mut Vec<u8>,
) {
    let t = &model.tables[level];
    for i in range {
        prefix.push(t.words[i]);
        if level + 1 == n {
            let mut f = ryu::Buffer::new();
            push_float(buf, &mut f, t.log_prob[i]);
            for (k, &w) in prefix.iter().enumerate() {
                buf.push(if k == 0 { b'\t' } else { b' ' });
                buf.extend_from_slice(model.vocab.word(w).as_bytes());
            }
            if n < model.order() {
                buf.push(b'\t');
                push_float(buf, &mut f, t.log_backoff[i]);
            }
            buf.push(b'\n');
        } else {
            emit(model, n, level + 1, t.children(i), prefix, buf);
        }
        prefix.pop();
    }
}

fn push_float(buf: &mut Vec<u8>, f: &mut ryu::Buffer, v: f32) {
    if v == 0.0 {
        buf.push(b'0');
    } else {
        buf.extend_from_slice(f.format(v).as_bytes());
    }
}
