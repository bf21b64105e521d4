//! The reading stage of the JSON-lines pipeline: a thread that reads (and decompresses) the file and cuts
//! the stream into large blocks of whole lines.
//!
//! Blocks travel through a bounded channel, so at most a few blocks are in memory whatever the file size;
//! the consumer returns their buffers through a second channel for reuse.

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::format::{starts_with_gzip_magic, READ_BUFFER};
use crate::rawfile::RawReader;
use crate::{CorpusError, SkipReason};
use atlas_artifact::{IoContext, IoError};

/// Target size of a block. Large enough that per-block costs (channel hand-over, parallel fan-out) vanish,
/// small enough that a few of them in flight stay far below the memory budget.
pub(super) const BLOCK_SIZE: usize = 4 << 20;

/// A single line larger than this is taken as proof that the input is not JSON lines.
pub(super) const MAX_LINE: usize = 256 << 20;

/// What the reading thread sends, in file order.
pub(super) enum Block {
    /// Whole lines; only the last block of a file may end without a newline.
    Lines(Vec<u8>),
    /// The gzip stream broke. `partial` holds the bytes of the incomplete last line (possibly empty).
    Damaged { partial: Vec<u8>, reason: SkipReason, message: String },
    /// A line grew beyond [`MAX_LINE`]; reading stopped.
    LineTooLong,
}

/// Totals of the reading thread.
#[derive(Debug, Default)]
pub(super) struct ReaderTotals {
    pub bytes_decoded: u64,
    pub bytes_raw: u64,
    /// SHA-256 of the raw file: only when requested and the file was read to its end.
    pub sha256: Option<String>,
}

/// The decoded stream, kept as an enum (not a trait object) so the raw reader can be recovered at the end.
enum Decoded {
    Plain(BufReader<RawReader>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<RawReader>>>),
}

impl Decoded {
    fn new(raw: RawReader) -> io::Result<Decoded> {
        let mut buffered = BufReader::with_capacity(READ_BUFFER, raw);
        Ok(if starts_with_gzip_magic(buffered.fill_buf()?) {
            Decoded::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
        } else {
            Decoded::Plain(buffered)
        })
    }

    fn is_gzip(&self) -> bool {
        matches!(self, Decoded::Gzip(_))
    }

    fn into_raw(self) -> BufReader<RawReader> {
        match self {
            Decoded::Plain(r) => r,
            Decoded::Gzip(r) => r.into_inner(),
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
        }
    }
}

/// Body of the reading thread. Returns early (with `Ok`) when the consumer hangs up.
pub(super) fn run(
    path: PathBuf,
    raw: RawReader,
    tx: SyncSender<Block>,
    recycle: Receiver<Vec<u8>>,
) -> Result<ReaderTotals, CorpusError> {
    let mut src = Decoded::new(raw).io_context("read", &path)?;
    let fresh = || Vec::with_capacity(BLOCK_SIZE + BLOCK_SIZE / 4);
    let mut pending = fresh();
    let mut target = BLOCK_SIZE;
    let mut decoded = 0u64;
    loop {
        let want = target.saturating_sub(pending.len());
        let before = pending.len();
        // `read_to_end` keeps whatever was read before an error, which is what lets every complete line
        // in front of a damaged gzip stream survive.
        let res = (&mut src).take(want as u64).read_to_end(&mut pending);
        decoded += (pending.len() - before) as u64;
        match res {
            Err(e) => {
                let reason = match e.kind() {
                    _ if !src.is_gzip() => return Err(IoError::new("read", path, e).into()),
                    io::ErrorKind::UnexpectedEof => SkipReason::TruncatedGzip,
                    io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => SkipReason::CorruptGzip,
                    _ => return Err(IoError::new("read", path, e).into()),
                };
                let cut = memchr::memrchr(b'\n', &pending).map_or(0, |p| p + 1);
                let partial = pending.split_off(cut);
                let totals = unhashed_totals(src, decoded);
                if !pending.is_empty() && tx.send(Block::Lines(pending)).is_err() {
                    return Ok(totals);
                }
                let _ = tx.send(Block::Damaged { partial, reason, message: e.to_string() });
                return Ok(totals);
            }
            Ok(n) if n < want => {
                // End of the stream.
                if !pending.is_empty() && tx.send(Block::Lines(pending)).is_err() {
                    return Ok(unhashed_totals(src, decoded));
                }
                let mut raw = src.into_raw();
                // Whatever the decoder left unread still belongs to the file's checksum.
                io::copy(&mut raw, &mut io::sink()).io_context("read", &path)?;
                let raw = raw.into_inner();
                let bytes_raw = raw.bytes_read();
                return Ok(ReaderTotals { bytes_decoded: decoded, bytes_raw, sha256: raw.finish_hash() });
            }
            Ok(_) => match memchr::memrchr(b'\n', &pending) {
                Some(p) => {
                    let mut next = recycle.try_recv().unwrap_or_else(|_| fresh());
                    next.clear();
                    next.extend_from_slice(&pending[p + 1..]);
                    pending.truncate(p + 1);
                    if tx.send(Block::Lines(std::mem::replace(&mut pending, next))).is_err() {
                        return Ok(unhashed_totals(src, decoded));
                    }
                    target = BLOCK_SIZE;
                }
                None if pending.len() >= MAX_LINE => {
                    let _ = tx.send(Block::LineTooLong);
                    return Ok(unhashed_totals(src, decoded));
                }
                // One line longer than a block: read on until it ends.
                None => target = (pending.len() * 2).min(MAX_LINE),
            },
        }
    }
}

/// Totals of a read that stopped before the end of the file (no checksum: it would cover only a prefix).
fn unhashed_totals(src: Decoded, decoded: u64) -> ReaderTotals {
    ReaderTotals { bytes_decoded: decoded, bytes_raw: src.into_raw().get_ref().bytes_read(), sha256: None }
}
