//! The formats arXiv publishes new papers in (Atom feed, OAI-PMH `arXiv` and `arXivRaw`): hand-written fixtures
//! in the published layouts, and a round trip of real papers from the data kit through both XML forms.

use std::io::Write;
use std::path::PathBuf;

use atlas_corpus::{detect_format, load_papers, CorpusError, InputFormat, Paper, SkipReason};

fn fixture(name: &str) -> PathBuf {
    // Read at run time: a compile-time path goes stale when clones share a target dir.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.join("tests/fixtures").join(name)
}

fn by_id<'a>(papers: &'a [Paper], id: &str) -> &'a Paper {
    papers.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no paper {id} in {papers:?}"))
}

#[test]
fn reads_an_arxiv_api_atom_feed() {
    let path = fixture("arxiv-api-query.atom.xml");
    assert_eq!(detect_format(&path).unwrap(), InputFormat::ArxivAtom);
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(papers.len(), 2, "{papers:?}");
    let attention = by_id(&papers, "1706.03762");
    assert_eq!(attention.title, "Attention Is All You Need");
    assert!(attention
        .abstract_text
        .starts_with("The dominant sequence transduction models are based on complex"));
    assert!(attention.abstract_text.ends_with("based solely on attention mechanisms."));
    assert_eq!(attention.categories, ["cs.CL", "cs.LG"]);
    assert_eq!(attention.authors, "Ashish Vaswani, Noam Shazeer");
    assert_eq!(attention.date.as_deref(), Some("2017-06-12"));
    let old_style = by_id(&papers, "hep-th/9711200");
    assert_eq!(old_style.categories, ["hep-th"]);
    assert_eq!(old_style.year(), Some(1997));
    // The third entry has a blank summary: skipped, counted, with the line its <entry> starts on.
    let skip = &report.skipped[&SkipReason::EmptyAbstract];
    assert_eq!(skip.count, 1);
    assert_eq!(skip.first_lines, [47]);
    assert_eq!(report.records_read, 3);
}

#[test]
fn reads_oai_pmh_arxiv_records_and_counts_deleted_ones() {
    let path = fixture("oai-pmh-arxiv.xml");
    assert_eq!(detect_format(&path).unwrap(), InputFormat::OaiPmh);
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(papers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["0704.0001", "1810.04805"]);
    let first = by_id(&papers, "0704.0001");
    assert_eq!(
        first.title,
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    );
    assert_eq!(first.authors, "C. Balázs, E. L. Berger");
    assert_eq!(first.date.as_deref(), Some("2007-04-02"), "the first version's date, as for Kaggle records");
    assert_eq!(first.categories, ["hep-ph"]);
    assert_eq!(report.skipped[&SkipReason::Deleted].count, 1);
    assert_eq!(report.skipped[&SkipReason::Deleted].first_lines, [20]);
}

#[test]
fn reads_oai_pmh_arxivraw_records() {
    let path = fixture("oai-pmh-arxivraw.xml");
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(papers.len(), 1);
    let p = &papers[0];
    assert_eq!(p.id, "0704.0001");
    assert_eq!(p.authors, "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan");
    assert_eq!(p.date.as_deref(), Some("2007-04-02"), "the v1 <version> date");
    assert_eq!(report.skipped[&SkipReason::MissingCategories].count, 1);
}

#[test]
fn the_same_papers_read_alike_from_the_oai_and_the_atom_form() {
    let (oai, _) = load_papers(&fixture("oai-pmh-arxiv.xml"), None).unwrap();
    let (raw, _) = load_papers(&fixture("oai-pmh-arxivraw.xml"), None).unwrap();
    let (a, b) = (by_id(&oai, "0704.0001"), by_id(&raw, "0704.0001"));
    assert_eq!(
        (&a.title, &a.abstract_text, &a.categories, &a.date),
        (&b.title, &b.abstract_text, &b.categories, &b.date)
    );
}

