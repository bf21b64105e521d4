//! Tests across backends and the on-disk format.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::*;

pub(crate) fn space(dim: usize) -> VectorSpace {
    VectorSpace {
        embedding_id: "test-space-v1".into(),
        model_hash: "abc".into(),
        model_dir: "models/test".into(),
        template: "{title} [SEP] {abstract}".into(),
        dim,
    }
}

const CATS: [&str; 5] = ["cs.LG", "hep-th", "math.CO", "astro-ph", "q-bio.NC"];

/// `n` papers with ids `p<i>`, categories cycling through [`CATS`] (a rare cross-list on every 97th), years
/// 1990–2024, and uniform random vectors.
pub(crate) fn corpus(n: usize, dim: usize, seed: u64) -> (Vec<PaperMeta>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let papers = (0..n)
        .map(|i| {
            let mut categories = vec![CATS[i % CATS.len()].to_string()];
            if i % 97 == 0 {
                categories.push("rare.XX".into());
            }
            PaperMeta {
                id: format!("p{i}"),
                title: format!("Paper {i}"),
                categories,
                year: if i % 11 == 0 { None } else { Some(1990 + (i % 35) as u16) },
                authors: vec![format!("A. Author{i}")],
            }
        })
        .collect();
    let vectors = (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    (papers, vectors)
}

fn queries(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Brute force in f64 with the public filter: the reference every backend is held to.
fn reference(
    papers: &[PaperMeta],
    vectors: &[f32],
    dim: usize,
    q: &[f32],
    k: usize,
    f: &Filter,
) -> Vec<(String, f64)> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let qn = norm(q);
    let mut all: Vec<(String, f64)> = papers
        .iter()
        .zip(vectors.chunks_exact(dim))
        .filter(|(p, _)| f.matches(p))
        .map(|(p, v)| {
            let dot: f64 = v.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
            (p.id.clone(), dot / (norm(v) * qn))
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    all.truncate(k);
    all
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.paper.id.as_str()).collect()
}

fn hnsw_params() -> HnswParams {
    HnswParams {
        scalar: Scalar::F32,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 64,
        rescore: false,
    }
}

#[test]
fn exact_search_equals_brute_force_reference() {
    let dim = 48;
    let (papers, vectors) = corpus(3000, dim, 1);
    let index = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    let qs = queries(20, dim, 2);
    let filters =
        [Filter::default(), Filter { categories: Some(vec!["hep-th".into()]), years: Some(2000..=2010) }];
    for f in &filters {
        let batch = index.search_batch(&qs, 10, f).unwrap();
        for (q, b) in qs.chunks_exact(dim).zip(&batch) {
            let want = reference(&papers, &vectors, dim, q, 10, f);
            let got = index.search(q, 10, f).unwrap();
            assert_eq!(ids(&got), want.iter().map(|w| w.0.as_str()).collect::<Vec<_>>());
            for (h, w) in got.iter().zip(&want) {
                assert!((h.score as f64 - w.1).abs() < 1e-5, "{} vs {}", h.score, w.1);
                assert!(f.matches(&h.paper));
            }
            assert_eq!(&got, b, "search_batch must agree with search");
        }
    }
    // Wrong width is an error, not a panic.
    assert!(matches!(index.search(&[1.0; 3], 5, &Filter::default()), Err(IndexError::Dimension { .. })));
}

#[test]
fn f16_storage_keeps_the_ranking_close() {
    let dim = 48;
    let (papers, vectors) = corpus(2000, dim, 3);
    let f32i = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    let f16i =
        ExactIndex::build(&space(dim), &papers, &vectors, ExactParams { storage: Storage::F16 }).unwrap();
    let qs = queries(50, dim, 4);
    let a = f16i.search_batch(&qs, 10, &Filter::default()).unwrap();
    let e = f32i.search_batch(&qs, 10, &Filter::default()).unwrap();
    let recall = recall_at_k(&a, &e, 10);
    assert!(recall >= 0.97, "f16 recall {recall}");
    for (x, y) in a.iter().zip(&e) {
        assert!((x[0].score - y[0].score).abs() < 2e-3);
    }
}

#[test]
fn filtered_search_returns_k_whenever_k_match() {
    let dim = 32;
    let (papers, vectors) = corpus(4000, dim, 5);
    let exact = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    let hnsw = UsearchIndex::build(&space(dim), &papers, &vectors, hnsw_params()).unwrap();
    // The same graph searched through usearch's filtered_search (and its exact fallback) for every filter.
    let mut graph_only = UsearchIndex::build(&space(dim), &papers, &vectors, hnsw_params()).unwrap();
    graph_only.set_exact_filter_rows(Some(0));
    // From "every fifth paper" down to the 42 papers cross-listed in rare.XX, and a filter nothing passes.
    let filters = [
        (Filter { categories: Some(vec!["math.CO".into()]), years: None }, 10),
        (Filter { categories: Some(vec!["rare.XX".into()]), years: None }, 10),
        (Filter { categories: Some(vec!["rare.XX".into()]), years: Some(2000..=2005) }, 50),
        (Filter { categories: Some(vec!["nothing".into()]), years: None }, 10),
        (Filter { categories: None, years: Some(1990..=2024) }, 10),
    ];
    let qs = queries(10, dim, 6);
    for (f, k) in &filters {
        let matching = papers.iter().filter(|p| f.matches(p)).count();
        for q in qs.chunks_exact(dim) {
            for index in [&exact as &dyn VectorIndex, &hnsw, &graph_only] {
                let hits = index.search(q, *k, f).unwrap();
                assert_eq!(hits.len(), (*k).min(matching), "{} {f:?}", index.info().backend);
                assert!(hits.iter().all(|h| f.matches(&h.paper)));
                assert!(hits.windows(2).all(|w| w[0].score >= w[1].score - 1e-6));
            }
        }
    }
}

#[test]
fn usearch_recall_against_exact_is_at_least_095() {
    let dim = 32;
    let (papers, vectors) = corpus(5000, dim, 7);
    let exact = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    let qs = queries(200, dim, 8);
    let e = exact.search_batch(&qs, 10, &Filter::default()).unwrap();
    let mut i8_recall = 0.0;
    for (scalar, rescore) in [
        (Scalar::F32, false),
        (Scalar::F16, false),
        (Scalar::I8, false),
        (Scalar::I8, true),
        (Scalar::F32, true),
    ] {
        let params = HnswParams { scalar, rescore, ..hnsw_params() };
        let hnsw = UsearchIndex::build(&space(dim), &papers, &vectors, params).unwrap();
        let a = hnsw.search_batch(&qs, 10, &Filter::default()).unwrap();
        let recall = recall_at_k(&a, &e, 10);
        println!("usearch {scalar:?} rescore {rescore} recall@10 {recall:.4}");
        // i8 rounds every coordinate of a unit vector to 1/127: on uniform random data, where the 10th and
        // 11th neighbours are near ties, that alone costs a few points of recall (measured 0.95 here).
        let floor = if scalar == Scalar::I8 && !rescore { 0.92 } else { 0.95 };
        assert!(recall >= floor, "{scalar:?} recall@10 {recall}");
        if scalar == Scalar::I8 && !rescore {
            i8_recall = recall;
        }
        if scalar == Scalar::I8 && rescore {
            // Re-ranking the walk's candidates with f16 copies wins back what the i8 rounding lost.
            assert!(recall > i8_recall, "rescored i8 {recall} vs plain i8 {i8_recall}");
        }
        // Scores are cosine similarities, close to the exact ones for the same paper (rescored: f16-close).
        let tol = if rescore { 2e-3 } else { 0.02 };
        for (hits, reference) in a.iter().zip(&e) {
            for h in hits {
                if let Some(r) = reference.iter().find(|r| r.paper.id == h.paper.id) {
                    assert!(
                        (h.score - r.score).abs() < tol,
                        "{scalar:?}/{rescore}: {} vs {}",
                        h.score,
                        r.score
                    );
                }
            }
        }
    }
}

fn assert_same_results(a: &dyn VectorIndex, b: &dyn VectorIndex, dim: usize) {
    let qs = queries(5, dim, 99);
    let f = Filter { categories: Some(vec!["cs.LG".into(), "astro-ph".into()]), years: None };
    for q in qs.chunks_exact(dim) {
        assert_eq!(a.search(q, 7, &f).unwrap(), b.search(q, 7, &f).unwrap());
    }
    assert_eq!(a.info(), b.info());
    assert_eq!(a.paper("p3").unwrap(), b.paper("p3").unwrap());
    assert_eq!(a.vector("p3").unwrap(), b.vector("p3").unwrap());
    assert_eq!(a.paper("nope").unwrap(), None);
    assert_eq!(a.vector("nope").unwrap(), None);
}

#[test]
fn every_backend_round_trips_through_its_folder() {
    let dim = 16;
    let (papers, vectors) = corpus(500, dim, 9);
    let all_params = [
        IndexParams::Exact(ExactParams::default()),
        IndexParams::Exact(ExactParams { storage: Storage::F16 }),
        IndexParams::Usearch(hnsw_params()),
        IndexParams::Usearch(HnswParams { scalar: Scalar::I8, ..hnsw_params() }),
        IndexParams::Usearch(HnswParams { scalar: Scalar::I8, rescore: true, ..hnsw_params() }),
    ];
    for params in &all_params {
        let dir = tempfile::tempdir().unwrap();
        let report = build_index(&space(dim), &papers, &vectors, params, dir.path()).unwrap();
        assert_eq!(report.info.count, 500);
        assert!(report.disk_bytes > 0 && report.memory_bytes > 0);
        let opened = open_index(dir.path()).unwrap();
        assert_eq!(opened.info().backend, params.backend());
        let fresh: Box<dyn VectorIndex> = match params {
            IndexParams::Exact(p) => {
                Box::new(ExactIndex::build(&space(dim), &papers, &vectors, p.clone()).unwrap())
            }
            IndexParams::Usearch(_) => {
                // A graph built again is a different graph; compare with the saved one loaded twice.
                open_index(dir.path()).unwrap()
            }
            IndexParams::Postgres(_) => unreachable!("only folder backends are listed above"),
        };
        assert_same_results(opened.as_ref(), fresh.as_ref(), dim);
        let v = opened.vector("p3").unwrap().unwrap();
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 0.02, "stored vectors are unit length ({norm})");
        assert_eq!(opened.primary_counts().unwrap()["cs.LG"], 100);
    }
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "manifest.json")
        .collect();
    v.sort();
    v
}

