//! Accounting of what a reader did with every record: kept, or skipped for a named reason.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How many line (row) numbers of each skip reason a report keeps.
pub const FIRST_LINES_KEPT: usize = 10;

/// How many distinct unknown category codes a report lists by name (the rest are only counted), so that
/// a file in a foreign taxonomy cannot blow up the report.
const UNKNOWN_CODES_KEPT: usize = 200;

/// Why a record was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The line is not valid JSON (or not a JSON object).
    BadJson,
    /// The line (or CSV row) is not valid UTF-8.
    BadUtf8,
    /// No `id`, or an empty one.
    MissingId,
    /// No `title` (absent or null).
    MissingTitle,
    /// The title is empty after whitespace normalisation.
    EmptyTitle,
    /// No `abstract` (absent or null).
    MissingAbstract,
    /// The abstract is empty after whitespace normalisation.
    EmptyAbstract,
    /// No `categories`, or no code in it.
    MissingCategories,
    /// A field holds a value of the wrong JSON type (a number where a string belongs …).
    WrongType,
    /// The gzip stream ends before its end marker; the line is where the stream stopped. Every complete
    /// record before it is kept, and reading of that file stops there.
    TruncatedGzip,
    /// The gzip stream is damaged (bad checksum, invalid deflate data); reading of that file stops there.
    CorruptGzip,
    /// The id was already seen (in this input or an earlier one); the first occurrence is kept.
    DuplicateId,
    /// A CSV or Parquet row that cannot be decoded (wrong number of fields …).
    BadRow,
    /// An OAI-PMH record marked deleted (a withdrawn record in a harvest); nothing to keep.
    Deleted,
}

impl SkipReason {
    /// Short human explanation, for the CLI.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::BadJson => "invalid JSON",
            SkipReason::BadUtf8 => "invalid UTF-8",
            SkipReason::MissingId => "missing or empty id",
            SkipReason::MissingTitle => "missing title",
            SkipReason::EmptyTitle => "empty title",
            SkipReason::MissingAbstract => "missing abstract",
            SkipReason::EmptyAbstract => "empty abstract",
            SkipReason::MissingCategories => "missing categories",
            SkipReason::WrongType => "field of the wrong type",
            SkipReason::TruncatedGzip => "gzip stream truncated",
            SkipReason::CorruptGzip => "gzip stream damaged",
            SkipReason::DuplicateId => "duplicate id",
            SkipReason::BadRow => "undecodable row",
            SkipReason::Deleted => "deleted record",
        }
    }

    /// The snake_case name used in JSON reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::BadJson => "bad_json",
            SkipReason::BadUtf8 => "bad_utf8",
            SkipReason::MissingId => "missing_id",
            SkipReason::MissingTitle => "missing_title",
            SkipReason::EmptyTitle => "empty_title",
            SkipReason::MissingAbstract => "missing_abstract",
            SkipReason::EmptyAbstract => "empty_abstract",
            SkipReason::MissingCategories => "missing_categories",
            SkipReason::WrongType => "wrong_type",
            SkipReason::TruncatedGzip => "truncated_gzip",
            SkipReason::CorruptGzip => "corrupt_gzip",
            SkipReason::DuplicateId => "duplicate_id",
            SkipReason::BadRow => "bad_row",
            SkipReason::Deleted => "deleted",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Records skipped for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipCount {
    /// How many records.
    pub count: u64,
    /// The first [`FIRST_LINES_KEPT`] 1-based line numbers (row numbers for CSV and Parquet inputs).
    pub first_lines: Vec<u64>,
    /// The detail message of the first occurrence (e.g. the JSON parser's error).
    pub example_message: String,
}

/// What reading one input did with its records.
///
/// Invariant: `records_read == records_kept + skipped_total() + filtered_by_split`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReport {
    /// Records (non-blank lines, rows) seen.
    pub records_read: u64,
    /// Records passed on to the caller.
    pub records_kept: u64,
    /// Uncompressed bytes of the input that were read.
    pub bytes_read: u64,
    /// Bytes read from disk (smaller than `bytes_read` for compressed inputs).
    pub bytes_on_disk: u64,
    /// Blank lines of JSON-lines inputs (not records, not counted in `records_read`).
    pub blank_lines: u64,
    /// Skipped records by reason.
    pub skipped: BTreeMap<SkipReason, SkipCount>,
    /// Records left out because they belong to another split than the one requested.
    pub filtered_by_split: u64,
    /// Kept records with at least one category code the taxonomy does not know (a warning: they are
    /// kept). Always 0 when no taxonomy was given.
    pub unknown_category_records: u64,
    /// Unknown category codes with the number of kept records using them.
    pub unknown_categories: BTreeMap<String, u64>,
    /// `true` when reading stopped early at a damaged gzip stream.
    pub truncated: bool,
}

