//! `plot.svg`: median time against size, log-log, one panel per swept op,
//! one line per side (the VMO solid, each native baseline dashed).
//!
//! Built with plotters' SVG backend and without its `ttf` feature: text is
//! written as SVG `<text>` elements (`font-family="sans-serif"`) and laid out
//! with plotters' built-in size estimate, so producing the file needs no
//! font files; whatever displays the SVG picks the font.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::catalog::{OpKind, VMO};
use crate::report::{OpTable, Report};
use crate::units::{fmt_ns, fmt_size};

/// Width of one panel, in pixels.
const PANEL_W: u32 = 620;
/// Height of one panel, in pixels.
const PANEL_H: u32 = 400;
/// Height of the title band.
const TITLE_H: u32 = 50;
/// Panels per row.
const COLS: usize = 2;

/// Colours: the VMO first, then the baselines in order.
const COLORS: [RGBColor; 4] =
    [RGBColor(31, 90, 180), RGBColor(214, 96, 0), RGBColor(30, 140, 60), RGBColor(150, 50, 160)];

/// The tables that get a panel: size sweeps with at least one positive size.
fn panels(report: &Report) -> Vec<&OpTable> {
    report
        .tables
        .iter()
        .filter(|t| t.kind == OpKind::Sweep && t.rows.iter().any(|r| r.size > 0))
        .collect()
}

/// The SVG text of the plot.
pub fn svg_string(report: &Report) -> Result<String, String> {
    let panels = panels(report);
    let rows = panels.len().div_ceil(COLS).max(1);
    let size = (PANEL_W * COLS as u32, TITLE_H + PANEL_H * rows as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, report, &panels, rows).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes the plot to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    let svg = svg_string(report)?;
    std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(root: &Area<'_>, report: &Report, panels: &[&OpTable], rows: usize) -> DrawResult {
    root.fill(&WHITE)?;
    let (mode, arch) =
        report.meta.as_ref().map_or(("unknown", "unknown"), |m| (m.mode.as_str(), m.arch.as_str()));
    let (title, body) = root.split_vertically(TITLE_H);
    title.titled(
        &format!(
            "vmo-bench on {arch}, guest mode {mode}: median time vs size (log-log; VMO solid, \
             native dashed)"
        ),
        ("sans-serif", 20),
    )?;
    if panels.is_empty() {
        body.draw(&Text::new("no size sweeps in this log", (20, 20), ("sans-serif", 16)))?;
        return Ok(());
    }
    let areas = body.split_evenly((rows, COLS));
    for (t, area) in panels.iter().zip(areas.iter()) {
        draw_panel(area, t)?;
    }
    Ok(())
}

/// The (size, median) points of one side of a table.
fn series(t: &OpTable, side: Option<usize>) -> Vec<(f64, f64)> {
    t.rows
        .iter()
        .filter(|r| r.size > 0)
        .filter_map(|r| {
            let s = match side {
                None => r.vmo,
                Some(i) => r.natives[i],
            }?;
            Some((r.size as f64, s.median_ns.max(1) as f64))
        })
        .collect()
}

/// One line of a panel: the baseline's index (`None`: the VMO), its name and
/// its points.
type Line<'a> = (Option<usize>, &'a str, Vec<(f64, f64)>);