#[test]
fn damaged_files_and_foreign_folders_are_refused() {
    let dim = 8;
    let (papers, vectors) = corpus(100, dim, 10);
    for params in [
        IndexParams::Exact(ExactParams::default()),
        IndexParams::Usearch(hnsw_params()),
        IndexParams::Usearch(HnswParams { scalar: Scalar::I8, rescore: true, ..hnsw_params() }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        build_index(&space(dim), &papers, &vectors, &params, dir.path()).unwrap();
        for file in data_files(dir.path()) {
            let copy = tempfile::tempdir().unwrap();
            for f in std::fs::read_dir(dir.path()).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
            }
            flip_one_byte(&copy.path().join(file.file_name().unwrap()));
            let err = open_index(copy.path()).err().expect("damaged file accepted").to_string();
            assert!(
                err.contains(file.file_name().unwrap().to_str().unwrap()) && err.contains("sha256"),
                "{err}"
            );
        }
    }
    // Another artifact kind: refused by open, and never overwritten by a build.
    let dir = tempfile::tempdir().unwrap();
    atlas_artifact::Manifest::new("arxiv-atlas/embeddings", 1).write(dir.path()).unwrap();
    let err = open_index(dir.path()).err().unwrap().to_string();
    assert!(err.contains("arxiv-atlas/embeddings") && err.contains(INDEX_KIND), "{err}");
    let params = IndexParams::Exact(ExactParams::default());
    assert!(build_index(&space(dim), &papers, &vectors, &params, dir.path()).is_err());
    // An empty folder is not an index.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(open_index(empty.path()), Err(IndexError::Artifact(_))));
}

