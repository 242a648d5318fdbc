//! The timeline chart (plotters): stacked panels on one UTC time axis — demand (attempts,
//! failures, the baseline), capacity (nodes online) and changes (reboots, installs, other) —
//! with phases shaded and key moments marked. The same drawing goes to SVG and to PNG, with
//! an embedded font so it looks the same on a machine with no fonts installed.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

pub const SIZE: (u32, u32) = (1600, 900);
const FONT: &str = "sans-serif";

/// One line of a panel. `bold` for a smooth line (a baseline): plotters' thick strokes go
/// wrong on steep segments, so lines of raw values are drawn one pixel wide.
pub struct Line {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub bold: bool,
}

/// A panel: a title, a unit and its lines; `integer` for counts (axis labels without a
/// fraction).
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub integer: bool,
    pub lines: Vec<Line>,
}

/// Everything the chart shows. x is in `unit_ms` since `origin_ms` (midnight or the hour
/// before the data), so the axis' round numbers fall on days or hours.
pub struct Timeline {
    pub title: String,
    pub origin_ms: i64,
    pub unit_ms: i64,
    pub x_min: f64,
    pub x_max: f64,
    pub panels: Vec<Panel>,
    /// (name, from, to) in x units.
    pub phases: Vec<(String, f64, f64)>,
    /// (label, at) in x units; an empty label marks the moment without naming it.
    pub marks: Vec<(String, f64)>,
}

/// Phases get a lane each in a strip above each panel's plot, so phases that overlap stay
/// apart (and a light shade over the plot where they are).
const PHASE_LANES: [&str; 5] = ["trigger", "surge", "exhaustion", "degraded", "recovery"];
/// Rows of labels for marks, above the panels, so labels cross neither lines nor each other.
const LABEL_ROWS: i32 = 3;

/// The width left of each panel for its unit and y labels, in pixels.
const Y_LABEL_AREA: u32 = 104;

fn register_font() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // DejaVu Sans (free licence, see fonts/DejaVu-LICENSE.txt), so PNGs need no system font.
        let bytes: &'static [u8] = include_bytes!("fonts/DejaVuSans.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the embedded font is a valid TTF"));
    });
}

fn phase_color(name: &str) -> RGBColor {
    match name {
        "trigger" => RGBColor(120, 144, 156),
        "surge" => RGBColor(255, 152, 0),
        "exhaustion" => RGBColor(229, 57, 53),
        "degraded" => RGBColor(171, 71, 188),
        _ => RGBColor(67, 160, 71),
    }
}

fn fmt_time(t: &Timeline, x: f64) -> String {
    let ms = t.origin_ms + (x * t.unit_ms as f64).round() as i64;
    let d = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let span_h = (t.x_max - t.x_min) * t.unit_ms as f64 / 3_600_000.0;
    if span_h > 72.0 {
        d.format("%b %d").to_string()
    } else if span_h > 20.0 {
        d.format("%b %d %H:%M").to_string()
    } else {
        d.format("%H:%M").to_string()
    }
}

