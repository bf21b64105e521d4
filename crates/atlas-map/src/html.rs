//! The interactive page: one self-contained HTML file (no network, no CDN) whose script draws every point
//! into a canvas's pixel buffer, so 100,000 papers redraw in milliseconds while panning and zooming.
//!
//! The papers travel as one JSON object in a `<script type="application/json">` element, in columns
//! (ids, titles, category and archive indexes, coordinates scaled to integers 0–10000) to keep a 100k-paper
//! page small; `<` is written as `\u003c` so no title can close the element.

use std::collections::HashMap;

use serde::Serialize;

use crate::{Archive, ClusterLabel, MapData, MapError};

/// The page, with `__TITLE__` and `__DATA__` to fill in.
const TEMPLATE: &str = include_str!("map.html");

/// Coordinates on the page are integers in `0..=SCALE` (the longer side of the picture spans all of it).
const SCALE: f32 = 10_000.0;

/// The columns the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    title: &'a str,
    archives: &'a [Archive],
    labels: Vec<ClusterLabel>,
    categories: Vec<&'a str>,
    /// Category code → taxonomy name, for the tooltip.
    category_names: &'a HashMap<String, String>,
    ids: Vec<&'a str>,
    titles: Vec<&'a str>,
    cat: Vec<u32>,
    arch: &'a [u16],
    x: Vec<u32>,
    y: Vec<u32>,
}

/// Maps the points into `0..=SCALE` keeping the aspect ratio (y grows downwards on the page, as on screen).
pub(crate) struct Frame {
    min: [f32; 2],
    scale: f32,
}

impl Frame {
    pub(crate) fn of(xy: &[[f32; 2]]) -> Frame {
        let mut min = [f32::INFINITY; 2];
        let mut max = [f32::NEG_INFINITY; 2];
        for p in xy {
            for d in 0..2 {
                min[d] = min[d].min(p[d]);
                max[d] = max[d].max(p[d]);
            }
        }
        if xy.is_empty() {
            return Frame { min: [0.0; 2], scale: 1.0 };
        }
        let span = (max[0] - min[0]).max(max[1] - min[1]);
        Frame { min, scale: if span > 0.0 { 1.0 / span } else { 1.0 } }
    }

    /// A point in `[0, 1]` (both sides; the shorter side of the picture uses less of the range).
    pub(crate) fn unit(&self, p: [f32; 2]) -> [f32; 2] {
        [(p[0] - self.min[0]) * self.scale, (p[1] - self.min[1]) * self.scale]
    }

    fn page(&self, p: [f32; 2]) -> [u32; 2] {
        let u = self.unit(p);
        [(u[0] * SCALE).round().clamp(0.0, SCALE) as u32, (u[1] * SCALE).round().clamp(0.0, SCALE) as u32]
    }
}

/// The whole page for `map`.
pub fn render_html(map: &MapData) -> Result<String, MapError> {
    let frame = Frame::of(&map.xy);
    let mut categories: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let cat = map
        .papers
        .iter()
        .map(|p| {
            *index.entry(p.category.as_str()).or_insert_with(|| {
                categories.push(p.category.as_str());
                categories.len() as u32 - 1
            })
        })
        .collect();
    let (x, y) = map.xy.iter().map(|&p| frame.page(p)).map(|[x, y]| (x, y)).unzip();
    let labels = map
        .labels
        .iter()
        .map(|l| {
            let [x, y] = frame.page([l.x, l.y]);
            ClusterLabel { x: x as f32, y: y as f32, ..l.clone() }
        })
        .collect();
    let data = PageData {
        title: &map.title,
        archives: &map.archives,
        labels,
        categories,
        category_names: &map.category_names,
        ids: map.papers.iter().map(|p| p.id.as_str()).collect(),
        titles: map.papers.iter().map(|p| p.title.as_str()).collect(),
        cat,
        arch: &map.archive_of,
        x,
        y,
    };
    // `<` only occurs inside JSON strings, where `\u003c` means the same: no title can end the script early.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    Ok(TEMPLATE.replacen("__TITLE__", &escape_html(&map.title), 1).replacen("__DATA__", &json, 1))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_map;

    fn page_json(html: &str) -> serde_json::Value {
        let start = html.find("type=\"application/json\">").unwrap() + "type=\"application/json\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    #[test]
    fn the_page_carries_every_paper_and_needs_no_network() {
        let html = render_html(&small_map()).unwrap();
        let data = page_json(&html);
        assert_eq!(data["ids"], serde_json::json!(["2101.00001", "hep-th/9901001", "2101.00003"]));
        assert_eq!(data["titles"][1], "Strings </script> at large");
        assert_eq!(data["categories"], serde_json::json!(["cs.LG", "hep-th"]));
        assert_eq!(data["cat"], serde_json::json!([0, 1, 0]));
        assert_eq!(data["archives"][0]["code"], "cs");
        assert_eq!(data["labels"][0]["name"], "Machine Learning");
        // The longer side (x: 0..10) spans the full range.
        assert_eq!(data["x"], serde_json::json!([0, 10000, 500]));
        assert_eq!(data["y"], serde_json::json!([0, 5000, 200]));
        assert!(html.contains("<title>test map</title>"));
        assert!(html.contains("https://arxiv.org/abs/"));
        for remote in ["<script src", "<link ", "http://", "cdn"] {
            assert!(!html.contains(remote), "{remote} in the page");
        }
    }

    #[test]
    fn titles_cannot_break_out_of_the_data_element() {
        let html = render_html(&small_map()).unwrap();
        assert_eq!(html.matches("</script>").count(), 2, "only the data and code elements close");
        assert!(html.contains("Strings \\u003c/script> at large"));
    }
}
