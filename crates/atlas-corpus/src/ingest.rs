//! `ingest`: inputs of any format → a processed, checksummed dataset folder.
//!
//! ```text
//!  format reader                ─▶  this thread: dedup, caps, counts,  ─▶  writing thread: Parquet
//!  (pipelined for JSON lines)       Arrow record batches per split          encoding, zstd, checksums
//! ```
//!
//! Only the set of ids seen (16 bytes each) and per-category counters grow with the corpus; papers stream
//! through bounded queues into row groups on disk.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use ahash::AHashMap;
use arrow::array::RecordBatch;
use atlas_artifact::{write_atomic, IoContext, Manifest};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::dataset::{
    split_file, DatasetMeta, DatasetWriter, SplitBatcher, WrittenSplit, INGEST_REPORT_FILE,
};
use crate::fingerprint::{combine, input_sha256};
use crate::read::{read_source, Collector, IdSet, SourceOptions};
use crate::{
    detect_format, CategoryCount, CorpusError, InputFormat, Paper, ReadReport, Split, SplitCounts, Taxonomy,
    DATASET_FORMAT_VERSION, DATASET_KIND,
};

/// Record batches queued for the writing thread: lets reading run ahead while pages are compressed.
const WRITE_QUEUE: usize = 4;

/// Options of [`ingest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOptions {
    /// Stop after this many papers were written.
    pub max_samples: Option<usize>,
    /// Keep at most this many papers per primary category (the first ones met, in input order).
    pub max_per_category: Option<usize>,
    /// Taxonomy TSV: names the labels and flags unknown category codes.
    pub taxonomy: Option<PathBuf>,
    /// Draw a progress bar over input bytes on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

/// What happened to one input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputSummary {
    /// The input as given.
    pub path: PathBuf,
    /// Its detected format.
    pub format: InputFormat,
    /// SHA-256 of its bytes (of `manifest.json` for a dataset folder).
    pub sha256: String,
    /// Records read, kept and skipped.
    pub report: ReadReport,
    /// `true` when `max_samples` was reached before this input was opened.
    pub not_read: bool,
    /// Seconds spent reading it.
    pub elapsed_secs: f64,
}

/// Everything an ingest did; also written to `ingest-report.json` in the dataset folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestReport {
    /// The dataset folder.
    pub out_dir: PathBuf,
    /// Per input, in order.
    pub inputs: Vec<InputSummary>,
    /// Sum of the per-input reports (their `records_kept` include papers dropped by the category cap).
    pub totals: ReadReport,
    /// Papers written per split.
    pub written: SplitCounts,
    /// Primary categories written, sorted by code.
    pub categories: Vec<CategoryCount>,
    /// Papers left out by `max_per_category`.
    pub dropped_by_category_cap: u64,
    /// `true` when `max_samples` stopped reading.
    pub stopped_at_max_samples: bool,
    /// [`fingerprint_files`](crate::fingerprint_files) of the inputs.
    pub fingerprint: String,
    /// The options used.
    pub options: IngestOptions,
    /// Wall time of the whole ingest, writing included. (The copy in `ingest-report.json` is taken just
    /// before that file and the manifest are written, so it is a few milliseconds shorter.)
    pub elapsed_secs: f64,
    /// Uncompressed input megabytes (10^6 bytes) per wall second.
    pub mb_per_sec: f64,
}

/// Reads `inputs` in order and writes a dataset folder to `out_dir`: `train.parquet`,
/// `validation.parquet`, `test.parquet`, `ingest-report.json` and, last, `manifest.json`.
///
/// Duplicate ids are dropped after their first occurrence across all inputs. Every file is written
/// atomically; the previous manifest is removed first, so an interrupted ingest leaves a folder that
/// [`Dataset::open`](crate::Dataset::open) refuses instead of a mix of old and new files.
pub fn ingest(inputs: &[PathBuf], out_dir: &Path, opts: &IngestOptions) -> Result<IngestReport, CorpusError> {
    ingest_staged(inputs, out_dir, out_dir, opts)
}

