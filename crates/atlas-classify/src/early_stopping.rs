//! The training loop every classifier of this crate shares: run a step (an epoch, or an L-BFGS
//! iteration), measure the validation set, keep the best weights, stop early, report.
//!
//! The optimisers ([`crate::SoftmaxRegression::fit`]'s sparse AdaGrad, the dense heads' Adam and L-BFGS)
//! differ only in what a step does and how weights are copied, so they implement [`Trainer`] and leave
//! the rest to [`run`]: the same early-stopping rule, the same divergence check, the same log lines and
//! the same [`EpochStats`] for the observer. Nothing here depends on thread scheduling, so a trainer that
//! is deterministic per step stays deterministic.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;

/// Figures of one training epoch (or L-BFGS iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's mini-batches (measured before each batch's update).
    pub train_loss: f64,
    /// Mean cross-entropy on the validation set after the epoch, if one was given.
    pub valid_loss: Option<f64>,
    /// Top-1 accuracy on the validation set after the epoch, if one was given.
    pub valid_accuracy: Option<f64>,
    /// Wall-clock seconds of the epoch (including the validation pass).
    pub seconds: f64,
}

/// How a fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSummary {
    /// Epochs actually run (early stopping may end before the maximum).
    pub epochs_run: usize,
    /// The epoch whose weights were kept: the one with the lowest validation loss, or the last one when
    /// there is no validation set.
    pub best_epoch: usize,
    /// One entry per epoch.
    pub history: Vec<EpochStats>,
}

/// One optimiser, seen by [`run`] as a sequence of steps over the training data.
pub(crate) trait Trainer {
    /// Runs step `step` (1-based: an epoch, or an L-BFGS iteration) and returns the mean training
    /// cross-entropy it measured.
    fn step(&mut self, step: usize) -> f64;
    /// Validation loss and accuracy of the current weights; `None` without a validation set.
    fn validate(&mut self) -> Option<(f64, f64)>;
    /// Keeps a copy of the current weights (those [`Trainer::validate`] just measured) as the best so far;
    /// the caller restores the last copy kept once [`run`] returns.
    fn keep_best(&mut self);
    /// Called after a step that did not improve the best validation loss by the required margin.
    fn on_plateau(&mut self) {}
    /// Why the optimiser cannot make further progress, if so (checked after every step).
    fn converged(&self) -> Option<String> {
        None
    }
    /// Runs `report` (a log line and the observer) while the trainer's own terminal output, e.g. a
    /// progress bar, is hidden, so the two do not interleave.
    fn report(&self, report: &mut dyn FnMut()) {
        report()
    }
}

/// When [`run`] stops and how it talks about it.
pub(crate) struct Schedule<'a> {
    /// Most steps.
    pub(crate) max_steps: usize,
    /// Steps without an improvement before stopping (0: never stop early).
    pub(crate) patience: usize,
    /// A step counts as an improvement (for `patience` and [`Trainer::on_plateau`]) only if it lowers the
    /// best validation loss by more than this fraction; the weights of the lowest loss are kept either way.
    pub(crate) min_improvement: f64,
    /// What a step is called in log lines and messages: `epoch` or `step`.
    pub(crate) unit: &'static str,
    /// Log every this many steps at `info` level (the rest at `debug`).
    pub(crate) log_every: usize,
    /// The setting to name when training diverges, e.g. `linear.learning_rate`.
    pub(crate) lower_hint: &'a str,
}

