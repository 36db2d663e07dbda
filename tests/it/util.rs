//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` beside the checkout (reference data of this workplace), if present.
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

/// `../shared`, or a panic that says these tests need it (they are `#[ignore]`d by default).
pub fn shared_or_panic() -> PathBuf {
    shared().expect("this test needs ../shared beside the checkout (run with --ignored only there)")
}

/// The `collapse-lab` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_collapse-lab");

/// `collapse-lab --quiet --workdir <workdir> <args>` as a command, not yet run.
pub fn cli_command(workdir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--quiet").arg("--workdir").arg(workdir).args(args);
    c
}

/// Runs `collapse-lab --quiet --workdir <workdir> <args>` to completion.
pub fn cli(workdir: &Path, args: &[&str]) -> Output {
    cli_command(workdir, args)
        .output()
        .unwrap_or_else(|e| panic!("running {BIN}: {e}"))
}

/// Runs the CLI and panics (showing stderr) unless it exits 0; returns stdout.
pub fn cli_ok(workdir: &Path, args: &[&str]) -> String {
    run_ok(&mut cli_command(workdir, args))
}

/// Runs a prepared command (the CLI with its own environment, or a Python script) and panics
/// (showing stderr) unless it exits 0; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{:?} {:?} failed ({:?}):\n{}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// A path as a `&str` argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A tiny deterministic generator (Knuth's MMIX LCG), so test corpora need no data files.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Lcg(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

const SUBJECTS: &[&str] = &[
    "the miller",
    "a quiet child",
    "the old sailor",
    "my neighbour",
    "the river",
    "a grey heron",
    "the baker's wife",
    "every traveller",
    "the tall clock",
    "a stranger",
    "the village choir",
    "our teacher",
    "the lighthouse keeper",
    "a small dog",
    "the north wind",
    "her brother",
];
const VERBS: &[&str] = &[
    "watched",
    "carried",
    "remembered",
    "painted",
    "followed",
    "mended",
    "praised",
    "feared",
    "counted",
    "borrowed",
    "opened",
    "forgot",
    "described",
    "sold",
    "found",
    "warmed",
];
const OBJECTS: &[&str] = &[
    "the broken lantern",
    "a basket of apples",
    "the long road",
    "seven letters",
    "the harbour",
    "an empty chair",
    "the morning bread",
    "a map of the hills",
    "the silver coins",
    "the garden gate",
    "a song about winter",
    "the last boat",
    "his careful notes",
    "the cold stones",
    "a red scarf",
];
const TAILS: &[&str] = &[
    "before the rain came",
    "after supper",
    "without a word",
    "in the evening light",
    "for the third time",
    "near the old mill",
    "while the bells rang",
    "as the tide turned",
    "with great care",
    "under the bridge",
    "at the edge of town",
    "because nobody else would",
];

/// One made-up sentence: subject, verb, object, sometimes a tail; capitalised, with a stop.
pub fn sentence(rng: &mut Lcg) -> String {
    let mut s = format!(
        "{} {} {}",
        rng.pick(SUBJECTS),
        rng.pick(VERBS),
        rng.pick(OBJECTS)
    );
    if rng.below(3) > 0 {
        s.push(' ');
        s.push_str(rng.pick(TAILS));
    }
    if rng.below(4) == 0 {
        s.push_str(", and ");
        s.push_str(rng.pick(SUBJECTS));
        s.push(' ');
        s.push_str(rng.pick(VERBS));
        s.push_str(" it");
    }
    s.push(['.', '.', '.', '!', '?'][rng.below(5)]);
    let mut c = s.chars();
    let first = c.next().expect("non-empty").to_uppercase();
    first.chain(c).collect()
}

/// Writes `files` text files under `dir` (created), each with `paragraphs` paragraphs of about
/// `words` words, wrapped at ~70 columns like prose; returns `dir`. Same arguments, same bytes.
pub fn write_corpus(
    dir: &Path,
    files: usize,
    paragraphs: usize,
    words: usize,
    seed: u64,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Lcg::new(seed);
    for f in 0..files {
        let mut text = String::new();
        for _ in 0..paragraphs {
            let mut para = String::new();
            while para.split_whitespace().count() < words {
                para.push_str(&sentence(&mut rng));
                para.push(' ');
            }
            let mut col = 0;
            for w in para.split_whitespace() {
                if col > 0 && col + w.len() > 70 {
                    text.push('\n');
                    col = 0;
                } else if col > 0 {
                    text.push(' ');
                    col += 1;
                }
                text.push_str(w);
                col += w.len();
            }
            text.push_str("\n\n");
        }
        std::fs::write(dir.join(format!("doc-{f:02}.txt")), text).unwrap();
    }
    dir.to_path_buf()
}

/// The small test corpus: 30 files (documents) of 4 paragraphs of ~50 words, ~6000 words.
pub fn small_corpus(dir: &Path) -> PathBuf {
    write_corpus(&dir.join("corpus"), 30, 4, 50, 1)
}

/// Every file under `root`'s corpora/, checkpoints/ and evals/ (relative path -> bytes),
/// without the `.lock` files, which hold no output.
pub fn output_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = ["corpora", "checkpoints", "evals"]
        .iter()
        .map(|d| root.join(d))
        .filter(|p| p.is_dir())
        .collect();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != ".lock") {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts two output trees hold the same files with the same bytes, naming the first difference.
pub fn assert_same_outputs(a: &Path, b: &Path) {
    let (fa, fb) = (output_files(a), output_files(b));
    let (ka, kb): (Vec<_>, Vec<_>) = (fa.keys().collect(), fb.keys().collect());
    assert_eq!(ka, kb, "different file lists");
    for (k, v) in &fa {
        assert!(v == &fb[k], "{} differs", k.display());
    }
}

/// Hex sha256, computed here (not with the crate's helper) to check the crate's manifests.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a JSON file the CLI wrote.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