/// [`ingest`] writing into `out_dir` a dataset whose report names `final_dir`: the folder it will be renamed to
/// ([`append`](crate::append) builds beside the dataset and swaps the folders).
pub(crate) fn ingest_staged(
    inputs: &[PathBuf],
    out_dir: &Path,
    final_dir: &Path,
    opts: &IngestOptions,
) -> Result<IngestReport, CorpusError> {
    let start = Instant::now();
    check_options(inputs, out_dir, opts)?;
    let taxonomy = opts.taxonomy.as_deref().map(Taxonomy::load).transpose()?;
    let formats = inputs.iter().map(|p| detect_format(p)).collect::<Result<Vec<_>, _>>()?;
    for (path, format) in inputs.iter().zip(&formats) {
        if *format == InputFormat::Dataset && same_dir(path, out_dir) {
            return Err(CorpusError::InvalidOption(format!(
                "{} is both an input and the output folder",
                path.display()
            )));
        }
    }

    // Re-ingesting into a dataset folder: its old manifest goes first, so the folder never pairs it with
    // new split files.
    Manifest::begin_write(out_dir)?;
    let progress = opts.progress.then(|| progress_bar(inputs));

    let writer = DatasetWriter::create(out_dir)?;
    let (tx, rx) = mpsc::sync_channel::<ToWriter>(WRITE_QUEUE);
    let writing = thread::Builder::new()
        .name("atlas-corpus-write".into())
        .spawn(move || write_all(writer, rx))
        .io_context("start writing thread for", out_dir)?;

    let mut state = State {
        tx: Some(tx),
        batcher: SplitBatcher::new(),
        per_category: AHashMap::new(),
        dropped_by_cap: 0,
        written: 0,
        stop: None,
        error: None,
    };
    let read = read_inputs(inputs, &formats, &mut state, taxonomy.as_ref(), progress.as_ref(), opts);
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    // On a reading error the writer is told nothing more: it then drops its temporary files.
    let finished = read.is_ok() && state.finish();
    drop(state.tx.take());
    let joined = writing.join().map_err(|_| CorpusError::Internal("the writing thread panicked".into()))?;
    let summaries = read?;
    if let Some(e) = state.error.take() {
        return Err(e);
    }
    // The writer's own error explains why it stopped taking papers; report that one first.
    let files = joined?;
    if !finished {
        return Err(CorpusError::Internal("the writing thread stopped early".into()));
    }

    let mut totals = ReadReport::default();
    for s in &summaries {
        totals.merge(&s.report);
    }
    let mut written = SplitCounts::default();
    for (split, w) in Split::ALL.into_iter().zip(&files) {
        written.add(split, w.rows);
    }
    let categories = category_counts(state.per_category, taxonomy.as_ref());
    let fingerprint = combine(&summaries.iter().map(|s| s.sha256.clone()).collect::<Vec<_>>());
    let elapsed_secs = start.elapsed().as_secs_f64();
    let mut report = IngestReport {
        out_dir: final_dir.to_path_buf(),
        inputs: summaries,
        mb_per_sec: totals.bytes_read as f64 / 1e6 / elapsed_secs.max(1e-9),
        totals,
        written,
        categories,
        dropped_by_category_cap: state.dropped_by_cap,
        stopped_at_max_samples: state.stop == Some(Stop::MaxSamples),
        fingerprint,
        options: opts.clone(),
        elapsed_secs,
    };
    write_outputs(out_dir, &report, inputs, &files)?;
    // The returned report also counts writing the report and the manifest; the copy in the folder
    // could not, as it is part of what is timed.
    report.elapsed_secs = start.elapsed().as_secs_f64();
    report.mb_per_sec = report.totals.bytes_read as f64 / 1e6 / report.elapsed_secs.max(1e-9);
    tracing::info!(
        out = %out_dir.display(),
        train = written.train,
        validation = written.validation,
        test = written.test,
        secs = report.elapsed_secs,
        mb_per_sec = report.mb_per_sec,
        "dataset written"
    );
    Ok(report)
}

