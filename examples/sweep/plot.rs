//! The sweep's outputs: a CSV table and an SVG plot of accuracy against bytes (log scale), one
//! series per bit width, the Pareto front marked. Shared with `tests/sweep_svg.rs`.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

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

/// Draws the plot to an SVG file.
pub fn write_svg(points: &[Point], path: &Path) -> Result<(), Box<dyn Error>> {
    // Plotters needs a font to lay text out; register the embedded DejaVu Sans once.
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    let (min_b, max_b) = points.iter().fold((f64::MAX, 0f64), |(lo, hi), p| {
        (lo.min(p.bytes as f64), hi.max(p.bytes as f64))
    });
    let min_acc = points
        .iter()
        .map(|p| f64::from(p.accuracy))
        .fold(1.0, f64::min);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Digits MLP: test accuracy vs stored bytes",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            ((min_b * 0.8)..(max_b * 1.25)).log_scale(),
            ((min_acc - 0.02).max(0.0))..1.0f64,
        )?;
    chart
        .configure_mesh()
        .x_desc("bytes (log scale)")
        .y_desc("test accuracy")
        .draw()?;
    let mut bits: Vec<u32> = points.iter().map(|p| p.bits).collect();
    bits.sort_unstable();
    bits.dedup();
    for (k, &b) in bits.iter().rev().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let mut series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.bits == b)
            .map(|p| (p.bytes as f64, f64::from(p.accuracy)))
            .collect();
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        let label = if b == 32 {
            "f32".to_string()
        } else {
            format!("int{b}")
        };
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            series
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
        )?;
    }
    let front = pareto_front(points);
    let mut front_pts: Vec<(f64, f64)> = front
        .iter()
        .map(|&i| (points[i].bytes as f64, f64::from(points[i].accuracy)))
        .collect();
    front_pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(
            front_pts
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 8, BLACK.stroke_width(2))),
        )?
        .label("Pareto front")
        .legend(|(x, y)| Circle::new((x + 10, y), 6, BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
