//! Word tokenisation compatible with scikit-learn's `CountVectorizer` defaults.
//!
//! scikit-learn lower-cases the text and then takes every match of `(?u)\b\w\w+\b`: maximal runs of two or
//! more "word" characters. Python's `\w` is a Unicode letter or digit or `_`; here a word character is
//! [`char::is_alphanumeric`] or `_`. The two agree on letters, digits and numeric symbols (`²`, `½`) and
//! differ only on the few combining marks that Unicode lists as alphabetic (e.g. Devanagari vowel signs):
//! Rust counts them as word characters, Python does not. Single characters (`a`, `x`, `$`) are never tokens.

use std::borrow::Cow;

/// Whether `c` belongs to a token.
#[inline]
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        c.is_alphanumeric()
    }
}

/// The text as the tokeniser sees it: lower-cased when `lowercase` is set (full Unicode case mapping,
/// like Python's `str.lower`), borrowed unchanged otherwise.
pub fn normalize(text: &str, lowercase: bool) -> Cow<'_, str> {
    if !lowercase {
        return Cow::Borrowed(text);
    }
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(text.to_ascii_lowercase())
        } else {
            Cow::Borrowed(text)
        }
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// Iterator over the tokens of a (normalised) text; see the module documentation.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

/// The tokens of `text`, which should already be [`normalize`]d.
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0 }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = &self.text[self.pos..];
            let Some((start, _)) = rest.char_indices().find(|&(_, c)| is_word_char(c)) else {
                self.pos = self.text.len();
                return None;
            };
            let run = &rest[start..];
            let mut len = run.len();
            let mut n_chars = 0usize;
            for (i, c) in run.char_indices() {
                if !is_word_char(c) {
                    len = i;
                    break;
                }
                n_chars += 1;
            }
            self.pos += start + len;
            if n_chars >= 2 {
                return Some(&run[..len]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(&normalize(s, true)).map(str::to_string).collect()
    }

    // Expected values below were produced by Python 3.11:
    //   re.findall(r"(?u)\b\w\w+\b", s.lower())
    // which is exactly what scikit-learn's default TfidfVectorizer analyzer does before building n-grams.
    #[test]
    fn matches_scikit_learn_on_tricky_strings() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello, World! a b cd", &["hello", "world", "cd"]),
            ("Deep-learning (DL) for x-ray e.g. U.S.A.", &["deep", "learning", "dl", "for", "ray"]),
            ("state_of_the_art __init__ _x _", &["state_of_the_art", "__init__", "_x"]),
            ("GPT-4o's 3.14 1e-5 10^{-3} 2x2", &["gpt", "4o", "14", "1e", "10", "2x2"]),
            ("$\\alpha_{i}$ \\mathcal{O}(n^2) $O(\\log n)$", &["alpha_", "mathcal", "log"]),
            ("Title [SEP] Abstract", &["title", "sep", "abstract"]),
            ("Schrödinger ÆON naïve café Straße", &["schrödinger", "æon", "naïve", "café", "straße"]),
            ("ΑΒΓ δέλτα Москва 東京大学 x²y ½", &["αβγ", "δέλτα", "москва", "東京大学", "x²y"]),
            ("tab\tnew\nline\r\nend", &["tab", "new", "line", "end"]),
            ("nai\u{308}ve", &["nai", "ve"]),
            ("ΟΔΟΣ ΚΑΙ", &["οδος", "και"]),
            ("İstanbul", &["stanbul"]),
            ("ﬁne ﬂow ＡＢＣ１２", &["ﬁne", "ﬂow", "ａｂｃ１２"]),
            ("x\u{200b}y zz", &["zz"]),
            ("", &[]),
            ("a b c d ! ? 1 2", &[]),
        ];
        for (input, expected) in cases {
            assert_eq!(toks(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn lowercase_can_be_disabled() {
        let text = normalize("BERT Model", false);
        let t: Vec<&str> = tokens(&text).collect();
        assert_eq!(t, ["BERT", "Model"]);
        assert!(matches!(normalize("already lower", true), Cow::Borrowed(_)));
    }
}
