//! SVG figures: learning curves (a metric per epoch, one line a run or split) and eigenvalue
//! spectra in the complex plane. Plotters draws them without a font backend (an SVG leaves
//! glyphs to its viewer, so text sizes are only estimated for layout); each figure is rendered
//! to a string and written to `path.tmp`, then renamed, so a reader never sees half a file.
//! Non-finite points (a diverged epoch, a NaN metric) are skipped, not drawn.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Figure size in pixels.
const SIZE: (u32, u32) = (800, 520);
const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 22;
const LABEL_PX: u32 = 15;
/// Matplotlib's `tab10`, so the figures read like the paper's, then ten more that differ from
/// them and from each other (a paper table has up to 11 rows a task): cycled past twenty.
const COLOURS: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 128, 128),
    RGBColor(128, 128, 0),
    RGBColor(255, 0, 255),
    RGBColor(218, 165, 32),
    RGBColor(0, 206, 109),
    RGBColor(112, 128, 144),
    RGBColor(255, 99, 71),
];

/// A named point set `(name, [(x, y)])`: one curve, or one matrix's eigenvalues `(re, im)`.
pub type Series = (String, Vec<(f64, f64)>);

/// Writes an SVG of `series` `(name, [(epoch, metric)])`, one line with markers each, to `path`.
pub fn learning_curves(path: &Path, title: &str, y_label: &str, series: &[Series]) -> Result<()> {
    xy(
        path,
        (title, "epoch", y_label),
        series,
        Mark::Curve,
        0.02,
        true,
    )
}

/// One line of a paper table's learning-curve figure.
#[derive(Clone, Debug)]
pub struct TableLine {
    pub name: String,
    /// `(epoch, metric)`.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed: a baseline (the paper's own rows are solid).
    pub dashed: bool,
    /// The published value, drawn as a thin dashed horizontal line in the line's colour.
    pub published: Option<f64>,
}

/// Width of the legend column right of a table figure's plot.
const LEGEND_W: u32 = 330;

/// Writes a table's learning curves to `path` (SVG): every row its own colour, the paper's
/// rows solid and baselines dashed, each published value as a thin dashed line in its row's
/// colour, the legend in a column beside the plot so it hides no data.
pub fn table_curves(path: &Path, title: &str, y_label: &str, lines: &[TableLine]) -> Result<()> {
    let lines: Vec<TableLine> = lines
        .iter()
        .map(|l| TableLine {
            points: finite_points(&l.points),
            ..l.clone()
        })
        .collect();
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1).chain(l.published));
    let axes = Axes {
        title,
        x_label: "epoch",
        y_label,
        x: padded(xs, 0.02, 1.0),
        y: padded(ys, 0.05, 0.0),
        x_whole: true,
        zero_line: false,
    };
    render(path, (SIZE.0 + LEGEND_W, SIZE.1), |root| {
        draw_table(root, &axes, &lines)
    })
}

fn draw_table(root: &DrawingArea<SVGBackend, Shift>, axes: &Axes, lines: &[TableLine]) -> Drawn {
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(SIZE.0);
    let mut chart = chart(&plot, axes)?;
    for (i, l) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if let Some(v) = l.published {
            let ends = [(axes.x.start, v), (axes.x.end, v)];
            chart.draw_series(DashedLineSeries::new(
                ends,
                3,
                5,
                colour.mix(0.8).stroke_width(1),
            ))?;
        }
        let style = colour.stroke_width(2);
        if l.dashed {
            chart.draw_series(DashedLineSeries::new(l.points.iter().copied(), 8, 5, style))?;
        } else {
            chart.draw_series(LineSeries::new(l.points.iter().copied(), style))?;
        }
        chart.draw_series(l.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    // The legend column: a sample of each line's stroke, its name, and its published value.
    let text =
        TextStyle::from((FONT, LABEL_PX).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 40;
    for (i, l) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let segments: &[(i32, i32)] = if l.dashed {
            &[(8, 18), (24, 34)]
        } else {
            &[(8, 40)]
        };
        for &(a, b) in segments {
            legend.draw(&PathElement::new(
                vec![(a, y), (b, y)],
                colour.stroke_width(2),
            ))?;
        }
        legend.draw(&Circle::new((24, y), 3, colour.filled()))?;
        legend.draw(&Text::new(l.name.clone(), (48, y), text.clone()))?;
        y += 22;
        if let Some(v) = l.published {
            for seg in [(8, 12), (18, 22), (28, 32), (38, 40)] {
                legend.draw(&PathElement::new(
                    vec![(seg.0, y), (seg.1, y)],
                    colour.mix(0.8).stroke_width(1),
                ))?;
            }
            let grey = BLACK.mix(0.7);
            let small = TextStyle::from((FONT, LABEL_PX - 2).into_font())
                .color(&grey)
                .pos(Pos::new(HPos::Left, VPos::Center));
            legend.draw(&Text::new(format!("published {v}"), (48, y), small))?;
            y += 22;
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        no_data(&mut chart, axes)?;
    }
    Ok(())
}

/// Writes an SVG of `series` `(name, [(x, y)])` as lines with a marker at each point.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    xy(
        path,
        (title, x_label, y_label),
        series,
        Mark::Curve,
        0.02,
        false,
    )
}