#[test]
fn adding_papers_extends_the_index_without_a_rebuild() {
    let dim = 16;
    let (papers, vectors) = corpus(1200, dim, 11);
    for params in [
        IndexParams::Exact(ExactParams::default()),
        IndexParams::Usearch(hnsw_params()),
        IndexParams::Usearch(HnswParams { scalar: Scalar::I8, rescore: true, ..hnsw_params() }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        build_index(&space(dim), &papers[..1000], &vectors[..1000 * dim], &params, dir.path()).unwrap();
        let graph_before = data_files(dir.path());
        // 990..1200: the first ten are stored already, p1100 comes twice.
        let mut add_papers = papers[990..1200].to_vec();
        let mut add_vectors = vectors[990 * dim..1200 * dim].to_vec();
        add_papers.push(papers[1100].clone());
        add_vectors.extend_from_slice(&vectors[1100 * dim..1101 * dim]);
        let report = add_to_index(dir.path(), &add_papers, &add_vectors).unwrap();
        assert_eq!(report.added, 200);
        assert_eq!(report.count, 1200);
        let mut want_skipped: Vec<String> = (990..1000).map(|i| format!("p{i}")).collect();
        want_skipped.push("p1100".into());
        assert_eq!(report.skipped, want_skipped);
        // A new generation replaced the old files; nothing else is left behind.
        let after = data_files(dir.path());
        assert_eq!(after.len(), graph_before.len());
        assert!(after.iter().all(|f| !graph_before.contains(f)), "{after:?}");

        let index = open_index(dir.path()).unwrap();
        assert_eq!(index.info().count, 1200);
        // Every added paper is found as its own nearest neighbour.
        for i in [1000, 1100, 1199] {
            let hits = index.search(&vectors[i * dim..(i + 1) * dim], 1, &Filter::default()).unwrap();
            assert_eq!(hits[0].paper.id, format!("p{i}"), "{}", params.backend());
        }
        // Adding only known papers changes nothing on disk.
        let again = add_to_index(dir.path(), &papers[..5], &vectors[..5 * dim]).unwrap();
        assert_eq!((again.added, again.skipped.len()), (0, 5));
        assert_eq!(data_files(dir.path()), after);
    }
}

#[test]
fn query_encoders_from_another_space_are_refused() {
    let info = ExactIndex::build(&space(4), &[], &[], ExactParams::default()).unwrap().info().clone();
    assert!(check_embedding_id(&info, "test-space-v1").is_ok());
    let err = check_embedding_id(&info, "other-model-int8").unwrap_err().to_string();
    assert!(err.contains("test-space-v1") && err.contains("other-model-int8"), "{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (mut papers, vectors) = corpus(10, 4, 12);
    assert!(ExactIndex::build(&space(4), &papers, &vectors[..39], ExactParams::default()).is_err());
    let mut nan = vectors.clone();
    nan[5] = f32::NAN;
    assert!(ExactIndex::build(&space(4), &papers, &nan, ExactParams::default()).is_err());
    papers[3].id = "p0".into();
    assert!(ExactIndex::build(&space(4), &papers, &vectors, ExactParams::default()).is_err());
    assert!(UsearchIndex::build(&space(4), &papers, &vectors, hnsw_params()).is_err());
    let bad = HnswParams { connectivity: 0, ..hnsw_params() };
    assert!(UsearchIndex::build(&space(4), &papers, &vectors, bad).is_err());
}

#[test]
fn evaluation_and_benchmark_run_on_an_index() {
    let dim = 16;
    let (papers, vectors) = corpus(600, dim, 13);
    let index = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    // Queries are stored papers: each must not count as its own hit.
    let ids: Vec<String> = papers[..50].iter().map(|p| p.id.clone()).collect();
    let labels: Vec<String> = papers[..50].iter().map(|p| p.categories[0].clone()).collect();
    let m = evaluate_retrieval(&index, &vectors[..50 * dim], &ids, &labels).unwrap();
    assert_eq!((m.n_queries, m.n_docs), (50, 600));
    // Random vectors: about one hit in five shares the category; never a perfect self-match.
    assert!(m.p_at_1 < 0.6 && m.p_at_10 > 0.05 && m.p_at_10 < 0.4, "{m:?}");
    let b = bench_search(&index, &vectors[..20 * dim], &BenchOptions::default(), Some(&index)).unwrap();
    assert_eq!(b.recall_at_k, Some(1.0));
    assert!(b.qps_1t > 0.0 && b.batch_qps > 0.0 && b.n_queries == 20);
}

/// Drops the test's tables even when an assertion fails.
struct DropTables<'a>(&'a str, String);

impl Drop for DropTables<'_> {
    fn drop(&mut self) {
        let _ = PgIndex::drop_tables(self.0, &self.1);
    }
}

