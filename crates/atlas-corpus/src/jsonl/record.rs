//! One Kaggle JSON line → [`Paper`], with zero-copy deserialisation.
//!
//! The record struct borrows its strings from the line (`Cow`: borrowed unless the JSON string contains
//! escapes) and declares only the fields that are used; serde skips the others (`authors_parsed`,
//! `comments` …) without allocating. Every field is read as a [`Loose`] value that accepts any JSON type,
//! so a number where a string belongs is reported as [`SkipReason::WrongType`] by this module instead of
//! surfacing as an opaque parser error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::date::{iso_date, rfc2822_date};
use crate::normalize::normalize_cow;
use crate::read::Skip;
use crate::{Paper, SkipReason};

/// A JSON value of a field that should be a string.
#[derive(Debug, Default)]
enum Loose<'a> {
    /// The key is not in the object.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A string (borrowed from the line when it has no escapes).
    Str(Cow<'a, str>),
    /// Any other JSON type; the name is for the error message.
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Loose::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Loose::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other("a number"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an object"))
    }
}

/// The `created` string of the `v1` entry of `versions` (the first entry when none is named `v1`).
/// Anything unexpected in `versions` yields `None`: the date is optional, so a strange `versions` value
/// costs the record its date, not its place in the corpus.
#[derive(Debug, Default)]
struct FirstCreated<'a>(Option<Cow<'a, str>>);

#[derive(Deserialize)]
struct VersionEntry<'a> {
    #[serde(borrow, default)]
    version: Loose<'a>,
    #[serde(borrow, default)]
    created: Loose<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for FirstCreated<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(VersionsVisitor)
    }
}

struct VersionsVisitor;

impl<'de> Visitor<'de> for VersionsVisitor {
    type Value = FirstCreated<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of versions")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first = None;
        let mut v1 = None;
        while let Some(entry) = seq.next_element::<Loose2<'de>>()? {
            let Loose2(Some(entry)) = entry else { continue };
            let Loose::Str(created) = entry.created else { continue };
            if v1.is_none() && matches!(&entry.version, Loose::Str(v) if v == "v1") {
                v1 = Some(created);
            } else if first.is_none() {
                first = Some(created);
            }
        }
        Ok(FirstCreated(v1.or(first)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(FirstCreated(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FirstCreated(None))
    }
}

/// A `versions` element: an object becomes `Some(entry)`, any other value is skipped as `None`.
struct Loose2<'a>(Option<VersionEntry<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Loose2<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose2<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let entry = VersionEntry::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Loose2(Some(entry)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose2(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Loose2(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a Kaggle record this crate uses; the rest is skipped by serde.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    id: Loose<'a>,
    #[serde(borrow, default)]
    title: Loose<'a>,
    #[serde(borrow, default, rename = "abstract")]
    abstract_text: Loose<'a>,
    #[serde(borrow, default)]
    authors: Loose<'a>,
    #[serde(borrow, default)]
    categories: Loose<'a>,
    #[serde(borrow, default)]
    versions: FirstCreated<'a>,
    #[serde(borrow, default)]
    update_date: Loose<'a>,
}

/// Parses one non-blank line into a normalised [`Paper`], or says why it must be skipped.
pub(crate) fn parse_line(line: &[u8]) -> Result<Paper, Skip> {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            return Err(Skip::new(SkipReason::BadUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde would also accept a JSON array for a struct (fields by position); a record is an object.
    if !text.trim_start().starts_with('{') {
        return Err(Skip::new(SkipReason::BadJson, "not a JSON object"));
    }
    let rec: RawRecord<'_> =
        serde_json::from_str(text).map_err(|e| Skip::new(SkipReason::BadJson, e.to_string()))?;

    let id = required(rec.id, "id", SkipReason::MissingId)?;
    let id = id.trim();
    if id.is_empty() {
        return Err(Skip::new(SkipReason::MissingId, "empty id"));
    }
    let title = normalize_cow(&required(rec.title, "title", SkipReason::MissingTitle)?).into_owned();
    if title.is_empty() {
        return Err(Skip::new(SkipReason::EmptyTitle, "title is empty"));
    }
    let abstract_text =
        normalize_cow(&required(rec.abstract_text, "abstract", SkipReason::MissingAbstract)?).into_owned();
    if abstract_text.is_empty() {
        return Err(Skip::new(SkipReason::EmptyAbstract, "abstract is empty"));
    }
    let categories: Vec<String> = required(rec.categories, "categories", SkipReason::MissingCategories)?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if categories.is_empty() {
        return Err(Skip::new(SkipReason::MissingCategories, "categories is empty"));
    }
    let authors = match rec.authors {
        Loose::Str(a) => normalize_cow(&a).into_owned(),
        Loose::Absent | Loose::Null => String::new(),
        Loose::Other(kind) => return Err(wrong_type("authors", kind)),
    };
    let date = rec.versions.0.as_deref().and_then(rfc2822_date).or_else(|| match &rec.update_date {
        Loose::Str(d) => iso_date(d),
        _ => None,
    });
    Ok(Paper { id: id.to_owned(), title, abstract_text, authors, categories, date })
}

fn required<'a>(v: Loose<'a>, field: &str, missing: SkipReason) -> Result<Cow<'a, str>, Skip> {
    match v {
        Loose::Str(s) => Ok(s),
        Loose::Absent => Err(Skip::new(missing, format!("no `{field}` field"))),
        Loose::Null => Err(Skip::new(missing, format!("`{field}` is null"))),
        Loose::Other(kind) => Err(wrong_type(field, kind)),
    }
}

