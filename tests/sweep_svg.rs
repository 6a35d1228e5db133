//! The sweep example's writers (`examples/sweep/plot.rs`, compiled here as a module): the SVG
//! parses as XML; its axis ticks are in kB, log-spaced, free of ".0" noise and do not overlap
//! (nor does any other text); every point shows its sparsity (a colour the key names); the
//! Pareto front is a line; the CSV has one row per model.
//!
//! Text boxes are estimated from the SVG's own attributes (position, anchor, baseline shift,
//! font size) and DejaVu Sans advance widths per character class, with a 10% margin.

#[path = "../examples/sweep/plot.rs"]
mod plot;

use plot::{
    kb_label, log_ticks, pareto_front, percent_label, to_csv, trim_number, write_svg, Point,
};

fn point(sparsity: f32, bits: u32, bytes: usize, accuracy: f32) -> Point {
    Point {
        sparsity,
        bits,
        bytes,
        accuracy,
    }
}

/// The grid `cargo run --release --example sweep` measured (docs/results.md), int4 stored
/// densely: six int4 points share one size, three of them one accuracy too.
fn measured_grid() -> Vec<Point> {
    let rows = [
        (0.0, [(203_304, 0.9777), (53_584, 0.9777), (29_944, 0.9777)]),
        (0.5, [(154_342, 0.9721), (80_265, 0.9721), (29_944, 0.9749)]),
        (0.8, [(63_568, 0.9777), (34_854, 0.9777), (29_944, 0.9777)]),
        (0.9, [(32_912, 0.9805), (19_278, 0.9805), (29_944, 0.9805)]),
        (0.95, [(16_880, 0.9777), (10_782, 0.9777), (29_944, 0.9777)]),
        (0.97, [(10_214, 0.9777), (7_041, 0.9777), (29_944, 0.9749)]),
    ];
    let mut points = Vec::new();
    for (s, cells) in rows {
        for (bits, (bytes, acc)) in [32, 8, 4].into_iter().zip(cells) {
            points.push(point(s, bits, bytes, acc));
        }
    }
    points
}

/// Sizes over four decades (300 bytes to 5 MB) and accuracies from 0.6 to 1.
fn wide_grid() -> Vec<Point> {
    let mut points = Vec::new();
    for (k, &(sparsity, base)) in [(0.0f32, 5_000_000usize), (0.9, 100_000), (0.99, 2_400)]
        .iter()
        .enumerate()
    {
        for (bits, div) in [(32u32, 1usize), (8, 3), (4, 8)] {
            points.push(point(
                sparsity,
                bits,
                base / div,
                1.0 - 0.15 * k as f32 - 0.01 * (32 / bits) as f32,
            ));
        }
    }
    points
}

/// All sizes within 20–30 kB.
fn narrow_grid() -> Vec<Point> {
    vec![
        point(0.0, 32, 30_000, 0.97),
        point(0.5, 8, 24_000, 0.965),
        point(0.7, 4, 20_000, 0.96),
    ]
}

fn svg_of(points: &[Point], name: &str) -> String {
    // One directory per call: the tests run in parallel and reuse grid names.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("shrink-sweep-{}-{name}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sweep.svg");
    write_svg(points, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    text
}

/// A text element with its estimated box (x0, y0, x1, y1) in SVG pixels.
#[derive(Debug)]
struct Label {
    text: String,
    x: f64,
    y: f64,
    rotated: bool,
    bbox: (f64, f64, f64, f64),
}

/// DejaVu Sans advance width of `c`, in em.
fn advance(c: char) -> f64 {
    match c {
        '0'..='9' => 0.636,
        '%' | 'm' | 'w' | 'M' | 'W' => 0.95,
        ' ' | '.' | ',' | ':' | 'i' | 'l' | 'j' | '(' | ')' | '\'' => 0.4,
        'A'..='Z' => 0.75,
        _ => 0.62,
    }
}

fn labels(doc: &roxmltree::Document) -> Vec<Label> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let num = |a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
            let text = n.text().unwrap_or("").trim().to_string();
            let (x, y, size) = (num("x"), num("y"), num("font-size"));
            let width = 1.1 * size * text.chars().map(advance).sum::<f64>();
            let x0 = match n.attribute("text-anchor") {
                Some("middle") => x - width / 2.0,
                Some("end") => x - width,
                _ => x,
            };
            // plotters' baseline shifts: top 0.76em, centre 0.5ex, bottom -0.5ex.
            let y0 = match n.attribute("dy") {
                Some("0.76em") => y,
                Some("0.5ex") => y - 0.5 * size,
                Some("-0.5ex") => y - size,
                other => panic!("unexpected dy {other:?}"),
            };
            Label {
                text,
                x,
                y,
                rotated: n.attribute("transform").is_some(),
                bbox: (x0, y0, x0 + width, y0 + size),
            }
        })
        .collect()
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The x-axis tick labels ("20 kB"), left to right, with their values in bytes.
fn x_ticks(all: &[Label]) -> Vec<(f64, f64)> {
    let mut ticks: Vec<(f64, f64)> = all
        .iter()
        .filter_map(|l| {
            let v = l.text.strip_suffix(" kB")?.parse::<f64>().ok()?;
            Some((l.x, v * 1000.0))
        })
        .collect();
    ticks.sort_by(|a, b| a.0.total_cmp(&b.0));
    ticks
}

