//! Whether `eval --model` was trained on the reference. The human samples that calibrate the
//! verdict are drawn from the reference; a model that has seen them scores them too well, and
//! every candidate then looks worse than human text. A chain's checkpoint
//! (`<workdir>/checkpoints/<exp>/gen-NN`) saw its chain's human training split
//! (`<workdir>/corpora/<exp>/human/train.jsonl`): we count the reference's lines found there.

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::layout::Layout;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

/// Lines shorter than this are left out: short lines ("And he said,") recur in any text.
const MIN_LINE_WORDS: usize = 6;
/// The share of the reference's lines a model may have trained on before it is refused.
const MAX_SHARED: f64 = 0.01;

/// Refuses a model whose chain trained on more than 1% of the reference's lines.
pub fn check(model_dir: &Path, reference: &Corpus, reference_name: &str) -> Result<()> {
    // `gen-01` from inside `checkpoints/<exp>/` names the same folder as the full path.
    let model_dir = &std::fs::canonicalize(model_dir).unwrap_or_else(|_| model_dir.into());
    let Some(train) = chain_training_split(model_dir) else {
        return Ok(()); // not a chain's checkpoint: its training data is unknown
    };
    let Ok(seen) = Corpus::read_jsonl(&train) else {
        return Ok(());
    };
    let seen: HashSet<u64> = long_lines(&seen).collect();
    let (mut total, mut shared) = (0usize, 0usize);
    for h in long_lines(reference) {
        total += 1;
        shared += usize::from(seen.contains(&h));
    }
    let frac = shared as f64 / total.max(1) as f64;
    if frac > MAX_SHARED {
        let test = train.with_file_name("test.jsonl");
        return Err(Error::invalid(
            format!(
                "the chain of the model {} trained on {:.0}% of the lines of the reference \
                 {reference_name} ({}): its human samples would be scored on training text",
                model_dir.display(),
                100.0 * frac,
                train.display()
            ),
            format!(
                "give the chain's held-out split as the reference (--reference {}), or drop --model",
                test.display()
            ),
        ));
    }
    Ok(())
}

/// `<workdir>/corpora/<exp>/human/train.jsonl` for `<workdir>/checkpoints/<exp>/gen-NN`.
fn chain_training_split(model_dir: &Path) -> Option<std::path::PathBuf> {
    let exp_dir = model_dir.parent()?;
    let checkpoints = exp_dir.parent()?;
    if checkpoints.file_name()? != "checkpoints" {
        return None;
    }
    let exp = exp_dir.file_name()?.to_str()?;
    let layout = Layout::new(checkpoints.parent()?, exp);
    let train = layout.human_dir().join("train.jsonl");
    train.is_file().then_some(train)
}

/// Hashes of the corpus's lines of at least [`MIN_LINE_WORDS`] words, whitespace-normalised.
fn long_lines(c: &Corpus) -> impl Iterator<Item = u64> + '_ {
    c.lines().filter_map(|l| {
        let words: Vec<&str> = crate::tokenize::words(l).collect();
        (words.len() >= MIN_LINE_WORDS).then(|| {
            let mut h = DefaultHasher::new();
            words.hash(&mut h);
            h.finish()
        })
    })
}
