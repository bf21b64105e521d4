//! Stacking: one probability distribution out of several models' calibrated probabilities.
//!
//! Two small combiners, each with one weight per part (so a few hundred labelled papers fit them without
//! over-fitting, unlike a full logistic regression on 2 × 172 log-probabilities):
//!
//! * **log-linear pooling** (a weighted product of experts): `p(c) ∝ Π_i p_i(c)^{w_i}`, `w_i ≥ 0`. The log
//!   loss is convex in `w` (a log-sum-exp of a linear function minus a linear term), so a projected Newton
//!   method finds the optimum. The weights also act as a temperature of the combination.
//! * **linear pooling** (a mixture): `p(c) = Σ_i w_i p_i(c)`, `w` on the simplex, fitted by EM (the log
//!   loss of a mixture's weights is convex too).
//!
//! [`Stack::fit`] fits both on the same papers and keeps the one with the lower log loss there.

use serde::{Deserialize, Serialize};

use crate::CalibrateError;

/// How the parts' probabilities are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// `p ∝ Π p_i^{w_i}`.
    LogLinear,
    /// `p = Σ w_i p_i`.
    Linear,
}

/// A fitted combiner of `weights.len()` parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    /// The pooling rule.
    pub kind: PoolKind,
    /// One weight per part, in the order the parts are given.
    pub weights: Vec<f64>,
    /// Mean log loss of each candidate on the papers it was fitted on (log-linear, linear): why `kind` won.
    pub fit_log_loss: Vec<(PoolKind, f64)>,
    /// Papers it was fitted on.
    pub n_fit: usize,
}

/// `ln p` floor, as in temperature scaling: probabilities that underflowed to 0 count as `e^-87`.
fn log_floor(p: f32) -> f64 {
    f64::from(p.max(f32::MIN_POSITIVE)).ln()
}

/// Checks that every part is `n × k` with `n = y.len()` and that labels are below `k`.
fn check_parts(parts: &[&[f32]], k: usize, y: &[u32]) -> Result<(), CalibrateError> {
    if parts.is_empty() {
        return Err(CalibrateError::Empty { what: "ensemble parts" });
    }
    for p in parts {
        crate::check_shapes(p, k, y)?;
    }
    Ok(())
}

/// Log-linear pooling of one paper: `out ← softmax(Σ_i w_i ln p_i)`; `rows[i]` is part `i`'s row.
fn pool_log_linear(rows: &[&[f32]], weights: &[f64], out: &mut [f32]) {
    let mut s = vec![0.0f64; out.len()];
    for (row, &w) in rows.iter().zip(weights) {
        for (acc, &p) in s.iter_mut().zip(row.iter()) {
            *acc += w * log_floor(p);
        }
    }
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = s.iter().map(|&z| (z - max).exp()).sum();
    for (o, z) in out.iter_mut().zip(&s) {
        *o = ((z - max).exp() / sum) as f32;
    }
}

/// Linear pooling of one paper: `out ← Σ_i w_i p_i`.
fn pool_linear(rows: &[&[f32]], weights: &[f64], out: &mut [f32]) {
    for (c, o) in out.iter_mut().enumerate() {
        *o = rows.iter().zip(weights).map(|(row, &w)| w * f64::from(row[c])).sum::<f64>() as f32;
    }
}

impl Stack {
    /// Fits both pooling rules on `parts` (each `n × k`, row-major, calibrated probabilities of the same
    /// papers in the same order) against `y`, and keeps the one of lower mean log loss.
    pub fn fit(parts: &[&[f32]], k: usize, y: &[u32]) -> Result<Stack, CalibrateError> {
        check_parts(parts, k, y)?;
        let log_linear = fit_log_linear(parts, k, y);
        let linear = fit_linear(parts, k, y);
        let loss = |kind, weights: &[f64]| {
            let s = Stack { kind, weights: weights.to_vec(), fit_log_loss: Vec::new(), n_fit: y.len() };
            crate::nll(&s.combine(parts, k), k, y)
        };
        let fit_log_loss = vec![
            (PoolKind::LogLinear, loss(PoolKind::LogLinear, &log_linear)?),
            (PoolKind::Linear, loss(PoolKind::Linear, &linear)?),
        ];
        let (kind, weights) = if fit_log_loss[0].1 <= fit_log_loss[1].1 {
            (PoolKind::LogLinear, log_linear)
        } else {
            (PoolKind::Linear, linear)
        };
        Ok(Stack { kind, weights, fit_log_loss, n_fit: y.len() })
    }

