//! `atlas-calibrate`: probabilities people can trust.
//!
//! * [`fit_temperature`] fits temperature scaling (Guo et al. 2017): one scalar `T` dividing the logits,
//!   chosen to minimise the negative log-likelihood on a calibration slice; [`apply_temperature`] applies it.
//!   The models of arxiv-atlas return softmax probabilities, and `ln p` differs from the logits only by a
//!   per-row constant that softmax ignores, so the functions take probabilities and work on `ln p` (floored at
//!   the smallest normal `f32`, which only matters for classes already below 1e-38).
//! * [`ece`] and [`reliability`]: expected calibration error over equal-width confidence bins (15 by
//!   convention) and the per-bin data of a reliability diagram; [`nll`] the mean log loss.
//! * [`Conformal`]: split conformal prediction with RAPS (Angelopoulos et al. 2021) or APS (Romano et al.
//!   2020) scores, *non-randomised*: the set of a paper is deterministic, which an API answer must be. Sets
//!   always hold the top-1 class (its score is defined as 0), so they are never empty, and the coverage
//!   guarantee `P(y ∈ set) ≥ 1-α` on exchangeable data holds with the finite-sample quantile
//!   `⌈(n+1)(1-α)⌉/n` of the calibration scores. The sorted calibration scores are kept, so any coverage can
//!   be asked for at prediction time.
//! * [`Stack`]: an ensemble's combiner of several models' calibrated probabilities (log-linear or linear
//!   pooling with one weight per part, the rule of lower log loss kept).
//! * [`calibration_half`]: the deterministic split of validation papers (by id hash) into the temperature
//!   half and the conformal half, so the two fits never see the same paper.
//! * [`LabelThresholds`]: per-class thresholds of a multi-label model, each maximising its class's F1 on
//!   validation papers, and the label sets they give.

#![warn(missing_docs)]

mod conformal;
mod metrics;
mod stack;
mod temperature;
mod thresholds;

use serde::{Deserialize, Serialize};

pub use conformal::{tune_raps, Conformal, ScoreKind, DEFAULT_LAMBDA_GRID};
pub use metrics::{ece, nll, reliability, ReliabilityBin, ECE_BINS};
pub use stack::{PoolKind, Stack};
pub use temperature::{apply_temperature, apply_temperature_row, fit_temperature, MAX_T, MIN_T};
pub use thresholds::{LabelThresholds, DEFAULT_THRESHOLD, MIN_POSITIVES};

/// Why a calibration could not be fitted or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrateError {
    /// Nothing to fit on.
    #[error("no {what} to fit on")]
    Empty {
        /// What was empty (e.g. "calibration papers").
        what: &'static str,
    },
    /// Shapes disagree.
    #[error("{what}: {found} values, expected {expected}")]
    Shape {
        /// The input with the wrong length.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        found: usize,
    },
    /// A label is not below the number of classes.
    #[error("label {label} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        /// The label.
        label: u32,
        /// Number of classes.
        n_classes: usize,
    },
    /// A requested coverage is not in (0, 1).
    #[error("coverage {0} is not between 0 and 1 (exclusive); e.g. 0.9 for sets that hold the true category 90% of the time")]
    BadCoverage(f64),
}

/// Checks `probs` (`n × k`, row-major) against `y` (`n` labels below `k`).
pub(crate) fn check_shapes(probs: &[f32], k: usize, y: &[u32]) -> Result<(), CalibrateError> {
    if y.is_empty() {
        return Err(CalibrateError::Empty { what: "labelled papers" });
    }
    if probs.len() != y.len() * k {
        return Err(CalibrateError::Shape {
            what: "probabilities",
            expected: y.len() * k,
            found: probs.len(),
        });
    }
    if let Some(&label) = y.iter().find(|&&l| l as usize >= k) {
        return Err(CalibrateError::LabelOutOfRange { label, n_classes: k });
    }
    Ok(())
}

/// Which half of the validation split a paper belongs to for calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationHalf {
    /// Used to fit the temperature (and tune RAPS's `lambda`, `k_reg`).
    Temperature,
    /// Used for the conformal calibration scores.
    Conformal,
}