/// Runs `trainer` until `max_steps`, convergence or early stopping. `observer` sees every step's figures on
/// the calling thread. The returned summary's `best_epoch` is the step of the last
/// [`Trainer::keep_best`] call, or the last step when there was no validation set (then `keep_best` was
/// never called and the trainer's current weights are the result).
pub(crate) fn run(
    trainer: &mut dyn Trainer,
    schedule: &Schedule<'_>,
    observer: &mut dyn FnMut(&EpochStats),
) -> Result<FitSummary, ClassifyError> {
    let unit = schedule.unit;
    let mut best: Option<(f64, usize)> = None;
    let mut since_best = 0;
    let mut history = Vec::new();
    for step in 1..=schedule.max_steps {
        let t0 = Instant::now();
        let train_loss = trainer.step(step);
        if !train_loss.is_finite() {
            return Err(ClassifyError::InvalidParams(format!(
                "training diverged in {unit} {step} (loss {train_loss}); lower {}",
                schedule.lower_hint
            )));
        }
        let validation = trainer.validate();
        let stats = EpochStats {
            epoch: step,
            train_loss,
            valid_loss: validation.map(|v| v.0),
            valid_accuracy: validation.map(|v| v.1),
            seconds: t0.elapsed().as_secs_f64(),
        };
        trainer.report(&mut || {
            let line = match validation {
                Some((l, a)) => format!(
                    "{unit} {step}: train loss {train_loss:.4}, validation loss {l:.4}, accuracy {a:.4} \
                     ({:.2}s)",
                    stats.seconds
                ),
                None => format!("{unit} {step}: train loss {train_loss:.4} ({:.2}s)", stats.seconds),
            };
            if step % schedule.log_every.max(1) == 0 {
                tracing::info!("{line}");
            } else {
                tracing::debug!("{line}");
            }
            observer(&stats);
        });
        history.push(stats);
        if let Some((loss, _)) = validation {
            let improved = best.is_none_or(|b| loss < b.0 * (1.0 - schedule.min_improvement));
            if best.is_none_or(|b| loss < b.0) {
                trainer.keep_best();
                best = Some((loss, step));
            }
            if improved {
                since_best = 0;
            } else {
                since_best += 1;
                trainer.on_plateau();
                if schedule.patience > 0 && since_best >= schedule.patience {
                    tracing::info!(
                        "early stopping: validation loss not {:.2}% lower for {since_best} {unit}s",
                        schedule.min_improvement * 100.0
                    );
                    break;
                }
            }
        }
        if let Some(why) = trainer.converged() {
            tracing::info!("converged after {step} {unit}s: {why}");
            break;
        }
    }
    let epochs_run = history.len();
    let best_epoch = best.map_or(epochs_run, |b| b.1);
    Ok(FitSummary { epochs_run, best_epoch, history })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trainer that replays given validation losses; its "weights" are the step number.
    struct Replay {
        losses: Vec<f64>,
        train_loss: f64,
        current: usize,
        kept: Option<usize>,
        plateaus: usize,
        converge_at: Option<usize>,
    }

    impl Replay {
        fn new(losses: &[f64]) -> Self {
            Replay {
                losses: losses.to_vec(),
                train_loss: 1.0,
                current: 0,
                kept: None,
                plateaus: 0,
                converge_at: None,
            }
        }
    }

    impl Trainer for Replay {
        fn step(&mut self, step: usize) -> f64 {
            self.current = step;
            self.train_loss
        }
        fn validate(&mut self) -> Option<(f64, f64)> {
            (!self.losses.is_empty()).then(|| (self.losses[self.current - 1], 0.5))
        }
        fn keep_best(&mut self) {
            self.kept = Some(self.current);
        }
        fn on_plateau(&mut self) {
            self.plateaus += 1;
        }
        fn converged(&self) -> Option<String> {
            (self.converge_at == Some(self.current)).then(|| "done".to_string())
        }
    }

    fn schedule(max_steps: usize, patience: usize, min_improvement: f64) -> Schedule<'static> {
        Schedule { max_steps, patience, min_improvement, unit: "epoch", log_every: 1, lower_hint: "x.lr" }
    }

    #[test]
    fn keeps_the_lowest_loss_and_stops_after_patience() {
        let mut t = Replay::new(&[3.0, 2.0, 2.5, 1.99, 2.2, 2.3, 1.0]);
        let mut seen = Vec::new();
        // 1.99 beats 2.0 but not by 1%: kept as the best weights, yet it counts against patience.
        let s = run(&mut t, &schedule(7, 3, 0.01), &mut |e| seen.push((e.epoch, e.valid_loss))).unwrap();
        assert_eq!((s.epochs_run, s.best_epoch, t.kept, t.plateaus), (5, 4, Some(4), 3));
        assert_eq!(seen, (1..=5).map(|e| (e, Some(t.losses[e - 1]))).collect::<Vec<_>>());
        assert_eq!(s.history.len(), 5);
        assert_eq!(s.history[3].valid_accuracy, Some(0.5));
    }

    #[test]
    fn without_validation_every_step_runs_and_the_last_counts() {
        let mut t = Replay::new(&[]);
        let s = run(&mut t, &schedule(4, 1, 0.0), &mut |_| {}).unwrap();
        assert_eq!((s.epochs_run, s.best_epoch, t.kept), (4, 4, None));
        assert!(s.history.iter().all(|e| e.valid_loss.is_none()));
        // Patience 0 never stops early, convergence does.
        let mut t = Replay::new(&[5.0, 6.0, 7.0, 8.0, 9.0]);
        t.converge_at = Some(4);
        let s = run(&mut t, &schedule(5, 0, 0.0), &mut |_| {}).unwrap();
        assert_eq!((s.epochs_run, s.best_epoch, t.kept), (4, 1, Some(1)));
    }

    #[test]
    fn divergence_is_an_error_naming_the_setting() {
        let mut t = Replay::new(&[1.0]);
        t.train_loss = f64::NAN;
        let mut calls = 0;
        let err = run(&mut t, &schedule(3, 0, 0.0), &mut |_| calls += 1).unwrap_err().to_string();
        assert!(err.contains("diverged in epoch 1") && err.contains("x.lr"), "{err}");
        assert_eq!(calls, 0, "a diverged step is not reported as an epoch");
    }
}
