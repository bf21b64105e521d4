//! Native sentence-transformer encoder for BERT, MPNet and DistilBERT models ([`Architecture`], from
//! `model_type` in `config.json`) in the sentence-transformers folder layout (all-MiniLM-L6-v2,
//! all-mpnet-base-v2, SciBERT-based models and friends).
//!
//! MPNet and DistilBERT match PyTorch `transformers` to cosine 1.0000000 on random weights
//! (`tests/architectures.rs`); BERT is also measured against the real MiniLM (`tests/parity.rs`).
//!
//! * **Exact**: token ids are those of the Python tokenizer, and both fp32 backends reproduce
//!   sentence-transformers' embeddings to cosine ≥ 0.9999 (measured 1.0000000; see `tests/parity.rs`).
//! * **Fast on CPU**: the ONNX Runtime backend (feature `onnx`, library loaded at run time, installed by
//!   `scripts/setup-onnxruntime.sh`) runs either an fp32 graph this crate writes from `model.safetensors`
//!   ([`backend::onnx_graph`], exact, ~3× candle's CPU speed) or the folder's `onnx/` graphs, e.g. the int8
//!   one, which trades about 0.01 of cosine for more speed (floors asserted in the parity tests). A folder
//!   without an int8 graph (a fine-tuned model) gets one quantized here ([`backend::onnx_graph::INT8_WRITTEN`]).
//! * **Designed for GPU**: the candle backend takes a CUDA device with the `cuda` feature.
//!
//! [`BackendKind::Auto`] (the default) picks ONNX Runtime on the CPU when its library is installed, else candle.
//!
//! Texts are tokenized, sorted by length, cut into batches with minimal padding, run through a [`Backend`],
//! pooled and normalised by one shared [`PoolingHead`], passed through the folder's `Dense` modules if it has
//! any ([`dense`]), and returned in input order.
//!
//! ```no_run
//! use atlas_encoder::{default_model_dir, Encoder, EncoderOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = default_model_dir().ok_or("no model folder")?;
//! let encoder = Encoder::load(&dir, &EncoderOptions::default())?;
//! let e = encoder.embed(&["Dark matter halos [SEP] We simulate ...", "Transformer"])?;
//! assert_eq!((e.len(), e.dim()), (2, 384));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod batch;
pub mod bench;
pub mod dense;
pub mod encoder;
pub mod error;
pub mod folder;
#[cfg(feature = "hf-hub")]
pub mod hub;
pub mod pooling;
pub mod spec;
pub mod template;
pub mod tokenize;

pub use backend::{Backend, BackendKind, DeviceSpec, Precision};
pub use batch::{plan_batches, BatchLimits, TokenBatch, DEFAULT_MAX_PADDING_PERCENT};
pub use bench::{bench, BenchOptions, BenchReport, CpuPeak};
pub use dense::{save_with_dense, save_with_dense_stack, save_with_weights, Activation, DenseLayer};
pub use encoder::{embedding_id_of, Embeddings, Encoder, EncoderOptions};
pub use error::EncoderError;
pub use folder::{default_model_dir, Architecture, BertConfig, ModelFolder, DEFAULT_MODEL_ID};
#[cfg(feature = "hf-hub")]
pub use hub::{resolve_model, ModelRef};
pub use pooling::{HiddenStates, Pooling, PoolingHead};
pub use spec::{EncoderSpec, SavedEncoder};
pub use template::{TemplateError, TextTemplate, PAPER_TEMPLATE};
pub use tokenize::TextTokenizer;

/// Cosine similarity of two vectors (0 when either is zero). Handy for parity checks and tests.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
