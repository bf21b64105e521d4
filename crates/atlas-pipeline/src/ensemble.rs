//! `train` of `experiment=ensemble`: a TF-IDF model, an embedding head and (with `ensemble.knn`, the
//! default) k-nearest-neighbour votes on the same embeddings, each trained, saved and calibrated as a model
//! of its own under `parts/`, stacked by a combiner fitted on validation.
//!
//! Which validation papers fit what (halves by id hash, [`atlas_calibrate::calibration_half`]):
//! * the trained parts early-stop on the whole validation split (as every single model does; the kNN part
//!   has nothing to stop);
//! * each part's temperature, the combiner's weights (and its choice of pooling rule), and then the ensemble's
//!   temperature and RAPS tuning: the **temperature half**;
//! * the ensemble's conformal scores: the **conformal half**, which nothing else above has seen, so the
//!   conformal guarantee holds for the ensemble as it does for a single model.
//!
//! The test split is never read.

use std::collections::BTreeMap;

use atlas_calibrate::{calibration_half, CalibrationHalf, PoolKind, Stack};
use atlas_classify::{EpochStats, Probabilities};
use atlas_config::ExperimentKind;
use atlas_model::{ensemble_part_dir, save_ensemble, write_calibration, write_pipeline_meta, PipelineMeta};

use crate::calibrate::{calibration_numbers, fit_calibration, label_ids, labelled_rows};
use crate::evaluate::{evaluate_probs, summary_numbers};
use crate::train::{EmbeddingHead, Trainer, VALIDATION_MULTILABEL_THRESHOLD};
use crate::PipelineError;

/// The part folder names, in combiner order (the kNN part last, when there is one).
const TFIDF_PART: &str = "tfidf";
const EMBEDDING_PART: &str = "embedding";
const KNN_PART: &str = "knn";
/// The `pipeline.json` experiment name of the kNN part (not an experiment of its own).
const KNN_EXPERIMENT: &str = "embedding_knn";

/// Trains the parts into `parts/` of the trainer's model folder, calibrates each, fits the combiner on the
/// temperature half of validation and seals the ensemble folder. Returns the ensemble's (combined, not yet
/// ensemble-calibrated) validation probabilities, like the single-model trainers. Each part's numbers are
/// recorded with its name as prefix (`tfidf_fit_s`, `validation_embedding_accuracy` …).
pub(crate) fn train_ensemble(
    trainer: &Trainer<'_>,
    pipeline: &PipelineMeta,
    metrics: &mut BTreeMap<String, f64>,
    observer: &mut dyn FnMut(&EpochStats),
) -> Result<Option<Probabilities>, PipelineError> {
    let exp = &trainer.resolved.config.experiment;
    let (embedding, embedding_head) = match exp.ensemble.embedding {
        ExperimentKind::EmbeddingLr => (ExperimentKind::EmbeddingLr, EmbeddingHead::Lr),
        ExperimentKind::EmbeddingMlp => (ExperimentKind::EmbeddingMlp, EmbeddingHead::Mlp),
        other => {
            return Err(PipelineError::Setting {
                key: "experiment.ensemble.embedding",
                message: format!("`{other}` is not an embedding head; use embedding_lr or embedding_mlp"),
            })
        }
    };
    let valid = &trainer.data.valid;
    let y = label_ids(trainer.labels, valid);
    let in_temperature_half = |i: usize| calibration_half(&valid[i].id) == CalibrationHalf::Temperature;
    if !(0..valid.len()).any(|i| y[i].is_some() && in_temperature_half(i)) {
        return Err(PipelineError::Setting {
            key: "experiment.kind",
            message: "an ensemble fits its combiner on the validation split, and no validation paper of \
                      the temperature half has a category seen in training"
                .into(),
        });
    }

    let mut names = vec![TFIDF_PART, EMBEDDING_PART];
    if exp.ensemble.knn {
        names.push(KNN_PART);
    }
    let mut calibrated = Vec::new();
    for &name in &names {
        let dir = ensemble_part_dir(trainer.model_dir, name);
        let part = Trainer { model_dir: &dir, ..*trainer };
        let mut m = BTreeMap::new();
        let (probs, part_experiment) = match name {
            TFIDF_PART => (part.tfidf(false, &mut m, observer)?, ExperimentKind::TfidfLinear.as_str()),
            EMBEDDING_PART => (part.embedding_head(embedding_head, &mut m, observer)?, embedding.as_str()),
            _ => (part.embedding_head(EmbeddingHead::Knn, &mut m, observer)?, KNN_EXPERIMENT),
        };
        write_pipeline_meta(&dir, &PipelineMeta { experiment: part_experiment.into(), ..pipeline.clone() })?;
        // Checked above: the temperature half has labelled papers, so both are present (probabilities and
        // a calibration).
        let uncalibrated = || PipelineError::Setting {
            key: "experiment.kind",
            message: format!("the {name} part could not be calibrated on validation"),
        };
        let mut probs = probs.ok_or_else(uncalibrated)?;
        let calibration = fit_calibration(trainer.labels, &probs, valid, None)?.ok_or_else(uncalibrated)?;
        write_calibration(&dir, &calibration)?;
        m.extend(calibration_numbers(&calibration));
        atlas_calibrate::apply_temperature(&mut probs.data, probs.n_classes, calibration.temperature);
        let rep = evaluate_probs(trainer.labels, &probs, valid, VALIDATION_MULTILABEL_THRESHOLD)?;
        for (k, v) in summary_numbers(&rep) {
            metrics.insert(format!("validation_{name}_{k}"), v);
        }
        for (k, v) in m {
            metrics.insert(format!("{name}_{k}"), v);
        }
        calibrated.push(probs);
    }
    // Timings of the whole: all parts.
    for key in ["train_s", "fit_s"] {
        let total: f64 = names.iter().filter_map(|p| metrics.get(&format!("{p}_{key}"))).sum();
        metrics.insert(key.into(), total);
    }

    let rows: Vec<(Vec<f32>, Vec<u32>)> =
        calibrated.iter().map(|p| labelled_rows(p, &y, in_temperature_half)).collect();
    let refs: Vec<&[f32]> = rows.iter().map(|(r, _)| r.as_slice()).collect();
    let k = trainer.labels.len();
    let stack = Stack::fit(&refs, k, &rows[0].1)?;
    let weights: Vec<String> = names.iter().zip(&stack.weights).map(|(n, w)| format!("{n} {w:.3}")).collect();
    tracing::info!(
        "ensemble combiner: {:?} pooling, weights {} (fitted on {} papers)",
        stack.kind,
        weights.join(", "),
        stack.n_fit
    );
    save_ensemble(trainer.model_dir, trainer.labels, &names, &stack)?;
    for (name, w) in names.iter().zip(&stack.weights) {
        metrics.insert(format!("ensemble_weight_{name}"), *w);
    }
    metrics.insert("ensemble_log_linear".into(), f64::from(u8::from(stack.kind == PoolKind::LogLinear)));
    metrics.insert("ensemble_n_fit".into(), stack.n_fit as f64);
    for (kind, loss) in &stack.fit_log_loss {
        let name = match kind {
            PoolKind::LogLinear => "log_linear",
            PoolKind::Linear => "linear",
        };
        metrics.insert(format!("ensemble_fit_log_loss_{name}"), *loss);
    }
    let parts: Vec<&[f32]> = calibrated.iter().map(|p| p.data.as_slice()).collect();
    Ok(Some(Probabilities { n_classes: k, data: stack.combine(&parts, k) }))
}
