//! Compares an encoder configuration with a sentence-transformers reference file (the format of
//! `reference-embeddings.json`: texts, their token ids and embeddings), e.g. to validate a new ONNX graph:
//!
//! ```text
//! cargo run --release -p atlas-encoder --example parity -- --model DIR --backend onnx --precision fp32
//! ```
//! Options (defaults): --model (ARXIV_ATLAS_MODEL_DIR or ../shared/models/all-MiniLM-L6-v2),
//! --reference (MODEL/reference-embeddings.json), --backend auto, --precision fp32, --threads 2,
//! --batch-size 32, --device cpu (cuda:N: the candle backend on a GPU, with the `cuda` feature), --dump FILE
//! (writes the batched embeddings as a reference file of the same format, e.g. to compare a GPU run with a CPU
//! run on the same weights). Prints token-id agreement and min/mean cosine, batched and one text at a time.

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;

use atlas_encoder::{cosine, BatchLimits, Encoder, EncoderOptions};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Reference {
    texts: Vec<RefText>,
}

#[derive(Deserialize, Serialize)]
struct RefText {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or_else(|| format!("unexpected argument {k:?}"))?.to_owned();
        args.insert(key.clone(), it.next().ok_or_else(|| format!("--{key} needs a value"))?);
    }
    let get = |k: &str, d: &str| args.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let model = match args.get("model") {
        Some(m) => PathBuf::from(m),
        None => atlas_encoder::default_model_dir().ok_or("no model folder: pass --model")?,
    };
    let reference_path =
        args.get("reference").map(PathBuf::from).unwrap_or_else(|| model.join("reference-embeddings.json"));
    let reference: Reference = serde_json::from_slice(
        &std::fs::read(&reference_path).map_err(|e| format!("{}: {e}", reference_path.display()))?,
    )?;
    let opts = EncoderOptions {
        backend: get("backend", "auto").parse()?,
        precision: get("precision", "fp32").parse()?,
        threads: get("threads", "2").parse()?,
        device: get("device", "cpu").parse()?,
        ..Default::default()
    };
    let limits = BatchLimits { max_batch_size: get("batch-size", "32").parse()?, ..BatchLimits::default() };
    let encoder = Encoder::load(&model, &opts)?;
    let texts: Vec<&str> = reference.texts.iter().map(|t| t.text.as_str()).collect();

    let ids = encoder.tokenize(&texts)?;
    let same = reference.texts.iter().zip(&ids).filter(|(r, got)| &r.token_ids == *got).count();
    println!("{}: token ids identical for {same}/{} texts", encoder.backend_name(), texts.len());

    let batched = encoder.embed_with(&texts, limits)?;
    if let Some(path) = args.get("dump") {
        let texts = (reference.texts.iter().zip(&ids).zip(batched.rows()))
            .map(|((r, ids), row)| RefText {
                text: r.text.clone(),
                token_ids: ids.clone(),
                embedding: row.to_vec(),
            })
            .collect();
        std::fs::write(path, serde_json::to_vec(&Reference { texts })?)
            .map_err(|e| format!("{path}: {e}"))?;
        println!("wrote {} embeddings to {path}", reference.texts.len());
    }
    let single: Vec<Vec<f32>> =
        texts.iter().map(|t| encoder.embed(&[t]).map(|e| e.into_vec())).collect::<Result<_, _>>()?;
    for (what, rows) in [
        ("batched", batched.rows().collect::<Vec<_>>()),
        ("single", single.iter().map(Vec::as_slice).collect()),
    ] {
        let c: Vec<f64> =
            reference.texts.iter().zip(&rows).map(|(r, row)| cosine(&r.embedding, row)).collect();
        let min = c.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        println!("{what}: cosine to reference min {min:.7}, mean {mean:.7} over {} texts", c.len());
    }
    Ok(())
}