/// The half of `id`: a fixed 64-bit FNV-1a hash of the id's bytes, then a final avalanche (so ids that share
/// a prefix spread evenly), even → temperature, odd → conformal. Stable across runs, machines and versions:
/// a model calibrated later (`arxiv-atlas calibrate`) uses the same halves as one calibrated by `train`.
pub fn calibration_half(id: &str) -> CalibrationHalf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    if h & 1 == 0 {
        CalibrationHalf::Temperature
    } else {
        CalibrationHalf::Conformal
    }
}

/// How well probabilities fit labels: what a calibration changed, measured on the temperature half.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitQuality {
    /// Mean log loss before temperature scaling.
    pub nll_before: f64,
    /// Mean log loss after.
    pub nll_after: f64,
    /// ECE (15 bins) before.
    pub ece_before: f64,
    /// ECE (15 bins) after.
    pub ece_after: f64,
}

/// Everything a model folder stores about its calibration (`calibration.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Temperature dividing the logits (1 = unchanged).
    pub temperature: f64,
    /// Papers of the temperature half that were used (labels known to the model).
    pub n_temperature: usize,
    /// Fit quality on the temperature half.
    pub fit: FitQuality,
    /// The conformal calibration, when the conformal half had papers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal: Option<Conformal>,
}

impl Calibration {
    /// Fits temperature on `(probs_t, y_t)`, tunes RAPS on the same half (after scaling) and computes the
    /// conformal scores of `(probs_c, y_c)` (after scaling). `probs_*` are raw model probabilities, `k` wide.
    /// `kind`: `None` tunes RAPS; `Some` uses the given score.
    pub fn fit(
        probs_t: &[f32],
        y_t: &[u32],
        probs_c: &[f32],
        y_c: &[u32],
        k: usize,
        kind: Option<ScoreKind>,
    ) -> Result<Calibration, CalibrateError> {
        check_shapes(probs_t, k, y_t)?;
        let temperature = fit_temperature(probs_t, k, y_t)?;
        let mut scaled_t = probs_t.to_vec();
        apply_temperature(&mut scaled_t, k, temperature);
        let fit = FitQuality {
            nll_before: nll(probs_t, k, y_t)?,
            nll_after: nll(&scaled_t, k, y_t)?,
            ece_before: ece(probs_t, k, y_t, ECE_BINS)?,
            ece_after: ece(&scaled_t, k, y_t, ECE_BINS)?,
        };
        let conformal = if y_c.is_empty() {
            None
        } else {
            let kind = match kind {
                Some(kind) => kind,
                None => tune_raps(&scaled_t, k, y_t, 0.1, DEFAULT_LAMBDA_GRID)?,
            };
            let mut scaled_c = probs_c.to_vec();
            apply_temperature(&mut scaled_c, k, temperature);
            Some(Conformal::calibrate(&scaled_c, k, y_c, kind)?)
        };
        Ok(Calibration { temperature, n_temperature: y_t.len(), fit, conformal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_stable_and_balanced() {
        // Fixed answers: changing the hash would silently move papers between halves of saved models.
        assert_eq!(calibration_half("2101.00001"), calibration_half("2101.00001"));
        let n = 20_000;
        let temp = (0..n)
            .filter(|i| calibration_half(&format!("2101.{i:05}")) == CalibrationHalf::Temperature)
            .count();
        // Binomial(20000, 0.5) has sd ≈ 71; 4 sd.
        assert!((temp as i64 - n as i64 / 2).abs() < 290, "{temp} of {n}");
    }

    #[test]
    fn shapes_and_labels_are_checked() {
        assert!(matches!(check_shapes(&[0.5, 0.5], 2, &[]), Err(CalibrateError::Empty { .. })));
        assert!(matches!(check_shapes(&[0.5], 2, &[0]), Err(CalibrateError::Shape { .. })));
        assert!(matches!(check_shapes(&[0.5, 0.5], 2, &[2]), Err(CalibrateError::LabelOutOfRange { .. })));
        assert!(check_shapes(&[0.5, 0.5], 2, &[1]).is_ok());
    }
}