fn check_readable(points: &[Point], name: &str, min_ticks: usize) {
    let text = svg_of(points, name);
    let doc = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let all = labels(&doc);
    let words: Vec<&str> = all.iter().map(|l| l.text.as_str()).collect();
    for want in [
        "test accuracy (%)",
        "stored size (kB, log scale)",
        "sparsity",
        "Pareto front",
    ] {
        assert!(
            words.contains(&want),
            "{name}: missing {want:?} in {words:?}"
        );
    }

    // x ticks: in kB, increasing, and log-spaced (pixels proportional to log10 of the value).
    let ticks = x_ticks(&all);
    assert!(ticks.len() >= min_ticks, "{name}: x ticks {ticks:?}");
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    let per_decade = (last.0 - first.0) / (last.1 / first.1).log10();
    assert!(per_decade > 0.0, "{name}: ticks not increasing {ticks:?}");
    for &(x, v) in &ticks {
        let expect = ticks[0].0 + per_decade * (v / ticks[0].1).log10();
        assert!(
            (x - expect).abs() <= 3.0,
            "{name}: {v} B at x {x}, log scale puts it at {expect}"
        );
    }
    let lo = points.iter().map(|p| p.bytes).min().unwrap() as f64;
    let hi = points.iter().map(|p| p.bytes).max().unwrap() as f64;
    assert!(
        ticks[0].1 <= hi && ticks[ticks.len() - 1].1 >= lo,
        "{name}: ticks miss the data"
    );

    // No "20.0"-style noise in any number shown.
    for l in &all {
        for token in l.text.split([' ', '%', '(', ')', ',']) {
            if token.parse::<f64>().is_ok() && token.contains('.') {
                assert!(
                    !token.ends_with('0'),
                    "{name}: trailing zero in {:?}",
                    l.text
                );
            }
        }
    }

    // No two horizontal texts overlap, and every text is on the canvas.
    let (w, h) = (
        doc.root_element()
            .attribute("width")
            .unwrap()
            .parse::<f64>()
            .unwrap(),
        doc.root_element()
            .attribute("height")
            .unwrap()
            .parse::<f64>()
            .unwrap(),
    );
    let flat: Vec<&Label> = all.iter().filter(|l| !l.rotated).collect();
    for (i, a) in flat.iter().enumerate() {
        let b = a.bbox;
        assert!(
            b.0 >= 0.0 && b.1 >= 0.0 && b.2 <= w && b.3 <= h,
            "{name}: {a:?} off the canvas"
        );
        for c in &flat[i + 1..] {
            assert!(!overlap(a.bbox, c.bbox), "{name}: {:?} overlaps {:?}", a, c);
        }
    }
}

#[test]
fn tick_labels_are_log_spaced_kb_without_noise_or_overlap() {
    check_readable(&measured_grid(), "measured", 4);
    check_readable(&wide_grid(), "wide", 4);
    check_readable(&narrow_grid(), "narrow", 2);
}

