//! Figures: learning curves (a metric per epoch, one line a run or split) and eigenvalue
//! spectra in the complex plane. Plotters draws each as SVG, the only drawing code; the SVG is
//! then rendered with the system fonts to a PNG (2x, for print) and a PDF beside it, so the
//! three files agree (without a font only the SVG is written, after a warning). Every file is
//! written to `path.tmp`, then renamed, so a reader never sees half a file. Non-finite points
//! (a diverged epoch, a NaN metric) are skipped, not drawn.

use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use resvg::tiny_skia::{self, Pixmap, Transform};
use resvg::usvg::{Options, Tree, fontdb::Database};

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Figure size in pixels.
const SIZE: (u32, u32) = (800, 520);
/// One panel of a [`spectra`] figure, in pixels: room for a row's label and task as its title.
const PANEL: (u32, u32) = (560, 480);
/// Panels in a row of a [`spectra`] figure, at most: three fit a page's width.
const PANEL_COLUMNS: usize = 3;
const FONT: &str = "sans-serif";
/// The family `sans-serif` means in the PNG and PDF where it is installed (`fonts-dejavu-core`).
const SANS: &str = "DejaVu Sans";
/// PNG pixels a figure pixel: a 800-pixel-wide figure is 1600 pixels wide, enough for print.
const PNG_SCALE: f32 = 2.0;
/// Pixels an inch of the SVG, as CSS has it: the PDF's page is the figure at 72 points an inch.
const SVG_DPI: f32 = 96.0;
/// The chart's margin and label areas in pixels (the spectrum's equal aspect depends on them).
const MARGIN: u32 = 16;
const X_LABEL_AREA: u32 = 48;
const Y_LABEL_AREA: u32 = 72;
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

/// Width of the legend column right of a table figure's plot, at least: wider for long names.
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
        inner_legend: true,
    };
    // Room for the longest name after its key (8 + 40 pixels) and a margin.
    let names = lines.iter().map(|l| text_width(&l.name, LABEL_PX));
    let legend = names.map(|w| 8 + 40 + w + 16).fold(LEGEND_W, u32::max);
    render(path, (SIZE.0 + legend, SIZE.1), |root| {
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
    let grey = BLACK.mix(0.7);
    let small = legend_text(LABEL_PX - 2).color(&grey);
    let mut y = 40;
    for (i, l) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let key = Key::Curve { dashed: l.dashed };
        legend_entry(
            &legend,
            (8, y),
            key,
            colour,
            &l.name,
            &legend_text(LABEL_PX),
        )?;
        y += LEGEND_ROW;
        if let Some(v) = l.published {
            let name = format!("published {v}");
            legend_entry(&legend, (8, y), Key::Published, colour, &name, &small)?;
            y += LEGEND_ROW;
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        no_data(&mut chart, axes)?;
    }
    Ok(())
}

/// Pixels between the rows of a legend drawn by [`legend_entry`].
const LEGEND_ROW: i32 = 22;

/// The sample a legend entry shows of its line or points.
#[derive(Clone, Copy)]
enum Key {
    /// A line with a marker (dashed: a baseline).
    Curve { dashed: bool },
    /// A thin dashed line: a published value.
    Published,
    /// A marker alone: a scatter.
    Dot,
    /// A line alone: a densely sampled function.
    Line,
}

/// The legend's text style at `px` pixels, left-aligned and centred on its row.
fn legend_text(px: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, px).into_font()).pos(Pos::new(HPos::Left, VPos::Center))
}

/// The width of `text` at `px` pixels: plotters' estimate (close for DejaVu Sans) and a tenth
/// to spare.
fn text_width(text: &str, px: u32) -> u32 {
    let font = (FONT, px).into_font();
    font.box_size(text)
        .map_or(px * text.len() as u32, |(w, _)| w * 11 / 10)
}

