//! Embedding many papers: chunked, cached, resumable.
//!
//! Work is cut into fixed chunks of papers in input order. Each finished chunk is written to disk (and its
//! vectors to the cache) before the next starts, and `progress.json` records how many chunks are done, so a
//! killed run resumes at the first unfinished chunk and loses at most one chunk of work. Memory holds one
//! chunk of texts plus the output vectors (`count × dim` floats, written out at the end).

use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_artifact::{write_atomic, IoContext, Manifest};
use atlas_corpus::{Paper, ReadOptions};
use atlas_encoder::Encoder;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cache::{text_key, EmbeddingCache};
use crate::set::{write_vectors, SetMeta, IDS_FILE, SET_FORMAT_VERSION, SET_KIND, VECTORS_FILE};
use crate::shard::{Shard, ShardMeta};
use crate::EmbedError;

/// Renders a paper into the encoder's input text with the encoder's template. The template was checked when
/// it was parsed, so this does not fail; the `Result` is kept for the callers written when it could.
pub fn paper_text(encoder: &Encoder, paper: &Paper) -> Result<String, EmbedError> {
    Ok(paper.text(encoder.template()))
}

/// The plain progress line of a chunk: papers done of all, share, encoder rate, time left at that rate.
fn chunk_progress_line(done: usize, total: usize, embedded: u64, elapsed_s: f64) -> String {
    let rate = embedded as f64 / elapsed_s.max(1e-9);
    let left = total.saturating_sub(done);
    let eta = if rate > 0.0 {
        format!("about {:.0} s left", left as f64 / rate)
    } else {
        "time left unknown".into()
    };
    format!(
        "embedded {done}/{total} papers ({:.1} %), {rate:.1} papers/s by the encoder, {eta}",
        100.0 * done as f64 / (total as f64).max(1.0)
    )
}

/// A progress bar with rate and ETA on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template(&format!(
        "{what} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} ETA {{eta}} {{msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style.progress_chars("=> "));
    pb
}

/// Counts of one cached embedding call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedCounts {
    /// Texts asked for.
    pub texts: u64,
    /// Found in the cache.
    pub from_cache: u64,
    /// Run through the encoder.
    pub embedded: u64,
}

/// Embeds `texts` through the cache: cached vectors are reused, the rest embedded in chunks of `chunk`
/// texts and stored before the next chunk starts (so an interrupted call resumes where it stopped).
pub fn embed_texts_cached(
    encoder: &Encoder,
    mut cache: Option<&mut EmbeddingCache>,
    texts: &[String],
    chunk: usize,
    progress: Option<&ProgressBar>,
) -> Result<(Vec<f32>, EmbedCounts), EmbedError> {
    let dim = encoder.dim();
    let mut out = vec![0.0f32; texts.len() * dim];
    let mut counts = EmbedCounts { texts: texts.len() as u64, ..EmbedCounts::default() };
    for (c, part) in texts.chunks(chunk.max(1)).enumerate() {
        let start = c * chunk.max(1);
        let rows = &mut out[start * dim..(start + part.len()) * dim];
        let keys: Vec<[u8; 32]> = part.iter().map(|t| text_key(t)).collect();
        let missing = match cache.as_deref() {
            Some(cache) => cache.get_many(&keys, rows)?,
            None => (0..part.len()).collect(),
        };
        counts.from_cache += (part.len() - missing.len()) as u64;
        if !missing.is_empty() {
            let todo: Vec<&str> = missing.iter().map(|&i| part[i].as_str()).collect();
            let emb = encoder.embed(&todo)?;
            let mut new_keys = Vec::with_capacity(missing.len());
            for (&i, row) in missing.iter().zip(emb.rows()) {
                rows[i * dim..(i + 1) * dim].copy_from_slice(row);
                new_keys.push(keys[i]);
            }
            if let Some(cache) = cache.as_deref_mut() {
                cache.put_many(&new_keys, emb.as_slice())?;
            }
            counts.embedded += missing.len() as u64;
        }
        if let Some(pb) = progress {
            pb.inc(part.len() as u64);
        }
    }
    Ok((out, counts))
}

