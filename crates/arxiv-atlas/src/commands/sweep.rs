//! `arxiv-atlas sweep`: plan, validate and run a sweep (atlas-sweep), printing one line per trial and the
//! ranked table.

use anyhow::Result;
use atlas_sweep::{Goal, Progress, SearchSpace, Strategy, SweepPlan, TrialStatus};

use crate::cli::{GoalArg, StrategyArg, SweepArgs};
use crate::output;

pub fn sweep(a: SweepArgs) -> Result<()> {
    let space = SearchSpace::parse(&a.overrides)?;
    let config_dir = a.config_dir.clone();
    atlas_sweep::validate(&space, &|args| atlas_config::load_for_process(config_dir.as_deref(), args))?;
    let plan = SweepPlan {
        space,
        strategy: match a.strategy {
            StrategyArg::Grid => Strategy::Grid,
            StrategyArg::Random => Strategy::Random,
        },
        trials: a.trials,
        seed: a.seed,
        goal: match a.goal {
            Some(GoalArg::Max) => Goal::Max,
            Some(GoalArg::Min) => Goal::Min,
            None => Goal::for_metric(&a.metric),
        },
        metric: a.metric,
    };
    let name = format!("sweep-{}", plan.key());
    let dir = match a.dir {
        Some(d) => d,
        None => {
            let base = atlas_config::load_for_process(a.config_dir.as_deref(), &plan.space.fixed)?;
            base.config.run.root.join("sweeps").join(&name)
        }
    };
    let total = plan.space.plan(plan.strategy, plan.trials, plan.seed)?.len();
    eprintln!("sweep {} ({total} trials, {}): {}", dir.display(), plan.strategy.as_str(), plan.metric);
    let mut trial = atlas_sweep::train_trial(a.config_dir, name);
    let state = atlas_sweep::run(&dir, &plan, &mut trial, &mut |p| match p {
        Progress::Skipped(t) => {
            eprintln!("trial {}/{total} {} already {:?}", t.number, output::sweep::point(t), t.status)
        }
        Progress::Started(t) => eprintln!("trial {}/{total} {} …", t.number, output::sweep::point(t)),
        Progress::Done(t) => eprintln!("{}", output::sweep::progress_line(t, total, &plan.metric)),
    })?;
    if a.json {
        println!("{}", serde_json::json!({"dir": dir, "state": state}));
    } else {
        output::sweep::print_table(&state);
        let failed = state.trials.iter().filter(|t| t.status == TrialStatus::Failed).count();
        if failed > 0 {
            eprintln!(
                "{failed} trial(s) failed; their errors are in {}",
                dir.join(atlas_sweep::STATE_FILE).display()
            );
        }
        println!("sweep folder: {}", dir.display());
    }
    Ok(())
}
