//! Compares an encoder configuration with a sentence-transformers reference file (the format of
//! `reference-embeddings.json`: texts, their token ids and embeddings), e.g. to validate a new ONNX graph:
//!
//! ```text
//! cargo run --release -p atlas-encoder --example parity -- --model DIR --backend onnx --precision fp32
//! ```
//! `--help` lists the options and their defaults: the model and how it runs (shared with the `bench`
//! example), --reference (MODEL/reference-embeddings.json) and --dump FILE (writes the batched embeddings as
//! a reference file of the same format, e.g. to compare a GPU run with a CPU run on the same weights).
//! Prints token-id agreement and min/mean cosine, batched and one text at a time.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use atlas_encoder::{cosine, BatchLimits, Encoder};
use clap::Parser;
use serde::{Deserialize, Serialize};

mod common;

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

/// Compares an encoder configuration with a sentence-transformers reference file.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    encoder: common::EncoderArgs,
    /// The reference file [default: MODEL/reference-embeddings.json].
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Also write the batched embeddings to this file, in the reference format.
    #[arg(long)]
    dump: Option<PathBuf>,
}

fn main() -> ExitCode {
    common::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let model = args.encoder.model_dir()?;
    let reference_path = args.reference.unwrap_or_else(|| model.join("reference-embeddings.json"));
    let reference: Reference = serde_json::from_slice(
        &std::fs::read(&reference_path).map_err(|e| format!("{}: {e}", reference_path.display()))?,
    )?;
    let opts = args.encoder.options()?;
    let limits = BatchLimits { max_batch_size: args.encoder.batch_size, ..BatchLimits::default() };
    let encoder = Encoder::load(&model, &opts)?;
    let texts: Vec<&str> = reference.texts.iter().map(|t| t.text.as_str()).collect();

    let ids = encoder.tokenize(&texts)?;
    let same = reference.texts.iter().zip(&ids).filter(|(r, got)| &r.token_ids == *got).count();
    println!("{}: token ids identical for {same}/{} texts", encoder.backend_name(), texts.len());

    let batched = encoder.embed_with(&texts, limits)?;
    if let Some(path) = &args.dump {
        let texts = (reference.texts.iter().zip(&ids).zip(batched.rows()))
            .map(|((r, ids), row)| RefText {
                text: r.text.clone(),
                token_ids: ids.clone(),
                embedding: row.to_vec(),
            })
            .collect();
        std::fs::write(path, serde_json::to_vec(&Reference { texts })?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {} embeddings to {}", reference.texts.len(), path.display());
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
