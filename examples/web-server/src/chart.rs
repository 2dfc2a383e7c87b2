//! Charts for the statistics page, drawn on the server as inline SVG: columns over time,
//! horizontal bars and stacked bars. No script and only presentation attributes (never
//! `style`), so they pass a Content-Security-Policy without `'unsafe-inline'`; the `viewBox`
//! lets them shrink to phone width, and text and axes take the page's `currentColor`.

use std::fmt::Write;

/// Okabe-Ito, told apart with the common colour-vision deficiencies (grey for black, which
/// would vanish on a dark page).
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#999999",
];
/// Width of every chart in user units; the page scales it.
const W: f64 = 520.0;
/// Longer labels are cut, so they cannot push the chart apart.
const LABEL_CHARS: usize = 24;

/// Grouped vertical columns, one group per label and one column per series (e.g. tickets
/// created and closed per day); stays readable up to a year of days by thinning the x labels.
pub fn columns(title: &str, labels: &[String], series: &[(&str, &[u64])]) -> String {
    let names: Vec<&str> = series.iter().map(|(name, _)| *name).collect();
    let (mut out, top) = legend(&names, 28.0);
    let (left, right, plot_top) = (48.0, W - 8.0, top + 8.0);
    let bottom = plot_top + 200.0;
    line(
        &mut out,
        format!("M{left:.0} {plot_top:.0}V{bottom:.0}H{right:.0}"),
        1.0,
    );
    let values = series.iter().flat_map(|(_, v)| v.iter().take(labels.len()));
    let max = values.copied().max().unwrap_or(0);
    if max == 0 {
        let middle = [(left + right) / 2.0, (plot_top + bottom) / 2.0];
        text(&mut out, middle, "middle", "—");
        return finish(title, bottom + 24.0, &out);
    }
    let ticks = ticks(max);
    let top_value = ticks.last().copied().unwrap_or(1).max(1) as f64;
    let y_of = |v: u64| bottom - v as f64 / top_value * (bottom - plot_top);
    for &tick in &ticks {
        let y = y_of(tick);
        line(&mut out, format!("M{left:.0} {y:.0}H{right:.0}"), 0.2);
        text(&mut out, [left - 4.0, y + 4.0], "end", &tick.to_string());
    }
    let group = (right - left) / labels.len() as f64;
    let column = group * 0.8 / series.len() as f64;
    // Only as many x labels as fit side by side (at most 12), at an even stride.
    let widest = labels.iter().map(|l| short(l).chars().count()).max();
    let widest = widest.unwrap_or(1) as f64;
    let fit = ((right - left) / (7.0 * widest + 8.0)).clamp(1.0, 12.0) as usize;
    let every = labels.len().div_ceil(fit).max(1);
    for (i, label) in labels.iter().enumerate() {
        let x0 = left + group * (i as f64 + 0.1);
        for (s, (name, values)) in series.iter().enumerate() {
            if let Some(&value @ 1..) = values.get(i) {
                let (x, y) = (x0 + column * s as f64, y_of(value));
                let tip = format!("{label} {name}: {value}");
                rect(&mut out, [x, y, column, bottom - y], colour(s), &tip);
            }
        }
        if i % every == 0 {
            // Kept whole inside the chart at its edges (`short` keeps `half` below W / 2).
            let half = 3.5 * short(label).chars().count() as f64;
            let x = (left + group * (i as f64 + 0.5)).clamp(half, W - half);
            text(&mut out, [x, bottom + 16.0], "middle", label);
        }
    }
    finish(title, bottom + 24.0, &out)
}

/// Horizontal bars, one per row: label, a bar proportional to the number and the row's text
/// at its end (e.g. median first response per queue, shown as "3 h 20 min").
pub fn bars(title: &str, rows: &[(String, f64, String)]) -> String {
    let rows: Vec<Row> = rows
        .iter()
        .map(|(label, value, end)| Row {
            label,
            segments: vec![(clean(*value), format!("{label}: {end}"))],
            end: end.clone(),
        })
        .collect();
    horizontal(title, &[], &rows)
}

/// Horizontal stacked bars, one per row with one segment per part (e.g. tickets per queue by
/// state type), a legend naming the parts and the row's total at its end.
pub fn stacked(title: &str, parts: &[&str], rows: &[(String, Vec<u64>)]) -> String {
    let rows: Vec<Row> = rows
        .iter()
        .map(|(label, values)| Row {
            label,
            segments: (parts.iter().zip(values))
                .map(|(part, v)| (*v as f64, format!("{label} – {part}: {v}")))
                .collect(),
            end: (parts.iter().zip(values))
                .fold(0u64, |sum, (_, v)| sum.saturating_add(*v))
                .to_string(),
        })
        .collect();
    horizontal(title, parts, &rows)
}

/// One horizontal bar: its label, its segments (value, tooltip) and the text at its end.
struct Row<'a> {
    label: &'a str,
    segments: Vec<(f64, String)>,
    end: String,
}