/// Messages to the writing thread.
enum ToWriter {
    /// A record batch of papers for one split.
    Batch(Split, RecordBatch),
    /// Everything was read: complete the files and rename them into place.
    Finish,
}

/// Body of the writing thread. Without a [`ToWriter::Finish`] (the ingest failed) the temporary files
/// are dropped, which deletes them.
fn write_all(
    mut writer: DatasetWriter,
    rx: mpsc::Receiver<ToWriter>,
) -> Result<Vec<WrittenSplit>, CorpusError> {
    for msg in rx {
        match msg {
            ToWriter::Batch(split, batch) => writer.write(split, &batch)?,
            ToWriter::Finish => return writer.finish(),
        }
    }
    Err(CorpusError::Internal("ingest aborted before its end; nothing was written".into()))
}

/// Reads every input in turn into `state`; inputs after a reached `max_samples` are only fingerprinted.
fn read_inputs(
    inputs: &[PathBuf],
    formats: &[InputFormat],
    state: &mut State,
    taxonomy: Option<&Taxonomy>,
    progress: Option<&ProgressBar>,
    opts: &IngestOptions,
) -> Result<Vec<InputSummary>, CorpusError> {
    let mut summaries = Vec::with_capacity(inputs.len());
    let mut seen = IdSet::default();
    for (path, &format) in inputs.iter().zip(formats) {
        if state.stop == Some(Stop::WriterGone) {
            break;
        }
        if state.stop.is_some() {
            let sha256 = input_sha256(path)?;
            summaries.push(InputSummary {
                path: path.clone(),
                format,
                sha256,
                report: ReadReport::default(),
                not_read: true,
                elapsed_secs: 0.0,
            });
            continue;
        }
        let t = Instant::now();
        tracing::info!(input = %path.display(), %format, "reading");
        let mut collector = Collector::new(&mut seen, taxonomy, None);
        let source_opts = SourceOptions { progress, hash: true, split: None };
        let mut sink = |paper: Paper, split: Split| state.accept(paper, split, opts);
        let stats = read_source(path, format, source_opts, &mut |batch| collector.take(batch, &mut sink))?;
        let report = collector.finish(&stats);
        // Inputs read to their end were hashed on the way; the others are hashed now.
        let sha256 = match stats.sha256 {
            Some(s) => s,
            None => input_sha256(path)?,
        };
        tracing::info!(
            input = %path.display(),
            read = report.records_read,
            kept = report.records_kept,
            skipped = report.skipped_total(),
            "done"
        );
        summaries.push(InputSummary {
            path: path.clone(),
            format,
            sha256,
            report,
            not_read: false,
            elapsed_secs: t.elapsed().as_secs_f64(),
        });
    }
    Ok(summaries)
}