fn draw_panel(area: &Area<'_>, t: &OpTable) -> DrawResult {
    let mut all: Vec<Line<'_>> = vec![(None, VMO, series(t, None))];
    for (i, (side, _)) in t.natives.iter().enumerate() {
        all.push((Some(i), side.as_str(), series(t, Some(i))));
    }
    let pts = all.iter().flat_map(|(_, _, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Ok(());
    }
    let sizes: Vec<f64> = t.rows.iter().filter(|r| r.size > 0).map(|r| r.size as f64).collect();
    let x_range = ((x0 / 1.6)..(x1 * 1.6)).log_scale().with_key_points(sizes);
    let y_range = ((y0 / 2.5)..(y1 * 2.5)).log_scale();
    let mut chart = ChartBuilder::on(area)
        .caption(&t.op, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .x_desc("size")
        .y_desc("median time")
        .x_label_formatter(&|x| fmt_size(x.round() as u64))
        .y_label_formatter(&|y| fmt_ns(*y))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    for (i, (native, side, points)) in all.into_iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let color = COLORS[i % COLORS.len()];
        let style = color.stroke_width(if native.is_none() { 3 } else { 2 });
        let anno = if native.is_none() {
            chart.draw_series(LineSeries::new(points.clone(), style))?
        } else {
            chart.draw_series(DashedLineSeries::new(points.clone(), 9, 6, style))?
        };
        // Two spaces of slack: the legend box is sized from plotters' estimate
        // of the text width, which runs a little short of real fonts.
        let legend = format!("{side}  ");
        anno.label(legend).legend(move |(x, y)| {
            if native.is_none() {
                DashedPathElement::new(vec![(x, y), (x + 24, y)], 100, 0, style)
            } else {
                DashedPathElement::new(vec![(x, y), (x + 24, y)], 7, 4, style)
            }
        });
        let filled = native.is_none();
        chart.draw_series(points.into_iter().map(move |p| {
            let s = if filled { color.filled() } else { color.stroke_width(2) };
            Circle::new(p, 3, s)
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, parse_log};

    /// Whether the SVG has a `<text>` element of `text` (legend labels carry
    /// trailing spaces).
    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>"))
            || svg.contains(&format!(">\n{text}  \n</text>"))
    }

    #[test]
    fn svg_has_a_panel_per_sweep_and_a_legend() {
        let mut lines = Vec::new();
        for (i, size) in crate::catalog::SIZES.iter().enumerate() {
            let m = 1000 * (i as u64 + 1);
            for (op, side) in [
                ("COMMIT", "vmo"),
                ("COMMIT", "fallocate"),
                ("ZERO", "vmo"),
                ("ZERO", "madv_remove"),
            ] {
                lines
                    .push(Record::from_samples(op, *size, side, vec![m, m + 1]).unwrap().to_line());
            }
        }
        lines.push(Record::from_samples("COMMIT_SIZE0", 0, "vmo", vec![5]).unwrap().to_line());
        let report = Report::build(parse_log(&lines.join("\n")));
        let svg = svg_string(&report).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(has_text(&svg, "COMMIT"));
        assert!(has_text(&svg, "ZERO"));
        // The per-call op is not plotted.
        assert!(!has_text(&svg, "COMMIT_SIZE0"));
        assert!(has_text(&svg, "fallocate"));
        assert!(has_text(&svg, "madv_remove"));
        assert!(has_text(&svg, "256 MiB"));
        // Both sides are drawn: a point per size on each of the 4 lines.
        assert_eq!(svg.matches("<circle").count(), 4 * crate::catalog::SIZES.len());
        let dir = std::env::temp_dir().join(format!("vmo-bench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plot.svg");
        write_svg(&report, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), svg);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_title_names_the_architecture() {
        let meta = r#"@@bench-meta {"mode":"tcg","kernel":"7.3.0","arch":"aarch64","cpu":{"clwb":false,"clflushopt":false,"line_size":64,"ctr_el0":2487533572},"page_size":4096,"policy":{"warmup":1,"min_reps":5,"max_reps":50,"budget_ms":200},"per_call_policy":{"warmup":5,"min_reps":5,"max_reps":500,"budget_ms":200}}"#;
        let mut lines = vec![meta.to_owned()];
        for side in ["vmo", "dc_cvac"] {
            let r = Record::from_samples("CACHE_CLEAN", 4096, side, vec![10]).unwrap();
            lines.push(r.to_line());
        }
        let svg = svg_string(&Report::build(parse_log(&lines.join("\n")))).unwrap();
        assert!(svg.contains("vmo-bench on aarch64, guest mode tcg: median time"), "{svg}");
        assert!(has_text(&svg, "dc_cvac"));
        assert!(!has_text(&svg, "clwb"));
    }

    #[test]
    fn an_empty_report_still_plots() {
        let report = Report::build(parse_log(""));
        assert!(svg_string(&report).unwrap().contains("no size sweeps"));
    }
}