#[test]
fn postgres_round_trip() {
    let Some(url) = atlas_testkit::database_url("postgres_round_trip") else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("t{}_{nanos}", std::process::id());
    let _cleanup = DropTables(&url, prefix.clone());
    let dim = 16;
    let (papers, vectors) = corpus(600, dim, 21);
    let params = PgParams { prefix: prefix.clone(), m: 16, ef_construction: 64, ef_search: 64, pool_size: 4 };
    let pg = PgIndex::build(&url, &space(dim), &papers[..500], &vectors[..500 * dim], &params).unwrap();
    assert_eq!(pg.info().count, 500);
    assert_eq!(pg.info().backend, "postgres");
    let exact = ExactIndex::build(&space(dim), &papers[..500], &vectors[..500 * dim], ExactParams::default())
        .unwrap();

    // Unfiltered: near-exact ranking and the same cosine scores.
    let qs = queries(40, dim, 22);
    let a = pg.search_batch(&qs, 10, &Filter::default()).unwrap();
    let e = exact.search_batch(&qs, 10, &Filter::default()).unwrap();
    let recall = recall_at_k(&a, &e, 10);
    assert!(recall >= 0.95, "pgvector recall@10 {recall}");
    assert!((a[0][0].score - e[0][0].score).abs() < 1e-4 || a[0][0].paper.id != e[0][0].paper.id);

    // Filters return min(k, #matching), down to the 6 rare papers and to none.
    for (f, k) in [
        (Filter { categories: Some(vec!["hep-th".into()]), years: Some(1995..=2015) }, 10),
        (Filter { categories: Some(vec!["rare.XX".into()]), years: None }, 10),
        (Filter { categories: Some(vec!["nothing".into()]), years: None }, 10),
    ] {
        let matching = papers[..500].iter().filter(|p| f.matches(p)).count();
        for q in qs.chunks_exact(dim).take(5) {
            let hits = pg.search(q, k, &f).unwrap();
            assert_eq!(hits.len(), k.min(matching), "{f:?}");
            assert!(hits.iter().all(|h| f.matches(&h.paper)));
            assert_eq!(ids(&hits), ids(&exact.search(q, k, &f).unwrap()), "{f:?}");
        }
    }

    // Metadata and vectors come back as stored.
    assert_eq!(pg.paper("p7").unwrap(), exact.paper("p7").unwrap());
    let (v, w) = (pg.vector("p7").unwrap().unwrap(), exact.vector("p7").unwrap().unwrap());
    assert!(v.iter().zip(&w).all(|(x, y)| (x - y).abs() < 1e-6));
    assert_eq!(pg.paper("nope").unwrap(), None);
    assert_eq!(pg.primary_counts().unwrap(), exact.primary_counts().unwrap());

    // The same prefix cannot be built twice; opening it again finds the index and checks nothing else.
    assert!(PgIndex::build(&url, &space(dim), &papers[..10], &vectors[..10 * dim], &params).is_err());
    let mut reopened = PgIndex::open(&url, &params).unwrap();
    assert_eq!(reopened.info(), pg.info());
    assert!(check_embedding_id(reopened.info(), "another-space").is_err());

    // Adding without a rebuild: 450..600, the first 50 already stored.
    let report = reopened.add(&papers[450..600], &vectors[450 * dim..600 * dim]).unwrap();
    assert_eq!((report.added, report.skipped.len(), report.count), (100, 50, 600));
    let hits = reopened.search(&vectors[555 * dim..556 * dim], 1, &Filter::default()).unwrap();
    assert_eq!(hits[0].paper.id, "p555");
    assert_eq!(PgIndex::open(&url, &params).unwrap().info().count, 600);
}

