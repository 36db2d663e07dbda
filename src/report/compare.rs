//! The side-by-side table of arms that `compare` prints and `report` summarises: one row per
//! generation, the chosen `metrics.csv` columns per arm.

use super::metrics_csv::ArmTable;

/// The columns `compare` puts side by side, with short headers.
pub const COMPARE_COLUMNS: &[(&str, &str)] = &[
    ("test_ppl", "ppl"),
    ("types", "types"),
    ("rare_types_lost", "rare_lost"),
    ("seq_rep_4", "rep4"),
];

/// The side-by-side table: one row per generation, the chosen columns (by default
/// `COMPARE_COLUMNS`) per arm.
pub struct CompareTable {
    /// Arm labels: experiment names without their common `<prefix>-`.
    pub arms: Vec<String>,
    /// Short names of the columns shown for each arm.
    pub columns: Vec<String>,
    /// The prefix the arms share (`quickstart-`), or empty.
    pub prefix: String,
    /// Short column names, repeated for each arm, after `gen`.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl CompareTable {
    /// CSV with one header line (`<experiment>:<column>`).
    pub fn to_csv(&self) -> String {
        let mut head = vec!["gen".to_string()];
        for a in &self.arms {
            head.extend(
                self.columns
                    .iter()
                    .map(|short| format!("{}{a}:{short}", self.prefix)),
            );
        }
        let mut out = head.join(",") + "\n";
        for r in &self.rows {
            out += &(r.join(",") + "\n");
        }
        out
    }
}

/// The side-by-side table of `COMPARE_COLUMNS`.
pub fn compare_table(arms: &[ArmTable]) -> CompareTable {
    compare_columns(arms, COMPARE_COLUMNS)
}

/// The side-by-side table of the given `(metrics.csv column, short name)` pairs.
pub fn compare_columns(arms: &[ArmTable], columns: &[(&str, &str)]) -> CompareTable {
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    let prefix = common_prefix(&names);
    let mut header = vec!["gen".to_string()];
    for _ in arms {
        header.extend(columns.iter().map(|(_, short)| short.to_string()));
    }
    let gens = arms.iter().map(|a| a.rows.len()).max().unwrap_or(0);
    let rows = (0..gens)
        .map(|g| {
            let mut r = vec![g.to_string()];
            for a in arms {
                for (col, _) in columns {
                    r.push(
                        a.get(g, col)
                            .map(short_number)
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            }
            r
        })
        .collect();
    let labels = names
        .iter()
        .map(|n| n[prefix.len()..].to_string())
        .collect();
    CompareTable {
        arms: labels,
        columns: columns.iter().map(|(_, s)| s.to_string()).collect(),
        prefix,
        header,
        rows,
    }
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

/// Numbers printed for people: 4 significant digits at most.
fn short_number(s: &str) -> String {
    match s.parse::<f64>() {
        // Decimal columns keep their decimals even when a value is whole (0.000000 → 0.0000).
        Ok(x) if x.fract() != 0.0 || s.contains('.') => {
            let digits = if x.abs() >= 100.0 {
                1
            } else if x.abs() >= 1.0 {
                3
            } else {
                4
            };
            format!("{x:.digits$}")
        }
        _ => s.to_string(),
    }
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
            name: "qs-replace".into(),
            rows: vec![row("114.123"), row("169.4")],
            columns: cols.clone(),
        };
        let b = ArmTable {
            name: "qs-accumulate".into(),
            rows: vec![row("114.123")],
            columns: cols,
        };
        let t = compare_table(&[a, b]);
        assert_eq!(t.prefix, "qs-");
        assert_eq!(t.arms, ["replace", "accumulate"]);
        assert_eq!(t.rows[0][1], "114.1");
        assert_eq!(t.rows[1][1 + COMPARE_COLUMNS.len()], "-");
        assert!(t.to_csv().starts_with("gen,qs-replace:ppl,"));
        assert_eq!(common_prefix(&["x-a", "y-a"]), "");
    }
}
