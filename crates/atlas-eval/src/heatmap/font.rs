//! Finding a TrueType font for the heatmap's text.
//!
//! plotters' `ab_glyph` text backend ships no font: one must be registered from bytes that live for the
//! rest of the process. We look for a common sans-serif font in the usual system folders once, leak its
//! bytes (a few hundred KB, once per process) and register it as `sans-serif`. Machines without any of
//! them get a heatmap without text instead of an error.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

/// The family name the heatmap asks plotters for.
pub const FAMILY: &str = "sans-serif";

/// Candidate fonts, most common first: Debian/Ubuntu, Fedora, Arch, Alpine/others, macOS, Windows.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

static REGISTERED: OnceLock<bool> = OnceLock::new();

/// Registers the first usable candidate font (once per process) and says whether text can be drawn.
pub fn fonts_available() -> bool {
    *REGISTERED.get_or_init(|| {
        CANDIDATES.iter().any(|path| match std::fs::read(path) {
            Ok(bytes) => {
                // plotters keeps `&'static` font bytes; leaking one file per process is the price. A file
                // that fails to parse leaks too, but at most once per candidate.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        })
    })
}