/// Draws one legend entry on `area` from `(x, y)` on: the sample of `key` in `colour` (32
/// pixels), then `name`.
fn legend_entry(
    area: &DrawingArea<SVGBackend, Shift>,
    (x, y): (i32, i32),
    key: Key,
    colour: RGBColor,
    name: &str,
    text: &TextStyle,
) -> Drawn {
    let segments = |parts: &[(i32, i32)], style: ShapeStyle| {
        parts.iter().try_for_each(|&(a, b)| {
            area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], style))
        })
    };
    let dot = || area.draw(&Circle::new((x + 16, y), 3, colour.filled()));
    match key {
        Key::Curve { dashed: false } => {
            segments(&[(0, 32)], colour.stroke_width(2)).and_then(|()| dot())
        }
        Key::Curve { dashed: true } => {
            segments(&[(0, 10), (16, 26)], colour.stroke_width(2)).and_then(|()| dot())
        }
        Key::Published => segments(
            &[(0, 4), (10, 14), (20, 24), (30, 32)],
            colour.mix(0.8).stroke_width(1),
        ),
        Key::Dot => dot(),
        Key::Line => segments(&[(0, 32)], colour.stroke_width(2)),
    }?;
    area.draw(&Text::new(name.to_string(), (x + 40, y), text.clone()))
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
        inner_legend: true,
    };
    figure(path, &axes, &sets, mark)
}

/// Writes a figure of eigenvalue `sets` `(name, [(re, im)])` in the complex plane to `path`,
/// with a dashed line at Re = 0 (the stability boundary of `h' = A h`) and, given, the boundary
/// of a scheme's stability region `(name, points)` as a line, the legend below the plot.
/// Equal aspect: a unit is as long on both axes.
pub fn spectrum(path: &Path, title: &str, sets: &[Series], region: Option<&Series>) -> Result<()> {
    let panel = SpectrumPanel {
        title: title.to_string(),
        sets: sets.to_vec(),
        region: region.cloned(),
    };
    render(path, SIZE, |root| draw_spectrum(root, &panel))
}

/// One spectrum of a [`spectra`] figure: its title, eigenvalue sets `(name, [(re, im)])` and
/// the scheme's stability region, as [`spectrum`] takes them.
#[derive(Clone, Debug)]
pub struct SpectrumPanel {
    pub title: String,
    pub sets: Vec<Series>,
    pub region: Option<Series>,
}

/// Writes `panels` as one figure to `path`: a grid, up to three panels a row, each drawn as
/// [`spectrum`] draws its figure (equal aspect in every panel). Nothing is written without
/// panels.
pub fn spectra(path: &Path, panels: &[SpectrumPanel]) -> Result<()> {
    if panels.is_empty() {
        return Ok(());
    }
    // A row of up to three, else as square a grid as three columns allow (2 x 2 for four).
    let n = panels.len();
    let side = n.isqrt() + usize::from(n.isqrt().pow(2) < n);
    let columns = if n <= PANEL_COLUMNS {
        n
    } else {
        side.min(PANEL_COLUMNS)
    };
    let rows = panels.len().div_ceil(columns);
    let size = (PANEL.0 * columns as u32, PANEL.1 * rows as u32);
    render(path, size, |root| {
        root.fill(&WHITE)?;
        let areas = root.split_evenly((rows, columns));
        for (area, panel) in areas.iter().zip(panels) {
            draw_spectrum(area, panel)?;
        }
        Ok(())
    })
}

/// Draws `panel` on `area`: axes symmetric about 0, as long a unit on both, over the
/// eigenvalues, and the legend below them, where it hides none.
fn draw_spectrum(area: &DrawingArea<SVGBackend, Shift>, panel: &SpectrumPanel) -> Drawn {
    area.fill(&WHITE)?;
    let sets = finite(&panel.sets);
    let lines = usize::from(panel.region.is_some());
    let mut marks = vec![Mark::Line; lines];
    marks.resize(lines + sets.len(), Mark::Scatter);
    let (_, h) = area.dim_in_pixel();
    let (plot, legend) = area.split_vertically(h.saturating_sub(key_height(&marks)));
    let (rx, ry) = equal_ranges(&sets, plot_aspect(&plot, &panel.title)?);
    // Only the part of the region inside the axes: it may be far larger than the spectrum.
    let region = panel.region.iter().map(|(name, points)| {
        let inside = points.iter().copied();
        let inside = inside.filter(|&(x, y)| x.abs() <= rx && y.abs() <= ry);
        (name.clone(), inside.collect())
    });
    let all: Vec<Series> = region.chain(sets.iter().cloned()).collect();
    let axes = Axes {
        title: &panel.title,
        x_label: "Re λ",
        y_label: "Im λ",
        x: -rx..rx,
        y: -ry..ry,
        x_whole: false,
        zero_line: true,
        inner_legend: false,
    };
    draw(&plot, &axes, &all, &marks)?;
    legend_below(&legend, &all, &marks)
}

