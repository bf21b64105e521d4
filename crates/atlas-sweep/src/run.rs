//! Running a sweep: one training run per trial, the state saved atomically after every trial so that an
//! interrupted sweep resumes where it stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::space::{overrides, Point, SearchSpace, Strategy};
use crate::SweepError;

/// Name of the state file inside a sweep folder.
pub const STATE_FILE: &str = "sweep.json";

/// Whether a higher or a lower metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Higher is better (accuracy, F1).
    Max,
    /// Lower is better (losses, calibration error).
    Min,
}

impl Goal {
    /// The natural goal of a metric: lower for losses and errors (`…loss…`, `…ece…`, `…error…`), higher
    /// otherwise.
    pub fn for_metric(metric: &str) -> Goal {
        if ["loss", "ece", "error"].iter().any(|w| metric.contains(w)) {
            Goal::Min
        } else {
            Goal::Max
        }
    }
}

/// What a sweep is: everything that decides its trials (so the same command finds its own state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// The search space.
    pub space: SearchSpace,
    /// How the trials were picked.
    pub strategy: Strategy,
    /// The `--trials` asked for.
    pub trials: Option<usize>,
    /// Seed of the random strategy.
    pub seed: u64,
    /// The run metric trials are ranked by (e.g. `validation_accuracy`).
    pub metric: String,
    /// Whether higher or lower is better.
    pub goal: Goal,
}

impl SweepPlan {
    /// A short fingerprint of the plan: the default sweep folder is named after it, so rerunning the same
    /// command resumes the same sweep.
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..6])
    }
}

/// How a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialStatus {
    /// Not run yet, or interrupted (runs on resume).
    Pending,
    /// Ran and logged the metric.
    Finished,
    /// Its training failed (recorded, not retried).
    Failed,
}

/// One point of the sweep and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// 1-based position in the plan.
    pub number: usize,
    /// Its values, in the order of the search space.
    pub params: Vec<(String, String)>,
    /// How it stands.
    pub status: TrialStatus,
    /// The training run folder.
    pub run_dir: Option<PathBuf>,
    /// The ranking metric.
    pub metric: Option<f64>,
    /// Every metric the run logged.
    pub metrics: BTreeMap<String, f64>,
    /// Wall-clock seconds of the trial.
    pub seconds: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A sweep folder's `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepState {
    /// The plan.
    pub plan: SweepPlan,
    /// Every trial, in plan order.
    pub trials: Vec<Trial>,
}

impl SweepState {
    /// Finished trials, best first (ties keep plan order).
    pub fn ranked(&self) -> Vec<&Trial> {
        let mut done: Vec<&Trial> = self.trials.iter().filter(|t| t.metric.is_some()).collect();
        let goal = self.plan.goal;
        done.sort_by(|a, b| {
            let (x, y) = (a.metric.unwrap_or(f64::NAN), b.metric.unwrap_or(f64::NAN));
            match goal {
                Goal::Max => y.total_cmp(&x),
                Goal::Min => x.total_cmp(&y),
            }
        });
        done
    }

    /// The best finished trial.
    pub fn best(&self) -> Option<&Trial> {
        self.ranked().into_iter().next()
    }

    /// Reads `dir/sweep.json`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Self>, SweepError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(raw) => {
                serde_json::from_slice(&raw).map(Some).map_err(|source| SweepError::State { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SweepError::Io { path, source }),
        }
    }

    /// Writes `dir/sweep.json` atomically (a kill leaves the previous state or the new one, never half).
    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| SweepError::State { path: dir.join(STATE_FILE), source })?;
        atlas_artifact::write_atomic(&dir.join(STATE_FILE), &json)?;
        Ok(())
    }
}

/// Trains trial `number` of a sweep from its command-line overrides.
pub type TrialFn<'a> = dyn FnMut(usize, &[String]) -> Result<TrialOutcome, SweepError> + 'a;

