//! Hand-made broken inputs: every bad record is reported with the right reason and line number, and
//! every good record is kept.

use std::io::{Read, Write};
use std::path::Path;

use atlas_corpus::{ingest, load_papers, IngestOptions, ReadReport, SkipReason};
use serde_json::json;

fn rec(id: &str) -> String {
    json!({
        "id": id,
        "submitter": null,
        "authors": "A. Author, B. Author",
        "title": format!("Title of {id}"),
        "abstract": format!("Abstract of {id}, long enough to be a real one."),
        "categories": "cs.AI cs.LG",
        "versions": [{"version": "v1", "created": "Fri, 11 Nov 2016 00:00:00 GMT"}],
        "update_date": "2016-11-12",
    })
    .to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn lines_of(report: &ReadReport, reason: SkipReason) -> Vec<u64> {
    report.skipped.get(&reason).map(|s| s.first_lines.clone()).unwrap_or_default()
}

/// The broken-fixture file: (line content, expected skip reason or None for a kept record).
fn fixture() -> (Vec<u8>, Vec<Option<SkipReason>>) {
    let mut out = Vec::new();
    let mut expect = Vec::new();
    let mut line = |bytes: &[u8], e: Option<SkipReason>| {
        out.extend_from_slice(bytes);
        out.push(b'\n');
        expect.push(e);
    };
    line(rec("good-1").as_bytes(), None); // 1
    line(br#"{"id":"bad-json","title":"t","#, Some(SkipReason::BadJson)); // 2
    line(rec("good-2").as_bytes(), None); // 3
    line(br#"{"id":"no-title","abstract":"a","categories":"cs.AI"}"#, Some(SkipReason::MissingTitle)); // 4
    line(
        br#"{"id":"empty-abs","title":"t","abstract":" \n ","categories":"cs.AI"}"#,
        Some(SkipReason::EmptyAbstract),
    ); // 5
    line(
        br#"{"id":"num-title","title":42,"abstract":"a","categories":"cs.AI"}"#,
        Some(SkipReason::WrongType),
    ); // 6
    line(
        b"{\"id\":\"bad-utf8\",\"title\":\"caf\xe9\",\"abstract\":\"a\",\"categories\":\"cs.AI\"}",
        Some(SkipReason::BadUtf8),
    ); // 7
    line(rec("good-1").as_bytes(), Some(SkipReason::DuplicateId)); // 8
    line(b"   ", None); // 9: blank, not a record
    line(br#"{"id":"no-cats","title":"t","abstract":"a"}"#, Some(SkipReason::MissingCategories)); // 10
    line(br#"{"id":"no-abs","title":"t","categories":"cs.AI"}"#, Some(SkipReason::MissingAbstract)); // 11
    line(format!("{}\r", rec("good-3")).as_bytes(), None); // 12: CRLF line ending
    line(br#"{"title":"t","abstract":"a","categories":"cs.AI"}"#, Some(SkipReason::MissingId)); // 13
    line(
        br#"{"id":"empty-title","title":"","abstract":"a","categories":"cs.AI"}"#,
        Some(SkipReason::EmptyTitle),
    ); // 14
    line(br#"{"id":"num-cats","title":"t","abstract":"a","categories":7}"#, Some(SkipReason::WrongType)); // 15
    line(rec("good-4").as_bytes(), None); // 16
    (out, expect)
}

fn check_fixture_report(report: &ReadReport, kept_ids: &[String]) {
    assert_eq!(report.records_read, 15, "16 lines, one blank");
    assert_eq!(report.blank_lines, 1);
    assert_eq!(report.records_kept, 4);
    assert_eq!(kept_ids, ["good-1", "good-2", "good-3", "good-4"]);
    assert_eq!(lines_of(report, SkipReason::BadJson), [2]);
    assert_eq!(lines_of(report, SkipReason::MissingTitle), [4]);
    assert_eq!(lines_of(report, SkipReason::EmptyAbstract), [5]);
    assert_eq!(lines_of(report, SkipReason::WrongType), [6, 15]);
    assert_eq!(lines_of(report, SkipReason::BadUtf8), [7]);
    assert_eq!(lines_of(report, SkipReason::DuplicateId), [8]);
    assert_eq!(lines_of(report, SkipReason::MissingCategories), [10]);
    assert_eq!(lines_of(report, SkipReason::MissingAbstract), [11]);
    assert_eq!(lines_of(report, SkipReason::MissingId), [13]);
    assert_eq!(lines_of(report, SkipReason::EmptyTitle), [14]);
    assert_eq!(report.records_read, report.records_kept + report.skipped_total());
    assert!(report.skipped[&SkipReason::WrongType].example_message.contains("`title` is a number"));
    assert!(report.skipped[&SkipReason::DuplicateId].example_message.contains("good-1"));
    assert!(!report.truncated);
}

#[test]
fn every_bad_line_is_reported_with_reason_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, expect) = fixture();
    assert_eq!(expect.len(), 16);
    for (name, content) in [("broken.jsonl", bytes.clone()), ("broken.jsonl.gz", gzip(&bytes))] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let (papers, report) = load_papers(&path, None).unwrap();
        let ids: Vec<String> = papers.iter().map(|p| p.id.clone()).collect();
        check_fixture_report(&report, &ids);
        assert_eq!(papers[0].date.as_deref(), Some("2016-11-11"));
    }
}

#[test]
fn ingest_report_carries_the_skips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, fixture().0).unwrap();
    let out = dir.path().join("ds");
    let r = ingest(&[path], &out, &IngestOptions::default()).unwrap();
    assert_eq!(r.written.total(), 4);
    assert_eq!(lines_of(&r.inputs[0].report, SkipReason::BadUtf8), [7]);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("ingest-report.json")).unwrap()).unwrap();
    assert_eq!(saved["totals"]["skipped"]["bad_json"]["first_lines"], json!([2]));
    assert_eq!(saved["totals"]["skipped"]["wrong_type"]["count"], 2);
}