/// Half-widths `(rx, ry)` of axes symmetric about 0 (so Re = 0 sits in the middle) that hold
/// `sets` with a tenth to spare and are as long a unit on both axes on a plot of width over
/// height `aspect`.
fn equal_ranges(sets: &[Series], aspect: f64) -> (f64, f64) {
    let radius = |part: fn(&(f64, f64)) -> f64| {
        let points = sets.iter().flat_map(|(_, p)| p.iter());
        points.map(|p| part(p).abs()).fold(0.0, f64::max)
    };
    let (re, im) = (radius(|p| p.0), radius(|p| p.1));
    let r = 1.1 * if re.max(im) > 0.0 { re.max(im) } else { 1.0 };
    if re >= im * aspect {
        (r, r / aspect)
    } else {
        (r * aspect, r)
    }
}

/// Pixels a [`legend_below`] of sets drawn with `marks` takes.
fn key_height(marks: &[Mark]) -> u32 {
    let lines = marks.iter().filter(|m| matches!(m, Mark::Line)).count();
    let rows = lines + usize::from(lines < marks.len());
    LEGEND_ROW as u32 * rows as u32 + 12
}

/// The legend of `sets` drawn with `marks` (colours in order, as [`draw`] gives them) on
/// `area`, below a chart and from its left edge: each line (they come first) on its own row,
/// as a region's name is long, then the point sets side by side.
fn legend_below(area: &DrawingArea<SVGBackend, Shift>, sets: &[Series], marks: &[Mark]) -> Drawn {
    let text = legend_text(LABEL_PX);
    let left = (MARGIN + Y_LABEL_AREA) as i32;
    let mut y = LEGEND_ROW / 2;
    let mut x = left;
    for (i, ((name, _), mark)) in sets.iter().zip(marks).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let key = match mark {
            Mark::Line => Key::Line,
            Mark::Scatter => Key::Dot,
            Mark::Curve => Key::Curve { dashed: false },
        };
        legend_entry(area, (x, y), key, colour, name, &text)?;
        if let Mark::Line = mark {
            y += LEGEND_ROW;
        } else {
            x += 40 + text_width(name, LABEL_PX) as i32 + 24;
        }
    }
    Ok(())
}

/// Width over height of the plotting area [`chart`] leaves on `area` under a caption `title`.
fn plot_aspect(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
) -> std::result::Result<f64, DrawingAreaErrorKind<std::io::Error>> {
    let (w, h) = area.dim_in_pixel();
    // Plotters' caption: the text's estimated height and a padding of up to 5 above and below.
    let style = TextStyle::from((FONT, TITLE_PX).into_font());
    let (_, text_h) = area.estimate_text_size(title, &style)?;
    let caption = text_h + 2 * (text_h / 2).min(5);
    let width = w.saturating_sub(2 * MARGIN + Y_LABEL_AREA).max(1);
    let height = h.saturating_sub(2 * MARGIN + X_LABEL_AREA + caption).max(1);
    Ok(f64::from(width) / f64::from(height))
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
    /// The series' legend in a corner of the chart (else the caller draws it elsewhere).
    inner_legend: bool,
}

/// What plotters' drawing calls return on an SVG string backend.
type Drawn = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A figure's chart: f64 axes on an SVG string backend.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Renders one figure of `SIZE` and writes it to `path`'s stem (see [`render`]).
fn figure(path: &Path, axes: &Axes, sets: &[Series], mark: Mark) -> Result<()> {
    render(path, SIZE, |root| {
        draw(root, axes, sets, &vec![mark; sets.len()])
    })
}

/// Draws a figure of `size` pixels with `paint` into an SVG string and writes it, with its PNG
/// and PDF, under `path`'s stem (see [`save`]).
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
            .map_err(|e| plot_error(path, e))?;
    }
    save(path, &svg, fonts())
}