/// Draws `bars` and `stacked`, which differ only in segments and legend.
fn horizontal(title: &str, parts: &[&str], rows: &[Row]) -> String {
    let (mut out, top) = legend(parts, 28.0);
    let (left, right) = (180.0, W - 90.0);
    let bottom = top + 24.0 * rows.len().max(1) as f64;
    line(&mut out, format!("M{left:.0} {top:.0}V{bottom:.0}"), 1.0);
    let total = |row: &Row| row.segments.iter().map(|s| s.0).sum::<f64>();
    let max = rows.iter().map(total).fold(0.0, f64::max);
    if max <= 0.0 {
        let middle = [(left + right) / 2.0, (top + bottom) / 2.0 + 4.0];
        text(&mut out, middle, "middle", "—");
        return finish(title, bottom + 8.0, &out);
    }
    for (i, row) in rows.iter().enumerate() {
        let y = top + 24.0 * i as f64;
        text(&mut out, [left - 6.0, y + 16.0], "end", row.label);
        let mut x = left;
        for (p, (value, tip)) in row.segments.iter().enumerate() {
            let width = value / max * (right - left);
            if width > 0.0 {
                rect(&mut out, [x, y + 4.0, width, 16.0], colour(p), tip);
            }
            x += width;
        }
        text(&mut out, [x + 6.0, y + 16.0], "start", &row.end);
    }
    finish(title, bottom + 8.0, &out)
}

/// The `<svg>` around `body`, labelled for screen readers and with a visible heading.
fn finish(title: &str, height: f64, body: &str) -> String {
    let (t, h) = (escape(title), num(height));
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{t}" font-family="sans-serif" font-size="12" fill="currentColor"><title>{t}</title><text x="0" y="16" font-size="14" font-weight="bold">{t}</text>{body}</svg>"#
    )
}

/// Legend swatches left to right, wrapping at the chart's width; returns them and the y below.
fn legend(names: &[&str], top: f64) -> (String, f64) {
    let (mut out, mut x, mut y) = (String::new(), 0.0, top);
    for (i, name) in names.iter().enumerate() {
        let width = 28.0 + 7.0 * short(name).chars().count() as f64;
        if x > 0.0 && x + width > W {
            (x, y) = (0.0, y + 18.0);
        }
        rect(&mut out, [x, y, 12.0, 12.0], colour(i), "");
        text(&mut out, [x + 16.0, y + 10.5], "start", name);
        x += width;
    }
    (out, if names.is_empty() { top } else { y + 22.0 })
}

