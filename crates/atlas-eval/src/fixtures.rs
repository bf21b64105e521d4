//! Small hand-checked inputs shared by the unit tests.
//!
//! Expected numbers in the tests were computed with scikit-learn 1.9.1 / numpy 2.4.6 (the versions of the
//! Python peer baselines) in a scratch venv, from exactly these arrays cast float32 -> float64, unless a
//! test says it was computed by hand.

use crate::{EvalInput, EvalOptions, EvalReport};

/// Owned data behind an [`EvalInput`].
pub(crate) struct Case {
    pub probs: Vec<f32>,
    pub k: usize,
    pub y_true: Vec<Option<u32>>,
    pub true_sets: Vec<Vec<u32>>,
    pub codes: Vec<String>,
    pub names: Vec<String>,
}

impl Case {
    pub fn new(k: usize, rows: &[&[f32]], y_true: &[Option<u32>], true_sets: &[&[u32]]) -> Self {
        assert!(rows.iter().all(|r| r.len() == k));
        Self {
            probs: rows.iter().flat_map(|r| r.iter().copied()).collect(),
            k,
            y_true: y_true.to_vec(),
            true_sets: true_sets.iter().map(|s| s.to_vec()).collect(),
            codes: (0..k).map(|c| format!("x.C{c}")).collect(),
            names: (0..k).map(|c| format!("Class {c}")).collect(),
        }
    }

    pub fn input(&self) -> EvalInput<'_> {
        EvalInput {
            probs: &self.probs,
            n_classes: self.k,
            y_true: &self.y_true,
            true_sets: &self.true_sets,
            codes: &self.codes,
            names: &self.names,
        }
    }

    pub fn eval(&self) -> EvalReport {
        crate::evaluate(&self.input(), &EvalOptions::default()).unwrap()
    }
}

/// Single-label case: 7 papers, 4 classes; class 3 is predicted once and never true, paper 4 has a tie
/// between classes 0 and 2 (its true class) behind class 1.
pub(crate) fn case_a() -> Case {
    let rows: &[&[f32]] = &[
        &[0.7, 0.2, 0.1, 0.0],
        &[0.1, 0.6, 0.3, 0.0],
        &[0.5, 0.4, 0.1, 0.0],
        &[0.2, 0.2, 0.6, 0.0],
        &[0.3, 0.4, 0.3, 0.0],
        &[0.4, 0.35, 0.25, 0.0],
        &[0.1, 0.1, 0.2, 0.6],
    ];
    let y = [0, 1, 1, 2, 2, 0, 2].map(Some);
    let sets: Vec<&[u32]> = vec![&[0], &[1], &[1], &[2], &[2], &[0], &[2]];
    Case::new(4, rows, &y, &sets)
}

/// [`case_a`] plus two papers whose labels the model does not know (scikit-learn saw them as the
/// foreign labels "x" and "y"); they are predicted as class 1 and (a four-way tie) class 0.
pub(crate) fn case_b() -> Case {
    let mut c = case_a();
    c.probs.extend_from_slice(&[0.1, 0.8, 0.1, 0.0, 0.25, 0.25, 0.25, 0.25]);
    c.y_true.extend([None, None]);
    c.true_sets.extend([vec![], vec![]]);
    c
}

/// Multi-label case: 5 papers, 5 classes; class 4 has zero probability everywhere and no paper, so it is
/// neither predicted nor true. Paper 2 is a four-way tie, paper 3 has no known category.
pub(crate) fn case_c() -> Case {
    let rows: &[&[f32]] = &[
        &[0.5, 0.3, 0.15, 0.05, 0.0],
        &[0.1, 0.1, 0.7, 0.1, 0.0],
        &[0.25, 0.25, 0.25, 0.25, 0.0],
        &[0.6, 0.05, 0.05, 0.3, 0.0],
        &[0.3, 0.3, 0.3, 0.1, 0.0],
    ];
    let y = [Some(0), Some(2), Some(1), None, Some(0)];
    // Paper 1 lists class 2 twice: duplicates must not count twice.
    let sets: Vec<&[u32]> = vec![&[0, 1], &[2, 2], &[1, 3], &[], &[0, 2]];
    Case::new(5, rows, &y, &sets)
}
