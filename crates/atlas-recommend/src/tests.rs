//! Behaviour on a synthetic corpus of three topics, each with its own words and its own region of the
//! embedding space, and through a real index folder.

use std::io::Write;

use atlas_index::{ExactParams, IndexParams, VectorSpace};
use rand::{Rng, SeedableRng};

use super::*;

const TOPICS: [(&str, [&str; 6]); 3] = [
    ("cs.LG", ["neural", "network", "gradient", "training", "layers", "optimizer"]),
    ("astro-ph", ["galaxy", "stellar", "redshift", "telescope", "cosmic", "halo"]),
    ("math.CO", ["graph", "vertex", "coloring", "permutation", "combinatorial", "bijection"]),
];
const FILLER: [&str; 8] = ["we", "study", "new", "results", "method", "show", "paper", "approach"];
const DIM: usize = 12;

struct Synthetic {
    papers: Vec<PaperMeta>,
    texts: Vec<(String, String)>,
    vectors: Vec<f32>,
}

/// `n` papers cycling through the topics: text = a few topic words among filler, vector = the topic's axis
/// plus noise, year 2000 + i % 20.
fn synthetic(n: usize, seed: u64) -> Synthetic {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = Synthetic { papers: Vec::new(), texts: Vec::new(), vectors: Vec::new() };
    for i in 0..n {
        let t = i % TOPICS.len();
        let (cat, words) = TOPICS[t];
        let id = format!("{:04}.{:05}", 1000 + i / 1000, i % 1000);
        let mut text = String::new();
        for _ in 0..12 {
            let w = if rng.random_bool(0.5) {
                words[rng.random_range(0..6)]
            } else {
                FILLER[rng.random_range(0..8)]
            };
            text.push_str(w);
            text.push(' ');
        }
        s.texts.push((id.clone(), text));
        s.papers.push(PaperMeta {
            id,
            title: format!("Paper {i}"),
            categories: vec![cat.to_string()],
            year: Some(2000 + (i % 20) as u16),
            authors: vec![],
        });
        for d in 0..DIM {
            let axis = if d == t { 1.0 } else { 0.0 };
            s.vectors.push(axis + rng.random_range(-0.6f32..0.6));
        }
    }
    s
}

fn recommender(s: &Synthetic) -> Recommender {
    let features = TextFeatures::fit(&s.texts).unwrap();
    let params = RecommendParams { negatives: 200, ..RecommendParams::default() };
    Recommender::new(s.papers.clone(), s.vectors.clone(), DIM, &features, params).unwrap()
}

fn list_of(s: &Synthetic, topic: usize, n: usize) -> Vec<String> {
    s.papers.iter().filter(|p| p.categories[0] == TOPICS[topic].0).take(n).map(|p| p.id.clone()).collect()
}

