//! Classifier heads on frozen sentence embeddings: [`DenseHead`].
//!
//! Two heads share one network type (an optional ReLU hidden layer, then softmax):
//!
//! - **logistic regression** (`experiment=embedding_lr`), fitted by full-batch L-BFGS (module `lbfgs`) or
//!   mini-batch Adam (module `adam`);
//! - **perceptron** with one hidden layer (`experiment=embedding_mlp`), fitted by mini-batch AdamW with
//!   dropout.
//!
//! Both train on standardised embeddings (module `scaler`) and fold the standardisation into the saved
//! weights, keep the weights of the lowest validation loss (module `fit`), and are deterministic for a seed
//! whatever the thread count: sums that are split over threads run over blocks fixed by the data size and
//! are combined in a fixed order, and the matrix products give the same result however their rows are
//! split (module `matmul`).
//!
//! Measured on the synthetic arXiv-like problem of `examples/dense_bench.rs` (80k × 384, 172 classes, 2
//! cores, idle machine), the logistic regression with `C = 16` reached validation accuracy 0.512 with
//! L-BFGS (48 iterations, 5.7 s) and 0.509 with Adam (42 epochs, 9.0 s); scikit-learn's
//! `LogisticRegression(lbfgs, C=16)` on the same data reached 0.510 in 69 s. On real MiniLM embeddings
//! of arxiv-100k (36k training papers, `C = 4`) the two solvers tied (0.490 and 0.494 validation
//! accuracy) and the perceptron reached 0.500.

mod adam;
mod fit;
mod head;
mod knn;
mod lbfgs;
pub(crate) mod matmul;
mod network;
mod scaler;
mod softmax;

pub(crate) use adam::standard_normal;
pub use head::{DenseHead, HeadParams};
