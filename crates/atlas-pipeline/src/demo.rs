//! `demo`: from a papers file to everything a server needs — a trained classifier, an embedding set and a
//! similar-paper index — in one folder, reusing whatever an earlier run already made.
//!
//! The steps are the everyday ones (`train experiment=tfidf_linear`, `embed`, `index build`), run in order; each
//! is skipped when its output is already there and valid for the same input and model, so running the demo
//! again starts serving in seconds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_config::{ConfigSource, ResolvedConfig};
use atlas_embed::{EmbedFileOptions, EmbeddingCache, EmbeddingSet};
use atlas_encoder::EncoderSpec;
use atlas_index::{BuildOptions, IndexBackend, IndexLocation, IndexParams, VectorSpace};
use atlas_model::{LoadOptions, LoadedModel};

use crate::PipelineError;

/// What [`prepare_demo`] builds and from what.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Papers: any ingest format (default: the data kit's arxiv-mini, 5,000 papers).
    pub input: PathBuf,
    /// Folder that receives everything (`data/`, `runs/`, `embeddings/`, `index/`).
    pub dir: PathBuf,
    /// Category names; `None` = the default taxonomy file when present.
    pub taxonomy: Option<PathBuf>,
    /// The sentence encoder for embeddings and search.
    pub encoder: EncoderSpec,
}

/// One finished step, for progress output.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStep {
    /// `train`, `embed` or `index`.
    pub name: &'static str,
    /// Where its output is.
    pub output: PathBuf,
    /// `false` when an earlier run's output was reused.
    pub ran: bool,
    /// Seconds spent.
    pub seconds: f64,
}

/// Everything the demo made.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOutcome {
    /// The ingested dataset.
    pub dataset: PathBuf,
    /// The training run of the TF-IDF classifier.
    pub run_dir: PathBuf,
    /// The embedding set of every paper.
    pub embeddings: PathBuf,
    /// The usearch index over them.
    pub index: PathBuf,
    /// The steps, in order.
    pub steps: Vec<DemoStep>,
}

/// Runs (or reuses) train → embed → index for `opts.input` inside `opts.dir`; `on_step` hears of each step
/// as it finishes.
pub fn prepare_demo(
    opts: &DemoOptions,
    on_step: &mut dyn FnMut(&DemoStep),
) -> Result<DemoOutcome, PipelineError> {
    if !opts.input.exists() {
        return Err(PipelineError::input(
            &opts.input,
            "no such file: pass --input with arXiv papers (Kaggle JSON-lines, HF parquet or CSV; see docs/data.md)",
        ));
    }
    let mut steps = Vec::new();
    let mut step = |name, output: &Path, ran, t: Instant| {
        let s = DemoStep { name, output: output.to_path_buf(), ran, seconds: t.elapsed().as_secs_f64() };
        on_step(&s);
        steps.push(s);
    };

    let t = Instant::now();
    let resolved = demo_config(opts)?;
    let dataset = crate::prepare_dataset(&resolved.config.data)?;
    let run_dir = opts.dir.join("runs").join("tfidf");
    // An earlier demo's model is reused when its run finished on these very papers and still verifies.
    let reuse = atlas_track::read_run(&run_dir).is_ok_and(|r| {
        r.status == atlas_track::RunStatus::Finished
            && r.data_fingerprint.as_deref() == Some(dataset.fingerprint())
    }) && LoadedModel::open(&run_dir, &LoadOptions { sessions: 1, embed_cache: false }).is_ok();
    if !reuse {
        crate::train(&resolved)?;
    }
    step("train", &run_dir, !reuse, t);

    let t = Instant::now();
    let encoder = opts.encoder.load(&resolved.config.data.template, 1)?;
    let embeddings = opts.dir.join("embeddings").join(format!("minilm-{}", opts.encoder.precision));
    let mut cache = EmbeddingCache::for_encoder(&encoder, None)?;
    let report = atlas_embed::embed_file(
        &encoder,
        Some(&mut cache),
        dataset.dir(),
        &embeddings,
        &EmbedFileOptions { progress: true, ..EmbedFileOptions::default() },
    )?;
    step("embed", &embeddings, !report.up_to_date, t);

    let t = Instant::now();
    let index = opts.dir.join("index");
    let set = EmbeddingSet::open(&embeddings)?;
    let current = IndexLocation::Folder(index.clone())
        .open(None)
        .ok()
        .filter(|i| i.info().embedding_id == set.meta.embedding_id && i.info().count == set.ids.len());
    if current.is_none() {
        let corpus =
            atlas_index::join_papers(&set.ids, &set.vectors, set.meta.dim, dataset.dir(), 1, |_| Some(0))?
                .remove(0);
        let space = VectorSpace {
            embedding_id: set.meta.embedding_id.clone(),
            model_hash: set.meta.model_hash.clone(),
            model_dir: set.meta.model_dir.clone(),
            template: set.meta.template.clone(),
            dim: set.meta.dim,
        };
        let params = IndexParams::for_backend(IndexBackend::Usearch, &BuildOptions::default())?;
        IndexLocation::Folder(index.clone()).build(&space, &corpus.papers, &corpus.vectors, &params)?;
    }
    step("index", &index, current.is_none(), t);

    Ok(DemoOutcome { dataset: dataset.dir().to_path_buf(), run_dir, embeddings, index, steps })
}

/// The training configuration of the demo: the TF-IDF baseline on `opts.input`, everything inside `opts.dir`.
fn demo_config(opts: &DemoOptions) -> Result<ResolvedConfig, PipelineError> {
    let mut args = vec![
        "experiment=tfidf_linear".to_string(),
        format!("data.input={}", opts.input.display()),
        format!("data.cache_dir={}", opts.dir.join("data").display()),
        format!("run.root={}", opts.dir.join("runs").display()),
        format!("run.dir={}", opts.dir.join("runs").join("tfidf").display()),
    ];
    // The shipped data groups name the data kit's taxonomy; a demo on other papers may have none.
    args.push(match &opts.taxonomy {
        Some(t) => format!("data.taxonomy={}", t.display()),
        None => match atlas_corpus::taxonomy_path(None) {
            Some(t) => format!("data.taxonomy={}", t.display()),
            None => "data.taxonomy=null".to_string(),
        },
    });
    atlas_config::load(&ConfigSource::Embedded, &args, &[]).map_err(|e| PipelineError::Config(Box::new(e)))
}