#[test]
fn a_list_of_one_topic_ranks_that_topic_first() {
    let s = synthetic(600, 1);
    let r = recommender(&s);
    for (topic, (category, _)) in TOPICS.iter().enumerate() {
        let list = list_of(&s, topic, 5);
        let recs = r.recommend(&list, 50, &Filter::default()).unwrap();
        assert_eq!(recs.len(), 50);
        let on_topic = recs.iter().filter(|x| x.paper.categories[0] == *category).count();
        assert!(on_topic >= 48, "topic {category}: {on_topic} of 50 on topic");
        assert!(recs.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    }
}

#[test]
fn list_papers_are_never_returned() {
    let s = synthetic(300, 2);
    let r = recommender(&s);
    let list = list_of(&s, 1, 7);
    // Ask for every paper: all but the list's come back, each once.
    let recs = r.recommend(&list, 10_000, &Filter::default()).unwrap();
    assert_eq!(recs.len(), 300 - 7);
    assert!(recs.iter().all(|x| !list.contains(&x.paper.id)));
    let unique: HashSet<&str> = recs.iter().map(|x| x.paper.id.as_str()).collect();
    assert_eq!(unique.len(), recs.len());
    // Repeating an id counts once and changes nothing.
    let mut twice = list.clone();
    twice.push(list[0].clone());
    assert_eq!(r.recommend(&twice, 20, &Filter::default()).unwrap(), recs[..20].to_vec());
}

#[test]
fn filters_are_honoured() {
    let s = synthetic(600, 3);
    let r = recommender(&s);
    let list = list_of(&s, 0, 5);
    let f = Filter { categories: Some(vec!["math.CO".into()]), years: Some(2005..=2009) };
    let recs = r.recommend(&list, 30, &f).unwrap();
    let passing = s.papers.iter().filter(|p| f.matches(p)).count();
    assert_eq!(recs.len(), 30.min(passing));
    assert!(!recs.is_empty());
    assert!(recs.iter().all(|x| f.matches(&x.paper)), "every hit passes the filter");
}

#[test]
fn unknown_ids_and_empty_lists_are_errors_that_say_so() {
    let s = synthetic(90, 4);
    let r = recommender(&s);
    let ids = vec![s.papers[0].id.clone(), "9999.99999".into(), "nope".into()];
    match r.recommend(&ids, 5, &Filter::default()) {
        Err(RecommendError::UnknownIds(u)) => assert_eq!(u, vec!["9999.99999".to_string(), "nope".into()]),
        other => panic!("expected UnknownIds, got {other:?}"),
    }
    let err = r.recommend(&ids, 5, &Filter::default()).unwrap_err().to_string();
    assert!(err.contains("9999.99999") && err.contains("nope"), "{err}");
    assert!(matches!(r.recommend(&[], 5, &Filter::default()), Err(RecommendError::EmptyList)));
    assert!(matches!(r.recommend(&[" ".into()], 5, &Filter::default()), Err(RecommendError::EmptyList)));
}

#[test]
fn features_round_trip_and_extend_with_the_stored_vocabulary() {
    let s = synthetic(120, 5);
    let mut f = TextFeatures::fit(&s.texts[..100]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    f.save(dir.path()).unwrap();
    let g = TextFeatures::open(dir.path()).unwrap();
    assert_eq!(g.len(), 100);
    assert_eq!(g.row(&s.texts[7].0), f.row(&s.texts[7].0));
    assert_eq!(f.extend(&s.texts), 20, "only the 20 new papers are added");
    assert_eq!(f.len(), 120);
    assert!(f.row(&s.texts[110].0).is_some_and(|(i, _)| !i.is_empty()));
    // A damaged file is refused by its checksum.
    std::fs::write(dir.path().join("values.f32"), b"junk").unwrap();
    assert!(TextFeatures::open(dir.path()).is_err());
}

/// Writes the synthetic papers as arXiv metadata JSON lines (an ingest format).
fn write_papers(s: &Synthetic, range: std::ops::Range<usize>, path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in range {
        let p = &s.papers[i];
        let line = serde_json::json!({
            "id": p.id, "title": p.title, "abstract": s.texts[i].1, "authors": "A. Author",
            "categories": p.categories.join(" "), "update_date": format!("{}-01-01", p.year.unwrap()),
        });
        writeln!(f, "{line}").unwrap();
    }
}

#[test]
fn open_builds_the_features_beside_a_folder_index_and_extends_them_after_index_add() {
    let s = synthetic(150, 6);
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let papers = tmp.path().join("papers.jsonl");
    write_papers(&s, 0..150, &papers);
    let space = VectorSpace {
        embedding_id: "test".into(),
        model_hash: "h".into(),
        model_dir: "m".into(),
        template: "t".into(),
        dim: DIM,
    };
    let location = IndexLocation::Folder(index.clone());
    location
        .build(&space, &s.papers[..120], &s.vectors[..120 * DIM], &IndexParams::Exact(ExactParams::default()))
        .unwrap();

    let params = RecommendParams { negatives: 100, ..RecommendParams::default() };
    let none = FeatureOptions::default();
    let err = Recommender::open(&location, &none, params.clone()).unwrap_err();
    assert!(matches!(err, RecommendError::NoFeatures { .. }), "{err}");
    assert!(err.to_string().contains("--papers"), "the error says what is needed: {err}");

    let with_papers = FeatureOptions { dir: None, papers: Some(papers.clone()) };
    let (r, report) = Recommender::open(&location, &with_papers, params.clone()).unwrap();
    assert!(report.built && report.dir == index.join(FEATURES_DIR));
    assert_eq!(r.len(), 120);
    // Once built, no papers are needed.
    let (r, report) = Recommender::open(&location, &none, params.clone()).unwrap();
    assert!(!report.built && report.added == 0);
    let list = list_of(&s, 2, 4);
    assert!(r
        .recommend(&list, 5, &Filter::default())
        .unwrap()
        .iter()
        .all(|x| x.paper.categories[0] == "math.CO"));

    // Papers added to the index later lack features until their text is given.
    location.add(&s.papers[120..], &s.vectors[120 * DIM..], "test").unwrap();
    let err = Recommender::open(&location, &none, params.clone()).unwrap_err();
    assert!(matches!(err, RecommendError::StaleFeatures { count: 30, .. }), "{err}");
    let (r, report) = Recommender::open(&location, &with_papers, params).unwrap();
    assert_eq!((report.built, report.added, r.len()), (false, 30, 150));
}
