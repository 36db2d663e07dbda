//! Drawing a [`Chart`] with plotters on either backend (SVG string or RGB buffer).

use super::{tick, usable, Chart, Rgb, Style, HEIGHT, WIDTH};
use crate::error::{Error, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::sync::Once;

/// DejaVu Sans, ASCII and Latin-1 plus a few symbols (see `assets/fonts/README.md`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and checked by the tests, so this cannot fail at run time.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

fn failed(chart: &Chart, e: impl std::fmt::Display) -> Error {
    Error::invalid(
        format!("drawing the chart `{}` failed: {e}", chart.title),
        "this is a bug; please report it with the experiment's metrics.csv",
    )
}

/// The chart as an SVG document.
pub fn svg_string(chart: &Chart) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        render(chart, &root)?;
        root.present().map_err(|e| failed(chart, e))?;
    }
    Ok(out)
}

/// The chart as PNG bytes.
pub fn png_bytes(chart: &Chart) -> Result<Vec<u8>> {
    register_font();
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        render(chart, &root)?;
        root.present().map_err(|e| failed(chart, e))?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Best);
    let mut w = enc.write_header().map_err(|e| failed(chart, e))?;
    w.write_image_data(&rgb).map_err(|e| failed(chart, e))?;
    w.finish().map_err(|e| failed(chart, e))?;
    Ok(out)
}

/// Data range of one axis, padded; `log` ranges are padded in log space.
fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|&v| usable(v, log)) {
        let v = if log { v.log10() } else { v };
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.05 * span
    } else if log {
        0.3
    } else {
        (lo.abs() * 0.1).max(1e-3)
    };
    let (lo, hi) = (lo - pad, hi + pad);
    if log {
        // Down to the decade below when it is near (plotters labels from the first decade in
        // range, so the bottom of the axis would have no label).
        let lo = if lo - lo.floor() < 0.3 {
            lo.floor() - 1e-3
        } else {
            lo
        };
        (10f64.powf(lo), 10f64.powf(hi))
    } else {
        (lo, hi)
    }
}

fn render<DB: DrawingBackend>(chart: &Chart, root: &DrawingArea<DB, Shift>) -> Result<()> {
    root.fill(&WHITE).map_err(|e| failed(chart, e))?;
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    let bands = || chart.series.iter().flat_map(|s| s.band.iter());
    let (x0, x1) = range(points().map(|p| p.0), chart.x_log);
    let ys = points()
        .map(|p| p.1)
        .chain(bands().flat_map(|&(_, lo, hi)| [lo, hi]));
    let (y0, y1) = range(ys, chart.y_log);
    let log = |lo: f64, hi: f64| (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
    match (chart.x_log, chart.y_log) {
        (false, false) => plot(chart, root, x0..x1, y0..y1),
        (false, true) => plot(chart, root, x0..x1, log(y0, y1)),
        (true, false) => plot(chart, root, log(x0, x1), y0..y1),
        (true, true) => plot(chart, root, log(x0, x1), log(y0, y1)),
    }
}

/// A log axis's ticks: every decade, and 2..9 × 10^k too when the axis spans up to three and
/// a half decades (labelled at 1, 2 and 5 × 10^k by [`log_tick`]). Ours, not plotters': its
/// own ticks put each decade in twice (as 10 × 10^(k-1) and as 10^k), so those labels were
/// drawn twice, bolder than the rest.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let few = (hi / lo).log10() < 3.5;
    let mut ticks = Vec::new();
    let mut k = lo.log10().floor() as i32;
    while 10f64.powi(k) <= hi {
        for m in 1..=9 {
            let v = f64::from(m) * 10f64.powi(k);
            if (m == 1 || few) && v >= lo && v <= hi {
                ticks.push(v);
            }
        }
        k += 1;
    }
    ticks
}

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn plot<DB, X, Y>(chart: &Chart, root: &DrawingArea<DB, Shift>, x: X, y: Y) -> Result<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| failed(chart, e);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, (FAMILY, 22))
        .margin(14)
        .x_label_area_size(52)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let x_fmt = |v: &f64| {
        if chart.x_integer {
            format!("{}", v.round() as i64)
        } else {
            log_tick(*v, chart.x_log)
        }
    };
    let y_fmt = |v: &f64| log_tick(*v, chart.y_log);
    let max_x_points = chart
        .series
        .iter()
        .map(|s| s.points.len())
        .max()
        .unwrap_or(0);
    // (A log axis has its own ticks, from `log_ticks`.)
    let x_labels = if chart.x_integer {
        max_x_points.clamp(2, 12)
    } else {
        10
    };
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(x_labels)
        .y_labels(8)
        .max_light_lines(if chart.x_log || chart.y_log { 0 } else { 4 })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()
        .map_err(err)?;

    // Bands first, under every line: an interval's upper edge forward, its lower edge back.
    for s in chart.series.iter().filter(|s| !s.band.is_empty()) {
        let ok = |x: f64, y: f64| usable(x, chart.x_log) && usable(y, chart.y_log);
        let band: Vec<&(f64, f64, f64)> = s
            .band
            .iter()
            .filter(|&&(x, lo, hi)| ok(x, lo) && ok(x, hi))
            .collect();
        let outline: Vec<(f64, f64)> = band
            .iter()
            .map(|&&(x, _, hi)| (x, hi))
            .chain(band.iter().rev().map(|&&(x, lo, _)| (x, lo)))
            .collect();
        if outline.len() >= 3 {
            ctx.draw_series(std::iter::once(Polygon::new(
                outline,
                color(s.color).mix(0.18),
            )))
            .map_err(err)?;
        }
    }
    for s in &chart.series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| usable(x, chart.x_log) && usable(y, chart.y_log))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let c = color(s.color);
        if s.style == Style::Thin {
            ctx.draw_series(LineSeries::new(pts, c.mix(0.45).stroke_width(1)))
                .map_err(err)?;
            continue;
        }
        let width = if s.style == Style::Reference { 3 } else { 2 };
        let line = c.stroke_width(width);
        let anno = match s.style {
            Style::Reference => ctx
                .draw_series(DashedLineSeries::new(pts.clone(), 9, 5, line))
                .map_err(err)?,
            _ => ctx
                .draw_series(LineSeries::new(pts.clone(), line))
                .map_err(err)?,
        };
        anno.label(s.label.as_str()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(width))
        });
        if s.style == Style::LineDots {
            ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
        }
    }
    if chart.series.len() > 1 || chart.series.iter().any(|s| !s.label.is_empty()) {
        ctx.configure_series_labels()
            .position(legend_corner(chart))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 14))
            .margin(10)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// A tick label; on a log axis only 1, 2 and 5 × 10^k are labelled (the other ticks keep
