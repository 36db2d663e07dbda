//! The side-by-side table of arms that `compare` prints and `report` summarises: one row per
//! generation, the chosen `metrics.csv` columns per arm. An arm run with several seeds
//! (chains `<arm>-s<seed>`) is one group: its cells are `mean ± half-width` of a 95% interval
//! over the seeds ([`super::stats`]), and [`paired_differences`] compares two arms seed by seed.

use super::metrics_csv::ArmTable;
use super::stats::{interval, paired_difference, Interval};

/// The columns `compare` puts side by side, with short headers.
pub const COMPARE_COLUMNS: &[(&str, &str)] = &[
    ("test_ppl", "ppl"),
    ("model_vocab", "vocab"),
    ("test_oov_rate", "oov"),
    ("rare_types_lost", "rare_lost"),
];

/// The chains of one arm, one per seed (a single chain for a one-seed arm).
#[derive(Clone, Debug)]
pub struct ArmGroup {
    /// The chains' name without `-s<seed>`.
    pub stem: String,
    pub chains: Vec<ArmTable>,
}

impl ArmGroup {
    /// The values of `column` in generation `g` with their seeds, for chains that have them.
    pub fn values(&self, g: usize, column: &str) -> Vec<(Option<u64>, f64)> {
        self.chains
            .iter()
            .filter_map(|c| Some((c.seed, c.get(g, column)?.parse::<f64>().ok()?)))
            .collect()
    }

    /// Mean and 95% interval of `column` in generation `g` over the seeds.
    pub fn interval(&self, g: usize, column: &str) -> Interval {
        let v: Vec<f64> = self.values(g, column).into_iter().map(|(_, x)| x).collect();
        interval(&v)
    }

    pub fn generations(&self) -> usize {
        self.chains.iter().map(|c| c.rows.len()).max().unwrap_or(0)
    }
}

/// `name` as (stem, seed) when it ends in `-s<digits>`.
pub(crate) fn seed_suffix(name: &str) -> Option<(&str, u64)> {
    let (stem, seed) = name.rsplit_once("-s")?;
    let ok = !stem.is_empty() && !seed.is_empty() && seed.bytes().all(|b| b.is_ascii_digit());
    Some((stem, seed.parse().ok()?)).filter(|_| ok)
}

