//! The sweep as an SVG plot: pairwise precision, recall and F against `min_sim`, one colour per
//! `k` (F solid, precision dashed, recall dotted), the best cell circled. With several
//! strategies, the lines are those of the first; cells at the automatic threshold are not on
//! the lines.
//!
//! Drawn with `plotters`' SVG backend only (no font or bitmap dependencies: text is left to the
//! SVG viewer), into a string, then written through [`AtomicFile`].

use std::io::Write;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{SweepCell, SweepOutput};
use crate::error::{Error, Param, Result};
use crate::io::AtomicFile;

/// Width and height of the plot, in SVG pixels.
pub const SIZE: (u32, u32) = (1100, 600);

/// Room for the legend, right of the plotting area, in SVG pixels.
const LEGEND_WIDTH: u32 = 200;

/// One colour per `k`, in grid order (then repeated): Tableau 10's first six.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Renders the plot of `output` as an SVG document.
///
/// # Errors
///
/// [`Error::InvalidParameter`] (`--plot`) when there are no cells; plotting errors otherwise
/// (none are expected when drawing into memory), as [`Error::Format`] naming `<plot>`.
pub fn render_svg(output: &SweepOutput) -> Result<String> {
    if output.cells.is_empty() {
        return Err(Error::invalid(Param::Plot, "no cells to plot"));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, output).map_err(|e| Error::format("<plot>", e.to_string()))?;
        root.present().map_err(|e| Error::format("<plot>", e.to_string()))?;
    }
    Ok(svg)
}

/// Renders the plot of `output` and writes it to `path` atomically.
///
/// # Errors
///
/// As [`render_svg`], and [`Error::Io`] naming `path` when it cannot be written.
pub fn write_svg(output: &SweepOutput, path: &Path) -> Result<()> {
    let svg = render_svg(output)?;
    let mut file = AtomicFile::create(path)?;
    file.write_all(svg.as_bytes()).map_err(|e| Error::io(path, e))?;
    file.commit()
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How a legend entry's sample is drawn.
#[derive(Clone, Copy)]
enum Mark {
    Solid,
    Dashed,
    Dotted,
    Circle,
}

fn draw(root: &DrawingArea<SVGBackend<'_>, Shift>, output: &SweepOutput) -> DrawResult<()> {
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let (mut lo, mut hi) = output
        .cells
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), c| (lo.min(f64::from(c.min_sim)), hi.max(f64::from(c.min_sim))));
    if hi - lo < 1e-9 {
        (lo, hi) = (lo - 0.01, hi + 0.01);
    }
    // The y axis starts at the 0.05 step below the lowest score, so that high scores are not
    // squeezed into the top of the plot.
    let lowest = output.cells.iter().fold(1.0f64, |lowest, c| {
        let p = &c.eval.pairwise;
        lowest.min(p.precision).min(p.recall).min(p.f)
    });
    let floor = (((lowest - 0.02) * 20.0).floor() / 20.0).max(0.0);
    let title =
        format!("pairwise precision (dashed), recall (dotted) and F (solid) against min_sim, {} rows", output.input.n);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(lo..hi, floor..1.0)?;
    chart
        .configure_mesh()
        .x_desc("min_sim")
        .y_desc("pairwise score")
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style(("sans-serif", 14))
        .draw()?;

    let mut legend: Vec<(Mark, RGBColor, String)> = Vec::new();
    for (index, &k) in output.params.ks.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        // One strategy per plot: the first; automatic cells are off the grid.
        let first = output.params.strategies.first();
        let mut cells: Vec<&SweepCell> =
            output.cells.iter().filter(|c| c.k == k && Some(&c.strategy) == first && !c.min_sim_auto).collect();
        cells.sort_by(|a, b| a.min_sim.total_cmp(&b.min_sim));
        let points = |metric: fn(&SweepCell) -> f64| -> Vec<(f64, f64)> {
            cells.iter().map(|c| (f64::from(c.min_sim), metric(c))).collect()
        };
        chart.draw_series(LineSeries::new(points(|c| c.eval.pairwise.f), colour.stroke_width(3)))?;
        chart.draw_series(DashedLineSeries::new(
            points(|c| c.eval.pairwise.precision),
            8,
            5,
            colour.stroke_width(2),
        ))?;
        chart.draw_series(DottedLineSeries::new(points(|c| c.eval.pairwise.recall), 0, 6, move |p| {
            Circle::new(p, 2, colour.filled())
        }))?;
        legend.push((Mark::Solid, colour, format!("k={k} F")));
        legend.push((Mark::Dashed, colour, format!("k={k} precision")));
        legend.push((Mark::Dotted, colour, format!("k={k} recall")));
    }
    if let Some(best) = output.best.map(|b| &output.cells[b]) {
        let at = (f64::from(best.min_sim), best.eval.pairwise.f);
        chart.draw_series(std::iter::once(Circle::new(at, 8, BLACK.stroke_width(2))))?;
        legend.push((Mark::Circle, BLACK, format!("best F {:.4}", best.eval.pairwise.f)));
        legend.push((Mark::Circle, WHITE, format!("at k={}, min_sim={}", best.k, best.min_sim)));
    }
    draw_legend(&legend_area, &legend)
}

