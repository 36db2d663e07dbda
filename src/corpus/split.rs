//! The train/valid/test split of a human corpus, by document.
//!
//! Why by document and never inside one: a chapter's verses share names, phrases and topic; a
//! test set made of lines from training documents would measure memorisation, not modelling.
//!
//! Why a hash of `(seed, id)` and not a shuffle: a document's split depends only on the seed and
//! its own id, fixed by sha256 forever. Adding or removing other documents, reordering the
//! corpus, or a new version of this crate does not move it, so held-out text stays held out
//! across runs, and the recorded [`SplitInfo`] can always be checked against the corpus.

use super::manifest::SplitInfo;
pub use super::Split;
use super::{Corpus, Document};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// How many documents a fraction of `n` gives: rounded, but at least one when asked for any.
fn share(frac: f64, n: usize) -> usize {
    if frac > 0.0 {
        ((frac * n as f64).round() as usize).max(1)
    } else {
        0
    }
}

/// Splits `corpus` by document: documents are ordered by sha256(`"{seed}:{id}"`), the first
/// `round(test_frac * n)` go to test, the next `round(valid_frac * n)` to valid, the rest to
/// train; each split keeps the corpus order. `source_name` names the corpus in errors.
///
/// A Hub dataset (`source_name` starting with `hf:`) keeps its publishers' split instead
/// ([`super::hf::official_split`]), and the fractions are not used.
pub fn split(
    corpus: &Corpus,
    valid_frac: f64,
    test_frac: f64,
    seed: u64,
    source_name: &str,
) -> Result<Split> {
    if source_name.starts_with("hf:") {
        return super::hf::official_split(corpus, seed, source_name);
    }
    for (name, frac) in [("--valid-frac", valid_frac), ("--test-frac", test_frac)] {
        if !(0.0..1.0).contains(&frac) {
            return Err(Error::invalid(
                format!("{name} {frac} is not a fraction in [0, 1)"),
                format!("give {name} as a fraction such as 0.05"),
            ));
        }
    }
    if valid_frac + test_frac >= 1.0 {
        return Err(Error::invalid(
            format!(
                "--valid-frac {valid_frac} and --test-frac {test_frac} leave nothing to train on"
            ),
            "keep valid + test below 1, e.g. 0.05 and 0.05",
        ));
    }
    // Ids name documents in SplitInfo; a repeated id would make the record ambiguous.
    let mut seen = HashSet::with_capacity(corpus.len());
    if let Some(d) = corpus.docs.iter().find(|d| !seen.insert(d.id.as_str())) {
        return Err(Error::invalid(
            format!(
                "corpus {source_name} has two documents with the id `{}`",
                d.id
            ),
            "give every document a unique id",
        ));
    }

    let n = corpus.len();
    if n == 0 {
        return Err(Error::EmptyCorpus {
            source_name: source_name.to_string(),
        });
    }
    let n_test = share(test_frac, n);
    let n_valid = share(valid_frac, n);
    if n_test + n_valid >= n {
        // n_test + n_valid >= n >= 1, so at least one of them was asked for.
        let wanted = match (n_valid > 0, n_test > 0) {
            (true, true) => "train, valid and test",
            (true, false) => "train and valid",
            _ => "train and test",
        };
        let docs = if n == 1 { "document" } else { "documents" };
        return Err(Error::CorpusTooSmall {
            source_name: source_name.to_string(),
            what: format!("{n} {docs} cannot give {wanted} ({n_valid} valid + {n_test} test leave none to train on)"),
        });
    }

    let mut order: Vec<([u8; 32], usize)> = corpus
        .docs
        .iter()
        .enumerate()
        .map(|(i, d)| (Sha256::digest(format!("{seed}:{}", d.id)).into(), i))
        .collect();
    order.sort_unstable();
    // 0 = train, 1 = valid, 2 = test, by position in hash order.
    let mut part = vec![0u8; n];
    for (rank, &(_, i)) in order.iter().enumerate() {
        part[i] = if rank < n_test {
            2
        } else if rank < n_test + n_valid {
            1
        } else {
            0
        };
    }
    let pick = |p: u8| -> Vec<Document> {
        corpus
            .docs
            .iter()
            .zip(&part)
            .filter(|(_, &q)| q == p)
            .map(|(d, _)| d.clone())
            .collect()
    };
    let (train, valid, test) = (
        Corpus::new(pick(0)),
        Corpus::new(pick(1)),
        Corpus::new(pick(2)),
    );
    let ids = |c: &Corpus| c.docs.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
    let info = SplitInfo {
        seed,
        valid_frac,
        test_frac,
        train_ids: ids(&train),
        valid_ids: ids(&valid),
        test_ids: ids(&test),
        official: false,
    };
    Ok(Split {
        train,
        valid,
        test,
        info,
    })
}

