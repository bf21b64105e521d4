//! The paper metadata every on-disk index carries, with what filtering and top-k selection need.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use atlas_corpus::Paper;

use crate::{Filter, IndexError, PaperMeta};

/// How many authors [`PaperMeta`] keeps.
pub const MAX_AUTHORS: usize = 3;

impl PaperMeta {
    /// The metadata of an ingested paper: its first [`MAX_AUTHORS`] authors (split on `,` and ` and `).
    pub fn from_paper(p: &Paper) -> PaperMeta {
        PaperMeta {
            id: p.id.clone(),
            title: p.title.clone(),
            categories: p.categories.clone(),
            year: p.year(),
            authors: first_authors(&p.authors, MAX_AUTHORS),
        }
    }
}

impl From<&Paper> for PaperMeta {
    fn from(p: &Paper) -> Self {
        PaperMeta::from_paper(p)
    }
}

/// The first `n` names of an arXiv author string ("A. One, B. Two and C. Three").
fn first_authors(authors: &str, n: usize) -> Vec<String> {
    authors
        .split(',')
        .flat_map(|part| part.split(" and "))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .take(n)
        .map(str::to_string)
        .collect()
}

/// The papers of an index with `id → row` lookup and categories interned for fast filtering: a filtered
/// scan tests each row with a few integer comparisons instead of string matches.
#[derive(Debug, Clone)]
pub(crate) struct PaperTable {
    pub papers: Vec<PaperMeta>,
    by_id: HashMap<String, u32>,
    category_codes: HashMap<String, u16>,
    /// Category codes of row `i` are `row_cats[cat_offsets[i]..cat_offsets[i + 1]]`.
    row_cats: Vec<u16>,
    cat_offsets: Vec<u32>,
    /// Year of each row, 0 when unknown.
    years: Vec<u16>,
}

impl PaperTable {
    /// Builds the table, refusing duplicate ids (a row number must name one paper).
    pub fn new(papers: Vec<PaperMeta>) -> Result<Self, IndexError> {
        let mut t = PaperTable {
            papers: Vec::new(),
            by_id: HashMap::new(),
            category_codes: HashMap::new(),
            row_cats: Vec::new(),
            cat_offsets: vec![0],
            years: Vec::new(),
        };
        t.reserve(papers.len());
        for p in papers {
            t.push(p)?;
        }
        Ok(t)
    }

    fn reserve(&mut self, n: usize) {
        self.papers.reserve(n);
        self.by_id.reserve(n);
        self.years.reserve(n);
        self.cat_offsets.reserve(n);
    }

