//! The vocabulary: words to dense ids, and text to id streams.
//!
//! Ids follow KenLM: `<unk>` = 0, `<s>` = 1, `</s>` = 2, then words in order of first
//! appearance, so our ARPA unigram section lists words in the order lmplz does.
//!
//! A chain fixes the vocabulary at generation 0 (the human training types, optionally pruned
//! by `--min-count`): later generations are built with [`Vocab::fixed`] so that every model
//! gives every human word a non-zero probability and perplexities stay comparable.

use crate::hash::FxHashMap;
use crate::tokenize;

pub const UNK: u32 = 0;
pub const BOS: u32 = 1;
pub const EOS: u32 = 2;
pub const UNK_WORD: &str = "<unk>";
pub const BOS_WORD: &str = "<s>";
pub const EOS_WORD: &str = "</s>";

#[derive(Clone, Debug, Default)]
pub struct Vocab {
    words: Vec<Box<str>>,
    ids: FxHashMap<Box<str>, u32>,
}

impl Vocab {
    /// A vocabulary holding only `<unk>`, `<s>`, `</s>`.
    pub fn new() -> Self {
        let mut v = Vocab::default();
        for w in [UNK_WORD, BOS_WORD, EOS_WORD] {
            v.insert(w);
        }
        v
    }

    /// The specials followed by `words` in the given order (duplicates and specials skipped).
    pub fn fixed<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v = Vocab::new();
        for w in words {
            v.insert(w);
        }
        v
    }

    /// Id of `word`, adding it if new.
    pub fn insert(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.ids.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.into());
        self.ids.insert(word.into(), id);
        id
    }

    pub fn get(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    /// Id of `word`, `<unk>` when absent.
    pub fn id_or_unk(&self, word: &str) -> u32 {
        self.get(word).unwrap_or(UNK)
    }

    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }

    /// Entries including `<unk>`, `<s>`, `</s>`.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The real words (no specials), in id order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words[3..].iter().map(|w| &**w)
    }
}

/// Sentences as one flat id stream: each sentence is `<s> w1 .. wk </s>`.
#[derive(Clone, Debug, Default)]
pub struct IdStream {
    pub ids: Vec<u32>,
    pub sentences: usize,
    /// Words (without `<s>`/`</s>`).
    pub words: usize,
    /// Words that became `<unk>` (not in a fixed vocabulary, or pruned by min-count).
    pub unknown: usize,
}

/// How the vocabulary of a build is decided.
#[derive(Clone, Debug)]
pub enum VocabPolicy {
    /// Every type in the text with at least `min_count` occurrences (1 = all); rarer ones
    /// become `<unk>`.
    FromText { min_count: u32 },
    /// A given vocabulary (a chain's generation-0 vocabulary); other words become `<unk>`.
    Fixed(Vocab),
}

/// Maps text lines to a vocabulary and an id stream. Blank lines are skipped, as KenLM does.
pub fn encode<'a>(
    lines: impl Iterator<Item = &'a str> + Clone,
    policy: &VocabPolicy,
) -> (Vocab, IdStream) {
    let mut vocab = match policy {
        VocabPolicy::Fixed(v) => v.clone(),
        VocabPolicy::FromText { min_count } if *min_count > 1 => {
            // First pass: counts in order of first appearance, then keep the frequent ones.
            let mut counts: FxHashMap<&str, (u32, u32)> = FxHashMap::default();
            let mut order = 0u32;
            for line in lines.clone() {
                for w in tokenize::words(line) {
                    let e = counts.entry(w).or_insert_with(|| {
                        order += 1;
                        (order, 0)
                    });
                    e.1 += 1;
                }
            }
            let mut kept: Vec<(u32, &str)> = counts
                .into_iter()
                .filter(|(_, (_, c))| *c >= *min_count)
                .map(|(w, (o, _))| (o, w))
                .collect();
            kept.sort_unstable();
            Vocab::fixed(kept.into_iter().map(|(_, w)| w))
        }
        VocabPolicy::FromText { .. } => Vocab::new(),
    };
    let grow = matches!(policy, VocabPolicy::FromText { min_count } if *min_count <= 1);
    let mut s = IdStream::default();
    for line in lines {
        let start = s.ids.len();
        s.ids.push(BOS);
        for w in tokenize::words(line) {
            let id = if grow {
                vocab.insert(w)
            } else {
                vocab.id_or_unk(w)
            };
            // A literal "<s>" or "</s>" in the text would corrupt sentence structure: KenLM
            // rejects it; we treat it as unknown.
            let id = if id == BOS || id == EOS { UNK } else { id };
            if id == UNK && w != UNK_WORD {
                s.unknown += 1;
            }
            s.ids.push(id);
            s.words += 1;
        }
        if s.ids.len() == start + 1 {
            s.ids.truncate(start);
            continue;
        }
        s.ids.push(EOS);
        s.sentences += 1;
    }
    (vocab, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_of_first_appearance() {
        let lines = ["b a b", "", "c a"];
        let (v, s) = encode(
            lines.iter().copied(),
            &VocabPolicy::FromText { min_count: 1 },
        );
        assert_eq!(v.len(), 6);
        assert_eq!(
            (v.get("b"), v.get("a"), v.get("c")),
            (Some(3), Some(4), Some(5))
        );
        assert_eq!(s.ids, vec![1, 3, 4, 3, 2, 1, 5, 4, 2]);
        assert_eq!((s.sentences, s.words, s.unknown), (2, 5, 0));
    }

    #[test]
    fn min_count_and_fixed_vocab_map_to_unk() {
        let lines = ["b a b", "c a"];
        let (v, s) = encode(
            lines.iter().copied(),
            &VocabPolicy::FromText { min_count: 2 },
        );
        assert_eq!(v.words().collect::<Vec<_>>(), vec!["b", "a"]);
        assert_eq!(s.ids, vec![1, 3, 4, 3, 2, 1, UNK, 4, 2]);
        assert_eq!(s.unknown, 1);

        let fixed = Vocab::fixed(["a", "z"]);
        let (v2, s2) = encode(["a q z"].iter().copied(), &VocabPolicy::Fixed(fixed));
        assert_eq!(v2.len(), 5);
        assert_eq!(s2.ids, vec![1, 3, UNK, 4, 2]);
    }
}