/// Writes an SVG of `series` `(name, [(x, y)])` as lines: a function sampled densely.
pub fn curve(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    xy(
        path,
        (title, x_label, y_label),
        series,
        Mark::Line,
        0.0,
        false,
    )
}

/// Writes an SVG of `series` `(name, [(x, y)])` as markers: a metric against a swept value.
pub fn scatter(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    xy(
        path,
        (title, x_label, y_label),
        series,
        Mark::Scatter,
        0.05,
        false,
    )
}

/// An x-y figure of `series` with `(title, x label, y label)`, the x range padded by `x_pad`
/// of its span.
fn xy(
    path: &Path,
    labels: (&str, &str, &str),
    series: &[Series],
    mark: Mark,
    x_pad: f64,
    x_whole: bool,
) -> Result<()> {
    let sets = finite(series);
    let points = || sets.iter().flat_map(|(_, p)| p.iter());
    let axes = Axes {
        title: labels.0,
        x_label: labels.1,
        y_label: labels.2,
        x: padded(points().map(|p| p.0), x_pad, 1.0),
        y: padded(points().map(|p| p.1), 0.05, 0.0),
        x_whole,
        zero_line: false,
    };
    figure(path, &axes, &sets, mark)
}

/// Writes an SVG of eigenvalue `sets` `(name, [(re, im)])` in the complex plane to `path`, with
/// a dashed line at Re = 0 (the stability boundary of `h' = A h`) and, given, the boundary of
/// a scheme's stability region `(name, points)` as a grey line. Equal aspect: a unit is as
/// long on both axes.
pub fn spectrum(path: &Path, title: &str, sets: &[Series], region: Option<&Series>) -> Result<()> {
    let sets = finite(sets);
    let radius = |part: fn(&(f64, f64)) -> f64| {
        let points = sets.iter().flat_map(|(_, p)| p.iter());
        points.map(|p| part(p).abs()).fold(0.0, f64::max)
    };
    // Symmetric about both axes, so Re = 0 sits in the middle, and as wide per unit as high.
    let (re, im) = (radius(|p| p.0), radius(|p| p.1));
    let r = 1.1 * if re.max(im) > 0.0 { re.max(im) } else { 1.0 };
    // The plotting area's width over its height (figure less label areas, margins, caption).
    let aspect = (SIZE.0 as f64 - 72.0 - 32.0) / (SIZE.1 as f64 - 48.0 - 32.0 - 30.0);
    let (rx, ry) = if re >= im * aspect {
        (r, r / aspect)
    } else {
        (r * aspect, r)
    };
    let axes = Axes {
        title,
        x_label: "Re λ",
        y_label: "Im λ",
        x: -rx..rx,
        y: -ry..ry,
        x_whole: false,
        zero_line: true,
    };
    let mut all: Vec<Series> = Vec::new();
    let mut marks = Vec::new();
    if let Some((name, points)) = region {
        // Only the part inside the axes: the region may be far larger than the spectrum.
        let inside = points
            .iter()
            .copied()
            .filter(|&(x, y)| x.abs() <= rx && y.abs() <= ry)
            .collect();
        all.push((name.clone(), inside));
        marks.push(Mark::Line);
    }
    all.extend(sets);
    marks.resize(all.len(), Mark::Scatter);
    figure_marks(path, &axes, &all, &marks)
}

