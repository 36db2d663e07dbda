//! The self-contained HTML page: charts inline as SVG, the spec and provenance as tables.

use super::data::Arm;
use super::{first_last, short, Figure, Figures, SUMMARY_COLUMNS};
use serde_json::Value;
use std::fmt::Write;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:2em auto;\
max-width:1400px;padding:0 1em;color:#222}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 7px;\
text-align:right;vertical-align:top}th{background:#f3f3f3}td.l,th.l{text-align:left}\
code,pre,.mono{font-family:'DejaVu Sans Mono',monospace;font-size:.85em}pre{background:#f7f7f7;padding:.6em;\
overflow-x:auto}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1em}\
figure{margin:0;border:1px solid #eee;padding:.3em}figure svg{width:100%;height:auto}\
figcaption{font-size:.85em;color:#555}nav a{margin-right:1em}.nw{white-space:nowrap}\
.scroll{max-width:100%;overflow-x:auto}.note{color:#555;font-size:.9em}";

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn figure(out: &mut String, f: &Figure) {
    // The SVG's own XML declaration, if any, is not valid inside HTML.
    let svg = f.svg.trim_start_matches(|c| c != '<');
    let svg = match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(svg, |(_, s)| s),
        None => svg,
    };
    let _ = write!(
        out,
        "<figure id=\"{id}\">{svg}<figcaption>{title} — <a href=\"{png}\">PNG</a>, \
         <a href=\"plots/{id}.svg\">SVG</a></figcaption></figure>\n",
        id = esc(&f.stem),
        title = esc(&f.title),
        png = esc(&f.png()),
    );
}

fn grid(out: &mut String, figs: &[Figure]) {
    out.push_str("<div class=\"grid\">\n");
    for f in figs {
        figure(out, f);
    }
    out.push_str("</div>\n");
}

/// A JSON value as a compact string for a table cell.
fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// An object's entries as `key: value` lines (nested values as compact JSON), so wide
/// settings wrap in a table cell.
fn entries(v: Option<&Value>) -> String {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{}: {}", esc(k), esc(&cell(Some(v)))))
            .collect::<Vec<_>>()
            .join("<br>"),
        other => esc(&cell(other)),
    }
}

/// `sha256` shortened, with the whole value as a tooltip.
fn sha(v: Option<&Value>) -> String {
    let s = cell(v);
    if s.len() > 16 {
        format!("<span class=\"mono\" title=\"{s}\">{}…</span>", &s[..16])
    } else {
        format!("<span class=\"mono\">{}</span>", esc(&s))
    }
}

fn summary(out: &mut String, arms: &[Arm]) {
    let cols: Vec<&str> = SUMMARY_COLUMNS
        .iter()
        .copied()
        .filter(|c| arms.iter().any(|a| a.table.columns.iter().any(|x| x == c)))
        .collect();
    // Experiments are named without the prefix they share (shown once, in the header).
    let prefix = arms.first().map_or("", |a| {
        a.name
            .strip_suffix(a.label.as_str())
            .filter(|_| !a.label.is_empty())
            .unwrap_or("")
    });
    let shared = if prefix.is_empty() {
        String::new()
    } else {
        format!("<br><small>{}…</small>", esc(prefix))
    };
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"sum\"><tr><th class=\"l\">experiment{shared}</th>\
         <th>generations</th>"
    );
    for c in &cols {
        // Long column names may break after an underscore.
        let name = esc(c).replace('_', "_<wbr>");
        let _ = write!(out, "<th>{name}<br><small>gen 0 → last</small></th>");
    }
    out.push_str("</tr>\n");
    for a in arms {
        let _ = write!(
            out,
            "<tr><td class=\"l nw\" title=\"{}\">{}</td><td>{}</td>",
            esc(&a.name),
            esc(a.name.strip_prefix(prefix).unwrap_or(&a.name)),
            a.table.rows.len()
        );
        for c in &cols {
            // Breaks only after the arrow, when the window is narrow.
            let v = first_last(a, c).map_or("-".into(), |(x, y)| {
                format!(
                    "<span class=\"nw\">{} →</span> <span class=\"nw\">{}</span>",
                    esc(&x),
                    esc(&y)
                )
            });
            let _ = write!(out, "<td>{v}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn provenance(out: &mut String, a: &Arm) {
    let _ = write!(out, "<h3 id=\"prov-{0}\">{0}</h3>\n", esc(&a.name));
    let spec = serde_json::to_string_pretty(&a.chain).unwrap_or_default();
    let _ = write!(
        out,
        "<p>Spec (<code>evals/{}/chain.json</code>):</p><pre>{}</pre>\n",
        esc(&a.name),
        esc(&spec)
    );
    out.push_str(
        "<p>Human corpus (<code>corpora/&lt;exp&gt;/human/</code>):</p><div class=\"scroll\"><table><tr><th class=\"l\">split</th>\
         <th class=\"l\">source</th><th>documents</th><th>words</th><th class=\"l\">sha256</th>\
         <th class=\"l\">split settings</th></tr>\n",
    );
    for (split, m) in &a.human {
        let _ = write!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td>\
             <td class=\"l mono\">{}</td></tr>\n",
            esc(split),
            esc(&cell(m.get("source"))),
            cell(m.get("documents")),
            cell(m.get("tokens")),
            sha(m.get("sha256")),
            entries(m.get("split"))
        );
    }
    out.push_str("</table></div>\n");
    out.push_str(
        "<p>Generations (<code>corpora/&lt;exp&gt;/gen-NN/*.manifest.json</code>):</p><div class=\"scroll\"><table><tr>\
         <th>gen</th><th class=\"l\">trained on (sha256)</th><th class=\"l\">parents: corpus (documents, words)</th>\
         <th>words</th><th class=\"l\">wrote (sha256)</th><th>words</th><th class=\"l\">model</th>\
         <th class=\"l\">sampling</th></tr>\n",
    );
    for (g, (t, m)) in a
        .train_manifests
        .iter()
        .zip(&a.generated_manifests)
        .enumerate()
    {
        let parents: Vec<String> = t
            .get("parents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} ({}, {}) {}",
                    esc(&cell(p.get("corpus"))),
                    cell(p.get("documents")),
                    cell(p.get("tokens")),
                    sha(p.get("sha256"))
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td>{g}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td>\
             <td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l mono\">{}</td></tr>\n",
            sha(t.get("sha256")),
            parents.join("<br>"),
            cell(t.get("tokens")),
            sha(m.get("sha256")),
            cell(m.get("tokens")),
            esc(&cell(m.get("parent_model"))),
            entries(m.get("sampling"))
        );
    }
    out.push_str("</table></div>\n");
}

fn metrics_table(out: &mut String, a: &Arm) {
    let _ = write!(
        out,
        "<details><summary>{} — <code>evals/{}/metrics.csv</code></summary><div class=\"scroll\"><table><tr>",
        esc(&a.name),
        esc(&a.name)
    );
    for c in &a.table.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr>\n");
    for r in &a.table.rows {
        out.push_str("<tr>");
        for v in r {
            let _ = write!(out, "<td>{}</td>", esc(&short(v)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div></details>\n");
}

/// The whole page.
pub fn page(arms: &[Arm], figs: &Figures, command: &str) -> String {
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    let mut out = String::with_capacity(1 << 20);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>collapse-lab report: {t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>Model-collapse report: {t}</h1>\n\
         <p class=\"note\">Written by <code>{cmd}</code> (collapse-lab {v}); rerunning it rebuilds this \
         page from the files under <code>evals/</code> and <code>corpora/</code>. A summary with PNG charts \
         is in <a href=\"summary.md\">summary.md</a>.</p>\n<nav><a href=\"#summary\">Summary</a>\
         <a href=\"#metrics\">Metrics</a><a href=\"#gen0-ppl\">Generation-0 perplexity</a>\
         <a href=\"#rank-frequency\">Rank-frequency</a><a href=\"#provenance\">Spec and provenance</a>\
         <a href=\"#tables\">Tables</a></nav>\n",
        t = esc(&names.join(", ")),
        cmd = esc(command),
        v = env!("CARGO_PKG_VERSION"),
    );
    out.push_str("<h2 id=\"summary\">Summary</h2>\n");
    summary(&mut out, arms);
    out.push_str(
        "<h2 id=\"metrics\">Metrics over generations</h2>\n<p class=\"note\">One chart per numeric \
         column of <code>metrics.csv</code>, one line per experiment; definitions in \
         <code>docs/metrics.md</code>. Log scales where values span decades.</p>\n",
    );
    grid(&mut out, &figs.metrics);
    if !figs.constant.is_empty() {
        let list: Vec<String> = figs
            .constant
            .iter()
            .map(|(c, v)| format!("<code>{}</code> = {}", esc(c), esc(v)))
            .collect();
        let _ = write!(
            out,
            "<p class=\"note\">The same in every generation (no chart): {}.</p>\n",
            list.join(", ")
        );
    }
    out.push_str(
        "<h2 id=\"gen0-ppl\">Perplexity of each generated document under generation 0</h2>\n\
         <p class=\"note\">Shumailov et al. (2024) show collapse here: later generations write text \
         that the first model finds ever more likely, plus a tail of improbable documents.</p>\n",
    );
    grid(&mut out, &figs.histograms);
    for n in &figs.no_histogram {
        let _ = writeln!(
            out,
            "<p class=\"note\">{}: no per-document perplexities (no record field and no \
             generation-0 checkpoint).</p>",
            esc(n)
        );
    }
    out.push_str(
        "<h2 id=\"rank-frequency\">Vocabulary: rank-frequency per generation</h2>\n\
         <p class=\"note\">Share of all words taken by the word of each frequency rank, from \
         <code>corpora/&lt;exp&gt;/</code>; the tail (right) is where rare words are lost.</p>\n",
    );
    grid(&mut out, &figs.rank_frequency);
    out.push_str("<h2 id=\"provenance\">Spec and provenance</h2>\n");
    for a in arms {
        provenance(&mut out, a);
    }
    out.push_str("<h2 id=\"tables\">Tables</h2>\n");
    for a in arms {
        metrics_table(&mut out, a);
    }
    out.push_str("</body></html>\n");
    out
}
