//! The loop shared by the dense trainers: run an epoch (or an L-BFGS iteration), measure the validation
//! set, keep the best weights, stop early, report.

use std::time::Instant;

use rayon::ThreadPool;

use super::network::Network;
use super::scaler::Standardizer;
use crate::error::ClassifyError;
use crate::train::{in_pool, EpochStats, FitSummary};

/// One optimiser, seen by [`fit_loop`] as a sequence of steps over the training data.
pub(crate) trait StepTrainer: Send {
    /// Runs step `step` (1-based: an epoch, or an L-BFGS iteration) and returns the mean training
    /// cross-entropy it measured. Runs inside the training thread pool.
    fn step(&mut self, step: usize) -> f64;
    /// The current network, on standardised input.
    fn network(&self) -> &Network;
    /// Called after a step that did not lower the best validation loss.
    fn on_plateau(&mut self) {}
    /// Why the optimiser cannot make further progress, if so (checked after every step).
    fn converged(&self) -> Option<String> {
        None
    }
}

/// What [`fit_loop`] needs besides the trainer.
pub(crate) struct LoopSettings<'a> {
    /// Most steps.
    pub(crate) max_steps: usize,
    /// Steps without a lower validation loss before stopping (0: never stop early).
    pub(crate) patience: usize,
    /// A step counts as an improvement (for `patience` and [`StepTrainer::on_plateau`]) only if it
    /// lowers the best validation loss by more than this fraction; the weights of the lowest loss are
    /// kept either way.
    pub(crate) min_improvement: f64,
    /// Validation embeddings and labels, if any (a non-empty set).
    pub(crate) valid: Option<(&'a [f32], &'a [u32])>,
    /// The standardisation the trainer's network expects.
    pub(crate) scaler: &'a Standardizer,
    /// Log every this many steps at `info` level (the rest at `debug`).
    pub(crate) log_every: usize,
    /// The parameter section to name when training diverges, e.g. `mlp.learning_rate`.
    pub(crate) lower_hint: &'a str,
}

/// Runs `trainer` until `max_steps`, convergence or early stopping. Returns the network on raw input
/// (the standardisation folded in) of the step with the lowest validation loss, or of the last step
/// without validation data. `observer` sees every step's figures on the calling thread.
pub(crate) fn fit_loop(
    pool: Option<&ThreadPool>,
    trainer: &mut dyn StepTrainer,
    settings: &LoopSettings<'_>,
    observer: &mut dyn FnMut(&EpochStats),
) -> Result<(Network, FitSummary), ClassifyError> {
    let mut best: Option<(f64, usize, Network)> = None;
    let mut since_best = 0;
    let mut history = Vec::new();
    for step in 1..=settings.max_steps {
        let t0 = Instant::now();
        let train_loss = in_pool(pool, || trainer.step(step));
        if !train_loss.is_finite() {
            return Err(ClassifyError::InvalidParams(format!(
                "training diverged at step {step} (loss {train_loss}); lower {}",
                settings.lower_hint
            )));
        }
        let evaluated = settings.valid.map(|(vx, vy)| {
            let net = trainer.network().fold(settings.scaler);
            let (loss, acc) = in_pool(pool, || net.evaluate(vx, vy));
            (loss, acc, net)
        });
        let stats = EpochStats {
            epoch: step,
            train_loss,
            valid_loss: evaluated.as_ref().map(|e| e.0),
            valid_accuracy: evaluated.as_ref().map(|e| e.1),
            seconds: t0.elapsed().as_secs_f64(),
        };
        let line = match (stats.valid_loss, stats.valid_accuracy) {
            (Some(l), Some(a)) => format!(
                "step {step}: train loss {train_loss:.4}, validation loss {l:.4}, accuracy {a:.4} ({:.2}s)",
                stats.seconds
            ),
            _ => format!("step {step}: train loss {train_loss:.4} ({:.2}s)", stats.seconds),
        };
        if step % settings.log_every.max(1) == 0 {
            tracing::info!("{line}");
        } else {
            tracing::debug!("{line}");
        }
        observer(&stats);
        history.push(stats);
        if let Some((loss, _, net)) = evaluated {
            let improved = best.as_ref().is_none_or(|b| loss < b.0 * (1.0 - settings.min_improvement));
            if best.as_ref().is_none_or(|b| loss < b.0) {
                best = Some((loss, step, net));
            }
            if improved {
                since_best = 0;
            } else {
                since_best += 1;
                trainer.on_plateau();
                if settings.patience > 0 && since_best >= settings.patience {
                    tracing::info!("early stopping: no better validation loss for {since_best} steps");
                    break;
                }
            }
        }
        if let Some(why) = trainer.converged() {
            tracing::info!("converged after {step} steps: {why}");
            break;
        }
    }
    let epochs_run = history.len();
    let (net, best_epoch) = match best {
        Some((_, step, net)) => (net, step),
        None => (trainer.network().fold(settings.scaler), epochs_run),
    };
    Ok((net, FitSummary { epochs_run, best_epoch, history }))
}
