//! PNG heatmap of a row-normalised confusion matrix.
//!
//! Drawn cell by cell on a plotters bitmap (a chart with 172 category ticks per axis is beyond what
//! plotters' chart layout handles gracefully), then encoded with `png` in memory so the caller can write
//! the file atomically.

mod colour;
mod font;

pub use font::{fonts_available, FAMILY};

use std::collections::HashMap;

use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::DrawingErrorKind;

use crate::confusion::ConfusionMatrix;
use crate::EvalError;

/// Most classes a heatmap is drawn for: at 1 px per cell that is already a 4000 x 4000 picture.
pub(crate) const MAX_CLASSES: usize = 4000;

/// Cell size in pixels: the matrix aims at ~1700 px with cells between 8 px (K up to ~210 at that size)
/// and 36 px (tiny K would otherwise be a postage stamp). Beyond 500 classes cells shrink so the picture
/// stays near 4000 px (and lose their labels below [`MIN_LABELLED_CELL`]).
fn cell_px(k: usize) -> u32 {
    let k = k.max(1);
    let px = if k <= 500 { (1720 / k).clamp(8, 36) } else { (4000 / k).max(1) };
    u32::try_from(px).unwrap_or(1)
}

/// Smallest cell that gets a category label: smaller text would overlap into a grey smear.
const MIN_LABELLED_CELL: u32 = 7;

/// Pixel geometry of the picture.
struct Layout {
    cell: u32,
    /// Top-left corner of the matrix.
    x0: i32,
    y0: i32,
    /// Side of the (square) matrix.
    side: i32,
    /// Left edge of the colour bar.
    bar_x: i32,
    width: u32,
    height: u32,
    label_font: f64,
}

const TITLE_FONT: f64 = 16.0;
const AXIS_FONT: f64 = 14.0;
const TICK_FONT: f64 = 13.0;
const BAR_W: i32 = 18;
const GAP: i32 = 8;
/// Colour of rows whose class has no paper (no share to show).
const EMPTY_ROW: RGBColor = RGBColor(215, 215, 215);
/// Lines between groups of categories of one archive (`math.*`, `cs.*`).
const SEPARATOR: RGBColor = RGBColor(175, 175, 175);

fn layout(cm: &ConfusionMatrix, title: &str, text: bool) -> Layout {
    let k = cm.n_classes();
    let cell = cell_px(k);
    let side = (cell as usize * k) as i32;
    if !text {
        let m = 12;
        let bar_x = m + side + 2 * GAP;
        return Layout {
            cell,
            x0: m,
            y0: m,
            side,
            bar_x,
            width: (bar_x + BAR_W + m) as u32,
            height: (side + 2 * m) as u32,
            label_font: 0.0,
        };
    }
    let label_font = f64::from(cell).clamp(7.0, 13.0);
    let label_w = if cell >= MIN_LABELLED_CELL { widest(&cm.codes, label_font) } else { 0 };
    let axis_band = (AXIS_FONT * 1.8) as i32;
    let x0 = axis_band + label_w + GAP;
    let y0 = (TITLE_FONT * 3.0) as i32;
    let bar_x = x0 + side + 3 * GAP;
    let tick_w = widest(&["0.25"], TICK_FONT) + GAP;
    // The title may be wider than a small matrix.
    let title_w = widest(&[title], TITLE_FONT);
    let width = (bar_x + BAR_W + GAP + tick_w + 2 * axis_band).max(title_w + 2 * GAP);
    let height = y0 + side + GAP + label_w + axis_band + GAP;
    Layout { cell, x0, y0, side, bar_x, width: width as u32, height: height as u32, label_font }
}

/// Width in pixels of the widest of `texts` at `size`, measured with the registered font (estimated at
/// 0.6 em per character if measuring fails).
fn widest<S: AsRef<str>>(texts: &[S], size: f64) -> i32 {
    let font = (font::FAMILY, size).into_font();
    let w = texts
        .iter()
        .map(|t| {
            let t = t.as_ref();
            font.box_size(t).map(|(w, _)| w).unwrap_or((t.chars().count() as f64 * size * 0.6).ceil() as u32)
        })
        .max()
        .unwrap_or(0);
    i32::try_from(w).unwrap_or(i32::MAX / 4)
}

