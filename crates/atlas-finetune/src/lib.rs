//! Contrastive fine-tuning for arxiv-atlas, the cheap way: an **adapter** trained on cached, frozen sentence
//! embeddings.
//!
//! Full fine-tuning of MiniLM on a 2-core CPU sees well under 10k pairs an hour (`../shared/design/
//! encoder-notes.md`). An adapter on top of the frozen model's embeddings costs seconds per epoch over 80k
//! papers instead: a residual linear map `y = x + ΔW x + b` (initialised at the identity, ΔW = 0, b = 0),
//! trained with MultipleNegativesRankingLoss (MNRL, in-batch negatives, scale 20 as in sentence-transformers)
//! on pairs of papers that share a primary category, with same-category papers masked out of the negatives
//! (with 172 categories, several papers of one category in a batch of 256 are the norm, and treating them as
//! negatives would push apart exactly what should be close). Early stopping watches the validation
//! same-category P@1 (validation papers as queries against the train papers, the retrieval protocol's metric).
//!
//! The result is saved as a sentence-transformers folder (the base model's files plus a `Dense` module with
//! W = I + ΔW, then `Normalize`; [`atlas_encoder::save_with_dense`]) that `embed`, `index`, `search`, `serve`
//! and Python sentence-transformers load like any other model, together with the input embedding set mapped
//! through the adapter (what `embed` with the new folder computes, without embedding again).
//!
//! * [`data`]: an embedding set joined with the papers' primary categories, per split;
//! * [`adapter`]: the model, its loss and one training step (candle autograd, AdamW);
//! * [`bert`]: a trainable BERT forward (every weight a candle `Var`, differentiable LayerNorm, dropout);
//! * [`contrastive`]: `loss=contrastive`, ContrastiveLoss with hard negatives mined from the frozen model;
//! * [`train`]: epochs, positive sampling, early stopping, evaluation;
//! * [`run`]: the whole `finetune` command: data → train → model folder, embeddings, run folder.

#![warn(missing_docs)]

pub mod adapter;
pub mod bert;
pub mod contrastive;
pub mod data;
pub mod hidden;
pub mod layers;
pub mod optim;
pub mod run;
pub mod run_layers;
pub mod train;

use std::path::PathBuf;

pub use adapter::{mnrl_loss, Adapter};
pub use bert::{Mode, TrainableBert};
pub use data::{LabelledSplit, SplitData};
pub use hidden::HiddenStore;
pub use layers::{centroid_head, train_layers, LayerOptions, LayerReport, LossKind, TrainLayers};
pub use run::{finetune, finetune_with, FinetuneRequest, FinetuneResult};
pub use train::{check_loss, new_adapter, train_adapter, EpochRecord, TrainOptions, TrainReport};

/// Errors of fine-tuning.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// candle failed (shapes, autograd, optimizer).
    #[error("candle: {context}: {source}")]
    Candle {
        /// What was being done.
        context: &'static str,
        /// The candle error.
        #[source]
        source: candle_core::Error,
    },
    /// The embedding set could not be read.
    #[error(transparent)]
    Embed(#[from] atlas_embed::EmbedError),
    /// The encoder folder could not be read or written.
    #[error(transparent)]
    Encoder(#[from] atlas_encoder::EncoderError),
    /// Joining papers or measuring retrieval failed.
    #[error(transparent)]
    Index(#[from] atlas_index::IndexError),
    /// The run folder could not be written.
    #[error(transparent)]
    Track(#[from] atlas_track::TrackError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The data or an option cannot be used.
    #[error("{0}")]
    Invalid(String),
}

impl FinetuneError {
    /// Wraps a candle error with what was being done.
    pub(crate) fn candle(context: &'static str) -> impl FnOnce(candle_core::Error) -> Self {
        move |source| Self::Candle { context, source }
    }
}
