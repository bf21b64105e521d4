//! The evaluation report: its numbers, a flat JSON summary and CSV / PNG exports.

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::confusion::ConfusionMatrix;
use crate::heatmap;
use crate::multilabel::MultiLabelMetrics;
use crate::EvalError;

/// Single-label metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Category code (`cs.LG`).
    pub code: String,
    /// Human-readable name.
    pub name: String,
    /// Correct predictions of the class / all predictions of the class (0 when never predicted).
    /// Predictions on papers with an unknown true label count as wrong.
    pub precision: f64,
    /// Correct predictions of the class / papers of the class (0 when the class has no papers).
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Papers whose true primary class is this class.
    pub support: u64,
    /// Papers predicted (top-1) as this class, unknown-label papers included.
    pub predicted: u64,
    /// Average precision of the class's probability column in the multi-label view (see
    /// [`MultiLabelMetrics::map`]); `None` when no paper carries the category.
    pub average_precision: Option<f64>,
}

/// Everything [`crate::evaluate`] measures.
///
/// Papers whose primary category is not among the model's labels (`y_true = None`) are counted in `n` and
/// [`Self::n_unknown_label`], and are wrong for [`Self::accuracy`] and [`Self::top3_accuracy`]. They have
/// no row in the per-class tables or the confusion matrix, are left out of [`Self::log_loss`] (the model
/// has no probability for their label), and their predictions count as false positives of the predicted
/// class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Number of papers evaluated.
    pub n: usize,
    /// Papers whose true primary category is not among the model's labels.
    pub n_unknown_label: usize,
    /// Number of classes of the model.
    pub n_classes: usize,
    /// Top-1 correct / `n`.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over the classes that are the true class or the prediction of at
    /// least one paper (scikit-learn's `f1_score(average="macro")`). scikit-learn would also average in an
    /// F1 of 0 for each distinct unknown label; those labels are not known here, so with unknown-label
    /// papers this value is above scikit-learn's. With `U` distinct unknown labels, scikit-learn's value
    /// is `macro_f1 * n_classes_in_macro / (n_classes_in_macro + U)`.
    pub macro_f1: f64,
    /// Mean of per-class F1 weighted by support, over all `n` papers; unknown-label papers weigh with an
    /// F1 of 0, which makes this identical to scikit-learn's `f1_score(average="weighted")`.
    pub weighted_f1: f64,
    /// Number of classes averaged in [`Self::macro_f1`].
    pub n_classes_in_macro: usize,
    /// `k` of [`Self::top3_accuracy`] ([`crate::EvalOptions::top_k`]).
    pub top_k: usize,
    /// Share of papers whose true class is among the `top_k` (3 by default) most probable ones; ties are
    /// ranked by lowest class id, like the top-1 prediction.
    pub top3_accuracy: f64,
    /// Mean of `-ln(max(p_true, 1e-15))` over the papers with a known label (unknown-label papers are
    /// excluded: the model has no probability for their label). `NaN` if every label is unknown.
    pub log_loss: f64,
    /// Per-class metrics, in class-id order (every class, including those absent from the data).
    pub per_class: Vec<ClassMetrics>,
    /// Confusion matrix of the top-1 predictions.
    pub confusion: ConfusionMatrix,
    /// Multi-label metrics against every category of each paper.
    pub multilabel: MultiLabelMetrics,
}

impl EvalReport {
    /// A flat JSON object with the headline numbers (for run tracking and the CLI). Keys: `n`,
    /// `n_unknown_label`, `n_classes`, `n_classes_in_macro`, `accuracy`, `macro_f1`, `weighted_f1`,
    /// `top_k`, `top{k}_accuracy` (`top3_accuracy` by default), `log_loss`, `multilabel_threshold`,
    /// `multilabel_per_class_thresholds` (a boolean; then `multilabel_threshold` is null), `multilabel_micro_f1`, `multilabel_macro_f1`, `map`, `lrap`, `mean_true_labels`,
    /// `mean_predicted_labels`. Undefined values (`NaN`) are written as `null`.
    pub fn summary(&self) -> Value {
        let m = &self.multilabel;
        let mut v = json!({
            "n": self.n,
            "n_unknown_label": self.n_unknown_label,
            "n_classes": self.n_classes,
            "n_classes_in_macro": self.n_classes_in_macro,
            "accuracy": num(self.accuracy),
            "macro_f1": num(self.macro_f1),
            "weighted_f1": num(self.weighted_f1),
            "top_k": self.top_k,
            "log_loss": num(self.log_loss),
            // Through the decimal text, so 0.2f32 reads 0.2 rather than 0.20000000298023224.
            // null when per-class thresholds made the sets: the global one was not used.
            "multilabel_threshold": if m.per_class_thresholds {
                Value::Null
            } else {
                num(m.threshold.to_string().parse().unwrap_or(f64::NAN))
            },
            "multilabel_per_class_thresholds": m.per_class_thresholds,
            "multilabel_micro_f1": num(m.micro_f1),
            "multilabel_macro_f1": num(m.macro_f1),
            "map": num(m.map),
            "lrap": num(m.lrap),
            "mean_true_labels": num(m.mean_true_labels),
            "mean_predicted_labels": num(m.mean_predicted_labels),
        });
        v[format!("top{}_accuracy", self.top_k)] = num(self.top3_accuracy);
        v
    }

