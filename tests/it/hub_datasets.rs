//! Hub datasets as corpora (`hf:owner/name/config`), against the fake Hub: the library with an
//! explicit [`HubConfig`], and the real CLI with `HF_ENDPOINT`/`HF_HOME` set on the child only.

use crate::fake_hub::{commit, sha256_hex, FakeHub};
use crate::util::{cli_command, run_ok};
use collapse_lab::corpus::manifest::Manifest;
use collapse_lab::corpus::{hf, split, Corpus};
use collapse_lab::hub::HubConfig;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

pub const CONFIG: &str = "wikitext-2-raw-v1";

/// A parquet file with one nullable string column `text`, snappy-compressed and dictionary
/// encoded (as pyarrow writes the Hub's files), `rows_per_group` rows per row group.
fn parquet(rows: &[Option<String>], rows_per_group: usize) -> Vec<u8> {
    let schema =
        Arc::new(parse_message_type("message schema { optional binary text (STRING); }").unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    for chunk in rows.chunks(rows_per_group) {
        let mut g = w.next_row_group().unwrap();
        let mut col = g.next_column().unwrap().unwrap();
        let defs: Vec<i16> = chunk.iter().map(|r| r.is_some() as i16).collect();
        let values: Vec<ByteArray> = chunk
            .iter()
            .flatten()
            .map(|s| ByteArray::from(s.as_str()))
            .collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, Some(&defs), None)
            .unwrap();
        col.close().unwrap();
        g.close().unwrap();
    }
    w.close().unwrap();
    out
}

/// wikitext-style rows: per article an empty row, ` = Title = \n`, an empty row, paragraphs
/// (each followed by an empty row) and a ` = = Section = = \n` heading.
fn wikitext_rows(split: &str, articles: usize) -> Vec<Option<String>> {
    let mut rows = Vec::new();
    for a in 0..articles {
        let para = |i: usize| {
            Some(format!(
                " The {split} article {a} says thing {i} , at @-@ length . \n"
            ))
        };
        rows.extend([
            Some(String::new()),
            Some(format!(" = {split} title {a} = \n")),
            Some(String::new()),
        ]);
        rows.extend([para(0), Some(String::new())]);
        rows.extend([
            Some(" = = History = = \n".to_string()),
            Some(String::new()),
            para(1),
            None,
        ]);
    }
    rows
}

/// Article `a` of [`wikitext_rows`]: its 9 rows concatenated (the empty rows around titles
/// add nothing, so where the cut falls among them does not matter).
fn article_text(rows: &[Option<String>], a: usize) -> String {
    rows[a * 9..(a + 1) * 9]
        .iter()
        .map(|r| r.clone().unwrap_or_default())
        .collect()
}

/// `test/wikitext` with two configurations, so choosing one is tested.
pub fn serve_wikitext(hub: &FakeHub, c: &str) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{CONFIG}/train-00000-of-00002.parquet"),
            parquet(&wikitext_rows("train", 6), 7),
        ),
        (
            format!("{CONFIG}/train-00001-of-00002.parquet"),
            parquet(&wikitext_rows("train", 4), 100),
        ),
        (
            format!("{CONFIG}/validation-00000-of-00001.parquet"),
            parquet(&wikitext_rows("validation", 2), 100),
        ),
        (
            format!("{CONFIG}/test-00000-of-00001.parquet"),
            parquet(&wikitext_rows("test", 3), 100),
        ),
        (
            "wikitext-103-raw-v1/train-00000-of-00001.parquet".into(),
            parquet(&wikitext_rows("other", 1), 100),
        ),
        ("README.md".into(), b"# wikitext\n".to_vec()),
    ];
    let borrowed: Vec<(&str, Vec<u8>)> =
        files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    hub.add("datasets", "test/wikitext", c, &borrowed);
    files
}

