//! Temperature scaling: `softmax(z / T)`, with `T` minimising the log loss of a calibration slice.

use crate::{check_shapes, CalibrateError};

/// Smallest temperature searched (sharpening by 20x is far beyond any real model's need).
pub const MIN_T: f64 = 0.05;
/// Largest temperature searched.
pub const MAX_T: f64 = 20.0;

/// `ln p` floor: probabilities that underflowed to 0 in `f32` count as `e^-87`.
fn log_floor(p: f32) -> f64 {
    f64::from(p.max(f32::MIN_POSITIVE)).ln()
}

/// Mean negative log-likelihood of `softmax(β · ln p)` (β = 1/T) against `y`, in `f64`.
fn nll_at(logp: &[f64], k: usize, y: &[u32], beta: f64) -> f64 {
    let mut total = 0.0;
    for (row, &label) in logp.chunks_exact(k).zip(y) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&z| (beta * (z - max)).exp()).sum();
        total += sum.ln() - beta * (row[label as usize] - max);
    }
    total / y.len() as f64
}

/// The temperature in `[MIN_T, MAX_T]` that minimises the mean log loss of `probs` (`n × k` softmax
/// probabilities, row-major) against `y`.
///
/// The loss is convex in `β = 1/T` (a log-sum-exp minus a linear term), so a golden-section search over
/// `ln β` finds the minimum to ~1e-6 relative precision in 60 steps, without gradients.
pub fn fit_temperature(probs: &[f32], k: usize, y: &[u32]) -> Result<f64, CalibrateError> {
    check_shapes(probs, k, y)?;
    let logp: Vec<f64> = probs.iter().copied().map(log_floor).collect();
    let f = |u: f64| nll_at(&logp, k, y, u.exp());
    let (mut a, mut b) = ((1.0 / MAX_T).ln(), (1.0 / MIN_T).ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    let beta = ((a + b) / 2.0).exp();
    Ok(1.0 / beta)
}

/// Rescales one row of softmax probabilities to `softmax(ln p / t)` in place.
pub fn apply_temperature_row(row: &mut [f32], t: f64) {
    if t == 1.0 || row.is_empty() {
        return;
    }
    let beta = 1.0 / t;
    let logp: Vec<f64> = row.iter().map(|&p| beta * log_floor(p)).collect();
    let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logp.iter().map(|&z| (z - max).exp()).sum();
    for (out, z) in row.iter_mut().zip(&logp) {
        *out = ((z - max).exp() / sum) as f32;
    }
}

/// Rescales every row of `probs` (`k` wide) to `softmax(ln p / t)` in place; `t = 1` leaves it unchanged.
pub fn apply_temperature(probs: &mut [f32], k: usize, t: f64) {
    if k == 0 {
        return;
    }
    for row in probs.chunks_exact_mut(k) {
        apply_temperature_row(row, t);
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::nll;

    fn softmax(z: &[f64]) -> Vec<f32> {
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| (v / s) as f32).collect()
    }

    /// Labels drawn from `softmax(z / t_true)` while the model reports `softmax(z)`: the fitted temperature
    /// must come back as `t_true`, whether the model is over- or under-confident.
    #[test]
    fn recovers_a_known_temperature() {
        for t_true in [0.5, 2.5] {
            let mut rng = StdRng::seed_from_u64(7);
            let (n, k) = (20_000, 8);
            let mut probs = Vec::with_capacity(n * k);
            let mut y = Vec::with_capacity(n);
            for _ in 0..n {
                let z: Vec<f64> = (0..k).map(|_| rng.random::<f64>() * 6.0).collect();
                let truth = softmax(&z.iter().map(|v| v / t_true).collect::<Vec<_>>());
                let u: f32 = rng.random();
                let mut acc = 0.0;
                let label = truth.iter().position(|&p| {
                    acc += p;
                    u < acc
                });
                y.push(label.unwrap_or(k - 1) as u32);
                probs.extend(softmax(&z));
            }
            let t = fit_temperature(&probs, k, &y).unwrap();
            assert!((t - t_true).abs() / t_true < 0.05, "fitted {t}, true {t_true}");
            let mut scaled = probs.clone();
            apply_temperature(&mut scaled, k, t);
            assert!(nll(&scaled, k, &y).unwrap() < nll(&probs, k, &y).unwrap());
        }
    }

    #[test]
    fn applying_a_temperature_matches_softmax_of_scaled_logits() {
        let z = [2.0, 0.5, -1.0];
        let mut p = softmax(&z);
        apply_temperature_row(&mut p, 2.0);
        let want = softmax(&z.map(|v| v / 2.0));
        for (a, b) in p.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{p:?} vs {want:?}");
        }
        let before = softmax(&z);
        let mut same = before.clone();
        apply_temperature(&mut same, 3, 1.0);
        assert_eq!(same, before);
        // A row with an underflowed zero stays a distribution.
        let mut q = vec![1.0f32, 0.0, 0.0];
        apply_temperature_row(&mut q, 4.0);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-6 && q[0] > 0.99);
    }
}