/// Bytes of `gz` that decode before the stream breaks.
fn decodable_prefix(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut d = flate2::read::MultiGzDecoder::new(gz);
    let mut buf = [0u8; 4096];
    loop {
        match d.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

#[test]
fn truncated_gzip_keeps_complete_records_and_reports_the_line() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough to span several 4 MiB pipeline blocks.
    let n = 40_000;
    let text: String = (0..n).map(|i| rec(&format!("id-{i}")) + "\n").collect();
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() * 2 / 3];
    let prefix = decodable_prefix(cut);
    let complete = prefix.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(complete > 1000 && !prefix.ends_with(b"\n"), "the cut should fall inside a record");

    let truncated = dir.path().join("truncated.jsonl.gz");
    std::fs::write(&truncated, cut).unwrap();
    let (papers, report) = load_papers(&truncated, None).unwrap();
    assert_eq!(papers.len() as u64, complete);
    assert_eq!(papers.last().unwrap().id, format!("id-{}", complete - 1));
    assert_eq!(report.skipped_for(SkipReason::TruncatedGzip), 1);
    assert_eq!(lines_of(&report, SkipReason::TruncatedGzip), [complete + 1]);
    assert_eq!(report.skipped_total(), 1);
    assert!(report.truncated);

    // In an ingest the next input is still read.
    let next = dir.path().join("next.jsonl");
    std::fs::write(&next, rec("after-truncation") + "\n").unwrap();
    let r = ingest(&[truncated, next], &dir.path().join("ds"), &IngestOptions::default()).unwrap();
    assert_eq!(r.written.total(), complete + 1);
    assert_eq!(r.inputs[1].report.records_kept, 1);
    assert!(r.totals.truncated);
}

#[test]
fn truncation_at_a_line_boundary_is_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{}\n{}\n", rec("a"), rec("b"));
    // A gzip member without its 8-byte trailer: all data decodes, the end marker is missing.
    let gz = gzip(text.as_bytes());
    let path = dir.path().join("no-trailer.json.gz");
    std::fs::write(&path, &gz[..gz.len() - 8]).unwrap();
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(papers.len(), 2);
    assert_eq!(lines_of(&report, SkipReason::TruncatedGzip), [3]);
}

