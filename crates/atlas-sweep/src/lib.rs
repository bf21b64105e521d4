//! `atlas-sweep`: hyper-parameter sweeps over configuration overrides.
//!
//! `arxiv-atlas sweep experiment=embedding_mlp 'experiment.mlp.learning_rate=choice(1e-3,3e-4)'
//! 'experiment.mlp.hidden=choice(256,512)' --strategy grid` trains one run per combination:
//!
//! * [`SearchSpace::parse`] splits the arguments into fixed overrides and `KEY=choice(A,B,…)` parameters;
//!   a malformed space is an error naming the key, and [`validate`] resolves every value against the
//!   configuration before anything trains, so a misspelt key or a bad value is caught up front, by name.
//! * [`SearchSpace::plan`] picks the trials: the whole grid (or its first `--trials`), or `--trials`
//!   distinct combinations at random (seeded).
//! * [`run`] trains them one by one — each an ordinary training run, in the runs folder and the tracker —
//!   and rewrites the sweep folder's `sweep.json` atomically after every trial. A sweep that is killed or
//!   interrupted resumes where it stopped when run again: finished trials are kept, the rest run.
//! * [`SweepState::ranked`] orders the finished trials by the validation metric, best first.

#![warn(missing_docs)]

mod error;
mod run;
mod space;

pub use error::SweepError;
pub use run::{
    run, train_trial, validate, Goal, Progress, SweepPlan, SweepState, Trial, TrialFn, TrialOutcome,
    TrialStatus, STATE_FILE,
};
pub use space::{overrides, Param, Point, SearchSpace, Strategy, MAX_COMBINATIONS};
