//! What [`crate::evaluate`] consumes, and the checks it runs before computing anything.

use crate::EvalError;

/// Predictions and ground truth for `n` papers over `n_classes` classes.
///
/// `n` is `y_true.len()`; every other per-paper input must have the same number of papers.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    /// Predicted class probabilities, row-major `n x n_classes`; each row should sum to about 1.
    /// Rows are used as given (not renormalised).
    pub probs: &'a [f32],
    /// Number of classes `K` of the model.
    pub n_classes: usize,
    /// The true primary class of each paper, or `None` when the paper's primary category is not among the
    /// model's labels (see [`crate::EvalReport::n_unknown_label`] for how those papers are counted).
    pub y_true: &'a [Option<u32>],
    /// All categories of each paper that are among the model's labels, as class ids (duplicates are
    /// ignored). Used only by the multi-label metrics.
    pub true_sets: &'a [Vec<u32>],
    /// Category code of each class (`cs.LG`), `n_classes` entries.
    pub codes: &'a [String],
    /// Human-readable name of each class (`Machine Learning`), `n_classes` entries.
    pub names: &'a [String],
}

/// Knobs of [`crate::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// A paper's multi-label prediction is every class with probability `>=` this value, plus its top-1
    /// class. Default 0.2.
    pub multilabel_threshold: f32,
    /// `k` of the top-k accuracy (reported as `top3_accuracy`; the default is 3). Must be at least 1; values
    /// above the number of classes behave like the number of classes.
    pub top_k: usize,
    /// One threshold per class (a multi-label model's, chosen on validation) used instead of
    /// `multilabel_threshold`; `None` (the default) uses the global one.
    pub class_thresholds: Option<Vec<f32>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { multilabel_threshold: 0.2, top_k: 3, class_thresholds: None }
    }
}

/// Probabilities may exceed 1 by this much: float rounding in a softmax can land a hair above 1, and
/// rejecting that would be pedantry, while anything larger means the caller passed scores or logits.
const PROB_SLACK: f32 = 1e-4;

/// Checks shapes, class ids, probability values and options, so the metric code can index freely.
pub(crate) fn validate(input: &EvalInput<'_>, opts: &EvalOptions) -> Result<(), EvalError> {
    let k = input.n_classes;
    let n = input.y_true.len();
    if k == 0 {
        return Err(EvalError::NoClasses);
    }
    if n == 0 {
        return Err(EvalError::Empty);
    }
    check_len("codes", input.codes.len(), k, "one code per class")?;
    check_len("names", input.names.len(), k, "one name per class")?;
    check_len("true_sets", input.true_sets.len(), n, "one set per paper of y_true")?;
    // `n * k` cannot overflow in practice (both index real slices), but a checked product keeps a bogus
    // `n_classes` from wrapping around into a matching length.
    let expected = n.checked_mul(k).ok_or(EvalError::Shape {
        what: "probs",
        expected: usize::MAX,
        found: input.probs.len(),
        why: "n papers x n_classes overflows",
    })?;
    check_len("probs", input.probs.len(), expected, "n papers of y_true x n_classes")?;

    for (row, y) in input.y_true.iter().enumerate() {
        if let Some(class) = *y {
            check_class(row, class, "y_true", k)?;
        }
    }
    for (row, set) in input.true_sets.iter().enumerate() {
        for &class in set {
            check_class(row, class, "true_sets", k)?;
        }
    }
    for (i, &value) in input.probs.iter().enumerate() {
        // Written as a negated range test so that NaN (which fails every comparison) is rejected too.
        if !(value.is_finite() && (0.0..=1.0 + PROB_SLACK).contains(&value)) {
            let class = i % k;
            return Err(EvalError::BadProbability {
                row: i / k,
                class,
                code: input.codes[class].clone(),
                value,
            });
        }
    }

    if opts.top_k == 0 {
        return Err(EvalError::InvalidOption { name: "top_k", reason: "must be at least 1".into() });
    }
    if !opts.multilabel_threshold.is_finite() {
        return Err(EvalError::InvalidOption {
            name: "multilabel_threshold",
            reason: format!("must be a finite number, got {}", opts.multilabel_threshold),
        });
    }
    if let Some(t) = &opts.class_thresholds {
        if t.len() != k {
            return Err(EvalError::InvalidOption {
                name: "class_thresholds",
                reason: format!("{} thresholds for {k} classes", t.len()),
            });
        }
        if let Some(bad) = t.iter().find(|v| !v.is_finite()) {
            return Err(EvalError::InvalidOption {
                name: "class_thresholds",
                reason: format!("must be finite numbers, got {bad}"),
            });
        }
    }
    Ok(())
}

