//! Tests of `source.rs`, kept apart so the module itself stays short.
use super::*;

fn write(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    p
}

fn ids(l: &LoadedSource) -> Vec<&str> {
    let ids: Vec<&str> = l.corpus.docs.iter().map(|d| d.id.as_str()).collect();
    let unique: HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids in {ids:?}");
    ids
}

fn load_path_str(p: &Path) -> Result<LoadedSource> {
    load(p.to_str().unwrap())
}

#[test]
fn text_file_gives_one_document_per_paragraph() {
    let dir = tempfile::tempdir().unwrap();
    let bytes =
        "\u{feff}First para\r\n  wrapped here  \r\n\r\n\r\n \t\nSecond\n\n\u{a0}\nthird".as_bytes();
    let p = write(dir.path(), "book.txt", bytes);
    let l = load_path_str(&p).unwrap();
    assert_eq!(ids(&l), ["book.txt:1", "book.txt:2", "book.txt:3"]);
    assert_eq!(l.corpus.docs[0].text, "First para wrapped here");
    assert_eq!(l.corpus.docs[2].text, "third");
    assert_eq!(l.sha256.as_deref(), Some(sha256_hex(bytes).as_str()));
    assert_eq!(
        l.source,
        fs::canonicalize(&p).unwrap().display().to_string()
    );
    assert!(Path::new(&l.source).is_absolute());
}

#[test]
fn jsonl_ids_are_explicit_when_unique_and_fallback_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        r#"{"id": "a", "text": "  one two \r\n\n three  "}"#,
        "\n",
        "\n",
        r#"{"id": "dup", "text": "x"}"#,
        "\n",
        r#"{"id": "dup", "text": "y", "extra": 1}"#,
        "\n",
        r#"{"text": "no id"}"#,
        "\n",
        r#"{"id": 7, "text": "numeric id"}"#,
        "\n",
        r#"{"id": "d.jsonl:8", "text": "claims a fallback id"}"#,
        "\n",
        r#"{"id": null, "text": "null id"}"#,
        "\n",
        r#"{"id": "empty", "text": "  \n "}"#,
        "\n",
    );
    let l = load_path_str(&write(dir.path(), "d.jsonl", text.as_bytes())).unwrap();
    assert_eq!(
        ids(&l),
        [
            "a",
            "d.jsonl:3",
            "d.jsonl:4",
            "d.jsonl:5",
            "7",
            "d.jsonl:7",
            "d.jsonl:8"
        ]
    );
    assert_eq!(l.corpus.docs[0].text, "one two\nthree");
    assert_eq!(l.corpus.docs[2].text, "y");
    assert_eq!(
        l.sha256.as_deref(),
        Some(sha256_hex(text.as_bytes()).as_str())
    );
}

