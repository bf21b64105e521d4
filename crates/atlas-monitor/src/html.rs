//! The drift report as one self-contained HTML page: no scripts, no external files, plots as inline SVG.

use std::fmt::Write;

use crate::drift::{CategoryShift, DriftReport, Histogram};

const REF_COLOUR: &str = "#4c78a8";
const CUR_COLOUR: &str = "#f58518";
const DRIFT_COLOUR: &str = "#d62728";
const OK_COLOUR: &str = "#2ca02c";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as an HTML page.
pub fn render_html(r: &DriftReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let (verdict, colour) = if r.drift { ("DRIFT", DRIFT_COLOUR) } else { ("no drift", OK_COLOUR) };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drift report: {model}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}\
         th{{background:#f3f3f3}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}\
         .badge{{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;background:{colour};font-weight:bold}}\
         .plots{{display:flex;flex-wrap:wrap;gap:1em}}svg{{background:#fff;border:1px solid #eee}}\
         .legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>\
         <h1>Drift report <span class=\"badge\">{verdict}</span></h1>\
         <p>Model <b>{model}</b><br>Reference: {rs} ({nr} texts)<br>Current: {cs} ({nc} texts)</p>",
        model = esc(&r.model),
        rs = esc(&r.reference_source),
        nr = r.n_reference,
        cs = esc(&r.current_source),
        nc = r.n_current,
    );
    if !r.drifted.is_empty() {
        let _ = write!(h, "<p>Tests that report drift: <b>{}</b></p>", esc(&r.drifted.join(", ")));
    }
    if let (Some(a), Some(b)) = (r.reference_accuracy, r.current_accuracy) {
        let _ = write!(h, "<p>Accuracy: reference {a:.3}, current {b:.3}</p>");
    }
    h.push_str(
        "<div class=\"legend\"><span style=\"background:#4c78a8\"></span>reference\
         <span style=\"background:#f58518\"></span>current</div>",
    );
    h.push_str("<h2>Tests</h2>");
    h.push_str(&scores_svg(r));
    h.push_str(
        "<table><tr><th>feature</th><th>group</th><th>method</th><th>score</th><th>threshold</th><th>p-value</th>\
         <th>n ref</th><th>n cur</th><th>verdict</th></tr>",
    );
    for t in &r.tests {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:?}</td><td>{}</td><td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{}</td>\
             <td class=n>{}</td><td class=n>{}</td><td style=\"color:{}\">{}</td></tr>",
            esc(&t.feature),
            t.group,
            esc(&t.method),
            t.score,
            t.threshold,
            t.p_value.map(|p| format!("{p:.2e}")).unwrap_or_else(|| "–".into()),
            t.n_reference,
            t.n_current,
            if t.drift { DRIFT_COLOUR } else { OK_COLOUR },
            if t.drift { "drift" } else { "ok" },
        );
    }
    h.push_str("</table><h2>Distributions</h2><div class=\"plots\">");
    for hist in &r.histograms {
        h.push_str(&histogram_svg(hist));
    }
    h.push_str("</div>");
    let mut features: Vec<&str> = r.categories.iter().map(|c| c.feature.as_str()).collect();
    features.dedup();
    if !features.is_empty() {
        h.push_str("<h2>Categories that moved most</h2><div class=\"plots\">");
        for f in features {
            let rows: Vec<&CategoryShift> = r.categories.iter().filter(|c| c.feature == f).collect();
            h.push_str(&categories_svg(f, &rows));
        }
        h.push_str("</div>");
    }
    if !r.words.is_empty() {
        h.push_str(
            "<h2>Words that moved most</h2><p>Weights of the TF-IDF domain classifier: positive words mark current \
             texts, negative ones reference texts; shares are of the texts containing the word.</p>",
        );
        h.push_str(&words_svg(r));
        h.push_str(
            "<table><tr><th>word</th><th>weight</th><th>reference share</th><th>current share</th></tr>",
        );
        for w in &r.words {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{:+.3}</td><td class=n>{:.3}</td><td class=n>{:.3}</td></tr>",
                esc(&w.word),
                w.weight,
                w.reference_share,
                w.current_share
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Horizontal bars of score / threshold per test, with the threshold line at 1.
fn scores_svg(r: &DriftReport) -> String {
    let (w, row, left) = (760.0, 18.0, 300.0);
    let height = row * r.tests.len() as f64 + 30.0;
    let scale = (w - left - 20.0) / 3.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-size=\"11\">"
    );
    for (i, t) in r.tests.iter().enumerate() {
        let ratio = if t.threshold > 0.0 { (t.score / t.threshold).clamp(0.0, 3.0) } else { 0.0 };
        let y = 10.0 + i as f64 * row;
        let colour = if t.drift { DRIFT_COLOUR } else { REF_COLOUR };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} / {}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/>",
            left - 6.0,
            y + 12.0,
            esc(&t.feature),
            esc(&t.method),
            ratio * scale,
            row - 4.0
        );
    }
    let x1 = left + scale;
    let _ = write!(
        s,
        "<line x1=\"{x1}\" x2=\"{x1}\" y1=\"5\" y2=\"{}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{x1}\" y=\"{}\" text-anchor=\"middle\">threshold (score / threshold = 1; bars capped at 3)</text></svg>",
        height - 18.0,
        height - 4.0
    );
    s
}