/// Appends an axis or grid line along the path `d`.
fn line(out: &mut String, d: String, opacity: f64) {
    let attrs = format!(r#"fill="none" stroke="currentColor" stroke-opacity="{opacity}""#);
    let _ = write!(out, r#"<path d="{d}" {attrs}/>"#);
}

/// Appends `content`, shortened and escaped, at (x, y).
fn text(out: &mut String, [x, y]: [f64; 2], anchor: &str, content: &str) {
    let (x, y, content) = (num(x), num(y), escape(&short(content)));
    let _ = write!(
        out,
        r#"<text x="{x}" y="{y}" text-anchor="{anchor}">{content}</text>"#
    );
}

/// Appends a rectangle [x, y, width, height] with `tip` as its hover tooltip (none if empty).
fn rect(out: &mut String, [x, y, w, h]: [f64; 4], fill: &str, tip: &str) {
    let (x, y, w, h) = (num(x), num(y), num(w), num(h));
    let _ = write!(
        out,
        r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}""#
    );
    match tip {
        "" => out.push_str("/>"),
        tip => out.push_str(&format!("><title>{}</title></rect>", escape(tip))),
    }
}

/// 4-5 round y-axis ticks from 0 to at least `max`, in steps of 1, 2 or 5 × 10^k.
fn ticks(max: u64) -> Vec<u64> {
    let mut magnitude = 1u64;
    loop {
        for step in [1, 2, 5].map(|m| magnitude.saturating_mul(m)) {
            let count = max.max(1).div_ceil(step);
            if count <= 4 {
                return (0..=count).map(|i| i.saturating_mul(step)).collect();
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// A number with at most one decimal, never NaN or inf (those become 0).
fn num(v: f64) -> String {
    // Adding 0.0 turns -0.0 into 0.0; an integer divided by 10 prints with one decimal at most.
    let rounded = (v * 10.0).round() / 10.0 + 0.0;
    if rounded.is_finite() { rounded } else { 0.0 }.to_string()
}

/// Bar lengths from caller data: NaN, infinite and negative become 0, huge ones are capped so
/// sums stay finite.
fn clean(v: f64) -> f64 {
    if v.is_finite() {
        v.clamp(0.0, 1e300)
    } else {
        0.0
    }
}

/// The palette colour of series or part `i`, cycling.
fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// At most `LABEL_CHARS` characters, the cut marked with "…".
fn short(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_owned()
    } else {
        s.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
    }
}

/// Text safe in SVG content and attributes; control characters XML forbids become U+FFFD.
fn escape(s: &str) -> String {
    s.chars()
        .fold(String::with_capacity(s.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '\t' | '\n' | '\r' => out.push(c),
                c if c < ' ' => out.push('\u{FFFD}'),
                c => out.push(c),
            }
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sane(svg: &str) {
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains(r#"width="100%" role="img""#) && svg.contains("viewBox"));
        assert!(!svg.contains("NaN") && !svg.contains("inf") && !svg.contains("style"));
    }

    fn row(label: &str, value: f64, end: &str) -> (String, f64, String) {
        (label.to_owned(), value, end.to_owned())
    }

    #[test]
    fn hostile_text_is_escaped() {
        let evil = "<script>alert('x')</script>&\"";
        let svgs = [
            columns(evil, &[evil.to_owned()], &[(evil, &[3])]),
            bars(evil, &[row(evil, 2.0, evil)]),
            stacked(evil, &[evil], &[(evil.to_owned(), vec![1])]),
        ];
        for svg in svgs {
            sane(&svg);
            assert!(!svg.contains("<script") && !svg.contains("'x'"), "{svg}");
            assert!(svg.contains("&lt;script&gt;alert(&apos;x&apos;)"), "{svg}");
        }
        assert_eq!(escape("a\u{0}b&"), "a\u{FFFD}b&amp;");
    }

    #[test]
    fn empty_and_zero_draw_a_dash() {
        let days = ["Mo".to_owned(), "Tu".to_owned()];
        let svgs = [
            columns("c", &[], &[]),
            columns("c", &days, &[("created", &[0, 0])]),
            columns("c", &days, &[]),
            bars("b", &[]),
            bars("b", &[row("q", f64::NAN, "n/a"), row("r", -1.0, "-")]),
            stacked("s", &["new"], &[]),
            stacked("s", &[], &[("q".to_owned(), vec![5])]),
            stacked("s", &["new", "open"], &[("q".to_owned(), vec![0, 0])]),
        ];
        for svg in svgs {
            sane(&svg);
            assert!(
                svg.contains(">—</text>") && !svg.contains("</rect>"),
                "{svg}"
            );
        }
    }

    #[test]
    fn zero_values_beside_others_draw_no_empty_bar() {
        let rows = [
            row("a", 0.0, "0 min"),
            row("b", f64::INFINITY, "x"),
            row("c", 4.5, "4 h"),
        ];
        let svg = bars("b", &rows);
        sane(&svg);
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(svg.contains("<title>c: 4 h</title>") && svg.contains(">0 min</text>"));
    }

    #[test]
    fn a_year_of_days_thins_the_x_labels() {
        let labels: Vec<String> = (0..366).map(|d| format!("day-{d}")).collect();
        let created: Vec<u64> = (0..366).map(|d| d % 9).collect();
        let closed: Vec<u64> = (0..366).map(|d| d % 5).collect();
        let svg = columns(
            "Per day",
            &labels,
            &[("created", &created), ("closed", &closed)],
        );
        sane(&svg);
        let drawn = svg.matches("\">day-").count();
        assert!((2..=13).contains(&drawn), "{drawn} x labels");
        assert!(svg.contains("<title>day-8 created: 8</title>") && svg.contains(">closed</text>"));
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(ticks(7), [0, 2, 4, 6, 8]);
        assert_eq!(ticks(1234), [0, 500, 1000, 1500]);
        assert_eq!((ticks(0), ticks(10)), (vec![0, 1], vec![0, 5, 10]));
        assert!(ticks(u64::MAX).len() <= 5);
        let svg = columns("c", &["x".to_owned()], &[("n", &[7])]);
        assert!(svg.contains(">8</text>") && svg.contains(">6</text>"));
    }

    #[test]
    fn stacked_shows_totals_and_a_title_per_segment() {
        let rows = [
            ("1st".to_owned(), vec![2, 0, 3]),
            ("2nd".to_owned(), vec![1, 1, 1, 99]),
        ];
        let svg = stacked("Per queue", &["new", "open", "closed"], &rows);
        sane(&svg);
        assert!(
            svg.contains(">5</text>") && svg.contains(">3</text>"),
            "{svg}"
        );
        assert_eq!(
            svg.matches("</rect>").count(),
            5,
            "one per non-zero segment"
        );
        assert!(svg.contains("<title>1st – closed: 3</title>") && svg.contains(">open</text>"));
    }

    #[test]
    fn labels_are_cut_on_chars_and_numbers_rounded() {
        assert_eq!(short(&"ä".repeat(30)), format!("{}…", "ä".repeat(23)));
        assert_eq!(short("short"), "short");
        assert_eq!(
            [num(1.26), num(3.0), num(-0.01), num(f64::MAX)],
            ["1.3", "3", "0", "0"]
        );
    }
}