/// How each point set is drawn.
#[derive(Clone, Copy)]
enum Mark {
    /// A line through the points, with a marker at each (a single point shows).
    Curve,
    /// Markers only.
    Scatter,
    /// A line without markers (a densely sampled function).
    Line,
}

/// Title, axis labels and ranges of one figure.
struct Axes<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: Range<f64>,
    y: Range<f64>,
    /// x is a count (epochs): ticks at whole numbers, labelled `5`, not `5.0`.
    x_whole: bool,
    /// A dashed vertical line at x = 0.
    zero_line: bool,
}

/// What plotters' drawing calls return on an SVG string backend.
type Drawn = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A figure's chart: f64 axes on an SVG string backend.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Renders one figure to a string and writes it atomically to `path`.
fn figure(path: &Path, axes: &Axes, sets: &[Series], mark: Mark) -> Result<()> {
    figure_marks(path, axes, sets, &vec![mark; sets.len()])
}

/// [`figure`] with a mark for each set.
fn figure_marks(path: &Path, axes: &Axes, sets: &[Series], marks: &[Mark]) -> Result<()> {
    render(path, SIZE, |root| draw(root, axes, sets, marks))
}

/// Draws a figure of `size` pixels with `paint` into an SVG string and writes it atomically
/// to `path`.
fn render(
    path: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        paint(&root)
            .and_then(|()| root.present())
            .map_err(|e| Error::Plot {
                path: path.to_path_buf(),
                msg: e.to_string(),
            })?;
    }
    write_atomic(path, svg.as_bytes())
}

/// The axes' chart on `area`: caption, label areas, and the mesh with its ticks and labels.
fn chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    axes: &Axes,
) -> std::result::Result<Chart<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, (FONT, TITLE_PX))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(axes.x.clone(), axes.y.clone())?;
    let (x_tick, y_tick) = (|v: &f64| tick(*v, axes.x_whole), |v: &f64| tick(*v, false));
    let x_ticks = if axes.x_whole {
        // Plotters picks at most this many "nice" ticks: a short range then gets steps of 1.
        ((axes.x.end.floor() - axes.x.start.ceil()) as usize + 1).clamp(2, 10)
    } else {
        10
    };
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .x_label_formatter(&x_tick)
        .y_label_formatter(&y_tick)
        .x_desc(axes.x_label)
        .y_desc(axes.y_label)
        .label_style((FONT, LABEL_PX))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    Ok(chart)
}

/// "no data" in the middle of an empty chart.
fn no_data(chart: &mut Chart, axes: &Axes) -> Drawn {
    let centre = (mid(&axes.x), mid(&axes.y));
    let grey = BLACK.mix(0.6);
    let style = TextStyle::from((FONT, TITLE_PX).into_font())
        .color(&grey)
        .pos(Pos::new(HPos::Center, VPos::Center));
    chart.draw_series(std::iter::once(Text::new("no data", centre, style)))?;
    Ok(())
}

