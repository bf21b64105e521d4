//! Names for the dense regions of a map: k-means on the 2-D points, each cluster named after its most common
//! primary category (with the taxonomy's name when one is loaded).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use atlas_corpus::Taxonomy;

/// A label placed on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterLabel {
    /// Where the label goes: the paper of the cluster closest to its centre (always inside a dense region).
    pub x: f32,
    /// See `x`.
    pub y: f32,
    /// The most common primary category of the cluster (`cs.LG`).
    pub category: String,
    /// Its taxonomy name (`Machine Learning`), or the code without a taxonomy.
    pub name: String,
    /// Papers in the cluster.
    pub papers: usize,
    /// Share of the cluster's papers whose primary category is `category`.
    pub share: f32,
}

/// Lloyd iterations of k-means: the 2-D layout converges in far fewer on arXiv maps.
const ITERATIONS: usize = 30;

/// Labels for `clusters` k-means clusters of `xy`, `categories[i]` the primary category of point `i`. A
/// category names at most one cluster (its largest), so no name is repeated across the picture; labels come
/// largest cluster first. Deterministic (fixed seed).
pub fn cluster_labels(
    xy: &[[f32; 2]],
    categories: &[&str],
    taxonomy: Option<&Taxonomy>,
    clusters: usize,
) -> Vec<ClusterLabel> {
    let k = clusters.min(xy.len());
    if k == 0 || categories.len() != xy.len() {
        return Vec::new();
    }
    let assignment = kmeans(xy, k);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in assignment.iter().enumerate() {
        members[c].push(i);
    }
    let mut labels: Vec<ClusterLabel> = members
        .iter()
        .filter(|m| !m.is_empty())
        .map(|m| {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for &i in m {
                *counts.entry(categories[i]).or_default() += 1;
            }
            // Ties go to the alphabetically first code, so the labels do not depend on hash order.
            let (category, count) =
                counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).unwrap_or(("", 0));
            let cx = m.iter().map(|&i| f64::from(xy[i][0])).sum::<f64>() / m.len() as f64;
            let cy = m.iter().map(|&i| f64::from(xy[i][1])).sum::<f64>() / m.len() as f64;
            let anchor = m
                .iter()
                .copied()
                .min_by(|&a, &b| dist2(xy[a], cx, cy).total_cmp(&dist2(xy[b], cx, cy)))
                .unwrap_or(m[0]);
            ClusterLabel {
                x: xy[anchor][0],
                y: xy[anchor][1],
                category: category.to_string(),
                name: taxonomy.and_then(|t| t.name(category)).unwrap_or(category).to_string(),
                papers: m.len(),
                share: count as f32 / m.len() as f32,
            }
        })
        .collect();
    labels.sort_by(|a, b| b.papers.cmp(&a.papers).then(a.category.cmp(&b.category)));
    let mut seen = std::collections::HashSet::new();
    labels.retain(|l| seen.insert(l.category.clone()));
    labels
}

fn dist2(p: [f32; 2], x: f64, y: f64) -> f64 {
    (f64::from(p[0]) - x).powi(2) + (f64::from(p[1]) - y).powi(2)
}

/// k-means++ seeding, then Lloyd iterations; returns each point's cluster.
fn kmeans(xy: &[[f32; 2]], k: usize) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(0x6d61_7073);
    let mut centres: Vec<(f64, f64)> = Vec::with_capacity(k);
    let first = xy[rng.random_range(0..xy.len())];
    centres.push((f64::from(first[0]), f64::from(first[1])));
    let mut nearest: Vec<f64> = xy.iter().map(|&p| dist2(p, centres[0].0, centres[0].1)).collect();
    while centres.len() < k {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            nearest.iter().position(|&d| {
                target -= d;
                target <= 0.0
            })
        } else {
            None
        }
        .unwrap_or(rng.random_range(0..xy.len()));
        let c = (f64::from(xy[pick][0]), f64::from(xy[pick][1]));
        centres.push(c);
        nearest.iter_mut().zip(xy).for_each(|(d, &p)| *d = d.min(dist2(p, c.0, c.1)));
    }
    let mut assignment = vec![0usize; xy.len()];
    for _ in 0..ITERATIONS {
        let next: Vec<usize> = xy
            .par_iter()
            .map(|&p| {
                (0..k)
                    .min_by(|&a, &b| {
                        dist2(p, centres[a].0, centres[a].1).total_cmp(&dist2(p, centres[b].0, centres[b].1))
                    })
                    .unwrap_or(0)
            })
            .collect();
        let changed = next != assignment;
        assignment = next;
        let mut sums = vec![(0f64, 0f64, 0usize); k];
        for (&c, p) in assignment.iter().zip(xy) {
            sums[c].0 += f64::from(p[0]);
            sums[c].1 += f64::from(p[1]);
            sums[c].2 += 1;
        }
        for (c, s) in centres.iter_mut().zip(&sums) {
            if s.2 > 0 {
                *c = (s.0 / s.2 as f64, s.1 / s.2 as f64);
            }
        }
        if !changed {
            break;
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dense_region_is_named_after_its_main_category() {
        let mut xy = Vec::new();
        let mut cats = Vec::new();
        for i in 0..60 {
            let t = i as f32 * 0.01;
            xy.push([t, t]);
            // 50 of 60 are cs.LG in the first blob, the rest noise.
            cats.push(if i < 50 { "cs.LG" } else { "stat.ML" });
            xy.push([100.0 + t, 50.0 - t]);
            cats.push("hep-th");
        }
        let tax = Taxonomy::parse(
            "code\tname\tarchive\tgroup\tactive\tcanonical\n\
             cs.LG\tMachine Learning\tcs\tComputer Science\t1\tcs.LG\n",
            std::path::Path::new("t.tsv"),
        )
        .unwrap();
        let labels = cluster_labels(&xy, &cats, Some(&tax), 2);
        assert_eq!(labels.len(), 2);
        let lg = labels.iter().find(|l| l.category == "cs.LG").unwrap();
        assert_eq!(lg.name, "Machine Learning");
        assert_eq!(lg.papers, 60);
        assert!((lg.share - 50.0 / 60.0).abs() < 1e-6);
        assert!(lg.x < 1.0 && lg.y < 1.0, "the label sits in its blob: {lg:?}");
        let th = labels.iter().find(|l| l.category == "hep-th").unwrap();
        // No taxonomy entry: the code is the name.
        assert_eq!(th.name, "hep-th");
        assert!(th.x >= 100.0);
    }

    #[test]
    fn a_category_names_only_its_largest_cluster() {
        let xy: Vec<[f32; 2]> =
            (0..40).map(|i| if i < 30 { [0.0, i as f32 * 0.01] } else { [50.0, 0.0] }).collect();
        let cats = vec!["math.AG"; 40];
        let labels = cluster_labels(&xy, &cats, None, 2);
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].papers, 30);
    }

    #[test]
    fn mismatched_or_empty_inputs_give_no_labels() {
        assert!(cluster_labels(&[], &[], None, 5).is_empty());
        assert!(cluster_labels(&[[0.0, 0.0]], &[], None, 5).is_empty());
    }
}
