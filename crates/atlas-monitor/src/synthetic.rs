//! Synthetic shifts of a set of papers, for checking that each drift test catches what it should (tests and
//! the `measure` example use the same ones).

use atlas_corpus::Paper;
use rand::seq::IndexedRandom;
use rand::SeedableRng;

/// `n` papers drawn at random without replacement (all of them when there are fewer).
pub fn random_window(papers: &[Paper], n: usize, seed: u64) -> Vec<Paper> {
    papers.choose_multiple(&mut rand::rngs::StdRng::seed_from_u64(seed), n).cloned().collect()
}

/// Only the papers whose primary category belongs to `archive` (`math` keeps `math.AG`, `math.CO` …).
pub fn one_archive(papers: &[Paper], archive: &str) -> Vec<Paper> {
    let prefix = format!("{archive}.");
    papers.iter().filter(|p| p.primary() == archive || p.primary().starts_with(&prefix)).cloned().collect()
}

/// The papers with every abstract cut to its first `words` words.
pub fn cut_abstracts(papers: &[Paper], words: usize) -> Vec<Paper> {
    papers
        .iter()
        .map(|p| Paper {
            abstract_text: p.abstract_text.split_whitespace().take(words).collect::<Vec<_>>().join(" "),
            ..p.clone()
        })
        .collect()
}

/// One current window of the measured cases.
#[derive(Debug, Clone)]
pub struct Case {
    /// What it is (`validation vs test`, `test window 3`, `recent-2025 window` …).
    pub name: String,
    /// Its papers.
    pub papers: Vec<Paper>,
}

/// The current windows docs/monitoring.md measures against a model's reference (its validation split):
/// the whole `test` split, `windows` random 1,000-paper windows of it, `recent` in full (when `recent_all`) and
/// one 1,000-paper window of it, the `math` archive only, and abstracts cut to 20 words. Fixed seeds, so every
/// tool that is measured (the `measure` example, the Evidently comparison in `bench/`) sees the same papers.
pub fn measured_cases(test: &[Paper], recent: &[Paper], windows: u64, recent_all: bool) -> Vec<Case> {
    let case = |name: String, papers: Vec<Paper>| Case { name, papers };
    let mut cases = vec![case("validation vs test".into(), test.to_vec())];
    cases.extend(
        (0..windows).map(|seed| case(format!("test window {seed}"), random_window(test, 1000, seed))),
    );
    if recent_all {
        cases.push(case("recent-2025 (all)".into(), recent.to_vec()));
    }
    cases.push(case("recent-2025 window".into(), random_window(recent, 1000, 1)));
    cases.push(case("one archive only (math)".into(), random_window(&one_archive(test, "math"), 1000, 2)));
    cases.push(case("abstracts cut to 20 words".into(), cut_abstracts(&random_window(test, 1000, 3), 20)));
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_do_what_they_say() {
        let mut a = Paper::from_text("t", "one two three four five");
        a.categories = vec!["math.CO".into()];
        let mut b = a.clone();
        b.categories = vec!["mathph".into()];
        assert_eq!(one_archive(&[a.clone(), b.clone()], "math"), vec![a.clone()]);
        assert_eq!(cut_abstracts(&[a.clone()], 2)[0].abstract_text, "one two");
        assert_eq!(random_window(&[a, b], 5, 1).len(), 2);
    }
}
