//! Classification metrics and reports for arxiv-atlas's `evaluate` command.
//!
//! [`evaluate`] takes a model's class probabilities for `n` papers, each paper's true primary class and
//! the set of all its categories, and returns an [`EvalReport`]:
//!
//! * single-label metrics of the top-1 prediction (accuracy, macro / weighted F1, top-k accuracy, log
//!   loss, per-class precision / recall / F1 and a confusion matrix), defined as scikit-learn defines
//!   them so the numbers compare with the Python peer baselines;
//! * multi-label metrics against all of a paper's categories (micro / macro F1 of thresholded
//!   predictions, mean average precision per class, label ranking average precision).
//!
//! The report exports a flat JSON summary, per-class and confusion CSVs and a confusion heatmap PNG;
//! [`reliability_png`] draws a reliability diagram of calibration bins (`atlas-calibrate`).
//!
//! Argmax ties go to the lowest class id (as `numpy.argmax`). Inputs are validated up front: shapes,
//! class ids and probabilities (NaN, infinities, negatives and values above 1 are rejected, because they
//! mean the caller passed something other than probabilities).

#![warn(missing_docs)]

mod confusion;
mod curves;
mod error;
#[cfg(test)]
mod fixtures;
mod heatmap;
mod input;
mod multilabel;
mod reliability;
mod report;
mod single;

pub use confusion::ConfusionMatrix;
pub use curves::{curves_png, write_curves_png};
pub use error::EvalError;
/// The PNG plots' font lookup and in-memory PNG encoder, shared with other crates that draw (`atlas-map`).
pub use heatmap::{encode_png, fonts_available, FAMILY as FONT_FAMILY};
pub use input::{EvalInput, EvalOptions};
pub use multilabel::MultiLabelMetrics;
pub use reliability::{reliability_png, write_reliability_png};
pub use report::{ClassMetrics, EvalReport};

