//! Reading any supported input into [`Paper`]s: format dispatch, duplicate removal, split filtering and
//! the accounting shared by every reader.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use ahash::AHashSet;
use indicatif::ProgressBar;

use crate::split::IdDigest;
use crate::{
    csv_input, dataset, detect_format, feeds, hf_parquet, jsonl, CorpusError, InputFormat, Paper, ReadReport,
    SkipReason, Split, Taxonomy,
};

/// Options of [`read_papers`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Pass on only the papers of this split (the others are counted in
    /// [`ReadReport::filtered_by_split`]).
    pub split: Option<Split>,
    /// When given, kept papers with category codes it does not know are counted as a warning.
    pub taxonomy: Option<Arc<Taxonomy>>,
    /// Advanced by the bytes read from disk.
    pub progress: Option<ProgressBar>,
}

/// Why one record was not turned into a paper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skip {
    pub reason: SkipReason,
    pub message: String,
}

impl Skip {
    pub fn new(reason: SkipReason, message: impl Into<String>) -> Skip {
        Skip { reason, message: message.into() }
    }
}

/// A paper with the SHA-256 of its id, computed where the paper was parsed (in parallel for JSON lines).
#[derive(Debug)]
pub(crate) struct Keyed {
    pub paper: Paper,
    pub digest: IdDigest,
}

impl Keyed {
    pub fn new(paper: Paper) -> Keyed {
        let digest = IdDigest::of(&paper.id);
        Keyed { paper, digest }
    }
}

/// One record as a format reader delivers it: a paper or the reason it was skipped, with its 1-based line
/// (or row) number.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub line: u64,
    pub outcome: Result<Keyed, Skip>,
}

/// What a format reader learned about its input besides the records.
#[derive(Debug, Default)]
pub(crate) struct SourceStats {
    /// Uncompressed bytes consumed.
    pub bytes_read: u64,
    /// Bytes read from disk.
    pub bytes_on_disk: u64,
    /// Blank lines (JSON lines only).
    pub blank_lines: u64,
    /// Hex SHA-256 of the raw file, when it was requested and the whole file was read.
    pub sha256: Option<String>,
}

/// What a format reader needs besides the path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SourceOptions<'a> {
    /// Advanced by bytes read from disk.
    pub progress: Option<&'a ProgressBar>,
    /// Hash the raw bytes while reading (saves a second pass for the input fingerprint).
    pub hash: bool,
    /// Lets a dataset folder read only the file of this split.
    pub split: Option<Split>,
}

/// Callback through which format readers deliver records, in input order, a batch at a time.
pub(crate) type BatchSink<'s> = dyn FnMut(Vec<Parsed>) -> ControlFlow<()> + 's;

/// Reads one input of a known format.
pub(crate) fn read_source(
    path: &Path,
    format: InputFormat,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    match format {
        InputFormat::KaggleJson => jsonl::read(path, opts, on_batch),
        InputFormat::HfParquet => hf_parquet::read(path, opts, on_batch),
        InputFormat::Csv => csv_input::read(path, opts, on_batch),
        InputFormat::Dataset => dataset::read_source(path, opts, on_batch),
        InputFormat::ArxivAtom => feeds::read(path, feeds::Feed::Atom, opts, on_batch),
        InputFormat::OaiPmh => feeds::read(path, feeds::Feed::OaiPmh, opts, on_batch),
    }
}

/// The ids seen so far, as 128-bit digest prefixes (16 bytes per paper instead of a `String`).
pub(crate) type IdSet = AHashSet<u128>;

/// Turns the records of one input into kept papers and a [`ReadReport`]: removes duplicate ids, applies
/// the split filter and checks codes against the taxonomy.
pub(crate) struct Collector<'a> {
    pub report: ReadReport,
    seen: &'a mut IdSet,
    taxonomy: Option<&'a Taxonomy>,
    split: Option<Split>,
}

impl<'a> Collector<'a> {
    pub fn new(seen: &'a mut IdSet, taxonomy: Option<&'a Taxonomy>, split: Option<Split>) -> Self {
        Collector { report: ReadReport::default(), seen, taxonomy, split }
    }

    /// Accounts for a batch and hands each kept paper, with its split, to `sink`; stops as soon as `sink`
    /// says so (the rest of the batch is then neither counted nor kept).
    pub fn take(
        &mut self,
        batch: Vec<Parsed>,
        sink: &mut dyn FnMut(Paper, Split) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        for parsed in batch {
            self.report.records_read += 1;
            let keyed = match parsed.outcome {
                Ok(k) => k,
                Err(skip) => {
                    if matches!(skip.reason, SkipReason::TruncatedGzip | SkipReason::CorruptGzip) {
                        self.report.truncated = true;
                    }
                    self.report.skip(skip.reason, parsed.line, skip.message);
                    continue;
                }
            };
            if !self.seen.insert(keyed.digest.key) {
                let msg = format!("id `{}` already seen", keyed.paper.id);
                self.report.skip(SkipReason::DuplicateId, parsed.line, msg);
                continue;
            }
            let split = keyed.digest.split();
            if self.split.is_some_and(|want| want != split) {
                self.report.filtered_by_split += 1;
                continue;
            }
            if let Some(tax) = self.taxonomy {
                let paper = &keyed.paper;
                if paper.categories.iter().any(|c| !tax.contains(c)) {
                    self.report.note_unknown_codes(
                        paper.categories.iter().map(String::as_str).filter(|c| !tax.contains(c)),
                    );
                }
            }
            self.report.records_kept += 1;
            sink(keyed.paper, split)?;
        }
        ControlFlow::Continue(())
    }

    /// Copies the reader's byte counts into the report.
    pub fn finish(mut self, stats: &SourceStats) -> ReadReport {
        self.report.bytes_read = stats.bytes_read;
        self.report.bytes_on_disk = stats.bytes_on_disk;
        self.report.blank_lines = stats.blank_lines;
        self.report
    }
}

/// Reads papers from any supported input (format from [`detect_format`]) and hands each kept one to
/// `on_paper`, in input order.
///
/// Records that cannot be used are skipped and counted by reason in the returned report; exact duplicate
/// ids are dropped after their first occurrence. Only I/O failures, unreadable files and malformed
/// headers/schemas are errors.
pub fn read_papers(
    path: &Path,
    opts: &ReadOptions,
    mut on_paper: impl FnMut(Paper),
) -> Result<ReadReport, CorpusError> {
    let format = detect_format(path)?;
    let mut seen = IdSet::default();
    let mut collector = Collector::new(&mut seen, opts.taxonomy.as_deref(), opts.split);
    let source_opts = SourceOptions { progress: opts.progress.as_ref(), hash: false, split: opts.split };
    let mut sink = |paper: Paper, _split: Split| {
        on_paper(paper);
        ControlFlow::Continue(())
    };
    let stats = read_source(path, format, source_opts, &mut |batch| collector.take(batch, &mut sink))?;
    Ok(collector.finish(&stats))
}

/// Reads every paper of an input (any format, including a dataset folder) into memory, optionally only
/// those of one split.
pub fn load_papers(path: &Path, split: Option<Split>) -> Result<(Vec<Paper>, ReadReport), CorpusError> {
    let mut papers = Vec::new();
    let report = read_papers(path, &ReadOptions { split, ..Default::default() }, |p| papers.push(p))?;
    Ok((papers, report))
}
