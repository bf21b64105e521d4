//! The statistics behind the tests: two-sample KS, Wasserstein-1, χ², Jensen–Shannon, ROC AUC and MMD.
//!
//! Each function is a plain computation on samples or counts; what counts as drift is decided in
//! [`crate::drift`], which gates every verdict on an effect size as well as a p-value.

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Two-sample Kolmogorov–Smirnov statistic D and its asymptotic p-value (`a` and `b` need not be sorted).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let (a, b) = (sorted(a), sorted(b));
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value on both sides, so ties never open a fake gap.
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let en = (n * m / (n + m)).sqrt();
    (d, kolmogorov_q((en + 0.12 + 0.11 / en) * d))
}

/// P(K > λ) of the Kolmogorov distribution (Numerical Recipes' `probks`).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 2.0;
    let mut prev = 0.0f64;
    for k in 1..=100 {
        let term = sign * (-2.0 * (k as f64).powi(2) * lambda * lambda).exp();
        sum += term;
        if term.abs() <= 1e-3 * prev || term.abs() <= 1e-10 * sum.abs() {
            return sum.clamp(0.0, 1.0);
        }
        sign = -sign;
        prev = term.abs();
    }
    1.0
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Wasserstein-1 distance between the empirical distributions of `a` and `b`, divided by the standard
/// deviation of `a` (the reference) so one threshold fits every feature's scale (as Evidently's "normed" form).
pub fn wasserstein_normed(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (a, b) = (sorted(a), sorted(b));
    let (n, m) = (a.len() as f64, b.len() as f64);
    // Integrate |F_a − F_b| over the merged breakpoints.
    let (mut i, mut j) = (0usize, 0usize);
    let mut prev = a[0].min(b[0]);
    let mut w = 0.0;
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        w += (i as f64 / n - j as f64 / m).abs() * (x - prev);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        prev = x;
    }
    let mean = a.iter().sum::<f64>() / n;
    let sd = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    // A constant reference feature: any movement is measured in its own units.
    if sd > 1e-12 {
        w / sd
    } else {
        w
    }
}

/// Pearson's χ² test of homogeneity on a 2 × k table of counts: (statistic, degrees of freedom, p-value).
/// Categories empty on both sides are left out.
pub fn chi2_homogeneity(reference: &[f64], current: &[f64]) -> (f64, usize, f64) {
    let (nr, nc) = (reference.iter().sum::<f64>(), current.iter().sum::<f64>());
    if nr <= 0.0 || nc <= 0.0 {
        return (0.0, 0, 1.0);
    }
    let total = nr + nc;
    let mut stat = 0.0;
    let mut k = 0usize;
    for (&r, &c) in reference.iter().zip(current) {
        let col = r + c;
        if col <= 0.0 {
            continue;
        }
        k += 1;
        let (er, ec) = (col * nr / total, col * nc / total);
        stat += (r - er).powi(2) / er + (c - ec).powi(2) / ec;
    }
    let df = k.saturating_sub(1);
    let p = if df == 0 { 1.0 } else { gamma_q(df as f64 / 2.0, stat / 2.0) };
    (stat, df, p)
}

/// Jensen–Shannon divergence (base 2, in [0, 1]) between the proportions of two count vectors.
pub fn js_divergence(reference: &[f64], current: &[f64]) -> f64 {
    let (nr, nc) = (reference.iter().sum::<f64>(), current.iter().sum::<f64>());
    if nr <= 0.0 || nc <= 0.0 {
        return 0.0;
    }
    let mut js = 0.0;
    for (&r, &c) in reference.iter().zip(current) {
        let (p, q) = (r / nr, c / nc);
        let m = (p + q) / 2.0;
        if p > 0.0 {
            js += 0.5 * p * (p / m).log2();
        }
        if q > 0.0 {
            js += 0.5 * q * (q / m).log2();
        }
    }
    js.max(0.0)
}

/// Result of [`jensen_shannon`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsResult {
    /// Jensen–Shannon distance with the sampling-noise floor removed (the effect size).
    pub distance: f64,
    /// The plain Jensen–Shannon distance.
    pub raw: f64,
    /// Share of same-distribution sample pairs at least as far apart (parametric bootstrap).
    pub p_value: f64,
}

