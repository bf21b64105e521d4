//! Split conformal category sets with APS / RAPS scores (non-randomised, top-1 always included).

use serde::{Deserialize, Serialize};

use crate::{check_shapes, CalibrateError};

/// The `lambda` values [`tune_raps`] tries (those of Angelopoulos et al. 2021, plus 0, which is APS).
pub const DEFAULT_LAMBDA_GRID: &[f64] = &[0.0, 0.001, 0.01, 0.1, 0.2, 0.5];

/// The nonconformity score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ScoreKind {
    /// Adaptive prediction sets: the probability mass of the classes ranked up to and including the label.
    Aps,
    /// Regularised APS: APS plus `lambda · max(0, rank − k_reg)` (rank 1-based), which keeps sets small by
    /// making each class beyond the `k_reg`-th cost `lambda` more.
    Raps {
        /// Penalty per rank beyond `k_reg`.
        lambda: f64,
        /// Ranks free of penalty.
        k_reg: usize,
    },
}

impl ScoreKind {
    fn penalty(&self, rank: usize) -> f64 {
        match *self {
            ScoreKind::Aps => 0.0,
            ScoreKind::Raps { lambda, k_reg } => lambda * rank.saturating_sub(k_reg) as f64,
        }
    }

    /// Short name: `aps` or `raps`.
    pub fn name(&self) -> &'static str {
        match self {
            ScoreKind::Aps => "aps",
            ScoreKind::Raps { .. } => "raps",
        }
    }
}

/// Class ids of `row` by probability, most probable first (ties to the lower id).
fn ranking(row: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order
}

/// The scores of the ranked classes of `row`, in rank order: 0 for the top class (which every set holds),
/// then cumulative probability through that rank plus the RAPS penalty. Non-decreasing in rank.
fn ranked_scores<'a>(row: &'a [f32], order: &'a [usize], kind: ScoreKind) -> impl Iterator<Item = f64> + 'a {
    let mut cum = 0.0f64;
    order.iter().enumerate().map(move |(i, &c)| {
        cum += f64::from(row[c]);
        if i == 0 {
            0.0
        } else {
            cum + kind.penalty(i + 1)
        }
    })
}

/// The score of label `y` for `row`.
fn score(row: &[f32], y: usize, kind: ScoreKind) -> f64 {
    let order = ranking(row);
    let pos = order.iter().position(|&c| c == y).unwrap_or(order.len() - 1);
    let s = ranked_scores(row, &order, kind).nth(pos);
    s.unwrap_or(f64::INFINITY)
}

/// The finite-sample conformal quantile of sorted `scores` for coverage `1 - alpha`: the
/// `⌈(n+1)(1-α)⌉`-th smallest score, or `+∞` (every class) when that rank exceeds `n`.
fn quantile(sorted: &[f64], coverage: f64) -> f64 {
    let n = sorted.len();
    let rank = ((n as f64 + 1.0) * coverage).ceil() as usize;
    if rank == 0 {
        return f64::NEG_INFINITY;
    }
    sorted.get(rank - 1).copied().unwrap_or(f64::INFINITY)
}

/// The set of `row` at threshold `qhat`: the top class, then every class in rank order whose score is at
/// most `qhat` (scores rise with rank, so the set is a prefix of the ranking).
fn set_at(row: &[f32], qhat: f64, kind: ScoreKind) -> Vec<usize> {
    let order = ranking(row);
    let len = ranked_scores(row, &order, kind).enumerate().take_while(|&(i, s)| i == 0 || s <= qhat).count();
    order[..len.max(1)].to_vec()
}

fn check_coverage(coverage: f64) -> Result<(), CalibrateError> {
    if coverage > 0.0 && coverage < 1.0 {
        Ok(())
    } else {
        Err(CalibrateError::BadCoverage(coverage))
    }
}

/// A conformal calibration: the score and the sorted scores of the calibration papers' true labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    /// The nonconformity score.
    pub score: ScoreKind,
    /// Calibration scores, ascending.
    pub scores: Vec<f64>,
}

