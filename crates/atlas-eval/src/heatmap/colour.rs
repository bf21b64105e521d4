//! The heatmap's colour scale.

use plotters::style::RGBColor;

/// matplotlib's sequential "Blues" map at 9 evenly spaced stops: near-white to dark navy.
const BLUES: [(u8, u8, u8); 9] = [
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

/// Smallest colour position of a non-zero share, so a single confusion in a large class stays visible
/// against the white of the zero cells.
const NONZERO_FLOOR: f64 = 0.1;

/// Position on the colour scale of a row share `v` in [0, 1]. The scale is square-root: most of a
/// confusion matrix's information is in small off-diagonal shares, which a linear scale paints white.
pub(crate) fn position(v: f64) -> f64 {
    if v <= 0.0 {
        0.0
    } else {
        v.min(1.0).sqrt().max(NONZERO_FLOOR)
    }
}

/// Colour of a cell holding share `v` (0 is pure white).
pub(crate) fn share_colour(v: f64) -> RGBColor {
    if v <= 0.0 {
        RGBColor(255, 255, 255)
    } else {
        blues(position(v))
    }
}

/// The "Blues" colour at position `t` in [0, 1], linearly interpolated between stops.
pub(crate) fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    // `t` is in [0, 8], so the cast cannot truncate anything but the fraction.
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_ends_and_monotone_darkening() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.5), RGBColor(107, 174, 214));
        assert_eq!(share_colour(0.0), RGBColor(255, 255, 255));
        let lum = |c: RGBColor| u32::from(c.0) + u32::from(c.1) + u32::from(c.2);
        let mut last = u32::MAX;
        for i in 1..=100 {
            let l = lum(share_colour(f64::from(i) / 100.0));
            assert!(l <= last, "colour must darken as the share grows");
            last = l;
        }
        // A tiny share is still clearly tinted.
        assert!(lum(share_colour(1e-4)) < lum(RGBColor(255, 255, 255)) - 30);
        assert!((position(0.25) - 0.5).abs() < 1e-12);
    }
}
