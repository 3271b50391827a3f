// SPDX-License-Identifier: GPL-2.0

//! `ps-bench plot`: cost per page against buffer size, from the JSON of a run under `-icount`
//! (`--instructions`), as an SVG: a line per operation and page kind, both axes logarithmic, so
//! that a flat line is a cost per page that does not grow with the size.

use plotters::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct SampleJson {
    peer: String,
    pages: String,
    mib: usize,
    op: String,
    ns_per_page: Vec<f64>,
}

#[derive(Deserialize)]
struct ReportJson {
    instructions: bool,
    samples: Vec<SampleJson>,
}

/// One line: a peer's operation on one page kind, as (MiB, instructions per page) by size.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

fn lines(report: &ReportJson) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for s in &report.samples {
        // A cost at or below zero (eviction less a noisier unbind, for a small buffer) has no
        // place on a logarithmic axis.
        let Some(&cost) = s.ns_per_page.iter().min_by(|a, b| a.total_cmp(b)) else {
            continue;
        };
        if cost <= 0.0 {
            continue;
        }
        let label = format!("{} {} {}", s.peer, s.op, s.pages);
        let point = (s.mib as f64, cost);
        match lines.iter_mut().find(|l| l.label == label) {
            Some(line) => line.points.push(point),
            None => lines.push(Line {
                label,
                points: vec![point],
            }),
        }
    }
    for line in &mut lines {
        line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

/// Writes the plot of the run in `json_text` to `svg`.
pub fn plot(json_text: &str, svg: &str) -> Result<(), String> {
    let report: ReportJson =
        serde_json::from_str(json_text).map_err(|e| format!("not ps-bench's JSON: {e}"))?;
    if !report.instructions {
        return Err("not a run with --instructions: no instruction counts to plot".into());
    }
    let lines = lines(&report);
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, 1.0f64);
    for &(x, y) in all {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if lines.is_empty() {
        return Err("no samples to plot".into());
    }
    let draw = |e: DrawingAreaErrorKind<std::io::Error>| format!("{svg}: {e}");
    let root = SVGBackend::new(svg, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "pseudoscopic: instructions per 4 KiB page against buffer size (QEMU -icount)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (8.0..x_max * 2.0).log_scale(),
            (y_min / 2.0..y_max * 2.0).log_scale(),
        )
        .map_err(draw)?;
    chart
        .configure_mesh()
        .x_desc("buffer (MiB)")
        .y_desc("instructions per page")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(draw)?;
    for (i, line) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw)?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )
            .map_err(draw)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw)?;
    root.present().map_err(draw)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_operation_and_kind_by_size() {
        let json = r#"{"copy_path": "avx2", "instructions": true, "copy_loops": null, "claims": [],
            "samples": [
              {"peer": "pseudoscopic", "pages": "4K", "mib": 64, "op": "park", "seconds": 1.0,
               "pages_per_s": 1.0, "mib_per_s": 1.0, "runs": [1.0], "ns_per_page": [900.0, 880.0]},
              {"peer": "pseudoscopic", "pages": "4K", "mib": 16, "op": "park", "seconds": 1.0,
               "pages_per_s": 1.0, "mib_per_s": 1.0, "runs": [1.0], "ns_per_page": [1000.0]},
              {"peer": "pseudoscopic", "pages": "THP", "mib": 16, "op": "park", "seconds": 1.0,
               "pages_per_s": 1.0, "mib_per_s": 1.0, "runs": [1.0], "ns_per_page": [100.0]}
            ]}"#;
        let report: ReportJson = serde_json::from_str(json).unwrap();
        let lines = lines(&report);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].label, "pseudoscopic park 4K");
        assert_eq!(lines[0].points, [(16.0, 1000.0), (64.0, 880.0)]);
        let svg = std::env::temp_dir().join(format!("ps-bench-plot-{}.svg", std::process::id()));
        let svg = svg.to_str().unwrap();
        plot(json, svg).unwrap();
        let text = std::fs::read_to_string(svg).unwrap();
        std::fs::remove_file(svg).unwrap();
        assert!(text.starts_with("<svg"));
        assert!(text.contains("pseudoscopic park THP"));
        let wall = json.replace(r#""instructions": true"#, r#""instructions": false"#);
        assert!(plot(&wall, svg).unwrap_err().contains("--instructions"));
    }
}
