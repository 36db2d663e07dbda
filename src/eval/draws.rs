//! Size-matched human samples held out from the reference: the monitor's baseline.

use crate::corpus::{Corpus, Document};
use crate::rng::Rng;
use crate::tokenize::count_words;

/// Splits `reference` into a held-out draw of about `tokens` words and the rest. The draw
/// takes whole documents in a seeded order while they fit, then the first lines of the one
/// that crosses the budget (at least one line), so it lands within one line of `tokens`; the
/// crossing document's other lines stay in the rest. Both keep the corpus order.
pub fn held_out(reference: &Corpus, tokens: usize, rng: &mut Rng) -> (Corpus, Corpus) {
    let mut order: Vec<usize> = (0..reference.docs.len()).collect();
    rng.shuffle(&mut order);
    // Per document: None = all in the rest, Some(None) = all drawn, Some(Some(k)) = k lines.
    let mut taken: Vec<Option<Option<usize>>> = vec![None; reference.docs.len()];
    let mut left = tokens;
    for i in order {
        if left == 0 {
            break;
        }
        let w = reference.docs[i].words();
        if w == 0 {
            continue;
        }
        if w <= left {
            taken[i] = Some(None);
            left -= w;
            continue;
        }
        let mut kept = 0;
        for line in reference.docs[i].lines() {
            let lw = count_words(line);
            if lw > left {
                break;
            }
            left -= lw;
            kept += 1;
        }
        taken[i] = Some(Some(kept.max(1)));
        break;
    }
    let (mut draw, mut rest) = (Vec::new(), Vec::new());
    for (d, t) in reference.docs.iter().zip(taken) {
        match t {
            None => rest.push(d.clone()),
            Some(None) => draw.push(d.clone()),
            Some(Some(k)) => {
                let lines: Vec<&str> = d.lines().collect();
                let k = k.min(lines.len());
                draw.push(Document::new(d.id.clone(), lines[..k].join("\n")));
                if k < lines.len() {
                    rest.push(Document::new(d.id.clone(), lines[k..].join("\n")));
                }
            }
        }
    }
    (Corpus::new(draw), Corpus::new(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        Corpus::new(
            (0..20)
                .map(|i| {
                    let lines: Vec<String> = (0..5).map(|l| format!("d{i} l{l} a b c")).collect();
                    Document::new(format!("d{i}"), lines.join("\n"))
                })
                .collect(),
        )
    }

    #[test]
    fn draws_are_disjoint_size_matched_and_seeded() {
        let c = corpus(); // 20 documents × 5 lines × 5 words = 500 words
        let (d, r) = held_out(&c, 137, &mut Rng::derive(1, "t", 0));
        let (dw, rw) = (d.stats().tokens, r.stats().tokens);
        assert_eq!(dw + rw, 500, "every line is in exactly one part");
        assert!((135..=140).contains(&dw), "{dw}"); // within one line (5 words) of 137
        let drawn: Vec<&str> = d.lines().collect();
        assert!(r.lines().all(|l| !drawn.contains(&l)));
        let again = held_out(&c, 137, &mut Rng::derive(1, "t", 0));
        assert_eq!(again.0, d);
        assert_ne!(held_out(&c, 137, &mut Rng::derive(1, "t", 1)).0, d);
    }

    #[test]
    fn a_single_long_document_is_cut_by_lines() {
        let c = Corpus::new(vec![Document::new("x", "a b\nc d\ne f\ng h")]);
        let (d, r) = held_out(&c, 3, &mut Rng::new(3));
        assert_eq!(d.docs[0].text, "a b");
        assert_eq!(r.docs[0].text, "c d\ne f\ng h");
        // A budget below one line still draws one line.
        let (d, _) = held_out(&c, 1, &mut Rng::new(3));
        assert_eq!(d.stats().tokens, 2);
    }
}
