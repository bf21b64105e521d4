//! Text templates: how a paper becomes the one string a classifier or an encoder reads.
//!
//! This is the only renderer of paper text in arxiv-atlas: TF-IDF training and inference
//! ([`crate::Paper::text`]) and the sentence encoder (`atlas_encoder` re-exports [`TextTemplate`]) use it,
//! so a template means the same text everywhere. The rule is strict and checked once, when the template is
//! parsed: a placeholder must name a field of [`Paper`] listed in [`TextTemplate::FIELDS`], so a typo such as
//! `{abstact}` is an error naming the field instead of text that silently stays in every input.
//!
//! Syntax: literal text with `{field}` placeholders; `{{` and `}}` stand for literal braces. Placeholders
//! are filled in one left-to-right pass, so a title that itself contains `{abstract}` is copied verbatim.
//! Templates are part of the embedding function (`[SEP]` in the text is the tokenizer's separator token),
//! so they belong in any cache key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::paper::{Paper, DEFAULT_TEMPLATE};

/// A template that cannot be used: malformed, or naming a field papers do not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text template {template:?}: {message}")]
pub struct TemplateError {
    /// The template as written.
    pub template: String,
    /// What is wrong, naming the bad field or the byte position.
    pub message: String,
    /// The placeholder that names no field of a paper, when that is the problem.
    pub unknown_field: Option<String>,
}

/// A field of [`Paper`] a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Abstract,
    Authors,
    Id,
}

impl Field {
    /// Every field with its placeholder name, in the order [`TextTemplate::FIELDS`] lists them.
    const ALL: [(Field, &'static str); 4] = [
        (Field::Title, "title"),
        (Field::Abstract, "abstract"),
        (Field::Authors, "authors"),
        (Field::Id, "id"),
    ];

    fn from_name(name: &str) -> Option<Field> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(f, _)| *f == self).map_or("", |(_, n)| n)
    }

    fn of(self, paper: &Paper) -> &str {
        match self {
            Field::Title => &paper.title,
            Field::Abstract => &paper.abstract_text,
            Field::Authors => &paper.authors,
            Field::Id => &paper.id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

/// A parsed text template (see the [module documentation](self) for the syntax and the rule).
///
/// Parse it once (from configuration, a saved model's metadata or a command line) with
/// [`TextTemplate::parse`] or `str::parse`, then render papers with [`TextTemplate::render`] or
/// [`Paper::text`]; rendering cannot fail. It (de)serialises as the template string, and deserialising
/// checks it like `parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTemplate {
    source: String,
    parts: Vec<Part>,
}

impl TextTemplate {
    /// The placeholders a template may use: `title`, `abstract`, `authors` (one string, empty when unknown)
    /// and `id` (the arXiv id, empty for a paper known only by its text).
    pub const FIELDS: [&'static str; 4] = ["title", "abstract", "authors", "id"];

    /// Parses `source`, refusing unclosed or unmatched braces and placeholders that name no paper field.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let err = |message: String, unknown_field: Option<String>| TemplateError {
            template: source.to_owned(),
            message,
            unknown_field,
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(pos) = rest.find(['{', '}']) {
            let at = source.len() - rest.len() + pos;
            literal.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err(err(format!("unmatched `}}` at byte {at} (write `}}}}` for a brace)"), None));
            } else {
                let end = tail.find('}').ok_or_else(|| {
                    err(format!("unclosed `{{` at byte {at} (write `{{{{` for a brace)"), None)
                })?;
                let name = &tail[1..end];
                let field = Field::from_name(name).ok_or_else(|| {
                    err(
                        format!(
                            "unknown field `{{{name}}}` at byte {at}; a template can use {}",
                            Self::FIELDS.map(|f| format!("{{{f}}}")).join(", ")
                        ),
                        Some(name.to_owned()),
                    )
                })?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Field(field));
                rest = &tail[end + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(TextTemplate { source: source.to_owned(), parts })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Names of the placeholders, in order of appearance.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.name()),
            Part::Literal(_) => None,
        })
    }

    /// The text of `paper`: the template with every placeholder replaced by the paper's field.
    pub fn render(&self, paper: &Paper) -> String {
        let mut out =
            String::with_capacity(self.source.len() + paper.title.len() + paper.abstract_text.len());
        for part in &self.parts {
            out.push_str(match part {
                Part::Literal(s) => s,
                Part::Field(f) => f.of(paper),
            });
        }
        out
    }
}