/// `path` less a `.svg`, `.png` or `.pdf` extension: where a figure's three files go.
fn stem(path: &Path) -> PathBuf {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png" | "pdf") => path.with_extension(""),
        _ => path.to_path_buf(),
    }
}

/// The files a figure written to `path` has, for messages: `STEM.{svg,png,pdf}`, or only the
/// SVG where no font was found.
pub fn written(path: &Path) -> String {
    let stem = stem(path);
    let formats = if fonts().is_some() {
        "{svg,png,pdf}"
    } else {
        "svg"
    };
    format!("{}.{formats}", stem.display())
}

/// `stem.ext`, keeping any dots of the stem (`with_extension` would replace its last part).
fn sibling(stem: &Path, ext: &str) -> PathBuf {
    let mut name = OsString::from(stem.as_os_str());
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Writes `svg` to `STEM.svg` and, given `fonts`, the PNG (white background, [`PNG_SCALE`]
/// times its size) and the PDF rendered from it to `STEM.png` and `STEM.pdf`.
fn save(path: &Path, svg: &str, fonts: Option<&Arc<Database>>) -> Result<()> {
    let stem = stem(path);
    let svg_path = sibling(&stem, "svg");
    write_atomic(&svg_path, svg.as_bytes())?;
    let Some(fonts) = fonts else {
        // An earlier figure's PNG or PDF would not agree with this SVG.
        for ext in ["png", "pdf"] {
            let _ = std::fs::remove_file(sibling(&stem, ext));
        }
        return Ok(());
    };
    let options = Options {
        fontdb: Arc::clone(fonts),
        ..Options::default()
    };
    let tree = Tree::from_str(svg, &options).map_err(|e| plot_error(&svg_path, e))?;
    let png = png(&tree).ok_or_else(|| plot_error(&svg_path, "PNG: cannot rasterise"))?;
    write_atomic(&sibling(&stem, "png"), &png)?;
    let page = svg2pdf::PageOptions { dpi: SVG_DPI };
    let pdf = svg2pdf::to_pdf(&tree, svg2pdf::ConversionOptions::default(), page)
        .map_err(|e| plot_error(&svg_path, format!("PDF: {e}")))?;
    write_atomic(&sibling(&stem, "pdf"), &pdf)
}

/// `tree` rasterised at [`PNG_SCALE`] on white, as PNG bytes.
fn png(tree: &Tree) -> Option<Vec<u8>> {
    let size = tree.size().to_int_size().scale_by(PNG_SCALE)?;
    let mut pixmap = Pixmap::new(size.width(), size.height())?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let scale = Transform::from_scale(PNG_SCALE, PNG_SCALE);
    resvg::render(tree, scale, &mut pixmap.as_mut());
    pixmap.encode_png().ok()
}

/// The system fonts, loaded once, with `sans-serif` mapped to [`SANS`] where installed (else
/// to any installed family); `None`, after one warning, where there are none.
fn fonts() -> Option<&'static Arc<Database>> {
    static FONTS: OnceLock<Option<Arc<Database>>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let fonts = system_fonts();
            if fonts.is_none() {
                eprintln!(
                    "warning: no system font found (install fonts-dejavu-core): figures are written as SVG only, without PNG and PDF"
                );
            }
            fonts
        })
        .as_ref()
}

/// A font database of the system's fonts, or `None` when it has no face.
fn system_fonts() -> Option<Arc<Database>> {
    let mut db = Database::new();
    db.load_system_fonts();
    let has = |family: &str| {
        db.faces()
            .any(|f| f.families.iter().any(|(name, _)| name == family))
    };
    let family = if has(SANS) {
        SANS.to_string()
    } else {
        db.faces().next()?.families.first()?.0.clone()
    };
    db.set_sans_serif_family(family);
    Some(Arc::new(db))
}