    /// The combined probabilities of `parts` (each `n × k`, row-major), `n × k`. Parts must have the shape
    /// they were fitted with (the caller's model folder guarantees it).
    pub fn combine(&self, parts: &[&[f32]], k: usize) -> Vec<f32> {
        let n = parts.first().map_or(0, |p| p.len() / k.max(1));
        let mut out = vec![0.0f32; n * k];
        let mut rows: Vec<&[f32]> = Vec::with_capacity(parts.len());
        for (r, o) in out.chunks_exact_mut(k.max(1)).enumerate() {
            rows.clear();
            rows.extend(parts.iter().map(|p| &p[r * k..(r + 1) * k]));
            match self.kind {
                PoolKind::LogLinear => pool_log_linear(&rows, &self.weights, o),
                PoolKind::Linear => pool_linear(&rows, &self.weights, o),
            }
        }
        out
    }
}

/// Mean log loss, gradient and Hessian (row-major `m × m`) of log-linear pooling at `w`, over the
/// precomputed `logp[i]` (`n × k` of part `i`).
fn log_linear_newton_terms(logp: &[Vec<f64>], k: usize, y: &[u32], w: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let m = w.len();
    let (mut loss, mut g, mut h) = (0.0, vec![0.0; m], vec![0.0; m * m]);
    let mut s = vec![0.0f64; k];
    let mut mean = vec![0.0f64; m];
    for (r, &label) in y.iter().enumerate() {
        s.iter_mut().for_each(|v| *v = 0.0);
        for (lp, &wi) in logp.iter().zip(w) {
            for (acc, &l) in s.iter_mut().zip(&lp[r * k..(r + 1) * k]) {
                *acc += wi * l;
            }
        }
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = s.iter().map(|&z| (z - max).exp()).sum();
        loss += sum.ln() + max - s[label as usize];
        // q = softmax(s); gradient E_q[l_i] - l_i(y); Hessian Cov_q(l_i, l_j).
        let q: Vec<f64> = s.iter().map(|&z| (z - max).exp() / sum).collect();
        for (i, lp) in logp.iter().enumerate() {
            let row = &lp[r * k..(r + 1) * k];
            mean[i] = q.iter().zip(row).map(|(a, b)| a * b).sum();
            g[i] += mean[i] - row[label as usize];
        }
        for i in 0..m {
            let ri = &logp[i][r * k..(r + 1) * k];
            for j in i..m {
                let rj = &logp[j][r * k..(r + 1) * k];
                let e: f64 = q.iter().zip(ri.iter().zip(rj)).map(|(a, (b, c))| a * b * c).sum();
                h[i * m + j] += e - mean[i] * mean[j];
            }
        }
    }
    let n = y.len() as f64;
    for i in 0..m {
        for j in i..m {
            h[i * m + j] /= n;
            h[j * m + i] = h[i * m + j];
        }
    }
    g.iter_mut().for_each(|v| *v /= n);
    (loss / n, g, h)
}

