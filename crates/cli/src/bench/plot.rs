//! `--plot FILE.svg`: the latency-percentile chart of a run. The x axis is the percentile on
//! a log scale of 1/(1 - p), so 90%, 99%, 99.9% and 99.99% are evenly spaced and the tail is
//! visible; the y axis is the latency on a log scale; one line per operation kind, and each
//! kind's p99 target as a dashed line in its colour.

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::report::{LOOKUP_P99_US, ONBOARDING_P99_US, WRITE_P99_US};
use super::workload::Recorder;
use crate::output::path_text;
use crate::safe_file::Target;

/// The deepest percentile drawn: 1 - 10^-5 (99.999%).
const MAX_NINES: f64 = 5.0;

/// The curve of `h`: (nines, latency µs), where nines = -log10(1 - p), up to the percentile
/// its sample count still resolves.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let resolvable = (h.len() as f64).log10().min(MAX_NINES);
    let steps = 200;
    (0..=steps)
        .map(|i| resolvable * i as f64 / steps as f64)
        .map(|nines| {
            let q = 1.0 - 10f64.powf(-nines);
            let us = h.value_at_quantile(q.min(1.0)) as f64 / 1_000.0;
            (nines, us.max(0.1))
        })
        .collect()
}

fn percentile_label(nines: &f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    match nines.round() as i64 {
        0 => "0%".into(),
        n => format!("{p:.*}%", (n - 2).max(0) as usize),
    }
}

fn latency_label(us: &f64) -> String {
    // Axis ticks fall on powers of ten: no decimals needed.
    let us = *us;
    if us >= 1_000_000.0 {
        format!("{:.0} s", us / 1_000_000.0)
    } else if us >= 1_000.0 {
        format!("{:.0} ms", us / 1_000.0)
    } else if us >= 1.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

/// Writes the chart of `recorder` to `target` (SVG), whole or not at all.
pub fn write(target: &Target, title: &str, recorder: &Recorder) -> anyhow::Result<()> {
    let mut svg = String::new();
    render(&mut svg, &path_text(target.shown()), title, recorder)?;
    target.write(svg.as_bytes())
}

/// One line of the chart: a kind's name, its latencies, its p99 target and its colour.
type Series<'a> = (&'static str, &'a Histogram<u64>, Option<f64>, RGBColor);

/// The chart's lines, one per kind, in the report's order.
fn series(recorder: &Recorder) -> [Series<'_>; 4] {
    [
        (
            "lookup",
            &recorder.lookup,
            Some(LOOKUP_P99_US),
            RGBColor(31, 119, 180),
        ),
        (
            "write_tx",
            &recorder.write,
            Some(WRITE_P99_US),
            RGBColor(214, 39, 40),
        ),
        ("list", &recorder.list, None, RGBColor(44, 160, 44)),
        (
            "onboarding",
            &recorder.onboarding,
            Some(ONBOARDING_P99_US),
            RGBColor(148, 103, 189),
        ),
    ]
}

/// The y axis's span (µs): from the lowest point (at most 1 µs, at least 0.1 µs) to the
/// highest, which reaches at least the onboarding target so every target line is in view.
fn latency_span(curves: &[Vec<(f64, f64)>]) -> (f64, f64) {
    let highest = curves
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain([ONBOARDING_P99_US])
        .fold(1.0f64, f64::max);
    let lowest = curves
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .clamp(0.1, 1.0);
    (lowest, highest)
}

/// Draws the chart of `recorder` into `svg`; `shown` names the file in errors.
fn render(svg: &mut String, shown: &str, title: &str, recorder: &Recorder) -> anyhow::Result<()> {
    let series = series(recorder);
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|s| curve(s.1)).collect();
    let (lowest, highest) = latency_span(&curves);

    let root = SVGBackend::with_string(svg, (960, 600)).into_drawing_area();
    let draw = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing {shown}: {e}");
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .margin_right(40)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..MAX_NINES, (lowest / 2.0..highest * 3.0).log_scale())
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency")
        .x_labels(6)
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&latency_label)
        .draw()
        .map_err(|e| draw(&e))?;
    for ((name, _, target, color), points) in series.iter().zip(curves) {
        // A kind without samples has no line, and no legend entry either.
        if points.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| draw(&e))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if let Some(target) = target {
            chart
                .draw_series(target_dashes(*target, color))
                .map_err(|e| draw(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| draw(&e))?;
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}

/// A target as a dashed horizontal line across the chart: 50 segments, each as long as the
/// gap to the next.
fn target_dashes(target: f64, color: RGBColor) -> impl Iterator<Item = PathElement<(f64, f64)>> {
    (0..50).map(move |i| {
        let x0 = MAX_NINES * i as f64 / 50.0;
        PathElement::new(vec![(x0, target), (x0 + MAX_NINES / 100.0, target)], color)
    })
}