fn draw(
    root: &DrawingArea<SVGBackend, Shift>,
    axes: &Axes,
    sets: &[Series],
    marks: &[Mark],
) -> Drawn {
    root.fill(&WHITE)?;
    let mut chart = chart(root, axes)?;
    if axes.zero_line {
        let ends = [(0.0, axes.y.start), (0.0, axes.y.end)];
        chart.draw_series(DashedLineSeries::new(ends, 6, 4, BLACK.stroke_width(1)))?;
    }
    for (i, (name, points)) in sets.iter().enumerate() {
        let mark = marks[i];
        let colour = COLOURS[i % COLOURS.len()];
        let points = points.iter().copied();
        let drawn =
            match mark {
                Mark::Curve => chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)).point_size(3))?,
                Mark::Scatter => chart
                    .draw_series(points.map(|p| Circle::new(p, 3, colour.mix(0.7).filled())))?,
                Mark::Line => chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?,
            };
        // A scatter's legend line is transparent (the SVG backend skips it): one element type.
        let line = colour.mix(if let Mark::Scatter = mark { 0.0 } else { 1.0 });
        drawn.label(name).legend(move |at| {
            EmptyElement::at(at)
                + PathElement::new([(0, 0), (20, 0)], line.stroke_width(2))
                + Circle::new((10, 0), 3, colour.filled())
        });
    }
    if !sets.is_empty() {
        chart
            .configure_series_labels()
            .position(legend_corner(axes, sets))
            .label_font((FONT, LABEL_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    if sets.iter().all(|(_, p)| p.is_empty()) {
        no_data(&mut chart, axes)?;
    }
    Ok(())
}

/// The corner whose quarter-size box holds the fewest points (upper right on ties), so the
/// legend hides as little as it can.
fn legend_corner(axes: &Axes, sets: &[Series]) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    let near_end = |v: f64, r: &Range<f64>, end: bool| {
        let t = (v - r.start) / (r.end - r.start);
        if end { t > 0.65 } else { t < 0.35 }
    };
    let count = |right: bool, upper: bool| {
        sets.iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|&&(x, y)| near_end(x, &axes.x, right) && near_end(y, &axes.y, upper))
            .count()
    };
    [
        (UpperRight, true, true),
        (UpperLeft, false, true),
        (LowerRight, true, false),
        (LowerLeft, false, false),
    ]
    .into_iter()
    .min_by_key(|&(_, right, upper)| count(right, upper))
    .map_or(UpperRight, |(corner, ..)| corner)
}

/// `sets` without their non-finite points.
fn finite(sets: &[Series]) -> Vec<Series> {
    sets.iter()
        .map(|(name, p)| (name.clone(), finite_points(p)))
        .collect()
}

/// `points` without the non-finite ones.
fn finite_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// `[min, max]` of `values` widened by `frac` of its span on each side; a single value (or a
/// span at rounding level) by 10% of its size or `min_half`, whichever is more (1 if both
/// are 0); no values `0..1`.
fn padded(values: impl Iterator<Item = f64>, frac: f64, min_half: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let size = lo.abs().max(hi.abs());
    let pad = if hi - lo > 1e-12 * size {
        frac * (hi - lo)
    } else {
        (0.1 * size).max(min_half)
    };
    let pad = if pad > 0.0 { pad } else { 1.0 };
    lo - pad..hi + pad
}

/// Plotters' tick label for `v`, less the sign of a zero tick that rounding left at -1e-17
/// ("-0.0"), and less the ".0" of a whole number when `whole`.
fn tick(v: f64, whole: bool) -> String {
    let label = RangedCoordf64::format(&v);
    let label = match label.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => label,
    };
    match label.strip_suffix(".0") {
        Some(int) if whole => int.to_string(),
        _ => label,
    }
}

