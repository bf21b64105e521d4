//! The formats arXiv publishes new papers in: the arXiv API's Atom feed
//! (`export.arxiv.org/api/query?...`) and OAI-PMH responses (`export.arxiv.org/oai2?verb=ListRecords&...`)
//! with the `arXiv` or `arXivRaw` metadata format. Plain or gzip.
//!
//! One file is one response: a feed page or one OAI-PMH page (harvesters save each page of a
//! `resumptionToken` sequence as a file, and ingest takes several inputs). Such a page holds a few thousand
//! records at most, so the document is parsed whole (`roxmltree`); a file that is not well-formed XML is an
//! error naming the line and column, while a record that lacks a field is skipped and counted with the line
//! it starts on, like a bad line of JSON.
//!
//! Fields, per format:
//!
//! | field | Atom `entry` | OAI `arXiv` | OAI `arXivRaw` |
//! |---|---|---|---|
//! | id | `id` without `http://arxiv.org/abs/` and the version | `id` | `id` |
//! | categories | `arxiv:primary_category`, then every `category` term | `categories` (primary first) | `categories` |
//! | date (first version) | `published` | `created` | `version[@version=v1]/date` (RFC 2822) |
//! | authors | `author/name`, joined by `, ` | `author`: `forenames keyname suffix` | `authors` |
//!
//! OAI-PMH records whose header says `status="deleted"` are skipped as [`SkipReason::Deleted`].

use std::io::Read;
use std::path::Path;

use roxmltree::{Document, Node};

use crate::date::{iso_date, rfc2822_date};
use crate::format::{decoded, READ_BUFFER};
use crate::normalize::normalize_cow;
use crate::rawfile::RawReader;
use crate::read::{BatchSink, Keyed, Parsed, Skip, SourceOptions, SourceStats};
use crate::{CorpusError, Paper, SkipReason};
use atlas_artifact::IoContext;

/// Which of the two XML layouts a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feed {
    /// The arXiv API's Atom feed.
    Atom,
    /// An OAI-PMH response.
    OaiPmh,
}

/// Recognises the root element in the first bytes of a document (after an XML declaration or comments).
pub(crate) fn sniff_feed(head: &[u8]) -> Option<Feed> {
    let text = String::from_utf8_lossy(head);
    let start = text.trim_start();
    if !start.starts_with('<') {
        return None;
    }
    // The first element that is not a declaration, comment or processing instruction.
    let mut rest = start;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let name: String =
            rest.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
        let local = name.rsplit(':').next().unwrap_or(&name);
        return match local {
            "feed" => Some(Feed::Atom),
            "OAI-PMH" => Some(Feed::OaiPmh),
            _ => None,
        };
    }
    None
}

