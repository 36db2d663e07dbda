//! Byte-level BPE (GPT-2's tokenizer design), trained with the `tokenizers` crate.
//!
//! Why byte-level: every UTF-8 text encodes (the 256 byte symbols are always in the vocabulary),
//! there is no unknown token, and decoding gives back the exact input, so a generation's text
//! can be re-tokenized by the next generation without loss. The file format is Hugging Face's
//! `tokenizer.json`, so GPT-2's own tokenizer loads here and ours load in `transformers`.
//!
//! Trained tokenizers put `<|endoftext|>` (the document separator and end-of-text token) at
//! id 0, then the 256 byte symbols in byte-symbol order, then merges in the order learned.
//! GPT-2's own file has it at 50256: ask [`Bpe::eot`], never assume an id.
//!
//! Training is deterministic: `tokenizers` counts words in parallel and keeps them in randomly
//! seeded hash maps, but merges are chosen by (count, pair ids) with ties broken by the ids,
//! and the ids of the initial alphabet are assigned in sorted order, so the learned merges do
//! not depend on iteration order. `same_input_gives_identical_file` checks it.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::Path;
use std::str::FromStr;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder, TokenizerImpl};

/// The end-of-text token: separates documents in training data, ends a generated document.
pub const EOT: &str = "<|endoftext|>";

/// A byte-level BPE tokenizer with an `<|endoftext|>` token.
pub struct Bpe {
    tok: Tokenizer,
    eot: u32,
    /// What a document starts after: `eot` (GPT-2, OPT, SmolLM2), or a BOS of its own (`<s>` of
    /// Llama 2, `<|begin_of_text|>` of Llama 3).
    bos: u32,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpe")
            .field("vocab_size", &self.vocab_size())
            .field("eot", &self.eot)
            .finish()
    }
}

fn tok_err(what: impl std::fmt::Display) -> Error {
    Error::Tokenizer {
        what: what.to_string(),
    }
}

/// 256 byte symbols plus `<|endoftext|>`: the smallest vocabulary a byte-level BPE can have.
pub const MIN_VOCAB: usize = 257;