/// Peer-scale speed on synthetic clustered vectors (random unit directions around 200 centres):
/// `ATLAS_BENCH_N=90126 cargo test --release -p atlas-index peer_scale_speed -- --ignored --nocapture`
#[test]
#[ignore = "measurement, prints timings (minutes)"]
fn peer_scale_speed() {
    let n: usize = std::env::var("ATLAS_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dim = 384;
    let mut rng = StdRng::seed_from_u64(42);
    let centres: Vec<f32> = (0..200 * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let point = |rng: &mut StdRng| -> Vec<f32> {
        let c = rng.random_range(0..200);
        centres[c * dim..(c + 1) * dim].iter().map(|x| x + rng.random_range(-0.9f32..0.9)).collect()
    };
    let (papers, _) = corpus(n, 1, 0);
    let vectors: Vec<f32> = (0..n).flat_map(|_| point(&mut rng)).collect();
    let qs: Vec<f32> = (0..1000).flat_map(|_| point(&mut rng)).collect();
    let t = std::time::Instant::now();
    let exact = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    println!("exact build {:.1}s", t.elapsed().as_secs_f64());
    let opts = BenchOptions::default();
    let b = bench_search(&exact, &qs, &opts, None).unwrap();
    println!("exact f32: {b:?}");
    let f16 =
        ExactIndex::build(&space(dim), &papers, &vectors, ExactParams { storage: Storage::F16 }).unwrap();
    println!("exact f16: {:?}", bench_search(&f16, &qs, &opts, Some(&exact)).unwrap());
    let t = std::time::Instant::now();
    let mut hnsw = UsearchIndex::build(&space(dim), &papers, &vectors, HnswParams::default()).unwrap();
    println!(
        "usearch M32 efc200 build {:.1}s on {} threads",
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    for ef in [16, 32, 64, 128] {
        hnsw.set_expansion_search(ef);
        println!("usearch ef {ef}: {:?}", bench_search(&hnsw, &qs, &opts, Some(&exact)).unwrap());
    }
    let f = Filter { categories: Some(vec!["rare.XX".into()]), years: None };
    println!(
        "usearch ef 64, 1% filter: {:?}",
        bench_search(&hnsw, &qs[..100 * dim], &BenchOptions { filter: f, ..opts }, Some(&exact)).unwrap()
    );
}

/// `export` hands back every stored paper with its stored vector, in the order `vector(id)` agrees with, for
/// both on-disk backends (usearch reads its rescoring copies or its graph).
#[test]
fn export_returns_every_paper_with_its_stored_vector() {
    let dim = 16;
    let (papers, vectors) = corpus(300, dim, 9);
    let exact = ExactIndex::build(&space(dim), &papers, &vectors, ExactParams::default()).unwrap();
    let usearch = UsearchIndex::build(&space(dim), &papers, &vectors, hnsw_params()).unwrap();
    for index in [&exact as &dyn VectorIndex, &usearch] {
        let c = index.export().unwrap();
        assert_eq!(c.papers, papers);
        assert_eq!(c.vectors.len(), papers.len() * dim);
        for (p, v) in c.papers.iter().zip(c.vectors.chunks_exact(dim)) {
            let stored = index.vector(&p.id).unwrap().unwrap();
            for (a, b) in v.iter().zip(&stored) {
                assert!((a - b).abs() < 1e-6);
            }
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "stored vectors are unit length, got {norm}");
        }
    }
}
