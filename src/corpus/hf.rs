//! Hub datasets as human corpora: `hf:<owner>/<name>/<config>[@revision]`.
//!
//! The parquet files of the configuration ([`crate::hub::dataset`]) are read for their `text`
//! column and become documents, train first, then validation, then test, with ids
//! `<split>:<n>`, so that [`super::split::split`] keeps the publishers' split instead of
//! drawing one (the held-out text every paper on wikitext reports on).
//!
//! Why documents are grouped: wikitext stores one row per line of an article (rows keep their
//! own `\n`; blank rows separate paragraphs), and a heading row ` = Title = ` (one `=` on each
//! side; ` = = Section = = ` is a section) starts the next article. A document per row would
//! let a model see half an article in training and the rest in test, and perplexity per
//! document would be per line. So when a dataset has such headings, rows are grouped into
//! articles, their text kept byte for byte; otherwise every row is a document.
//!
//! Why parquet's column reader and not arrow: one string column needs no columnar engine, and
//! arrow would add a few dozen crates.

use super::manifest::{DatasetFile, DatasetSource, SplitInfo};
use super::{Corpus, Document, LoadedSource, Split};
use crate::error::{Error, Result};
use crate::hub::{self, DatasetFiles, DatasetRef, HubConfig};
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// Loads `owner/name/config[@rev]` (the part after `hf:`) with the environment's Hub settings.
pub fn load(spec: &str) -> Result<LoadedSource> {
    load_with(&HubConfig::from_env(), spec)
}

/// [`load`] with an explicit Hub configuration.
pub fn load_with(cfg: &HubConfig, spec: &str) -> Result<LoadedSource> {
    let d: DatasetRef = spec.parse()?;
    let files = hub::fetch_dataset(cfg, &d)?;
    let mut rows_by_split: Vec<(String, Vec<String>)> = Vec::new();
    let mut provenance = Vec::with_capacity(files.files.len());
    for f in &files.files {
        let rows = read_text_column(&f.path, &f.repo_path)?;
        let sha256 = hub::client::sha256_file(&f.path).map_err(|e| Error::io(&f.path, e))?;
        let bytes = std::fs::metadata(&f.path)
            .map_err(|e| Error::io(&f.path, e))?
            .len();
        provenance.push(DatasetFile {
            path: f.repo_path.clone(),
            split: f.split.clone(),
            sha256,
            bytes,
            rows: rows.len() as u64,
        });
        match rows_by_split.last_mut() {
            Some((s, r)) if *s == f.split => r.extend(rows),
            _ => rows_by_split.push((f.split.clone(), rows)),
        }
    }
    let articles = rows_by_split
        .iter()
        .find(|(s, _)| s == "train")
        .is_some_and(|(_, rows)| (0..rows.len()).any(|i| title_at(rows, i)));
    let mut docs = Vec::new();
    for (split, rows) in &rows_by_split {
        docs.extend(documents(split, rows, articles));
    }
    let source = canonical(&files);
    let listing: String = provenance
        .iter()
        .map(|f| format!("{}\t{}\n", f.path, f.sha256))
        .collect();
    remember(&source, &files, provenance);
    Ok(LoadedSource {
        corpus: Corpus::new(docs),
        source,
        sha256: Some(crate::fsutil::sha256_hex(listing.as_bytes())),
    })
}

/// `hf:owner/name/config@<commit>`: the source string manifests record, pinned to the commit.
fn canonical(f: &DatasetFiles) -> String {
    format!("hf:{}/{}@{}", f.dataset.id, f.dataset.config, f.commit)
}

/// Whether row `i` starts an article: a title between blank rows (or the ends). Why the blank
/// rows: formulas in articles can look like titles (wikitext-2's test split has
/// ` = 1 rad / s and a nominal impedance k = ` inside "Constant k filter"); titles always
/// stand alone, so the rule finds its 60 articles, not 62.
fn title_at(rows: &[String], i: usize) -> bool {
    let blank = |j: usize| rows[j].trim().is_empty();
    is_title(&rows[i]) && (i == 0 || blank(i - 1)) && (i + 1 == rows.len() || blank(i + 1))
}