fn mid(r: &Range<f64>) -> f64 {
    0.5 * (r.start + r.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, points: &[(f64, f64)]) -> Series {
        (name.to_string(), points.to_vec())
    }

    /// The file's text, after checking it is a whole SVG with `texts` among its `<text>`
    /// elements and no temporary file left.
    fn svg(path: &Path, texts: &[&str]) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
        assert!(text.trim_end().ends_with("</svg>"));
        let shown: Vec<&str> = text
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        for t in texts {
            assert!(shown.contains(t), "no text `{t}` in {shown:?}");
        }
        assert!(!Path::new(&format!("{}.tmp", path.display())).exists());
        text
    }

    #[test]
    fn learning_curves_draw_lines_markers_and_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.svg");
        let series = [
            set("train_loss", &[(1.0, 2.3), (2.0, 1.1), (3.0, 0.7)]),
            set("val_loss", &[(1.0, 2.4), (2.0, f64::NAN), (3.0, 0.9)]),
        ];
        learning_curves(&path, "sMNIST run", "loss", &series).unwrap();
        let text = svg(
            &path,
            &["sMNIST run", "loss", "epoch", "train_loss", "val_loss"],
        );
        assert!(text.contains("<polyline") && text.contains("<circle"));
        assert!(!text.contains("NaN"));
    }

    /// Eleven rows get eleven colours (tab10 alone would repeat the first), the paper's rows
    /// solid, baselines dashed, published values as lines named in the legend.
    #[test]
    fn table_curves_give_every_row_its_colour_and_baselines_dashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.svg");
        let lines: Vec<TableLine> = (0..11)
            .map(|i| TableLine {
                name: format!("row {i}"),
                points: vec![(1.0, 0.1 * i as f64), (2.0, 0.1 * i as f64 + 0.05)],
                dashed: i > 0,
                published: (i == 0).then_some(0.994),
            })
            .collect();
        table_curves(&path, "mnist (quick profile): smnist", "test acc", &lines).unwrap();
        let text = svg(
            &path,
            &[
                "mnist (quick profile): smnist",
                "row 0",
                "row 10",
                "published 0.994",
            ],
        );
        let colour = |c: RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        let (first, eleventh) = (colour(COLOURS[0]), colour(COLOURS[10]));
        assert_ne!(first, eleventh);
        assert!(
            text.contains(&first) && text.contains(&eleventh),
            "eleventh colour missing"
        );
        let distinct: std::collections::HashSet<_> = COLOURS.iter().map(|c| colour(*c)).collect();
        assert_eq!(distinct.len(), COLOURS.len());
    }

    #[test]
    fn learning_curve_of_one_point_and_of_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.svg");
        learning_curves(
            &one,
            "one epoch",
            "val_acc",
            &[set("val_acc", &[(1.0, 0.98)])],
        )
        .unwrap();
        assert!(svg(&one, &["one epoch", "val_acc"]).contains("<circle"));
        let empty = dir.path().join("empty.svg");
        learning_curves(&empty, "nothing yet", "loss", &[]).unwrap();
        svg(&empty, &["nothing yet", "no data"]);
        let all_nan = dir.path().join("nan.svg");
        let nan = [set("test_acc", &[(f64::NAN, 0.5), (2.0, f64::INFINITY)])];
        learning_curves(&all_nan, "diverged", "acc", &nan).unwrap();
        svg(&all_nan, &["diverged", "test_acc", "no data"]);
    }

    #[test]
    fn spectrum_scatters_sets_with_a_zero_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spectrum.svg");
        let sets = [
            set("A", &[(-0.01, 0.5), (-0.01, -0.5), (f64::NAN, 0.0)]),
            set("W", &[(0.2, 0.0), (-0.3, 0.0)]),
        ];
        spectrum(&path, "eigenvalues", &sets, None).unwrap();
        let text = svg(&path, &["eigenvalues", "Re λ", "Im λ", "A", "W"]);
        // Four eigenvalues and two legend markers.
        assert!(text.matches("<circle").count() >= 6);
        // The dashed Re = 0 line is drawn as short segments.
        assert!(text.matches("<polyline").count() > 10);
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/spectrum.svg");
        let err = spectrum(&path, "t", &[], None).unwrap_err().to_string();
        assert!(err.contains("no/such/dir"), "{err}");
    }

    #[test]
    fn ranges_pad_and_survive_degenerate_input() {
        assert_eq!(padded([1.0, 3.0].into_iter(), 0.5, 0.0), 0.0..4.0);
        assert_eq!(padded([10.0].into_iter(), 0.5, 0.0), 9.0..11.0);
        assert_eq!(padded([1.0].into_iter(), 0.5, 1.0), 0.0..2.0);
        assert_eq!(padded([0.0, 0.0].into_iter(), 0.5, 0.0), -1.0..1.0);
        assert_eq!(padded(std::iter::empty(), 0.5, 0.0), 0.0..1.0);
        assert_eq!(tick(-1e-17, false), "0.0");
        assert_eq!(tick(-0.5, false), "-0.5");
        assert_eq!(
            (tick(5.0, true), tick(5.0, false)),
            ("5".into(), "5.0".into())
        );
    }
}