fn check_options(inputs: &[PathBuf], out_dir: &Path, opts: &IngestOptions) -> Result<(), CorpusError> {
    if inputs.is_empty() {
        return Err(CorpusError::InvalidOption("no input given".into()));
    }
    if opts.max_samples == Some(0) {
        return Err(CorpusError::InvalidOption("max_samples must be at least 1".into()));
    }
    if opts.max_per_category == Some(0) {
        return Err(CorpusError::InvalidOption("max_per_category must be at least 1".into()));
    }
    if out_dir.as_os_str().is_empty() {
        return Err(CorpusError::InvalidOption("empty output folder name".into()));
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn progress_bar(inputs: &[PathBuf]) -> ProgressBar {
    let total: u64 = inputs.iter().map(|p| disk_size(p)).sum();
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "ingest [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Bytes the progress bar will see for an input (the split files of a dataset folder).
fn disk_size(path: &Path) -> u64 {
    if path.is_dir() {
        Split::ALL
            .iter()
            .filter_map(|&s| std::fs::metadata(path.join(split_file(s))).ok())
            .map(|m| m.len())
            .sum()
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    MaxSamples,
    WriterGone,
}

/// Running state of the papers that passed the readers' checks.
struct State {
    tx: Option<mpsc::SyncSender<ToWriter>>,
    batcher: SplitBatcher,
    per_category: AHashMap<String, SplitCounts>,
    written: u64,
    dropped_by_cap: u64,
    stop: Option<Stop>,
    /// A failure while building a batch (a bug, see [`PaperColumns::finish`]), raised after reading.
    error: Option<CorpusError>,
}

impl State {
    fn accept(&mut self, paper: Paper, split: Split, opts: &IngestOptions) -> ControlFlow<()> {
        let counts = match self.per_category.get_mut(paper.primary()) {
            Some(c) => c,
            None => self.per_category.entry(paper.primary().to_owned()).or_default(),
        };
        if opts.max_per_category.is_some_and(|cap| counts.total() >= cap as u64) {
            self.dropped_by_cap += 1;
            return ControlFlow::Continue(());
        }
        counts.add(split, 1);
        self.written += 1;
        match self.batcher.push(split, &paper) {
            Ok(Some(batch)) => {
                if !self.send(ToWriter::Batch(split, batch)) {
                    return ControlFlow::Break(());
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.error = Some(e);
                self.stop = Some(Stop::WriterGone);
                return ControlFlow::Break(());
            }
        }
        if opts.max_samples.is_some_and(|m| self.written >= m as u64) {
            self.stop = Some(Stop::MaxSamples);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Sends the partial batches and the order to complete the files; `false` when the writer is gone.
    fn finish(&mut self) -> bool {
        let rest = match self.batcher.drain() {
            Ok(rest) => rest,
            Err(e) => {
                self.error = Some(e);
                return false;
            }
        };
        rest.into_iter().all(|(split, batch)| self.send(ToWriter::Batch(split, batch)))
            && self.send(ToWriter::Finish)
    }

    fn send(&mut self, msg: ToWriter) -> bool {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok());
        if !sent {
            self.stop = Some(Stop::WriterGone);
        }
        sent
    }
}

fn category_counts(
    per_category: AHashMap<String, SplitCounts>,
    taxonomy: Option<&Taxonomy>,
) -> Vec<CategoryCount> {
    let mut out: Vec<CategoryCount> = per_category
        .into_iter()
        .filter(|(_, c)| c.total() > 0)
        .map(|(code, splits)| CategoryCount {
            name: taxonomy.and_then(|t| t.name(&code)).map(str::to_owned),
            count: splits.total(),
            splits,
            code,
        })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

/// Writes `ingest-report.json`, then the manifest (last: its presence marks the folder complete).
fn write_outputs(
    out_dir: &Path,
    report: &IngestReport,
    inputs: &[PathBuf],
    files: &[WrittenSplit],
) -> Result<(), CorpusError> {
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| CorpusError::Internal(format!("cannot serialise the ingest report: {e}")))?;
    write_atomic(&out_dir.join(INGEST_REPORT_FILE), &json)?;
    let mut manifest = Manifest::new(DATASET_KIND, DATASET_FORMAT_VERSION);
    // The split files were checksummed while they were written.
    for (split, w) in Split::ALL.into_iter().zip(files) {
        manifest.files.insert(split_file(split), w.entry.clone());
    }
    manifest.add_file(out_dir, INGEST_REPORT_FILE)?;
    let meta = DatasetMeta {
        counts: report.written,
        fingerprint: report.fingerprint.clone(),
        labels: report.categories.clone(),
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        taxonomy: report.options.taxonomy.as_ref().map(|p| p.display().to_string()),
    };
    manifest.meta = serde_json::to_value(&meta)
        .map_err(|e| CorpusError::Internal(format!("cannot serialise the dataset metadata: {e}")))?;
    manifest.write(out_dir)?;
    Ok(())
}