#[test]
fn wikitext_parquet_becomes_articles_with_the_official_split_and_provenance() {
    let hub = FakeHub::start();
    let c = commit("wt");
    let files = serve_wikitext(&hub, &c);
    let cache = tempfile::tempdir().unwrap();
    let cfg = HubConfig::new(&hub.url, cache.path());
    let spec = format!("test/wikitext/{CONFIG}");
    let loaded = hf::load_with(&cfg, &spec).unwrap();

    assert_eq!(loaded.source, format!("hf:test/wikitext/{CONFIG}@{c}"));
    let ids: Vec<&str> = loaded.corpus.docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), 10 + 2 + 3);
    assert_eq!(&ids[..2], ["train:1", "train:2"]);
    assert_eq!(ids[9], "train:10", "both training shards, in order");
    assert_eq!(
        &ids[10..],
        ["validation:1", "validation:2", "test:1", "test:2", "test:3"]
    );
    // Text kept byte for byte: an article is its rows concatenated (nulls as empty rows).
    let test_rows = wikitext_rows("test", 3);
    assert_eq!(loaded.corpus.docs[13].text, article_text(&test_rows, 1));
    assert!(loaded.corpus.docs[13]
        .text
        .starts_with(" = test title 1 = \n The test article 1 says thing 0 , at @-@ length . \n = = History = = \n"));
    assert_eq!(
        hub.body_gets("wikitext-103-raw-v1/train-00000-of-00001.parquet"),
        0
    );

    // The official split, whatever the fractions say.
    let source_name = format!("hf:{spec}");
    let sp = split::split(&loaded.corpus, 0.3, 0.3, 7, &source_name).unwrap();
    assert_eq!((sp.train.len(), sp.valid.len(), sp.test.len()), (10, 2, 3));
    assert!(sp.info.official);
    assert!(sp.test.docs.iter().all(|d| d.id.starts_with("test:")));

    // Manifests record the dataset, its commit and each split's files with their sha256.
    let out = tempfile::tempdir().unwrap();
    split::write_split(out.path(), &loaded.source, 7, &sp).unwrap();
    let m: Manifest =
        collapse_lab::fsutil::read_json(out.path().join("valid.manifest.json")).unwrap();
    assert_eq!(m.source, loaded.source);
    let d = m.dataset.expect("dataset provenance");
    assert_eq!(
        (
            d.repo.as_str(),
            d.config.as_str(),
            d.revision.as_str(),
            d.commit.as_str()
        ),
        ("test/wikitext", CONFIG, "main", c.as_str())
    );
    assert_eq!(d.files.len(), 1);
    assert_eq!(d.files[0].path, files[2].0);
    assert_eq!(d.files[0].sha256, sha256_hex(&files[2].1));
    assert_eq!(d.files[0].rows, wikitext_rows("validation", 2).len() as u64);
    let m: Manifest =
        collapse_lab::fsutil::read_json(out.path().join("train.manifest.json")).unwrap();
    assert_eq!(m.dataset.unwrap().files.len(), 2);
    assert_eq!(
        Corpus::read_jsonl(&out.path().join("test.jsonl")).unwrap(),
        sp.test
    );
}

#[test]
fn rows_without_titles_are_documents_and_other_layouts_are_found() {
    let hub = FakeHub::start();
    let rows = |p: &str, n: usize| -> Vec<Option<String>> {
        (0..n)
            .map(|i| Some(format!("{p} story {i} .\nIt ends .")))
            .chain([Some(String::new()), None])
            .collect()
    };
    hub.add(
        "datasets",
        "test/stories",
        &commit("st"),
        &[
            (
                "data/train-00000-of-00001.parquet",
                parquet(&rows("train", 5), 100),
            ),
            (
                "data/test-00000-of-00001.parquet",
                parquet(&rows("test", 2), 100),
            ),
        ],
    );
    let cache = tempfile::tempdir().unwrap();
    let cfg = HubConfig::new(&hub.url, cache.path());
    let l = hf::load_with(&cfg, "test/stories").unwrap();
    assert_eq!(l.corpus.len(), 7, "empty and null rows dropped");
    assert_eq!(l.corpus.docs[0].text, "train story 0 .\nIt ends .");
    let sp = split::split(&l.corpus, 0.05, 0.05, 1, "hf:test/stories").unwrap();
    assert_eq!((sp.train.len(), sp.valid.len(), sp.test.len()), (5, 0, 2));

    let err = hf::load_with(&cfg, "test/stories/nope").unwrap_err();
    let line = format!("{err} (hint: {})", err.hint());
    assert!(
        line.contains("has no parquet files for configuration `nope`")
            && line.contains("configurations with parquet files here: data"),
        "{line}"
    );
}

pub fn env_cli(
    hub_url: &str,
    home: &std::path::Path,
    workdir: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut c = cli_command(workdir, args);
    for k in [
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
    ] {
        c.env_remove(k);
    }
    c.env("HF_ENDPOINT", hub_url).env("HF_HOME", home);
    c
}

