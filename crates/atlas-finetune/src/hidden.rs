//! The hidden-state store: the output of the frozen bottom layers for every paper, computed once.
//!
//! Fine-tuning only the top `N` layers of an encoder never changes what the layers below compute, so each
//! paper's token states at the cut are computed once (ONNX Runtime, [`PartSession`] over the bottom graph) and
//! kept on disk as f16: training reads them instead of running the bottom, and the tuned model's embeddings of
//! every paper come from running only the top over them. On a 2-core CPU this is what makes top-layer
//! fine-tuning fit an hour: the bottom is the larger share of every forward, and its backward is never needed.
//!
//! ```text
//! <dir>/meta.json     StoreMeta: what was run (model hash, cut, template, sequence limit) and each paper's id
//!                     and token count, in storage order
//! <dir>/states.f16    every paper's `[tokens, hidden]` states, little-endian f16, back to back, papers in
//!                     storage order (sorted by token count, so consecutive papers batch with little padding)
//! ```
//!
//! The files are written under temporary names and renamed into place when complete (`meta.json` last), so an
//! interrupted build leaves no store that looks whole. f16 keeps 11 significant bits; the tuned embeddings
//! computed from the store agree with embedding the texts through the whole saved model to a cosine of
//! ≥ 0.9999 (checked in `tests/layers.rs`).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use atlas_encoder::backend::onnx::PartSession;
use atlas_encoder::backend::onnx_graph::GraphPart;
use atlas_encoder::{ModelFolder, TextTokenizer, TokenBatch};

use crate::FinetuneError;

/// Version of the on-disk layout.
const FORMAT: u32 = 1;
/// Papers per bottom-graph call.
const BATCH: usize = 32;

/// What a store holds and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreMeta {
    /// Layout version.
    pub format: u32,
    /// [`ModelFolder::model_hash`] of the model whose bottom ran.
    pub model_hash: String,
    /// States are the input of this layer (the output of layers `0..layer`).
    pub layer: usize,
    /// Width of a token state.
    pub hidden: usize,
    /// Longest token sequence (the tokenizer's truncation).
    pub max_seq_length: usize,
    /// A key of the texts (template and input fingerprint, as the caller names them).
    pub texts_key: String,
    /// Paper ids, storage order.
    pub ids: Vec<String>,
    /// Token count of each paper, storage order.
    pub lengths: Vec<u32>,
}

/// An opened store.
#[derive(Debug)]
pub struct HiddenStore {
    dir: PathBuf,
    meta: StoreMeta,
    /// Token offset of each paper (storage order) in `states.f16`.
    offsets: Vec<u64>,
    file: Mutex<File>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FinetuneError + '_ {
    move |source| FinetuneError::Io { path: path.to_path_buf(), source }
}

impl HiddenStore {
    /// Opens the store in `dir` if it was made by `folder`'s bottom `layer` layers from the texts `texts_key`;
    /// `Ok(None)` when there is none or it was made from something else.
    pub fn open_matching(
        dir: &Path,
        folder: &ModelFolder,
        layer: usize,
        texts_key: &str,
    ) -> Result<Option<Self>, FinetuneError> {
        let meta_path = dir.join("meta.json");
        if !meta_path.is_file() {
            return Ok(None);
        }
        let store = Self::open(dir)?;
        let m = &store.meta;
        let same = m.format == FORMAT
            && m.model_hash == folder.model_hash()?
            && m.layer == layer
            && m.texts_key == texts_key;
        Ok(same.then_some(store))
    }

