//! Training curves: one or more series of (x, y) points as a line chart (loss per step, validation metric
//! per step), drawn as PNG for a run folder.

use plotters::backend::BitMapBackend;
use plotters::prelude::*;

use crate::heatmap::{encode_png, fonts_available, plot_err, FAMILY};
use crate::EvalError;

const SIZE: (u32, u32) = (860, 520);
/// Series colours, in the order given.
const COLOURS: [RGBColor; 4] =
    [RGBColor(30, 100, 200), RGBColor(230, 120, 20), RGBColor(60, 160, 60), RGBColor(150, 60, 160)];

/// A line chart of `series` (`(legend, points)`), axes scaled to the data, as PNG bytes. Text (title, axis
/// labels, ticks, legend) is drawn when a system font is found, as for the confusion heatmap; the lines always.
pub fn curves_png(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<Vec<u8>, EvalError> {
    let points = series.iter().flat_map(|(_, p)| p.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let text = fonts_available();
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (left, top, right, bottom) = (80i32, 40i32, w as i32 - 30, h as i32 - 60);
        let px = |x: f64, y: f64| {
            let fx = (x - x0) / (x1 - x0);
            let fy = (y - y0) / (y1 - y0);
            (left + (fx * f64::from(right - left)) as i32, bottom - (fy * f64::from(bottom - top)) as i32)
        };
        let grid = RGBColor(225, 225, 225).stroke_width(1);
        for i in 0..=5 {
            let f = f64::from(i) / 5.0;
            let (x, y) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
            root.draw(&PathElement::new(vec![px(x, y0), px(x, y1)], grid)).map_err(plot_err)?;
            root.draw(&PathElement::new(vec![px(x0, y), px(x1, y)], grid)).map_err(plot_err)?;
        }
        for (i, (_, pts)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let line: Vec<(i32, i32)> =
                pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| px(x, y)).collect();
            root.draw(&PathElement::new(line.clone(), colour.stroke_width(2))).map_err(plot_err)?;
            if line.len() <= 40 {
                for p in line {
                    root.draw(&Circle::new(p, 3, colour.filled())).map_err(plot_err)?;
                }
            }
        }
        root.draw(&Rectangle::new([(left, top), (right, bottom)], BLACK.stroke_width(1)))
            .map_err(plot_err)?;
        if text {
            let font = (FAMILY, 15.0).into_font();
            root.draw(&Text::new(title.to_string(), (left, 12), font.clone())).map_err(plot_err)?;
            for i in 0..=5 {
                let f = f64::from(i) / 5.0;
                let (x, y) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
                let (px_x, px_y) = px(x, y0);
                root.draw(&Text::new(format!("{x:.0}"), (px_x - 10, px_y + 6), font.clone()))
                    .map_err(plot_err)?;
                let (px_x, px_y) = px(x0, y);
                root.draw(&Text::new(format!("{y:.3}"), (px_x - 62, px_y - 8), font.clone()))
                    .map_err(plot_err)?;
            }
            root.draw(&Text::new(x_label.to_string(), ((left + right) / 2 - 20, bottom + 30), font.clone()))
                .map_err(plot_err)?;
            root.draw(&Text::new(y_label.to_string(), (8, top - 28), font.clone())).map_err(plot_err)?;
            for (i, (name, _)) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let (x, y) = (right - 260, top + 12 + 22 * i as i32);
                root.draw(&Circle::new((x, y + 8), 5, colour.filled())).map_err(plot_err)?;
                root.draw(&Text::new(name.to_string(), (x + 12, y), font.clone())).map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    encode_png(&rgb, w, h)
}

/// [`curves_png`], written atomically to `path`.
pub fn write_curves_png(
    path: &std::path::Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<(), EvalError> {
    let png = curves_png(title, x_label, y_label, series).map_err(|e| match e {
        EvalError::Plot { message, .. } => EvalError::Plot { path: Some(path.to_path_buf()), message },
        other => other,
    })?;
    atlas_artifact::write_atomic(path, &png)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lines_in_the_series_colours() {
        let loss: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i), 3.0 - f64::from(i) * 0.04)).collect();
        let png = curves_png("loss", "step", "loss", &[("loss", &loss)]).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), SIZE);
        let blue = buf[..info.buffer_size()].chunks_exact(3).filter(|p| p == &[30, 100, 200]).count();
        assert!(blue > 300, "the line should be drawn ({blue} pixels of its colour)");
        // An empty series still yields a valid image.
        assert!(!curves_png("empty", "x", "y", &[("none", &[])]).unwrap().is_empty());
    }
}
