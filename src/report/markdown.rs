//! The Markdown summary: the headline table, the PNG charts and the provenance in brief.

use super::data::Arm;
use super::{first_last, Figure, Figures, SUMMARY_COLUMNS};
use serde_json::Value;
use std::fmt::Write;

fn images(out: &mut String, figs: &[Figure]) {
    for f in figs {
        let _ = writeln!(out, "![{}]({})\n", f.title.replace(['[', ']'], ""), f.png());
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The whole summary.
pub fn page(arms: &[Arm], figs: &Figures, command: &str) -> String {
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    let mut out = String::new();
    let _ = writeln!(out, "# Model-collapse report: {}\n", names.join(", "));
    let _ = writeln!(
        out,
        "Written by `{command}`; rerunning it rebuilds these files. The full report, with every \
         chart, the specs and all manifests, is [report.html](report.html).\n"
    );
    out.push_str("## Summary (generation 0 → last)\n\n");
    let cols: Vec<&str> = SUMMARY_COLUMNS
        .iter()
        .copied()
        .filter(|c| arms.iter().any(|a| a.table.columns.iter().any(|x| x == c)))
        .collect();
    let _ = writeln!(out, "| experiment | generations | {} |", cols.join(" | "));
    let _ = writeln!(out, "|---|---:|{}", "---:|".repeat(cols.len()));
    for a in arms {
        let vals: Vec<String> = cols
            .iter()
            .map(|c| first_last(a, c).map_or("-".into(), |(x, y)| format!("{x} → {y}")))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            a.name,
            a.table.rows.len(),
            vals.join(" | ")
        );
    }
    out.push_str("\n## Metrics over generations\n\n");
    images(&mut out, &figs.metrics);
    if !figs.constant.is_empty() {
        let list: Vec<String> = figs
            .constant
            .iter()
            .map(|(c, v)| format!("`{c}` = {v}"))
            .collect();
        let _ = writeln!(out, "The same in every generation: {}.\n", list.join(", "));
    }
    out.push_str("## Perplexity of each generated document under generation 0\n\n");
    images(&mut out, &figs.histograms);
    for n in &figs.no_histogram {
        let _ = writeln!(out, "{n}: no per-document perplexities available.\n");
    }
    out.push_str("## Vocabulary: rank-frequency per generation\n\n");
    images(&mut out, &figs.rank_frequency);
    out.push_str("## Provenance\n\n");
    for a in arms {
        let c = &a.chain;
        let _ = writeln!(
            out,
            "- **{}**: corpus `{}`, model `{}`, policy `{}`, seed {}, {} generations \
             (`evals/{}/chain.json`)",
            a.name,
            text(c.get("corpus")),
            text(c.get("model")),
            text(c.get("policy")),
            text(c.get("seed")),
            a.table.rows.len(),
            a.name
        );
        if let Some((_, m)) = a.human.iter().find(|(s, _)| s == "train") {
            let _ = writeln!(
                out,
                "  - human train split: {} words, sha256 `{}`",
                text(m.get("tokens")),
                text(m.get("sha256"))
            );
        }
        for (g, m) in a.generated_manifests.iter().enumerate() {
            let _ = writeln!(
                out,
                "  - gen {g} wrote {} words, sha256 `{}`, sampling seed {}",
                text(m.get("tokens")),
                text(m.get("sha256")),
                text(m.get("seed"))
            );
        }
    }
    out
}