/// their grid line), so labels near the top of a decade do not run into each other.
fn log_tick(v: f64, log: bool) -> String {
    if log && v > 0.0 {
        let m = v / 10f64.powf(v.log10().floor());
        if ![1.0, 2.0, 5.0, 10.0]
            .iter()
            .any(|k| (m - k).abs() < 1e-6 * k)
        {
            return String::new();
        }
    }
    tick(v)
}

/// Where the legend covers the least of the lines: each candidate position's box (its size
/// estimated from the labels) is tested against points sampled along every line.
fn legend_corner(chart: &Chart) -> SeriesLabelPosition {
    let f = |v: f64, log: bool| if log { v.log10() } else { v };
    let lines: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|&(x, y)| usable(x, chart.x_log) && usable(y, chart.y_log))
                .map(|(x, y)| (f(x, chart.x_log), f(y, chart.y_log)))
                .collect()
        })
        .collect();
    let all = || lines.iter().flatten();
    let (x0, x1) = range(all().map(|p| p.0), false);
    let (y0, y1) = range(all().map(|p| p.1), false);
    // Points along the lines in [0, 1]², 16 per segment.
    let mut pts = Vec::new();
    for l in &lines {
        for w in l.windows(2) {
            for k in 0..16 {
                let t = k as f64 / 16.0;
                let (x, y) = (
                    w[0].0 + t * (w[1].0 - w[0].0),
                    w[0].1 + t * (w[1].1 - w[0].1),
                );
                pts.push(((x - x0) / (x1 - x0), (y - y0) / (y1 - y0)));
            }
        }
        if let Some(&(x, y)) = l.last() {
            pts.push(((x - x0) / (x1 - x0), (y - y0) / (y1 - y0)));
        }
    }
    // The legend's size as a share of the plot area (about 790 × 430 pixels).
    let longest = chart
        .series
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    let w = (52.0 + 7.6 * longest as f64) / 790.0 + 0.02;
    let h = (20.0 + 18.0 * chart.series.len() as f64) / 430.0 + 0.03;
    let candidates = [
        (SeriesLabelPosition::UpperRight, 1.0 - w, 1.0 - h),
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - h),
        (SeriesLabelPosition::LowerRight, 1.0 - w, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
        (SeriesLabelPosition::UpperMiddle, 0.5 - w / 2.0, 1.0 - h),
        (SeriesLabelPosition::LowerMiddle, 0.5 - w / 2.0, 0.0),
    ];
    let covered = |bx: f64, by: f64| {
        pts.iter()
            .filter(|&&(x, y)| x >= bx && x <= bx + w && y >= by && y <= by + h)
            .count()
    };
    candidates
        .into_iter()
        .min_by_key(|&(_, bx, by)| covered(bx, by))
        .map(|(p, _, _)| p)
        .unwrap_or(SeriesLabelPosition::UpperRight)
}