#[test]
fn malformed_xml_is_an_error_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.xml");
    std::fs::write(&path, "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<entry><id>x</entry>\n</feed>\n")
        .unwrap();
    let err = load_papers(&path, None).unwrap_err();
    assert!(matches!(err, CorpusError::Xml { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("broken.xml:3:"), "{err}");
}

#[test]
fn gzipped_feeds_and_other_names_are_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("2025-01-02.page1"); // a harvester's own naming
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(fixture("oai-pmh-arxiv.xml")).unwrap()).unwrap();
    gz.finish().unwrap();
    assert_eq!(detect_format(&path).unwrap(), InputFormat::OaiPmh);
    assert_eq!(load_papers(&path, None).unwrap().0.len(), 2);
}

#[test]
fn an_oai_pmh_no_records_answer_is_an_empty_input_and_other_errors_fail() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.xml");
    std::fs::write(
        &empty,
        r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2025-01-04T00:00:00Z</responseDate><request verb="ListRecords">http://export.arxiv.org/oai2</request><error code="noRecordsMatch">no records</error></OAI-PMH>"#,
    )
    .unwrap();
    let (papers, report) = load_papers(&empty, None).unwrap();
    assert!(papers.is_empty());
    assert_eq!(report.records_read, 0);
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="badResumptionToken">expired</error></OAI-PMH>"#,
    )
    .unwrap();
    let err = load_papers(&bad, None).unwrap_err().to_string();
    assert!(err.contains("badResumptionToken") && err.contains("expired"), "{err}");
}

/// XML text escaping for the round trip below.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn atom_of(papers: &[Paper]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    for p in papers {
        x += &format!(
            "<entry><id>http://arxiv.org/abs/{}v1</id><published>{}T12:00:00Z</published><title>{}</title>\
             <summary>{}</summary><author><name>{}</name></author>\
             <arxiv:primary_category xmlns:arxiv=\"http://arxiv.org/schemas/atom\" term=\"{}\"/>{}</entry>\n",
            p.id,
            p.date.as_deref().unwrap_or("2025-01-01"),
            esc(&p.title),
            esc(&p.abstract_text),
            esc(&p.authors),
            p.primary(),
            p.categories.iter().map(|c| format!("<category term=\"{c}\"/>")).collect::<String>()
        );
    }
    x + "</feed>\n"
}

fn oai_of(papers: &[Paper]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><ListRecords>\n",
    );
    for p in papers {
        x += &format!(
            "<record><header><identifier>oai:arXiv.org:{id}</identifier></header><metadata>\
             <arXivRaw xmlns=\"http://arxiv.org/OAI/arXivRaw/\"><id>{id}</id>\
             <version version=\"v1\"><date>{date}</date></version><title>{}</title><authors>{}</authors>\
             <categories>{}</categories><abstract>{}</abstract></arXivRaw></metadata></record>\n",
            esc(&p.title),
            esc(&p.authors),
            p.categories.join(" "),
            esc(&p.abstract_text),
            id = p.id,
            date = rfc2822(p.date.as_deref().unwrap_or("2025-01-01")),
        );
    }
    x + "</ListRecords></OAI-PMH>\n"
}

/// `2025-03-04` → `Tue, 4 Mar 2025 10:00:00 GMT` (the weekday is not checked by readers; a fixed one is fine).
fn rfc2822(iso: &str) -> String {
    const M: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month: usize = iso[5..7].parse().unwrap();
    let day: u32 = iso[8..10].parse().unwrap();
    format!("Mon, {day} {} {} 10:00:00 GMT", M[month - 1], &iso[..4])
}

#[test]
fn real_papers_survive_the_atom_and_the_oai_pmh_form() {
    let Some(recent) = atlas_testkit::shared_file(
        "real_papers_survive_the_atom_and_the_oai_pmh_form",
        "data/recent-2025.jsonl.gz",
    ) else {
        return;
    };
    let (all, _) = load_papers(&recent, None).unwrap();
    // A day of arXiv: about 600 new papers; the kit's order is random, so the first 600 are a fair sample.
    let day: Vec<Paper> = all.into_iter().take(600).collect();
    let dir = tempfile::tempdir().unwrap();
    for (name, xml, format) in [
        ("day.atom.xml", atom_of(&day), InputFormat::ArxivAtom),
        ("day.oai.xml", oai_of(&day), InputFormat::OaiPmh),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, xml).unwrap();
        assert_eq!(detect_format(&path).unwrap(), format);
        let (back, report) = load_papers(&path, None).unwrap();
        assert!(report.skipped.is_empty(), "{name}: {:?}", report.skipped);
        assert_eq!(back.len(), day.len(), "{name}");
        for (a, b) in day.iter().zip(&back) {
            assert_eq!(a, b, "{name}: paper {} differs after the round trip", a.id);
        }
    }
}