#[test]
fn corrupt_gzip_stops_that_file_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..2000).map(|i| rec(&format!("c-{i}")) + "\n").collect();
    let mut gz = gzip(text.as_bytes());
    // Damage the CRC in the trailer: every record decodes, the checksum fails.
    let crc = gz.len() - 8;
    gz[crc] ^= 0xff;
    let path = dir.path().join("bad-crc.jsonl.gz");
    std::fs::write(&path, &gz).unwrap();
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(papers.len(), 2000);
    assert_eq!(report.skipped_for(SkipReason::CorruptGzip), 1);
    assert_eq!(lines_of(&report, SkipReason::CorruptGzip), [2001]);
    assert!(report.truncated);
}

#[test]
fn bad_lines_deep_in_a_large_file_keep_exact_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [1u64, 9_999, 10_000, 23_457, 30_000];
    let mut text = String::new();
    for line in 1..=30_000u64 {
        if bad.contains(&line) {
            text.push_str("{broken\n");
        } else {
            text.push_str(&rec(&format!("l-{line}")));
            text.push('\n');
        }
    }
    let path = dir.path().join("big.jsonl");
    std::fs::write(&path, &text).unwrap();
    assert!(text.len() > 2 * (4 << 20), "must span several blocks");
    let (papers, report) = load_papers(&path, None).unwrap();
    assert_eq!(lines_of(&report, SkipReason::BadJson), bad);
    assert_eq!(papers.len(), 30_000 - bad.len());
    // Order is preserved across blocks and parallel pieces.
    let expected: Vec<String> =
        (1..=30_000u64).filter(|l| !bad.contains(l)).map(|l| format!("l-{l}")).collect();
    let ids: Vec<String> = papers.into_iter().map(|p| p.id).collect();
    assert_eq!(ids, expected);
}

#[test]
fn duplicates_across_inputs_are_dropped_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, format!("{}\n{}\n", rec("x"), rec("y"))).unwrap();
    std::fs::write(&b, format!("{}\n{}\n", rec("z"), rec("x"))).unwrap();
    let r = ingest(&[a, b], &dir.path().join("ds"), &IngestOptions::default()).unwrap();
    assert_eq!(r.written.total(), 3);
    assert_eq!(lines_of(&r.inputs[1].report, SkipReason::DuplicateId), [2]);
    assert_eq!(r.totals.skipped_for(SkipReason::DuplicateId), 1);
}

#[test]
fn unknown_category_codes_are_counted_but_kept() {
    let dir = tempfile::tempdir().unwrap();
    let tax = dir.path().join("taxonomy.tsv");
    std::fs::write(&tax, "code\tname\tarchive\tgroup\tactive\tcanonical\ncs.AI\tArtificial Intelligence\tcs\tComputer Science\t1\tcs.AI\n").unwrap();
    let input = dir.path().join("in.jsonl");
    let odd = rec("odd").replace("cs.AI cs.LG", "cs.AI xx.YY");
    std::fs::write(&input, format!("{}\n{}\n", rec("plain"), odd)).unwrap();
    let opts = IngestOptions { taxonomy: Some(tax), ..Default::default() };
    let r = ingest(&[input], &dir.path().join("ds"), &opts).unwrap();
    assert_eq!(r.written.total(), 2);
    // `plain` has cs.LG (unknown to this tiny taxonomy), `odd` has xx.YY.
    assert_eq!(r.totals.unknown_category_records, 2);
    assert_eq!(r.totals.unknown_categories.get("xx.YY"), Some(&1));
    assert_eq!(r.totals.unknown_categories.get("cs.LG"), Some(&1));
    assert_eq!(r.categories[0].name.as_deref(), Some("Artificial Intelligence"));
}

#[test]
fn unreadable_inputs_are_errors_not_skips() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    assert!(load_papers(&missing, None).is_err());
    let csv = dir.path().join("no-title.csv");
    std::fs::write(&csv, "id,abstract,categories\n1,a,cs.AI\n").unwrap();
    let err = load_papers(&csv, None).unwrap_err().to_string();
    assert!(err.contains("title"), "{err}");
    assert!(ingest(&[], Path::new("x"), &IngestOptions::default()).is_err());
}