/// Computes every metric of `input`; fails on inconsistent shapes, out-of-range class ids, non-probability
/// values or invalid options (see [`EvalError`]).
///
/// Cost is `O(n·K)` plus one sort of `n` scores per class for the average precisions: milliseconds for
/// 10k papers over 172 classes.
pub fn evaluate(input: &EvalInput<'_>, opts: &EvalOptions) -> Result<EvalReport, EvalError> {
    input::validate(input, opts)?;
    let k = input.n_classes;
    let pred: Vec<usize> = input.probs.chunks_exact(k).map(single::argmax).collect();
    let single = single::compute(input, &pred, opts.top_k.min(k));
    let multilabel =
        multilabel::compute(input, &pred, opts.multilabel_threshold, opts.class_thresholds.as_deref());
    let mut per_class = single.per_class;
    for (c, ap) in per_class.iter_mut().zip(&multilabel.average_precision) {
        c.average_precision = *ap;
    }
    Ok(EvalReport {
        n: input.y_true.len(),
        n_unknown_label: single.n_unknown_label,
        n_classes: k,
        accuracy: single.accuracy,
        macro_f1: single.macro_f1,
        weighted_f1: single.weighted_f1,
        n_classes_in_macro: single.n_classes_in_macro,
        top_k: opts.top_k,
        top3_accuracy: single.top_k_accuracy,
        log_loss: single.log_loss,
        per_class,
        confusion: single.confusion,
        multilabel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{case_a, case_b, case_c, Case};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[track_caller]
    fn assert_close(a: f64, b: f64) {
        assert!(close(a, b), "{a} != {b}");
    }

    #[test]
    fn single_label_metrics_match_scikit_learn() {
        let r = case_a().eval();
        assert_eq!((r.n, r.n_unknown_label, r.n_classes), (7, 0, 4));
        // accuracy_score = 4/7; f1_score(average="macro") = 0.45 (class 3 is predicted once, never true:
        // it enters the average with F1 0); average="weighted" = 0.5857142857142856.
        assert_close(r.accuracy, 4.0 / 7.0);
        assert_close(r.macro_f1, 0.45);
        assert_close(r.weighted_f1, 0.5857142857142856);
        assert_eq!(r.n_classes_in_macro, 4);
        // precision_recall_fscore_support(labels=[0,1,2,3], zero_division=0).
        let p: Vec<f64> = r.per_class.iter().map(|c| c.precision).collect();
        let rc: Vec<f64> = r.per_class.iter().map(|c| c.recall).collect();
        let f: Vec<f64> = r.per_class.iter().map(|c| c.f1).collect();
        for (got, want) in p.iter().zip([2.0 / 3.0, 0.5, 1.0, 0.0]) {
            assert_close(*got, want);
        }
        for (got, want) in rc.iter().zip([1.0, 0.5, 1.0 / 3.0, 0.0]) {
            assert_close(*got, want);
        }
        for (got, want) in f.iter().zip([0.8, 0.5, 0.5, 0.0]) {
            assert_close(*got, want);
        }
        let support: Vec<u64> = r.per_class.iter().map(|c| c.support).collect();
        let predicted: Vec<u64> = r.per_class.iter().map(|c| c.predicted).collect();
        assert_eq!(support, [2, 2, 3, 0]);
        assert_eq!(predicted, [3, 2, 1, 1]);
        assert_eq!(r.per_class[2].code, "x.C2");
        assert_eq!(r.per_class[2].name, "Class 2");
        // log_loss(y, P, labels=[0,1,2,3]) = 0.8606168892994555 (also the plain mean of -ln p_true).
        assert_close(r.log_loss, 0.8606168892994555);
        // top_k_accuracy_score(k=3) = 1.0.
        assert_close(r.top3_accuracy, 1.0);
        assert_eq!(r.top_k, 3);
    }

    #[test]
    fn confusion_matrix_counts_true_rows_and_predicted_columns() {
        let r = case_a().eval();
        let cm = &r.confusion;
        assert_eq!(cm.row(0), [2, 0, 0, 0]);
        assert_eq!(cm.row(1), [1, 1, 0, 0]);
        assert_eq!(cm.row(2), [0, 1, 1, 1]);
        assert_eq!(cm.row(3), [0, 0, 0, 0]);
        assert_eq!(cm.get(2, 3), 1);
        assert_eq!(cm.counts.iter().sum::<u64>(), 7);
        assert_eq!(cm.row_normalised(3), None);
        let row2 = cm.row_normalised(2).unwrap();
        assert_close(row2[2], 1.0 / 3.0);
        assert_close(row2[2], r.per_class[2].recall);
    }

    #[test]
    fn top_k_ties_rank_the_lowest_class_id_first() {
        // Computed by hand: paper 4 (true class 2, probabilities 0.3 / 0.4 / 0.3 / 0) has class 1 ahead and
        // ties with class 0, which ranks first, so class 2 is third: a top-2 miss; every other paper is a
        // top-2 hit. (scikit-learn's top_k_accuracy_score breaks this tie the other way and says 1.0.)
        let c = case_a();
        let r = evaluate(&c.input(), &EvalOptions { top_k: 2, ..EvalOptions::default() }).unwrap();
        assert_close(r.top3_accuracy, 6.0 / 7.0);
        assert_eq!(r.summary()["top2_accuracy"], serde_json::json!(6.0 / 7.0));
        assert_eq!(r.summary()["top_k"], 2);
        // top-1 accuracy is accuracy.
        let r1 = evaluate(&c.input(), &EvalOptions { top_k: 1, ..EvalOptions::default() }).unwrap();
        assert_close(r1.top3_accuracy, r1.accuracy);
        // k above the number of classes: every known paper is a hit.
        let r9 = evaluate(&c.input(), &EvalOptions { top_k: 9, ..EvalOptions::default() }).unwrap();
        assert_close(r9.top3_accuracy, 1.0);
    }

    #[test]
    fn argmax_ties_go_to_the_lowest_class_id() {
        // Both papers tie between classes 1 and 2; numpy.argmax picks 1.
        let c = Case::new(3, &[&[0.2, 0.4, 0.4], &[0.2, 0.4, 0.4]], &[Some(1), Some(2)], &[&[1], &[2]]);
        let r = c.eval();
        assert_close(r.accuracy, 0.5);
        assert_eq!(r.per_class[1].predicted, 2);
        assert_eq!(r.per_class[2].predicted, 0);
    }

    #[test]
    fn unknown_labels_are_errors_outside_the_per_class_tables() {
        let r = case_b().eval();
        assert_eq!((r.n, r.n_unknown_label), (9, 2));
        // accuracy_score with the foreign labels "x", "y" = 4/9.
        assert_close(r.accuracy, 4.0 / 9.0);
        // f1_score(average="weighted") = 0.4037037037037037: identical, unknown papers weigh with F1 0.
        assert_close(r.weighted_f1, 0.4037037037037037);
        // f1_score(average="macro", labels=["a","b","c","d"]) = 0.39166666666666666; scikit-learn's plain
        // macro (0.2611111111111111) also averages two zeros for "x" and "y", which we cannot name.
        assert_close(r.macro_f1, 0.39166666666666666);
        // Their predictions are false positives: precision of class 0 is 2/4, of class 1 is 1/3.
        let p: Vec<f64> = r.per_class.iter().map(|c| c.precision).collect();
        for (got, want) in p.iter().zip([0.5, 1.0 / 3.0, 1.0, 0.0]) {
            assert_close(*got, want);
        }
        assert_eq!(r.per_class.iter().map(|c| c.support).sum::<u64>(), 7);
        assert_eq!(r.confusion.counts.iter().sum::<u64>(), 7);
        assert_eq!(r.confusion.unknown_label_predictions, [1, 1, 0, 0]);
        // Log loss only over the 7 known papers: the same as case A.
        assert_close(r.log_loss, 0.8606168892994555);
        // Hand-computed: the 7 known papers are top-3 hits, the 2 unknown ones misses.
        assert_close(r.top3_accuracy, 7.0 / 9.0);
    }

    #[test]
    fn all_unknown_labels_leave_log_loss_undefined() {
        let c = Case::new(2, &[&[0.9, 0.1]], &[None], &[&[]]);
        let r = c.eval();
        assert_eq!(r.accuracy, 0.0);
        assert!(r.log_loss.is_nan());
        assert_eq!(r.summary()["log_loss"], serde_json::Value::Null);
        assert_eq!(r.macro_f1, 0.0);
        assert_eq!(r.n_classes_in_macro, 1);
    }

    #[test]
    fn log_loss_clips_zero_probabilities() {
        // Hand-computed: -ln(1e-15) = 34.538776394910684 for the miss, -ln(1) = 0 for the hit.
        let c = Case::new(2, &[&[1.0, 0.0], &[1.0, 0.0]], &[Some(1), Some(0)], &[&[1], &[0]]);
        assert_close(c.eval().log_loss, 34.538776394910684 / 2.0);
    }

    #[test]
    fn multilabel_metrics_match_scikit_learn() {
        let r = case_c().eval();
        let m = &r.multilabel;
        assert_eq!(m.threshold, 0.2);
        // Predicted sets (>= 0.2 plus argmax): {0,1} {2} {0,1,2,3} {0,3} {0,1,2}.
        assert_close(m.mean_predicted_labels, 12.0 / 5.0);
        assert_close(m.mean_true_labels, 7.0 / 5.0);
        // f1_score(Y, P, average="micro") = 0.7368421052631579.
        assert_close(m.micro_f1, 0.7368421052631579);
        // f1_score(Y, P, average="macro", labels=[0,1,2,3]) = 0.7333333333333333; class 4 is in neither
        // set (scikit-learn's default over all 5 columns would average in a 0).
        assert_close(m.macro_f1, 0.7333333333333333);
        assert_eq!(m.n_classes_in_macro, 4);
        // average_precision_score per column (ties grouped): 0.58333.., 0.58333.., 1.0, 0.5; none for 4.
        let want = [Some(0.5833333333333333), Some(0.5833333333333333), Some(1.0), Some(0.5), None];
        for (got, want) in m.average_precision.iter().zip(want) {
            match (got, want) {
                (Some(g), Some(w)) => assert_close(*g, w),
                (g, w) => assert_eq!(*g, w),
            }
        }
        assert_eq!(r.per_class[3].average_precision, Some(0.5));
        assert_close(m.map, 0.6666666666666666);
        assert_eq!(m.n_classes_in_map, 4);
        // label_ranking_average_precision_score(Y, P) = 0.8333333333333334.
        assert_close(m.lrap, 0.8333333333333334);
    }

    #[test]
    fn multilabel_threshold_above_one_predicts_only_the_top_class() {
        let c = case_c();
        let r = evaluate(&c.input(), &EvalOptions { multilabel_threshold: 1.5, ..EvalOptions::default() })
            .unwrap();
        assert_close(r.multilabel.mean_predicted_labels, 1.0);
        // Hand-computed: predictions 0, 2, 0, 0, 0 against {0,1} {2} {1,3} {} {0,2}: TP 3, FP 2, FN 4.
        assert_close(r.multilabel.micro_f1, 6.0 / 12.0);
    }

    #[test]
    fn per_class_thresholds_replace_the_global_one() {
        let c = case_c();
        let k = c.k;
        let with = |t: Vec<f32>| {
            evaluate(&c.input(), &EvalOptions { class_thresholds: Some(t), ..EvalOptions::default() })
        };
        // Every class above one: only the top classes, as with a global threshold of 1.5.
        let high_report = with(vec![1.5; k]).unwrap();
        assert!(high_report.summary()["multilabel_threshold"].is_null(), "the global threshold was not used");
        let high = high_report.multilabel;
        assert!(high.per_class_thresholds);
        assert_close(high.micro_f1, 6.0 / 12.0);
        // The same threshold for every class is the global threshold.
        let same = with(vec![0.2; k]).unwrap().multilabel;
        let global = case_c().eval().multilabel;
        assert_close(same.micro_f1, global.micro_f1);
        assert_close(same.macro_f1, global.macro_f1);
        // Thresholds differ per class: only the class whose threshold is low adds labels beyond the top one.
        let mut mixed = vec![1.5; k];
        mixed[1] = 0.0;
        let m = with(mixed).unwrap().multilabel;
        assert!(m.mean_predicted_labels > high.mean_predicted_labels);
        assert!(m.mean_predicted_labels < global.mean_predicted_labels + 1.0);
        let e = with(vec![0.5; k + 1]).unwrap_err();
        assert!(matches!(e, EvalError::InvalidOption { name: "class_thresholds", .. }), "{e}");
    }

    #[test]
    fn summary_is_flat_and_complete() {
        let r = case_c().eval();
        let s = r.summary();
        let obj = s.as_object().unwrap();
        for key in [
            "n",
            "n_unknown_label",
            "accuracy",
            "macro_f1",
            "weighted_f1",
            "top3_accuracy",
            "log_loss",
            "multilabel_micro_f1",
            "multilabel_macro_f1",
            "map",
            "lrap",
        ] {
            assert!(obj.contains_key(key), "summary lacks {key}");
        }
        assert!(obj.values().all(|v| !v.is_object() && !v.is_array()));
        assert_eq!(s["n"], 5);
        assert_eq!(s["n_unknown_label"], 1);
        assert_eq!(s["accuracy"], serde_json::json!(r.accuracy));
        assert_eq!(s["map"], serde_json::json!(r.multilabel.map));
        // The whole report serialises too (NaN-free here).
        let full = serde_json::to_value(&r).unwrap();
        assert_eq!(full["per_class"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn ten_thousand_papers_over_172_classes() {
        // Structure check at the real scale (timings are measured in the report, not asserted here).
        let (n, k) = (10_000usize, 172usize);
        let mut probs = vec![0.0f32; n * k];
        let mut y = Vec::with_capacity(n);
        let mut sets = Vec::with_capacity(n);
        for i in 0..n {
            let t = (i * 7) % k;
            let guess = if i % 4 == 0 { (t + 1) % k } else { t };
            let row = &mut probs[i * k..(i + 1) * k];
            row.fill(0.2 / (k - 1) as f32);
            row[guess] = 0.8;
            y.push(Some(t as u32));
            sets.push(vec![t as u32, ((t + 1) % k) as u32]);
        }
        let codes: Vec<String> = (0..k).map(|c| format!("c{c}")).collect();
        let input = EvalInput {
            probs: &probs,
            n_classes: k,
            y_true: &y,
            true_sets: &sets,
            codes: &codes,
            names: &codes,
        };
        let r = evaluate(&input, &EvalOptions::default()).unwrap();
        assert_close(r.accuracy, 0.75);
        assert_eq!(r.confusion.counts.iter().sum::<u64>(), n as u64);
        // Every paper predicts one of its two true classes and nothing else.
        assert_close(r.multilabel.mean_predicted_labels, 1.0);
        assert_close(r.multilabel.micro_f1, 2.0 * n as f64 / (2.0 * n as f64 + n as f64));
    }
}
