//! Reliability diagram: accuracy against confidence per bin, before and after calibration.

use atlas_calibrate::ReliabilityBin;
use plotters::backend::BitMapBackend;
use plotters::prelude::*;

use crate::heatmap::{encode_png, fonts_available, plot_err, FAMILY};
use crate::EvalError;

const SIZE: (u32, u32) = (760, 720);
const MARGIN: i32 = 70;
/// Colours of the curves, in the order given (before: orange, after: blue).
const COLOURS: [RGBColor; 3] = [RGBColor(230, 120, 20), RGBColor(30, 100, 200), RGBColor(60, 160, 60)];

/// The reliability diagram of one or more curves (`(legend, bins)`, e.g. before and after temperature
/// scaling) as PNG bytes: the diagonal is perfect calibration; each bin's accuracy is a bar (drawn for the
/// first curve) and a point joined by lines (for every curve); bins without papers are skipped. Text (title,
/// axes, legend) is drawn when a system font is found, as for the confusion heatmap.
pub fn reliability_png(curves: &[(&str, &[ReliabilityBin])], title: &str) -> Result<Vec<u8>, EvalError> {
    let text = fonts_available();
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        // Plot area in pixels; (0,0) of the data at the bottom left.
        let (x0, y0, side) = (MARGIN, 50, (w as i32 - MARGIN - 30).min(h as i32 - MARGIN - 60));
        let px =
            |x: f64, y: f64| (x0 + (x * f64::from(side)) as i32, y0 + side - (y * f64::from(side)) as i32);
        for i in 0..=10 {
            let v = f64::from(i) / 10.0;
            let grid = RGBColor(225, 225, 225).stroke_width(1);
            root.draw(&PathElement::new(vec![px(v, 0.0), px(v, 1.0)], grid)).map_err(plot_err)?;
            root.draw(&PathElement::new(vec![px(0.0, v), px(1.0, v)], grid)).map_err(plot_err)?;
        }
        if let Some((_, bins)) = curves.first() {
            for b in bins.iter().filter(|b| b.count > 0) {
                let fill = COLOURS[0].mix(0.25).filled();
                root.draw(&Rectangle::new([px(b.lower, b.accuracy), px(b.upper, 0.0)], fill))
                    .map_err(plot_err)?;
            }
        }
        let diag = BLACK.stroke_width(1);
        root.draw(&PathElement::new(vec![px(0.0, 0.0), px(1.0, 1.0)], diag)).map_err(plot_err)?;
        for (i, (_, bins)) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(i32, i32)> =
                bins.iter().filter(|b| b.count > 0).map(|b| px(b.confidence, b.accuracy)).collect();
            root.draw(&PathElement::new(points.clone(), colour.stroke_width(2))).map_err(plot_err)?;
            for p in points {
                root.draw(&Circle::new(p, 4, colour.filled())).map_err(plot_err)?;
            }
        }
        root.draw(&Rectangle::new([px(0.0, 1.0), px(1.0, 0.0)], BLACK.stroke_width(1))).map_err(plot_err)?;
        if text {
            let font = (FAMILY, 15.0).into_font();
            root.draw(&Text::new(title.to_string(), (x0, 18), font.clone())).map_err(plot_err)?;
            for i in (0..=10).step_by(2) {
                let v = f64::from(i) / 10.0;
                let (x, y) = px(v, 0.0);
                root.draw(&Text::new(format!("{v:.1}"), (x - 10, y + 6), font.clone())).map_err(plot_err)?;
                let (x, y) = px(0.0, v);
                root.draw(&Text::new(format!("{v:.1}"), (x - 32, y - 8), font.clone())).map_err(plot_err)?;
            }
            let (x, y) = px(0.35, 0.0);
            root.draw(&Text::new("confidence (top-1 probability)", (x, y + 30), font.clone()))
                .map_err(plot_err)?;
            let (x, y) = px(0.0, 1.0);
            root.draw(&Text::new("accuracy", (x - 60, y - 22), font.clone())).map_err(plot_err)?;
            for (i, (name, _)) in curves.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let (x, y) = px(0.04, 0.95 - 0.05 * i as f64);
                root.draw(&Circle::new((x, y + 8), 5, colour.filled())).map_err(plot_err)?;
                root.draw(&Text::new(name.to_string(), (x + 12, y), font.clone())).map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    encode_png(&rgb, w, h)
}

/// [`reliability_png`], written atomically to `path`.
pub fn write_reliability_png(
    path: &std::path::Path,
    curves: &[(&str, &[ReliabilityBin])],
    title: &str,
) -> Result<(), EvalError> {
    let png = reliability_png(curves, title).map_err(|e| match e {
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
    fn draws_a_png_with_both_curves() {
        let bins = |acc: f64| {
            (0..15)
                .map(|b| ReliabilityBin {
                    lower: b as f64 / 15.0,
                    upper: (b + 1) as f64 / 15.0,
                    count: usize::from(b % 2 == 0),
                    confidence: (b as f64 + 0.5) / 15.0,
                    accuracy: acc * (b as f64 + 0.5) / 15.0,
                })
                .collect::<Vec<_>>()
        };
        let (before, after) = (bins(0.6), bins(1.0));
        let png = reliability_png(&[("before", &before), ("after", &after)], "test").unwrap();
        let mut reader = png::Decoder::new(png.as_slice()).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), SIZE);
        // Both curve colours are present.
        let has = |c: RGBColor| buf.chunks_exact(3).any(|p| p == [c.0, c.1, c.2]);
        assert!(has(COLOURS[0]) && has(COLOURS[1]));
    }
}
