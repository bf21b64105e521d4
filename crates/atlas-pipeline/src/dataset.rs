//! Turning `data.input` into an ingested dataset, and the label set of a training split.

use atlas_classify::Labels;
use atlas_config::DataConfig;
use atlas_corpus::{Dataset, IngestOptions, Paper};

use crate::PipelineError;

/// Opens `data.input` as a dataset: an ingested folder is used as is; a raw file is ingested once into
/// `data.cache_dir/<name>-<key>` (key = input checksum + ingest options) and reused by later runs.
pub fn prepare_dataset(data: &DataConfig) -> Result<Dataset, PipelineError> {
    let input = &data.input;
    if input.is_dir() {
        return Ok(Dataset::open(input)?);
    }
    if !input.exists() {
        return Err(PipelineError::input(
            input,
            "data.input: no such file or folder (a Kaggle JSON-lines, HF parquet or CSV file, or a folder made \
             by `arxiv-atlas ingest`). The shipped data groups (data=arxiv100k, the default, and data=mini) read \
             the data kit in ../shared/data; pass data.input=PATH with your own papers, e.g. the Kaggle arXiv \
             snapshot (docs/data.md says where to get it; `arxiv-atlas doctor` lists what is missing)",
        ));
    }
    let taxonomy = atlas_corpus::taxonomy_path(data.taxonomy.as_deref());
    let fingerprint = atlas_corpus::fingerprint_files(std::slice::from_ref(input))?;
    let key_src = format!(
        "{fingerprint}|{:?}|{:?}|{:?}",
        data.max_samples,
        data.max_per_category,
        taxonomy.as_ref().map(|p| p.display().to_string())
    );
    let key = &atlas_artifact::sha256_bytes(key_src.as_bytes())[..12];
    let stem = input.file_name().and_then(|s| s.to_str()).unwrap_or("input");
    let stem = stem.split('.').next().unwrap_or(stem);
    let dir = data.cache_dir.join(format!("{stem}-{key}"));
    match Dataset::open(&dir) {
        Ok(ds) => {
            tracing::info!("reusing ingested dataset {}", dir.display());
            return Ok(ds);
        }
        Err(e) if dir.exists() => tracing::warn!("re-ingesting {}: {e}", dir.display()),
        Err(_) => {}
    }
    tracing::info!("ingesting {} into {}", input.display(), dir.display());
    let opts = IngestOptions {
        max_samples: data.max_samples,
        max_per_category: data.max_per_category,
        taxonomy,
        progress: true,
    };
    let report = atlas_corpus::ingest(std::slice::from_ref(input), &dir, &opts)?;
    // Logged (stderr), not printed: `train --json` keeps stdout for its one JSON object.
    let w = &report.written;
    tracing::info!(
        "ingested {} train / {} validation / {} test papers in {:.1} s ({:.0} MB/s)",
        w.train,
        w.validation,
        w.test,
        report.elapsed_secs,
        report.mb_per_sec
    );
    for (reason, s) in &report.totals.skipped {
        tracing::warn!(
            "skipped {} records: {reason} (first lines {:?}) e.g. {}",
            s.count,
            s.first_lines,
            s.example_message
        );
    }
    Ok(Dataset::open(&dir)?)
}

/// Label set of a training split: every primary category seen, sorted by code, named from the dataset.
pub fn labels_from(train: &[Paper], ds: &Dataset) -> Labels {
    let mut codes: Vec<String> = train.iter().map(|p| p.primary().to_string()).collect();
    codes.sort_unstable();
    codes.dedup();
    let names = codes.iter().map(|c| ds.category_name(c).unwrap_or(c).to_string()).collect();
    Labels { codes, names }
}
