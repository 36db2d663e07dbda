//! Charts for reports: line charts (a metric over generations, rank-frequency curves) and
//! step histograms, each written twice, as SVG (sharp at any zoom, inlined in the HTML report)
//! and as PNG (for Markdown viewers and a quick look).
//!
//! Why an embedded font: plotters' `ab_glyph` text backend reads no system fonts, so a chart
//! looks the same on every machine, including CI containers that have no fonts at all. The font
//! is a subset of DejaVu Sans (`assets/fonts/`, licence beside it). SVG text names
//! `sans-serif` and is laid out with the same metrics.
//!
//! Why the PNG is encoded here: plotters draws into an RGB buffer in memory and `png` encodes
//! it, so both files are written atomically like every other output, and the build needs no
//! image codecs beyond PNG.

mod draw;

use crate::error::{Error, Result};
use crate::fsutil;
use std::path::Path;

pub use draw::{png_bytes, svg_string};

/// Pixel size of every chart (the SVG has the same user units).
pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 540;

/// An RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    /// `#rrggbb`, for HTML.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Colour-blind-safe colours (Okabe and Ito 2008) for categories such as arms, in order.
pub const PALETTE: &[Rgb] = &[
    Rgb(0, 114, 178),   // blue
    Rgb(213, 94, 0),    // vermillion
    Rgb(0, 158, 115),   // bluish green
    Rgb(204, 121, 167), // reddish purple
    Rgb(230, 159, 0),   // orange
    Rgb(86, 180, 233),  // sky blue
    Rgb(0, 0, 0),       // black
];

/// The `i`-th category colour (cycling).
pub fn category(i: usize) -> Rgb {
    PALETTE[i % PALETTE.len()]
}

/// A colour for step `i` of `n` on a sequential scale, for generations 0..n: plasma (dark blue,
/// purple, red, orange), without its yellow end, which is unreadable on white. Plasma, not
/// viridis: viridis's second half is shades of green, and generations 5-9 of a ten-generation
/// chain could not be told apart.
pub fn sequential(i: usize, n: usize) -> Rgb {
    const STOPS: &[(f64, f64, f64)] = &[
        (13.0, 8.0, 135.0),
        (106.0, 0.0, 168.0),
        (177.0, 42.0, 144.0),
        (225.0, 100.0, 98.0),
        (252.0, 166.0, 54.0),
    ];
    // t^0.7: plasma's dark end changes slowly to the eye, so early steps are made longer and
    // neighbours of ten generations stay 15+ apart in CIELAB distance.
    let t = if n <= 1 {
        0.0
    } else {
        (i as f64 / (n - 1) as f64).powf(0.7)
    };
    let x = t * (STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A line through the points.
    Line,
    /// A line with a dot on every point (few points: generations).
    LineDots,
    /// A thicker dashed line (a reference such as the human text).
    Reference,
    /// A thin, faint line with no legend entry (one seed of an arm drawn as its mean).
    Thin,
}

/// One labelled line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: Rgb,
    pub style: Style,
    /// A shaded band under the line: (x, low, high) per point (a confidence interval).
    pub band: Vec<(f64, f64, f64)>,
}

/// A chart: axes, labels and series. Log axes drop non-positive values.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    /// Tick labels on the x axis are whole numbers (generations).
    pub x_integer: bool,
    pub series: Vec<Series>,
}

impl Chart {
    /// Whether the chart has at least one point it can draw.
    pub fn has_data(&self) -> bool {
        self.series
            .iter()
            .flat_map(|s| &s.points)
            .any(|&(x, y)| usable(x, self.x_log) && usable(y, self.y_log))
    }
}

/// A value a (log) axis can show.
pub(crate) fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

/// Whether values span decades (all positive, max/min >= 30): then a log axis shows them.
pub fn spans_decades(values: impl IntoIterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    hi.is_finite() && lo.is_finite() && hi / lo >= 30.0
}

/// Writes `<stem>.svg` and `<stem>.png` (atomically); returns the two file names.
pub fn write_chart(chart: &Chart, dir: &Path, stem: &str) -> Result<(String, String)> {
    if !chart.has_data() {
        return Err(Error::invalid(
            format!("chart `{}` has no data to draw", chart.title),
            "check that the experiment has finished generations",
        ));
    }
    let (svg, png) = (format!("{stem}.svg"), format!("{stem}.png"));
    fsutil::write_atomic(dir.join(&svg), svg_string(chart)?.as_bytes())?;
    fsutil::write_atomic(dir.join(&png), &png_bytes(chart)?)?;
    Ok((svg, png))
}

