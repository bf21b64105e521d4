//! The Parquet layout of a processed dataset split: one row per paper, all columns strings.
//!
//! | column | content |
//! |---|---|
//! | `id` | arXiv id |
//! | `title`, `abstract`, `authors` | whitespace-normalised text |
//! | `categories` | codes joined by single spaces, primary first |
//! | `primary` | the primary code (the label; repeated for cheap label-only scans) |
//! | `date` | `YYYY-MM-DD` of v1, nullable |

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::columns::{require_columns, StrColumn};
use crate::{CorpusError, Paper};

/// Column names, in file order.
pub(crate) const COLUMNS: [&str; 7] = ["id", "title", "abstract", "authors", "categories", "primary", "date"];

/// Rows per row group: bounds the writer's buffered (compressed) pages and the reader's decode unit.
const ROW_GROUP_ROWS: usize = 65_536;

/// The Arrow schema of a split file.
pub(crate) fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let field = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
            Arc::new(Schema::new(COLUMNS.iter().map(|&c| field(c, c == "date")).collect::<Vec<_>>()))
        })
        .clone()
}

/// Writer settings: zstd level 1 (the text compresses about 3x at several hundred MB/s per core),
/// dictionaries only for the low-cardinality columns, no min/max statistics (nobody filters on a title).
pub(crate) fn writer_properties() -> Result<WriterProperties, CorpusError> {
    let level = ZstdLevel::try_new(1).map_err(|e| CorpusError::Internal(format!("zstd level: {e}")))?;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("arxiv-atlas {}", env!("CARGO_PKG_VERSION")));
    for col in ["id", "title", "abstract", "authors"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    Ok(b.build())
}

/// Column builders for one record batch of papers, in [`COLUMNS`] order.
pub(crate) struct PaperColumns {
    cols: [StringBuilder; 7],
    rows: usize,
    bytes: usize,
}

impl PaperColumns {
    /// Builders pre-sized for `rows` rows and the given string bytes per column, so that filling them
    /// never reallocates (and copies) a growing buffer.
    pub fn with_capacity(rows: usize, data: [usize; 7]) -> Self {
        PaperColumns { cols: data.map(|d| StringBuilder::with_capacity(rows, d)), rows: 0, bytes: 0 }
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of text buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn push(&mut self, p: &Paper) {
        let [id, title, abstract_text, authors, categories, primary, date] = &mut self.cols;
        id.append_value(&p.id);
        title.append_value(&p.title);
        abstract_text.append_value(&p.abstract_text);
        authors.append_value(&p.authors);
        // `StringBuilder` is a `fmt::Write`: the joined categories go straight into its buffer.
        for (i, c) in p.categories.iter().enumerate() {
            if i > 0 {
                std::fmt::Write::write_char(categories, ' ').ok();
            }
            std::fmt::Write::write_str(categories, c).ok();
        }
        categories.append_value("");
        primary.append_value(p.primary());
        date.append_option(p.date.as_deref());
        self.rows += 1;
        self.bytes += p.id.len() + p.title.len() + p.abstract_text.len() + p.authors.len();
    }

    /// Turns the buffered rows into a record batch and starts afresh, with builders sized like the
    /// batch just finished.
    pub fn finish(&mut self) -> Result<RecordBatch, CorpusError> {
        let data = self.cols.each_ref().map(|b| b.values_slice().len() + b.values_slice().len() / 8);
        let rows = self.rows;
        let full = std::mem::replace(self, PaperColumns::with_capacity(rows, data));
        let cols: Vec<ArrayRef> =
            full.cols.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
        // Cannot fail: the arrays are built to the schema, all of the same length.
        RecordBatch::try_new(schema(), cols)
            .map_err(|e| CorpusError::Internal(format!("building a dataset record batch: {e}")))
    }
}

/// Checks that a split file has this layout's columns.
pub(crate) fn check_schema(schema: &SchemaRef, path: &Path) -> Result<(), CorpusError> {
    require_columns(schema, &COLUMNS, path)
}

/// A decoded batch of a split file: the papers (or what is wrong with a row) and the text bytes read.
pub(crate) type DecodedRows = (Vec<Result<Paper, String>>, u64);

/// Reads the papers of one record batch of a split file.
pub(crate) fn papers_from_batch(batch: &RecordBatch, path: &Path) -> Result<DecodedRows, CorpusError> {
    let col = |name| StrColumn::get(batch, name, path);
    let (id, title, abs, authors, cats, date) =
        (col("id")?, col("title")?, col("abstract")?, col("authors")?, col("categories")?, col("date")?);
    let bytes = [&id, &title, &abs, &authors, &cats, &date].iter().map(|c| c.data_len()).sum();
    let rows = (0..batch.num_rows())
        .map(|i| {
            fn get<'c>(c: &'c StrColumn, i: usize, name: &str) -> Result<&'c str, String> {
                c.value(i).ok_or_else(|| format!("`{name}` is null"))
            }
            let categories: Vec<String> = get(&cats, i, "categories")?
                .split(' ')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            if categories.is_empty() {
                return Err("`categories` is empty".to_string());
            }
            Ok(Paper {
                id: get(&id, i, "id")?.to_owned(),
                title: get(&title, i, "title")?.to_owned(),
                abstract_text: get(&abs, i, "abstract")?.to_owned(),
                authors: authors.value(i).unwrap_or_default().to_owned(),
                categories,
                date: date.value(i).map(str::to_owned),
            })
        })
        .collect();
    Ok((rows, bytes))
}
