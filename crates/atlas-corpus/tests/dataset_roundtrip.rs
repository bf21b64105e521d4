//! The processed dataset store and the CSV reader, end to end.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use atlas_corpus::{
    fingerprint_files, ingest, load_papers, split_of, CorpusError, Dataset, IngestOptions, Paper, SkipReason,
    Split,
};

const CATS: [&str; 4] = ["cs.AI cs.LG", "math.NA", "hep-th gr-qc quant-ph", "q-bio.NC"];

fn papers(n: usize) -> Vec<Paper> {
    (0..n)
        .map(|i| Paper {
            id: format!("2101.{i:05}"),
            title: format!("Paper number {i}: a study of $\\alpha_{i}$"),
            abstract_text: format!("We study, \"carefully\", problem {i}; results follow."),
            authors: format!("A. Author{i}, B. Author"),
            categories: CATS[i % CATS.len()].split(' ').map(str::to_owned).collect(),
            date: (i % 5 != 0).then(|| format!("20{:02}-0{}-1{}", 10 + i % 10, 1 + i % 9, i % 10)),
        })
        .collect()
}

fn to_kaggle_jsonl(papers: &[Paper]) -> String {
    papers
        .iter()
        .map(|p| {
            let created = p.date.as_ref().map(|d| {
                let (y, m, day) = (&d[..4], &d[5..7], &d[8..10]);
                let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep"]
                    [m.parse::<usize>().unwrap() - 1];
                format!("Mon, {day} {mon} {y} 00:00:00 GMT")
            });
            let versions = match created {
                Some(c) => serde_json::json!([{"version": "v1", "created": c}]),
                None => serde_json::Value::Null,
            };
            serde_json::json!({
                "id": p.id, "authors": p.authors, "title": p.title, "abstract": p.abstract_text,
                "categories": p.categories_joined(), "versions": versions, "update_date": null,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

fn by_split(papers: &[Paper]) -> BTreeMap<Split, Vec<Paper>> {
    let mut m: BTreeMap<Split, Vec<Paper>> = BTreeMap::new();
    for p in papers {
        m.entry(split_of(&p.id)).or_default().push(p.clone());
    }
    m
}

fn write_input(dir: &Path, papers: &[Paper]) -> PathBuf {
    let path = dir.join("input.jsonl");
    std::fs::write(&path, to_kaggle_jsonl(papers)).unwrap();
    path
}

#[test]
fn ingest_then_open_and_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let all = papers(600);
    let input = write_input(dir.path(), &all);
    let out = dir.path().join("ds");
    let report = ingest(std::slice::from_ref(&input), &out, &IngestOptions::default()).unwrap();
    assert_eq!(report.written.total(), 600);
    assert!(report.mb_per_sec > 0.0 && report.elapsed_secs > 0.0);

    let ds = Dataset::open(&out).unwrap();
    let expected = by_split(&all);
    for split in Split::ALL {
        let got = ds.read(split).unwrap();
        assert_eq!(&got, expected.get(&split).unwrap(), "{split}");
        assert_eq!(ds.counts().get(split), got.len() as u64);
    }
    assert_eq!(ds.fingerprint(), fingerprint_files(&[input]).unwrap());
    assert_eq!(ds.labels(), ["cs.AI", "hep-th", "math.NA", "q-bio.NC"]);
    assert_eq!(ds.categories().iter().map(|c| c.count).sum::<u64>(), 600);
    assert_eq!(ds.categories()[0].splits.total(), 150);

    // A dataset folder is itself an input: the split's rows, or all of them.
    let (test, rep) = load_papers(&out, Some(Split::Test)).unwrap();
    assert_eq!(test, ds.read(Split::Test).unwrap());
    assert_eq!(rep.records_read, test.len() as u64);
    let (every, _) = load_papers(&out, None).unwrap();
    assert_eq!(every.len(), 600);
    // A split file on its own is a Parquet input too.
    let (train, _) = load_papers(&out.join("train.parquet"), None).unwrap();
    assert_eq!(train, ds.read(Split::Train).unwrap());

    // Re-ingesting the dataset gives the same split files' content.
    let again = dir.path().join("ds2");
    let r2 = ingest(std::slice::from_ref(&out), &again, &IngestOptions::default()).unwrap();
    assert_eq!(r2.written, report.written);
    assert_eq!(
        Dataset::open(&again).unwrap().read(Split::Validation).unwrap(),
        ds.read(Split::Validation).unwrap()
    );
}

#[test]
fn a_damaged_split_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &papers(300));
    let out = dir.path().join("ds");
    ingest(&[input], &out, &IngestOptions::default()).unwrap();
    let train = out.join("train.parquet");
    let mut bytes = std::fs::read(&train).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&train, &bytes).unwrap();
    let err = Dataset::open(&out).unwrap_err();
    assert!(matches!(err, CorpusError::Artifact(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("train.parquet") && msg.contains("sha256"), "{msg}");
    assert!(load_papers(&out, Some(Split::Test)).is_err(), "reading any split checks the whole folder");

    // A folder whose ingest never completed has no manifest and is not a dataset.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    assert!(Dataset::open(&out).is_err());
}

#[test]
fn ingest_replaces_an_existing_dataset_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let first = write_input(dir.path(), &papers(100));
    ingest(&[first], &out, &IngestOptions::default()).unwrap();
    let second = dir.path().join("second.jsonl");
    std::fs::write(&second, to_kaggle_jsonl(&papers(40))).unwrap();
    let r = ingest(std::slice::from_ref(&second), &out, &IngestOptions::default()).unwrap();
    assert_eq!(Dataset::open(&out).unwrap().counts(), r.written);
    assert_eq!(r.written.total(), 40);
    let leftovers: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An input that is also the output folder is refused before anything is touched.
    let err = ingest(std::slice::from_ref(&out), &out, &IngestOptions::default()).unwrap_err();
    assert!(matches!(err, CorpusError::InvalidOption(_)), "{err}");
    assert!(Dataset::open(&out).is_ok());
}

#[test]
fn max_samples_and_max_per_category() {
    let dir = tempfile::tempdir().unwrap();
    let all = papers(400);
    let input = write_input(dir.path(), &all);

    // (The progress bar is drawn to stderr only on a terminal; here it just must not disturb anything.)
    let opts = IngestOptions { max_samples: Some(57), progress: true, ..Default::default() };
    let r = ingest(std::slice::from_ref(&input), &dir.path().join("a"), &opts).unwrap();
    assert_eq!(r.written.total(), 57);
    assert!(r.stopped_at_max_samples);
    let ds = Dataset::open(dir.path().join("a")).unwrap();
    let mut ids: Vec<String> = Split::ALL.iter().flat_map(|&s| ds.read(s).unwrap()).map(|p| p.id).collect();
    ids.sort();
    let first: Vec<String> = all[..57].iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, first, "the first 57 records in input order");

    let opts = IngestOptions { max_per_category: Some(7), ..Default::default() };
    let r = ingest(std::slice::from_ref(&input), &dir.path().join("b"), &opts).unwrap();
    assert_eq!(r.written.total(), 28);
    assert_eq!(r.dropped_by_category_cap, 400 - 28);
    assert!(r.categories.iter().all(|c| c.count == 7));
    assert!(!r.stopped_at_max_samples);

    let bad = IngestOptions { max_samples: Some(0), ..Default::default() };
    assert!(matches!(ingest(&[input], &dir.path().join("c"), &bad), Err(CorpusError::InvalidOption(_))));
}

fn write_csv(path: &Path, papers: &[Paper], with_id: bool, gz: bool) {
    let mut w = csv::Writer::from_writer(Vec::new());
    if with_id {
        w.write_record(["id", "title", "abstract", "authors", "categories", "date"]).unwrap();
    } else {
        w.write_record(["Title", "Abstract", "Categories"]).unwrap();
    }
    for p in papers {
        let cats = p.categories_joined();
        let date = p.date.clone().unwrap_or_default();
        if with_id {
            w.write_record([&p.id, &p.title, &p.abstract_text, &p.authors, &cats, &date]).unwrap();
        } else {
            w.write_record([&p.title, &p.abstract_text, &cats]).unwrap();
        }
    }
    let bytes = w.into_inner().unwrap();
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        std::fs::write(path, e.finish().unwrap()).unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

#[test]
fn csv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = papers(50);
    // Quoted commas, quotes and a line break inside a field (normalised away on reading).
    all[3].abstract_text = "Line one,\nline \"two\"".into();
    for gz in [false, true] {
        let path = dir.path().join(if gz { "p.csv.gz" } else { "p.csv" });
        write_csv(&path, &all, true, gz);
        let (back, report) = load_papers(&path, None).unwrap();
        assert_eq!(report.records_kept, 50);
        assert_eq!(back[3].abstract_text, "Line one, line \"two\"");
        let mut expected = all.clone();
        expected[3].abstract_text = "Line one, line \"two\"".into();
        assert_eq!(back, expected);
    }

    // Without an id column: stable derived ids, so the split of a row never changes.
    let path = dir.path().join("noid.csv");
    write_csv(&path, &all[..5], false, false);
    let (a, _) = load_papers(&path, None).unwrap();
    let (b, _) = load_papers(&path, None).unwrap();
    assert_eq!(a.iter().map(|p| &p.id).collect::<Vec<_>>(), b.iter().map(|p| &p.id).collect::<Vec<_>>());
    assert!(a.iter().all(|p| p.id.starts_with("csv:") && p.id.len() == 16));
    assert_eq!(a[1].categories, all[1].categories);
    assert_eq!(a[1].authors, "");

    // Bad rows are reported by row number and reading goes on.
    let path = dir.path().join("bad.csv");
    let mut text = b"title,abstract,categories\nok one,abstract,cs.AI\nonly two,fields\n".to_vec();
    text.extend_from_slice(b"caf\xe9,abstract,cs.AI\nok two,abstract,cs.LG\nno abstract,,cs.AI\n");
    std::fs::write(&path, text).unwrap();
    let (ok, report) = load_papers(&path, None).unwrap();
    assert_eq!(ok.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["ok one", "ok two"]);
    assert_eq!(report.skipped[&SkipReason::BadRow].first_lines, [2]);
    assert_eq!(report.skipped[&SkipReason::BadUtf8].first_lines, [3]);
    assert_eq!(report.skipped[&SkipReason::EmptyAbstract].first_lines, [5]);
    assert_eq!(report.records_read, 5);
}

#[test]
fn a_failed_ingest_leaves_no_files_behind() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_input(dir.path(), &papers(100));
    // Detected as CSV, but it has no `title` column: reading it fails after the first input was streamed
    // to the writer.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,abstract,categories\n1,a,cs.AI\n").unwrap();
    let out = dir.path().join("ds");
    let err = ingest(&[good, bad], &out, &IngestOptions::default()).unwrap_err();
    assert!(matches!(err, CorpusError::BadSchema { .. }), "{err}");
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}
