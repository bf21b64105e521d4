//! The still picture: points blended straight into an RGB buffer (100,000 plotters circles would be slower
//! and no prettier), then the title, region labels and the archive legend drawn with plotters' text, with the
//! font the other PNG plots use (`atlas-eval`). Without a system font the picture has no text.

use plotters::backend::BitMapBackend;
use plotters::prelude::*;

use crate::html::Frame;
use crate::{MapData, MapError};

/// Width of the legend column, in pixels.
const LEGEND: u32 = 260;
/// Longest archive group name the legend shows beside the code.
const LONG_GROUP: usize = 22;
/// Space around the plot and for the title.
const MARGIN: u32 = 20;
const TITLE: u32 = 36;
/// Opacity of a dot: overlapping dots darken, so dense regions stand out.
const ALPHA: f32 = 0.55;

fn plot_err<E: std::fmt::Display>(e: E) -> MapError {
    MapError::Plot(e.to_string())
}

fn hex(colour: &str) -> [u8; 3] {
    let c = |i: usize| colour.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(128);
    [c(1), c(3), c(5)]
}

/// The map as PNG bytes, `width × height` pixels (at least 400 × 300).
pub fn render_png(map: &MapData, width: u32, height: u32) -> Result<Vec<u8>, MapError> {
    if width < 400 || height < 300 {
        return Err(MapError::Options(format!(
            "a PNG needs at least 400 x 300 pixels, got {width} x {height}"
        )));
    }
    let (w, h) = (width as usize, height as usize);
    let mut rgb = vec![255u8; w * h * 3];
    let plot_w = (width - LEGEND - 2 * MARGIN) as f32;
    let plot_h = (height - TITLE - 2 * MARGIN) as f32;
    let frame = Frame::of(&map.xy);
    // The frame's unit square holds the longer side; fit the used part into the plot area, centred.
    let used = map.xy.iter().fold([0f32; 2], |m, &p| {
        let u = frame.unit(p);
        [m[0].max(u[0]), m[1].max(u[1])]
    });
    let s = (plot_w / used[0].max(1e-6)).min(plot_h / used[1].max(1e-6));
    let x0 = MARGIN as f32 + (plot_w - used[0] * s) / 2.0;
    let y0 = (TITLE + MARGIN) as f32 + (plot_h - used[1] * s) / 2.0;
    let to_px = |p: [f32; 2]| {
        let u = frame.unit(p);
        (x0 + u[0] * s, y0 + u[1] * s)
    };
    let colours: Vec<[u8; 3]> = map.archives.iter().map(|a| hex(&a.colour)).collect();
    // Fewer papers get bigger dots so a 5,000-paper map is not a faint dust.
    let dot = if map.xy.len() > 20_000 { 2 } else { 4 };
    for (i, &p) in map.xy.iter().enumerate() {
        let (px, py) = to_px(p);
        let c = colours.get(map.archive_of[i] as usize).copied().unwrap_or([128; 3]);
        for yy in py as usize..(py as usize + dot).min(h) {
            for xx in px as usize..(px as usize + dot).min(w) {
                let k = (yy * w + xx) * 3;
                for ch in 0..3 {
                    rgb[k + ch] = (f32::from(rgb[k + ch]) * (1.0 - ALPHA) + f32::from(c[ch]) * ALPHA) as u8;
                }
            }
        }
    }
    if atlas_eval::fonts_available() {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let family = atlas_eval::FONT_FAMILY;
        let title = (family, 22.0).into_font().color(&BLACK);
        root.draw(&Text::new(map.title.clone(), (MARGIN as i32, 10), title)).map_err(plot_err)?;
        let label_font = (family, 15.0, FontStyle::Bold).into_font();
        for l in &map.labels {
            let (x, y) = to_px([l.x, l.y]);
            let (x, y) = (x as i32, y as i32 - 8);
            // A white halo (the text drawn around in white first) keeps labels readable on dense regions.
            for (dx, dy) in [(-1, -1), (-1, 1), (1, -1), (1, 1), (0, -2), (0, 2), (-2, 0), (2, 0)] {
                let halo = label_font.clone().color(&WHITE);
                root.draw(&Text::new(l.name.clone(), (x + dx, y + dy), halo)).map_err(plot_err)?;
            }
            root.draw(&Text::new(l.name.clone(), (x, y), label_font.clone().color(&BLACK)))
                .map_err(plot_err)?;
        }
        let legend_x = (width - LEGEND) as i32;
        let item = (family, 14.0).into_font().color(&BLACK);
        root.draw(&Text::new("archive (papers)", (legend_x, (TITLE + MARGIN) as i32), item.clone()))
            .map_err(plot_err)?;
        let rows = ((height - TITLE - 2 * MARGIN) / 20).saturating_sub(2) as usize;
        for (i, a) in map.archives.iter().take(rows).enumerate() {
            let y = (TITLE + MARGIN) as i32 + 24 + 20 * i as i32;
            let [r, g, b] = hex(&a.colour);
            root.draw(&Rectangle::new(
                [(legend_x, y + 2), (legend_x + 12, y + 14)],
                RGBColor(r, g, b).filled(),
            ))
            .map_err(plot_err)?;
            // Long group names (Electrical Engineering and Systems Science) would run off the picture.
            let text = if a.group == a.code || a.group.len() > LONG_GROUP {
                format!("{} ({})", a.code, a.papers)
            } else {
                format!("{} – {} ({})", a.code, a.group, a.papers)
            };
            root.draw(&Text::new(text, (legend_x + 18, y), item.clone())).map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    atlas_eval::encode_png(&rgb, width, height).map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_map;

    #[test]
    fn draws_the_points_in_their_archive_colours() {
        let map = small_map();
        let bytes = render_png(&map, 800, 600).unwrap();
        let mut reader = png_decoder(&bytes);
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (800, 600));
        // Some pixel carries the blended colour of the first archive (blue), another the second's (orange).
        let blend = |c: [u8; 3]| c.map(|v| (255.0 * (1.0 - ALPHA) + f32::from(v) * ALPHA) as u8);
        for archive in &map.archives {
            let want = blend(hex(&archive.colour));
            assert!(buf.chunks_exact(3).any(|p| p == want), "no {} dot", archive.code);
        }
    }

    #[test]
    fn a_tiny_picture_is_refused() {
        assert!(matches!(render_png(&small_map(), 100, 100), Err(MapError::Options(_))));
    }

    fn png_decoder(bytes: &[u8]) -> ::png::Reader<&[u8]> {
        ::png::Decoder::new(bytes).read_info().unwrap()
    }
}