impl Bpe {
    /// Trains on `texts` (one document each) up to `vocab_size` tokens, counting the 256 byte
    /// symbols and `<|endoftext|>`. A pair must occur at least twice to be merged, so a small
    /// corpus may stop short of `vocab_size`: [`Bpe::vocab_size`] says what was reached.
    pub fn train(texts: &[&str], vocab_size: usize) -> Result<Bpe> {
        if vocab_size < MIN_VOCAB {
            return Err(Error::invalid(
                format!("vocabulary size {vocab_size} is below {MIN_VOCAB} (256 bytes + {EOT})"),
                format!("use a vocabulary size of at least {MIN_VOCAB}"),
            ));
        }
        let mut trainer = BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size)
            // A pair seen once is noise, not a unit worth a token (the `tokenizers` and GPT-2
            // practice); 2 keeps small corpora usable.
            .min_frequency(2)
            .special_tokens(vec![AddedToken::from(EOT, true)])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut imp = gpt2_pipeline(BPE::default())?;
        imp.train(&mut trainer, texts.iter())
            .map_err(|e| tok_err(format!("training failed: {e}")))?;
        Bpe::from_tokenizer(Tokenizer::from(imp), "trained tokenizer", EOT)
    }

    /// GPT-2's original files (OpenAI's `encoder.json` and `vocab.bpe`, which Hugging Face
    /// calls `vocab.json` and `merges.txt`), with GPT-2's settings.
    pub fn from_vocab_merges(vocab: &Path, merges: &Path) -> Result<Bpe> {
        Bpe::from_vocab_merges_with(vocab, merges, &[EOT], EOT)
    }

    /// Byte-level BPE files with other special tokens: `specials` are matched whole in text
    /// (and keep their ids when the vocabulary has them), `eot` ends documents. OPT's files
    /// have `<s>`, `<pad>`, `</s>`, `<unk>` at ids 0..3 and end documents with `</s>`.
    pub fn from_vocab_merges_with(
        vocab: &Path,
        merges: &Path,
        specials: &[&str],
        eot: &str,
    ) -> Result<Bpe> {
        for p in [vocab, merges] {
            if !p.exists() {
                return Err(Error::MissingPath { path: p.into() });
            }
        }
        let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
            .build()
            .map_err(|e| {
                Error::invalid(
                    format!(
                        "{} + {}: cannot read BPE files: {e}",
                        vocab.display(),
                        merges.display()
                    ),
                    "give a byte-level BPE vocab.json and merges.txt (GPT-2's or OPT's)",
                )
            })?;
        let mut imp = gpt2_pipeline(bpe)?;
        imp.add_special_tokens(specials.iter().map(|s| AddedToken::from(*s, true)))
            .map_err(tok_err)?;
        Bpe::from_tokenizer(Tokenizer::from(imp), &vocab.display().to_string(), eot)
    }

    fn from_tokenizer(tok: Tokenizer, origin: &str, eot: &str) -> Result<Bpe> {
        let eot = tok
            .token_to_id(eot)
            .ok_or_else(|| tok_err(format!("{origin}: has no {eot} token")))?;
        Ok(Bpe { tok, eot, bos: eot })
    }

    /// Reads a Hugging Face `tokenizer.json` (ours, or GPT-2's).
    pub fn load(path: &Path) -> Result<Bpe> {
        Bpe::load_with(path, EOT)
    }

    /// Reads a `tokenizer.json` whose end-of-text token is `eot` (OPT's: `</s>`). Its
    /// post-processor (OPT's adds `</s>` in front) is not applied: callers add what they need.
    pub fn load_with(path: &Path, eot: &str) -> Result<Bpe> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let tok = Tokenizer::from_str(&text)
            .map_err(|e| tok_err(format!("{}: not a tokenizer.json ({e})", path.display())))?;
        Bpe::from_tokenizer(tok, &path.display().to_string(), eot)
    }

    /// The `tokenizer.json` text (compact JSON; identical for identical training input).
    pub fn to_json(&self) -> Result<String> {
        self.tok.to_string(false).map_err(tok_err)
    }

    /// Writes `tokenizer.json` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, self.to_json()?.as_bytes())
    }

    /// Token ids of one text. A literal `<|endoftext|>` in the text becomes the EOT token.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .tok
            .encode_fast(text, false)
            .map_err(|e| tok_err(format!("cannot encode: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of many documents, in parallel, in input order.
    pub fn encode_docs(&self, docs: &[&str]) -> Result<Vec<Vec<u32>>> {
        docs.par_iter().map(|d| self.encode(d)).collect()
    }

    /// The text of token ids; `<|endoftext|>` decodes to its literal text. A sequence that
    /// ends inside a multi-byte character decodes that character as U+FFFD. Ids outside the
    /// vocabulary are skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tok
            .decode(ids, false)
            .map_err(|e| tok_err(format!("cannot decode: {e}")))
    }

    /// Reads any `tokenizer.json` (byte-level or SentencePiece-style BPE); its end-of-text
    /// and start tokens must then be given by id ([`Bpe::with_ids`]), as a model's
    /// `config.json` names them.
    pub fn load_any(path: &Path) -> Result<Bpe> {
        let tok = Tokenizer::from_file(path)
            .map_err(|e| tok_err(format!("{}: cannot read: {e}", path.display())))?;
        Ok(Bpe {
            tok,
            eot: u32::MAX,
            bos: u32::MAX,
        })
    }

    /// The end-of-text and start ids a model's config gives (`None` keeps the current one).
    pub fn with_ids(mut self, bos: Option<u32>, eos: Option<u32>) -> Result<Bpe> {
        let n = self.vocab_size() as u32;
        for (what, id) in [("bos_token_id", bos), ("eos_token_id", eos)] {
            if id.is_some_and(|i| i >= n) {
                return Err(tok_err(format!(
                    "{what} {} is past the tokenizer's {n} tokens",
                    id.unwrap_or(0)
                )));
            }
        }
        if let Some(e) = eos {
            self.eot = e;
        }
        if let Some(b) = bos {
            self.bos = b;
        }
        if self.eot == u32::MAX {
            return Err(tok_err(
                "the model names no end-of-text token (eos_token_id)",
            ));
        }
        if self.bos == u32::MAX {
            self.bos = self.eot;
        }
        Ok(self)
    }

    /// What a document starts after (the end-of-text token, or the model's own BOS).
    pub fn bos(&self) -> u32 {
        self.bos
    }

    /// The id of `<|endoftext|>`.
    pub fn eot(&self) -> u32 {
        self.eot
    }

    /// Tokens in the vocabulary, special tokens included (a model needs this many rows).
    pub fn vocab_size(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    /// Per token id: does its text start with a whitespace byte (space, tab, newline, CR,
    /// VT, FF, as [`crate::tokenize`] splits words)? GPT-2's splitting attaches one leading
    /// space to a word, so such tokens open a new word: counting them counts word boundaries
    /// without decoding. Approximate by design: a run of several whitespace characters can
    /// give more than one such token, and `<|endoftext|>` and a document's first word count
    /// as false.
    pub fn word_starts(&self) -> Vec<bool> {
        (0..self.vocab_size() as u32)
            .map(|id| {
                if id == self.eot {
                    return false;
                }
                // A single token may be part of a multi-byte character: decode's U+FFFD
                // replacement never starts with whitespace, and a leading ASCII byte survives.
                match self.tok.decode(&[id], false) {
                    Ok(s) => s
                        .as_bytes()
                        .first()
                        .is_some_and(|&b| crate::tokenize::is_kenlm_space(b)),
                    Err(_) => false,
                }
            })
            .collect()
    }
}

/// A byte-level BPE model in GPT-2's pipeline: no prefix space (a document's first word has
/// none), GPT-2's splitting regex, byte-level decoding; the post-processor only adjusts offsets.
fn gpt2_pipeline(
    model: BPE,
) -> Result<TokenizerImpl<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevelDecoder>> {
    TokenizerBuilder::new()
        .with_model(model)
        .with_normalizer(None)
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_post_processor(Some(ByteLevel::new(true, false, true)))
        .with_decoder(Some(ByteLevelDecoder::default()))
        .build()
        .map_err(tok_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &[&str] = &[
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void; and darkness was upon the face of the deep.",
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good: and God divided the light from the darkness.",
        "And God called the light Day, and the darkness he called Night.",
        "And the evening and the morning were the first day.",
    ];

    fn trained() -> Bpe {
        Bpe::train(DOCS, 320).unwrap()
    }

    #[test]
    fn eot_is_id_zero_and_vocab_is_bounded() {
        let bpe = trained();
        assert_eq!(bpe.eot(), 0);
        assert!(bpe.vocab_size() > MIN_VOCAB && bpe.vocab_size() <= 320);
        assert_eq!(bpe.encode(EOT).unwrap(), vec![0]);
        assert!(Bpe::train(DOCS, 100).is_err());
    }

    #[test]
    fn same_input_gives_identical_file() {
        // Enough text that many merges tie on count: ties are where order could leak in.
        let many: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "{} {i} {}",
                    DOCS[i % DOCS.len()],
                    DOCS[(i * 7) % DOCS.len()]
                )
            })
            .collect();
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        let a = Bpe::train(&refs, 600).unwrap().to_json().unwrap();
        for _ in 0..3 {
            assert_eq!(a, Bpe::train(&refs, 600).unwrap().to_json().unwrap());
        }
        let mut rev = refs.clone();
        rev.reverse();
        assert_eq!(a, Bpe::train(&rev, 600).unwrap().to_json().unwrap());
    }

    #[test]
    fn round_trip_is_exact_for_any_text() {
        let bpe = trained();
        for text in [
            "",
            "And God said",
            "  two  spaces,\ttab\r\nCRLF\n\n\nthree newlines   ",
            "Ünïcödé ñ — “quotes” 漢字テキスト 🦀🧪 e\u{301} \u{200d}\u{a0}nbsp",
            "mid<|endoftext|>doc",
        ] {
            let ids = bpe.encode(text).unwrap();
            assert_eq!(bpe.decode(&ids).unwrap(), text, "{ids:?}");
        }
        let docs = bpe.encode_docs(DOCS).unwrap();
        for (d, ids) in DOCS.iter().zip(&docs) {
            assert_eq!(&bpe.encode(d).unwrap(), ids);
        }
    }

    #[test]
    fn save_and_load_give_the_same_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        let bpe = trained();
        bpe.save(&p).unwrap();
        let back = Bpe::load(&p).unwrap();
        assert_eq!(back.to_json().unwrap(), bpe.to_json().unwrap());
        assert_eq!(back.encode(DOCS[1]).unwrap(), bpe.encode(DOCS[1]).unwrap());

        let missing = Bpe::load(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(missing, Error::MissingPath { .. }));
        std::fs::write(&p, "{not json").unwrap();
        let bad = Bpe::load(&p).unwrap_err().to_string();
        assert!(bad.contains("tokenizer.json"), "{bad}");
    }

    #[test]
    fn word_starts_mark_tokens_after_whitespace() {
        let bpe = trained();
        let starts = bpe.word_starts();
        assert_eq!(starts.len(), bpe.vocab_size());
        assert!(!starts[bpe.eot() as usize]);
        let text = "And the earth was\nwithout form";
        let ids = bpe.encode(text).unwrap();
        let counted = 1 + ids.iter().filter(|&&i| starts[i as usize]).count();
        assert_eq!(counted, crate::tokenize::count_words(text));
    }

    /// GPT-2's own files, from this workplace's `../shared` (not shipped with the crate).
    #[test]
    #[ignore]
    fn gpt2_files_encode_as_gpt2() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tokenizers/gpt2");
        let bpe =
            Bpe::from_vocab_merges(&dir.join("encoder.json"), &dir.join("vocab.bpe")).unwrap();
        assert_eq!((bpe.eot(), bpe.vocab_size()), (50256, 50257));
        // Ids from `transformers.GPT2TokenizerFast`.
        assert_eq!(
            bpe.encode("Hello world, it's 2024!").unwrap(),
            vec![15496, 995, 11, 340, 338, 48609, 0]
        );
    }
}
