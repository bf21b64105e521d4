//! The processed dataset folder: `train.parquet`, `validation.parquet`, `test.parquet`,
//! `ingest-report.json` and a `manifest.json` (kind [`DATASET_KIND`]) that checksums them and carries the
//! split counts, the input fingerprint and the label list.

mod schema;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};

use atlas_artifact::{IoContext, Manifest};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::read::{BatchSink, Keyed, Parsed, Skip, SourceOptions, SourceStats};
use crate::{CorpusError, Paper, SkipReason, Split};
pub(crate) use writer::{DatasetWriter, SplitBatcher, WrittenSplit};

/// Manifest kind of a processed dataset folder.
pub const DATASET_KIND: &str = "arxiv-atlas/dataset";
/// Newest dataset format version this build writes and reads.
pub const DATASET_FORMAT_VERSION: u32 = 1;
/// Name of the ingest report inside a dataset folder.
pub const INGEST_REPORT_FILE: &str = "ingest-report.json";

/// Rows decoded per batch when reading a split file.
const READ_BATCH_ROWS: usize = 8192;

/// File name of a split inside a dataset folder (`train.parquet` …).
pub fn split_file(split: Split) -> String {
    format!("{split}.parquet")
}

/// A count per split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    /// Papers in the training split.
    pub train: u64,
    /// Papers in the validation split.
    pub validation: u64,
    /// Papers in the test split.
    pub test: u64,
}

impl SplitCounts {
    /// The count of one split.
    pub fn get(&self, split: Split) -> u64 {
        match split {
            Split::Train => self.train,
            Split::Validation => self.validation,
            Split::Test => self.test,
        }
    }

    /// Adds `n` to one split.
    pub fn add(&mut self, split: Split, n: u64) {
        match split {
            Split::Train => self.train += n,
            Split::Validation => self.validation += n,
            Split::Test => self.test += n,
        }
    }

    /// Sum over the splits.
    pub fn total(&self) -> u64 {
        self.train + self.validation + self.test
    }
}

/// A primary category present in a dataset, with its paper counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    /// Category code (the label).
    pub code: String,
    /// Official name, when a taxonomy was given at ingest and knows the code.
    pub name: Option<String>,
    /// Papers with this primary category, over all splits.
    pub count: u64,
    /// The same per split.
    pub splits: SplitCounts,
}

/// The `meta` object of a dataset manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DatasetMeta {
    /// Papers per split.
    pub counts: SplitCounts,
    /// [`fingerprint_files`](crate::fingerprint_files) of the inputs.
    pub fingerprint: String,
    /// Primary categories present, sorted by code.
    pub labels: Vec<CategoryCount>,
    /// The inputs, as given.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Taxonomy file used for names, if any.
    #[serde(default)]
    pub taxonomy: Option<String>,
}

/// An opened, verified dataset folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    meta: DatasetMeta,
}

