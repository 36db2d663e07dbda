//! The parquet files of one dataset configuration, by official split.
//!
//! Why parquet and the file list: a Hub dataset is a git repository of files; its loading
//! script (if any) is Python we cannot run, but most datasets, and every dataset under the
//! `refs/convert/parquet` revision the Hub builds, store their splits as parquet files laid
//! out in one of a few ways. We pick the files from the repository's list by those layouts
//! and keep each split as its publishers made it: a held-out test set that every paper on the
//! dataset shares is worth more than one we would draw ourselves.
//!
//! Layouts, for configuration `C` and split `S` (`train`, `validation`, `test`), tried in
//! order; the first one with training files wins, for every split:
//! - `C/S-*.parquet` (Salesforce/wikitext: `wikitext-2-raw-v1/train-00000-of-00001.parquet`)
//! - `C/S/*.parquet` (the `refs/convert/parquet` revision: `C/train/0000.parquet`)
//! - `data/S-*.parquet`, only without a configuration (or `default`): single-config datasets.

use super::cache::RepoKind;
use super::client::{Listing, Session};
use super::{check_repo_id, check_revision, error, HubConfig, HubErrorKind};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// A dataset configuration at a revision: `Salesforce/wikitext/wikitext-2-raw-v1@main`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetRef {
    pub id: String,
    /// The configuration (subset); `default` when not given.
    pub config: String,
    pub revision: String,
}

/// Official split names, with the aliases some datasets use for validation.
pub const SPLITS: [(&str, &[&str]); 3] = [
    ("train", &["train"]),
    ("validation", &["validation", "valid", "dev"]),
    ("test", &["test"]),
];

impl std::str::FromStr for DatasetRef {
    type Err = Error;

    /// Parses `owner/name[/config][@revision]` (the part of `hf:...` after the prefix).
    fn from_str(s: &str) -> Result<DatasetRef> {
        let hint = "name a Hub dataset as hf:owner/name/config[@revision], \
                    e.g. hf:Salesforce/wikitext/wikitext-2-raw-v1";
        let (path, revision) = s.split_once('@').unwrap_or((s, "main"));
        let parts: Vec<&str> = path.split('/').collect();
        let (id, config) = match parts.as_slice() {
            [o, n] => (format!("{o}/{n}"), "default"),
            [o, n, c] => (format!("{o}/{n}"), *c),
            _ => {
                return Err(Error::invalid(
                    format!("`hf:{s}` is not owner/name/config"),
                    hint,
                ))
            }
        };
        check_repo_id(&id).map_err(|w| Error::invalid(w, hint))?;
        let config_ok = !config.is_empty()
            && !config.contains("..")
            && config
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !config_ok {
            return Err(Error::invalid(
                format!("`{config}` is not a valid dataset configuration"),
                hint,
            ));
        }
        check_revision(revision).map_err(|w| Error::invalid(format!("hf:{s}: {w}"), hint))?;
        Ok(DatasetRef {
            id,
            config: config.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl std::fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.id, self.config, self.revision)
    }
}

/// One parquet file of one split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitFile {
    /// `train`, `validation` or `test` (aliases mapped).
    pub split: String,
    /// Path inside the repository.
    pub repo_path: String,
    /// Path in the cache.
    pub path: PathBuf,
}

/// A dataset configuration's files, in split order (train, validation, test), each split's
/// files in name order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFiles {
    pub dataset: DatasetRef,
    pub commit: String,
    pub files: Vec<SplitFile>,
}

/// Fetches (or finds in the cache, offline) the parquet files of a dataset configuration.
pub fn fetch_dataset(cfg: &HubConfig, d: &DatasetRef) -> Result<DatasetFiles> {
    let session = Session::new(cfg, RepoKind::Dataset, &d.id, &d.revision)?;
    let listing = session.listing()?;
    let Some(chosen) = choose(&listing.files, &d.config) else {
        let pattern = format!("{}/train-*.parquet", d.config);
        if listing.from_cache {
            return Err(session.not_cached(&[&pattern]));
        }
        return Err(error(
            HubErrorKind::NotFound,
            format!("dataset {d} has no parquet files for configuration `{}` ({pattern} or {}/train/*.parquet)", d.config, d.config),
            configs_hint(&listing),
        ));
    };
    let names: Vec<&str> = chosen.iter().map(|(_, f)| f.as_str()).collect();
    let paths = session.fetch(&listing, &names)?;
    Ok(DatasetFiles {
        dataset: d.clone(),
        commit: listing
            .commit
            .clone()
            .expect("a listing with files has a commit"),
        files: chosen
            .into_iter()
            .zip(paths)
            .map(|((split, repo_path), path)| SplitFile {
                split: split.to_string(),
                repo_path,
                path,
            })
            .collect(),
    })
}

