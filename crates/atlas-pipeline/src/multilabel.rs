//! The multi-label side of the workflows: every category of a paper (primary and cross-lists) as class ids,
//! and the per-class thresholds of a one-vs-rest model, chosen on validation papers only.

use std::collections::HashMap;

use atlas_calibrate::LabelThresholds;
use atlas_classify::{Labels, Probabilities};
use atlas_corpus::Paper;

use crate::PipelineError;

/// The class ids of all of each paper's categories that are among `labels` (categories the model does not
/// know are left out; a paper may end with none).
pub fn category_ids(labels: &Labels, papers: &[Paper]) -> Vec<Vec<u32>> {
    let index: HashMap<&str, u32> =
        labels.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    papers
        .iter()
        .map(|p| p.categories.iter().filter_map(|c| index.get(c.as_str()).copied()).collect())
        .collect()
}

/// Per-class thresholds of a multi-label model from its probabilities `probs` of the validation papers
/// `valid` (one row each): each class's threshold maximises its F1 against the papers' categories. Nothing
/// but these papers is read, so the thresholds cannot depend on the test split.
pub fn fit_thresholds(
    labels: &Labels,
    probs: &Probabilities,
    valid: &[Paper],
) -> Result<LabelThresholds, PipelineError> {
    let sets = category_ids(labels, valid);
    Ok(LabelThresholds::fit(&probs.data, probs.n_classes, &sets)?)
}
