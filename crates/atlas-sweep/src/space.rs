//! The search space: which config keys vary over which values, and the trials a strategy picks from it.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::SweepError;

/// One key of the search space and the values it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// A config key (`experiment.mlp.hidden`) or group (`experiment`).
    pub key: String,
    /// Its values, as they would be written after `key=` on the command line.
    pub values: Vec<String>,
}

/// The command line of a sweep split in two: overrides every trial gets, and the keys that vary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Plain overrides (`experiment=embedding_mlp`, `data.input=…`), given to every trial first.
    pub fixed: Vec<String>,
    /// `KEY=choice(A,B,…)` arguments, in command-line order.
    pub params: Vec<Param>,
}

/// How trials are picked from the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Every combination, in order (the last key varies fastest), the first `trials` of them when given.
    Grid,
    /// `trials` distinct combinations drawn at random (seeded), all of them when `trials` is not given.
    Random,
}

impl Strategy {
    /// `grid` or `random`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Grid => "grid",
            Strategy::Random => "random",
        }
    }
}

/// One trial's values: `(key, value)` in the order of [`SearchSpace::params`].
pub type Point = Vec<(String, String)>;

/// Most combinations a space may have: a sweep of more trials than this is a typo, not a plan.
pub const MAX_COMBINATIONS: usize = 100_000;