/// `(split, repository path)` of the first layout that has training files.
fn choose(files: &[String], config: &str) -> Option<Vec<(&'static str, String)>> {
    // Each layout says whether a repository path is a file of a split.
    type Layout<'c> = Box<dyn Fn(&str, &str) -> bool + 'c>;
    let mut layouts: Vec<Layout> = vec![
        Box::new(|f: &str, s: &str| in_folder(f, config).is_some_and(|n| shard_of(n, s))),
        Box::new(|f: &str, s: &str| {
            in_folder(f, config)
                .and_then(|r| r.strip_prefix(s))
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|n| !n.contains('/') && n.ends_with(".parquet"))
        }),
    ];
    if config == "default" {
        layouts.push(Box::new(|f: &str, s: &str| {
            in_folder(f, "data").is_some_and(|n| shard_of(n, s))
        }));
    }
    for matches in layouts {
        let mut out = Vec::new();
        for (split, aliases) in SPLITS {
            for f in files {
                if aliases.iter().any(|a| matches(f, a)) {
                    out.push((split, f.clone()));
                }
            }
        }
        // `files` is sorted, so each split's shards are in order.
        if out.iter().any(|(s, _)| *s == "train") {
            return Some(out);
        }
    }
    None
}

/// The rest of `f` after `folder/`.
fn in_folder<'f>(f: &'f str, folder: &str) -> Option<&'f str> {
    f.strip_prefix(folder)?.strip_prefix('/')
}

/// `S.parquet` or `S-<anything>.parquet`, directly in the folder.
fn shard_of(name: &str, split: &str) -> bool {
    !name.contains('/')
        && name.ends_with(".parquet")
        && name
            .strip_prefix(split)
            .is_some_and(|r| r == ".parquet" || r.starts_with('-'))
}

/// Which configurations the repository does have parquet files for, as a hint.
fn configs_hint(listing: &Listing) -> String {
    let mut configs: Vec<&str> = listing
        .files
        .iter()
        .filter(|f| f.ends_with(".parquet"))
        .filter_map(|f| f.split_once('/').map(|(c, _)| c))
        .collect();
    configs.dedup();
    if configs.is_empty() {
        "this revision has no parquet files; try @refs/convert/parquet, the Hub's parquet conversion".into()
    } else {
        format!(
            "configurations with parquet files here: {}",
            configs.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn parses_dataset_refs() {
        let d: DatasetRef = "Salesforce/wikitext/wikitext-2-raw-v1".parse().unwrap();
        assert_eq!(d.to_string(), "Salesforce/wikitext/wikitext-2-raw-v1@main");
        let d: DatasetRef = "a/b@refs/convert/parquet".parse().unwrap();
        assert_eq!(
            (d.config.as_str(), d.revision.as_str()),
            ("default", "refs/convert/parquet")
        );
        for bad in ["wikitext", "a/b/c/d", "a/b/..", "a/b/c@", "a/b/c d"] {
            assert!(
                matches!(bad.parse::<DatasetRef>(), Err(Error::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn picks_split_files_by_layout() {
        let wikitext = files(&[
            "README.md",
            "wikitext-103-raw-v1/train-00000-of-00002.parquet",
            "wikitext-2-raw-v1/train-00000-of-00001.parquet",
            "wikitext-2-raw-v1/validation-00000-of-00001.parquet",
            "wikitext-2-raw-v1/test-00000-of-00001.parquet",
            "wikitext-2-v1/train-00000-of-00001.parquet",
        ]);
        let got = choose(&wikitext, "wikitext-2-raw-v1").unwrap();
        let want = [
            ("train", "wikitext-2-raw-v1/train-00000-of-00001.parquet"),
            (
                "validation",
                "wikitext-2-raw-v1/validation-00000-of-00001.parquet",
            ),
            ("test", "wikitext-2-raw-v1/test-00000-of-00001.parquet"),
        ];
        assert_eq!(got, want.map(|(s, f)| (s, f.to_string())).to_vec());
        assert_eq!(choose(&wikitext, "wikitext-2").map(|v| v.len()), None);

        let converted = files(&[
            "c/train/0000.parquet",
            "c/train/0001.parquet",
            "c/dev/0000.parquet",
            "c/train-x/0.parquet",
        ]);
        let got = choose(&converted, "c").unwrap();
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            ["train", "train", "validation"]
        );

        let single = files(&[
            "data/train-00000-of-00002.parquet",
            "data/train-00001-of-00002.parquet",
            "data/test.parquet",
            "data/training-0.parquet",
        ]);
        assert_eq!(choose(&single, "default").unwrap().len(), 3);
        assert_eq!(
            choose(&single, "other"),
            None,
            "data/ only without a configuration"
        );
        let l = Listing {
            commit: None,
            files: wikitext,
            from_cache: false,
        };
        assert!(configs_hint(&l).contains("wikitext-103-raw-v1, wikitext-2-raw-v1, wikitext-2-v1"));
    }
}
