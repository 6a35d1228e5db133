//! The sweep's outputs: a CSV table and an SVG plot of accuracy against stored size (log scale,
//! ticks in kB), each point coloured by its sparsity and shaped by its bit width, the Pareto
//! front drawn as a line with its points labelled. Shared with `tests/sweep_svg.rs`.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One compressed model of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Target sparsity.
    pub sparsity: f32,
    /// Bits per weight value (32, 8, 4).
    pub bits: u32,
    /// Exact stored bytes.
    pub bytes: usize,
    /// Test accuracy.
    pub accuracy: f32,
}

/// Indices of the points no other point beats on both bytes (fewer) and accuracy (higher).
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            !points.iter().any(|q| {
                let p = &points[i];
                q.bytes <= p.bytes
                    && q.accuracy >= p.accuracy
                    && (q.bytes < p.bytes || q.accuracy > p.accuracy)
            })
        })
        .collect()
}

/// The grid as CSV: `sparsity,bits,bytes,accuracy,pareto`.
pub fn to_csv(points: &[Point]) -> String {
    let front = pareto_front(points);
    let mut out = String::from("sparsity,bits,bytes,accuracy,pareto\n");
    for (i, p) in points.iter().enumerate() {
        out.push_str(&format!(
            "{},{},{},{:.4},{}\n",
            p.sparsity,
            p.bits,
            p.bytes,
            p.accuracy,
            front.contains(&i)
        ));
    }
    out
}