#[test]
fn every_point_shows_its_sparsity_and_the_front_is_a_line() {
    for (name, points) in [("measured", measured_grid()), ("wide", wide_grid())] {
        let text = svg_of(&points, name);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let all = labels(&doc);
        // Markers and swatches: circles, squares (rects other than the background), triangles.
        let shapes: Vec<(f64, f64, String)> = doc
            .descendants()
            .filter(|n| {
                n.has_tag_name("circle") || n.has_tag_name("rect") || n.has_tag_name("polygon")
            })
            .filter(|n| {
                n.attribute("fill")
                    .is_some_and(|f| f != "#FFFFFF" && f != "none")
            })
            .map(|n| {
                let num = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
                let (x, y) = match n.tag_name().name() {
                    "circle" => (num("cx").unwrap(), num("cy").unwrap()),
                    "rect" => (
                        num("x").unwrap() + num("width").unwrap() / 2.0,
                        num("y").unwrap() + num("height").unwrap() / 2.0,
                    ),
                    _ => {
                        let first = n
                            .attribute("points")
                            .unwrap()
                            .split_whitespace()
                            .next()
                            .unwrap();
                        let mut xy = first.split(',').map(|v| v.parse::<f64>().unwrap());
                        (xy.next().unwrap(), xy.next().unwrap())
                    }
                };
                (x, y, n.attribute("fill").unwrap().to_string())
            })
            .collect();

        let mut sparsities: Vec<f32> = points.iter().map(|p| p.sparsity).collect();
        sparsities.sort_by(f32::total_cmp);
        sparsities.dedup();
        let mut colours = Vec::new();
        for &s in &sparsities {
            // The key: the text "90%" with its colour swatch just left of it on the same row.
            let key = percent_label(f64::from(s));
            // (A y tick may read "97%" too: take the one with a swatch beside it.)
            let swatch = all
                .iter()
                .filter(|l| l.text == key)
                .find_map(|label| {
                    shapes.iter().find(|(x, y, _)| {
                        (y - label.y).abs() <= 3.0 && *x < label.x && *x > label.x - 30.0
                    })
                })
                .unwrap_or_else(|| panic!("{name}: no key entry {key:?} with a swatch"));
            let colour = swatch.2.clone();
            let marked = shapes.iter().filter(|(_, _, f)| *f == colour).count();
            let expected = points.iter().filter(|p| p.sparsity == s).count();
            assert_eq!(
                marked,
                expected + 1,
                "{name}: {key} colour {colour} on {marked} shapes"
            );
            colours.push(colour);
        }
        let mut distinct = colours.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            colours.len(),
            "{name}: sparsity colours repeat {colours:?}"
        );

        // Markers never sit on top of one another (coincident points are spread apart).
        let markers: Vec<&(f64, f64, String)> =
            shapes.iter().filter(|(x, _, _)| *x < 800.0).collect();
        for (i, a) in markers.iter().enumerate() {
            for b in &markers[i + 1..] {
                assert!(
                    (a.0 - b.0).abs() >= 8.0 || (a.1 - b.1).abs() >= 8.0,
                    "{name}: markers at {a:?} and {b:?} coincide"
                );
            }
        }

        // The Pareto front: a 2-px black line through as many points as the front has,
        // left to right, and each front point labelled with its bit width and sparsity.
        let front = pareto_front(&points);
        let line = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .find(|n| {
                n.attribute("stroke") == Some("#000000")
                    && n.attribute("stroke-width") == Some("2")
                    && n.attribute("points").unwrap().split_whitespace().count() == front.len()
            });
        let line = line.unwrap_or_else(|| panic!("{name}: no Pareto line"));
        let xs: Vec<f64> = line
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| p.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            xs.windows(2).all(|w| w[0] <= w[1]),
            "{name}: front not left to right {xs:?}"
        );
        for &i in &front {
            let p = &points[i];
            let bits = if p.bits == 32 {
                "f32".to_string()
            } else {
                format!("int{}", p.bits)
            };
            let want = format!("{bits} {}", percent_label(f64::from(p.sparsity)));
            assert!(
                all.iter().any(|l| l.text == want),
                "{name}: no label {want:?}"
            );
        }
    }
}

#[test]
fn labels_and_ticks_format_cleanly() {
    assert_eq!(kb_label(20_000.0), "20 kB");
    assert_eq!(kb_label(1_500.0), "1.5 kB");
    assert_eq!(kb_label(500.0), "0.5 kB");
    assert_eq!(percent_label(0.9), "90%");
    assert_eq!(percent_label(0.975), "97.5%");
    assert_eq!(trim_number(60_000.0, 3), "60000");
    // The case: 50,000–100,000 bytes on a plot 700 px wide gets 1-2-5 ticks, not one
    // per 10,000 bytes.
    let ticks = log_ticks(5_400.0, 260_000.0, 700.0, 60.0);
    assert_eq!(
        ticks,
        vec![10_000.0, 20_000.0, 50_000.0, 100_000.0, 200_000.0]
    );
    // Narrower axes thin the ticks out rather than crowd them.
    let few = log_ticks(300.0, 6_000_000.0, 300.0, 60.0);
    assert!(few.len() >= 2 && few.len() < 5, "{few:?}");
}

#[test]
fn pareto_front_keeps_only_undominated_points() {
    let pts = vec![
        point(0.0, 32, 100, 0.9),
        point(0.5, 8, 50, 0.95),
        point(0.9, 8, 10, 0.8),
        point(0.5, 4, 60, 0.94),
    ];
    assert_eq!(pareto_front(&pts), vec![1, 2]);
}

#[test]
fn csv_has_one_row_per_model() {
    let points = measured_grid();
    let csv = to_csv(&points);
    assert_eq!(csv.lines().count(), points.len() + 1);
    assert_eq!(
        csv.lines().next().unwrap(),
        "sparsity,bits,bytes,accuracy,pareto"
    );
    assert_eq!(csv.matches(",true").count(), pareto_front(&points).len());
}