/// Solves `h x = g` (`m × m`, symmetric positive semi-definite) by Gaussian elimination with a small ridge,
/// which keeps a degenerate part (e.g. two identical parts) from making the system singular.
fn solve(h: &[f64], g: &[f64]) -> Vec<f64> {
    let m = g.len();
    let mut a: Vec<f64> = h.to_vec();
    let mut b = g.to_vec();
    for i in 0..m {
        a[i * m + i] += 1e-9 + 1e-6 * a[i * m + i].abs();
    }
    for col in 0..m {
        let piv =
            (col..m).max_by(|&x, &y| a[x * m + col].abs().total_cmp(&a[y * m + col].abs())).unwrap_or(col);
        if piv != col {
            for c in 0..m {
                a.swap(col * m + c, piv * m + c);
            }
            b.swap(col, piv);
        }
        let d = a[col * m + col];
        if d.abs() < 1e-300 {
            continue;
        }
        for row in col + 1..m {
            let f = a[row * m + col] / d;
            for c in col..m {
                a[row * m + c] -= f * a[col * m + c];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        let rest: f64 = (i + 1..m).map(|c| a[i * m + c] * x[c]).sum();
        let d = a[i * m + i];
        x[i] = if d.abs() < 1e-300 { 0.0 } else { (b[i] - rest) / d };
    }
    x
}

/// Log-linear weights minimising the mean log loss, `w ≥ 0`: projected Newton steps with backtracking,
/// from `w = 1/m` (the geometric mean of the parts).
fn fit_log_linear(parts: &[&[f32]], k: usize, y: &[u32]) -> Vec<f64> {
    let m = parts.len();
    let logp: Vec<Vec<f64>> = parts.iter().map(|p| p.iter().copied().map(log_floor).collect()).collect();
    let mut w = vec![1.0 / m as f64; m];
    let (mut loss, mut g, mut h) = log_linear_newton_terms(&logp, k, y, &w);
    for _ in 0..50 {
        let step = solve(&h, &g);
        let mut t = 1.0;
        let mut improved = false;
        while t > 1e-6 {
            let cand: Vec<f64> = w.iter().zip(&step).map(|(wi, s)| (wi - t * s).max(0.0)).collect();
            let (l, cg, ch) = log_linear_newton_terms(&logp, k, y, &cand);
            if l < loss - 1e-12 {
                let done = loss - l < 1e-9;
                (w, loss, g, h) = (cand, l, cg, ch);
                improved = !done;
                break;
            }
            t /= 2.0;
        }
        if !improved {
            break;
        }
    }
    w
}

/// Mixture weights minimising the mean log loss (EM on the probabilities of the true classes), from
/// equal weights.
fn fit_linear(parts: &[&[f32]], k: usize, y: &[u32]) -> Vec<f64> {
    let m = parts.len();
    let py: Vec<Vec<f64>> = parts
        .iter()
        .map(|p| y.iter().enumerate().map(|(r, &l)| f64::from(p[r * k + l as usize]).max(1e-300)).collect())
        .collect();
    let mut w = vec![1.0 / m as f64; m];
    for _ in 0..500 {
        let mut next = vec![0.0; m];
        for r in 0..y.len() {
            let total: f64 = w.iter().zip(&py).map(|(wi, p)| wi * p[r]).sum();
            for ((acc, wi), p) in next.iter_mut().zip(&w).zip(&py) {
                *acc += wi * p[r] / total;
            }
        }
        next.iter_mut().for_each(|v| *v /= y.len() as f64);
        let change: f64 = next.iter().zip(&w).map(|(a, b)| (a - b).abs()).sum();
        w = next;
        if change < 1e-9 {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Two noisy "models" of `n` papers over `k` classes: each sees the true class with its own strength
    /// and makes independent mistakes, so combining them should beat each.
    fn two_parts(n: usize, k: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut part = |y: &[u32], strength: f64| -> Vec<f32> {
            let mut out = Vec::with_capacity(y.len() * k);
            for &label in y {
                let z: Vec<f64> = (0..k)
                    .map(|c| rng.random::<f64>() * 3.0 + if c == label as usize { strength } else { 0.0 })
                    .collect();
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
                out.extend(z.iter().map(|v| ((v - max).exp() / sum) as f32));
            }
            out
        };
        let y: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
        let a = part(&y, 1.5);
        let b = part(&y, 1.2);
        (a, b, y)
    }

    fn accuracy(p: &[f32], k: usize, y: &[u32]) -> f64 {
        let hits = p
            .chunks_exact(k)
            .zip(y)
            .filter(|(row, &l)| {
                let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(c, _)| c);
                best == Some(l as usize)
            })
            .count();
        hits as f64 / y.len() as f64
    }

    #[test]
    fn the_stack_beats_both_parts_on_held_out_papers() {
        let k = 6;
        let (fa, fb, fy) = two_parts(2000, k, 1);
        let stack = Stack::fit(&[&fa, &fb], k, &fy).unwrap();
        assert_eq!(stack.weights.len(), 2);
        assert!(stack.weights.iter().all(|w| *w > 0.0), "{stack:?}");
        let (ta, tb, ty) = two_parts(4000, k, 2);
        let combined = stack.combine(&[&ta, &tb], k);
        for row in combined.chunks_exact(k) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        let (acc, acc_a, acc_b) = (accuracy(&combined, k, &ty), accuracy(&ta, k, &ty), accuracy(&tb, k, &ty));
        assert!(acc > acc_a + 0.02 && acc > acc_b + 0.02, "{acc} vs {acc_a} / {acc_b}");
        let nll = crate::nll(&combined, k, &ty).unwrap();
        assert!(nll < crate::nll(&ta, k, &ty).unwrap() && nll < crate::nll(&tb, k, &ty).unwrap());
    }

    #[test]
    fn the_kept_rule_has_the_lower_fit_loss_and_a_useless_part_gets_little_weight() {
        let k = 5;
        let (a, _, y) = two_parts(1500, k, 3);
        let uniform = vec![1.0 / k as f32; a.len()];
        let stack = Stack::fit(&[&a, &uniform], k, &y).unwrap();
        let best = stack.fit_log_loss.iter().map(|(_, l)| *l).fold(f64::INFINITY, f64::min);
        let kept = stack.fit_log_loss.iter().find(|(kind, _)| *kind == stack.kind).unwrap().1;
        assert_eq!(kept, best);
        // A uniform part carries no information: the combination is (almost) the informative part alone.
        let combined = stack.combine(&[&a, &uniform], k);
        assert!((accuracy(&combined, k, &y) - accuracy(&a, k, &y)).abs() < 1e-9);
    }

    #[test]
    fn shapes_are_checked() {
        assert!(matches!(Stack::fit(&[], 2, &[0]), Err(CalibrateError::Empty { .. })));
        assert!(matches!(Stack::fit(&[&[0.5, 0.5], &[0.5]], 2, &[0]), Err(CalibrateError::Shape { .. })));
    }
}