impl Conformal {
    /// Scores the true labels `y` of the calibration papers `probs` (`k` wide, already temperature-scaled).
    pub fn calibrate(
        probs: &[f32],
        k: usize,
        y: &[u32],
        score_kind: ScoreKind,
    ) -> Result<Self, CalibrateError> {
        check_shapes(probs, k, y)?;
        let mut scores: Vec<f64> =
            probs.chunks_exact(k).zip(y).map(|(row, &l)| score(row, l as usize, score_kind)).collect();
        scores.sort_by(f64::total_cmp);
        Ok(Conformal { score: score_kind, scores })
    }

    /// Number of calibration papers.
    pub fn n(&self) -> usize {
        self.scores.len()
    }

    /// The score threshold for `coverage` (`+∞` when the calibration set is too small for it).
    pub fn threshold(&self, coverage: f64) -> Result<f64, CalibrateError> {
        check_coverage(coverage)?;
        Ok(quantile(&self.scores, coverage))
    }

    /// The class set of one probability row at `coverage`, most probable class first; never empty.
    pub fn set(&self, row: &[f32], coverage: f64) -> Result<Vec<usize>, CalibrateError> {
        Ok(set_at(row, self.threshold(coverage)?, self.score))
    }

    /// The sets of every row of `probs` (`k` wide).
    pub fn sets(&self, probs: &[f32], k: usize, coverage: f64) -> Result<Vec<Vec<usize>>, CalibrateError> {
        let qhat = self.threshold(coverage)?;
        Ok(probs.chunks_exact(k.max(1)).map(|row| set_at(row, qhat, self.score)).collect())
    }
}