/// Overlaid bar outlines of the reference and current shares per bin.
fn histogram_svg(hist: &Histogram) -> String {
    let (w, hgt, pad) = (340.0, 200.0, 30.0);
    let max = hist.reference.iter().chain(&hist.current).copied().fold(1e-9, f64::max);
    let bins = hist.reference.len().max(1);
    let bw = (w - 2.0 * pad) / bins as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" font-size=\"11\">\
         <text x=\"{}\" y=\"14\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
        w / 2.0,
        esc(&hist.feature)
    );
    for (shares, colour, opacity) in [(&hist.reference, REF_COLOUR, 0.45), (&hist.current, CUR_COLOUR, 0.45)]
    {
        for (i, v) in shares.iter().enumerate() {
            let bh = v / max * (hgt - 2.0 * pad - 10.0);
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{colour}\" fill-opacity=\"{opacity}\"/>",
                pad + i as f64 * bw,
                hgt - pad - bh,
                bw
            );
        }
    }
    let (lo, hi) = (hist.edges.first().copied().unwrap_or(0.0), hist.edges.last().copied().unwrap_or(1.0));
    let _ = write!(
        s,
        "<line x1=\"{pad}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#000\"/>\
         <text x=\"{pad}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
        w - pad,
        hgt - pad + 14.0,
        fmt_num(lo),
        w - pad,
        hgt - pad + 14.0,
        fmt_num(hi),
        y = hgt - pad
    );
    s
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Paired horizontal bars of reference and current shares per category.
fn categories_svg(feature: &str, rows: &[&CategoryShift]) -> String {
    let (w, row, left) = (560.0, 22.0, 130.0);
    let height = row * rows.len() as f64 + 30.0;
    let max = rows.iter().flat_map(|c| [c.reference_share, c.current_share]).fold(1e-9, f64::max);
    let scale = (w - left - 120.0) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-size=\"11\">\
         <text x=\"{}\" y=\"14\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
        w / 2.0,
        esc(feature)
    );
    for (i, c) in rows.iter().enumerate() {
        let y = 22.0 + i as f64 * row;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"8\" fill=\"{REF_COLOUR}\"/>\
             <rect x=\"{left}\" y=\"{}\" width=\"{:.1}\" height=\"8\" fill=\"{CUR_COLOUR}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{:.1}% → {:.1}%</text>",
            left - 6.0,
            y + 13.0,
            esc(&c.category),
            c.reference_share * scale,
            y + 9.0,
            c.current_share * scale,
            left + 4.0 + c.reference_share.max(c.current_share) * scale,
            y + 13.0,
            c.reference_share * 100.0,
            c.current_share * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Diverging bars of the domain classifier's word weights.
fn words_svg(r: &DriftReport) -> String {
    let (w, row, mid) = (640.0, 18.0, 320.0);
    let height = row * r.words.len() as f64 + 20.0;
    let max = r.words.iter().map(|x| x.weight.abs()).fold(1e-9, f64::max);
    let scale = (mid - 120.0) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-size=\"11\">"
    );
    for (i, word) in r.words.iter().enumerate() {
        let y = 10.0 + i as f64 * row;
        let len = word.weight.abs() * scale;
        let (x, colour, tx, anchor) = if word.weight >= 0.0 {
            (mid, CUR_COLOUR, mid - 6.0, "end")
        } else {
            (mid - len, REF_COLOUR, mid + 6.0, "start")
        };
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{len:.1}\" height=\"{}\" fill=\"{colour}\"/>\
             <text x=\"{tx}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            row - 4.0,
            y + 11.0,
            esc(&word.word)
        );
    }
    let _ =
        write!(s, "<line x1=\"{mid}\" x2=\"{mid}\" y1=\"5\" y2=\"{}\" stroke=\"#000\"/></svg>", height - 5.0);
    s
}