/// Chains grouped by arm, in the order their first chain comes: `<stem>-s<seed>` chains
/// share a group when more than one of them is given; any other name (a chain named like a
/// stem too) is a group of its own.
pub fn group_seeds(chains: &[ArmTable]) -> Vec<ArmGroup> {
    let seeded = |name: &str| -> Option<String> {
        let (stem, _) = seed_suffix(name)?;
        let siblings = chains
            .iter()
            .filter(|c| seed_suffix(&c.name).is_some_and(|(s, _)| s == stem))
            .count();
        (siblings > 1).then(|| stem.to_string())
    };
    let mut groups: Vec<(bool, ArmGroup)> = Vec::new();
    for c in chains {
        let (is_seeded, stem) = match seeded(&c.name) {
            Some(stem) => (true, stem),
            None => (false, c.name.clone()),
        };
        match groups
            .iter_mut()
            .find(|(s, g)| *s == is_seeded && g.stem == stem)
        {
            Some((_, g)) => g.chains.push(c.clone()),
            None => groups.push((
                is_seeded,
                ArmGroup {
                    stem,
                    chains: vec![c.clone()],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The side-by-side table: one row per generation, the chosen columns (by default
/// `COMPARE_COLUMNS`) per arm.
pub struct CompareTable {
    /// Arm labels: the arms' names without their common `<prefix>-` (and `-s<seed>`).
    pub arms: Vec<String>,
    /// Seeds per arm (1: plain values; more: `mean ± half-width`).
    pub seeds: Vec<usize>,
    /// Short names of the columns shown for each arm.
    pub columns: Vec<String>,
    /// The prefix the arms share (`quickstart-`), or empty.
    pub prefix: String,
    /// Short column names, repeated for each arm, after `gen`.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The side-by-side table of `COMPARE_COLUMNS`.
pub fn compare_table(arms: &[ArmTable]) -> CompareTable {
    compare_columns(arms, COMPARE_COLUMNS)
}

/// The side-by-side table of the given `(metrics.csv column, short name)` pairs.
pub fn compare_columns(chains: &[ArmTable], columns: &[(&str, &str)]) -> CompareTable {
    let groups = group_seeds(chains);
    let stems: Vec<&str> = groups.iter().map(|g| g.stem.as_str()).collect();
    let prefix = common_prefix(&stems);
    let mut header = vec!["gen".to_string()];
    for _ in &groups {
        header.extend(columns.iter().map(|(_, short)| short.to_string()));
    }
    let gens = groups.iter().map(ArmGroup::generations).max().unwrap_or(0);
    let rows = (0..gens)
        .map(|g| {
            let mut r = vec![g.to_string()];
            for group in &groups {
                for (col, _) in columns {
                    r.push(cell(group, g, col));
                }
            }
            r
        })
        .collect();
    CompareTable {
        arms: stems
            .iter()
            .map(|n| n[prefix.len()..].to_string())
            .collect(),
        seeds: groups.iter().map(|g| g.chains.len()).collect(),
        columns: columns.iter().map(|(_, s)| s.to_string()).collect(),
        prefix,
        header,
        rows,
    }
}

/// One arm's value of `col` in generation `g`: the chain's own for one seed, else the mean
/// and half-width over the seeds.
fn cell(group: &ArmGroup, g: usize, col: &str) -> String {
    if let [one] = group.chains.as_slice() {
        return one
            .get(g, col)
            .map(super::short)
            .unwrap_or_else(|| "-".into());
    }
    let i = group.interval(g, col);
    match i.n {
        0 => "-".into(),
        // Seeds still running (or stopped early) would move the mean: say how many it has.
        n if n < group.chains.len() => format!("{} (n={n})", i.compact()),
        _ => i.compact(),
    }
}

/// The difference of `column` between every arm and the first, per generation, paired by
/// seed: `mean ± half-width` of (arm − first) over the seeds both ran, `*` when the 95%
/// interval excludes 0. `None` unless the first arm and another have two seeds in common.
pub fn paired_differences(chains: &[ArmTable], column: &str) -> Option<CompareTable> {
    let groups = group_seeds(chains);
    let (base, others) = groups.split_first()?;
    let stems: Vec<&str> = groups.iter().map(|g| g.stem.as_str()).collect();
    let prefix = common_prefix(&stems);
    let label = |g: &ArmGroup| g.stem[prefix.len()..].to_string();
    let gens = groups.iter().map(ArmGroup::generations).max().unwrap_or(0);
    let pairs = |other: &ArmGroup, g: usize| -> Vec<(f64, f64)> {
        let b = base.values(g, column);
        let o = other.values(g, column);
        o.iter()
            .filter_map(|(seed, x)| {
                let y = b.iter().find(|(s, _)| s.is_some() && s == seed)?.1;
                Some((*x, y))
            })
            .collect()
    };
    let paired: Vec<&ArmGroup> = others
        .iter()
        .filter(|o| (0..gens).any(|g| pairs(o, g).len() >= 2))
        .collect();
    if paired.is_empty() {
        return None;
    }
    let mut header = vec!["gen".to_string()];
    header.extend(
        paired
            .iter()
            .map(|o| format!("{} − {}", label(o), label(base))),
    );
    let rows = (0..gens)
        .map(|g| {
            let mut r = vec![g.to_string()];
            for o in &paired {
                let d = paired_difference(&pairs(o, g));
                r.push(match d.n {
                    0 => "-".into(),
                    _ if d.excludes_zero() => format!("{} *", d.compact()),
                    _ => d.compact(),
                });
            }
            r
        })
        .collect();
    Some(CompareTable {
        arms: paired.iter().map(|o| label(o)).collect(),
        seeds: paired.iter().map(|o| o.chains.len()).collect(),
        columns: vec![column.to_string()],
        prefix,
        header,
        rows,
    })
}

/// Every value of every chain as tidy long CSV (`arm,seed,generation,metric,value`, one row a
/// value, as `metrics.csv` stores it), which pandas and seaborn read without reshaping. `arm`
/// is the arm's name (the chain's without `-s<seed>`), `seed` the chain's seed.
pub fn long_csv(chains: &[ArmTable]) -> String {
    let mut out = String::from("arm,seed,generation,metric,value\n");
    for group in group_seeds(chains) {
        for c in &group.chains {
            let seed = c.seed.map(|s| s.to_string()).unwrap_or_default();
            for g in 0..c.rows.len() {
                for col in c
                    .columns
                    .iter()
                    .filter(|c| *c != "generation" && *c != "policy")
                {
                    let Some(v) = c.get(g, col).filter(|v| v.parse::<f64>().is_ok()) else {
                        continue;
                    };
                    out += &format!("{},{seed},{g},{col},{v}\n", group.stem);
                }
            }
        }
    }
    out
}

/// A one-line warning when the chains' perplexities cannot be compared: token perplexities of
/// different models count different tokens (word perplexity and bits per byte divide the same
/// log-likelihood by words and bytes, so they can), and no perplexity compares across test
/// splits. `None` when every chain has the same model and test split (as far as recorded).
pub fn comparability(chains: &[ArmTable]) -> Option<String> {
    let distinct = |f: &dyn Fn(&ArmTable) -> Option<&String>| -> Vec<&String> {
        let mut v: Vec<&String> = chains.iter().filter_map(f).collect();
        v.sort();
        v.dedup();
        v
    };
    let models = distinct(&|c| c.model.as_ref());
    let splits = distinct(&|c| c.test_sha256.as_ref());
    if splits.len() > 1 {
        return Some(format!(
            "these chains were scored on {} different human test splits: no perplexity compares \
             across them (use chains of one corpus, split and split seed)",
            splits.len()
        ));
    }
    if models.len() > 1 {
        let names: Vec<&str> = models.iter().map(|m| m.as_str()).collect();
        return Some(format!(
            "models {} count different tokens, so their test_ppl columns are not comparable: \
             compare test_word_ppl or test_bits_per_byte (--columns test_word_ppl,test_bits_per_byte)",
            names.join(", ")
        ));
    }
    None
}

/// The longest common prefix of several names that ends with `-` (none for a single name).
fn common_prefix(names: &[&str]) -> String {
    if names.len() < 2 {
        return String::new();
    }
    let first = names[0];
    let mut end = 0;
    for (i, c) in first.char_indices() {
        if names.iter().any(|n| n.get(..=i) != first.get(..=i)) {
            break;
        }
        if c == '-' {
            end = i + 1;
        }
    }
    first[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::metrics_csv::column_names;

    #[test]
    fn compare_strips_the_shared_prefix_and_lines_up_generations() {
        let cols = column_names().map(String::from).collect::<Vec<_>>();
        let row = |ppl: &str| {
            let mut r = vec!["0".to_string(); cols.len()];
            r[4] = ppl.into();
            r
        };
        let a = ArmTable {
            model: None,
            test_sha256: None,
            seed: None,
            name: "qs-replace".into(),
            rows: vec![row("114.123"), row("169.4")],
            columns: cols.clone(),
        };
        let b = ArmTable {
            model: None,
            test_sha256: None,
            seed: None,
            name: "qs-accumulate".into(),
            rows: vec![row("114.123")],
            columns: cols,
        };
        let t = compare_table(&[a, b]);
        assert_eq!(t.prefix, "qs-");
        assert_eq!(t.arms, ["replace", "accumulate"]);
        assert_eq!(t.rows[0][1], "114.1");
        assert_eq!(t.rows[1][1 + COMPARE_COLUMNS.len()], "-");
        assert_eq!(common_prefix(&["x-a", "y-a"]), "");
    }

    fn chain(name: &str, seed: u64, ppl: &[f64]) -> ArmTable {
        ArmTable {
            name: name.into(),
            seed: Some(seed),
            model: None,
            test_sha256: None,
            columns: vec!["generation".into(), "test_ppl".into()],
            rows: ppl
                .iter()
                .enumerate()
                .map(|(g, p)| vec![g.to_string(), format!("{p:.6}")])
                .collect(),
        }
    }

    #[test]
    fn seeds_group_into_intervals_and_paired_differences() {
        let chains = [
            chain("qs-replace-s1", 1, &[100.0, 150.0]),
            chain("qs-replace-s2", 2, &[100.0, 170.0]),
            chain("qs-replace-s3", 3, &[100.0, 160.0]),
            chain("qs-accumulate-s1", 1, &[100.0, 120.0]),
            chain("qs-accumulate-s2", 2, &[100.0, 141.0]),
            chain("qs-accumulate-s3", 3, &[100.0, 129.0]),
        ];
        let groups = group_seeds(&chains);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].stem, "qs-replace");
        let t = compare_columns(&chains, &[("test_ppl", "ppl")]);
        assert_eq!(
            (t.prefix.as_str(), t.seeds.as_slice()),
            ("qs-", &[3, 3][..])
        );
        assert_eq!(t.arms, ["replace", "accumulate"]);
        // 150, 170, 160: mean 160, s = 10, half-width 4.303 · 10 / √3 = 24.84.
        assert_eq!(t.rows[1][1], "160 ± 25");
        // Paired by seed, accumulate − replace = -30, -29, -31: mean -30, s = 1.
        let d = paired_differences(&chains, "test_ppl").unwrap();
        assert_eq!(d.header, ["gen", "accumulate − replace"]);
        assert_eq!(d.rows[1][1], "-30.0 ± 2.5 *");
        assert_eq!(d.rows[0][1], "0 ± 0"); // generation 0 is shared
                                           // One seed each: plain values, no difference table.
        assert!(paired_differences(&chains[..1], "test_ppl").is_none());
        assert_eq!(group_seeds(&chains[..1])[0].stem, "qs-replace-s1");
        // A chain named like the stem is not one of the seeds.
        let mut with_plain = vec![chain("qs-replace", 42, &[100.0, 999.0])];
        with_plain.extend_from_slice(&chains[..3]);
        let g = group_seeds(&with_plain);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].chains.len(), g[1].chains.len()), (1, 3));
        // A seed that has not reached a generation is counted out loud.
        let short = [
            chains[0].clone(),
            chains[1].clone(),
            chain("qs-replace-s3", 3, &[100.0]),
        ];
        let t = compare_columns(&short, &[("test_ppl", "ppl")]);
        assert!(t.rows[1][1].ends_with("(n=2)"), "{}", t.rows[1][1]);
    }

    #[test]
    fn long_csv_is_tidy() {
        let chains = [chain("x-a-s1", 1, &[10.5]), chain("x-a-s2", 2, &[11.25])];
        assert_eq!(
            long_csv(&chains),
            "arm,seed,generation,metric,value\n\
             x-a,1,0,test_ppl,10.500000\n\
             x-a,2,0,test_ppl,11.250000\n"
        );
    }

    #[test]
    fn different_models_or_test_splits_are_named() {
        let mut a = chain("x-a", 1, &[10.0]);
        let mut b = chain("x-b", 1, &[11.0]);
        assert_eq!(comparability(&[a.clone(), b.clone()]), None);
        (a.model, b.model) = (Some("ngram:3".into()), Some("gpt:tiny".into()));
        let w = comparability(&[a.clone(), b.clone()]).unwrap();
        assert!(
            w.contains("gpt:tiny, ngram:3") && w.contains("test_word_ppl"),
            "{w}"
        );
        (a.test_sha256, b.test_sha256) = (Some("1".into()), Some("2".into()));
        let w = comparability(&[a, b]).unwrap();
        assert!(w.contains("2 different human test splits"), "{w}");
    }
}