/// Chooses RAPS's `k_reg` and `lambda` on a tuning slice (disjoint from the conformal calibration papers, so
/// the guarantee is untouched): `k_reg` is the smallest `k` whose top-k sets reach `1 - alpha` coverage on
/// the slice, and `lambda` the value of `grid` with the smallest mean set size at `1 - alpha` (quantile
/// taken on the slice itself), as Angelopoulos et al. 2021 do.
pub fn tune_raps(
    probs: &[f32],
    k: usize,
    y: &[u32],
    alpha: f64,
    grid: &[f64],
) -> Result<ScoreKind, CalibrateError> {
    check_shapes(probs, k, y)?;
    check_coverage(1.0 - alpha)?;
    let mut ranks: Vec<usize> = probs
        .chunks_exact(k)
        .zip(y)
        .map(|(row, &l)| ranking(row).iter().position(|&c| c == l as usize).map_or(k, |p| p + 1))
        .collect();
    ranks.sort_unstable();
    let need = ((1.0 - alpha) * y.len() as f64).ceil() as usize;
    let k_reg = ranks[need.clamp(1, ranks.len()) - 1];
    let mut best = (f64::INFINITY, ScoreKind::Raps { lambda: 0.0, k_reg });
    for &lambda in grid {
        let kind = ScoreKind::Raps { lambda, k_reg };
        let c = Conformal::calibrate(probs, k, y, kind)?;
        let sets = c.sets(probs, k, 1.0 - alpha)?;
        let mean = sets.iter().map(Vec::len).sum::<usize>() as f64 / sets.len() as f64;
        if mean < best.0 {
            best = (mean, kind);
        }
    }
    Ok(best.1)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A random probability row and a label drawn from it: the model is exactly right about its
    /// uncertainty, and rows are i.i.d., hence exchangeable.
    fn draw(rng: &mut StdRng, k: usize) -> (Vec<f32>, u32) {
        let sharp = rng.random::<f64>() * 4.0;
        let z: Vec<f64> = (0..k).map(|_| rng.random::<f64>() * sharp * 3.0).collect();
        let s: f64 = z.iter().map(|v| v.exp()).sum();
        let p: Vec<f32> = z.iter().map(|v| (v.exp() / s) as f32).collect();
        let u: f32 = rng.random();
        let mut acc = 0.0;
        let y = p.iter().position(|&q| {
            acc += q;
            u < acc
        });
        (p, y.unwrap_or(k - 1) as u32)
    }

    fn sample(rng: &mut StdRng, n: usize, k: usize) -> (Vec<f32>, Vec<u32>) {
        let mut probs = Vec::with_capacity(n * k);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let (p, l) = draw(rng, k);
            probs.extend(p);
            y.push(l);
        }
        (probs, y)
    }

    /// On exchangeable data the coverage of split conformal sets, averaged over calibration draws, lies in
    /// `[1-α, 1-α+1/(n+1)]`. 300 trials of 500 calibration and 1000 test papers: the mean's standard error
    /// is ≈ 0.001 (per-trial sd ≈ √(α(1-α)/n) ≈ 0.013 from the calibration draw plus 0.009 from the test
    /// draw, over √300), so the interval is widened by 3 standard errors on each side.
    #[test]
    fn coverage_on_exchangeable_data_matches_the_guarantee() {
        let (k, n_cal, n_test, trials) = (10, 500, 1000, 300);
        for kind in [ScoreKind::Aps, ScoreKind::Raps { lambda: 0.05, k_reg: 2 }] {
            for coverage in [0.8, 0.9] {
                let mut rng = StdRng::seed_from_u64(11);
                let mut total = 0.0;
                for _ in 0..trials {
                    let (pc, yc) = sample(&mut rng, n_cal, k);
                    let (pt, yt) = sample(&mut rng, n_test, k);
                    let c = Conformal::calibrate(&pc, k, &yc, kind).unwrap();
                    let sets = c.sets(&pt, k, coverage).unwrap();
                    assert!(sets.iter().all(|s| !s.is_empty()));
                    let hit = sets.iter().zip(&yt).filter(|(s, &y)| s.contains(&(y as usize))).count();
                    total += hit as f64 / n_test as f64;
                }
                let mean = total / trials as f64;
                let se3 = 0.003;
                let (lo, hi) = (coverage - se3, coverage + 1.0 / (n_cal as f64 + 1.0) + se3);
                assert!(mean >= lo && mean <= hi, "{kind:?} at {coverage}: {mean} not in [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn quantile_is_the_finite_sample_one() {
        let s: Vec<f64> = (1..=9).map(f64::from).collect();
        // n = 9: ⌈10 · 0.9⌉ = 9 → the largest score; ⌈10 · 0.5⌉ = 5 → the 5th.
        assert_eq!(quantile(&s, 0.9), 9.0);
        assert_eq!(quantile(&s, 0.5), 5.0);
        // ⌈10 · 0.95⌉ = 10 > n: no finite threshold, every class.
        assert_eq!(quantile(&s, 0.95), f64::INFINITY);
    }

    #[test]
    fn sets_are_prefixes_of_the_ranking_and_never_empty() {
        let row = [0.1f32, 0.6, 0.3];
        // Ranked 1 (0.6), 2 (0.3), 0 (0.1): scores 0, 0.9, 1.0.
        assert_eq!(set_at(&row, -1.0, ScoreKind::Aps), vec![1]);
        // (f32 0.6 + 0.3 is a hair above 0.9 in f64.)
        assert_eq!(set_at(&row, 0.9001, ScoreKind::Aps), vec![1, 2]);
        assert_eq!(set_at(&row, 0.89, ScoreKind::Aps), vec![1]);
        assert_eq!(set_at(&row, 0.95, ScoreKind::Aps), vec![1, 2]);
        assert_eq!(set_at(&row, f64::INFINITY, ScoreKind::Aps), vec![1, 2, 0]);
        // RAPS with k_reg 1 adds lambda per rank beyond the first: 0, 0.9+0.5, 1+1.
        let raps = ScoreKind::Raps { lambda: 0.5, k_reg: 1 };
        assert_eq!(set_at(&row, 1.0, raps), vec![1]);
        assert!((score(&row, 2, raps) - 1.4).abs() < 1e-6);
        assert_eq!(score(&row, 1, raps), 0.0);
        let c = Conformal { score: ScoreKind::Aps, scores: vec![0.5] };
        assert!(matches!(c.set(&row, 1.0), Err(CalibrateError::BadCoverage(_))));
    }

    #[test]
    fn raps_tuning_picks_k_reg_from_ranks() {
        let mut rng = StdRng::seed_from_u64(3);
        let (p, y) = sample(&mut rng, 2000, 10);
        match tune_raps(&p, 10, &y, 0.1, DEFAULT_LAMBDA_GRID).unwrap() {
            ScoreKind::Raps { k_reg, lambda } => {
                assert!((1..=10).contains(&k_reg));
                assert!(DEFAULT_LAMBDA_GRID.contains(&lambda));
            }
            other => panic!("{other:?}"),
        }
    }
}
