//! Raw input files: every byte read from disk is counted, optionally hashed, and reported to the progress
//! bar, whatever decoder sits on top.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::CorpusError;
use atlas_artifact::IoContext;

/// The file as raw bytes, counted, optionally hashed, and reported to the progress bar.
pub(crate) struct RawReader {
    file: File,
    bytes: u64,
    hasher: Option<Sha256>,
    progress: Option<ProgressBar>,
}

impl RawReader {
    /// Opens `path`; `hash` asks for the SHA-256 of everything read.
    pub fn open(path: &Path, progress: Option<ProgressBar>, hash: bool) -> Result<Self, CorpusError> {
        let file = File::open(path).io_context("open", path)?;
        Ok(RawReader { file, bytes: 0, hasher: hash.then(Sha256::new), progress })
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Hex SHA-256 of the bytes read, when hashing was requested.
    pub fn finish_hash(self) -> Option<String> {
        self.hasher.map(|h| hex::encode(h.finalize()))
    }
}

impl Read for RawReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.bytes += n as u64;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}