/// Jensen–Shannon distance between two count vectors with the part expected from sampling noise alone
/// removed, and how often noise alone goes that far.
///
/// Two samples of one distribution over k categories differ by a JS divergence of roughly
/// (k − 1)/(8 ln 2) · (1/n + 1/m) — at 150 categories and 1,000 papers a distance of 0.16, more than the usual
/// 0.1 threshold, and more still when many categories hold only a few papers. The noise is measured instead
/// of approximated: `rounds` pairs of samples of the same sizes are drawn from the pooled proportions; their
/// mean divergence is subtracted from the observed one, and the share of them at least as large as the
/// observed one is the p-value. The verdict then no longer depends on the window's size.
pub fn jensen_shannon(reference: &[f64], current: &[f64], rounds: usize, seed: u64) -> JsResult {
    let js = js_divergence(reference, current);
    let pooled: Vec<f64> = reference.iter().zip(current).map(|(a, b)| a + b).collect();
    let total: f64 = pooled.iter().sum();
    if total <= 0.0 || rounds == 0 {
        return JsResult { distance: js.sqrt(), raw: js.sqrt(), p_value: 1.0 };
    }
    let probs: Vec<f64> = pooled.iter().map(|v| v / total).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut draw = |n: f64| multinomial(&mut rng, n as u64, &probs);
    let (nr, nc) = (reference.iter().sum::<f64>(), current.iter().sum::<f64>());
    let null: Vec<f64> = (0..rounds).map(|_| js_divergence(&draw(nr), &draw(nc))).collect();
    let noise = null.iter().sum::<f64>() / rounds as f64;
    let at_least = null.iter().filter(|&&v| v >= js).count();
    JsResult {
        distance: (js - noise).max(0.0).sqrt(),
        raw: js.sqrt(),
        p_value: (1 + at_least) as f64 / (1 + rounds) as f64,
    }
}

/// Counts of `n` draws over categories of probabilities `probs` (summing to 1), drawn as a chain of binomials —
/// each category takes a binomial share of the draws the categories before it left, at its probability
/// among the rest — which is exactly multinomial and costs one binomial draw per category instead of one
/// search per draw: 50 noise rounds of two 10,000-paper samples were 1,000,000 searches.
fn multinomial(rng: &mut rand::rngs::StdRng, n: u64, probs: &[f64]) -> Vec<f64> {
    use rand_distr::{Binomial, Distribution};
    let mut counts = vec![0f64; probs.len()];
    let (mut left, mut rest) = (n, 1.0f64);
    for (c, &p) in counts.iter_mut().zip(probs) {
        if left == 0 {
            break;
        }
        // The last categories take what is left when rounding has eaten the remaining probability.
        let q = if rest <= p || rest <= 0.0 { 1.0 } else { (p / rest).clamp(0.0, 1.0) };
        // `q` is within [0, 1], the only case in which `Binomial::new` fails.
        let k = Binomial::new(left, q).map_or(0, |b| b.sample(rng));
        *c = k as f64;
        left -= k;
        rest -= p;
    }
    counts
}

/// The χ² value whose survival probability with `df` degrees of freedom is `alpha` (bisection).
pub fn chi2_critical(df: usize, alpha: f64) -> f64 {
    if df == 0 {
        return 0.0;
    }
    let k = df as f64 / 2.0;
    let (mut lo, mut hi) = (0.0, df as f64 + 100.0 * (df as f64).sqrt() + 100.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if gamma_q(k, mid / 2.0) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Regularised upper incomplete gamma Q(a, x) (Numerical Recipes' `gammq`): the χ² survival function is
/// Q(df/2, x/2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-14 {
                break;
            }
        }
        (1.0 - sum * (-x + a * x.ln() - ln_gamma(a)).exp()).clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q(a, x) (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-14 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        s += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

/// ROC AUC of `scores` for `positive` labels (Mann–Whitney U with average ranks for ties); 0.5 when a class
/// is missing.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their average.
        let avg = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg * order[i..j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j;
    }
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    u / (n_pos as f64 * n_neg as f64)
}

/// Result of [`mmd_permutation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdResult {
    /// Unbiased MMD² with an RBF kernel whose bandwidth is the median pairwise distance.
    pub mmd2: f64,
    /// Permutation p-value: (1 + #permutations with MMD² ≥ observed) / (1 + permutations).
    pub p_value: f64,
}

