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