/// A wikitext article title: ` = Title = ` with exactly one `=` on each side.
fn is_title(row: &str) -> bool {
    let t = row.trim();
    t.len() > 4
        && t.starts_with("= ")
        && t.ends_with(" =")
        && !t[2..].starts_with('=')
        && !t[..t.len() - 2].ends_with('=')
}

/// One split's documents: articles (a title row and the rows up to the next title) or rows;
/// text kept as in the dataset, documents without words dropped.
fn documents(split: &str, rows: &[String], articles: bool) -> Vec<Document> {
    let mut texts: Vec<String> = Vec::new();
    if articles {
        let mut cur = String::new();
        for (i, r) in rows.iter().enumerate() {
            if title_at(rows, i) && !cur.is_empty() {
                texts.push(std::mem::take(&mut cur));
            }
            cur.push_str(r);
        }
        texts.push(cur);
    } else {
        texts = rows.to_vec();
    }
    texts
        .into_iter()
        .filter(|t| crate::tokenize::words(t).next().is_some())
        .enumerate()
        .map(|(i, t)| Document::new(format!("{split}:{}", i + 1), t))
        .collect()
}

/// The `text` column of a parquet file, one string per row (null rows are empty).
fn read_text_column(path: &Path, name: &str) -> Result<Vec<String>> {
    let bad = |what: String| {
        let hint = if what.contains("Disabled feature") {
            "its compression is not built in (collapse-lab reads snappy and uncompressed parquet); \
             try the revision @refs/convert/parquet"
                .to_string()
        } else {
            format!(
                "delete {} from the Hugging Face cache and rerun to download it again",
                path.display()
            )
        };
        Error::invalid(format!("{name}: cannot read parquet: {what}"), hint)
    };
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| bad(e.to_string()))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let Some(col) = (0..schema.num_columns()).find(|&i| schema.column(i).path().string() == "text")
    else {
        return Err(Error::invalid(
            format!("{name}: no `text` column"),
            "choose a dataset whose parquet files have a string column named text",
        ));
    };
    let descr = schema.column(col);
    if descr.max_rep_level() > 0 {
        return Err(Error::invalid(
            format!("{name}: `text` is a list, not a string"),
            "choose a dataset with one text per row",
        ));
    }
    let max_def = descr.max_def_level();
    let mut rows = Vec::with_capacity(reader.metadata().file_metadata().num_rows().max(0) as usize);
    let (mut defs, mut values) = (Vec::new(), Vec::new());
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(|e| bad(e.to_string()))?;
        let ColumnReader::ByteArrayColumnReader(mut col_reader) = group
            .get_column_reader(col)
            .map_err(|e| bad(e.to_string()))?
        else {
            return Err(Error::invalid(
                format!("{name}: `text` is not a string column"),
                "choose a dataset with a string text column",
            ));
        };
        loop {
            defs.clear();
            values.clear();
            let (records, _, _) = col_reader
                .read_records(8192, Some(&mut defs), None, &mut values)
                .map_err(|e| bad(e.to_string()))?;
            if records == 0 {
                break;
            }
            let mut next = values.iter();
            // A required column (max_def 0) has no levels: every row is present.
            for present in (0..records).map(|i| max_def == 0 || defs[i] == max_def) {
                let text = match present.then(|| next.next()).flatten() {
                    Some(v) => std::str::from_utf8(v.data())
                        .map_err(|_| bad(format!("row {} is not UTF-8", rows.len() + 1)))?
                        .to_string(),
                    None => String::new(),
                };
                rows.push(text);
            }
        }
    }
    Ok(rows)
}

/// The provenance of datasets loaded in this process, by canonical source. Why a registry:
/// the corpus and its source string travel separately from here to the manifest writer
/// (`load`, then `split`, then `write_split(source)`), and the file list with its sha256s
/// should not be recomputed there.
fn registry() -> &'static Mutex<HashMap<String, DatasetSource>> {
    static R: OnceLock<Mutex<HashMap<String, DatasetSource>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn remember(source: &str, f: &DatasetFiles, files: Vec<DatasetFile>) {
    let d = DatasetSource {
        repo: f.dataset.id.clone(),
        config: f.dataset.config.clone(),
        revision: f.dataset.revision.clone(),
        commit: f.commit.clone(),
        files,
    };
    registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(source.to_string(), d);
}

