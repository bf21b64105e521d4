//! The error type of this crate.

use std::path::PathBuf;

use atlas_artifact::ArtifactError;

/// Everything that can go wrong while evaluating predictions or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// There are no papers to evaluate: every metric would be 0/0.
    #[error("nothing to evaluate: the input holds no papers")]
    Empty,
    /// The model has no classes.
    #[error("the model has no classes (n_classes = 0)")]
    NoClasses,
    /// Two inputs disagree on a length.
    #[error("{what} has {found} entries, expected {expected} ({why})")]
    Shape {
        /// The input with the wrong length.
        what: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        found: usize,
        /// Where the expected length comes from.
        why: &'static str,
    },
    /// A class id is not below the number of classes.
    #[error("paper {row}: class id {class} in {what} is out of range (the model has {n_classes} classes)")]
    ClassOutOfRange {
        /// Index of the paper.
        row: usize,
        /// The offending id.
        class: u32,
        /// `y_true` or `true_sets`.
        what: &'static str,
        /// Number of classes of the model.
        n_classes: usize,
    },
    /// A probability is NaN, infinite, negative or above 1.
    #[error(
        "paper {row}, class {class} (`{code}`): probability {value} is not a finite number in [0, 1] \
         (pass softmax probabilities, not logits)"
    )]
    BadProbability {
        /// Index of the paper.
        row: usize,
        /// Index of the class.
        class: usize,
        /// Code of the class.
        code: String,
        /// The offending value.
        value: f32,
    },
    /// An [`crate::EvalOptions`] field is out of its domain.
    #[error("invalid evaluation option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// Writing a report file failed (the error names the file).
    #[error(transparent)]
    Write(#[from] ArtifactError),
    /// plotters failed to draw the heatmap or the reliability diagram.
    #[error("drawing a plot (confusion heatmap or reliability diagram){}: {message}", for_path(.path))]
    Plot {
        /// The PNG being written, if any.
        path: Option<PathBuf>,
        /// plotters' error, rendered (its error type borrows the backend).
        message: String,
    },
}

fn for_path(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" for {}", p.display())).unwrap_or_default()
}