/// Options of [`embed_file`].
#[derive(Debug, Clone)]
pub struct EmbedFileOptions {
    /// Papers per chunk (the unit of resumption).
    pub chunk_size: usize,
    /// Draw a progress bar.
    pub progress: bool,
    /// Only papers of these splits; empty = every paper.
    pub splits: Vec<atlas_corpus::Split>,
    /// Stop after embedding this many new chunks (a time-boxed run; the same call later resumes).
    pub max_chunks: Option<usize>,
    /// Embed only this shard of the selected papers (see [`crate::shard`] for the rule); `None` = all.
    pub shard: Option<Shard>,
}

impl Default for EmbedFileOptions {
    fn default() -> Self {
        Self { chunk_size: 2048, progress: true, splits: Vec::new(), max_chunks: None, shard: None }
    }
}

/// What [`embed_file`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedFileReport {
    /// The embedding set folder.
    pub out: PathBuf,
    /// Papers in the set.
    pub count: usize,
    /// Chunks already done by an earlier, interrupted run.
    pub resumed_chunks: usize,
    /// Counts of this run's cache lookups and encoder calls.
    pub counts: EmbedCounts,
    /// `true` when the folder was already complete for this model and input (nothing was done).
    pub up_to_date: bool,
    /// `false` when the run stopped at `max_chunks` before the end of the input (run again to resume).
    pub complete: bool,
    /// Wall seconds.
    pub seconds: f64,
    /// Papers per second of this run (cache hits included).
    pub papers_per_s: f64,
}

/// Resume state, rewritten atomically after every chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Progress {
    embedding_id: String,
    input_fingerprint: String,
    split: Option<String>,
    chunk_size: usize,
    chunks_done: usize,
    /// Absent in the resume state of whole runs (and of runs interrupted by builds before sharding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<Shard>,
}

const PROGRESS_FILE: &str = "progress.json";
const CHUNKS_DIR: &str = "chunks";

fn chunk_paths(out: &Path, i: usize) -> (PathBuf, PathBuf) {
    let dir = out.join(CHUNKS_DIR);
    (dir.join(format!("{i:06}.safetensors")), dir.join(format!("{i:06}.ids.txt")))
}