impl Dataset {
    /// Opens a dataset folder, verifying kind, version and the checksum of every file: a damaged or
    /// modified split file is refused here, before a single row is used.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, CorpusError> {
        let dir = dir.as_ref();
        let manifest = Manifest::open(dir, DATASET_KIND, DATASET_FORMAT_VERSION)?;
        let meta: DatasetMeta = serde_json::from_value(manifest.meta.clone()).map_err(|e| {
            CorpusError::BadDataset { dir: dir.to_path_buf(), what: format!("manifest meta: {e}") }
        })?;
        for split in Split::ALL {
            if !manifest.files.contains_key(&split_file(split)) {
                return Err(CorpusError::BadDataset {
                    dir: dir.to_path_buf(),
                    what: format!("the manifest does not list {}", split_file(split)),
                });
            }
        }
        Ok(Dataset { dir: dir.to_path_buf(), manifest, meta })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a split's Parquet file.
    pub fn split_path(&self, split: Split) -> PathBuf {
        self.dir.join(split_file(split))
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Papers per split.
    pub fn counts(&self) -> SplitCounts {
        self.meta.counts
    }

    /// Fingerprint of the inputs the dataset was built from (for run tracking and caching).
    pub fn fingerprint(&self) -> &str {
        &self.meta.fingerprint
    }

    /// Primary categories present, sorted by code, with names and counts.
    pub fn categories(&self) -> &[CategoryCount] {
        &self.meta.labels
    }

    /// The taxonomy name of a primary category of this dataset, when ingest had a taxonomy.
    pub fn category_name(&self, code: &str) -> Option<&str> {
        let cats = self.categories();
        cats.binary_search_by(|c| c.code.as_str().cmp(code)).ok().and_then(|i| cats[i].name.as_deref())
    }

    /// The label codes, sorted.
    pub fn labels(&self) -> Vec<&str> {
        self.meta.labels.iter().map(|c| c.code.as_str()).collect()
    }

    /// All papers of a split, in the order they were ingested.
    pub fn read(&self, split: Split) -> Result<Vec<Paper>, CorpusError> {
        let mut out = Vec::with_capacity(self.counts().get(split) as usize);
        self.for_each_batch(split, |batch| {
            out.extend(batch);
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Streams the papers of a split in batches of a few thousand (bounded memory for large datasets).
    pub fn for_each_batch(
        &self,
        split: Split,
        mut f: impl FnMut(Vec<Paper>) -> std::ops::ControlFlow<()>,
    ) -> Result<(), CorpusError> {
        let path = self.split_path(split);
        let mut row = 0usize;
        read_split_file(&path, &mut |rows| {
            let mut papers = Vec::with_capacity(rows.len());
            for r in rows {
                row += 1;
                papers.push(r.map_err(|what| CorpusError::BadDataset {
                    dir: self.dir.clone(),
                    what: format!("{} row {row}: {what}", split_file(split)),
                })?);
            }
            Ok(f(papers))
        })?;
        Ok(())
    }
}

/// Reads a split file batch by batch; `f` returns `Break` to stop early. Returns the text bytes read.
fn read_split_file(
    path: &Path,
    f: &mut dyn FnMut(Vec<Result<Paper, String>>) -> Result<std::ops::ControlFlow<()>, CorpusError>,
) -> Result<u64, CorpusError> {
    let file = File::open(path).io_context("open", path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(CorpusError::parquet(path))?;
    schema::check_schema(builder.schema(), path)?;
    let reader = builder.with_batch_size(READ_BATCH_ROWS).build().map_err(CorpusError::parquet(path))?;
    let mut bytes = 0u64;
    for batch in reader {
        let batch = batch.map_err(CorpusError::arrow(path))?;
        let (rows, text_bytes) = schema::papers_from_batch(&batch, path)?;
        bytes += text_bytes;
        if f(rows)?.is_break() {
            break;
        }
    }
    Ok(bytes)
}

/// A dataset folder as an input of [`read_papers`](crate::read_papers) or [`ingest`](crate::ingest):
/// verified first, then its split files in the order train, validation, test (only the requested split
/// when there is one). Row numbers run on across the files.
pub(crate) fn read_source(
    dir: &Path,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let ds = Dataset::open(dir)?;
    let mut stats = SourceStats::default();
    let mut row = 0u64;
    for split in Split::ALL {
        if opts.split.is_some_and(|s| s != split) {
            continue;
        }
        let (bytes, stopped) = read_split_rows(&ds.split_path(split), &mut row, on_batch)?;
        stats.bytes_read += bytes;
        let size = ds.manifest.files.get(&split_file(split)).map_or(0, |e| e.bytes);
        stats.bytes_on_disk += size;
        if let Some(p) = opts.progress {
            p.inc(size);
        }
        if stopped {
            break;
        }
    }
    Ok(stats)
}

/// Whether a Parquet schema is the layout of a dataset split file.
pub(crate) fn is_split_schema(schema: &arrow::datatypes::SchemaRef) -> bool {
    schema::COLUMNS.iter().all(|c| schema.column_with_name(c).is_some())
}

/// A single split file given directly as an input (without its folder, so without verification).
pub(crate) fn read_split_source(
    path: &Path,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let size = std::fs::metadata(path).io_context("stat", path)?.len();
    let (bytes_read, _) = read_split_rows(path, &mut 0, on_batch)?;
    if let Some(p) = opts.progress {
        p.inc(size);
    }
    Ok(SourceStats { bytes_read, bytes_on_disk: size, ..Default::default() })
}

/// Feeds the rows of a split file to `on_batch`, numbering them on from `row`. Returns the text bytes
/// read and whether `on_batch` asked to stop.
fn read_split_rows(
    path: &Path,
    row: &mut u64,
    on_batch: &mut BatchSink<'_>,
) -> Result<(u64, bool), CorpusError> {
    let mut stopped = false;
    let bytes = read_split_file(path, &mut |rows| {
        let items = rows
            .into_iter()
            .map(|r| {
                *row += 1;
                let outcome = r.map(Keyed::new).map_err(|what| Skip::new(SkipReason::BadRow, what));
                Parsed { line: *row, outcome }
            })
            .collect();
        let flow = on_batch(items);
        stopped = flow.is_break();
        Ok(flow)
    })?;
    Ok((bytes, stopped))
}