/// Writes a split as `<dir>/{train,valid,test}.jsonl`, each with a `.manifest.json` beside it
/// (written after its corpus, so a manifest means a complete file). `source` is the
/// canonical source description recorded in the manifests.
pub fn write_split(dir: &std::path::Path, source: &str, seed: u64, sp: &Split) -> Result<()> {
    use super::manifest::{CorpusKind, Manifest};
    for (name, c) in [
        ("train", &sp.train),
        ("valid", &sp.valid),
        ("test", &sp.test),
    ] {
        let sha = c.write_jsonl(&dir.join(format!("{name}.jsonl")))?;
        let mut m = Manifest::new(CorpusKind::Human, source, sha, c.stats());
        m.seed = Some(seed);
        m.split = Some(sp.info.clone());
        m.dataset = super::hf::provenance(source, name);
        crate::fsutil::write_json(dir.join(format!("{name}.manifest.json")), &m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(n: usize) -> Corpus {
        Corpus::new(
            (0..n)
                .map(|i| Document::new(format!("doc{i}"), format!("words of document {i}")))
                .collect(),
        )
    }

    fn position(c: &Corpus, id: &str) -> usize {
        c.docs.iter().position(|d| d.id == id).unwrap()
    }

    #[test]
    fn sizes_partition_and_order() {
        let c = corpus(100);
        let s = split(&c, 0.1, 0.05, 7, "t").unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (85, 10, 5));
        let mut all: Vec<String> = [&s.info.train_ids, &s.info.valid_ids, &s.info.test_ids]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        all.sort();
        let mut want: Vec<String> = c.docs.iter().map(|d| d.id.clone()).collect();
        want.sort();
        assert_eq!(all, want, "every document in exactly one split");
        for part in [&s.train, &s.valid, &s.test] {
            let pos: Vec<usize> = part.docs.iter().map(|d| position(&c, &d.id)).collect();
            assert!(pos.windows(2).all(|w| w[0] < w[1]), "corpus order kept");
        }
        assert_eq!(
            s.info.train_ids,
            s.train
                .docs
                .iter()
                .map(|d| d.id.clone())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            (s.info.seed, s.info.valid_frac, s.info.test_frac),
            (7, 0.1, 0.05)
        );
        // Documents are copied whole.
        assert_eq!(s.test.docs[0], c.docs[position(&c, &s.test.docs[0].id)]);
    }

    #[test]
    fn deterministic_by_seed_and_id_only() {
        let c = corpus(50);
        let a = split(&c, 0.2, 0.2, 1, "t").unwrap();
        assert_eq!(a, split(&c, 0.2, 0.2, 1, "t").unwrap());
        let b = split(&c, 0.2, 0.2, 2, "t").unwrap();
        assert_ne!(a.info.test_ids, b.info.test_ids);
        // A document's split does not depend on the corpus order.
        let mut rev = c.clone();
        rev.docs.reverse();
        let r = split(&rev, 0.2, 0.2, 1, "t").unwrap();
        let mut t1 = a.info.test_ids.clone();
        let mut t2 = r.info.test_ids.clone();
        t1.sort();
        t2.sort();
        assert_eq!(t1, t2);
        // The spec, computed independently: the 10 smallest sha256("1:<id>") go to test.
        let mut keyed: Vec<(Vec<u8>, usize)> = (0..50)
            .map(|i| (Sha256::digest(format!("1:doc{i}")).to_vec(), i))
            .collect();
        keyed.sort();
        let mut want: Vec<usize> = keyed[..10].iter().map(|k| k.1).collect();
        want.sort();
        let want: Vec<String> = want.iter().map(|i| format!("doc{i}")).collect();
        assert_eq!(a.info.test_ids, want);
    }

    #[test]
    fn rounding_and_minimum_one() {
        let c = corpus(10);
        let s = split(&c, 0.01, 0.0, 3, "t").unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (9, 1, 0));
        let s = split(&c, 0.0, 0.0, 3, "t").unwrap();
        assert_eq!(s.train, c);
        let s = split(&c, 0.25, 0.25, 3, "t").unwrap();
        // round(2.5) = 3 (half away from zero).
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (4, 3, 3));
    }

    #[test]
    fn too_small_and_bad_fractions_are_errors() {
        match split(&corpus(2), 0.1, 0.1, 0, "tiny") {
            Err(Error::CorpusTooSmall { source_name, what }) => {
                assert_eq!(source_name, "tiny");
                let want = "2 documents cannot give train, valid and test (1 valid + 1 test leave none to train on)";
                assert_eq!(what, want);
            }
            other => panic!("{other:?}"),
        }
        assert!(split(&corpus(3), 0.1, 0.1, 0, "t").is_ok());
        assert!(matches!(
            split(&corpus(1), 0.0, 0.5, 0, "t"),
            Err(Error::CorpusTooSmall { .. })
        ));
        assert!(matches!(
            split(&corpus(0), 0.0, 0.0, 0, "t"),
            Err(Error::EmptyCorpus { .. })
        ));
        for (v, t) in [
            (-0.1, 0.1),
            (1.0, 0.0),
            (0.1, f64::NAN),
            (0.5, 0.5),
            (0.6, 0.6),
        ] {
            match split(&corpus(10), v, t, 0, "t") {
                Err(e @ Error::Invalid { .. }) => assert!(!e.hint().is_empty()),
                other => panic!("{v} {t}: {other:?}"),
            }
        }
        let mut dup = corpus(5);
        dup.docs[3].id = "doc1".into();
        let err = split(&dup, 0.2, 0.2, 0, "t").unwrap_err();
        assert_eq!(
            err.to_string(),
            "corpus t has two documents with the id `doc1`"
        );
    }
}