/// Maximum mean discrepancy between the rows of `x` and `y` (`dim` values each) with a permutation test. The
/// kernel matrix of the pooled sample is computed once; each permutation only re-sums it, so the cost is
/// O((n + m)² · (dim + permutations)) — callers bound n and m.
pub fn mmd_permutation(x: &[f32], y: &[f32], dim: usize, permutations: usize, seed: u64) -> MmdResult {
    let (n, m) = (x.len() / dim.max(1), y.len() / dim.max(1));
    if n < 2 || m < 2 {
        return MmdResult { mmd2: 0.0, p_value: 1.0 };
    }
    let pooled: Vec<&[f32]> = x.chunks_exact(dim).chain(y.chunks_exact(dim)).collect();
    let total = n + m;
    let mut d2 = vec![0f64; total * total];
    for i in 0..total {
        for j in (i + 1)..total {
            let s: f64 = pooled[i].iter().zip(pooled[j]).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            d2[i * total + j] = s;
            d2[j * total + i] = s;
        }
    }
    let mut upper: Vec<f64> = (0..total)
        .flat_map(|i| ((i + 1)..total).map(move |j| (i, j)))
        .map(|(i, j)| d2[i * total + j])
        .collect();
    let mid = upper.len() / 2;
    let median = *upper.select_nth_unstable_by(mid, f64::total_cmp).1;
    let gamma = if median > 0.0 { 1.0 / median } else { 1.0 };
    let k: Vec<f64> = d2.iter().map(|&d| (-gamma * d).exp()).collect();
    let stat = |side: &[bool]| {
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        for i in 0..total {
            let row = &k[i * total..(i + 1) * total];
            for j in 0..total {
                if i == j {
                    continue;
                }
                match (side[i], side[j]) {
                    (false, false) => sxx += row[j],
                    (true, true) => syy += row[j],
                    _ => sxy += row[j],
                }
            }
        }
        let (nf, mf) = (n as f64, m as f64);
        sxx / (nf * (nf - 1.0)) + syy / (mf * (mf - 1.0)) - sxy / (nf * mf)
    };
    let mut side: Vec<bool> = (0..total).map(|i| i >= n).collect();
    let observed = stat(&side);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut at_least = 0usize;
    for _ in 0..permutations {
        side.shuffle(&mut rng);
        if stat(&side) >= observed {
            at_least += 1;
        }
    }
    MmdResult { mmd2: observed, p_value: (1 + at_least) as f64 / (1 + permutations) as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_matches_known_values() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(ks_two_sample(&a, &a).0, 0.0);
        let b: Vec<f64> = (50..150).map(f64::from).collect();
        let (d, p) = ks_two_sample(&a, &b);
        assert!((d - 0.5).abs() < 1e-12, "{d}");
        assert!(p < 1e-5, "{p}");
        // Ties across samples: identical multisets of repeated values have no gap.
        let t = [1.0, 1.0, 2.0, 2.0];
        assert_eq!(ks_two_sample(&t, &[2.0, 1.0]).0, 0.0);
    }

    #[test]
    fn wasserstein_of_a_shift_is_the_shift_over_the_reference_spread() {
        let a: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let b: Vec<f64> = a.iter().map(|v| v + 0.1).collect();
        let sd = (1.0f64 / 12.0).sqrt();
        assert!((wasserstein_normed(&a, &b) - 0.1 / sd).abs() < 1e-3);
        assert!(wasserstein_normed(&a, &a) < 1e-12);
    }

    #[test]
    fn chi2_p_values_match_the_distribution() {
        // χ²(1) survival at 3.841 is 0.05, χ²(10) at 18.307 is 0.05.
        assert!((gamma_q(0.5, 3.841_458_8 / 2.0) - 0.05).abs() < 1e-6);
        assert!((gamma_q(5.0, 18.307_038 / 2.0) - 0.05).abs() < 1e-6);
        let (s, df, p) = chi2_homogeneity(&[50.0, 50.0], &[50.0, 50.0]);
        assert_eq!((s, df, p), (0.0, 1, 1.0));
        assert!((chi2_critical(1, 0.05) - 3.841_458_8).abs() < 1e-4);
        let (_, _, p) = chi2_homogeneity(&[90.0, 10.0], &[10.0, 90.0]);
        assert!(p < 1e-10);
    }

    #[test]
    fn multinomial_draws_keep_the_total_and_the_proportions() {
        let probs = [0.5, 0.0, 0.3, 0.2];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut sum = [0f64; 4];
        for _ in 0..200 {
            let c = multinomial(&mut rng, 1000, &probs);
            assert_eq!(c.iter().sum::<f64>(), 1000.0);
            assert_eq!(c[1], 0.0);
            sum.iter_mut().zip(&c).for_each(|(s, v)| *s += v);
        }
        for (s, p) in sum.iter().zip(probs) {
            // 200 draws of 1,000: the mean share is within 0.005 of p (standard error below 0.0012).
            assert!((s / 200_000.0 - p).abs() < 0.005, "{s} vs {p}");
        }
    }

    #[test]
    fn jensen_shannon_removes_the_noise_floor() {
        let moved = jensen_shannon(&[1000.0, 0.0], &[0.0, 1000.0], 10, 1);
        assert!((moved.raw - 1.0).abs() < 1e-12);
        assert!(moved.distance > 0.99 && moved.p_value < 0.1, "{moved:?}");
        // Same proportions: no distance at all.
        let same = jensen_shannon(&[10.0, 30.0], &[20.0, 60.0], 10, 1);
        assert_eq!((same.distance, same.raw), (0.0, 0.0));
        // 150 categories, 3 papers each on average: the raw distance is large, the debiased one is not.
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut draw = || {
            let mut c = vec![0f64; 150];
            (0..450).for_each(|_| c[rng.random_range(0..150)] += 1.0);
            c
        };
        let (r, c) = (draw(), draw());
        let js = jensen_shannon(&r, &c, 50, 1);
        assert!(js.raw > 0.3 && js.distance < 0.6 * js.raw && js.p_value > 0.05, "{js:?}");
    }

    #[test]
    fn auc_counts_ties_as_half() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), 1.0);
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), 0.0);
    }

    #[test]
    fn mmd_tells_a_shift_from_noise() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut draw =
            |shift: f32| -> Vec<f32> { (0..200 * 4).map(|_| rng.random::<f32>() + shift).collect() };
        let (a, b, c) = (draw(0.0), draw(0.0), draw(0.5));
        let same = mmd_permutation(&a, &b, 4, 100, 7);
        let moved = mmd_permutation(&a, &c, 4, 100, 7);
        assert!(same.p_value > 0.05, "{same:?}");
        assert!(moved.p_value < 0.02 && moved.mmd2 > same.mmd2 + 0.05, "{moved:?} vs {same:?}");
    }
}