/// Renders the heatmap and returns PNG bytes. `text` says whether a font is registered.
pub(crate) fn render_png(cm: &ConfusionMatrix, title: &str, text: bool) -> Result<Vec<u8>, EvalError> {
    if cm.n_classes() > MAX_CLASSES {
        return Err(EvalError::Plot {
            path: None,
            message: format!(
                "{} classes are too many for a heatmap (at most {MAX_CLASSES}); use the confusion CSV",
                cm.n_classes()
            ),
        });
    }
    let l = layout(cm, title, text);
    let mut rgb = vec![255u8; l.width as usize * l.height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (l.width, l.height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw_cells(&root, cm, &l)?;
        draw_colour_bar(&root, &l, text)?;
        if text {
            draw_text(&root, cm, &l, title)?;
        }
        root.present().map_err(plot_err)?;
    }
    encode_png(&rgb, l.width, l.height)
}

fn draw_cells<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cm: &ConfusionMatrix,
    l: &Layout,
) -> Result<(), EvalError> {
    let k = cm.n_classes();
    let c = l.cell as i32;
    for t in 0..k {
        let y = l.y0 + t as i32 * c;
        match cm.row_normalised(t) {
            None => {
                root.draw(&Rectangle::new([(l.x0, y), (l.x0 + l.side, y + c)], EMPTY_ROW.filled()))
                    .map_err(plot_err)?;
            }
            Some(shares) => {
                for (p, &v) in shares.iter().enumerate() {
                    if v > 0.0 {
                        let x = l.x0 + p as i32 * c;
                        let fill = colour::share_colour(v).filled();
                        root.draw(&Rectangle::new([(x, y), (x + c, y + c)], fill)).map_err(plot_err)?;
                    }
                }
            }
        }
    }
    // Archive separators help find one's way in 172 classes. Runs of one-category archives (`hep-th`,
    // `gr-qc`, legacy codes) are not split up: a line around every one of them would be a grey blur.
    let archives: Vec<&str> = cm.codes.iter().map(|c| archive(c)).collect();
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for a in &archives {
        *sizes.entry(a).or_default() += 1;
    }
    let run_len = |i: usize| sizes.get(archives[i]).copied().unwrap_or(0);
    for i in 1..k {
        if archives[i] != archives[i - 1] && (run_len(i) > 1 || run_len(i - 1) > 1) {
            let at = l.x0 + i as i32 * c;
            let style = SEPARATOR.stroke_width(1);
            root.draw(&PathElement::new(vec![(at, l.y0), (at, l.y0 + l.side)], style)).map_err(plot_err)?;
            let at = l.y0 + i as i32 * c;
            root.draw(&PathElement::new(vec![(l.x0, at), (l.x0 + l.side, at)], style)).map_err(plot_err)?;
        }
    }
    root.draw(&Rectangle::new([(l.x0, l.y0), (l.x0 + l.side, l.y0 + l.side)], BLACK.stroke_width(1)))
        .map_err(plot_err)?;
    Ok(())
}

/// `math` for `math.AG`, `hep-th` for `hep-th`.
fn archive(code: &str) -> &str {
    code.split('.').next().unwrap_or(code)
}

/// Shares at which the colour bar is labelled (the scale is square-root, so they are spread out).
const BAR_TICKS: [f64; 7] = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0];

