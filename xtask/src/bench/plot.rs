//! `cargo xtask bench plot`: an SVG line chart of the forwarding rate
//! (Mpps, median rx) by frame size, from one or more `bench e2e --json`
//! files.
//!
//! One line per input file and series. Colour is the series (switch txrx,
//! the switch closed loop, the reflector closed loop); line style and
//! marker are the input file: solid with dots for (the first) vhost-user
//! file, dashed with hollow squares for (the first) dgram file, other
//! patterns for further files. The legend is a table: a row per series, a
//! column per file. The x axis is logarithmic (the sizes double, so 60 128
//! 256 512 1024 1514 fall evenly), the y axis linear from 0.
//!
//! The SVG is written by hand: 800 x 480, self-contained (a generic font
//! family, no CSS, no scripts), every text escaped.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::cli::PlotBenchArgs;

pub const DEFAULT_TITLE: &str = "bench e2e: forwarding rate by frame size";

const W: f64 = 800.0;
const H: f64 = 480.0;
/// Rough advance of a sans-serif character, in ems (DejaVu Sans is ~0.6).
const EM_ADVANCE: f64 = 0.6;

/// The plotted series: the cases (path, test) whose median rx_pps is drawn.
const SERIES: [(&str, &str); 3] = [
    ("switch", "txrx"),
    ("switch", "ping-rate"),
    ("reflector", "ping-rate"),
];
/// One hue per series (colour-blind safe enough: blue, vermilion, green).
const COLOURS: [&str; 3] = ["#1f6fb4", "#d1495b", "#2a9d4b"];