    /// Appends one paper as the next row.
    pub fn push(&mut self, p: PaperMeta) -> Result<(), IndexError> {
        let row = u32::try_from(self.papers.len())
            .map_err(|_| IndexError::Invalid("more than 4 billion papers in one index".into()))?;
        if self.by_id.insert(p.id.clone(), row).is_some() {
            return Err(IndexError::Invalid(format!("paper id `{}` appears twice", p.id)));
        }
        for c in &p.categories {
            let code = match self.category_codes.get(c) {
                Some(&code) => code,
                None => {
                    let code = u16::try_from(self.category_codes.len())
                        .map_err(|_| IndexError::Invalid("more than 65,536 distinct categories".into()))?;
                    self.category_codes.insert(c.clone(), code);
                    code
                }
            };
            self.row_cats.push(code);
        }
        self.cat_offsets.push(self.row_cats.len() as u32);
        self.years.push(p.year.unwrap_or(0));
        self.papers.push(p);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.papers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.papers.is_empty()
    }

    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).map(|&r| r as usize)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Translates `filter` into codes of this table. `None` when the filter restricts nothing.
    pub fn compile(&self, filter: &Filter) -> Option<CompiledFilter<'_>> {
        if filter.is_empty() {
            return None;
        }
        let categories = filter.categories.as_ref().map(|wanted| {
            let mut allowed = vec![false; self.category_codes.len()];
            for w in wanted {
                if let Some(&c) = self.category_codes.get(w) {
                    allowed[c as usize] = true;
                }
            }
            allowed
        });
        let years = filter.years.as_ref().map(|r| (*r.start(), *r.end()));
        Some(CompiledFilter { table: self, categories, years })
    }

    /// Rows passing `filter` (all rows for `None`).
    pub fn matching_rows(&self, filter: Option<&CompiledFilter<'_>>) -> Vec<u32> {
        let n = self.len() as u32;
        match filter {
            None => (0..n).collect(),
            Some(f) => (0..n).filter(|&r| f.matches(r as usize)).collect(),
        }
    }

    /// Primary-category counts.
    pub fn primary_counts(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for p in &self.papers {
            if let Some(c) = p.categories.first() {
                *m.entry(c.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Rough heap size in bytes.
    pub fn memory_bytes(&self) -> u64 {
        let strings: usize = self
            .papers
            .iter()
            .map(|p| {
                p.id.len() * 2
                    + p.title.len()
                    + p.categories.iter().map(|c| c.len() + 24).sum::<usize>()
                    + p.authors.iter().map(|a| a.len() + 24).sum::<usize>()
            })
            .sum();
        (strings
            + self.papers.len() * (std::mem::size_of::<PaperMeta>() + 40)
            + self.row_cats.len() * 2
            + self.cat_offsets.len() * 4
            + self.years.len() * 2) as u64
    }
}

/// A [`Filter`] resolved against one [`PaperTable`].
#[derive(Debug)]
pub(crate) struct CompiledFilter<'a> {
    table: &'a PaperTable,
    /// Allowed category codes; `None` = any category.
    categories: Option<Vec<bool>>,
    /// Inclusive year range; rows without a year fail it.
    years: Option<(u16, u16)>,
}

impl CompiledFilter<'_> {
    #[inline]
    pub fn matches(&self, row: usize) -> bool {
        let t = self.table;
        if let Some((lo, hi)) = self.years {
            let y = t.years[row];
            if y == 0 || y < lo || y > hi {
                return false;
            }
        }
        if let Some(allowed) = &self.categories {
            let cats = &t.row_cats[t.cat_offsets[row] as usize..t.cat_offsets[row + 1] as usize];
            if !cats.iter().any(|&c| allowed[c as usize]) {
                return false;
            }
        }
        true
    }
}

/// One candidate: score, then the lower row wins ties so results are deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub score: f32,
    pub row: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    /// "Better" is greater: higher score, then lower row.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.row.cmp(&self.row))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `k` best candidates seen: a min-heap of the current top whose root is the one to beat.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<std::cmp::Reverse<Scored>>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    #[inline]
    pub fn push(&mut self, score: f32, row: u32) {
        let s = Scored { score, row };
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(s));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if s > worst.0 {
                *worst = std::cmp::Reverse(s);
            }
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        // Sorting `Reverse` ascending puts the greatest (best) inner value first.
        let mut v: Vec<_> = self.heap.into_vec();
        v.sort();
        v.into_iter().map(|r| r.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, cats: &[&str], year: Option<u16>) -> PaperMeta {
        PaperMeta {
            id: id.into(),
            title: id.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            year,
            authors: vec![],
        }
    }

    #[test]
    fn compiled_filter_agrees_with_filter_matches() {
        let papers = vec![
            meta("a", &["cs.LG", "stat.ML"], Some(2019)),
            meta("b", &["hep-th"], Some(2001)),
            meta("c", &["cs.CL"], None),
            meta("d", &["stat.ML"], Some(2021)),
        ];
        let t = PaperTable::new(papers.clone()).unwrap();
        let filters = [
            Filter { categories: Some(vec!["stat.ML".into()]), years: None },
            Filter { categories: Some(vec!["nope".into()]), years: None },
            Filter { categories: None, years: Some(2000..=2019) },
            Filter { categories: Some(vec!["cs.CL".into(), "stat.ML".into()]), years: Some(2020..=2030) },
        ];
        for f in &filters {
            let c = t.compile(f).unwrap();
            for (row, p) in papers.iter().enumerate() {
                assert_eq!(c.matches(row), f.matches(p), "{f:?} on {}", p.id);
            }
        }
        assert!(t.compile(&Filter::default()).is_none());
        assert!(PaperTable::new(vec![meta("a", &["x"], None), meta("a", &["y"], None)]).is_err());
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_row() {
        let mut t = TopK::new(3);
        for (s, r) in [(0.1, 0), (0.9, 1), (0.5, 2), (0.9, 3), (0.2, 4), (0.5, 5)] {
            t.push(s, r);
        }
        let got: Vec<_> = t.into_sorted().iter().map(|s| s.row).collect();
        assert_eq!(got, vec![1, 3, 2]);
    }

    #[test]
    fn authors_are_split_and_capped() {
        assert_eq!(
            first_authors("A. One, B. Two and C. Three, D. Four", 3),
            vec!["A. One", "B. Two", "C. Three"]
        );
        assert!(first_authors("", 3).is_empty());
    }
}