impl SearchSpace {
    /// Splits command-line arguments into fixed overrides and `KEY=choice(A,B,…)` parameters. A malformed
    /// `choice(…)`, an empty or repeated value, a key given twice (or both fixed and varied), or no varying
    /// key at all is an error that names the key.
    pub fn parse(args: &[String]) -> Result<Self, SweepError> {
        let bad = |key: &str, reason: String| SweepError::BadSpace { key: key.to_string(), reason };
        let mut fixed = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                fixed.push(arg.clone());
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            let Some(inner) = value.strip_prefix("choice(") else {
                if value.contains("choice(") {
                    return Err(bad(key, format!("`{value}` is not `choice(A,B,…)`")));
                }
                fixed.push(arg.clone());
                continue;
            };
            let Some(inner) = inner.strip_suffix(')') else {
                return Err(bad(key, format!("`{value}` lacks its closing `)`")));
            };
            if key.is_empty() {
                return Err(bad(arg, "no key before `=choice(…)`".into()));
            }
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            if values.iter().any(String::is_empty) {
                return Err(bad(key, format!("`{value}` has an empty value; write choice(A,B,…)")));
            }
            if let Some(dup) = values.iter().enumerate().find(|(i, v)| values[..*i].contains(v)) {
                return Err(bad(key, format!("`{}` is listed twice", dup.1)));
            }
            if params.iter().any(|p| p.key == key) {
                return Err(bad(key, "is given twice".into()));
            }
            params.push(Param { key: key.to_string(), values });
        }
        for p in &params {
            if fixed.iter().any(|f| f.split_once('=').is_some_and(|(k, _)| k.trim() == p.key)) {
                return Err(bad(&p.key, "is both fixed and varied".into()));
            }
        }
        // Every trial is its own run; one run folder for all of them would overwrite each trial's model.
        if fixed.iter().any(|f| f.split_once('=').is_some_and(|(k, _)| k.trim() == "run.dir")) {
            return Err(bad("run.dir", "every trial needs its own run folder; set run.root instead".into()));
        }
        if params.is_empty() {
            return Err(bad("(none)", "nothing varies: give at least one KEY=choice(A,B,…)".into()));
        }
        let combinations = params.iter().try_fold(1usize, |n, p| n.checked_mul(p.values.len()));
        if combinations.is_none_or(|n| n > MAX_COMBINATIONS) {
            let key = params.last().map_or(String::new(), |p| p.key.clone());
            return Err(bad(&key, format!("the space has more than {MAX_COMBINATIONS} combinations")));
        }
        Ok(SearchSpace { fixed, params })
    }

    /// Number of combinations.
    pub fn size(&self) -> usize {
        self.params.iter().map(|p| p.values.len()).product()
    }

    /// Every combination, the last key varying fastest.
    pub fn grid(&self) -> Vec<Point> {
        let mut points: Vec<Point> = vec![Vec::new()];
        for p in &self.params {
            points = points
                .into_iter()
                .flat_map(|pt| {
                    p.values.iter().map(move |v| {
                        let mut next = pt.clone();
                        next.push((p.key.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        points
    }

    /// The trials of `strategy`: at most `trials` (all combinations when `None`; never more than there
    /// are). The plan depends only on its arguments, so the same command plans the same sweep.
    pub fn plan(
        &self,
        strategy: Strategy,
        trials: Option<usize>,
        seed: u64,
    ) -> Result<Vec<Point>, SweepError> {
        if trials == Some(0) {
            return Err(SweepError::BadSpace { key: "--trials".into(), reason: "must be at least 1".into() });
        }
        let mut points = self.grid();
        if strategy == Strategy::Random {
            points.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        points.truncate(trials.unwrap_or(usize::MAX));
        Ok(points)
    }
}

/// The command-line overrides of one trial: the fixed ones, then the point's `key=value`s.
pub fn overrides(fixed: &[String], point: &[(String, String)]) -> Vec<String> {
    fixed.iter().cloned().chain(point.iter().map(|(k, v)| format!("{k}={v}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn key_of(e: SweepError) -> String {
        match e {
            SweepError::BadSpace { key, .. } => key,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn choices_and_fixed_overrides_are_told_apart() {
        let s = SearchSpace::parse(&args(&[
            "experiment=embedding_mlp",
            "experiment.mlp.learning_rate=choice(1e-3, 3e-4)",
            "experiment.mlp.hidden=choice(256,512)",
            "seed=3",
        ]))
        .unwrap();
        assert_eq!(s.fixed, ["experiment=embedding_mlp", "seed=3"]);
        assert_eq!(s.params[0].values, ["1e-3", "3e-4"]);
        assert_eq!(s.size(), 4);
        let grid = s.grid();
        assert_eq!(grid.len(), 4);
        assert_eq!(
            overrides(&s.fixed, &grid[1]),
            [
                "experiment=embedding_mlp",
                "seed=3",
                "experiment.mlp.learning_rate=1e-3",
                "experiment.mlp.hidden=512"
            ]
        );
    }

    #[test]
    fn a_bad_space_names_its_key() {
        let k = |a: &[&str]| key_of(SearchSpace::parse(&args(a)).unwrap_err());
        assert_eq!(k(&["experiment.mlp.hidden=choice(256,512"]), "experiment.mlp.hidden");
        assert_eq!(k(&["experiment.mlp.hidden=choice()"]), "experiment.mlp.hidden");
        assert_eq!(k(&["experiment.mlp.hidden=choice(256,,512)"]), "experiment.mlp.hidden");
        assert_eq!(k(&["experiment.mlp.hidden=choice(256,256)"]), "experiment.mlp.hidden");
        assert_eq!(k(&["a.b=choice(1,2)", "a.b=choice(3)"]), "a.b");
        assert_eq!(k(&["a.b=choice(1,2)", "a.b=4"]), "a.b");
        assert_eq!(k(&["a.b=[choice(1,2)]"]), "a.b");
        assert_eq!(k(&["experiment=embedding_mlp"]), "(none)");
        assert_eq!(k(&["run.dir=runs/x", "a.b=choice(1,2)"]), "run.dir");
        let e = SearchSpace::parse(&args(&["x.y=choice(1,2"])).unwrap_err().to_string();
        assert!(e.starts_with("search space: x.y:"), "{e}");
    }

    #[test]
    fn grid_and_random_plans_are_deterministic_subsets() {
        let s = SearchSpace::parse(&args(&["a=choice(1,2,3)", "b=choice(x,y)"])).unwrap();
        let grid = s.plan(Strategy::Grid, None, 0).unwrap();
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[0], [("a".into(), "1".into()), ("b".into(), "x".into())]);
        assert_eq!(s.plan(Strategy::Grid, Some(2), 0).unwrap(), grid[..2]);
        let r1 = s.plan(Strategy::Random, Some(4), 7).unwrap();
        assert_eq!(r1, s.plan(Strategy::Random, Some(4), 7).unwrap());
        assert_eq!(r1.len(), 4);
        assert!(r1.iter().all(|p| grid.contains(p)));
        let mut distinct = r1.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "random trials repeat a point");
        assert_ne!(r1, s.plan(Strategy::Random, Some(4), 8).unwrap());
        assert_eq!(s.plan(Strategy::Random, Some(50), 7).unwrap().len(), 6);
        assert_eq!(key_of(s.plan(Strategy::Grid, Some(0), 0).unwrap_err()), "--trials");
    }
}