    /// Writes the per-class table as CSV (`code,name,precision,recall,f1,support,predicted,
    /// average_precision`, one row per class in class-id order; `average_precision` is empty for classes
    /// without positive papers). The file is replaced atomically.
    pub fn write_per_class_csv(&self, path: &Path) -> Result<(), EvalError> {
        atlas_artifact::write_atomic_with(path, |w| {
            let mut out = csv::Writer::from_writer(w);
            out.write_record([
                "code",
                "name",
                "precision",
                "recall",
                "f1",
                "support",
                "predicted",
                "average_precision",
            ])?;
            for c in &self.per_class {
                out.write_record([
                    c.code.clone(),
                    c.name.clone(),
                    c.precision.to_string(),
                    c.recall.to_string(),
                    c.f1.to_string(),
                    c.support.to_string(),
                    c.predicted.to_string(),
                    c.average_precision.map(|ap| ap.to_string()).unwrap_or_default(),
                ])?;
            }
            out.flush()
        })?;
        Ok(())
    }

    /// Writes the confusion matrix as CSV (see [`ConfusionMatrix::write_csv`]).
    pub fn write_confusion_csv(&self, path: &Path) -> Result<(), EvalError> {
        self.confusion.write_csv(path)
    }

    /// Renders the row-normalised confusion matrix as a PNG heatmap (see [`Self::confusion_png`]) and
    /// writes it atomically.
    pub fn write_confusion_png(&self, path: &Path) -> Result<(), EvalError> {
        let png = self.confusion_png().map_err(|e| match e {
            EvalError::Plot { message, .. } => EvalError::Plot { path: Some(path.to_path_buf()), message },
            other => other,
        })?;
        atlas_artifact::write_atomic(path, &png)?;
        Ok(())
    }

    /// The confusion heatmap as PNG bytes: each row divided by its sum (so the diagonal is the recall),
    /// a colour scale, and the category codes on both axes when a system font is found (without one the
    /// heatmap is drawn without text).
    pub fn confusion_png(&self) -> Result<Vec<u8>, EvalError> {
        let title = report_title(self);
        heatmap::render_png(&self.confusion, &title, heatmap::fonts_available())
    }
}

/// The heatmap's title: what is shown and the headline numbers.
pub(crate) fn report_title(r: &EvalReport) -> String {
    let mut title = format!(
        "Confusion matrix, rows normalised (recall on the diagonal): n = {}, accuracy = {:.4}, macro-F1 = {:.4}",
        r.n, r.accuracy, r.macro_f1
    );
    if r.n_unknown_label > 0 {
        title
            .push_str(&format!(" ({} papers with labels unknown to the model not shown)", r.n_unknown_label));
    }
    title
}

/// JSON number, or `null` for NaN / infinity (which JSON cannot represent).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{case_a, case_c};

    #[test]
    fn per_class_csv_has_one_quoted_row_per_class() {
        let mut c = case_c();
        c.names[1] = "Quantum, \"Gravity\"".into();
        let r = c.eval();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/per_class.csv");
        r.write_per_class_csv(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "code,name,precision,recall,f1,support,predicted,average_precision");
        assert_eq!(lines.len(), 1 + 5);
        // Class 0: true primary of papers 0 and 4, predicted for papers 0, 2, 3, 4: P 2/4, R 1, F1 2/3.
        assert_eq!(lines[1], "x.C0,Class 0,0.5,1,0.6666666666666666,2,4,0.5833333333333333");
        assert!(lines[2].starts_with("x.C1,\"Quantum, \"\"Gravity\"\"\","), "{}", lines[2]);
        // Class 4: never true, never predicted, no positive paper.
        assert_eq!(lines[5], "x.C4,Class 4,0,0,0,0,0,");
    }

    #[test]
    fn confusion_csv_has_code_headers() {
        let r = case_a().eval();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.csv");
        r.write_confusion_csv(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let want = "true\\predicted,x.C0,x.C1,x.C2,x.C3\n\
                    x.C0,2,0,0,0\n\
                    x.C1,1,1,0,0\n\
                    x.C2,0,1,1,1\n\
                    x.C3,0,0,0,0\n";
        assert_eq!(text, want);
    }

    #[test]
    fn writing_into_a_file_path_that_is_a_folder_fails_with_the_path() {
        let r = case_a().eval();
        let dir = tempfile::tempdir().unwrap();
        let e = r.write_confusion_csv(dir.path()).unwrap_err();
        assert!(e.to_string().contains(&dir.path().display().to_string()), "{e}");
    }
}