pub fn run(args: &PlotBenchArgs) -> Result<(), String> {
    let mut runs = Vec::new();
    for path in &args.json {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        runs.push(parse_run(path, &text)?);
    }
    label_runs(&mut runs);
    let svg = render(&runs, args.title.as_deref().unwrap_or(DEFAULT_TITLE))?;
    std::fs::write(&args.out, svg)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// One input file.
#[derive(Debug)]
struct Run {
    backend: String,
    file: String,
    /// The name in the legend: the backend, or the backend and the file
    /// when several files have the same backend.
    label: String,
    /// The machine (and date), one line; may be empty.
    note: String,
    inflight: Option<u64>,
    /// Per series: (frame size, frames per second), by size.
    series: [Vec<(u64, f64)>; 3],
}

fn parse_run(path: &Path, text: &str) -> Result<Run, String> {
    let name = path.display();
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("{name}: not valid JSON: {e}"))?;
    if let Some(b) = v.get("bench").and_then(Value::as_str) {
        if b != "e2e" {
            return Err(format!(
                "{name}: the results of `bench {b}`, not `bench e2e`"
            ));
        }
    }
    let cases = v.get("cases").and_then(Value::as_array).ok_or_else(|| {
        format!("{name}: no \"cases\" list (not written by `cargo xtask bench e2e --json`?)")
    })?;
    let mut series: [Vec<(u64, f64)>; 3] = Default::default();
    for c in cases {
        let field = |k: &str| c.get(k).and_then(Value::as_str);
        let (Some(p), Some(t), Some(size)) = (
            field("path"),
            field("test"),
            c.get("size").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let Some(i) = SERIES.iter().position(|&(sp, st)| sp == p && st == t) else {
            continue;
        };
        // NaN medians are written as null: no point.
        let Some(pps) = c
            .pointer("/median/rx_pps")
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
        else {
            continue;
        };
        if size > 0 {
            series[i].push((size, pps.max(0.0)));
        }
    }
    for s in &mut series {
        s.sort_by_key(|&(size, _)| size);
        s.dedup_by_key(|&mut (size, _)| size);
    }
    Ok(Run {
        backend: v
            .pointer("/config/backend")
            .and_then(Value::as_str)
            .unwrap_or("dgram")
            .to_string(),
        file: name.to_string(),
        label: String::new(),
        note: machine_note(&v),
        inflight: v.pointer("/config/inflight").and_then(Value::as_u64),
        series,
    })
}

/// The "machine" object's scalar fields, briefly, and a date if the file has one.
fn machine_note(v: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = v.get("machine").and_then(Value::as_object) {
        for (k, x) in m {
            let s = match x {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            parts.push(match k.as_str() {
                "cpu" => s,
                "cpus" => format!("{s} CPUs"),
                "mem_gib" => format!("{s} GiB"),
                "qemu" => format!("QEMU {s}"),
                _ => format!("{k} {s}"),
            });
        }
    }
    if let Some(d) = ["date", "time", "timestamp"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
    {
        parts.push(d.to_string());
    }
    parts.join(", ")
}

/// Name each run by its backend, adding the file where backends repeat.
fn label_runs(runs: &mut [Run]) {
    let backends: Vec<String> = runs.iter().map(|r| r.backend.clone()).collect();
    for r in runs.iter_mut() {
        r.label = if backends.iter().filter(|b| **b == r.backend).count() > 1 {
            let stem = Path::new(&r.file)
                .file_stem()
                .map_or(r.file.clone(), |s| s.to_string_lossy().into_owned());
            format!("{} ({stem})", r.backend)
        } else {
            r.backend.clone()
        };
    }
    // Same backend and same file name in two directories: the whole path.
    for i in 0..runs.len() {
        if runs.iter().filter(|r| r.label == runs[i].label).count() > 1 {
            runs[i].label = format!("{} ({})", runs[i].backend, runs[i].file);
        }
    }
}

/// The legend names, in `SERIES` order.
fn series_names(runs: &[Run]) -> [String; 3] {
    // The closed loop's depth: the files' own, when they agree.
    let depths: BTreeSet<u64> = runs.iter().map(|r| r.inflight.unwrap_or(256)).collect();
    let ping = match depths.iter().next() {
        Some(d) if depths.len() == 1 => format!("ping x{d}"),
        _ => "ping, closed loop".to_string(),
    };
    [
        "switch txrx".to_string(),
        format!("switch lossless ({ping})"),
        format!("reflector ({ping})"),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Marker {
    Dot,
    Square,
    Triangle,
    Diamond,
}

#[derive(Clone, Copy, Debug)]
struct Style {
    dash: Option<&'static str>,
    marker: Marker,
}

/// vhost-user solid with dots, dgram dashed with hollow squares; files
/// beyond the first of each get the other patterns in turn.
fn styles(runs: &[Run]) -> Vec<Style> {
    const MORE: [Style; 4] = [
        Style {
            dash: Some("2 3"),
            marker: Marker::Triangle,
        },
        Style {
            dash: Some("10 3 2 3"),
            marker: Marker::Diamond,
        },
        Style {
            dash: Some("4 2"),
            marker: Marker::Triangle,
        },
        Style {
            dash: Some("1 2"),
            marker: Marker::Diamond,
        },
    ];
    let (mut solid, mut dashed, mut more) = (false, false, 0);
    runs.iter()
        .map(|r| {
            if r.backend == "vhost-user" && !solid {
                solid = true;
                Style {
                    dash: None,
                    marker: Marker::Dot,
                }
            } else if r.backend == "dgram" && !dashed {
                dashed = true;
                Style {
                    dash: Some("7 4"),
                    marker: Marker::Square,
                }
            } else {
                more += 1;
                MORE[(more - 1) % MORE.len()]
            }
        })
        .collect()
}

/// A round step giving about `target` intervals over `span`.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let m = match raw / mag {
        n if n <= 1.0 => 1.0,
        n if n <= 2.0 => 2.0,
        n if n <= 2.5 => 2.5,
        n if n <= 5.0 => 5.0,
        _ => 10.0,
    };
    m * mag
}

/// Decimals needed to print multiples of `step` exactly.
fn decimals(step: f64) -> usize {
    (0..6)
        .find(|&d| {
            let s = step * 10f64.powi(d as i32);
            (s - s.round()).abs() < 1e-6 * s.max(1.0)
        })
        .unwrap_or(6)
}

/// Text made safe for XML: markup escaped, characters XML 1.0 forbids dropped.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Roughly how wide `s` is at `size` px.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * EM_ADVANCE
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn marker(svg: &mut String, m: Marker, x: f64, y: f64, colour: &str, tip: &str) {
    let tip = if tip.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", esc(tip))
    };
    let _ = match m {
        Marker::Dot => write!(
            svg,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.6" fill="{colour}" stroke="#fff" stroke-width="1">{tip}</circle>"##
        ),
        Marker::Square => write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="6.4" height="6.4" fill="#fff" stroke="{colour}" stroke-width="1.6">{tip}</rect>"##,
            x - 3.2,
            y - 3.2
        ),
        Marker::Triangle => write!(
            svg,
            r##"<path d="M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z" fill="{colour}" stroke="#fff" stroke-width="0.8">{tip}</path>"##,
            y - 4.4,
            x + 4.2,
            y + 3.0,
            x - 4.2,
            y + 3.0
        ),
        Marker::Diamond => write!(
            svg,
            r##"<path d="M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z" fill="#fff" stroke="{colour}" stroke-width="1.5">{tip}</path>"##,
            y - 4.4,
            x + 4.4,
            y + 4.4,
            x - 4.4
        ),
    };
    svg.push('\n');
}

fn dash_attr(style: Style) -> String {
    style
        .dash
        .map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#))
}

/// The chart for `runs` (labelled by `label_runs`).
fn render(runs: &[Run], title: &str) -> Result<String, String> {
    let names = series_names(runs);
    let styles = styles(runs);
    // The lines drawn: (run, series) with at least two sizes.
    let lines: Vec<(usize, usize)> = (0..runs.len())
        .flat_map(|r| (0..SERIES.len()).map(move |s| (r, s)))
        .filter(|&(r, s)| runs[r].series[s].len() >= 2)
        .collect();
    if lines.is_empty() {
        let files: Vec<&str> = runs.iter().map(|r| r.file.as_str()).collect();
        return Err(format!(
            "nothing to plot: no series (switch txrx, switch ping-rate, reflector ping-rate) has two frame sizes or more in {}",
            files.join(", ")
        ));
    }
    let shown: Vec<usize> = (0..SERIES.len())
        .filter(|s| lines.iter().any(|l| l.1 == *s))
        .collect();
    let sizes: BTreeSet<u64> = lines
        .iter()
        .flat_map(|&(r, s)| runs[r].series[s].iter().map(|p| p.0))
        .collect();
    let ymax = lines
        .iter()
        .flat_map(|&(r, s)| runs[r].series[s].iter().map(|p| p.1 / 1e6))
        .fold(0.0, f64::max);

    // The footnote: the machine, once if every file has the same one.
    let mut notes: Vec<String> = Vec::new();
    let distinct: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.note.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    if distinct.len() == 1 {
        notes.push(format!("machine: {}", distinct.iter().next().unwrap()));
    } else {
        for r in runs.iter().filter(|r| !r.note.is_empty()) {
            notes.push(format!("{}: {}", r.label, r.note));
        }
    }
    const FOOT_SIZE: f64 = 10.5;
    const FOOT_LINE: f64 = 13.0;
    let max_chars = ((W - 20.0) / (FOOT_SIZE * EM_ADVANCE)) as usize;
    if notes.len() > 3 {
        notes.truncate(3);
        notes[2].push_str(" …");
    }
    let notes: Vec<String> = notes.iter().map(|n| truncate(n, max_chars)).collect();

    // Layout, from the bottom up: footnote, legend, x label, x ticks, plot.
    const LEGEND_ROW: f64 = 17.0;
    let foot_top = H - 6.0 - notes.len() as f64 * FOOT_LINE;
    let legend_h = (shown.len() + 1) as f64 * LEGEND_ROW;
    let legend_top = foot_top - 6.0 - legend_h;
    let xlabel_y = legend_top - 12.0;
    let (left, right, top) = (66.0, W - 24.0, 44.0);
    let bottom = xlabel_y - 34.0;

    // x: log scale over the sizes, 4% margin each side.
    let lo = (*sizes.first().unwrap() as f64).log2();
    let hi = (*sizes.last().unwrap() as f64).log2();
    let (lo, hi) = if hi - lo < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let pad = (hi - lo) * 0.04;
    let px = |size: u64| {
        left + ((size as f64).log2() - lo + pad) / (hi - lo + 2.0 * pad) * (right - left)
    };
    // y: linear from 0 to a round value above the highest point.
    let ymax = if ymax > 0.0 && ymax.is_finite() {
        ymax
    } else {
        1.0
    };
    let step = nice_step(ymax, 6.0);
    let nticks = (ymax * 1.04 / step).ceil().max(1.0) as usize;
    let ytop = nticks as f64 * step;
    let py = |mpps: f64| bottom - (mpps / ytop).clamp(0.0, 1.0) * (bottom - top);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#222">
<title>{}</title>
<rect width="{W}" height="{H}" fill="#fff"/>
<text x="{:.1}" y="27" font-size="16" font-weight="bold" text-anchor="middle">{}</text>
<rect id="plot-area" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#fcfcfc" stroke="#bbb"/>"##,
        esc(title),
        W / 2.0,
        esc(title),
        right - left,
        bottom - top
    );

    // y grid, ticks and labels.
    let dec = decimals(step);
    for i in 0..=nticks {
        let v = i as f64 * step;
        let y = py(v);
        if i > 0 {
            let _ = writeln!(
                svg,
                r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#e4e4e4"/>"##
            );
        }
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{left:.1}" y2="{y:.1}" stroke="#555"/><text x="{:.1}" y="{y:.1}" dy="0.35em" font-size="11" text-anchor="end">{v:.dec$}</text>"##,
            left - 4.0,
            left - 7.0
        );
    }
    // x grid, ticks and labels (a label that would touch the previous one is left out).
    let mut last_label: Option<(f64, f64)> = None;
    for &size in &sizes {
        let x = px(size);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e4e4e4"/><line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#555"/>"##,
            bottom + 4.0
        );
        let label = size.to_string();
        let w = text_width(&label, 11.0);
        if last_label.is_none_or(|(lx, lw)| x - lx >= (w + lw) / 2.0 + 6.0) {
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"#,
                bottom + 16.0
            );
            last_label = Some((x, w));
        }
    }
    // Axes and their labels.
    let _ = writeln!(
        svg,
        r##"<path d="M{left:.1} {top:.1}V{bottom:.1}H{right:.1}" fill="none" stroke="#555"/>
<text x="{:.1}" y="{xlabel_y:.1}" font-size="12" text-anchor="middle">frame size (bytes, log scale)</text>
<text transform="translate(18 {:.1}) rotate(-90)" font-size="12" text-anchor="middle">forwarding rate (Mpps, median received)</text>"##,
        (left + right) / 2.0,
        (top + bottom) / 2.0
    );

    // The lines, then their markers on top.
    for &(r, s) in &lines {
        let points: Vec<String> = runs[r].series[s]
            .iter()
            .map(|&(size, pps)| format!("{:.1},{:.1}", px(size), py(pps / 1e6)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline data-run="{}" data-series="{}" points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"{}/>"#,
            esc(&runs[r].label),
            esc(&names[s]),
            points.join(" "),
            COLOURS[s],
            dash_attr(styles[r])
        );
    }
    for &(r, s) in &lines {
        for &(size, pps) in &runs[r].series[s] {
            let tip = format!(
                "{} {}, {size} B: {:.3} Mpps",
                runs[r].label,
                names[s],
                pps / 1e6
            );
            marker(
                &mut svg,
                styles[r].marker,
                px(size),
                py(pps / 1e6),
                COLOURS[s],
                &tip,
            );
        }
    }

    // The legend: a row per series shown, a column per file.
    let name_w = shown
        .iter()
        .map(|&s| text_width(&names[s], 12.0))
        .fold(0.0, f64::max);
    let col_w: Vec<f64> = runs
        .iter()
        .map(|r| (text_width(&r.label, 12.0) + 16.0).max(64.0))
        .collect();
    let total = name_w + 12.0 + col_w.iter().sum::<f64>();
    let x0 = ((left + right) / 2.0 - total / 2.0).max(8.0);
    let row_y = |row: usize| legend_top + (row as f64 + 0.5) * LEGEND_ROW;
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{legend_top:.1}" width="{:.1}" height="{legend_h:.1}" rx="4" fill="none" stroke="#ddd"/>"##,
        x0 - 8.0,
        total + 16.0
    );
    let mut cx = x0 + name_w + 12.0;
    let mut centres = Vec::new();
    for (r, w) in runs.iter().zip(&col_w) {
        let c = cx + w / 2.0;
        centres.push(c);
        let _ = writeln!(
            svg,
            r##"<text x="{c:.1}" y="{:.1}" dy="0.35em" font-size="12" font-weight="bold" text-anchor="middle" fill="#333">{}</text>"##,
            row_y(0),
            esc(&r.label)
        );
        cx += w;
    }
    for (row, &s) in shown.iter().enumerate() {
        let y = row_y(row + 1);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}" dy="0.35em" font-size="12" text-anchor="end">{}</text>"#,
            x0 + name_w,
            esc(&names[s])
        );
        for (r, &c) in centres.iter().enumerate() {
            if runs[r].series[s].len() >= 2 {
                let _ = writeln!(
                    svg,
                    r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"{}/>"#,
                    c - 20.0,
                    c + 20.0,
                    COLOURS[s],
                    dash_attr(styles[r])
                );
                marker(&mut svg, styles[r].marker, c, y, COLOURS[s], "");
            } else {
                let _ = writeln!(
                    svg,
                    r##"<text x="{c:.1}" y="{y:.1}" dy="0.35em" font-size="11" text-anchor="middle" fill="#999">no data</text>"##
                );
            }
        }
    }

    // The footnote.
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="10" y="{:.1}" font-size="{FOOT_SIZE}" fill="#666">{}</text>"##,
            foot_top + (i + 1) as f64 * FOOT_LINE - 3.0,
            esc(n)
        );
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VHOST: &str = r#"{"bench":"e2e","config":{"backend":"vhost-user","inflight":256},
      "machine":{"cpu":"AMD EPYC <7B13>","cpus":2,"mem_gib":23.5,"qemu":"7.2.22"},
      "cases":[
        {"path":"switch","test":"txrx","size":60,"median":{"tx_pps":500000.0,"rx_pps":400000.0}},
        {"path":"switch","test":"txrx","size":512,"median":{"tx_pps":480000.0,"rx_pps":380000.0}},
        {"path":"switch","test":"txrx","size":1514,"median":{"tx_pps":300000.0,"rx_pps":290000.0}},
        {"path":"switch","test":"ping-rate","size":60,"median":{"rx_pps":220000.0}},
        {"path":"switch","test":"ping-rate","size":1514,"median":{"rx_pps":150000.0}},
        {"path":"reflector","test":"ping-rate","size":60,"median":{"rx_pps":245000.0}},
        {"path":"reflector","test":"ping-rate","size":1514,"median":{"rx_pps":200000.0}},
        {"path":"switch","test":"ping","size":60,"median":{"rx_pps":23000.0,"rtt_p50_us":4.8}},
        {"path":"generator","test":"tx","size":60,"median":{"tx_pps":21580000.0,"rx_pps":0.0}}],
      "generator_ceiling":[{"size":60,"tx_pps":21580000.0,"generator_ns_per_frame":49.0}]}"#;

    // An older file: no backend (dgram), a lone ping-rate size, no reflector.
    const DGRAM: &str = r#"{"bench":"e2e","config":{},
      "machine":{"cpu":"AMD EPYC <7B13>","cpus":2,"mem_gib":23.5,"qemu":"7.2.22"},
      "cases":[
        {"path":"switch","test":"txrx","size":60,"median":{"rx_pps":120000.0}},
        {"path":"switch","test":"txrx","size":128,"median":{"rx_pps":118000.0}},
        {"path":"switch","test":"txrx","size":256,"median":{"rx_pps":0.0}},
        {"path":"switch","test":"txrx","size":1514,"median":{"rx_pps":100000.0}},
        {"path":"switch","test":"ping-rate","size":60,"median":{"rx_pps":90000.0}}]}"#;

    fn runs(files: &[(&str, &str)]) -> Vec<Run> {
        let mut runs: Vec<Run> = files
            .iter()
            .map(|(name, text)| parse_run(Path::new(name), text).unwrap())
            .collect();
        label_runs(&mut runs);
        runs
    }

    fn attr(tag: &str, name: &str) -> String {
        let key = format!(" {name}=\"");
        let start = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            + key.len();
        tag[start..].split('"').next().unwrap().to_string()
    }

    /// Every element `<name ...>` in `svg`, up to its closing '>'.
    fn tags<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
        let open = format!("<{name} ");
        svg.match_indices(&open)
            .map(|(i, _)| &svg[i..i + svg[i..].find('>').unwrap() + 1])
            .collect()
    }

    /// Well-formed enough: tags nest and close, text holds only known entities.
    fn check_xml(svg: &str) {
        let body = svg
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .unwrap();
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = body;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt]);
            let gt = rest[lt..].find('>').unwrap() + lt;
            let tag = &rest[lt + 1..gt];
            assert!(!tag.contains('<'), "stray < in {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "bad close {name}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap());
            }
            // Attribute values: quotes pair up, entities are known.
            assert_eq!(tag.matches('"').count() % 2, 0, "{tag}");
            check_text(tag);
            rest = &rest[gt + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(rest.trim(), "");
    }

    fn check_text(text: &str) {
        for (i, _) in text.match_indices('&') {
            let e = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|k| e.starts_with(k)),
                "bare & in {text}"
            );
        }
    }

    #[test]
    fn two_backends() {
        let runs = runs(&[("vu.json", VHOST), ("old.json", DGRAM)]);
        assert_eq!(runs[0].label, "vhost-user");
        assert_eq!(runs[1].label, "dgram");
        let svg = render(&runs, DEFAULT_TITLE).unwrap();
        check_xml(&svg);

        // One line per series and backend with two sizes or more.
        let lines = tags(&svg, "polyline");
        let found: Vec<(String, String, usize)> = lines
            .iter()
            .map(|l| {
                (
                    attr(l, "data-run"),
                    attr(l, "data-series"),
                    attr(l, "points").split_whitespace().count(),
                )
            })
            .collect();
        let want = [
            ("vhost-user", "switch txrx", 3),
            ("vhost-user", "switch lossless (ping x256)", 2),
            ("vhost-user", "reflector (ping x256)", 2),
            ("dgram", "switch txrx", 4),
        ];
        assert_eq!(found.len(), want.len(), "{found:?}");
        for (run, series, n) in want {
            assert!(
                found
                    .iter()
                    .any(|f| f.0 == run && f.1 == series && f.2 == n),
                "{run} {series} {n}: {found:?}"
            );
        }
        // Solid for vhost-user, dashed for dgram.
        for l in &lines {
            assert_eq!(
                attr(l, "data-run") == "dgram",
                l.contains("stroke-dasharray"),
                "{l}"
            );
        }

        // Every point inside the plot area.
        let area = tags(&svg, "rect")
            .into_iter()
            .find(|r| r.contains("id=\"plot-area\""))
            .unwrap();
        let num = |k: &str| attr(area, k).parse::<f64>().unwrap();
        let (x, y, w, h) = (num("x"), num("y"), num("width"), num("height"));
        assert!(w > 300.0 && h > 200.0, "plot area {w} x {h}");
        for l in &lines {
            for p in attr(l, "points").split_whitespace() {
                let (px, py) = p.split_once(',').unwrap();
                let (px, py): (f64, f64) = (px.parse().unwrap(), py.parse().unwrap());
                assert!(
                    px >= x && px <= x + w && py >= y && py <= y + h,
                    "{p} outside"
                );
            }
        }
        // The zero lies on the x axis.
        let dgram_txrx = lines
            .iter()
            .find(|l| attr(l, "data-run") == "dgram")
            .unwrap();
        let zero = attr(dgram_txrx, "points")
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_string();
        let zero_y: f64 = zero.split_once(',').unwrap().1.parse().unwrap();
        assert!((zero_y - (y + h)).abs() < 0.11, "{zero_y} vs {}", y + h);

        // Title, axis labels, ticks, legend, footnote.
        for text in [
            ">bench e2e: forwarding rate by frame size</text>",
            ">frame size (bytes, log scale)</text>",
            ">forwarding rate (Mpps, median received)</text>",
            ">60</text>",
            ">1514</text>",
            ">0.0</text>",
            ">vhost-user</text>",
            ">dgram</text>",
            ">switch txrx</text>",
            ">switch lossless (ping x256)</text>",
            ">reflector (ping x256)</text>",
            ">no data</text>",
            // The same machine for both: said once, escaped.
            ">machine: AMD EPYC &lt;7B13&gt;, 2 CPUs, 23.5 GiB, QEMU 7.2.22</text>",
        ] {
            assert!(svg.contains(text), "no {text} in\n{svg}");
        }
        // The generator and the latency cases are not plotted.
        assert!(!svg.contains("generator"));
    }

    #[test]
    fn same_backend_twice_and_escaped_title() {
        let runs = runs(&[("a/before.json", VHOST), ("b/after.json", VHOST)]);
        assert_eq!(runs[0].label, "vhost-user (before)");
        assert_eq!(runs[1].label, "vhost-user (after)");
        let svg = render(&runs, "a < b & \"c\"\u{1}").unwrap();
        check_xml(&svg);
        assert!(svg.contains(">a &lt; b &amp; &quot;c&quot;</text>"));
        assert_eq!(tags(&svg, "polyline").len(), 6);
        // Two files, two line styles.
        let dashes: BTreeSet<bool> = tags(&svg, "polyline")
            .iter()
            .map(|l| l.contains("stroke-dasharray"))
            .collect();
        assert_eq!(dashes.len(), 2);
    }

    #[test]
    fn zeros_and_missing_series() {
        let text = r#"{"cases":[
            {"path":"switch","test":"txrx","size":60,"median":{"rx_pps":0.0}},
            {"path":"switch","test":"txrx","size":1514,"median":{"rx_pps":0.0}},
            {"path":"switch","test":"txrx","size":512,"median":{"rx_pps":null}},
            {"path":"reflector","test":"ping-rate","size":60,"median":{}}]}"#;
        let runs = runs(&[("zero.json", text)]);
        assert_eq!(runs[0].backend, "dgram");
        let svg = render(&runs, "t").unwrap();
        check_xml(&svg);
        let lines = tags(&svg, "polyline");
        assert_eq!(lines.len(), 1);
        assert_eq!(attr(lines[0], "points").split_whitespace().count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        // No machine: no footnote.
        assert!(!svg.contains("machine:"));

        // Nothing with two sizes: an error naming the file, not a panic.
        let lone =
            r#"{"cases":[{"path":"switch","test":"txrx","size":60,"median":{"rx_pps":1.0}}]}"#;
        let e = render(&runs_of(lone), "t").unwrap_err();
        assert!(e.contains("lone.json"), "{e}");
        let e = render(&runs_of(r#"{"cases":[]}"#), "t").unwrap_err();
        assert!(e.contains("nothing to plot"), "{e}");
    }

    fn runs_of(text: &str) -> Vec<Run> {
        runs(&[("lone.json", text)])
    }

    #[test]
    fn bad_input_names_the_file() {
        let e = parse_run(Path::new("results/broken.json"), "{\"cases\": [").unwrap_err();
        assert!(
            e.contains("results/broken.json") && e.contains("not valid JSON"),
            "{e}"
        );
        let e = parse_run(Path::new("boot.json"), r#"{"bench":"boot","cases":[]}"#).unwrap_err();
        assert!(e.contains("boot.json"), "{e}");
        let e = parse_run(Path::new("list.json"), "[1, 2]").unwrap_err();
        assert!(e.contains("list.json") && e.contains("cases"), "{e}");

        // Through the command: a file that is not there, then one that is not JSON.
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "not json").unwrap();
        let args = |json: Vec<std::path::PathBuf>| PlotBenchArgs {
            json,
            out: dir.join("out.svg"),
            title: None,
        };
        let e = run(&args(vec![dir.join("missing.json")])).unwrap_err();
        assert!(e.contains("missing.json"), "{e}");
        let e = run(&args(vec![bad.clone()])).unwrap_err();
        assert!(e.contains(&bad.display().to_string()), "{e}");
        assert!(!dir.join("out.svg").exists());
        let good = dir.join("good.json");
        std::fs::write(&good, VHOST).unwrap();
        run(&args(vec![good])).unwrap();
        check_xml(&std::fs::read_to_string(dir.join("out.svg")).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn steps_and_decimals() {
        assert_eq!(nice_step(0.4, 5.0), 0.1);
        assert_eq!(nice_step(21.58, 5.0), 5.0);
        assert_eq!(nice_step(1.0, 5.0), 0.2);
        assert_eq!(nice_step(0.12, 5.0), 0.025);
        assert_eq!(decimals(0.1), 1);
        assert_eq!(decimals(0.025), 3);
        assert_eq!(decimals(5.0), 0);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(esc("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
