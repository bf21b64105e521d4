//! Log loss, expected calibration error and reliability-diagram bins.

use serde::{Deserialize, Serialize};

use crate::{check_shapes, CalibrateError};

/// Bins of the expected calibration error, as in Guo et al. 2017.
pub const ECE_BINS: usize = 15;

/// Smallest probability the log loss takes the log of (as scikit-learn's `log_loss` clips).
const NLL_EPS: f64 = 1e-15;

/// Mean negative log-likelihood of the true labels.
pub fn nll(probs: &[f32], k: usize, y: &[u32]) -> Result<f64, CalibrateError> {
    check_shapes(probs, k, y)?;
    let total: f64 =
        probs.chunks_exact(k).zip(y).map(|(row, &l)| -f64::from(row[l as usize]).max(NLL_EPS).ln()).sum();
    Ok(total / y.len() as f64)
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (confidence of the top-1 class).
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Papers whose confidence falls in the bin.
    pub count: usize,
    /// Their mean confidence (0 when empty).
    pub confidence: f64,
    /// Share of them whose top-1 class is right (0 when empty).
    pub accuracy: f64,
}

/// Reliability-diagram data: `bins` equal-width bins of top-1 confidence on `[0, 1]` (a confidence of
/// exactly 1 goes to the last bin), each with its mean confidence and accuracy. Ties of the top-1 go to the
/// lower class id, as everywhere in arxiv-atlas.
pub fn reliability(
    probs: &[f32],
    k: usize,
    y: &[u32],
    bins: usize,
) -> Result<Vec<ReliabilityBin>, CalibrateError> {
    check_shapes(probs, k, y)?;
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (row, &label) in probs.chunks_exact(k).zip(y) {
        let (top, conf) =
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (c, &p)| if p > best.1 { (c, p) } else { best });
        let conf = f64::from(conf).clamp(0.0, 1.0);
        let b = ((conf * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += conf;
        sums[b].2 += usize::from(top == label as usize);
    }
    Ok(sums
        .into_iter()
        .enumerate()
        .map(|(b, (count, conf, right))| ReliabilityBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            count,
            confidence: if count > 0 { conf / count as f64 } else { 0.0 },
            accuracy: if count > 0 { right as f64 / count as f64 } else { 0.0 },
        })
        .collect())
}

/// Expected calibration error: `Σ_b (n_b / n) · |accuracy_b − confidence_b|` over `bins` equal-width bins.
pub fn ece(probs: &[f32], k: usize, y: &[u32], bins: usize) -> Result<f64, CalibrateError> {
    let rel = reliability(probs, k, y, bins)?;
    let n = y.len() as f64;
    Ok(rel.iter().map(|b| b.count as f64 / n * (b.accuracy - b.confidence).abs()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_by_hand() {
        // Two papers at confidence 0.9 (one right), two at 0.6 (both right).
        let probs = [0.9, 0.1, 0.9, 0.1, 0.4, 0.6, 0.4, 0.6];
        let y = [0, 1, 1, 1];
        // Bins of width 1/15: 0.9 → bin 13, 0.6 → bin 9. |0.5-0.9|·0.5 + |1-0.6|·0.5 = 0.4.
        let e = ece(&probs, 2, &y, ECE_BINS).unwrap();
        assert!((e - 0.4).abs() < 1e-6, "{e}");
        let rel = reliability(&probs, 2, &y, ECE_BINS).unwrap();
        assert_eq!(rel.len(), 15);
        assert_eq!((rel[13].count, rel[9].count), (2, 2));
        assert!((rel[13].accuracy - 0.5).abs() < 1e-12 && (rel[9].accuracy - 1.0).abs() < 1e-12);
        // A perfectly confident, always right model has no calibration error.
        assert_eq!(ece(&[1.0, 0.0, 0.0, 1.0], 2, &[0, 1], ECE_BINS).unwrap(), 0.0);
    }

    #[test]
    fn nll_by_hand() {
        let v = nll(&[0.5, 0.5, 0.25, 0.75], 2, &[0, 1]).unwrap();
        assert!((v - (2f64.ln() + (4.0f64 / 3.0).ln()) / 2.0).abs() < 1e-7, "{v}");
        // A zero probability is clipped, not infinite.
        assert!(nll(&[1.0, 0.0], 2, &[1]).unwrap().is_finite());
    }
}