/// Draws the timeline on any plotters backend.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &Timeline) -> Result<(), String> {
    register_font();
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| err.to_string();
    root.fill(&WHITE).map_err(e)?;
    let (head, body) = root.split_vertically(56);
    head.draw(&Text::new(t.title.clone(), (24, 14), (FONT, 30).into_font().color(&BLACK)))
        .map_err(e)?;
    // The phase legend, right-aligned in the header.
    let mut x = SIZE.0 as i32 - 24;
    let mut names: Vec<&str> = Vec::new();
    for (name, _, _) in &t.phases {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    for name in names.into_iter().rev() {
        let w = 14 + 11 * name.len() as i32;
        x -= w + 24;
        head.draw(&Rectangle::new([(x, 22), (x + 16, 38)], phase_color(name).mix(0.35).filled()))
            .map_err(e)?;
        head.draw(&Text::new(name.to_string(), (x + 22, 20), (FONT, 22).into_font().color(&BLACK)))
            .map_err(e)?;
    }
    // The label strip only when there are labels (whatif's chart has none).
    let named = t.marks.iter().any(|(l, _)| !l.is_empty());
    let (labels, body) = body.split_vertically(if named { 12 + 22 * LABEL_ROWS as u32 } else { 0 });
    let n = t.panels.len().max(1);
    let areas = body.split_evenly((n, 1));
    for (k, (area, panel)) in areas.iter().zip(&t.panels).enumerate() {
        let values = || panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
        // Counts start at 0; a metric may go below it.
        let lo = values().fold(0.0f64, f64::min);
        let hi = values().fold(0.0f64, f64::max).max(lo + 1.0);
        let (ymin, ymax) =
            (if lo < 0.0 { lo - 0.12 * (hi - lo) } else { 0.0 }, hi + 0.12 * (hi - lo));
        let last = k + 1 == n;
        let mut chart = ChartBuilder::on(area)
            .margin_left(16)
            .margin_right(32)
            .margin_top(8)
            .x_label_area_size(if last { 50 } else { 8 })
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(t.x_min..t.x_max.max(t.x_min + 1e-3), ymin..ymax)
            .map_err(e)?;
        let formatter = |x: &f64| fmt_time(t, *x);
        let y_formatter = |y: &f64| {
            if panel.integer {
                format!("{:.0}", y)
            } else {
                crate::units::short_number(crate::units::round_to(*y, 2), 2)
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(if last { 9 } else { 0 })
            .y_labels(4)
            .x_label_formatter(&formatter)
            .y_label_formatter(&y_formatter)
            .y_desc(panel.unit.clone())
            .label_style((FONT, 22))
            .axis_desc_style((FONT, 22))
            .light_line_style(RGBColor(238, 238, 238));
        mesh.draw().map_err(e)?;
        // Phases: a light shade over the plot, and a solid bar in the phase's own lane at the
        // top, so overlapping phases stay distinguishable.
        let lane_h = (ymax - ymin) * 0.035;
        for (name, a, b) in &t.phases {
            let b = b.max(*a + (t.x_max - t.x_min) / 400.0);
            let lane = PHASE_LANES.iter().position(|l| l == name).unwrap_or(PHASE_LANES.len() - 1);
            let top = ymax - lane_h * lane as f64;
            chart
                .draw_series([
                    Rectangle::new([(*a, ymin), (b, ymax)], phase_color(name).mix(0.08).filled()),
                    Rectangle::new(
                        [(*a, top - lane_h * 0.8), (b, top)],
                        phase_color(name).mix(0.8).filled(),
                    ),
                ])
                .map_err(e)?;
        }
        for (label, at) in &t.marks {
            let style = if label.is_empty() { BLACK.mix(0.2) } else { BLACK.mix(0.5) };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*at, ymin), (*at, ymax)],
                    style,
                )))
                .map_err(e)?;
        }
        for line in &panel.lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    color.stroke_width(if line.bold { 3 } else { 1 }),
                ))
                .map_err(e)?
                .label(line.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 22))
            .draw()
            .map_err(e)?;
    }
    // Key moments, labelled once in their own strip above the panels, each on the first row
    // where it overlaps no other label; one that fits on none is left unlabelled (its line
    // is still drawn).
    let (w, h) = labels.dim_in_pixel();
    let plot_w = w as f64 - f64::from(Y_LABEL_AREA) - 16.0 - 32.0;
    let mut taken: Vec<Vec<(i32, i32)>> = vec![Vec::new(); LABEL_ROWS as usize];
    for (label, at) in t.marks.iter().filter(|(l, _)| !l.is_empty()) {
        let px = (16.0
            + f64::from(Y_LABEL_AREA)
            + plot_w * (at - t.x_min) / (t.x_max - t.x_min).max(1e-3)) as i32;
        let width = 10 * label.chars().count() as i32 + 16;
        let free = |r: &Vec<(i32, i32)>| r.iter().all(|(a, b)| px + width < *a || px > *b + 8);
        let Some(row) = taken.iter().position(free) else { continue };
        taken[row].push((px, px + width));
        let y = 6 + 22 * row as i32;
        labels
            .draw(&PathElement::new(vec![(px, y + 2), (px, h as i32)], BLACK.mix(0.5)))
            .map_err(e)?;
        labels
            .draw(&Text::new(label.clone(), (px + 4, y), (FONT, 22).into_font().color(&BLACK)))
            .map_err(e)?;
    }
    root.present().map_err(e)
}

/// The chart as SVG text.
pub fn svg(t: &Timeline) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, t)?;
    }
    Ok(out)
}

/// The chart as a PNG file.
pub fn png(t: &Timeline, path: &std::path::Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&root, t)
}