/// The legend, one entry per line: a sample of the line and its label.
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, entries: &[(Mark, RGBColor, String)]) -> DrawResult<()> {
    let (x, top, line_height) = (10, 70, 24);
    for (row, (mark, colour, label)) in entries.iter().enumerate() {
        let y = top + row as i32 * line_height;
        match mark {
            Mark::Solid => area.draw(&PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)))?,
            Mark::Dashed => {
                area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], colour.stroke_width(2)))?;
                area.draw(&PathElement::new(vec![(x + 13, y), (x + 21, y)], colour.stroke_width(2)))?;
            }
            Mark::Dotted => {
                for dx in [2, 10, 18] {
                    area.draw(&Circle::new((x + dx, y), 2, colour.filled()))?;
                }
            }
            Mark::Circle => area.draw(&Circle::new((x + 12, y), 7, colour.stroke_width(2)))?,
        }
        area.draw(&Text::new(label.as_str(), (x + 34, y - 8), ("sans-serif", 15)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;
    use crate::metrics::{Prf, Scores};
    use crate::report::InputReport;
    use crate::sweep::{SweepParams, SweepTimings};

    fn cell(k: usize, min_sim: f32, f: f64, best: bool) -> SweepCell {
        let prf = Prf { precision: f.sqrt(), recall: f * f, f };
        SweepCell {
            k,
            min_sim,
            min_sim_auto: false,
            strategy: Strategy::default(),
            links: 10,
            nodes_without_links: 1,
            modules: 3,
            codelength_bits: 2.0,
            clusters: 4,
            singleton_clusters: 1,
            eval: Scores { pairwise: prf, bcubed: prf, nmi: f, pred_clusters: 4, true_clusters: 3, n: 12 },
            secs: 0.01,
            best,
        }
    }

    fn output(cells: Vec<SweepCell>, ks: Vec<usize>, min_sims: Vec<f32>) -> SweepOutput {
        SweepOutput {
            tool: "face-cluster".into(),
            version: "0".into(),
            input: InputReport { features: None, knn_cache: None, labels: None, n: 12, dim: None },
            params: SweepParams {
                ks,
                min_sims,
                auto_min_sim: false,
                strategies: vec![Strategy::default()],
                knn_k: 80,
                index: "Flat".into(),
                normalize: true,
                trials: 1,
                seed: 1,
                threads: 1,
            },
            timings_secs: SweepTimings { load: 0.0, knn: 0.0, cells: 0.0, total: 0.0 },
            best: cells.iter().position(|c| c.best),
            cells,
        }
    }

    #[test]
    fn svg_has_a_line_set_per_k_and_the_legend() {
        let cells = vec![
            cell(50, 0.5, 0.7, false),
            cell(50, 0.6, 0.9, true),
            cell(50, 0.7, 0.6, false),
            cell(80, 0.5, 0.6, false),
            cell(80, 0.6, 0.8, false),
            cell(80, 0.7, 0.5, false),
        ];
        let svg = render_svg(&output(cells, vec![50, 80], vec![0.5, 0.6, 0.7])).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for label in
            ["k=50 F", "k=80 F", "k=50 precision", "k=80 recall", "best F 0.9000", "at k=50, min_sim=0.6", "min_sim"]
        {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn one_threshold_still_plots_and_no_cells_is_an_error() {
        let svg = render_svg(&output(vec![cell(10, 0.5, 0.5, true)], vec![10], vec![0.5])).unwrap();
        assert!(svg.contains("k=10 F"));
        let e = render_svg(&output(Vec::new(), vec![10], vec![0.5])).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::Plot, .. }), "{e}");
    }

    #[test]
    fn write_is_atomic_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.svg");
        write_svg(&output(vec![cell(10, 0.5, 0.5, true)], vec![10], vec![0.5]), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("</svg>"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
