//! Whitespace normalisation of titles, abstracts and author lists.
//!
//! Raw Kaggle records keep the line breaks and indentation of the original submission inside titles and
//! abstracts; the kit's own files are already collapsed. Normalising both the same way makes the text a
//! model sees independent of where a record came from. LaTeX markup is deliberately left alone: it is
//! part of what the peers train on.

use std::borrow::Cow;

/// Collapses every run of whitespace (spaces, tabs, line breaks and the other Unicode `White_Space`
/// characters) to one ASCII space and trims both ends. Everything else, LaTeX included, is kept.
pub fn normalize_text(s: &str) -> String {
    normalize_cow(s).into_owned()
}

/// [`normalize_text`] that borrows when the text is already normalised (the common case for the kit's
/// files), so the hot reading path copies each string once instead of twice.
pub(crate) fn normalize_cow(s: &str) -> Cow<'_, str> {
    if !needs_normalizing(s.as_bytes()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    if s.is_ascii() {
        collapse_ascii(s, &mut out);
    } else {
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    Cow::Owned(out)
}

/// ASCII bytes that `char::is_whitespace` accepts: tab, line feed, vertical tab, form feed, carriage
/// return and space.
#[inline]
fn is_ascii_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Lead bytes of the multi-byte UTF-8 encodings of Unicode whitespace (U+0085, U+00A0, U+1680,
/// U+2000-U+205F, U+3000). Seeing one only means "maybe": the slow path then decides exactly.
#[inline]
fn is_ws_lead(b: u8) -> bool {
    matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3)
}

/// Conservative test: `false` guarantees that `s` is already normalised.
///
/// This runs on every title, abstract and author list, so it is written for throughput: a branch-free
/// scan per 64-byte chunk (vectorised by the compiler) for bytes that may start whitespace other than a
/// single space, then a SIMD search for a double space.
fn needs_normalizing(s: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (s.first(), s.last()) else {
        return false;
    };
    if is_ascii_ws(first) || is_ascii_ws(last) {
        return true;
    }
    let special = |b: u8| (b'\t'..=b'\r').contains(&b) | is_ws_lead(b);
    if s.chunks(64).any(|chunk| chunk.iter().fold(false, |acc, &b| acc | special(b))) {
        return true;
    }
    memchr::memmem::find(s, b"  ").is_some()
}

/// Word-by-word copy for pure-ASCII text (no UTF-8 decoding needed).
fn collapse_ascii(s: &str, out: &mut String) {
    for word in s.split(|c: char| c.is_ascii() && is_ascii_ws(c as u8)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_runs_and_trims() {
        assert_eq!(
            normalize_text("  A fully\ndifferential\n  calculation\t\r\n"),
            "A fully differential calculation"
        );
        assert_eq!(normalize_text("a  b"), "a b");
        assert_eq!(normalize_text("\u{b}a\u{c}b"), "a b");
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text(" \n\t "), "");
    }

    #[test]
    fn keeps_latex_and_non_ascii() {
        assert_eq!(normalize_text("$\\alpha$ and \\emph{x}"), "$\\alpha$ and \\emph{x}");
        assert_eq!(
            normalize_text("Bal\\'azs — Muñoz\u{a0}\u{a0}Maniega\u{3000}x"),
            "Bal\\'azs — Muñoz Maniega x"
        );
        // Non-whitespace characters that share a lead byte with Unicode spaces survive.
        assert_eq!(normalize_text("a\u{2014}b ©"), "a\u{2014}b ©");
    }

    #[test]
    fn borrows_when_already_normal() {
        assert!(matches!(normalize_cow("already normal text"), Cow::Borrowed(_)));
        assert!(matches!(normalize_cow("two  spaces"), Cow::Owned(_)));
        assert!(matches!(normalize_cow("line\nbreak"), Cow::Owned(_)));
    }

    #[test]
    fn agrees_with_split_whitespace_on_mixed_input() {
        let samples = ["x\u{85}y", " lead", "trail ", "a \u{2009} b", "tab\there", "é  è\n"];
        for s in samples {
            let expected = s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(normalize_text(s), expected, "{s:?}");
        }
    }
}