#[test]
fn bad_jsonl_lines_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    for (body, what) in [
        ("{\"text\": \"ok\"}\n[1, 2]", "line 2: invalid type"),
        (
            "{\"text\": \"ok\"}\n\n{\"id\": \"x\"}",
            "line 3: missing field `text`",
        ),
        ("{\"text\": 5}", "line 1: invalid type: integer `5`"),
        ("{\"text\": \"unclosed", "line 1: EOF"),
    ] {
        let p = write(dir.path(), "bad.jsonl", body.as_bytes());
        match load_path_str(&p) {
            Err(Error::BadJson { path, what: w }) => {
                assert_eq!(path, p);
                assert!(w.starts_with(what), "{w}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn folder_reads_every_visible_file_sorted_with_paragraphs_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("books");
    write(&root, "b.txt", b"beta one\nbeta two\n\nbeta para");
    write(&root, "a/z.md", b"zed");
    write(&root, "a/empty.txt", b" \n\n");
    write(&root, ".hidden", b"secret");
    write(&root, ".git/config", b"secret too");
    write(&root, "a/data.jsonl", b"{\"text\": \"kept as text\"}");
    let l = load_path_str(&root).unwrap();
    assert_eq!(ids(&l), ["a/data.jsonl", "a/z.md", "b.txt"]);
    assert_eq!(l.corpus.docs[2].text, "beta one beta two\nbeta para");
    assert_eq!(l.corpus.docs[0].text, "{\"text\": \"kept as text\"}");
    // The folder sha covers every visible file, the empty one included.
    let listing: String = [
        ("a/data.jsonl", &b"{\"text\": \"kept as text\"}"[..]),
        ("a/empty.txt", b" \n\n"),
        ("a/z.md", b"zed"),
        ("b.txt", b"beta one\nbeta two\n\nbeta para"),
    ]
    .iter()
    .map(|(r, b)| format!("{r}\t{}\n", sha256_hex(b)))
    .collect();
    assert_eq!(l.sha256.unwrap(), sha256_hex(listing.as_bytes()));
    // Renaming a file changes the folder's sha even though no byte changed.
    fs::rename(root.join("a/z.md"), root.join("a/y.md")).unwrap();
    assert_ne!(
        load_path_str(&root).unwrap().sha256.unwrap(),
        sha256_hex(listing.as_bytes())
    );
}

#[test]
fn bad_inputs_get_their_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    assert!(matches!(load_path_str(&missing), Err(Error::MissingPath { path }) if path == missing));

    let p = write(dir.path(), "latin1.txt", b"fine\nstill fine\ncaf\xe9\n");
    assert!(matches!(
        load_path_str(&p),
        Err(Error::NotUtf8 { line: 3, .. })
    ));

    let p = write(dir.path(), "nul.txt", b"text\0more");
    assert!(matches!(load_path_str(&p), Err(Error::Binary { .. })));
    // 2 control bytes in 11 is over 10%; 1 in 11 is not.
    let p = write(dir.path(), "ctl.txt", b"\x01\x02abcdefghi");
    assert!(matches!(load_path_str(&p), Err(Error::Binary { .. })));
    let p = write(dir.path(), "ok.txt", b"\x01abcdefghij");
    assert_eq!(
        load_path_str(&p).unwrap().corpus.docs[0].text,
        "\x01abcdefghij"
    );

    let folder = dir.path().join("mixed");
    write(&folder, "a.txt", b"words");
    let png = write(&folder, "b.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert!(matches!(load_path_str(&folder), Err(Error::Binary { path }) if path == png));

    let p = write(dir.path(), "blank.txt", b" \n\t\n");
    let spec = p.to_str().unwrap();
    assert!(matches!(load(spec), Err(Error::EmptyCorpus { source_name }) if source_name == spec));
    let empty = dir.path().join("empty-dir");
    fs::create_dir_all(empty.join(".hidden-only")).unwrap();
    assert!(matches!(
        load_path_str(&empty),
        Err(Error::EmptyCorpus { .. })
    ));
    let p = write(dir.path(), "empty.jsonl", b"{\"text\": \" \"}\n");
    assert!(matches!(load_path_str(&p), Err(Error::EmptyCorpus { .. })));
}

#[test]
fn embedded_and_hf_specs() {
    let l = load("embedded:erv").unwrap();
    assert_eq!(
        (l.source.as_str(), l.sha256.as_deref()),
        ("embedded:erv", None)
    );
    assert_eq!(ids(&l).len(), 1189);
    assert!(matches!(
        load("embedded:nope"),
        Err(Error::UnknownSource { .. })
    ));
    // Parsed before any network access.
    match load("hf:wikitext") {
        Err(e @ Error::Invalid { .. }) => {
            assert_eq!(e.to_string(), "`hf:wikitext` is not owner/name/config")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_of_sentences_gives_documents_of_fifty_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (1..=120)
        .map(|i| format!("sentence number {i} .\n"))
        .collect();
    let p = write(dir.path(), "lm.txt", text.as_bytes());
    let l = load_path_str(&p).unwrap();
    assert_eq!(ids(&l), ["lm.txt:1-50", "lm.txt:51-100", "lm.txt:101-120"]);
    assert_eq!(l.corpus.docs[0].lines().count(), 50);
    assert_eq!(
        l.corpus.docs[2].lines().next(),
        Some("sentence number 101 .")
    );
    assert!(
        l.source
            .ends_with("(one sentence per line, 50 lines a document)"),
        "{}",
        l.source
    );
    // Too few lines, or a blank line anywhere: paragraphs, as before.
    let short: String = (1..=60).map(|i| format!("line {i}\n")).collect();
    let p = write(dir.path(), "short.txt", short.as_bytes());
    assert_eq!(load_path_str(&p).unwrap().corpus.docs.len(), 1);
    let p = write(
        dir.path(),
        "prose.txt",
        format!("{text}\n{text}").as_bytes(),
    );
    assert_eq!(load_path_str(&p).unwrap().corpus.docs.len(), 2);
}
