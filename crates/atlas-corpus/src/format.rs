//! Input format detection and transparent gzip decoding.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::CorpusError;
use atlas_artifact::IoContext;

/// Buffer size for reading input files: large reads keep syscall and decoder overhead negligible.
pub(crate) const READ_BUFFER: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// The kinds of input this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// Kaggle `arxiv-metadata-oai-snapshot` JSON lines (`.json`, `.jsonl`, optionally gzipped).
    KaggleJson,
    /// Parquet: the Hugging Face `arxiv-papers` layout (`arxiv_id`, `primary_subject`, `subjects` …), or a
    /// split file of a processed dataset.
    HfParquet,
    /// CSV with a header naming at least `title`, `abstract` and `categories` (optionally gzipped).
    Csv,
    /// A processed dataset folder written by [`ingest`](crate::ingest).
    Dataset,
    /// The arXiv API's Atom feed (`export.arxiv.org/api/query`), one response per file.
    ArxivAtom,
    /// An OAI-PMH response with `arXiv` or `arXivRaw` records (`export.arxiv.org/oai2`), one page per file.
    OaiPmh,
}

impl InputFormat {
    /// Kebab-case name (`kaggle-json`, `hf-parquet`, `csv`, `dataset`, `arxiv-atom`, `oai-pmh`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputFormat::KaggleJson => "kaggle-json",
            InputFormat::HfParquet => "hf-parquet",
            InputFormat::Csv => "csv",
            InputFormat::Dataset => "dataset",
            InputFormat::ArxivAtom => "arxiv-atom",
            InputFormat::OaiPmh => "oai-pmh",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Detects the format of an input from its name, falling back to its first bytes.
///
/// `.json`/`.jsonl`/`.ndjson` (plus `.gz`) → Kaggle JSON; `.parquet` → HF Parquet; `.csv` (plus `.gz`) → CSV;
/// a folder holding `manifest.json` → dataset. Other names (`.xml`, `.atom` included) are sniffed: Parquet
/// magic, a first non-blank character `{`, an XML root element `<feed>` (Atom) or `<OAI-PMH>`, or a first line
/// containing `title`, `abstract` and `categories` separated by commas.
pub fn detect_format(path: &Path) -> Result<InputFormat, CorpusError> {
    let unknown = |why: String| CorpusError::UnknownFormat { path: path.to_path_buf(), why };
    let meta = std::fs::metadata(path).io_context("open", path)?;
    if meta.is_dir() {
        return if path.join(atlas_artifact::MANIFEST_FILE).is_file() {
            Ok(InputFormat::Dataset)
        } else {
            Err(unknown(format!("a folder without {}, not a dataset", atlas_artifact::MANIFEST_FILE)))
        };
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let base = name.strip_suffix(".gz").unwrap_or(&name);
    if [".json", ".jsonl", ".ndjson"].iter().any(|e| base.ends_with(e)) {
        return Ok(InputFormat::KaggleJson);
    }
    if base.ends_with(".parquet") {
        return Ok(InputFormat::HfParquet);
    }
    if base.ends_with(".csv") {
        return Ok(InputFormat::Csv);
    }
    sniff(path).and_then(|f| f.ok_or_else(|| unknown("unknown extension and unrecognised content".into())))
}

/// Guesses the format from the first bytes (after gzip decoding).
fn sniff(path: &Path) -> Result<Option<InputFormat>, CorpusError> {
    let mut raw = [0u8; 4];
    let n = read_up_to(&mut File::open(path).io_context("open", path)?, &mut raw).io_context("read", path)?;
    if &raw[..n] == PARQUET_MAGIC {
        return Ok(Some(InputFormat::HfParquet));
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = match read_up_to(&mut open_decoded(path)?, &mut head) {
        Ok(n) => n,
        // A damaged gzip stream is still a JSON or CSV file; only its content is unknown.
        Err(_) => return Ok(None),
    };
    const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
    let head = head[..n].strip_prefix(UTF8_BOM).unwrap_or(&head[..n]);
    if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(Some(InputFormat::KaggleJson));
    }
    match crate::feeds::sniff_feed(head) {
        Some(crate::feeds::Feed::Atom) => return Ok(Some(InputFormat::ArxivAtom)),
        Some(crate::feeds::Feed::OaiPmh) => return Ok(Some(InputFormat::OaiPmh)),
        None => {}
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line).to_ascii_lowercase();
    let cols: Vec<&str> = line.split(',').map(|c| c.trim().trim_matches('"')).collect();
    if ["title", "abstract", "categories"].iter().all(|c| cols.contains(c)) {
        return Ok(Some(InputFormat::Csv));
    }
    Ok(None)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether a byte stream starts with the gzip magic number.
pub(crate) fn starts_with_gzip_magic(head: &[u8]) -> bool {
    head.len() >= 2 && head[..2] == GZIP_MAGIC
}

/// Opens `path` for reading its *content*: gzip (recognised by its magic bytes, whatever the name) is
/// decoded, including multi-member files such as those written by `pigz` or concatenated `.gz` parts.
pub(crate) fn open_decoded(path: &Path) -> Result<Box<dyn BufRead + Send>, CorpusError> {
    let file = File::open(path).io_context("open", path)?;
    decoded(BufReader::with_capacity(READ_BUFFER, file)).io_context("read", path).map_err(CorpusError::from)
}

/// Wraps an already opened buffered reader, adding a gzip decoder when its first bytes are gzip's magic.
pub(crate) fn decoded<R: BufRead + Send + 'static>(mut r: R) -> io::Result<Box<dyn BufRead + Send>> {
    let gz = starts_with_gzip_magic(r.fill_buf()?);
    Ok(if gz {
        Box::new(BufReader::with_capacity(READ_BUFFER, flate2::bufread::MultiGzDecoder::new(r)))
    } else {
        Box::new(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_by_extension_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("a.jsonl"), b"").unwrap();
        std::fs::write(p("a.json.gz"), b"").unwrap();
        std::fs::write(p("b.CSV"), b"").unwrap();
        std::fs::write(p("c.parquet"), b"").unwrap();
        assert_eq!(detect_format(&p("a.jsonl")).unwrap(), InputFormat::KaggleJson);
        assert_eq!(detect_format(&p("a.json.gz")).unwrap(), InputFormat::KaggleJson);
        assert_eq!(detect_format(&p("b.CSV")).unwrap(), InputFormat::Csv);
        assert_eq!(detect_format(&p("c.parquet")).unwrap(), InputFormat::HfParquet);

        // No useful extension: sniffed, through gzip.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"  {\"id\": \"1\"}\n").unwrap();
        std::fs::write(p("data.bin"), gz.finish().unwrap()).unwrap();
        assert_eq!(detect_format(&p("data.bin")).unwrap(), InputFormat::KaggleJson);
        std::fs::write(p("table.txt"), b"id,Title,abstract,categories\n").unwrap();
        std::fs::write(p("bom.txt"), b"\xEF\xBB\xBF{\"id\": \"1\"}\n").unwrap();
        assert_eq!(detect_format(&p("bom.txt")).unwrap(), InputFormat::KaggleJson);
        assert_eq!(detect_format(&p("table.txt")).unwrap(), InputFormat::Csv);
        std::fs::write(p("x.pq"), b"PAR1....").unwrap();
        assert_eq!(detect_format(&p("x.pq")).unwrap(), InputFormat::HfParquet);
        std::fs::write(p("notes.txt"), b"hello").unwrap();
        assert!(matches!(detect_format(&p("notes.txt")), Err(CorpusError::UnknownFormat { .. })));

        // Folders: only with a manifest.
        assert!(matches!(detect_format(dir.path()), Err(CorpusError::UnknownFormat { .. })));
        std::fs::write(p("manifest.json"), b"{}").unwrap();
        assert_eq!(detect_format(dir.path()).unwrap(), InputFormat::Dataset);
        assert!(matches!(detect_format(&p("missing.jsonl")), Err(CorpusError::Io(_))));
    }

    #[test]
    fn gzip_is_decoded_whatever_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain-name.jsonl");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"first member\n").unwrap();
        let mut bytes = gz.finish().unwrap();
        let mut gz2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz2.write_all(b"second member\n").unwrap();
        bytes.extend(gz2.finish().unwrap());
        std::fs::write(&path, bytes).unwrap();
        let mut s = String::new();
        open_decoded(&path).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "first member\nsecond member\n");
    }
}
