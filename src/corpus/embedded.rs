//! The embedded human corpora: four public-domain English Bibles compiled into the binary.
//!
//! Why a Bible: a collapse experiment needs a human corpus that every user has, byte for byte,
//! without a download, a licence question or a network. The `bible-lib` crate ships four
//! public-domain translations as text files; compiled in, they are ~790k words each, large
//! enough for n-gram models to be interesting and small enough to train in seconds.
//!
//! Why one document per chapter: documents are the unit the train/valid/test split draws, and a
//! chapter is the smallest unit that reads as a whole text. A verse is one line, the unit an
//! n-gram model brackets with `<s>` and `</s>`.
//!
//! Why we parse the text ourselves: `bible-lib` 1.2.2's parser cuts every verse at the verse's
//! first `:` (`Genesis 1:3 And God said, Let there be light: and there was light.` keeps only
//! `And God said, Let there be light`). That loses the rest of 11,463 of KJV's 31,102 verses,
//! about 17% of the words (653k instead of 791k), and the crate offers no other way to its text.
//! So we use the crate only as the carrier of its `src/bible_translations/*.txt` files:
//! `build.rs` finds the unpacked package (via `cargo metadata`, else the cargo registry cache)
//! and `include_str!` compiles the files in; [`parse_verses`] reads them, splitting only at the
//! reference's colon. The text still arrives through the registry dependency (pinned `=1.2.2`,
//! whose layout `build.rs` knows), never copied into this repository. None of the crate's code is
//! called, so none of it is linked.
//!
//! Why our own book order: verses are parsed into `HashMap`s (iteration order differs from run
//! to run), and `bible-lib`'s own book list silently sends unknown names to the end. We
//! hard-code the 66-book canon, fail loudly on a book outside it, and sort chapters and verses
//! numerically, so a corpus is the same bytes on every run and machine.

use super::{Corpus, Document};
use crate::error::{Error, Result};
use std::collections::HashMap;

// The texts as the `bible-lib` package ships them; build.rs finds the package and sets
// COLLAPSE_LAB_BIBLE_DIR to its `src/bible_translations` folder.
const KJV: &str = include_str!(concat!(env!("COLLAPSE_LAB_BIBLE_DIR"), "/kjv.txt"));
const AKJV: &str = include_str!(concat!(env!("COLLAPSE_LAB_BIBLE_DIR"), "/akjv.txt"));
const ASV: &str = include_str!(concat!(env!("COLLAPSE_LAB_BIBLE_DIR"), "/asv.txt"));
const ERV: &str = include_str!(concat!(env!("COLLAPSE_LAB_BIBLE_DIR"), "/erv.txt"));

/// The embedded corpora, in the order `list` commands show them.
pub const NAMES: &[&str] = &["kjv", "akjv", "asv", "erv"];

/// Verses as [`parse_verses`] returns them (the shape `bible-lib` uses): book (lower case) ->
/// chapter -> verse -> text.
pub type Verses = HashMap<String, HashMap<u32, HashMap<u32, String>>>;

/// The 66-book Protestant canon, in canonical order; names as document ids show them.
#[rustfmt::skip]
const BOOKS: [&str; 66] = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
    "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
    "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
];

/// One line saying what an embedded corpus is; "unknown embedded corpus" for other names.
pub fn describe(name: &str) -> &'static str {
    match name {
        "kjv" => "King James Version (1611/1769), public domain",
        "akjv" => "American King James Version (1999), public domain",
        "asv" => "American Standard Version (1901), public domain",
        "erv" => "English Revised Version (1881-1895), public domain",
        _ => "unknown embedded corpus",
    }
}

/// Loads an embedded corpus by name (see [`NAMES`]): one document per chapter, in canonical
/// order, id `<name>/<Book>/<chapter>`, one verse per line.
pub fn load(name: &str) -> Result<Corpus> {
    let text = match name {
        "kjv" => KJV,
        "akjv" => AKJV,
        "asv" => ASV,
        "erv" => ERV,
        _ => {
            return Err(Error::UnknownSource {
                name: format!("embedded:{name}"),
            })
        }
    };
    let verses = parse_verses(text).map_err(|e| {
        Error::invalid(
            format!("embedded corpus {name} could not be read: {e}"),
            "this is a bug in the embedded data; use a corpus file instead",
        )
    })?;
    from_verses(name, &verses)
}

/// The canonical position and display name of a book, matched case-insensitively;
/// `Psalm` (the singular some translations use) is `Psalms`.
fn canonical_book(book: &str) -> Option<(usize, &'static str)> {
    let lower = book.trim().to_lowercase();
    let lower = if lower == "psalm" {
        "psalms".to_string()
    } else {
        lower
    };
    BOOKS
        .iter()
        .position(|b| b.to_lowercase() == lower)
        .map(|i| (i, BOOKS[i]))
}