/// `v` with at most `decimals` decimals and no trailing zeros ("20", "1.5", never "20.0").
pub fn trim_number(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A byte count as a tick label in kB (1 kB = 1,000 bytes): "500 kB", "1.5 kB".
pub fn kb_label(bytes: f64) -> String {
    format!("{} kB", trim_number(bytes / 1000.0, 3))
}

/// A sparsity as a percentage: "0%", "90%", "97.5%".
pub fn percent_label(fraction: f64) -> String {
    format!("{}%", trim_number(fraction * 100.0, 1))
}

/// The name of a bit width: "f32", "int8", "int4".
pub fn bits_label(bits: u32) -> String {
    if bits == 32 {
        "f32".to_string()
    } else {
        format!("int{bits}")
    }
}

/// Log-scale ticks for `lo..hi` bytes on an axis `width_px` wide whose labels are at most
/// `label_px` wide: the densest of the 1-2-5, 1-2-3-5, 1-3 and 1-per-decade sequences (then
/// every 2nd, 3rd, … decade) whose neighbouring labels stay `label_px + 16` pixels apart.
pub fn log_ticks(lo: f64, hi: f64, width_px: f64, label_px: f64) -> Vec<f64> {
    let px = |v: f64| (v / lo).log10() / (hi / lo).log10() * width_px;
    let gap_ok = |ticks: &[f64]| {
        ticks
            .windows(2)
            .all(|w| px(w[1]) - px(w[0]) >= label_px + 16.0)
    };
    let in_range = |mantissas: &[f64], decade_step: i32| -> Vec<f64> {
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let mut out = Vec::new();
        let mut d = d0;
        while d <= d1 {
            for &m in mantissas {
                let v = m * 10f64.powi(d);
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
            d += decade_step;
        }
        out
    };
    const FINE: [f64; 7] = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0];
    const ONE_TWO_FIVE: [f64; 3] = [1.0, 2.0, 5.0];
    // 1-2-5 or sparser; the finer sets only when 1-2-5 gives fewer than 3 ticks.
    let mut sets: Vec<&[f64]> = vec![&ONE_TWO_FIVE, &[1.0, 3.0], &[1.0]];
    if in_range(&ONE_TWO_FIVE, 1).len() < 3 {
        sets.splice(0..0, [&FINE[..], &[1.0, 2.0, 3.0, 5.0]]);
    }
    sets.iter()
        .map(|m| in_range(m, 1))
        .find(|t| !t.is_empty() && gap_ok(t))
        .or_else(|| {
            (2..64)
                .map(|step| in_range(&[1.0], step))
                .find(|t| gap_ok(t))
        })
        .unwrap_or_default()
}

/// Minor grid lines: every 1…9 × 10^k inside `lo..hi` that is not a tick.
fn log_minor(lo: f64, hi: f64, ticks: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    for d in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in 1..10 {
            let v = f64::from(m) * 10f64.powi(d);
            if v >= lo && v <= hi && !ticks.iter().any(|t| (t / v - 1.0).abs() < 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// A colour for rank `k` of `n` sparsities, along viridis from dark purple to green.
pub fn sparsity_color(k: usize, n: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (190.0, 200.0, 30.0),
    ];
    let t = if n <= 1 {
        0.0
    } else {
        k as f64 / (n - 1) as f64
    } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws one marker: a circle for f32, a square for int8, a triangle for anything else.
fn marker(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    at: (i32, i32),
    bits: u32,
    style: ShapeStyle,
) -> Result<(), Box<dyn Error>> {
    match bits {
        32 => area.draw(&Circle::new(at, 5, style))?,
        8 => area.draw(&Rectangle::new(
            [(at.0 - 4, at.1 - 4), (at.0 + 4, at.1 + 4)],
            style,
        ))?,
        _ => area.draw(&TriangleMarker::new(at, 6, style))?,
    }
    Ok(())
}

type Rect = (i32, i32, i32, i32);

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Draws the plot to an SVG file.
pub fn write_svg(points: &[Point], path: &Path) -> Result<(), Box<dyn Error>> {
    if points.is_empty() {
        return Err("no points to plot".into());
    }
    // Plotters needs a font to lay text out; register the embedded DejaVu Sans once.
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let (min_b, max_b) = points.iter().fold((f64::MAX, 0f64), |(lo, hi), p| {
        (lo.min(p.bytes as f64), hi.max(p.bytes as f64))
    });
    let (lo, hi) = (min_b / 1.3, max_b * 1.3);
    let (min_acc, max_acc) = points.iter().fold((1.0f64, 0f64), |(lo, hi), p| {
        let a = f64::from(p.accuracy);
        (lo.min(a), hi.max(a))
    });

    let (width, height, legend_w) = (1000u32, 580u32, 190u32);
    let (margin, y_area, x_area) = (20u32, 70u32, 50u32);
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (chart_area, legend_area) = root.split_horizontally(width - legend_w);

    let tick_font = TextStyle::from(("sans-serif", 15).into_font());
    let widest = [lo, hi]
        .iter()
        .map(|&v| kb_label(v).len() + 2)
        .max()
        .unwrap_or(8);
    let label_px = f64::from(root.estimate_text_size(&"8".repeat(widest), &tick_font)?.0);
    let plot_w = f64::from(width - legend_w - 2 * margin - y_area);
    let ticks = log_ticks(lo, hi, plot_w, label_px);
    let minor = log_minor(lo, hi, &ticks);

    let mut chart = ChartBuilder::on(&chart_area)
        .caption(
            "Digits MLP: test accuracy against stored size",
            ("sans-serif", 22),
        )
        .margin(margin)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            (lo..hi)
                .log_scale()
                .with_key_points(ticks)
                .with_light_points(minor),
            (min_acc - 0.01).max(0.0)..(max_acc + 0.01).min(1.0),
        )?;
    chart
        .configure_mesh()
        .x_desc("stored size (kB, log scale)")
        .y_desc("test accuracy (%)")
        .label_style(tick_font.clone())
        .x_label_formatter(&|v| kb_label(*v))
        .y_label_formatter(&|v| format!("{}%", trim_number(v * 100.0, 2)))
        .y_labels(8)
        .light_line_style(BLACK.mix(0.06))
        .bold_line_style(BLACK.mix(0.18))
        .draw()?;

    let mut sparsities: Vec<f32> = points.iter().map(|p| p.sparsity).collect();
    sparsities.sort_by(f32::total_cmp);
    sparsities.dedup();
    let color_of = |s: f32| {
        let k = sparsities.iter().position(|&x| x == s).unwrap_or(0);
        sparsity_color(k, sparsities.len())
    };
    let mut bits: Vec<u32> = points.iter().map(|p| p.bits).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.reverse();

    // The Pareto front as a line under the markers.
    let front = pareto_front(points);
    let mut front_pts: Vec<usize> = front.clone();
    front_pts.sort_by(|&a, &b| {
        points[a]
            .bytes
            .cmp(&points[b].bytes)
            .then(points[a].accuracy.total_cmp(&points[b].accuracy))
    });
    let pixel = |p: &Point| chart.backend_coord(&(p.bytes as f64, f64::from(p.accuracy)));
    chart_area.draw(&PathElement::new(
        front_pts
            .iter()
            .map(|&i| pixel(&points[i]))
            .collect::<Vec<_>>(),
        BLACK.stroke_width(2),
    ))?;

    // Markers, coloured by sparsity. Points that would land on the same spot (within 4 px:
    // same size and accuracy, e.g. int4 models stored densely) are spread side by side in
    // order of sparsity, 12 px apart, so each one's colour shows.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[a].sparsity.total_cmp(&points[b].sparsity));
    let mut at: Vec<(i32, i32)> = points.iter().map(&pixel).collect();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        let near = |g: &Vec<usize>| {
            let (x, y) = pixel(&points[g[0]]);
            let (u, v) = pixel(&points[i]);
            (x - u).abs() <= 4 && (y - v).abs() <= 4
        };
        match groups.iter_mut().find(|g| near(g)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    for g in &groups {
        let n = g.len() as i32;
        for (k, &i) in g.iter().enumerate() {
            at[i].0 += (2 * k as i32 - (n - 1)) * 6;
        }
    }
    for &i in &order {
        let p = &points[i];
        marker(&chart_area, at[i], p.bits, color_of(p.sparsity).filled())?;
    }

    // Labels for the Pareto points, placed where they overlap no marker, label or border.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let label_font = TextStyle::from(("sans-serif", 14).into_font());
    let mut taken: Vec<Rect> = at
        .iter()
        .map(|&(x, y)| (x - 7, y - 7, x + 7, y + 7))
        .collect();
    for &i in &front_pts {
        let p = &points[i];
        let text = format!(
            "{} {}",
            bits_label(p.bits),
            percent_label(f64::from(p.sparsity))
        );
        let (w, h) = root.estimate_text_size(&text, &label_font)?;
        let (w, h) = (w as i32 + 4, h as i32 + 2);
        let (x, y) = at[i];
        let candidates = [
            (x + 9, y - h - 4),
            (x + 9, y + 4),
            (x - w - 9, y - h - 4),
            (x - w - 9, y + 4),
            (x - w / 2, y - h - 10),
            (x - w / 2, y + 10),
            (x + 9, y - h / 2),
            (x - w - 9, y - h / 2),
        ];
        let fits = |r: Rect| r.0 >= xr.start && r.2 <= xr.end && r.1 >= yr.start && r.3 <= yr.end;
        let spot = candidates
            .iter()
            .map(|&(x0, y0)| (x0, y0, x0 + w, y0 + h))
            .find(|&r| fits(r) && !taken.iter().any(|&t| overlaps(r, t)));
        if let Some(r) = spot {
            taken.push(r);
            chart_area.draw(&Text::new(
                text,
                (r.0 + 2, r.1 + 1),
                label_font.pos(Pos::new(HPos::Left, VPos::Top)),
            ))?;
        }
    }

    // The key, beside the plot: sparsity colours, bit-width shapes, the front.
    let key_text =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let head =
        TextStyle::from(("sans-serif", 16).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 70;
    legend_area.draw(&Text::new("sparsity", (10, y), head.clone()))?;
    for &s in &sparsities {
        y += 24;
        legend_area.draw(&Circle::new((20, y), 6, color_of(s).filled()))?;
        legend_area.draw(&Text::new(
            percent_label(f64::from(s)),
            (36, y),
            key_text.clone(),
        ))?;
    }
    y += 40;
    legend_area.draw(&Text::new("weights", (10, y), head))?;
    let grey = RGBColor(90, 90, 90);
    for &b in &bits {
        y += 24;
        marker(&legend_area, (20, y), b, grey.filled())?;
        legend_area.draw(&Text::new(bits_label(b), (36, y), key_text.clone()))?;
    }
    y += 36;
    legend_area.draw(&PathElement::new(
        vec![(8, y), (30, y)],
        BLACK.stroke_width(2),
    ))?;
    legend_area.draw(&Text::new("Pareto front", (36, y), key_text))?;
    root.present()?;
    Ok(())
}
