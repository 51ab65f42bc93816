//! A picture of a storm of simulated boots (`phone-sim --report FILE.svg`): one row per phone
//! along a time axis, each request a bar coloured by its answer, retransmits marked, stuck
//! phones' labels in red, and a histogram of boot times. Plain SVG, no script: it opens in any
//! browser and renders on a code host's page.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use cnfkit_resolve::{Mac, RequestResult};

use crate::PhoneBoot;

/// Rows drawn at most; a larger storm is sampled evenly (the histogram counts every phone).
pub const MAX_ROWS: usize = 400;

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 120.0;
const PLOT: f64 = WIDTH - LABEL - 20.0;
const TOP: f64 = 50.0;
const HISTOGRAM: f64 = 160.0;
const BINS: usize = 40;

const FOUND: &str = "#1d4f91";
const MISSED: &str = "#c9a227";
const FAILED: &str = "#b3261e";

/// The SVG of a storm: `phones` (each phone's MAC and boot), started at `storm_started`.
#[must_use]
pub fn storm_svg(phones: &[(Mac, &PhoneBoot)], storm_started: Instant) -> String {
    let mut sorted: Vec<&(Mac, &PhoneBoot)> = phones.iter().collect();
    sorted.sort_by_key(|(mac, boot)| (boot.started, *mac));
    let shown: Vec<&(Mac, &PhoneBoot)> = if sorted.len() > MAX_ROWS {
        (0..MAX_ROWS).map(|i| sorted[i * sorted.len() / MAX_ROWS]).collect()
    } else {
        sorted
    };
    let offset = |boot: &PhoneBoot| boot.started.saturating_duration_since(storm_started);
    let end = phones
        .iter()
        .map(|(_, boot)| offset(boot) + boot.elapsed)
        .max()
        .unwrap_or_default()
        .max(Duration::from_millis(1));
    let row = (600.0 / shown.len().max(1) as f64).clamp(2.0, 14.0);
    let rows_height = row * shown.len() as f64;
    let height = TOP + rows_height + 40.0 + HISTOGRAM + 50.0;
    let x = |t: Duration| LABEL + PLOT * t.as_secs_f64() / end.as_secs_f64();

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    svg.push_str(r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let stuck = phones.iter().filter(|(_, b)| !b.report.ok()).count();
    let failed = phones.iter().filter(|(_, b)| b.failed()).count();
    let _ = write!(
        svg,
        r#"<text x="10" y="18" font-size="14" font-weight="bold">{} phones in {:.2} s: {} stuck, {} with a failed request{}</text>"#,
        phones.len(),
        end.as_secs_f64(),
        stuck,
        failed,
        if phones.len() > shown.len() {
            format!(" (every {:.0}th of them drawn)", phones.len() as f64 / shown.len() as f64)
        } else {
            String::new()
        }
    );
    legend(&mut svg, 10.0, 36.0);
    axis(&mut svg, end, TOP + rows_height + 4.0, &x);

    for (i, (mac, boot)) in shown.iter().enumerate() {
        let y = TOP + row * i as f64;
        if row >= 8.0 {
            let colour = if boot.report.ok() { "#333333" } else { FAILED };
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="{:.0}" fill="{colour}">SEP{mac}</text>"#,
                LABEL - 6.0,
                y + row - 2.0,
                (row - 2.0).min(11.0)
            );
        }
        for (request, timing) in boot.report.requests.iter().zip(&boot.timings) {
            let start = offset(boot) + timing.start;
            let (x0, x1) = (x(start), x(start + timing.duration));
            let colour = match request.result {
                RequestResult::Found => FOUND,
                RequestResult::NotFound => MISSED,
                _ => FAILED,
            };
            let mark = if timing.retransmits > 0 {
                format!(r#" stroke="{FAILED}" stroke-width="1.5""#)
            } else {
                String::new()
            };
            let _ = write!(
                svg,
                r#"<rect class="request" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"{mark}><title>SEP{mac} {}: {} in {} ms{}</title></rect>"#,
                y + 1.0,
                (x1 - x0).max(1.0),
                (row - 2.0).max(1.0),
                escape(&request.name),
                request.result,
                timing.duration.as_millis(),
                if timing.retransmits > 0 {
                    format!(", {} retransmits", timing.retransmits)
                } else {
                    String::new()
                }
            );
        }
    }
    histogram(&mut svg, phones, TOP + rows_height + 40.0);
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String, x: f64, y: f64) {
    let items = [
        (FOUND, "file served"),
        (MISSED, "file not found"),
        (FAILED, "transfer failed (outlined: retransmits)"),
    ];
    let mut at = x;
    for (colour, label) in items {
        let _ = write!(
            svg,
            r#"<rect x="{at:.0}" y="{:.0}" width="12" height="10" fill="{colour}"/><text x="{:.0}" y="{y:.0}">{label}</text>"#,
            y - 9.0,
            at + 16.0
        );
        at += 30.0 + 6.5 * label.len() as f64;
    }
}

/// Ticks along the time axis at a round step.
fn axis(svg: &mut String, end: Duration, y: f64, x: &dyn Fn(Duration) -> f64) {
    let total_ms = end.as_secs_f64() * 1000.0;
    let step = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0,
        30_000.0, 60_000.0,
    ]
    .into_iter()
    .find(|s| total_ms / s <= 12.0)
    .unwrap_or(120_000.0);
    let _ = write!(
        svg,
        r##"<line x1="{LABEL}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#555555"/>"##,
        LABEL + PLOT
    );
    let mut t = 0.0;
    while t <= total_ms {
        let at = x(Duration::from_secs_f64(t / 1000.0));
        let _ = write!(
            svg,
            r##"<line x1="{at:.1}" y1="{y:.1}" x2="{at:.1}" y2="{:.1}" stroke="#555555"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{t:.0} ms</text>"##,
            y + 4.0,
            y + 16.0
        );
        t += step;
    }
}

