//! `corpus info` and `corpus split`.

use anyhow::Result;
use collapse_lab::corpus::{source, split};
use collapse_lab::hash::FxHashSet;
use collapse_lab::layout::Layout;
use collapse_lab::spec;
use collapse_lab::tokenize;
use std::path::Path;

#[derive(clap::Subcommand, Debug)]
pub enum CorpusCommand {
    /// Sizes and provenance of a corpus source
    Info {
        /// embedded:kjv (or akjv, asv, erv), a text or JSONL file, a folder, or a Hub dataset
        /// hf:OWNER/NAME/CONFIG[@REV] (e.g. hf:Salesforce/wikitext/wikitext-2-raw-v1, its own splits)
        source: String,
    },
    /// Split a corpus by document into train/valid/test under corpora/<NAME>/human/
    Split {
        /// The corpus: embedded:kjv (or akjv, asv, erv), a text or JSONL file, a folder, or a
        /// Hub dataset hf:OWNER/NAME/CONFIG[@REV] (which keeps its official split)
        source: String,
        /// Name of the corpus directory under corpora/ (a chain of this name reads the split)
        #[arg(long)]
        name: String,
        /// Fraction of documents held out for validation
        #[arg(long, default_value_t = spec::DEFAULT_VALID_FRAC)]
        valid_frac: f64,
        /// Fraction of documents held out for test (every generation's perplexity)
        #[arg(long, default_value_t = spec::DEFAULT_TEST_FRAC)]
        test_frac: f64,
        /// Seed of the split: the same seed gives the same documents in each part
        #[arg(long, default_value_t = spec::DEFAULT_SEED)]
        seed: u64,
    },
}

pub fn run(c: CorpusCommand, workdir: &Path) -> Result<()> {
    match c {
        CorpusCommand::Info { source: spec } => {
            let loaded = source::load(&spec)?;
            let s = loaded.corpus.stats();
            let types: FxHashSet<&str> = loaded.corpus.lines().flat_map(tokenize::words).collect();
            println!("source     {}", loaded.source);
            if let Some(sha) = &loaded.sha256 {
                println!("sha256     {sha}");
            }
            println!("documents  {}", s.documents);
            println!("lines      {}", s.lines);
            println!("words      {}", s.tokens);
            println!("types      {}", types.len());
            println!("bytes      {}", s.bytes);
            Ok(())
        }
        CorpusCommand::Split {
            source: spec,
            name,
            valid_frac,
            test_frac,
            seed,
        } => {
            Layout::check_name(&name)?;
            let dir = Layout::new(workdir, &name).human_dir();
            if dir.join("test.manifest.json").exists() {
                // A chain named `name` reads this split at every resume; replacing it would
                // score its later generations on another test set.
                return Err(collapse_lab::Error::invalid(
                    format!("{} already holds a split (experiment `{name}` reads it)", dir.display()),
                    format!("choose another --name, or delete corpora/{name} (and that experiment's checkpoints/ and evals/) to start over"),
                )
                .into());
            }
            let loaded = source::load(&spec)?;
            let sp = split::split(&loaded.corpus, valid_frac, test_frac, seed, &spec)?;
            split::write_split(&dir, &loaded.source, seed, &sp)?;
            for (n, c) in [
                ("train", &sp.train),
                ("valid", &sp.valid),
                ("test", &sp.test),
            ] {
                let s = c.stats();
                println!(
                    "{n:<5}  {:>6} documents  {:>9} words  {}",
                    s.documents,
                    s.tokens,
                    dir.join(format!("{n}.jsonl")).display()
                );
            }
            Ok(())
        }
    }
}