    /// Opens the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, FinetuneError> {
        let meta_path = dir.join("meta.json");
        let bytes = std::fs::read(&meta_path).map_err(io(&meta_path))?;
        let meta: StoreMeta = serde_json::from_slice(&bytes)
            .map_err(|e| FinetuneError::Invalid(format!("{}: {e}", meta_path.display())))?;
        let mut offsets = Vec::with_capacity(meta.lengths.len());
        let mut at = 0u64;
        for &l in &meta.lengths {
            offsets.push(at);
            at += u64::from(l);
        }
        let states = dir.join("states.f16");
        let file = File::open(&states).map_err(io(&states))?;
        let expected = at * meta.hidden as u64 * 2;
        let actual = file.metadata().map_err(io(&states))?.len();
        if actual != expected {
            return Err(FinetuneError::Invalid(format!(
                "{}: {actual} bytes, the store's meta.json describes {expected}: the store is damaged; delete {} \
                 to rebuild it",
                states.display(),
                dir.display()
            )));
        }
        Ok(Self { dir: dir.to_path_buf(), meta, offsets, file: Mutex::new(file) })
    }

    /// Runs `folder`'s bottom `layer` layers over `texts` (`(id, text)`) with ONNX Runtime (`threads` intra-op
    /// threads, 0 = its default) and writes the store to `dir` (replacing whatever is there), drawing a
    /// progress bar when `progress`.
    pub fn build(
        dir: &Path,
        folder: &ModelFolder,
        layer: usize,
        texts_key: &str,
        texts: &[(String, String)],
        threads: usize,
        progress: bool,
    ) -> Result<Self, FinetuneError> {
        let tokenizer = TextTokenizer::from_folder(folder)?;
        let session = PartSession::open(folder, GraphPart::Bottom { layers: layer }, threads)?;
        let hidden = folder.config().hidden_size;
        let pb = if progress {
            atlas_embed::job::progress_bar(texts.len() as u64, "caching hidden states")
        } else {
            indicatif::ProgressBar::hidden()
        };
        // Tokenize in chunks (the tokenizer parallelises a batch), then order the papers by length.
        let mut ids_tok: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(1024) {
            let refs: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
            ids_tok.extend(tokenizer.encode(&refs)?);
        }
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (ids_tok[i].len(), i));

        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let meta_path = dir.join("meta.json");
        let _ = std::fs::remove_file(&meta_path);
        let tmp = dir.join("states.f16.partial");
        let mut out = BufWriter::with_capacity(1 << 22, File::create(&tmp).map_err(io(&tmp))?);
        let mut bytes: Vec<u8> = Vec::new();
        for batch_idx in order.chunks(BATCH) {
            let seqs: Vec<&[u32]> = batch_idx.iter().map(|&i| ids_tok[i].as_slice()).collect();
            let batch = TokenBatch::new(&seqs, tokenizer.pad_id())?;
            let states = session.hidden_states(&batch)?;
            let seq = batch.seq_len();
            for (row, &len) in batch.lengths().iter().enumerate() {
                let rows = &states[row * seq * hidden..(row * seq + len) * hidden];
                bytes.clear();
                bytes.extend(rows.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()));
                out.write_all(&bytes).map_err(io(&tmp))?;
            }
            pb.inc(batch_idx.len() as u64);
        }
        out.flush().map_err(io(&tmp))?;
        out.into_inner()
            .map_err(|e| FinetuneError::Io { path: tmp.clone(), source: e.into_error() })?
            .sync_all()
            .map_err(io(&tmp))?;
        pb.finish_and_clear();
        let states_path = dir.join("states.f16");
        std::fs::rename(&tmp, &states_path).map_err(io(&states_path))?;
        let meta = StoreMeta {
            format: FORMAT,
            model_hash: folder.model_hash()?.to_string(),
            layer,
            hidden,
            max_seq_length: tokenizer.max_seq_length(),
            texts_key: texts_key.to_string(),
            ids: order.iter().map(|&i| texts[i].0.clone()).collect(),
            lengths: order.iter().map(|&i| ids_tok[i].len() as u32).collect(),
        };
        let json = serde_json::to_vec(&meta).map_err(|e| FinetuneError::Invalid(e.to_string()))?;
        let tmp_meta = dir.join("meta.json.partial");
        std::fs::write(&tmp_meta, json).map_err(io(&tmp_meta))?;
        std::fs::rename(&tmp_meta, &meta_path).map_err(io(&meta_path))?;
        Self::open(dir)
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the store holds.
    pub fn meta(&self) -> &StoreMeta {
        &self.meta
    }

    /// Number of papers.
    pub fn len(&self) -> usize {
        self.meta.ids.len()
    }

    /// Whether the store holds no paper.
    pub fn is_empty(&self) -> bool {
        self.meta.ids.is_empty()
    }

    /// Token count of paper `i` (storage order).
    pub fn length(&self, i: usize) -> usize {
        self.meta.lengths[i] as usize
    }

    /// The states of papers `rows` (storage positions), each cut to at most `max_tokens` tokens.
    pub fn batch(&self, rows: &[usize], max_tokens: usize) -> Result<StateBatch, FinetuneError> {
        let h = self.meta.hidden;
        let lengths: Vec<usize> = rows.iter().map(|&i| self.length(i).min(max_tokens.max(1))).collect();
        let seq = lengths.iter().copied().max().unwrap_or(0);
        let mut states = vec![0.0f32; rows.len() * seq * h];
        let mut mask = vec![0.0f32; rows.len() * seq];
        let mut buf: Vec<u8> = Vec::new();
        let path = self.dir.join("states.f16");
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        for (r, (&i, &len)) in rows.iter().zip(&lengths).enumerate() {
            buf.resize(len * h * 2, 0);
            file.seek(SeekFrom::Start(self.offsets[i] * h as u64 * 2)).map_err(io(&path))?;
            file.read_exact(&mut buf).map_err(io(&path))?;
            let dst = &mut states[r * seq * h..(r * seq + len) * h];
            for (d, c) in dst.iter_mut().zip(buf.chunks_exact(2)) {
                *d = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
            mask[r * seq..r * seq + len].fill(1.0);
        }
        Ok(StateBatch { states, mask, lengths, seq })
    }
}

/// Stored states of a few papers, right-padded to the longest.
#[derive(Debug, Clone, PartialEq)]
pub struct StateBatch {
    /// `[rows, seq, hidden]`, row-major.
    pub states: Vec<f32>,
    /// `[rows, seq]`: 1.0 for real tokens, 0.0 for padding.
    pub mask: Vec<f32>,
    /// Token count of each row.
    pub lengths: Vec<usize>,
    /// Padded length.
    pub seq: usize,
}
