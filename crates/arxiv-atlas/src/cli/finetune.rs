//! Flags of `finetune`.

use std::path::PathBuf;

use atlas_finetune::{LayerOptions, LossKind, TrainLayers, TrainOptions};
use clap::Args;

use super::DEFAULT_EMBEDDINGS;

/// `--loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LossArg {
    /// MultipleNegativesRankingLoss, in-batch negatives.
    Mnrl,
    /// ContrastiveLoss with mined hard negatives.
    Contrastive,
    /// Cross-entropy of a classification head over the primary categories (the head is not saved).
    CrossEntropy,
}

/// `arxiv-atlas finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Embedding set of the base model (`arxiv-atlas embed`): the adapter's training inputs [default for the
    /// adapter: data/embeddings/arxiv-100k-minilm]. Layer runs take it as the frozen baseline when given;
    /// without it they read the papers of `--input` and compute the baseline from the stored states.
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
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
    /// Most epochs (adapter: early stopping on validation P@1 may end sooner) [default: adapter 10, layers 1].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pairs per batch (in-batch negatives) [default: adapter 256, layers 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate (AdamW; linear warmup, then linear decay) [default: adapter 0.0005, layers 0.0001].
    #[arg(long)]
    pub lr: Option<f64>,
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
    /// What trains: `adapter` (a residual linear layer on the set's frozen vectors, seconds per epoch), `N`
    /// (the encoder's top N transformer layers, from stored states of the frozen layers below) or `all`
    /// (every transformer layer; the token embeddings stay frozen).
    #[arg(long, default_value = "adapter", value_parser = TrainLayers::parse)]
    pub train_layers: TrainLayers,
    /// Layers: pairs per epoch (0 = every train paper with a same-category partner, once).
    #[arg(long, default_value_t = LayerOptions::default().max_pairs)]
    pub max_pairs: usize,
    /// Layers: micro-batches per step (gradient accumulation; each has its own in-batch negatives).
    #[arg(long, default_value_t = LayerOptions::default().accumulation)]
    pub accumulation: usize,
    /// The loss: mnrl (in-batch negatives, same-category papers masked), contrastive (layers only: margin loss
    /// on each positive pair and on the frozen model's nearest train paper of another category) or
    /// cross-entropy (a classifier over the primary categories, trained with the layers or the adapter and
    /// then dropped; for the adapter a cosine classifier starting at the category centroids).
    #[arg(long, value_enum, default_value_t = LossArg::Mnrl)]
    pub loss: LossArg,
    /// Adapter: units of a hidden ReLU branch beside the linear map (a residual MLP, saved as two Dense
    /// modules); 0 = the linear adapter.
    #[arg(long, default_value_t = TrainOptions::default().hidden)]
    pub hidden: usize,
    /// Layers: margin of the contrastive loss, on cosine distance.
    #[arg(long, default_value_t = LayerOptions::default().margin)]
    pub margin: f64,
    /// Layers: clip the gradients' global norm to this (0 = off).
    #[arg(long, default_value_t = LayerOptions::default().max_grad_norm)]
    pub max_grad_norm: f64,
    /// Layers: share of steps spent warming the learning rate up (then linear decay).
    #[arg(long, default_value_t = LayerOptions::default().warmup)]
    pub warmup: f64,
    /// Layers: tokens per paper seen in training (embedding uses all of them).
    #[arg(long, default_value_t = LayerOptions::default().max_tokens)]
    pub max_tokens: usize,
    /// Layers: checkpoint every N steps; running the same command on the same --out resumes from it.
    #[arg(long, default_value_t = LayerOptions::default().checkpoint_every)]
    pub checkpoint_every: usize,
    /// Layers: validate every N steps (0 = at the end of each epoch).
    #[arg(long, default_value_t = LayerOptions::default().eval_every)]
    pub eval_every: usize,
    /// Layers: validation queries (the first N validation papers).
    #[arg(long, default_value_t = LayerOptions::default().eval_queries)]
    pub eval_queries: usize,
    /// Layers: documents the validation queries are ranked against (the first N train papers).
    #[arg(long, default_value_t = LayerOptions::default().eval_docs)]
    pub eval_docs: usize,
    /// Layers: folder of hidden-state stores (default: `hidden/` beside the embedding cache).
    #[arg(long)]
    pub hidden_dir: Option<PathBuf>,
    /// ONNX Runtime threads for the stored states and the tuned embeddings (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

impl FinetuneArgs {
    /// The embedding set to use: the named one; for the adapter, the default set when none is named.
    pub fn embeddings(&self) -> Option<PathBuf> {
        match (&self.embeddings, self.train_layers) {
            (Some(p), _) => Some(p.clone()),
            (None, TrainLayers::Adapter) => Some(PathBuf::from(DEFAULT_EMBEDDINGS)),
            (None, _) => None,
        }
    }

    /// The top-layer settings the flags give (`--epochs`, `--batch-size`, `--lr` … are shared with the
    /// adapter; their defaults are the adapter's, so a layer run states the ones it wants).
    pub fn layer_options(&self) -> LayerOptions {
        let d = LayerOptions::default();
        LayerOptions {
            epochs: self.epochs.unwrap_or(d.epochs),
            max_pairs: self.max_pairs,
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            accumulation: self.accumulation,
            lr: self.lr.unwrap_or(d.lr),
            weight_decay: self.weight_decay,
            warmup: self.warmup,
            max_grad_norm: self.max_grad_norm,
            loss: self.loss_kind(),
            margin: self.margin,
            scale: self.scale,
            symmetric: self.symmetric,
            max_tokens: self.max_tokens,
            checkpoint_every: self.checkpoint_every,
            eval_every: self.eval_every,
            eval_queries: self.eval_queries,
            eval_docs: self.eval_docs,
            seed: self.seed,
            progress: !self.json,
            stop_after: None,
        }
    }

    /// `--loss` as the library's enum.
    fn loss_kind(&self) -> LossKind {
        match self.loss {
            LossArg::Mnrl => LossKind::Mnrl,
            LossArg::Contrastive => LossKind::Contrastive,
            LossArg::CrossEntropy => LossKind::CrossEntropy,
        }
    }

    /// The training settings the flags give.
    pub fn train_options(&self) -> TrainOptions {
        let d = TrainOptions::default();
        TrainOptions {
            epochs: self.epochs.unwrap_or(d.epochs),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            lr: self.lr.unwrap_or(d.lr),
            weight_decay: self.weight_decay,
            scale: self.scale,
            loss: self.loss_kind(),
            hidden: self.hidden,
            symmetric: self.symmetric,
            patience: self.patience,
            val_queries: self.val_queries,
            seed: self.seed,
            progress: !self.json,
            ..TrainOptions::default()
        }
    }
}
