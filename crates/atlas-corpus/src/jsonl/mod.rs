//! Kaggle `arxiv-metadata-oai-snapshot` JSON lines, read by a streaming pipeline.
//!
//! ```text
//!  reading thread                 caller's thread + rayon                 caller's sink
//!  read, gunzip, cut into   ──▶   split a block into pieces, parse   ──▶   dedup, split, taxonomy …
//!  4 MiB blocks of lines          the pieces' lines in parallel,
//!  (bounded queue)                concatenate results in file order
//! ```
//!
//! Memory is bounded by the queue depth times the block size (plus the caller's own state), so the
//! 4.5 GB Kaggle snapshot reads in the same footprint as a 5k-paper sample.

mod blocks;
mod record;

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use rayon::prelude::*;

use crate::rawfile::RawReader;
use crate::read::{BatchSink, Keyed, Parsed, Skip, SourceOptions, SourceStats};
use crate::CorpusError;
use atlas_artifact::IoContext;
use blocks::{Block, BLOCK_SIZE, MAX_LINE};
use record::parse_line;

/// Blocks read ahead of the parser: enough to keep the reading thread busy while a block is parsed.
const QUEUE_DEPTH: usize = 2;

/// Bytes of a block one parallel task parses: a few dozen tasks per block balance the load.
const PIECE_SIZE: usize = 128 << 10;

/// Reads a JSON-lines file (plain or gzip), delivering its records in file order.
pub(crate) fn read(
    path: &Path,
    opts: SourceOptions<'_>,
    on_batch: &mut BatchSink<'_>,
) -> Result<SourceStats, CorpusError> {
    let raw = RawReader::open(path, opts.progress.cloned(), opts.hash)?;
    let (tx, rx) = mpsc::sync_channel::<Block>(QUEUE_DEPTH);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
    let owned_path = path.to_path_buf();
    let reader = thread::Builder::new()
        .name("atlas-corpus-read".into())
        .spawn(move || blocks::run(owned_path, raw, tx, recycle_rx))
        .io_context("start reading thread for", path)?;

    let mut next_line = 1u64;
    let mut blank_lines = 0u64;
    let mut too_long = false;
    for block in rx.iter() {
        match block {
            Block::Lines(buf) => {
                let parsed = parse_block(&buf, next_line);
                next_line += parsed.lines;
                blank_lines += parsed.blank_lines;
                // The reader may have hung up already; then the buffer is simply freed.
                let _ = recycle_tx.send(buf);
                if on_batch(parsed.items).is_break() {
                    break;
                }
            }
            Block::Damaged { partial, reason, message } => {
                let mut items = Vec::with_capacity(2);
                if !is_blank(&partial) {
                    // A final line that parses completely only lost its newline: keep it.
                    if let Ok(paper) = parse_line(&partial) {
                        items.push(Parsed { line: next_line, outcome: Ok(Keyed::new(paper)) });
                        next_line += 1;
                    }
                }
                let message =
                    format!("{message}: the stream ends in line {next_line}, the rest of the file is lost");
                items.push(Parsed { line: next_line, outcome: Err(Skip::new(reason, message)) });
                let _ = on_batch(items);
                break;
            }
            Block::LineTooLong => {
                too_long = true;
                break;
            }
        }
    }
    // Hanging up unblocks the reader if it is waiting for room in the queue.
    drop(rx);
    let totals = reader.join().map_err(|_| CorpusError::Internal("the reading thread panicked".into()))??;
    if too_long {
        return Err(CorpusError::LineTooLong { path: path.to_path_buf(), line: next_line, limit: MAX_LINE });
    }
    Ok(SourceStats {
        bytes_read: totals.bytes_decoded,
        bytes_on_disk: totals.bytes_raw,
        blank_lines,
        sha256: totals.sha256,
    })
}

/// Records of one block, in order.
struct ParsedBlock {
    items: Vec<Parsed>,
    /// Lines in the block (blank ones included).
    lines: u64,
    blank_lines: u64,
}

/// Parses the lines of a block in parallel; `first_line` is the 1-based number of its first line.
fn parse_block(block: &[u8], first_line: u64) -> ParsedBlock {
    let mut pieces = Vec::with_capacity(BLOCK_SIZE / PIECE_SIZE + 2);
    let mut start = 0;
    while start < block.len() {
        let target = start + PIECE_SIZE;
        let end = if target >= block.len() {
            block.len()
        } else {
            memchr::memchr(b'\n', &block[target..]).map_or(block.len(), |p| target + p + 1)
        };
        pieces.push(&block[start..end]);
        start = end;
    }
    let parts: Vec<ParsedBlock> = pieces.par_iter().map(|piece| parse_piece(piece)).collect();
    let mut out = ParsedBlock {
        items: Vec::with_capacity(parts.iter().map(|p| p.items.len()).sum()),
        lines: 0,
        blank_lines: 0,
    };
    for part in parts {
        let base = first_line + out.lines;
        out.items.extend(part.items.into_iter().map(|mut p| {
            p.line += base;
            p
        }));
        out.lines += part.lines;
        out.blank_lines += part.blank_lines;
    }
    out
}

/// Parses a piece of whole lines; line numbers in the result are 0-based offsets within the piece.
fn parse_piece(piece: &[u8]) -> ParsedBlock {
    let mut out = ParsedBlock { items: Vec::with_capacity(piece.len() / 1024 + 1), lines: 0, blank_lines: 0 };
    let mut start = 0;
    while start < piece.len() {
        let end = memchr::memchr(b'\n', &piece[start..]).map_or(piece.len(), |p| start + p);
        let line = &piece[start..end];
        if is_blank(line) {
            out.blank_lines += 1;
        } else {
            let outcome = parse_line(line).map(Keyed::new);
            out.items.push(Parsed { line: out.lines, outcome });
        }
        out.lines += 1;
        start = end + 1;
    }
    out
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SkipReason;

    #[test]
    fn pieces_keep_line_numbers_in_order() {
        let mut block = Vec::new();
        let n = 5000;
        for i in 0..n {
            if i % 7 == 3 {
                block.extend_from_slice(b"   \n");
            } else if i % 11 == 5 {
                block.extend_from_slice(b"{not json}\n");
            } else {
                let rec = format!(
                    "{{\"id\":\"{i}\",\"title\":\"t {i}\",\"abstract\":\"{}\",\"categories\":\"cs.AI\"}}\n",
                    "x".repeat(100)
                );
                block.extend_from_slice(rec.as_bytes());
            }
        }
        let parsed = parse_block(&block, 10);
        assert_eq!(parsed.lines, n);
        assert_eq!(parsed.blank_lines, (0..n).filter(|i| i % 7 == 3).count() as u64);
        for p in &parsed.items {
            let i = p.line - 10;
            match &p.outcome {
                Ok(k) => assert_eq!(k.paper.id, i.to_string()),
                Err(s) => {
                    assert_eq!(s.reason, SkipReason::BadJson);
                    assert_eq!(i % 11, 5);
                }
            }
        }
        let lines: Vec<u64> = parsed.items.iter().map(|p| p.line).collect();
        assert!(lines.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn last_line_without_newline_is_parsed() {
        let block = b"{\"id\":\"1\",\"title\":\"t\",\"abstract\":\"a\",\"categories\":\"x\"}\r\n{\"id\":\"2\",\"title\":\"t\",\"abstract\":\"a\",\"categories\":\"x\"}";
        let parsed = parse_block(block, 1);
        assert_eq!(parsed.lines, 2);
        assert_eq!(parsed.items.len(), 2);
        assert!(parsed.items.iter().all(|p| p.outcome.is_ok()));
    }
}
