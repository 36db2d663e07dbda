//! Word tokenization exactly as KenLM splits text.
//!
//! KenLM (`lmplz`, `query`) treats a line as a sentence and a token as a run of bytes outside
//! the six ASCII whitespace bytes space, \t, \n, \v, \f, \r. Nothing else separates tokens: a
//! no-break space (U+00A0) or an ideographic space stays inside a token. Our n-gram models and
//! every word-level metric use this one definition, so their numbers agree with KenLM's.

/// True for the bytes KenLM treats as token separators.
#[inline]
pub fn is_kenlm_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// The tokens of one line (or any text), KenLM style.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    // Splitting on ASCII bytes never cuts a UTF-8 sequence: continuation bytes are >= 0x80.
    text.split(|c: char| c.is_ascii() && is_kenlm_space(c as u8))
        .filter(|w| !w.is_empty())
}

/// Number of KenLM tokens in `text`.
pub fn count_words(text: &str) -> usize {
    words(text).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_ascii_whitespace_only() {
        let line = "a\tb  c\u{0B}d\u{0C}e\rf\u{00A0}g \u{3000}h";
        let got: Vec<&str> = words(line).collect();
        assert_eq!(
            got,
            vec!["a", "b", "c", "d", "e", "f\u{00A0}g", "\u{3000}h"]
        );
        assert_eq!(count_words("   "), 0);
        assert_eq!(count_words("one"), 1);
    }
}
