//! Flags of `finetune`.

use std::path::PathBuf;

use atlas_finetune::TrainOptions;
use clap::Args;

use super::DEFAULT_EMBEDDINGS;

/// `arxiv-atlas finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Embedding set of the base model (`arxiv-atlas embed`): the adapter's training inputs.
    #[arg(long, default_value = DEFAULT_EMBEDDINGS)]
    pub embeddings: PathBuf,
    /// Papers for the labels (primary categories); default: the embedding set's own input.
    #[arg(long, alias = "papers")]
    pub input: Option<PathBuf>,
    /// The model folder the set was embedded with; default: the one its manifest names.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Run folder to write (the model goes to `<out>/artifacts/model`); default: a new folder under
    /// `--runs-root`.
    #[arg(long, alias = "run-dir")]
    pub out: Option<PathBuf>,
    /// Where new run folders go.
    #[arg(long, default_value = "runs")]
    pub runs_root: PathBuf,
    /// Most epochs (early stopping on validation P@1 may end sooner).
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    pub epochs: usize,
    /// Pairs per batch (in-batch negatives).
    #[arg(long, default_value_t = TrainOptions::default().batch_size)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW; linear warmup, then linear decay).
    #[arg(long, default_value_t = TrainOptions::default().lr)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainOptions::default().weight_decay)]
    pub weight_decay: f64,
    /// Similarity scale of the loss (sentence-transformers' MultipleNegativesRankingLoss: 20).
    #[arg(long, default_value_t = TrainOptions::default().scale)]
    pub scale: f64,
    /// Symmetric loss: also rank the anchors for each positive.
    #[arg(long)]
    pub symmetric: bool,
    /// Epochs without a better validation P@1 before stopping.
    #[arg(long, default_value_t = TrainOptions::default().patience)]
    pub patience: usize,
    /// Validation queries for early stopping (the first N validation papers; 0 = all).
    #[arg(long, default_value_t = TrainOptions::default().val_queries)]
    pub val_queries: usize,
    /// Seed of pair sampling and shuffling (same seed, same run).
    #[arg(long, default_value_t = TrainOptions::default().seed)]
    pub seed: u64,
    /// Do not store the adapted vectors in the new model's embedding cache (by default they are, so training
    /// an embedding classifier with the new model embeds nothing the set holds).
    #[arg(long)]
    pub no_cache: bool,
    /// Cache folder (default `$ARXIV_ATLAS_CACHE_DIR/embeddings` or `~/.cache/arxiv-atlas/embeddings`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

impl FinetuneArgs {
    /// The training settings the flags give.
    pub fn train_options(&self) -> TrainOptions {
        TrainOptions {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            weight_decay: self.weight_decay,
            scale: self.scale,
            symmetric: self.symmetric,
            patience: self.patience,
            val_queries: self.val_queries,
            seed: self.seed,
            progress: !self.json,
            ..TrainOptions::default()
        }
    }
}