fn draw_colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    l: &Layout,
    text: bool,
) -> Result<(), EvalError> {
    let (top, h) = (l.y0, l.side.max(1));
    for dy in 0..h {
        let pos = 1.0 - f64::from(dy) / f64::from(h - 1).max(1.0);
        let y = top + dy;
        root.draw(&Rectangle::new([(l.bar_x, y), (l.bar_x + BAR_W, y + 1)], colour::blues(pos).filled()))
            .map_err(plot_err)?;
    }
    root.draw(&Rectangle::new([(l.bar_x, top), (l.bar_x + BAR_W, top + h)], BLACK.stroke_width(1)))
        .map_err(plot_err)?;
    if !text {
        return Ok(());
    }
    let style =
        TextStyle::from((font::FAMILY, TICK_FONT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for v in BAR_TICKS {
        let y = top + ((1.0 - colour::position(v)) * f64::from(h - 1)).round() as i32;
        root.draw(&PathElement::new(vec![(l.bar_x + BAR_W, y), (l.bar_x + BAR_W + 4, y)], BLACK))
            .map_err(plot_err)?;
        label(root, &format!("{v}"), &style, (l.bar_x + BAR_W + 6, y))?;
    }
    let axis = TextStyle::from((font::FAMILY, AXIS_FONT).into_font())
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let x = l.bar_x + BAR_W + widest(&["0.25"], TICK_FONT) + 2 * GAP + (AXIS_FONT / 2.0) as i32;
    label(root, "share of the row (sqrt scale)", &axis, (x, top + h / 2))
}

fn draw_text<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cm: &ConfusionMatrix,
    l: &Layout,
    title: &str,
) -> Result<(), EvalError> {
    let c = l.cell as i32;
    let title_style =
        TextStyle::from((font::FAMILY, TITLE_FONT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    label(root, title, &title_style, (GAP, (TITLE_FONT * 1.1) as i32))?;
    let note = "grey rows: classes without papers; lines separate archives";
    let note_style = TextStyle::from((font::FAMILY, 11.0).into_font())
        .color(&RGBColor(90, 90, 90))
        .pos(Pos::new(HPos::Left, VPos::Center));
    label(root, note, &note_style, (GAP, (TITLE_FONT * 2.3) as i32))?;

    let font = (font::FAMILY, l.label_font).into_font();
    let rows = TextStyle::from(font.clone()).pos(Pos::new(HPos::Right, VPos::Center));
    // Column labels read bottom to top and end at the matrix's lower edge.
    let cols =
        TextStyle::from(font).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center));
    let codes = if l.cell >= MIN_LABELLED_CELL { cm.codes.as_slice() } else { &[] };
    for (i, code) in codes.iter().enumerate() {
        let mid = i as i32 * c + c / 2;
        label(root, code, &rows, (l.x0 - 4, l.y0 + mid))?;
        label(root, code, &cols, (l.x0 + mid, l.y0 + l.side + 4))?;
    }

    let axis =
        TextStyle::from((font::FAMILY, AXIS_FONT).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    label(root, "predicted class", &axis, (l.x0 + l.side / 2, l.height as i32 - 4))?;
    let axis_rot = TextStyle::from((font::FAMILY, AXIS_FONT).into_font())
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Center));
    label(root, "true class", &axis_rot, ((AXIS_FONT * 0.9) as i32, l.y0 + l.side / 2))
}

/// Draws text, treating font failures as "no text" rather than as errors: a missing glyph must not cost
/// the user the heatmap.
fn label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    pos: (i32, i32),
) -> Result<(), EvalError> {
    match root.draw_text(text, style, pos) {
        Ok(()) | Err(DrawingAreaErrorKind::BackendError(DrawingErrorKind::FontError(_))) => Ok(()),
        Err(e) => Err(plot_err(e)),
    }
}

pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> EvalError {
    EvalError::Plot { path: None, message: e.to_string() }
}

