//! Text templates: how a record's fields become the one string that is embedded.
//!
//! The peer protocol embeds a paper as `{title} [SEP] {abstract}`; `[SEP]` in the text is matched by the
//! tokenizer as the special separator token (id 102 for BERT vocabularies), so the template is part of the
//! embedding function and belongs in any cache key (see [`crate::Encoder::embedding_id`]).

use std::fmt;

use crate::error::EncoderError;

/// The template of the peer baseline: title, the BERT separator, abstract.
pub const PAPER_TEMPLATE: &str = "{title} [SEP] {abstract}";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

/// A parsed template: literal text with `{field}` placeholders; `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTemplate {
    source: String,
    parts: Vec<Part>,
}

impl TextTemplate {
    /// Parses `source`. Field names are non-empty and made of letters, digits, `_`, `-` and `.`.
    pub fn parse(source: &str) -> Result<Self, EncoderError> {
        let err = |message: String| EncoderError::Template { template: source.to_owned(), message };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &source[pos + 1..];
                    let end = rest.find('}').ok_or_else(|| err(format!("unclosed `{{` at byte {pos}")))?;
                    let name = &rest[..end];
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    {
                        return Err(err(format!("bad field name {name:?} at byte {pos}")));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name.to_owned()));
                    // Skip the name and the closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        chars.next();
                    }
                }
                '}' => return Err(err(format!("unmatched `}}` at byte {pos} (write `}}}}` for a brace)"))),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Names of the placeholders, in order of appearance.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills the placeholders with `lookup(name)`; a field without a value is an error rather than an empty
    /// string, so that a schema change cannot silently embed half-empty texts.
    pub fn render<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> Result<String, EncoderError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Field(f) => out.push_str(lookup(f).ok_or_else(|| EncoderError::Template {
                    template: self.source.clone(),
                    message: format!("no value for field `{f}`"),
                })?),
            }
        }
        Ok(out)
    }
}

impl Default for TextTemplate {
    fn default() -> Self {
        Self {
            source: PAPER_TEMPLATE.to_owned(),
            parts: vec![
                Part::Field("title".into()),
                Part::Literal(" [SEP] ".into()),
                Part::Field("abstract".into()),
            ],
        }
    }
}

impl fmt::Display for TextTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_parsed_paper_template() {
        assert_eq!(TextTemplate::parse(PAPER_TEMPLATE).unwrap(), TextTemplate::default());
        let t = TextTemplate::default();
        assert_eq!(t.fields().collect::<Vec<_>>(), ["title", "abstract"]);
        let text = t
            .render(|f| match f {
                "title" => Some("Dark matter"),
                "abstract" => Some("  We study {x}.\n"),
                _ => None,
            })
            .unwrap();
        assert_eq!(text, "Dark matter [SEP]   We study {x}.\n");
    }

    #[test]
    fn escapes_and_errors() {
        let t = TextTemplate::parse("{{literal}} {a}-{b}").unwrap();
        assert_eq!(t.render(|f| Some(if f == "a" { "1" } else { "2" })).unwrap(), "{literal} 1-2");
        assert!(t
            .render(|f| if f == "a" { Some("1") } else { None })
            .unwrap_err()
            .to_string()
            .contains("`b`"));
        for bad in ["{unclosed", "{}", "{a b}", "stray }"] {
            assert!(TextTemplate::parse(bad).is_err(), "{bad}");
        }
        let unicode = TextTemplate::parse("é{tïtle}ü").unwrap();
        assert_eq!(unicode.render(|_| Some("x")).unwrap(), "éxü");
    }
}
