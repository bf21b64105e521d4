//! Access to the string columns of Arrow record batches read from Parquet, whatever string encoding the
//! writer chose (`Utf8`, `LargeUtf8`, `Utf8View`).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Schema};

use crate::CorpusError;

/// A column converted to `Utf8`, or absent.
pub(crate) struct StrColumn(Option<StringArray>);

impl StrColumn {
    /// The column `name` of `batch` (absent when the batch has no such column).
    pub fn get(batch: &RecordBatch, name: &str, path: &Path) -> Result<StrColumn, CorpusError> {
        let Some(col) = batch.column_by_name(name) else { return Ok(StrColumn(None)) };
        Ok(StrColumn(Some(to_utf8(col, name, path)?)))
    }

    /// The value at `row`; `None` for null values and absent columns.
    pub fn value(&self, row: usize) -> Option<&str> {
        let a = self.0.as_ref()?;
        if a.is_null(row) {
            None
        } else {
            Some(a.value(row))
        }
    }

    /// Bytes of string data in the column (the "uncompressed size" reported for tabular inputs).
    pub fn data_len(&self) -> u64 {
        self.0.as_ref().map_or(0, |a| {
            let offsets = a.value_offsets();
            (offsets[offsets.len() - 1] - offsets[0]) as u64
        })
    }
}

fn to_utf8(col: &ArrayRef, name: &str, path: &Path) -> Result<StringArray, CorpusError> {
    if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
        return Ok(a.clone());
    }
    match col.data_type() {
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            let cast = arrow::compute::cast(col, &DataType::Utf8).map_err(CorpusError::arrow(path))?;
            cast.as_any().downcast_ref::<StringArray>().cloned().ok_or_else(|| CorpusError::BadSchema {
                path: path.to_path_buf(),
                what: format!("column `{name}` could not be read as strings"),
            })
        }
        other => Err(CorpusError::BadSchema {
            path: path.to_path_buf(),
            what: format!("column `{name}` has type {other}, expected strings"),
        }),
    }
}

/// Checks up front that `schema` has every column of `required`, naming the missing ones.
pub(crate) fn require_columns(
    schema: &Arc<Schema>,
    required: &[&str],
    path: &Path,
) -> Result<(), CorpusError> {
    let missing: Vec<&str> =
        required.iter().copied().filter(|c| schema.column_with_name(c).is_none()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        let found: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Err(CorpusError::BadSchema {
            path: path.to_path_buf(),
            what: format!("missing column(s) {missing:?}; the file has {found:?}"),
        })
    }
}