#[test]
fn a_day_in_both_xml_forms_is_appended_to_a_dataset_once_with_duplicates_counted() {
    let Some(recent) = atlas_testkit::shared_file(
        "a_day_in_both_xml_forms_is_appended_to_a_dataset_once_with_duplicates_counted",
        "data/recent-2025.jsonl.gz",
    ) else {
        return;
    };
    let (all, _) = load_papers(&recent, None).unwrap();
    let (old, rest) = all.split_at(2_000);
    let (day1, day2) = (&rest[..300], &rest[300..500]);
    let dir = tempfile::tempdir().unwrap();
    let old_file = dir.path().join("old.atom.xml");
    std::fs::write(&old_file, atom_of(old)).unwrap();
    let dataset = dir.path().join("dataset");
    let opts = atlas_corpus::IngestOptions::default();
    atlas_corpus::ingest(&[old_file], &dataset, &opts).unwrap();

    // Day 1 as an Atom page; day 2 as an OAI-PMH page that repeats 50 papers of day 1 and 20 old ones.
    let atom = dir.path().join("day1.atom.xml");
    std::fs::write(&atom, atom_of(day1)).unwrap();
    let oai = dir.path().join("day2.oai.xml");
    let repeated: Vec<Paper> = day2.iter().chain(&day1[..50]).chain(&old[..20]).cloned().collect();
    std::fs::write(&oai, oai_of(&repeated)).unwrap();
    let report = atlas_corpus::append(&[atom, oai], &dataset, &opts).unwrap();

    let total = |c: &atlas_corpus::SplitCounts| c.train + c.validation + c.test;
    assert_eq!(total(&report.before), 2_000);
    assert_eq!(total(&report.added), 500, "{report:?}");
    assert_eq!(report.duplicates, 70);
    let back = atlas_corpus::Dataset::open(&dataset).unwrap();
    assert_eq!(total(&back.counts()), 2_500);
    // Same split rule as a fresh ingest: every appended paper sits in the split its id gives.
    let (papers, _) = load_papers(&dataset, Some(atlas_corpus::Split::Test)).unwrap();
    assert!(papers.iter().all(|p| atlas_corpus::split_of(&p.id) == atlas_corpus::Split::Test));
    assert!(papers.iter().any(|p| day2.iter().any(|d| d.id == p.id)), "day 2 papers reached the test split");
    // The dataset's own report names the dataset, not the staging folder it was built in.
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dataset.join("ingest-report.json")).unwrap()).unwrap();
    assert_eq!(recorded["out_dir"].as_str(), dataset.to_str());
    // No staging folder is left beside the dataset.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".append-")), "{names:?}");
}

#[test]
fn a_failed_append_leaves_the_dataset_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("dataset");
    let opts = atlas_corpus::IngestOptions::default();
    atlas_corpus::ingest(&[fixture("oai-pmh-arxiv.xml")], &dataset, &opts).unwrap();
    let before = std::fs::read(dataset.join("manifest.json")).unwrap();
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry>").unwrap();
    assert!(atlas_corpus::append(&[broken], &dataset, &opts).is_err());
    assert_eq!(std::fs::read(dataset.join("manifest.json")).unwrap(), before);
    let c = atlas_corpus::Dataset::open(&dataset).unwrap().counts();
    assert_eq!(c.train + c.validation + c.test, 2);
    let capped = atlas_corpus::IngestOptions { max_samples: Some(1), ..Default::default() };
    let err = atlas_corpus::append(&[fixture("oai-pmh-arxivraw.xml")], &dataset, &capped).unwrap_err();
    assert!(err.to_string().contains("--limit"), "{err}");
}