/// Reads one Atom or OAI-PMH document.
pub(crate) fn read(
    path: &Path,
    feed: Feed,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let raw = RawReader::open(path, opts.progress.cloned(), false)?;
    let mut input = decoded(std::io::BufReader::with_capacity(READ_BUFFER, raw)).io_context("read", path)?;
    let mut text = String::new();
    input.read_to_string(&mut text).io_context("read", path)?;
    let doc = Document::parse(&text).map_err(|e| CorpusError::Xml {
        path: path.to_path_buf(),
        line: e.pos().row,
        column: e.pos().col,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    let expected = match feed {
        Feed::Atom => "feed",
        Feed::OaiPmh => "OAI-PMH",
    };
    if root.tag_name().name() != expected {
        return Err(CorpusError::BadSchema {
            path: path.to_path_buf(),
            what: format!("the root element is <{}>, not <{expected}>", root.tag_name().name()),
        });
    }
    let line = |n: Node| doc.text_pos_at(n.range().start).row as u64;
    let items: Vec<Parsed> = match feed {
        Feed::Atom => children(root, "entry")
            .map(|e| Parsed { line: line(e), outcome: atom_entry(e).map(Keyed::new) })
            .collect(),
        Feed::OaiPmh => {
            if let Some(err) = children(root, "error").next() {
                // `noRecordsMatch` is how OAI-PMH says "nothing new today": an empty input, not a failure.
                let code = err.attribute("code").unwrap_or("");
                if code != "noRecordsMatch" {
                    return Err(CorpusError::BadSchema {
                        path: path.to_path_buf(),
                        what: format!("OAI-PMH error `{code}`: {}", text_of(err)),
                    });
                }
            }
            root.descendants()
                .filter(|n| n.tag_name().name() == "record")
                .map(|r| Parsed { line: line(r), outcome: oai_record(r).map(Keyed::new) })
                .collect()
        }
    };
    let stats = SourceStats { bytes_read: text.len() as u64, ..SourceStats::default() };
    if !items.is_empty() {
        let _ = on_batch(items);
    }
    Ok(stats)
}

/// Child elements of `node` with the local name `name` (namespaces differ between feeds and versions).
fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// All text below `node`, concatenated.
fn text_of(node: Node) -> String {
    node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()
}

fn child_text(node: Node, name: &'static str) -> Option<String> {
    child(node, name).map(text_of)
}

/// Title and abstract, normalised; the skip reasons a JSON record would get.
fn title_and_abstract(
    title: Option<String>,
    abstract_text: Option<String>,
) -> Result<(String, String), Skip> {
    let title = title.ok_or_else(|| Skip::new(SkipReason::MissingTitle, "no <title>"))?;
    let title = normalize_cow(&title).into_owned();
    if title.is_empty() {
        return Err(Skip::new(SkipReason::EmptyTitle, "<title> is empty"));
    }
    let abstract_text = abstract_text.ok_or_else(|| Skip::new(SkipReason::MissingAbstract, "no abstract"))?;
    let abstract_text = normalize_cow(&abstract_text).into_owned();
    if abstract_text.is_empty() {
        return Err(Skip::new(SkipReason::EmptyAbstract, "the abstract is empty"));
    }
    Ok((title, abstract_text))
}

fn nonempty_id(id: Option<String>) -> Result<String, Skip> {
    let id = id.map(|s| s.trim().to_string()).unwrap_or_default();
    if id.is_empty() {
        Err(Skip::new(SkipReason::MissingId, "no <id>"))
    } else {
        Ok(id)
    }
}

/// `http://arxiv.org/abs/2501.01234v2` → `2501.01234`; `http://arxiv.org/abs/hep-th/9901001v1` →
/// `hep-th/9901001`.
fn atom_id(url: &str) -> String {
    let id = url.trim();
    let id = id.split_once("/abs/").map_or(id, |(_, rest)| rest);
    match id.rfind('v') {
        Some(at) if at > 0 && id[at + 1..].bytes().all(|b| b.is_ascii_digit()) && at + 1 < id.len() => {
            id[..at].to_string()
        }
        _ => id.to_string(),
    }
}

fn atom_entry(entry: Node) -> Result<Paper, Skip> {
    let id = nonempty_id(child_text(entry, "id"))?;
    let id = atom_id(&id);
    let (title, abstract_text) =
        title_and_abstract(child_text(entry, "title"), child_text(entry, "summary"))?;
    let mut categories: Vec<String> = Vec::new();
    let primary = child(entry, "primary_category").and_then(|n| n.attribute("term"));
    for term in primary.into_iter().chain(children(entry, "category").filter_map(|n| n.attribute("term"))) {
        let term = term.trim();
        if !term.is_empty() && !categories.iter().any(|c| c == term) {
            categories.push(term.to_string());
        }
    }
    if categories.is_empty() {
        return Err(Skip::new(SkipReason::MissingCategories, "no category term"));
    }
    let authors: Vec<String> = children(entry, "author")
        .filter_map(|a| child_text(a, "name"))
        .map(|n| normalize_cow(&n).into_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let date = child_text(entry, "published").as_deref().and_then(iso_date);
    Ok(Paper { id, title, abstract_text, authors: authors.join(", "), categories, date })
}

fn oai_record(record: Node) -> Result<Paper, Skip> {
    let header = child(record, "header");
    if header.and_then(|h| h.attribute("status")) == Some("deleted") {
        let id = header.and_then(|h| child_text(h, "identifier")).unwrap_or_default();
        return Err(Skip::new(SkipReason::Deleted, format!("deleted record {}", id.trim())));
    }
    let meta = child(record, "metadata")
        .and_then(|m| m.children().find(Node::is_element))
        .ok_or_else(|| Skip::new(SkipReason::MissingId, "a record without <metadata>"))?;
    let id = nonempty_id(child_text(meta, "id"))?;
    let (title, abstract_text) = title_and_abstract(child_text(meta, "title"), child_text(meta, "abstract"))?;
    let categories: Vec<String> =
        child_text(meta, "categories").unwrap_or_default().split_whitespace().map(str::to_string).collect();
    if categories.is_empty() {
        return Err(Skip::new(SkipReason::MissingCategories, "no <categories>"));
    }
    let (authors, date) = match meta.tag_name().name() {
        "arXiv" => {
            let names: Vec<String> = child(meta, "authors")
                .map(|a| {
                    children(a, "author")
                        .map(|au| {
                            ["forenames", "keyname", "suffix"]
                                .iter()
                                .filter_map(|f| child_text(au, f))
                                .map(|s| normalize_cow(&s).into_owned())
                                .filter(|s| !s.is_empty())
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect()
                })
                .unwrap_or_default();
            (names.join(", "), child_text(meta, "created").as_deref().and_then(iso_date))
        }
        "arXivRaw" => {
            let first = children(meta, "version")
                .find(|v| v.attribute("version") == Some("v1"))
                .or_else(|| child(meta, "version"));
            let date = first.and_then(|v| child_text(v, "date")).as_deref().and_then(rfc2822_date);
            (normalize_cow(&child_text(meta, "authors").unwrap_or_default()).into_owned(), date)
        }
        other => {
            return Err(Skip::new(
                SkipReason::WrongType,
                format!("metadata format <{other}> (harvest with metadataPrefix=arXiv or arXivRaw)"),
            ))
        }
    };
    Ok(Paper { id, title, abstract_text, authors, categories, date })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_ids_lose_url_and_version() {
        assert_eq!(atom_id("http://arxiv.org/abs/2501.01234v2"), "2501.01234");
        assert_eq!(atom_id("http://arxiv.org/abs/hep-th/9901001v1"), "hep-th/9901001");
        assert_eq!(atom_id("2501.01234"), "2501.01234");
        assert_eq!(atom_id("http://arxiv.org/abs/solv-int/9901001"), "solv-int/9901001");
    }

    #[test]
    fn sniffs_the_root_element() {
        assert_eq!(sniff_feed(b"<?xml version=\"1.0\"?>\n<feed xmlns=\"x\">"), Some(Feed::Atom));
        assert_eq!(sniff_feed(b"  <!-- c -->\n<OAI-PMH xmlns=\"y\">"), Some(Feed::OaiPmh));
        assert_eq!(sniff_feed(b"<atom:feed xmlns:atom=\"x\">"), Some(Feed::Atom));
        assert_eq!(sniff_feed(b"<html>"), None);
        assert_eq!(sniff_feed(b"{\"id\": 1}"), None);
    }
}