/// What a manifest of `split` (`train`, `valid`, `test`) of an `hf:` source records: the
/// dataset, its commit, and that split's files with their sha256.
pub fn provenance(source: &str, split: &str) -> Option<DatasetSource> {
    let mut d = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(source)?
        .clone();
    let official = if split == "valid" {
        "validation"
    } else {
        split
    };
    d.files.retain(|f| f.split == official);
    Some(d)
}

/// The publishers' split of a corpus [`load`] read: documents by the split in their id. The
/// fractions record what the split turned out to be.
pub fn official_split(corpus: &Corpus, seed: u64, source_name: &str) -> Result<Split> {
    let mut parts: [Vec<Document>; 3] = Default::default();
    for d in &corpus.docs {
        let i = match d.id.split_once(':').map(|(s, _)| s) {
            Some("train") => 0,
            Some("validation") => 1,
            Some("test") => 2,
            _ => {
                return Err(Error::invalid(
                    format!("{source_name}: document `{}` has no official split", d.id),
                    "load hf: corpora through collapse-lab's hf: source",
                ))
            }
        };
        parts[i].push(d.clone());
    }
    for (i, name) in [(0, "train"), (2, "test")] {
        if parts[i].is_empty() {
            return Err(Error::CorpusTooSmall {
                source_name: source_name.to_string(),
                what: format!("the dataset has no {name} split with text"),
            });
        }
    }
    let [train, valid, test] = parts.map(Corpus::new);
    let ids = |c: &Corpus| c.docs.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
    let n = corpus.len() as f64;
    let info = SplitInfo {
        seed,
        valid_frac: valid.len() as f64 / n,
        test_frac: test.len() as f64 / n,
        train_ids: ids(&train),
        valid_ids: ids(&valid),
        test_ids: ids(&test),
        official: true,
    };
    Ok(Split {
        train,
        valid,
        test,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_articles() {
        for t in [" = Valkyria Chronicles III = \n", "= A = B =", " = 2 = "] {
            assert!(is_title(t), "{t:?}");
        }
        for t in [
            " = = Gameplay = = \n",
            " = = = Deep = = = \n",
            "= =",
            " == x == ",
            "x = y =",
            "",
        ] {
            assert!(!is_title(t), "{t:?}");
        }
        let rows: Vec<String> = [
            "",
            " = One = \n",
            "",
            " First line . \n",
            " = = Sub = = \n",
            " more \n",
            " = k = \n",
            " x \n",
            "",
            " = Two = \n",
            "",
            " second \n",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let docs = documents("test", &rows, true);
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[0],
            Document::new(
                "test:1",
                " = One = \n First line . \n = = Sub = = \n more \n = k = \n x \n"
            ),
            "` = k = ` between text lines is a formula, not a title"
        );
        assert_eq!(docs[1], Document::new("test:2", " = Two = \n second \n"));
        let flat = documents("train", &rows, false);
        assert_eq!(flat.len(), 8);
        assert_eq!(flat[7].id, "train:8");
    }

    #[test]
    fn official_split_by_id() {
        let c = Corpus::new(vec![
            Document::new("train:1", "a"),
            Document::new("train:2", "b"),
            Document::new("validation:1", "c"),
            Document::new("test:1", "d"),
        ]);
        let s = official_split(&c, 3, "hf:x").unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (2, 1, 1));
        assert_eq!(
            (s.info.valid_frac, s.info.test_frac, s.info.official),
            (0.25, 0.25, true)
        );
        let no_test = Corpus::new(c.docs[..3].to_vec());
        assert!(matches!(
            official_split(&no_test, 3, "hf:x"),
            Err(Error::CorpusTooSmall { .. })
        ));
        let foreign = Corpus::new(vec![Document::new("x.txt:1", "a")]);
        assert!(matches!(
            official_split(&foreign, 3, "hf:x"),
            Err(Error::Invalid { .. })
        ));
    }
}