/// Tick labels: at most 4 significant digits, no trailing zeros, thousands as `12k`.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        return "0".into(); // also the rounding residue of a zero tick (-2e-18)
    }
    if a >= 1e6 {
        return format!("{}M", trim(format!("{:.2}", v / 1e6)));
    }
    if a >= 1e4 {
        return format!("{}k", trim(format!("{:.1}", v / 1e3)));
    }
    if a < 1e-3 {
        return format!("{v:.0e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    trim(format!("{v:.digits$}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(x_log: bool, y_log: bool) -> Chart {
        Chart {
            title: "demo".into(),
            x_label: "generation".into(),
            y_label: "perplexity".into(),
            x_log,
            y_log,
            x_integer: !x_log,
            series: vec![
                Series {
                    label: "replace".into(),
                    points: (0..10)
                        .map(|g| (g as f64, 100.0 + 40.0 * g as f64))
                        .collect(),
                    color: category(0),
                    style: Style::LineDots,
                    band: Vec::new(),
                },
                Series {
                    label: "human".into(),
                    points: (1..10).map(|g| (g as f64, 1000.0 / g as f64)).collect(),
                    color: Rgb::BLACK,
                    style: Style::Reference,
                    band: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn charts_render_as_svg_and_png_on_every_axis_kind() {
        for (xl, yl) in [(false, false), (false, true), (true, true)] {
            let c = demo(xl, yl);
            let svg = svg_string(&c).unwrap();
            assert!(
                svg.starts_with("<svg") && svg.contains("replace") && svg.contains("perplexity")
            );
            let png = png_bytes(&c).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
        let dir = tempfile::tempdir().unwrap();
        let (s, p) = write_chart(&demo(false, false), dir.path(), "m").unwrap();
        assert!(dir.path().join(s).exists() && dir.path().join(p).exists());
    }

    #[test]
    fn empty_charts_are_an_error_not_a_panic() {
        let mut c = demo(true, true);
        for s in &mut c.series {
            s.points = vec![(0.0, -1.0), (f64::NAN, 2.0)];
        }
        assert!(!c.has_data());
        let dir = tempfile::tempdir().unwrap();
        assert!(write_chart(&c, dir.path(), "x").is_err());
        // One point, or all values equal, still draws.
        c.series[0].points = vec![(1.0, 5.0)];
        assert!(png_bytes(&c).is_ok());
    }

    /// CIE 1976 colour difference of two sRGB colours (D65).
    fn cielab_distance(a: Rgb, b: Rgb) -> f64 {
        let lab = |c: Rgb| {
            let lin = |u: u8| {
                let u = f64::from(u) / 255.0;
                if u <= 0.04045 {
                    u / 12.92
                } else {
                    ((u + 0.055) / 1.055).powf(2.4)
                }
            };
            let (r, g, b) = (lin(c.0), lin(c.1), lin(c.2));
            let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
            let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
            let f = |t: f64| {
                if t > 0.008856 {
                    t.cbrt()
                } else {
                    7.787 * t + 16.0 / 116.0
                }
            };
            [
                116.0 * f(y) - 16.0,
                500.0 * (f(x) - f(y)),
                200.0 * (f(y) - f(z)),
            ]
        };
        let (p, q) = (lab(a), lab(b));
        (0..3).map(|i| (p[i] - q[i]).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn ticks_colours_and_decades() {
        assert_eq!(tick(114.1234), "114.1");
        assert_eq!(tick(0.05), "0.05");
        assert_eq!(tick(25009.0), "25k");
        assert_eq!(tick(2_500_000.0), "2.5M");
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(-2e-18), "0");
        assert!(spans_decades([1.0, 50.0]) && !spans_decades([1.0, 20.0]));
        assert!(!spans_decades([0.0, 100.0]));
        assert_eq!(sequential(0, 10), Rgb(13, 8, 135));
        assert_eq!(sequential(9, 10), Rgb(252, 166, 54));
        // Neighbouring generations of ten differ clearly: 15+ in CIELAB distance (viridis,
        // used before, had 13.8 between generations 0 and 1 and only shades of green after 5).
        for g in 0..9 {
            let (a, b) = (sequential(g, 10), sequential(g + 1, 10));
            let d = cielab_distance(a, b);
            assert!(d >= 15.0, "gen {g} and {}: {a:?} {b:?} {d:.1}", g + 1);
        }
        // Log ticks: each decade once, 2..9 × 10^k when few decades, decades only when many.
        let t = draw::log_ticks(50.0, 20_000.0);
        assert_eq!(&t[..3], &[50.0, 60.0, 70.0]);
        assert_eq!(t.iter().filter(|&&v| v == 1000.0).count(), 1);
        assert!(t.contains(&10_000.0) && t.contains(&20_000.0) && !t.contains(&30_000.0));
        assert_eq!(
            draw::log_ticks(0.5, 1e6),
            vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
        );
        assert_eq!(category(0).hex(), "#0072b2");
    }
}