/// Boot times of every phone, in bins.
fn histogram(svg: &mut String, phones: &[(Mac, &PhoneBoot)], top: f64) {
    let longest = phones
        .iter()
        .map(|(_, b)| b.elapsed)
        .max()
        .unwrap_or_default()
        .max(Duration::from_millis(1));
    let mut bins = [0usize; BINS];
    for (_, boot) in phones {
        let i = boot.elapsed.as_nanos() * BINS as u128 / longest.as_nanos().max(1);
        let i = usize::try_from(i).unwrap_or(BINS - 1);
        bins[i.min(BINS - 1)] += 1;
    }
    let tallest = bins.iter().copied().max().unwrap_or(0).max(1);
    let _ = write!(
        svg,
        r#"<text x="10" y="{:.0}" font-weight="bold">Boot time, first request to last answer (phones per bin; longest {} ms)</text>"#,
        top - 6.0,
        longest.as_millis()
    );
    let width = PLOT / BINS as f64;
    for (i, count) in bins.iter().enumerate() {
        let h = (HISTOGRAM - 20.0) * *count as f64 / tallest as f64;
        let x0 = LABEL + width * i as f64;
        let _ = write!(
            svg,
            r##"<rect class="bin" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#6b8fbf"><title>{count} phones</title></rect>"##,
            top + HISTOGRAM - 20.0 - h,
            width - 1.0
        );
    }
    let base = top + HISTOGRAM - 20.0;
    let _ = write!(
        svg,
        r##"<line x1="{LABEL}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#555555"/><text x="{LABEL}" y="{:.1}">0 ms</text><text x="{:.1}" y="{:.1}" text-anchor="end">{} ms</text>"##,
        LABEL + PLOT,
        base + 14.0,
        LABEL + PLOT,
        base + 14.0,
        longest.as_millis()
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