fn check_len(what: &'static str, found: usize, expected: usize, why: &'static str) -> Result<(), EvalError> {
    if found == expected {
        Ok(())
    } else {
        Err(EvalError::Shape { what, expected, found, why })
    }
}

fn check_class(row: usize, class: u32, what: &'static str, n_classes: usize) -> Result<(), EvalError> {
    if (class as usize) < n_classes {
        Ok(())
    } else {
        Err(EvalError::ClassOutOfRange { row, class, what, n_classes })
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::case_a;
    use crate::{evaluate, EvalError, EvalOptions};

    fn err_of(mutate: impl FnOnce(&mut crate::fixtures::Case)) -> EvalError {
        let mut c = case_a();
        mutate(&mut c);
        evaluate(&c.input(), &EvalOptions::default()).unwrap_err()
    }

    #[test]
    fn empty_input_is_an_error() {
        let e = err_of(|c| {
            c.probs.clear();
            c.y_true.clear();
            c.true_sets.clear();
        });
        assert!(matches!(e, EvalError::Empty), "{e}");
    }

    #[test]
    fn zero_classes_is_an_error() {
        let e = err_of(|c| c.k = 0);
        assert!(matches!(e, EvalError::NoClasses), "{e}");
    }

    #[test]
    fn shape_mismatches_name_the_input() {
        let e = err_of(|c| {
            c.probs.pop();
        });
        assert!(matches!(e, EvalError::Shape { what: "probs", expected: 28, found: 27, .. }), "{e}");
        assert!(e.to_string().contains("probs has 27 entries, expected 28"), "{e}");
        let e = err_of(|c| {
            c.true_sets.pop();
        });
        assert!(matches!(e, EvalError::Shape { what: "true_sets", expected: 7, found: 6, .. }), "{e}");
        let e = err_of(|c| {
            c.codes.pop();
        });
        assert!(matches!(e, EvalError::Shape { what: "codes", .. }), "{e}");
        let e = err_of(|c| {
            c.names.push("extra".into());
        });
        assert!(matches!(e, EvalError::Shape { what: "names", .. }), "{e}");
        // A K that does not divide the probabilities is caught as a length mismatch.
        let e = err_of(|c| {
            c.k = 3;
            c.codes.pop();
            c.names.pop();
        });
        assert!(matches!(e, EvalError::Shape { what: "probs", .. }), "{e}");
    }

    #[test]
    fn out_of_range_class_ids_are_rejected() {
        let e = err_of(|c| c.y_true[5] = Some(4));
        assert!(matches!(e, EvalError::ClassOutOfRange { row: 5, class: 4, what: "y_true", n_classes: 4 }));
        let e = err_of(|c| c.true_sets[2].push(9));
        assert!(matches!(e, EvalError::ClassOutOfRange { row: 2, class: 9, what: "true_sets", .. }), "{e}");
    }

    #[test]
    fn nan_and_non_probabilities_are_rejected_with_their_position() {
        let e = err_of(|c| c.probs[4 + 2] = f32::NAN);
        assert!(matches!(e, EvalError::BadProbability { row: 1, class: 2, .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("NaN") && msg.contains("x.C2") && msg.contains("paper 1"), "{msg}");
        for bad in [f32::INFINITY, -0.01, 1.5] {
            let e = err_of(|c| c.probs[0] = bad);
            assert!(matches!(e, EvalError::BadProbability { row: 0, class: 0, .. }), "{e}");
        }
        // A softmax rounding a hair above 1 is accepted.
        let mut c = case_a();
        c.probs[0] = 1.000_01;
        assert!(evaluate(&c.input(), &EvalOptions::default()).is_ok());
    }

    #[test]
    fn invalid_options_are_rejected() {
        let c = case_a();
        let e = evaluate(&c.input(), &EvalOptions { top_k: 0, ..EvalOptions::default() }).unwrap_err();
        assert!(matches!(e, EvalError::InvalidOption { name: "top_k", .. }), "{e}");
        let opts = EvalOptions { multilabel_threshold: f32::NAN, ..EvalOptions::default() };
        let e = evaluate(&c.input(), &opts).unwrap_err();
        assert!(matches!(e, EvalError::InvalidOption { name: "multilabel_threshold", .. }), "{e}");
    }
}
