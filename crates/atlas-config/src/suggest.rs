//! "Did you mean …?" suggestions for misspelt keys and options.

/// Edit distance between two strings, by characters: insertions, deletions, substitutions and swaps of two
/// neighbours (the commonest typo) each cost one ("optimal string alignment" distance).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let mut d = (prev[j] + usize::from(a[i] != b[j])).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most a third of the
/// word's length in edits (and at least one edit allowed), ties broken by the candidates' order.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= budget)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("max_sample", "max_samples"), 1);
        assert_eq!(edit_distance("epochs", "epochs"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("inptu", "input"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn closest_only_suggests_plausible_typos() {
        let keys = ["max_samples", "max_per_category", "input"];
        assert_eq!(closest("max_sample", keys), Some("max_samples"));
        assert_eq!(closest("inptu", keys), Some("input"));
        assert_eq!(closest("learning_rate", keys), None);
    }
}
