//! Progress of long work (ingest, embed, index build, train, sweep, drift, map) for the person waiting on it.
//!
//! On a terminal it is an `indicatif` bar on stderr. Anywhere else — a log file, CI, a container — a bar would
//! be either invisible or thousands of carriage returns, so the same calls write a plain `tracing` line at
//! most every tenth of the work or every 30 seconds, whichever comes first, with the rate and time left.
//! Libraries take a [`Progress`] and never ask whether stderr is a terminal themselves; a server or a test
//! passes [`Progress::hidden`].
#![warn(missing_docs)]

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is written at most, when less than a tenth of the work got done in between.
const PLAIN_EVERY: Duration = Duration::from_secs(30);

/// Where the progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A bar on stderr (a terminal).
    Bar,
    /// Plain log lines through `tracing` (logs, CI).
    Lines,
    /// Nothing (servers, tests, `--quiet`).
    Hidden,
}

/// What the program chose for the whole process (see [`Display::configure`]).
static CONFIGURED: OnceLock<Display> = OnceLock::new();

impl Display {
    /// Sets the display of every [`Display::configured`] call in this process; the binary calls it once at
    /// start-up (`--quiet` → [`Display::Hidden`]). Later calls are ignored: the first choice holds.
    pub fn configure(display: Display) {
        let _ = CONFIGURED.set(display);
    }

    /// The display the program configured, else [`Display::detect`].
    pub fn configured() -> Self {
        CONFIGURED.get().copied().unwrap_or_else(Display::detect)
    }

    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Lines
        }
    }
}

/// A unit of work, for the bar and the lines (`papers`, `vectors`, `trials` …).
#[derive(Debug)]
pub struct Progress {
    what: String,
    unit: String,
    total: AtomicU64,
    done: AtomicU64,
    start: Instant,
    bar: Option<ProgressBar>,
    /// Plain mode: when the last line was written and at which count.
    last: Option<Mutex<(Instant, u64)>>,
}

impl Progress {
    /// Progress of `total` units of `unit` (plural, e.g. `"papers"`) for the step named `what`.
    pub fn new(what: &str, total: u64, unit: &str, display: Display) -> Self {
        let bar = (display == Display::Bar).then(|| {
            let bar = ProgressBar::new(total);
            let template = format!(
                "{what} [{{elapsed_precise}}] [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}})"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let now = Instant::now();
        Progress {
            what: what.to_string(),
            unit: unit.to_string(),
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            start: now,
            bar,
            last: (display == Display::Lines).then(|| Mutex::new((now, 0))),
        }
    }

    /// Progress that shows nothing (still counts, for [`Progress::done`]).
    pub fn hidden() -> Self {
        Progress::new("", 0, "", Display::Hidden)
    }

    /// `n` more units done. Cheap enough to call per item from many threads: an atomic add, and in plain
    /// mode a `try_lock` and a clock read.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if let Some(last) = &self.last {
            let step = (self.total.load(Ordering::Relaxed) / 10).max(1);
            // try_lock: a thread that finds another one writing the line skips, it never waits.
            if let Ok(mut last) = last.try_lock() {
                let due = done / step > last.1 / step || last.0.elapsed() >= PLAIN_EVERY;
                if due && done > last.1 {
                    *last = (Instant::now(), done);
                    tracing::info!("{}", self.line(done));
                }
            }
        }
    }

    /// Sets the total once it is known (e.g. after the inputs were read).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Time since the progress was created.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Ends the bar (it is cleared from the terminal; the command's summary follows) and returns the elapsed
    /// time.
    pub fn finish(&self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.elapsed()
    }

    /// The plain line for `done` units: `index build: 30,000/100,000 vectors (30%), 2,512/s, 28 s left`.
    fn line(&self, done: u64) -> String {
        let total = self.total.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let pct = if total > 0 { 100.0 * done as f64 / total as f64 } else { 100.0 };
        let left = if rate > 0.0 && total > done {
            format!(", {} left", human_secs((total - done) as f64 / rate))
        } else {
            String::new()
        };
        format!(
            "{}: {}/{} {} ({pct:.0}%), {}/s{left}",
            self.what,
            thousands(done),
            thousands(total),
            self.unit,
            thousands(rate.round() as u64)
        )
    }
}

fn human_secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_in_every_mode() {
        for display in [Display::Bar, Display::Lines, Display::Hidden] {
            let p = Progress::new("test", 10_000, "items", display);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| (0..2_500).for_each(|_| p.inc(1)));
                }
            });
            assert_eq!(p.done(), 10_000, "{display:?}");
            p.finish();
        }
    }

    #[test]
    fn plain_lines_say_count_share_rate_and_time_left() {
        let p = Progress::new("index build", 100_000, "vectors", Display::Lines);
        let line = p.line(30_000);
        assert!(line.starts_with("index build: 30,000/100,000 vectors (30%), "), "{line}");
        assert!(line.contains("/s"), "{line}");
        assert!(line.ends_with(" left"), "{line}");
        assert!(!p.line(100_000).contains("left"));
    }

    #[test]
    fn numbers_are_grouped_and_durations_readable() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(2_400_000), "2,400,000");
        assert_eq!(human_secs(42.0), "42 s");
        assert_eq!(human_secs(600.0), "10 min");
        assert_eq!(human_secs(7200.0), "2.0 h");
    }
}