fn wrong_type(field: &str, kind: &str) -> Skip {
    Skip::new(SkipReason::WrongType, format!("`{field}` is {kind}, expected a string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_reason(line: &str) -> SkipReason {
        parse_line(line.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn parses_a_kit_record() {
        let line = r#"{"id":"cond-mat/0512551","submitter":null,"authors":"P. H. Jones, F. Renzoni","title":"Rectifying fluctuations","comments":null,"categories":"cond-mat.stat-mech cond-mat.other","abstract":"We have realized a Brownian motor.","versions":[{"version":"v1","created":"Wed, 21 Dec 2005 00:00:00 GMT"}],"update_date":"2006-01-02","authors_parsed":[["Jones","P. H.",""]]}"#;
        let p = parse_line(line.as_bytes()).unwrap();
        assert_eq!(p.id, "cond-mat/0512551");
        assert_eq!(p.categories, ["cond-mat.stat-mech", "cond-mat.other"]);
        assert_eq!(p.date.as_deref(), Some("2005-12-21"));
        assert_eq!(p.authors, "P. H. Jones, F. Renzoni");
    }

    #[test]
    fn normalises_escaped_newlines_and_picks_v1() {
        let line = r#"{"id":"0704.0001","title":"Calculation of prompt\n  diphoton","abstract":"  A fully\ndifferential calculation\n","categories":"hep-ph","versions":[{"version":"v2","created":"Tue, 24 Jul 2007 20:10:27 GMT"},{"version":"v1","created":"Mon, 2 Apr 2007 19:18:42 GMT"}],"update_date":"2008-11-13"}"#;
        let p = parse_line(line.as_bytes()).unwrap();
        assert_eq!(p.title, "Calculation of prompt diphoton");
        assert_eq!(p.abstract_text, "A fully differential calculation");
        assert_eq!(p.date.as_deref(), Some("2007-04-02"));
        assert_eq!(p.authors, "");
    }

    #[test]
    fn date_falls_back_to_update_date() {
        let line = r#"{"id":"1","title":"t","abstract":"a","categories":"cs.AI","versions":null,"update_date":"2019-03-04"}"#;
        assert_eq!(parse_line(line.as_bytes()).unwrap().date.as_deref(), Some("2019-03-04"));
        let line = r#"{"id":"1","title":"t","abstract":"a","categories":"cs.AI","versions":5}"#;
        assert_eq!(parse_line(line.as_bytes()).unwrap().date, None);
    }

    #[test]
    fn classifies_bad_records() {
        assert_eq!(skip_reason(r#"{"id":"1","title":"t","#), SkipReason::BadJson);
        assert_eq!(skip_reason(r#"[1,2]"#), SkipReason::BadJson);
        assert_eq!(skip_reason(r#"{"title":"t","abstract":"a","categories":"x"}"#), SkipReason::MissingId);
        assert_eq!(
            skip_reason(r#"{"id":" ","title":"t","abstract":"a","categories":"x"}"#),
            SkipReason::MissingId
        );
        assert_eq!(skip_reason(r#"{"id":"1","abstract":"a","categories":"x"}"#), SkipReason::MissingTitle);
        assert_eq!(
            skip_reason(r#"{"id":"1","title":null,"abstract":"a","categories":"x"}"#),
            SkipReason::MissingTitle
        );
        assert_eq!(
            skip_reason(r#"{"id":"1","title":" \n ","abstract":"a","categories":"x"}"#),
            SkipReason::EmptyTitle
        );
        assert_eq!(skip_reason(r#"{"id":"1","title":"t","categories":"x"}"#), SkipReason::MissingAbstract);
        assert_eq!(
            skip_reason(r#"{"id":"1","title":"t","abstract":"","categories":"x"}"#),
            SkipReason::EmptyAbstract
        );
        assert_eq!(skip_reason(r#"{"id":"1","title":"t","abstract":"a"}"#), SkipReason::MissingCategories);
        assert_eq!(
            skip_reason(r#"{"id":"1","title":"t","abstract":"a","categories":"  "}"#),
            SkipReason::MissingCategories
        );
        assert_eq!(
            skip_reason(r#"{"id":1,"title":"t","abstract":"a","categories":"x"}"#),
            SkipReason::WrongType
        );
        assert_eq!(
            skip_reason(r#"{"id":"1","title":2.5,"abstract":"a","categories":"x"}"#),
            SkipReason::WrongType
        );
        assert_eq!(
            skip_reason(r#"{"id":"1","title":"t","abstract":["a"],"categories":"x"}"#),
            SkipReason::WrongType
        );
        assert_eq!(
            skip_reason(r#"{"id":"1","title":"t","abstract":"a","categories":"x","authors":{}}"#),
            SkipReason::WrongType
        );
        assert_eq!(parse_line(b"{\"id\":\"1\",\"title\":\"\xff\"}").unwrap_err().reason, SkipReason::BadUtf8);
        let msg =
            parse_line(br#"{"id":"1","title":true,"abstract":"a","categories":"x"}"#).unwrap_err().message;
        assert_eq!(msg, "`title` is a boolean, expected a string");
    }
}
