//! Incremental, atomic writing of the three split files.
//!
//! Work is divided between two threads: [`SplitBatcher`] (on the ingest thread) copies papers into Arrow
//! column builders and cuts record batches; [`DatasetWriter`] (on its own thread) encodes, compresses and
//! writes them, closing a row group every 65 536 rows. Memory therefore stays bounded whatever the
//! corpus size. Each file is written under a temporary name in the output folder and renamed into place
//! only after all three were completely written and synced.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use atlas_artifact::{FileEntry, IoContext, IoError};
use parquet::arrow::ArrowWriter;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::schema::{schema, writer_properties, PaperColumns};
use crate::{CorpusError, Paper, Split};

/// Rows per record batch handed to the Parquet encoder.
const BATCH_ROWS: usize = 8192;
/// Text bytes per record batch (whichever limit comes first).
const BATCH_BYTES: usize = 32 << 20;
/// Initial builder sizes: about what a batch of arXiv papers needs (the builders then follow the size of
/// the previous batch).
const INITIAL_DATA: [usize; 7] = [12 << 7, 90 << 7, 1000 << 7, 60 << 7, 20 << 7, 8 << 7, 10 << 7];

/// Cuts the papers of each split into record batches.
pub(crate) struct SplitBatcher {
    columns: [PaperColumns; 3],
}

impl SplitBatcher {
    pub fn new() -> Self {
        let data = INITIAL_DATA.map(|d| d * (BATCH_ROWS >> 7));
        SplitBatcher { columns: [(); 3].map(|_| PaperColumns::with_capacity(BATCH_ROWS, data)) }
    }

    /// Adds a paper; returns its split's batch once that is full.
    pub fn push(&mut self, split: Split, paper: &Paper) -> Result<Option<RecordBatch>, CorpusError> {
        let cols = &mut self.columns[split.index()];
        cols.push(paper);
        if cols.rows() >= BATCH_ROWS || cols.bytes() >= BATCH_BYTES {
            return cols.finish().map(Some);
        }
        Ok(None)
    }

    /// The partial batches left at the end.
    pub fn drain(&mut self) -> Result<Vec<(Split, RecordBatch)>, CorpusError> {
        let mut out = Vec::new();
        for split in Split::ALL {
            let cols = &mut self.columns[split.index()];
            if cols.rows() > 0 {
                out.push((split, cols.finish()?));
            }
        }
        Ok(out)
    }
}

/// Checksums the bytes on their way to disk, so the manifest entry needs no second read of the file.
struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writer of one split file.
struct SplitWriter {
    path: PathBuf,
    tmp: NamedTempFile,
    writer: ArrowWriter<HashingWriter>,
    rows: u64,
}

impl SplitWriter {
    fn create(dir: &Path, split: Split) -> Result<Self, CorpusError> {
        let path = dir.join(super::split_file(split));
        let prefix = format!(".{split}.parquet.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        // Temporary files are private (0600) by default; the finished dataset is meant to be shared.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let tmp = builder.tempfile_in(dir).io_context("create temporary file in", dir)?;
        let file = tmp.as_file().try_clone().io_context("open", tmp.path())?;
        let sink =
            HashingWriter { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), bytes: 0 };
        let writer = ArrowWriter::try_new(sink, schema(), Some(writer_properties()?))
            .map_err(CorpusError::parquet(&path))?;
        Ok(SplitWriter { path, tmp, writer, rows: 0 })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), CorpusError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(CorpusError::parquet(&self.path))
    }

    /// Writes the footer and syncs; the file keeps its temporary name until [`Completed::persist`].
    fn complete(self) -> Result<Completed, CorpusError> {
        let sink = self.writer.into_inner().map_err(CorpusError::parquet(&self.path))?;
        let entry = FileEntry { sha256: hex::encode(sink.hasher.finalize()), bytes: sink.bytes };
        let file = sink.inner.into_inner().map_err(|e| IoError::new("write", &self.path, e.into_error()))?;
        file.sync_all().io_context("sync", &self.path)?;
        Ok(Completed { path: self.path, tmp: self.tmp, rows: self.rows, entry })
    }
}

/// A fully written split file still under its temporary name.
struct Completed {
    path: PathBuf,
    tmp: NamedTempFile,
    rows: u64,
    entry: FileEntry,
}

/// What was written for one split.
#[derive(Debug, Clone)]
pub(crate) struct WrittenSplit {
    /// Papers written.
    pub rows: u64,
    /// Checksum and size of the file, for the manifest.
    pub entry: FileEntry,
}

impl Completed {
    fn persist(self) -> Result<WrittenSplit, CorpusError> {
        self.tmp.persist(&self.path).map_err(|e| IoError::new("rename into", &self.path, e.error))?;
        Ok(WrittenSplit { rows: self.rows, entry: self.entry })
    }
}

/// Writer of the three split files of a dataset folder.
pub(crate) struct DatasetWriter {
    splits: Vec<SplitWriter>,
}

impl DatasetWriter {
    /// Starts the three files (under temporary names) in `dir`, which must exist.
    pub fn create(dir: &Path) -> Result<Self, CorpusError> {
        let splits = Split::ALL.iter().map(|&s| SplitWriter::create(dir, s)).collect::<Result<_, _>>()?;
        Ok(DatasetWriter { splits })
    }

    /// Encodes a batch of papers into its split's file.
    pub fn write(&mut self, split: Split, batch: &RecordBatch) -> Result<(), CorpusError> {
        self.splits[split.index()].write(batch)
    }

    /// Completes the files and renames them into place; returns what was written, in the order of
    /// [`Split::ALL`]. All three files are completely written before the first rename, so an encoding or
    /// disk error replaces none of them (the temporary files are removed).
    pub fn finish(self) -> Result<Vec<WrittenSplit>, CorpusError> {
        let completed = self.splits.into_iter().map(SplitWriter::complete).collect::<Result<Vec<_>, _>>()?;
        completed.into_iter().map(Completed::persist).collect()
    }
}