impl ReadReport {
    /// Counts one skipped record.
    pub fn skip(&mut self, reason: SkipReason, line: u64, message: impl Into<String>) {
        let entry = self.skipped.entry(reason).or_default();
        entry.count += 1;
        if entry.first_lines.len() < FIRST_LINES_KEPT {
            entry.first_lines.push(line);
        }
        if entry.example_message.is_empty() {
            entry.example_message = message.into();
        }
    }

    /// Total number of skipped records.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|s| s.count).sum()
    }

    /// Count for one reason (0 when none).
    pub fn skipped_for(&self, reason: SkipReason) -> u64 {
        self.skipped.get(&reason).map_or(0, |s| s.count)
    }

    /// Notes a kept record's category codes that the taxonomy does not know.
    pub(crate) fn note_unknown_codes<'a>(&mut self, codes: impl Iterator<Item = &'a str>) {
        let mut any = false;
        for code in codes {
            any = true;
            if let Some(n) = self.unknown_categories.get_mut(code) {
                *n += 1;
            } else if self.unknown_categories.len() < UNKNOWN_CODES_KEPT {
                self.unknown_categories.insert(code.to_string(), 1);
            }
        }
        if any {
            self.unknown_category_records += 1;
        }
    }

    /// Adds the counts of `other` (another input) to this report. Line numbers of different files are
    /// not comparable, so the merged `first_lines` only keep this report's numbers, topped up with
    /// `other`'s while there is room: use the per-input reports to locate problems.
    pub fn merge(&mut self, other: &ReadReport) {
        self.records_read += other.records_read;
        self.records_kept += other.records_kept;
        self.bytes_read += other.bytes_read;
        self.bytes_on_disk += other.bytes_on_disk;
        self.blank_lines += other.blank_lines;
        self.filtered_by_split += other.filtered_by_split;
        self.unknown_category_records += other.unknown_category_records;
        self.truncated |= other.truncated;
        for (reason, s) in &other.skipped {
            let e = self.skipped.entry(*reason).or_default();
            e.count += s.count;
            let room = FIRST_LINES_KEPT.saturating_sub(e.first_lines.len());
            e.first_lines.extend(s.first_lines.iter().take(room));
            if e.example_message.is_empty() {
                e.example_message.clone_from(&s.example_message);
            }
        }
        for (code, n) in &other.unknown_categories {
            *self.unknown_categories.entry(code.clone()).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_ten_lines_and_first_message() {
        let mut r = ReadReport::default();
        for line in 1..=15 {
            r.skip(SkipReason::BadJson, line, format!("error at {line}"));
        }
        let s = &r.skipped[&SkipReason::BadJson];
        assert_eq!(s.count, 15);
        assert_eq!(s.first_lines, (1..=10).collect::<Vec<_>>());
        assert_eq!(s.example_message, "error at 1");
        assert_eq!(r.skipped_total(), 15);
        assert_eq!(r.skipped_for(SkipReason::EmptyTitle), 0);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = ReadReport { records_read: 3, records_kept: 2, ..Default::default() };
        a.skip(SkipReason::DuplicateId, 3, "dup");
        let mut b = ReadReport { records_read: 2, records_kept: 1, ..Default::default() };
        b.skip(SkipReason::DuplicateId, 7, "dup b");
        b.note_unknown_codes(["xx.YY"].into_iter());
        a.merge(&b);
        assert_eq!((a.records_read, a.records_kept), (5, 3));
        assert_eq!(a.skipped[&SkipReason::DuplicateId].first_lines, vec![3, 7]);
        assert_eq!(a.unknown_category_records, 1);
        assert_eq!(a.unknown_categories["xx.YY"], 1);
    }

    #[test]
    fn serialises_reasons_as_snake_case_keys() {
        let mut r = ReadReport::default();
        r.skip(SkipReason::TruncatedGzip, 42, "unexpected end of file");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["skipped"]["truncated_gzip"]["first_lines"][0], 42);
        for reason in [SkipReason::BadJson, SkipReason::BadRow, SkipReason::CorruptGzip] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }
}
