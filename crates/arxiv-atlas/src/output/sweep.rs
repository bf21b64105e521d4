//! The sweep's progress lines and its ranked table.

use atlas_sweep::{SweepState, Trial, TrialStatus};
use comfy_table::Cell;

use super::{num, table};

/// `key=value key=value` of a trial.
pub fn point(t: &Trial) -> String {
    t.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// One line per finished trial: its values, the metric (or the error) and the time.
pub fn progress_line(t: &Trial, total: usize, metric: &str) -> String {
    let secs = t.seconds.unwrap_or(0.0);
    match (t.status, t.metric) {
        (TrialStatus::Finished, Some(m)) => {
            format!("trial {}/{total} {}: {metric} {m:.4} ({secs:.1} s)", t.number, point(t))
        }
        _ => format!(
            "trial {}/{total} {}: failed ({secs:.1} s): {}",
            t.number,
            point(t),
            t.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// The finished trials sorted by the metric, best first and marked.
pub fn print_table(state: &SweepState) {
    let keys: Vec<&str> = state.plan.space.params.iter().map(|p| p.key.as_str()).collect();
    let mut header = vec!["", "trial"];
    header.extend(&keys);
    header.push(&state.plan.metric);
    header.push("run");
    let mut t = table(&header);
    for (rank, trial) in state.ranked().into_iter().enumerate() {
        let mut row = vec![Cell::new(if rank == 0 { "best" } else { "" }), num(trial.number as f64)];
        row.extend(trial.params.iter().map(|(_, v)| Cell::new(v)));
        row.push(num(trial.metric.unwrap_or(f64::NAN)));
        row.push(Cell::new(trial.run_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default()));
        t.add_row(row);
    }
    let goal = match state.plan.goal {
        atlas_sweep::Goal::Max => "higher is better",
        atlas_sweep::Goal::Min => "lower is better",
    };
    println!("{} ({goal})\n{t}", state.plan.metric);
}