/// Builds the corpus from a verse map: books in canonical order, chapters and verses ascending.
/// A book outside the canon is an error rather than being sorted somewhere arbitrary.
pub fn from_verses(name: &str, verses: &Verses) -> Result<Corpus> {
    let mut books = Vec::with_capacity(verses.len());
    for (book, chapters) in verses {
        let (pos, display) = canonical_book(book).ok_or_else(|| {
            Error::invalid(
                format!("corpus {name} has a book `{book}` outside the 66-book canon"),
                "name books as in the King James Version (e.g. `1 Samuel`, `Song of Solomon`)",
            )
        })?;
        books.push((pos, display, chapters));
    }
    books.sort_by_key(|b| b.0);
    if let Some(w) = books.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::invalid(
            format!("corpus {name} has the book {} twice", w[0].1),
            "spell each book one way only",
        ));
    }

    let mut docs = Vec::new();
    for (_, display, chapters) in books {
        let mut numbers: Vec<u32> = chapters.keys().copied().collect();
        numbers.sort_unstable();
        for chapter in numbers {
            let verses = &chapters[&chapter];
            let mut vnums: Vec<u32> = verses.keys().copied().collect();
            vnums.sort_unstable();
            let mut text = String::new();
            for v in vnums {
                let line = clean_verse(&verses[&v]);
                if line.is_empty() {
                    continue;
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&line);
            }
            if !text.is_empty() {
                docs.push(Document::new(format!("{name}/{display}/{chapter}"), text));
            }
        }
    }
    Ok(Corpus::new(docs))
}

/// Removes editorial markup from a verse: KJV's `[...]` around words the translators supplied
/// and `‹...›` around the words of Jesus. They are typography, not text: kept, `[was]` and `was`
/// would be two different words to a language model. An opening mark glued to the previous
/// word (ASV's `God.[Selah`) becomes a space so the two words stay apart.
fn clean_verse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '[' | '‹' => {
                if out.chars().next_back().is_some_and(|p| !p.is_whitespace()) {
                    out.push(' ');
                }
            }
            ']' | '›' => {}
            _ => out.push(c),
        }
    }
    out.trim().to_string()
}