/// A figure's error: `path` and what went wrong.
fn plot_error(path: &Path, msg: impl ToString) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// The axes' chart on `area`: caption, label areas, and the mesh with its ticks and labels.
fn chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    axes: &Axes,
) -> std::result::Result<Chart<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, (FONT, TITLE_PX))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
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
    if axes.inner_legend && !sets.is_empty() {
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

    /// Dark pixels (luma below 100) of `rows` in a PNG.
    fn dark_pixels(png: &image::GrayImage, rows: Range<u32>) -> usize {
        rows.flat_map(|y| (0..png.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y).0[0] < 100)
            .count()
    }

    /// The PNG beside an SVG is the figure at twice its size on white, with its title's
    /// glyphs drawn (no font would leave the strip blank); the PDF embeds the font.
    #[test]
    fn png_and_pdf_are_written_beside_the_svg_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.svg");
        let series = [set("train_acc", &[(1.0, 0.5), (2.0, 0.7)])];
        learning_curves(&path, "sMNIST learning curves", "acc", &series).unwrap();
        let png = image::open(dir.path().join("curves.png"))
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (2 * SIZE.0, 2 * SIZE.1));
        assert_eq!(png.get_pixel(0, 0).0[0], 255, "background not white");
        // Above the caption only the white margin; the caption's glyphs below it.
        let scale = PNG_SCALE as u32;
        assert_eq!(dark_pixels(&png, 0..scale * MARGIN), 0);
        let title = dark_pixels(&png, scale * MARGIN..scale * (MARGIN + TITLE_PX + 10));
        assert!(title > 500, "{title} dark pixels in the title strip");
        let pdf = std::fs::read(dir.path().join("curves.pdf")).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let has = |needle: &[u8]| pdf.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"/FontFile2") && has(b"DejaVu"), "no embedded font");
    }

    /// `--out F.png` or `F.pdf` names the same three files as `F.svg`, and a dotted stem keeps
    /// its dots.
    #[test]
    fn a_png_or_pdf_path_writes_all_three_under_its_stem() {
        let dir = tempfile::tempdir().unwrap();
        let series = [set("loss", &[(1.0, 1.0), (2.0, 0.5)])];
        for name in ["a.v2.png", "b.pdf"] {
            learning_curves(&dir.path().join(name), "t", "loss", &series).unwrap();
        }
        for stem in ["a.v2", "b"] {
            for ext in ["svg", "png", "pdf"] {
                assert!(
                    dir.path().join(format!("{stem}.{ext}")).exists(),
                    "{stem}.{ext}"
                );
            }
        }
        assert_eq!(stem(Path::new("x/f.svg")), Path::new("x/f"));
        assert_eq!(stem(Path::new("x/f.v1")), Path::new("x/f.v1"));
    }

    /// Without fonts the SVG is still written, and a PNG or PDF of an earlier figure removed.
    #[test]
    fn without_fonts_only_the_svg_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("f.png");
        std::fs::write(&stale, b"old").unwrap();
        save(&dir.path().join("f.svg"), "<svg></svg>", None).unwrap();
        assert!(dir.path().join("f.svg").exists());
        assert!(!stale.exists() && !dir.path().join("f.pdf").exists());
    }

    /// Three rows give one figure of three panels side by side, each with its title and axes;
    /// no rows give no figure.
    #[test]
    fn spectra_draw_a_panel_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spectra.svg");
        let panels: Vec<SpectrumPanel> = (1..=3)
            .map(|i| SpectrumPanel {
                title: format!("row {i} (smnist)"),
                sets: vec![set("A", &[(-0.1 * i as f64, 0.5), (-0.1 * i as f64, -0.5)])],
                region: Some(set("Euler", &[(-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)])),
            })
            .collect();
        spectra(&path, &panels).unwrap();
        let text = svg(
            &path,
            &["row 1 (smnist)", "row 2 (smnist)", "row 3 (smnist)"],
        );
        assert_eq!(text.matches("(smnist)").count(), 3);
        assert_eq!(text.matches("Re λ").count(), 3);
        let png = image::open(dir.path().join("spectra.png")).unwrap();
        let scale = PNG_SCALE as u32;
        assert_eq!(
            (png.width(), png.height()),
            (3 * scale * PANEL.0, scale * PANEL.1)
        );
        let none = dir.path().join("none.svg");
        spectra(&none, &[]).unwrap();
        assert!(!none.exists());
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