/// Encodes a row-major RGB buffer (`width × height × 3` bytes) as PNG bytes, in memory so that the caller
/// can write the file atomically.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, EvalError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Mostly-white pictures compress ~3x better with the strong setting, at a few ms for 2000 x 2000.
    encoder.set_compression(png::Compression::Best);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let result = encoder.write_header().and_then(|mut w| {
        w.write_image_data(rgb)?;
        w.finish()
    });
    result.map_err(|e| EvalError::Plot { path: None, message: format!("PNG encoding: {e}") })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::case_a;
    use crate::report::report_title;

    /// Decodes PNG bytes into (width, height, RGB pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        let mut reader = png::Decoder::new(bytes).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixel(img: &(u32, u32, Vec<u8>), x: i32, y: i32) -> (u8, u8, u8) {
        let i = (y as usize * img.0 as usize + x as usize) * 3;
        (img.2[i], img.2[i + 1], img.2[i + 2])
    }

    /// Centre of cell (true `t`, predicted `p`).
    fn centre(l: &Layout, t: usize, p: usize) -> (i32, i32) {
        let c = l.cell as i32;
        (l.x0 + p as i32 * c + c / 2, l.y0 + t as i32 * c + c / 2)
    }

    #[test]
    fn heatmap_without_text_has_the_expected_size_and_colours() {
        let r = case_a().eval();
        let img = decode(&render_png(&r.confusion, "t", false).unwrap());
        // Hand-computed: K = 4 gives 36 px cells, a 144 px matrix, 12 px margins, a 16 px gap and an
        // 18 px colour bar: 12 + 144 + 16 + 18 + 12 = 202 wide, 12 + 144 + 12 = 168 high.
        assert_eq!((img.0, img.1), (202, 168));
        let l = layout(&r.confusion, "t", false);
        // Class 0 is always right (share 1: darkest blue), class 3 has no papers (grey row), class 1 is
        // never predicted as 2 (white).
        assert_eq!(pixel(&img, centre(&l, 0, 0).0, centre(&l, 0, 0).1), (8, 48, 107));
        let (x, y) = centre(&l, 3, 1);
        assert_eq!(pixel(&img, x, y), (215, 215, 215));
        let (x, y) = centre(&l, 1, 2);
        assert_eq!(pixel(&img, x, y), (255, 255, 255));
        // Shares 1/2 and 1/3 are lighter than 1 and darker than white, the smaller the lighter.
        let lum = |p: (u8, u8, u8)| u32::from(p.0) + u32::from(p.1) + u32::from(p.2);
        let half = lum(pixel(&img, centre(&l, 1, 1).0, centre(&l, 1, 1).1));
        let third = lum(pixel(&img, centre(&l, 2, 2).0, centre(&l, 2, 2).1));
        assert!(lum((8, 48, 107)) < half && half < third && third < 765, "{half} {third}");
        // Nothing is drawn left of the matrix without a font.
        assert!((0..l.x0 - 1).all(|x| pixel(&img, x, centre(&l, 0, 0).1) == (255, 255, 255)));
    }

    #[test]
    fn heatmap_with_text_labels_the_rows() {
        if !fonts_available() {
            eprintln!("skipping: no system font found; the text-free heatmap is covered by another test");
            return;
        }
        let r = case_a().eval();
        let img = decode(&r.confusion_png().unwrap());
        let l = layout(&r.confusion, &report_title(&r), true);
        assert_eq!((img.0, img.1), (l.width, l.height));
        // Row labels are dark text left of the matrix, on each row's line.
        let (_, y) = centre(&l, 2, 0);
        let dark = (0..l.x0).filter(|&x| {
            let p = pixel(&img, x, y);
            u32::from(p.0) + u32::from(p.1) + u32::from(p.2) < 300
        });
        assert!(dark.count() > 3, "no label text next to row 2");
        // The title's line holds text too.
        let title_y = (TITLE_FONT * 1.1) as i32;
        assert!((0..img.0 as i32).any(|x| pixel(&img, x, title_y) != (255, 255, 255)));
    }

    #[test]
    fn large_heatmaps_stay_within_a_reasonable_size() {
        let codes: Vec<String> = (0..200).map(|c| format!("arch{}.C{c}", c / 10)).collect();
        let cm = crate::ConfusionMatrix::zeros(&codes);
        let l = layout(&cm, "a title", true);
        assert_eq!(l.cell, 8);
        assert!(l.width < 2200 && l.height < 2200, "{} x {}", l.width, l.height);
        // Beyond 500 classes cells shrink, and lose their labels when tiny.
        let many: Vec<String> = (0..1000).map(|c| format!("c{c}")).collect();
        let l = layout(&crate::ConfusionMatrix::zeros(&many), "t", true);
        assert_eq!((l.cell, l.side), (4, 4000));
        assert!(l.x0 < 60, "no room reserved for labels that are not drawn");
        let too_many: Vec<String> = (0..=MAX_CLASSES).map(|c| format!("c{c}")).collect();
        let e = render_png(&crate::ConfusionMatrix::zeros(&too_many), "t", false).unwrap_err();
        assert!(e.to_string().contains("too many"), "{e}");
        // An all-zero matrix (every row empty) still renders.
        let img = decode(&render_png(&cm, "empty", false).unwrap());
        assert_eq!(img.0, 12 + 1600 + 16 + 18 + 12);
    }

    #[test]
    fn write_confusion_png_writes_a_png_file() {
        let r = case_a().eval();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plots/confusion.png");
        r.write_confusion_png(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (w, h, _) = decode(&bytes);
        let l = layout(&r.confusion, &report_title(&r), fonts_available());
        assert_eq!((w, h), (l.width, l.height));
    }
}
