//! The Hugging Face `arxiv-papers` Parquet layout (e.g. `nick007x/arxiv-papers`).
//!
//! Columns: `arxiv_id`, `title`, `abstract`, `authors`, `primary_subject` (`Artificial Intelligence
//! (cs.AI)`), `subjects` (all subjects in that style, primary first, joined by `"; "`) and
//! `submission_date` (`YYYY-MM-DD`). Category codes are taken from the parentheses.
//!
//! A Parquet file in the layout of a processed dataset's split files (`id`, `title`, `abstract`,
//! `categories` …) is read as such.

use std::fs::File;
use std::path::Path;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::columns::{require_columns, StrColumn};
use crate::date::iso_date;
use crate::normalize::normalize_cow;
use crate::read::{BatchSink, Keyed, Parsed, Skip, SourceOptions, SourceStats};
use crate::{CorpusError, Paper, SkipReason};
use atlas_artifact::IoContext;

/// Rows decoded per record batch.
const BATCH_ROWS: usize = 8192;

/// Reads an HF-layout Parquet file; "line" numbers in the report are 1-based row numbers.
pub(crate) fn read(
    path: &Path,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let file = File::open(path).io_context("open", path)?;
    let size = file.metadata().io_context("stat", path)?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(CorpusError::parquet(path))?;
    if builder.schema().column_with_name("arxiv_id").is_none()
        && crate::dataset::is_split_schema(builder.schema())
    {
        // A split file of a processed dataset, given on its own.
        drop(builder);
        return crate::dataset::read_split_source(path, opts, on_batch);
    }
    require_columns(builder.schema(), &["arxiv_id", "title", "abstract"], path)?;
    if builder.schema().column_with_name("subjects").is_none()
        && builder.schema().column_with_name("primary_subject").is_none()
    {
        return Err(CorpusError::BadSchema {
            path: path.to_path_buf(),
            what: "neither `subjects` nor `primary_subject` column: no categories".into(),
        });
    }
    let total_rows = builder.metadata().file_metadata().num_rows().max(1) as u64;
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(CorpusError::parquet(path))?;

    let mut stats = SourceStats { bytes_on_disk: size, ..Default::default() };
    let mut row = 0u64;
    let mut reported = 0u64;
    for batch in reader {
        let batch = batch.map_err(CorpusError::arrow(path))?;
        let col = |name| StrColumn::get(&batch, name, path);
        let cols = HfColumns {
            id: col("arxiv_id")?,
            title: col("title")?,
            abstract_text: col("abstract")?,
            authors: col("authors")?,
            primary_subject: col("primary_subject")?,
            subjects: col("subjects")?,
            date: col("submission_date")?,
        };
        stats.bytes_read += cols.data_len();
        let mut items = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            row += 1;
            items.push(Parsed { line: row, outcome: cols.paper(i).map(Keyed::new) });
        }
        if let Some(p) = opts.progress {
            let done = size * row.min(total_rows) / total_rows;
            p.inc(done - reported);
            reported = done;
        }
        if on_batch(items).is_break() {
            break;
        }
    }
    Ok(stats)
}

struct HfColumns {
    id: StrColumn,
    title: StrColumn,
    abstract_text: StrColumn,
    authors: StrColumn,
    primary_subject: StrColumn,
    subjects: StrColumn,
    date: StrColumn,
}

impl HfColumns {
    fn data_len(&self) -> u64 {
        [
            &self.id,
            &self.title,
            &self.abstract_text,
            &self.authors,
            &self.primary_subject,
            &self.subjects,
            &self.date,
        ]
        .iter()
        .map(|c| c.data_len())
        .sum()
    }

    fn paper(&self, row: usize) -> Result<Paper, Skip> {
        let id = self.id.value(row).map(str::trim).unwrap_or_default();
        if id.is_empty() {
            return Err(Skip::new(SkipReason::MissingId, "`arxiv_id` is null or empty"));
        }
        let title =
            self.title.value(row).ok_or_else(|| Skip::new(SkipReason::MissingTitle, "`title` is null"))?;
        let title = normalize_cow(title).into_owned();
        if title.is_empty() {
            return Err(Skip::new(SkipReason::EmptyTitle, "title is empty"));
        }
        let abstract_text = self
            .abstract_text
            .value(row)
            .ok_or_else(|| Skip::new(SkipReason::MissingAbstract, "`abstract` is null"))?;
        let abstract_text = normalize_cow(abstract_text).into_owned();
        if abstract_text.is_empty() {
            return Err(Skip::new(SkipReason::EmptyAbstract, "abstract is empty"));
        }
        let subjects = self.subjects.value(row).filter(|s| !s.trim().is_empty());
        let categories = match subjects.or_else(|| self.primary_subject.value(row)) {
            Some(s) => subject_codes(s)?,
            None => Vec::new(),
        };
        if categories.is_empty() {
            return Err(Skip::new(
                SkipReason::MissingCategories,
                "`subjects` and `primary_subject` are empty",
            ));
        }
        Ok(Paper {
            id: id.to_owned(),
            title,
            abstract_text,
            authors: self.authors.value(row).map(|a| normalize_cow(a).into_owned()).unwrap_or_default(),
            categories,
            date: self.date.value(row).and_then(iso_date),
        })
    }
}

/// `"Artificial Intelligence (cs.AI); Machine Learning (cs.LG)"` → `["cs.AI", "cs.LG"]`.
fn subject_codes(subjects: &str) -> Result<Vec<String>, Skip> {
    let mut codes = Vec::new();
    for part in subjects.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let code = subject_code(part).ok_or_else(|| {
            Skip::new(SkipReason::BadRow, format!("subject `{part}` has no category code in parentheses"))
        })?;
        codes.push(code.to_owned());
    }
    Ok(codes)
}

/// The code in the last parentheses of a subject; a bare code (no spaces) is accepted as is.
fn subject_code(subject: &str) -> Option<&str> {
    if let Some(inner) = subject.strip_suffix(')') {
        let open = inner.rfind('(')?;
        let code = inner[open + 1..].trim();
        return (!code.is_empty() && !code.contains(char::is_whitespace)).then_some(code);
    }
    (!subject.contains(char::is_whitespace)).then_some(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_codes_from_subjects() {
        assert_eq!(
            subject_codes("Artificial Intelligence (cs.AI); Machine Learning (cs.LG)").unwrap(),
            ["cs.AI", "cs.LG"]
        );
        assert_eq!(subject_codes("Algebraic Geometry (alg-geom)").unwrap(), ["alg-geom"]);
        assert_eq!(subject_codes("Distributed, Parallel, and Cluster Computing (cs.DC)").unwrap(), ["cs.DC"]);
        assert_eq!(subject_codes("hep-th").unwrap(), ["hep-th"]);
        assert_eq!(subject_codes("Some Subject").unwrap_err().reason, SkipReason::BadRow);
        assert!(subject_codes(" ; ").unwrap().is_empty());
    }
}