/// What a finished training run reports to the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The run's final metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// What [`run`] tells its caller as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A finished trial was found in the state and is skipped.
    Skipped(&'a Trial),
    /// A trial starts.
    Started(&'a Trial),
    /// A trial finished or failed.
    Done(&'a Trial),
}

/// Checks every value of the space (and the fixed overrides) against the configuration before anything
/// runs, so a typo in a key or a value is an error naming that key, not a failure after hours of trials.
pub fn validate(
    space: &SearchSpace,
    resolve: &dyn Fn(&[String]) -> Result<atlas_config::ResolvedConfig, atlas_config::ConfigError>,
) -> Result<(), SweepError> {
    resolve(&space.fixed)
        .map_err(|source| SweepError::BadValue { key: "overrides".into(), source: Box::new(source) })?;
    for p in &space.params {
        for v in &p.values {
            resolve(&overrides(&space.fixed, &[(p.key.clone(), v.clone())])).map_err(|source| {
                SweepError::BadValue { key: format!("{}={v}", p.key), source: Box::new(source) }
            })?;
        }
    }
    Ok(())
}

/// Runs the trials of `plan` in `dir` (created when needed) with `trial`, which trains one configuration
/// given as command-line overrides and returns its run. A state file already in `dir` must be of the same
/// plan: its finished and failed trials are kept and the rest run (resume). The state is written after every
/// trial. A trial error is recorded and the sweep goes on, except [`SweepError::Interrupted`] (the trial
/// stays pending) and a missing ranking metric (every trial would miss it), which stop the sweep.
pub fn run(
    dir: &Path,
    plan: &SweepPlan,
    trial: &mut TrialFn<'_>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<SweepState, SweepError> {
    let points = plan.space.plan(plan.strategy, plan.trials, plan.seed)?;
    let mut state = match SweepState::read(dir)? {
        Some(s) if s.plan == *plan => s,
        Some(s) => {
            let reason = if s.plan.space != plan.space {
                "another search space"
            } else if s.plan.metric != plan.metric || s.plan.goal != plan.goal {
                "another metric"
            } else {
                "another strategy, seed or trial count"
            };
            return Err(SweepError::OtherSweep { path: dir.join(STATE_FILE), reason: reason.into() });
        }
        None => SweepState { plan: plan.clone(), trials: points.iter().enumerate().map(pending).collect() },
    };
    std::fs::create_dir_all(dir).map_err(|source| SweepError::Io { path: dir.to_path_buf(), source })?;
    state.write(dir)?;
    for i in 0..state.trials.len() {
        if state.trials[i].status != TrialStatus::Pending {
            progress(Progress::Skipped(&state.trials[i]));
            continue;
        }
        progress(Progress::Started(&state.trials[i]));
        let args = overrides(&plan.space.fixed, &state.trials[i].params);
        let started = Instant::now();
        let result = trial(state.trials[i].number, &args);
        let t = &mut state.trials[i];
        t.seconds = Some(started.elapsed().as_secs_f64());
        match result {
            Ok(out) => {
                let Some(&m) = out.metrics.get(&plan.metric) else {
                    let available = out.metrics.keys().cloned().collect::<Vec<_>>().join(", ");
                    return Err(SweepError::MissingMetric { metric: plan.metric.clone(), available });
                };
                t.status = TrialStatus::Finished;
                t.metric = Some(m);
                t.metrics = out.metrics;
                t.run_dir = Some(out.run_dir);
            }
            Err(e @ SweepError::Interrupted(_)) => return Err(e),
            Err(e) => {
                t.status = TrialStatus::Failed;
                t.error = Some(e.to_string());
            }
        }
        state.write(dir)?;
        progress(Progress::Done(&state.trials[i]));
    }
    Ok(state)
}

fn pending((i, point): (usize, &Point)) -> Trial {
    Trial {
        number: i + 1,
        params: point.clone(),
        status: TrialStatus::Pending,
        run_dir: None,
        metric: None,
        metrics: BTreeMap::new(),
        seconds: None,
        error: None,
    }
}

/// The trial function of `arxiv-atlas sweep`: resolves the overrides as the command line would (config
/// folder `config_dir`, the process's `ARXIV_ATLAS_*` variables), names the run after the sweep and trains.
pub fn train_trial(
    config_dir: Option<PathBuf>,
    sweep_name: String,
) -> impl FnMut(usize, &[String]) -> Result<TrialOutcome, SweepError> {
    move |number, args| {
        let mut args = args.to_vec();
        args.push(format!("run.name={sweep_name}-{number}"));
        let resolved = atlas_config::load_for_process(config_dir.as_deref(), &args)?;
        let out = atlas_pipeline::train(&resolved)?;
        Ok(TrialOutcome { run_dir: out.run_dir, metrics: out.metrics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(metric: &str) -> SweepPlan {
        let args: Vec<String> = ["experiment=x", "lr=choice(1,2,3)", "hidden=choice(10,20)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        SweepPlan {
            space: SearchSpace::parse(&args).unwrap(),
            strategy: Strategy::Grid,
            trials: None,
            seed: 0,
            metric: metric.into(),
            goal: Goal::for_metric(metric),
        }
    }

    /// A fake training: the score is lr × hidden, so the best trial is lr=3, hidden=20.
    fn score(args: &[String]) -> f64 {
        let get = |k: &str| -> f64 {
            args.iter().find_map(|a| a.strip_prefix(&format!("{k}="))).unwrap().parse().unwrap()
        };
        get("lr") * get("hidden")
    }

    fn outcome(args: &[String]) -> TrialOutcome {
        TrialOutcome {
            run_dir: PathBuf::from(format!("runs/{}", args.join(","))),
            metrics: BTreeMap::from([("validation_accuracy".to_string(), score(args))]),
        }
    }

    #[test]
    fn an_interrupted_sweep_resumes_where_it_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan("validation_accuracy");
        let mut calls: Vec<usize> = Vec::new();
        // The third trial is interrupted (a kill between two state writes looks the same: it stays pending).
        let err = run(
            tmp.path(),
            &plan,
            &mut |n, args| {
                calls.push(n);
                if n == 3 {
                    Err(SweepError::Interrupted("stopped by the test".into()))
                } else {
                    Ok(outcome(args))
                }
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, SweepError::Interrupted(_)), "{err}");
        assert_eq!(calls, [1, 2, 3]);
        let saved = SweepState::read(tmp.path()).unwrap().unwrap();
        let statuses: Vec<TrialStatus> = saved.trials.iter().map(|t| t.status).collect();
        assert_eq!(statuses[..3], [TrialStatus::Finished, TrialStatus::Finished, TrialStatus::Pending]);

        // Resume: trials 1 and 2 are not run again, 3 to 6 are.
        let (mut resumed, mut skipped) = (Vec::new(), Vec::new());
        let state = run(
            tmp.path(),
            &plan,
            &mut |n, args| {
                resumed.push(n);
                Ok(outcome(args))
            },
            &mut |p| {
                if let Progress::Skipped(t) = p {
                    skipped.push(t.number)
                }
            },
        )
        .unwrap();
        assert_eq!(resumed, [3, 4, 5, 6]);
        assert_eq!(skipped, [1, 2]);
        assert!(state.trials.iter().all(|t| t.status == TrialStatus::Finished));
        let best = state.best().unwrap();
        assert_eq!(
            best.params,
            [("lr".to_string(), "3".to_string()), ("hidden".to_string(), "20".to_string())]
        );
        let ranked: Vec<f64> = state.ranked().iter().map(|t| t.metric.unwrap()).collect();
        assert_eq!(ranked, [60.0, 40.0, 30.0, 20.0, 20.0, 10.0]);
        assert_eq!(SweepState::read(tmp.path()).unwrap().unwrap(), state);
        // A finished sweep run again trains nothing.
        let state2 = run(tmp.path(), &plan, &mut |_, _| panic!("nothing left to run"), &mut |_| {}).unwrap();
        assert_eq!(state2, state);
    }

    #[test]
    fn failures_are_recorded_and_losses_rank_low_first() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan("validation_loss");
        assert_eq!(plan.goal, Goal::Min);
        let state = run(
            tmp.path(),
            &plan,
            &mut |n, args| {
                if n == 2 {
                    return Err(SweepError::BadSpace { key: "lr".into(), reason: "diverged".into() });
                }
                let mut o = outcome(args);
                o.metrics = BTreeMap::from([("validation_loss".to_string(), score(args))]);
                Ok(o)
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(state.trials[1].status, TrialStatus::Failed);
        assert!(state.trials[1].error.as_deref().unwrap().contains("diverged"));
        assert_eq!(state.best().unwrap().metric, Some(10.0));
        assert_eq!(state.ranked().len(), 5);
    }

    #[test]
    fn another_plan_in_the_same_folder_is_refused_and_a_missing_metric_stops() {
        let tmp = tempfile::tempdir().unwrap();
        let err = run(tmp.path(), &plan("nope"), &mut |_, a| Ok(outcome(a)), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("no metric `nope`; it has: validation_accuracy"), "{err}");
        let err = run(tmp.path(), &plan("validation_accuracy"), &mut |_, a| Ok(outcome(a)), &mut |_| {})
            .unwrap_err();
        assert!(matches!(err, SweepError::OtherSweep { .. }), "{err}");
        assert!(err.to_string().contains("another metric"), "{err}");
    }

    #[test]
    fn the_plan_key_follows_the_plan() {
        let a = plan("validation_accuracy");
        let mut b = a.clone();
        assert_eq!(a.key(), b.key());
        b.seed = 1;
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key().len(), 12);
    }
}
