//! The sweep example's writers (`examples/sweep/plot.rs`, compiled here as a module): the SVG
//! parses as XML with the expected content, the CSV has one row per model, the Pareto front is
//! right.

#[path = "../examples/sweep/plot.rs"]
mod plot;

use plot::{pareto_front, to_csv, write_svg, Point};

fn grid() -> Vec<Point> {
    let mut points = Vec::new();
    for (k, &(sparsity, base_bytes)) in [(0.0f32, 200_000usize), (0.9, 30_000), (0.97, 10_000)]
        .iter()
        .enumerate()
    {
        for (bits, div) in [(32u32, 1usize), (8, 3), (4, 6)] {
            points.push(Point {
                sparsity,
                bits,
                bytes: base_bytes / div,
                accuracy: 0.97 - 0.01 * k as f32 - 0.002 * (32 / bits) as f32,
            });
        }
    }
    points
}

#[test]
fn pareto_front_keeps_only_undominated_points() {
    let pts = vec![
        Point {
            sparsity: 0.0,
            bits: 32,
            bytes: 100,
            accuracy: 0.9,
        },
        Point {
            sparsity: 0.5,
            bits: 8,
            bytes: 50,
            accuracy: 0.95,
        },
        Point {
            sparsity: 0.9,
            bits: 8,
            bytes: 10,
            accuracy: 0.8,
        },
        Point {
            sparsity: 0.5,
            bits: 4,
            bytes: 60,
            accuracy: 0.94,
        },
    ];
    assert_eq!(pareto_front(&pts), vec![1, 2]);
}

#[test]
fn svg_parses_and_holds_the_plot() {
    let points = grid();
    let dir = std::env::temp_dir().join(format!("shrink-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sweep.svg");
    write_svg(&points, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect();
    for want in [
        "test accuracy",
        "bytes (log scale)",
        "f32",
        "int8",
        "int4",
        "Pareto front",
    ] {
        assert!(
            texts.iter().any(|t| t.contains(want)),
            "missing text {want:?} in {texts:?}"
        );
    }
    // One marker per model plus a ring per Pareto point (and the legend's).
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(
        circles >= points.len() + pareto_front(&points).len(),
        "{circles} circles"
    );
    // Three series lines.
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(lines >= 3, "{lines} polylines");

    let csv = to_csv(&points);
    assert_eq!(csv.lines().count(), points.len() + 1);
    assert_eq!(
        csv.lines().next().unwrap(),
        "sparsity,bits,bytes,accuracy,pareto"
    );
    assert_eq!(csv.matches(",true").count(), pareto_front(&points).len());
}
