//! The dense trainers (Adam, L-BFGS) plugged into the crate's shared training loop
//! ([`crate::early_stopping`]): each step runs in the training pool, and validation and the kept weights
//! use the network with the standardisation folded in.

use rayon::ThreadPool;

use super::network::Network;
use super::scaler::Standardizer;
use crate::early_stopping::{self, EpochStats, FitSummary, Schedule, Trainer};
use crate::error::ClassifyError;
use crate::train::in_pool;

/// One dense optimiser, seen by [`fit_loop`] as a sequence of steps over the training data.
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

/// Runs `trainer` until `max_steps`, convergence or early stopping (the crate's shared loop,
/// [`early_stopping::run`]). Returns the network on raw input (the standardisation folded in) of the step
/// with the lowest validation loss, or of the last step without validation data. `observer` sees every
/// step's figures on the calling thread.
pub(crate) fn fit_loop(
    pool: Option<&ThreadPool>,
    trainer: &mut dyn StepTrainer,
    settings: &LoopSettings<'_>,
    observer: &mut dyn FnMut(&EpochStats),
) -> Result<(Network, FitSummary), ClassifyError> {
    let schedule = Schedule {
        max_steps: settings.max_steps,
        patience: settings.patience,
        min_improvement: settings.min_improvement,
        unit: "step",
        log_every: settings.log_every,
        lower_hint: settings.lower_hint,
    };
    let mut run = DenseRun {
        pool,
        trainer,
        valid: settings.valid,
        scaler: settings.scaler,
        measured: None,
        best: None,
    };
    let summary = early_stopping::run(&mut run, &schedule, observer)?;
    let net = match run.best {
        Some(net) => net,
        None => run.trainer.network().fold(settings.scaler),
    };
    Ok((net, summary))
}

/// A [`StepTrainer`] as the shared loop sees it: steps run in the training pool, and the validation set is
/// measured on the network with the standardisation folded in, which is also the copy kept as the best.
struct DenseRun<'a, 'b> {
    pool: Option<&'a ThreadPool>,
    trainer: &'a mut dyn StepTrainer,
    valid: Option<(&'b [f32], &'b [u32])>,
    scaler: &'b Standardizer,
    /// The folded network of the last validation pass, until it is kept or replaced.
    measured: Option<Network>,
    best: Option<Network>,
}

impl Trainer for DenseRun<'_, '_> {
    fn step(&mut self, step: usize) -> f64 {
        let trainer = &mut *self.trainer;
        in_pool(self.pool, || trainer.step(step))
    }

    fn validate(&mut self) -> Option<(f64, f64)> {
        let (vx, vy) = self.valid?;
        let net = self.trainer.network().fold(self.scaler);
        let measured = in_pool(self.pool, || net.evaluate(vx, vy));
        self.measured = Some(net);
        Some(measured)
    }

    fn keep_best(&mut self) {
        self.best = self.measured.take();
    }

    fn on_plateau(&mut self) {
        self.trainer.on_plateau();
    }

    fn converged(&self) -> Option<String> {
        self.trainer.converged()
    }
}