/// Embeds every paper of `input` (any ingest format or a dataset folder) into the embedding set `out`.
pub fn embed_file(
    encoder: &Encoder,
    mut cache: Option<&mut EmbeddingCache>,
    input: &Path,
    out: &Path,
    opts: &EmbedFileOptions,
) -> Result<EmbedFileReport, EmbedError> {
    let started = Instant::now();
    let chunk_size = opts.chunk_size.max(1);
    let embedding_id = encoder.embedding_id()?.to_string();
    let fingerprint = atlas_corpus::fingerprint_files(&[input.to_path_buf()])?;
    // Sorted and deduplicated, so `test,train` resumes a run started as `train,test`; one split is recorded
    // as before (`"test"`), so runs interrupted by an older build still resume.
    let mut splits = opts.splits.clone();
    splits.sort();
    splits.dedup();
    let split =
        (!splits.is_empty()).then(|| splits.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","));

    // Already complete for this space and input?
    if let Ok(m) = Manifest::open(out, SET_KIND, SET_FORMAT_VERSION) {
        if let Ok(meta) = serde_json::from_value::<SetMeta>(m.meta) {
            let same_shard = meta.shard.map(|s| s.shard) == opts.shard;
            if meta.embedding_id == embedding_id && meta.input_fingerprint == fingerprint && same_shard {
                return Ok(EmbedFileReport {
                    out: out.to_path_buf(),
                    count: meta.count,
                    resumed_chunks: 0,
                    counts: EmbedCounts::default(),
                    up_to_date: true,
                    complete: true,
                    seconds: started.elapsed().as_secs_f64(),
                    papers_per_s: 0.0,
                });
            }
        }
        return Err(EmbedError::Conflict(format!(
            "{} already holds an embedding set of another model, input or shard; choose another --out or delete it",
            out.display()
        )));
    }

    std::fs::create_dir_all(out.join(CHUNKS_DIR)).io_context("create", out)?;
    let want = Progress {
        embedding_id: embedding_id.clone(),
        input_fingerprint: fingerprint.clone(),
        split: split.clone(),
        chunk_size,
        chunks_done: 0,
        shard: opts.shard,
    };
    let progress_path = out.join(PROGRESS_FILE);
    let mut state = match std::fs::read(&progress_path) {
        Ok(raw) => {
            let old: Progress = serde_json::from_slice(&raw)
                .map_err(|e| EmbedError::BadSet { path: progress_path.clone(), message: e.to_string() })?;
            if (Progress { chunks_done: 0, ..old.clone() }) != want {
                return Err(EmbedError::Conflict(format!(
                    "{} holds an interrupted run for another model, input, split, shard or chunk size; \
                     choose another --out or delete it",
                    out.display()
                )));
            }
            old
        }
        Err(_) => want,
    };
    let resumed_chunks = state.chunks_done;

    // Count first (a fast pass next to embedding) so the bar has a total and an ETA.
    // One split is filtered by the reader (a dataset folder then reads only that file); several are filtered
    // here, by the same id rule.
    let read_opts = ReadOptions {
        split: if splits.len() == 1 { splits.first().copied() } else { None },
        ..ReadOptions::default()
    };
    let wanted = |p: &Paper| splits.len() <= 1 || splits.contains(&atlas_corpus::split_of(&p.id));
    let mut selected = 0usize;
    atlas_corpus::read_papers(input, &read_opts, |p| {
        if wanted(&p) {
            selected += 1
        }
    })?;
    // The shard's positions among the selected papers; a whole run is the one shard 0/1.
    let range = opts.shard.map_or(0..selected, |s| s.range(selected));
    let total = range.len() as u64;
    if let Some(s) = opts.shard {
        tracing::info!("shard {s}: papers {}..{} of the {selected} selected", range.start, range.end);
    }
    let pb = if opts.progress { progress_bar(total, "embedding") } else { ProgressBar::hidden() };
    pb.set_position((resumed_chunks * chunk_size).min(total as usize) as u64);
    if resumed_chunks > 0 {
        tracing::info!(
            "resuming {}: {resumed_chunks} chunks of {chunk_size} papers already done",
            out.display()
        );
    }

    let mut counts = EmbedCounts::default();
    let mut failure: Option<EmbedError> = None;
    let mut buf: Vec<Paper> = Vec::with_capacity(chunk_size);
    let mut chunk_index = 0usize;
    let mut new_chunks = 0usize;
    let max_chunks = opts.max_chunks.unwrap_or(usize::MAX);
    let mut flush = |papers: &mut Vec<Paper>, index: usize, state: &mut Progress| -> Result<(), EmbedError> {
        if index < state.chunks_done || new_chunks >= max_chunks {
            papers.clear();
            return Ok(());
        }
        new_chunks += 1;
        let texts = papers.iter().map(|p| paper_text(encoder, p)).collect::<Result<Vec<_>, _>>()?;
        let (rows, c) = embed_texts_cached(encoder, cache.as_deref_mut(), &texts, 256, Some(&pb))?;
        counts.texts += c.texts;
        counts.from_cache += c.from_cache;
        counts.embedded += c.embedded;
        let (vec_path, ids_path) = chunk_paths(out, index);
        write_vectors(&vec_path, papers.len(), encoder.dim(), std::iter::once(rows.as_slice()))?;
        let ids: String = papers.iter().map(|p| format!("{}\n", p.id)).collect();
        write_atomic(&ids_path, ids.as_bytes())?;
        state.chunks_done = index + 1;
        write_atomic(&progress_path, &serde_json::to_vec_pretty(state).unwrap_or_default())?;
        papers.clear();
        // Without a terminal the bar is hidden; a log (CI, nohup, a scheduled job) then gets one plain line a
        // chunk, so an hour-long embed is never silent.
        if pb.is_hidden() {
            let done = (state.chunks_done * chunk_size).min(total as usize);
            let line =
                chunk_progress_line(done, total as usize, counts.embedded, started.elapsed().as_secs_f64());
            tracing::info!("{line}");
        }
        Ok(())
    };
    let mut position = 0usize;
    atlas_corpus::read_papers(input, &read_opts, |paper| {
        if failure.is_some() || !wanted(&paper) {
            return;
        }
        position += 1;
        if !range.contains(&(position - 1)) {
            return;
        }
        buf.push(paper);
        if buf.len() == chunk_size {
            if let Err(e) = flush(&mut buf, chunk_index, &mut state) {
                failure = Some(e);
            }
            chunk_index += 1;
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !buf.is_empty() {
        flush(&mut buf, chunk_index, &mut state)?;
        chunk_index += 1;
    }
    pb.finish_and_clear();
    if state.chunks_done < chunk_index {
        // Stopped at max_chunks: leave the chunks and progress.json for the next run.
        return Ok(EmbedFileReport {
            out: out.to_path_buf(),
            count: (state.chunks_done * chunk_size).min(total as usize),
            resumed_chunks,
            counts,
            up_to_date: false,
            complete: false,
            seconds: started.elapsed().as_secs_f64(),
            papers_per_s: counts.texts as f64 / started.elapsed().as_secs_f64().max(1e-9),
        });
    }

    // Assemble the chunks into one matrix + id list, seal the manifest, drop the resume state.
    let dim = encoder.dim();
    let mut ids = String::new();
    let mut chunks = Vec::with_capacity(chunk_index);
    for i in 0..chunk_index {
        let (vec_path, ids_path) = chunk_paths(out, i);
        let (_, d, rows) = crate::set::read_vectors(&vec_path)?;
        if d != dim {
            return Err(EmbedError::BadSet { path: vec_path, message: format!("dim {d}, expected {dim}") });
        }
        ids.push_str(&std::fs::read_to_string(&ids_path).io_context("read", &ids_path)?);
        chunks.push(rows);
    }
    let count = ids.lines().count();
    write_vectors(&out.join(VECTORS_FILE), count, dim, chunks.iter().map(Vec::as_slice))?;
    write_atomic(&out.join(IDS_FILE), ids.as_bytes())?;
    let meta = SetMeta {
        embedding_id,
        model_dir: encoder.folder().dir().to_path_buf(),
        model_hash: encoder.model_hash()?.to_string(),
        backend: encoder.backend_name().to_string(),
        template: encoder.template().as_str().to_string(),
        dim,
        normalized: encoder.normalize(),
        pooling: format!("{:?}", encoder.pooling()).to_lowercase(),
        count,
        input: input.to_path_buf(),
        input_fingerprint: fingerprint,
        shard: opts.shard.map(|shard| ShardMeta { shard, input_papers: selected }),
    };
    crate::set::write_manifest(out, &meta)?;
    let _ = std::fs::remove_dir_all(out.join(CHUNKS_DIR));
    let _ = std::fs::remove_file(&progress_path);
    let seconds = started.elapsed().as_secs_f64();
    Ok(EmbedFileReport {
        out: out.to_path_buf(),
        count,
        resumed_chunks,
        counts,
        up_to_date: false,
        complete: true,
        seconds,
        papers_per_s: counts.texts as f64 / seconds.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::chunk_progress_line;

    /// The line a log gets per chunk when no terminal shows the bar: counts, share, rate and time left.
    #[test]
    fn a_chunk_line_says_how_far_how_fast_and_how_long() {
        let line = chunk_progress_line(4096, 100_000, 4096, 128.0);
        assert_eq!(
            line,
            "embedded 4096/100000 papers (4.1 %), 32.0 papers/s by the encoder, about 2997 s left"
        );
        // All from the cache: no rate to extrapolate from.
        assert!(chunk_progress_line(2048, 4096, 0, 1.0).ends_with("time left unknown"));
    }
}
