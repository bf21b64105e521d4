//! The one-vs-rest (multi-label) TF-IDF model: every category of a paper, cross-lists included.
//!
//! A paper has one primary category but often several more. The multi-label model is the TF-IDF linear
//! model with one independent sigmoid per class instead of one softmax over the classes, trained on the
//! summed binary cross-entropies of all of a paper's categories. It shares everything else with
//! [`TfidfLinearModel`] — vectoriser, sparse AdaGrad optimiser, early stopping, folder format — and is told
//! apart by its manifest kind, [`TfidfLinearModel::KIND_MULTILABEL`]. Its probabilities are per class and
//! do not sum to 1; which of them make a paper's label set is decided by per-class thresholds chosen on
//! validation (`atlas_calibrate::LabelThresholds`), not here.

use crate::error::ClassifyError;
use crate::labels::Labels;
use crate::model::{TfidfLinearModel, TrainReport};
use crate::params::{LinearParams, TfidfParams};
use crate::train::{EpochStats, Targets};

impl TfidfLinearModel {
    /// Fits the vectoriser on `train`, then one logistic regression per class on its TF-IDF rows, where
    /// `train_sets[i]` holds the class ids of every category of `train[i]` (order and duplicates do not
    /// matter; an empty set is a paper with none of the classes). Early stopping watches the summed binary
    /// cross-entropy on `valid`; the validation "accuracy" of [`EpochStats`] is the share of papers whose
    /// top class is one of theirs.
    pub fn train_one_vs_rest(
        train: &[&str],
        train_sets: &[Vec<u32>],
        valid: Option<(&[&str], &[Vec<u32>])>,
        labels: Labels,
        tfidf: &TfidfParams,
        linear: &LinearParams,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<(Self, TrainReport), ClassifyError> {
        let train_sets = normalised(train_sets);
        let valid_sets = valid.map(|(_, s)| normalised(s));
        let valid = valid.zip(valid_sets.as_deref()).map(|((v, _), s)| (v, Targets::Multi(s)));
        Self::train_targets(train, Targets::Multi(&train_sets), valid, labels, tfidf, linear, observer)
    }

    /// `true` for a one-vs-rest (multi-label) model, whose probabilities are independent per class.
    pub fn is_one_vs_rest(&self) -> bool {
        self.one_vs_rest
    }
}

/// The sets sorted and without duplicates, as the optimiser's membership test expects.
fn normalised(sets: &[Vec<u32>]) -> Vec<Vec<u32>> {
    sets.iter()
        .map(|s| {
            let mut s = s.clone();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::Classifier;

    /// Papers of `k` topics where each paper has one or two topics and draws words from each of them.
    fn multi_topic_texts(n: usize, k: usize, seed: u64) -> (Vec<String>, Vec<Vec<u32>>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut texts, mut sets) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let a = rng.random_range(0..k);
            let mut set = vec![a as u32];
            if rng.random_bool(0.5) {
                set.push(((a + 1 + rng.random_range(0..k - 1)) % k) as u32);
            }
            let words: Vec<String> = set
                .iter()
                .flat_map(|&c| (0..4).map(move |j| (c, j)))
                .map(|(c, _)| format!("topic{c}word{}", rng.random_range(0..10)))
                .collect();
            texts.push(format!("{} the of we {}", words.join(" "), words.len()));
            sets.push(set);
        }
        (texts, sets)
    }

    fn labels(k: usize) -> Labels {
        Labels {
            codes: (0..k).map(|c| format!("t.{c}")).collect(),
            names: (0..k).map(|c| format!("Topic {c}")).collect(),
        }
    }

    fn params() -> (TfidfParams, LinearParams) {
        let tfidf = TfidfParams { min_df: 1, ..TfidfParams::default() };
        let linear =
            LinearParams { epochs: 10, batch_size: 16, threads: 2, patience: 0, ..LinearParams::default() };
        (tfidf, linear)
    }

    #[test]
    fn every_topic_of_a_paper_gets_a_high_probability() {
        let (texts, sets) = multi_topic_texts(500, 5, 1);
        let (vtexts, vsets) = multi_topic_texts(200, 5, 2);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vrefs: Vec<&str> = vtexts.iter().map(String::as_str).collect();
        let (tfidf, linear) = params();
        let (m, report) = TfidfLinearModel::train_one_vs_rest(
            &refs,
            &sets,
            Some((&vrefs, &vsets)),
            labels(5),
            &tfidf,
            &linear,
            &mut |_| {},
        )
        .unwrap();
        assert!(m.is_one_vs_rest());
        assert_eq!(m.kind(), TfidfLinearModel::KIND_MULTILABEL);
        assert!(report.history.last().unwrap().train_loss < report.history[0].train_loss);
        let p = m.predict_proba(&vrefs);
        // Thresholding each sigmoid at 0.5 recovers the exact topic set of nearly every paper, which a
        // softmax (whose probabilities share one unit of mass) could not do for two-topic papers.
        let exact = (0..vsets.len())
            .filter(|&i| {
                let mut predicted: Vec<u32> =
                    (0..5).filter(|&c| p.row(i)[c] >= 0.5).map(|c| c as u32).collect();
                predicted.sort_unstable();
                let mut truth = vsets[i].clone();
                truth.sort_unstable();
                predicted == truth
            })
            .count();
        assert!(exact as f64 / vsets.len() as f64 > 0.9, "{exact} of {} exact sets", vsets.len());
        // Two-topic papers give both topics a high probability: the rows do not sum to 1.
        let two = (0..vsets.len()).find(|&i| vsets[i].len() == 2).unwrap();
        assert!(p.row(two).iter().sum::<f32>() > 1.2, "{:?}", p.row(two));
    }

    #[test]
    fn a_saved_one_vs_rest_model_loads_as_one() {
        let (texts, sets) = multi_topic_texts(200, 3, 3);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (tfidf, linear) = params();
        let (m, _) =
            TfidfLinearModel::train_one_vs_rest(&refs, &sets, None, labels(3), &tfidf, &linear, &mut |_| {})
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        assert_eq!(crate::model_kind(dir.path()).unwrap(), TfidfLinearModel::KIND_MULTILABEL);
        let back = crate::load_classifier(dir.path()).unwrap();
        assert_eq!(back.kind(), TfidfLinearModel::KIND_MULTILABEL);
        assert_eq!(back.predict_proba(&refs[..20]), m.predict_proba(&refs[..20]));
    }

    #[test]
    fn out_of_range_classes_are_refused() {
        let (tfidf, linear) = params();
        let err = TfidfLinearModel::train_one_vs_rest(
            &["alpha beta", "gamma delta"],
            &[vec![0], vec![0, 7]],
            None,
            labels(2),
            &tfidf,
            &linear,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("label 7 of example 1"), "{err}");
    }
}
