//! CSV inputs: a header naming at least `title`, `abstract` and `categories` (any order, any case);
//! optional `id` (or `arxiv_id`), `authors` and `date` (or `update_date`, `submission_date`). Plain or
//! gzip. Categories are separated by spaces (commas and semicolons are accepted too), primary first.
//!
//! Rows without an id get a stable one derived from the title, `csv:` + the first 12 hex digits of the
//! SHA-256 of the normalised title, so re-reading the same file gives the same ids (and splits).

use std::io::BufReader;
use std::path::Path;

use csv::ByteRecord;

use crate::date::iso_date;
use crate::format::{decoded, READ_BUFFER};
use crate::normalize::normalize_cow;
use crate::rawfile::RawReader;
use crate::read::{BatchSink, Keyed, Parsed, Skip, SourceOptions, SourceStats};
use crate::{CorpusError, Paper, SkipReason};
use atlas_artifact::IoContext;

/// Rows handed over per batch.
const BATCH_ROWS: usize = 4096;

/// Column positions found in the header.
struct Layout {
    id: Option<usize>,
    title: usize,
    abstract_text: usize,
    categories: usize,
    authors: Option<usize>,
    date: Option<usize>,
}

impl Layout {
    fn from_header(header: &ByteRecord, path: &Path) -> Result<Layout, CorpusError> {
        let names: Vec<String> = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |candidates: &[&str]| candidates.iter().find_map(|c| names.iter().position(|n| n == c));
        let need = |name: &str| {
            find(&[name]).ok_or_else(|| CorpusError::BadSchema {
                path: path.to_path_buf(),
                what: format!("CSV header has no `{name}` column (found {names:?})"),
            })
        };
        Ok(Layout {
            id: find(&["id", "arxiv_id"]),
            title: need("title")?,
            abstract_text: need("abstract")?,
            categories: need("categories")?,
            authors: find(&["authors"]),
            date: find(&["date", "update_date", "submission_date"]),
        })
    }
}

/// Reads a CSV file; "line" numbers in the report are 1-based data row numbers (the header is row 0).
pub(crate) fn read(
    path: &Path,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let raw = RawReader::open(path, opts.progress.cloned(), false)?;
    let input = decoded(BufReader::with_capacity(READ_BUFFER, raw)).io_context("read", path)?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(input);
    let header =
        rdr.byte_headers().map_err(|source| CorpusError::Csv { path: path.to_path_buf(), source })?.clone();
    let layout = Layout::from_header(&header, path)?;

    let mut stats = SourceStats::default();
    let mut record = ByteRecord::new();
    let mut items = Vec::with_capacity(BATCH_ROWS);
    let mut row = 0u64;
    loop {
        let outcome = match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                row += 1;
                row_paper(&record, &layout).map(Keyed::new)
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => {
                    return Err(CorpusError::Csv { path: path.to_path_buf(), source: e });
                }
                _ => {
                    row += 1;
                    Err(Skip::new(SkipReason::BadRow, e.to_string()))
                }
            },
        };
        items.push(Parsed { line: row, outcome });
        if items.len() >= BATCH_ROWS && on_batch(std::mem::take(&mut items)).is_break() {
            return Ok(finish(stats, &rdr));
        }
    }
    if !items.is_empty() {
        let _ = on_batch(items);
    }
    stats = finish(stats, &rdr);
    Ok(stats)
}

fn finish<R: std::io::Read>(mut stats: SourceStats, rdr: &csv::Reader<R>) -> SourceStats {
    stats.bytes_read = rdr.position().byte();
    stats
}

fn field<'r>(record: &'r ByteRecord, idx: Option<usize>, name: &str) -> Result<Option<&'r str>, Skip> {
    let Some(bytes) = idx.and_then(|i| record.get(i)) else { return Ok(None) };
    std::str::from_utf8(bytes).map(Some).map_err(|e| {
        Skip::new(SkipReason::BadUtf8, format!("`{name}` is not valid UTF-8 (byte {})", e.valid_up_to()))
    })
}

fn row_paper(record: &ByteRecord, layout: &Layout) -> Result<Paper, Skip> {
    let title = field(record, Some(layout.title), "title")?
        .ok_or_else(|| Skip::new(SkipReason::MissingTitle, "no `title` field in this row"))?;
    let title = normalize_cow(title).into_owned();
    if title.is_empty() {
        return Err(Skip::new(SkipReason::EmptyTitle, "title is empty"));
    }
    let abstract_text = field(record, Some(layout.abstract_text), "abstract")?
        .ok_or_else(|| Skip::new(SkipReason::MissingAbstract, "no `abstract` field in this row"))?;
    let abstract_text = normalize_cow(abstract_text).into_owned();
    if abstract_text.is_empty() {
        return Err(Skip::new(SkipReason::EmptyAbstract, "abstract is empty"));
    }
    let categories: Vec<String> = field(record, Some(layout.categories), "categories")?
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if categories.is_empty() {
        return Err(Skip::new(SkipReason::MissingCategories, "categories is empty"));
    }
    let id = match field(record, layout.id, "id")?.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => id.to_owned(),
        None => derived_id(&title),
    };
    let authors =
        field(record, layout.authors, "authors")?.map(|a| normalize_cow(a).into_owned()).unwrap_or_default();
    let date = field(record, layout.date, "date")?.and_then(iso_date);
    Ok(Paper { id, title, abstract_text, authors, categories, date })
}

/// The id of a row without one: `csv:` + 12 hex digits of the SHA-256 of the normalised title.
fn derived_id(title: &str) -> String {
    let hex = atlas_artifact::sha256_bytes(title.as_bytes());
    format!("csv:{}", &hex[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable() {
        let a = derived_id("A title");
        assert_eq!(a, derived_id("A title"));
        assert_ne!(a, derived_id("Another title"));
        assert!(a.starts_with("csv:") && a.len() == 16, "{a}");
    }
}
