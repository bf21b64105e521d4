//! The interactive map page in a real headless Chromium: a map of clustered synthetic papers is built with
//! the library (projection included), written, and driven by `tests/web/map.test.mjs` (points drawn, hover
//! tooltip, click to arXiv, archive filter, no network). Needs `bash scripts/setup-web-test.sh`; without node,
//! Chromium or playwright-core it skips (fails where `ATLAS_REQUIRE_CHROMIUM` is set).
//!
//! `ARXIV_ATLAS_MAP_PAGE=map.html` drives that page instead (e.g. the arxiv-100k map);
//! `ARXIV_ATLAS_MAP_SCREENSHOT=docs/map-page.png` keeps a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

use atlas_map::{MapOptions, MapPaper, ProjectionOptions};

/// `per` papers in each of four clusters of 32-dimensional vectors; two archives share the space.
fn clustered_papers(per: usize) -> (Vec<MapPaper>, Vec<f32>) {
    let cats = ["cs.LG", "cs.CV", "math.AG", "hep-th"];
    let (mut papers, mut vectors) = (Vec::new(), Vec::new());
    let mut state = 7u64;
    for (c, cat) in cats.iter().enumerate() {
        for i in 0..per {
            for d in 0..32 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5;
                vectors.push(if d % 4 == c { 5.0 } else { 0.0 } + noise);
            }
            papers.push(MapPaper {
                id: format!("2401.{:05}", c * per + i),
                title: format!("Paper {i} about {cat}"),
                category: cat.to_string(),
            });
        }
    }
    (papers, vectors)
}

fn absolute(root: &Path, p: String) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        root.join(p)
    }
}

#[test]
fn map_page_in_headless_chromium() {
    const TEST: &str = "map_page_in_headless_chromium";
    let root = atlas_testkit::repo_root();
    let Some(web) = atlas_testkit::web_test_dir(TEST, &root) else { return };
    let dir = tempfile::tempdir().unwrap();
    let html = match std::env::var("ARXIV_ATLAS_MAP_PAGE") {
        Ok(page) => absolute(&root, page),
        Err(_) => {
            let (papers, vectors) = clustered_papers(150);
            let opts = MapOptions {
                projection: ProjectionOptions {
                    pca_dims: 8,
                    epochs: Some(200),
                    ..ProjectionOptions::default()
                },
                clusters: 4,
            };
            let (map, _) = atlas_map::build_map("test map", papers, &vectors, 32, None, &opts).unwrap();
            assert_eq!(map.labels.len(), 4, "one label per cluster: {:?}", map.labels);
            let html = dir.path().join("map.html");
            atlas_map::write_html(&html, &map).unwrap();
            html
        }
    };
    let mut cmd = Command::new("node");
    cmd.arg(web.join("map.test.mjs")).arg(&html).current_dir(&root);
    if let Ok(s) = std::env::var("ARXIV_ATLAS_MAP_SCREENSHOT") {
        cmd.arg(absolute(&root, s));
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the map page test failed:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