impl Default for TextTemplate {
    /// The template of the peer baseline, [`DEFAULT_TEMPLATE`]: title, the BERT separator, abstract.
    fn default() -> Self {
        TextTemplate {
            source: DEFAULT_TEMPLATE.to_owned(),
            parts: vec![
                Part::Field(Field::Title),
                Part::Literal(" [SEP] ".into()),
                Part::Field(Field::Abstract),
            ],
        }
    }
}

impl fmt::Display for TextTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for TextTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TextTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for TextTemplate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paper::tests::paper;

    #[test]
    fn default_is_the_parsed_peer_template() {
        let t = TextTemplate::default();
        assert_eq!(TextTemplate::parse(DEFAULT_TEMPLATE).unwrap(), t);
        assert_eq!(t.as_str(), DEFAULT_TEMPLATE);
        assert_eq!(t.fields().collect::<Vec<_>>(), ["title", "abstract"]);
        // One pass: a placeholder inside a field's value is copied verbatim.
        assert_eq!(t.render(&paper()), "A {abstract} title [SEP] Body $x^{2}$.");
    }

    #[test]
    fn every_field_escapes_and_unicode() {
        let t: TextTemplate = "{{{id}}} {authors}: é{title}ü|{abstract}}}".parse().unwrap();
        assert_eq!(t.fields().collect::<Vec<_>>(), ["id", "authors", "title", "abstract"]);
        assert_eq!(t.render(&paper()), "{0704.0001} A. One: éA {abstract} titleü|Body $x^{2}$.}");
        assert_eq!(TextTemplate::parse("no placeholders").unwrap().render(&paper()), "no placeholders");
        assert_eq!(TextTemplate::parse("").unwrap().render(&paper()), "");
        // A paper known only by its text renders its missing fields as empty strings.
        let query = Paper::from_text("Dark  matter", "We study\nhalos.");
        assert_eq!(
            TextTemplate::parse("{title}|{id}|{abstract}").unwrap().render(&query),
            "Dark matter||We study halos."
        );
    }

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        let err = TextTemplate::parse("{title} [SEP] {abstact}").unwrap_err();
        assert_eq!(err.unknown_field.as_deref(), Some("abstact"));
        let text = err.to_string();
        assert!(
            text.contains("unknown field `{abstact}` at byte 14") && text.contains("{abstract}"),
            "{text}"
        );
        assert!(text.contains("\"{title} [SEP] {abstact}\""), "the message quotes the template: {text}");
        for bad in ["{unclosed", "{}", "{a b}", "stray }", "{title", "{{title}"] {
            assert!(TextTemplate::parse(bad).is_err(), "{bad}");
        }
        let err = TextTemplate::parse("x {title").unwrap_err();
        assert!(err.message.contains("unclosed `{` at byte 2") && err.unknown_field.is_none(), "{err}");
        let err = TextTemplate::parse("a}b").unwrap_err();
        assert!(err.message.contains("unmatched `}` at byte 1"), "{err}");
    }

    #[test]
    fn serialises_as_the_string_and_checks_on_deserialising() {
        let t = TextTemplate::parse("{id}: {title}").unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#""{id}: {title}""#);
        assert_eq!(serde_json::from_str::<TextTemplate>(&json).unwrap(), t);
        let err = serde_json::from_str::<TextTemplate>(r#""{titel}""#).unwrap_err().to_string();
        assert!(err.contains("unknown field `{titel}`"), "{err}");
    }
}