/// Parses text in `bible-lib`'s format, one verse per line: `Book Chapter:Verse Text`.
/// Unlike `bible-lib` 1.2.2 it splits only at the reference's colon, so a verse keeps its own
/// colons. Blank lines and a leading byte-order mark are skipped; a malformed line is an error
/// naming its 1-based line number.
pub fn parse_verses(raw: &str) -> Result<Verses> {
    let raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let mut verses: Verses = HashMap::new();
    for (i, line) in raw.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            Error::invalid(
                format!("line {}: not a verse line: `{line}`", i + 1),
                "each line must be `Book Chapter:Verse Text`, e.g. `Genesis 1:1 In the beginning`",
            )
        };
        // The reference is the text up to the first space after the first colon.
        let (reference, text) = match line.find(':') {
            Some(colon) => match line[colon..].find(char::is_whitespace) {
                Some(sp) => (&line[..colon + sp], &line[colon + sp..]),
                None => (line, ""),
            },
            None => return Err(bad()),
        };
        let (book_chapter, verse) = reference.split_once(':').ok_or_else(bad)?;
        let (book, chapter) = book_chapter.trim().rsplit_once(' ').ok_or_else(bad)?;
        let chapter: u32 = chapter.parse().map_err(|_| bad())?;
        let verse: u32 = verse.parse().map_err(|_| bad())?;
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        verses
            .entry(book.trim().to_lowercase())
            .or_default()
            .entry(chapter)
            .or_default()
            .insert(verse, text);
    }
    Ok(verses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kjv_has_every_chapter_in_canonical_order() {
        let c = load("kjv").unwrap();
        assert_eq!(c.len(), 1189);
        assert_eq!(c.docs[0].id, "kjv/Genesis/1");
        assert_eq!(
            c.docs[0].text.lines().next().unwrap(),
            "In the beginning God created the heaven and the earth."
        );
        assert_eq!(c.docs[0].text.lines().count(), 31);
        assert_eq!(c.docs[1].id, "kjv/Genesis/2");
        assert_eq!(c.docs[49].id, "kjv/Genesis/50");
        assert_eq!(c.docs[50].id, "kjv/Exodus/1");
        assert_eq!(c.docs[1188].id, "kjv/Revelation/22");
        // Psalms 119 has 176 verses: numeric (not string) verse order puts verse 2 second.
        let ps = c.docs.iter().find(|d| d.id == "kjv/Psalms/119").unwrap();
        assert_eq!(ps.text.lines().count(), 176);
        assert!(ps
            .text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("Blessed are they that keep"));
        // Markup is gone: Genesis 1:4 reads "that [it was] good" in the source.
        let gen = &c.docs[0].text;
        assert!(!gen.contains('[') && !gen.contains(']'));
        assert!(gen.lines().nth(3).unwrap().contains("that it was good"));
    }

    #[test]
    fn kjv_verses_are_whole_and_the_word_count_is_pinned() {
        let c = load("kjv").unwrap();
        // Genesis 1:3 has a colon inside the verse; bible-lib's parser would keep only
        // "And God said, Let there be light".
        assert_eq!(
            c.docs[0].text.lines().nth(2).unwrap(),
            "And God said, Let there be light: and there was light."
        );
        assert_eq!(
            c.docs[0].text.lines().nth(15).unwrap(),
            "And God made two great lights; the greater light to rule the day, and the lesser \
             light to rule the night: he made the stars also."
        );
        // The last verse of the Bible, the last line of the last document.
        assert_eq!(
            c.docs[1188].text.lines().last().unwrap(),
            "The grace of our Lord Jesus Christ be with you all. Amen."
        );
        assert!(c
            .docs
            .iter()
            .all(|d| !d.text.contains('[') && !d.text.contains(']')));
        let words: usize = c.docs.iter().map(|d| d.words()).sum();
        // The full text: 790,693 KenLM words, measured, and equal to an independent count
        // (whitespace split of the shipped kjv.txt after the markup rule of `clean_verse`).
        // bible-lib's own parser gives 653,240 (cut at the first ':' of 11,463 verses).
        assert_eq!(words, 790_693);
        // 31,102 verses; kjv.txt has 31,103 lines because Genesis 1:17 appears twice, identically.
        assert_eq!(c.stats().lines, 31_102, "one line per verse");
    }

    #[test]
    fn every_translation_loads_whole_and_loading_is_deterministic() {
        // (name, verse lines, KenLM words), measured. ASV and ERV leave 16 verses empty
        // (Matthew 17:21, Mark 9:44 and the like, omitted from their Greek text): no line.
        let expected = [
            ("kjv", 31_102, 790_693),
            ("akjv", 31_102, 790_510),
            ("asv", 31_086, 784_597),
            ("erv", 31_086, 792_386),
        ];
        assert_eq!(expected.map(|e| e.0), NAMES);
        for (name, lines, words) in expected {
            let a = load(name).unwrap();
            assert_eq!(a.len(), 1189, "{name}");
            assert_eq!(a.docs[0].id, format!("{name}/Genesis/1"));
            assert_eq!(a.docs[1188].id, format!("{name}/Revelation/22"));
            assert!(a.docs.iter().any(|d| d.id == format!("{name}/Psalms/23")));
            assert_eq!(
                a.docs[0].text.lines().nth(2).unwrap(),
                "And God said, Let there be light: and there was light.",
                "{name}"
            );
            let stats = a.stats();
            assert_eq!((stats.lines, stats.tokens), (lines, words), "{name}");
            assert_ne!(describe(name), "unknown embedded corpus");
        }
        let a = load("asv").unwrap();
        let b = load("asv").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256(), b.sha256());
    }

    #[test]
    fn unknown_name_is_an_unknown_source() {
        match load("niv") {
            Err(Error::UnknownSource { name }) => assert_eq!(name, "embedded:niv"),
            other => panic!("{other:?}"),
        }
        assert_eq!(describe("niv"), "unknown embedded corpus");
        assert_eq!(
            describe("kjv"),
            "King James Version (1611/1769), public domain"
        );
    }

    #[test]
    fn from_verses_sorts_numerically_and_rejects_books_outside_the_canon() {
        let raw = "Genesis 2:1 Thus the heavens\nPsalm 1:10 ten\nPsalm 1:9 nine\nGenesis 1:2 b\n\
                   Genesis 1:1 a\nGenesis 10:1 x";
        let c = from_verses("t", &parse_verses(raw).unwrap()).unwrap();
        let ids: Vec<&str> = c.docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(
            ids,
            ["t/Genesis/1", "t/Genesis/2", "t/Genesis/10", "t/Psalms/1"]
        );
        assert_eq!(c.docs[0].text, "a\nb");
        assert_eq!(c.docs[3].text, "nine\nten");

        let err = from_verses("t", &parse_verses("Tobit 1:1 apocrypha").unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`tobit` outside the 66-book canon"),
            "{err}"
        );
        let dup = parse_verses("Psalm 1:1 a\nPsalms 2:1 b").unwrap();
        assert!(from_verses("t", &dup)
            .unwrap_err()
            .to_string()
            .contains("Psalms twice"));
    }

    #[test]
    fn parse_verses_keeps_colons_inside_the_verse() {
        let raw = "\u{feff}Genesis 1:3 And God said, Let there be light: and there was light.\r\n\
                   \r\n1 Samuel 3:10 Speak;  for thy servant heareth.\r\n";
        let v = parse_verses(raw).unwrap();
        assert_eq!(
            v["genesis"][&1][&3],
            "And God said, Let there be light: and there was light."
        );
        assert_eq!(v["1 samuel"][&3][&10], "Speak; for thy servant heareth.");
        for bad in [
            "no reference here",
            "Genesis x:1 text",
            "Genesis 1:y text",
            "1:1 text",
        ] {
            let err = parse_verses(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("line 1: not a verse line"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn clean_verse_removes_markup_without_gluing_words() {
        assert_eq!(clean_verse("that [it was] good:"), "that it was good:");
        assert_eq!(
            clean_verse("said, ‹Suffer› [it to be so]"),
            "said, Suffer it to be so"
        );
        assert_eq!(clean_verse("in God.[Selah "), "in God. Selah");
        assert_eq!(clean_verse("  [ ]  "), "");
    }
}