#[test]
fn cli_corpus_info_and_split_use_the_hub() {
    let hub = FakeHub::start();
    let c = commit("cli");
    serve_wikitext(&hub, &c);
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = format!("hf:test/wikitext/{CONFIG}");

    let stdout = run_ok(&mut env_cli(
        &hub.url,
        home.path(),
        work.path(),
        &["corpus", "info", &src],
    ));
    assert!(
        stdout.contains(&format!("source     hf:test/wikitext/{CONFIG}@{c}")),
        "{stdout}"
    );
    assert!(stdout.contains("documents  15"), "{stdout}");
    assert!(home
        .path()
        .join("hub/datasets--test--wikitext/refs/main")
        .is_file());

    // Offline, against a dead endpoint: the cache alone.
    let mut offline = env_cli(
        "http://127.0.0.1:9",
        home.path(),
        work.path(),
        &["corpus", "split", &src, "--name", "wt"],
    );
    let stdout = run_ok(offline.env("HF_HUB_OFFLINE", "1"));
    assert!(
        stdout.contains("train      10 documents") && stdout.contains("test        3 documents"),
        "{stdout}"
    );
    let m: Manifest =
        collapse_lab::fsutil::read_json(work.path().join("corpora/wt/human/test.manifest.json"))
            .unwrap();
    assert_eq!(m.dataset.unwrap().commit, c);
    assert!(m.split.unwrap().official);

    // Errors are one line with a hint, exit code 2.
    let out = env_cli(
        &hub.url,
        home.path(),
        work.path(),
        &["corpus", "info", "hf:test/nope/x"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let want = format!("error: dataset test/nope@main: repository or file not found on {} (hint: check the name, or set HF_TOKEN for gated/private repos)\n", hub.url);
    assert_eq!(err, want);
    let empty = tempfile::tempdir().unwrap();
    let out = env_cli(
        &hub.url,
        empty.path(),
        work.path(),
        &["corpus", "info", &src],
    )
    .env("HF_HUB_OFFLINE", "1")
    .output()
    .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with(&format!("error: offline: {CONFIG}/train-*.parquet of dataset test/wikitext@main is not in the Hugging Face cache")), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// The real wikitext-2-raw test split (`../shared`, its lines as the Hub's rows: blank lines
/// are empty rows) through parquet and the fake Hub: 60 articles, text kept byte for byte.
#[test]
#[ignore = "needs ../shared"]
fn real_wikitext_test_split_gives_its_60_articles() {
    let path = crate::util::shared_or_panic().join("corpora/wikitext-2-raw/test.txt");
    let raw = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Option<String>> = raw
        .split_inclusive('\n')
        .map(|l| {
            Some(if l.trim().is_empty() {
                String::new()
            } else {
                l.to_string()
            })
        })
        .collect();
    assert_eq!(rows.len(), 4358);
    let hub = FakeHub::start();
    let file = parquet(&rows, 1000);
    hub.add(
        "datasets",
        "test/wikitext",
        &commit("real"),
        &[
            (
                &format!("{CONFIG}/train-00000-of-00001.parquet") as &str,
                file.clone(),
            ),
            (
                &format!("{CONFIG}/test-00000-of-00001.parquet") as &str,
                file,
            ),
        ],
    );
    let cache = tempfile::tempdir().unwrap();
    let cfg = HubConfig::new(&hub.url, cache.path());
    let l = hf::load_with(&cfg, &format!("test/wikitext/{CONFIG}")).unwrap();
    let test: Vec<_> = l
        .corpus
        .docs
        .iter()
        .filter(|d| d.id.starts_with("test:"))
        .collect();
    assert_eq!(test.len(), 60);
    assert!(test[0]
        .text
        .starts_with(" = Robert Boulter = \n Robert Boulter is an English film"));
    assert!(test[59].text.starts_with(" = The Hustler ( film ) = \n"));
    let joined: String = test.iter().map(|d| d.text.as_str()).collect();
    let want: String = rows.iter().flatten().map(String::as_str).collect();
    assert_eq!(joined, want);
}

/// A chain on a Hub dataset: trains on the official train split, evaluates on its test split.
#[test]
fn cli_chain_runs_on_a_hub_dataset() {
    let hub = FakeHub::start();
    serve_wikitext(&hub, &commit("chain"));
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = format!("hf:test/wikitext/{CONFIG}");
    let args = [
        "chain",
        "--experiment",
        "wt",
        "--corpus",
        &src,
        "--model",
        "ngram:2",
    ];
    let args = [
        &args[..],
        &["--generations", "2", "--policy", "replace", "--seed", "7"],
    ]
    .concat();
    run_ok(&mut env_cli(&hub.url, home.path(), work.path(), &args));
    let test = Corpus::read_jsonl(&work.path().join("corpora/wt/human/test.jsonl")).unwrap();
    let ids: Vec<&str> = test.docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["test:1", "test:2", "test:3"]);
    let csv = std::fs::read_to_string(work.path().join("evals/wt/metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "a header and two generations");
}
