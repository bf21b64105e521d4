//! Tests against the real-data kit in `../shared/data` (skipped when it is absent, failing instead where
//! `ATLAS_REQUIRE_DATA` is set).

use std::collections::BTreeMap;
use std::path::PathBuf;

use atlas_corpus::{
    ingest, load_papers, read_papers, split_of, Dataset, IngestOptions, Paper, ReadOptions, Split,
};

/// The kit's `data` folder once every file `test` reads from it is readable; `None` after a skip, a panic where
/// `ATLAS_REQUIRE_DATA` is set (`atlas_testkit`).
fn kit(test: &str, files: &[&str]) -> Option<PathBuf> {
    for f in files {
        atlas_testkit::shared_file(test, &format!("data/{f}"))?;
    }
    Some(atlas_testkit::shared_root().join("data"))
}

fn split_counts(papers: &[Paper]) -> [usize; 3] {
    let mut c = [0; 3];
    for p in papers {
        c[split_of(&p.id).index()] += 1;
    }
    c
}

#[test]
fn arxiv_100k_gives_the_protocol_split_counts() {
    let Some(kit) =
        kit("arxiv_100k_gives_the_protocol_split_counts", &["arxiv-100k.jsonl.gz", "taxonomy.tsv"])
    else {
        return;
    };
    let path = kit.join("arxiv-100k.jsonl.gz");
    let mut counts = [0usize; 3];
    let mut with_date = 0;
    let report = read_papers(&path, &ReadOptions::default(), |p| {
        counts[split_of(&p.id).index()] += 1;
        with_date += usize::from(p.year().is_some());
    })
    .unwrap();
    assert_eq!(counts, [80281, 9845, 9874]);
    assert_eq!(report.records_read, 100_000);
    assert_eq!(report.records_kept, 100_000);
    assert_eq!(report.skipped_total(), 0);
    assert_eq!(report.bytes_on_disk, std::fs::metadata(&path).unwrap().len());
    assert_eq!(with_date, 100_000);

    // Through ingest and the dataset store: the same counts, verified from the manifest.
    let out = tempfile::tempdir().unwrap();
    let opts = IngestOptions { taxonomy: Some(kit.join("taxonomy.tsv")), ..Default::default() };
    let r = ingest(&[path], out.path(), &opts).unwrap();
    assert_eq!((r.written.train, r.written.validation, r.written.test), (80281, 9845, 9874));
    assert_eq!(r.totals.unknown_category_records, 0);
    assert_eq!(r.categories.len(), 172, "README: 172 primary categories");
    let ds = Dataset::open(out.path()).unwrap();
    assert_eq!(ds.counts(), r.written);
    assert_eq!(ds.categories().iter().find(|c| c.code == "math.NA").unwrap().count, 1199);
    assert_eq!(
        ds.categories().iter().find(|c| c.code == "cs.CL").unwrap().name.as_deref(),
        Some("Computation and Language")
    );
    let test = ds.read(Split::Test).unwrap();
    assert_eq!(test.len(), 9874);
    assert!(test.iter().all(|p| split_of(&p.id) == Split::Test));
}

#[test]
fn kaggle_format_200_raw_lines_are_normalised() {
    let Some(kit) =
        kit("kaggle_format_200_raw_lines_are_normalised", &["kaggle-format-200.json", "taxonomy.tsv"])
    else {
        return;
    };
    let path = kit.join("kaggle-format-200.json");
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(report.records_read, 200);
    assert_eq!(report.records_kept, 200);
    assert_eq!(report.skipped_total(), 0);
    assert_eq!(papers.len(), 200);
    // Counts computed with the peers' common.py split rule.
    assert_eq!(split_counts(&papers), [158, 23, 19]);

    // The raw file keeps line breaks inside titles (68 records) and abstracts (all 200).
    let raw: Vec<serde_json::Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let with_breaks = raw.iter().filter(|r| r["title"].as_str().unwrap().contains('\n')).count();
    assert_eq!(with_breaks, 68);
    for (p, r) in papers.iter().zip(&raw) {
        assert_eq!(p.id, r["id"].as_str().unwrap());
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(p.title, collapse(r["title"].as_str().unwrap()));
        assert_eq!(p.abstract_text, collapse(r["abstract"].as_str().unwrap()));
        assert!(!p.title.contains('\n') && !p.abstract_text.contains('\n'));
        assert_eq!(p.categories_joined(), r["categories"].as_str().unwrap());
    }
    let first = &papers[0];
    assert_eq!(first.id, "0704.0001");
    assert_eq!(
        first.title,
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    );
    // v1 `created` ("Mon, 2 Apr 2007 19:18:42 GMT"), not `update_date` (2008-11-26).
    assert_eq!(first.date.as_deref(), Some("2007-04-02"));
    assert!(first.abstract_text.starts_with("A fully differential calculation in perturbative quantum"));

    let out = tempfile::tempdir().unwrap();
    let opts = IngestOptions { taxonomy: Some(kit.join("taxonomy.tsv")), ..Default::default() };
    let r = ingest(&[path], out.path(), &opts).unwrap();
    assert_eq!((r.written.train, r.written.validation, r.written.test), (158, 23, 19));
    assert_eq!(r.totals.unknown_category_records, 0);
}

#[test]
fn hf_parquet_sample_matches_arxiv_mini() {
    let Some(kit) = kit(
        "hf_parquet_sample_matches_arxiv_mini",
        &["hf-arxiv-papers-sample.parquet", "arxiv-mini.jsonl.gz"],
    ) else {
        return;
    };
    let (hf, hf_report) = load_papers(&kit.join("hf-arxiv-papers-sample.parquet"), None).unwrap();
    let (mini, _) = load_papers(&kit.join("arxiv-mini.jsonl.gz"), None).unwrap();
    assert_eq!(hf.len(), 5000);
    assert_eq!(hf_report.records_read, 5000);
    assert_eq!(hf_report.skipped_total(), 0);
    assert_eq!(mini.len(), 5000);
    // Same papers in the same order, same categories (primary first), same text.
    for (h, m) in hf.iter().zip(&mini) {
        assert_eq!(h.id, m.id);
        assert_eq!(h.categories, m.categories, "{}", h.id);
        assert_eq!(h.title, m.title, "{}", h.id);
        assert_eq!(h.abstract_text, m.abstract_text, "{}", h.id);
    }
    // `submission_date` is the v1 date, as `versions[0].created` in the JSON lines.
    let dated = hf.iter().zip(&mini).filter(|(h, m)| h.date.is_some() && h.date == m.date).count();
    assert_eq!(dated, 5000);
    let by_primary = |ps: &[Paper]| {
        let mut m = BTreeMap::new();
        for p in ps {
            *m.entry(p.primary().to_string()).or_insert(0) += 1;
        }
        m
    };
    assert_eq!(by_primary(&hf), by_primary(&mini));
    assert_eq!(split_counts(&hf), [3996, 537, 467]);
}

#[test]
fn recent_2025_reads_cleanly() {
    let Some(kit) = kit("recent_2025_reads_cleanly", &["recent-2025.jsonl.gz"]) else { return };
    let (papers, report) = load_papers(&kit.join("recent-2025.jsonl.gz"), Some(Split::Test)).unwrap();
    assert_eq!(report.records_read, 30_000);
    assert_eq!(report.skipped_total(), 0);
    assert_eq!(report.records_kept as usize, papers.len());
    assert_eq!(report.records_kept + report.filtered_by_split, 30_000);
    assert!(papers.iter().all(|p| split_of(&p.id) == Split::Test));
}
