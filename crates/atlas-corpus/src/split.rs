//! The fixed train / validation / test split rule of the peer-baseline protocol.
//!
//! `bucket = int(sha256(id).hexdigest()[:8], 16) % 100`; train for buckets 0-79, validation 80-89,
//! test 90-99. The rule depends on the id only, so a paper keeps its split when the corpus grows and
//! every tool that follows the protocol (the Python peers included) agrees on it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One of the three dataset splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Buckets 0-79.
    Train,
    /// Buckets 80-89.
    Validation,
    /// Buckets 90-99.
    Test,
}

impl Split {
    /// All splits in their canonical order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// `"train"`, `"validation"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// Position in [`Split::ALL`], for per-split arrays.
    pub fn index(self) -> usize {
        match self {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Test => 2,
        }
    }

    /// The split a bucket (0-99) belongs to.
    pub fn from_bucket(bucket: u8) -> Split {
        match bucket {
            0..=79 => Split::Train,
            80..=89 => Split::Validation,
            _ => Split::Test,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Split::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown split `{0}` (expected train, validation or test)")]
pub struct ParseSplitError(String);

impl FromStr for Split {
    type Err = ParseSplitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "validation" | "valid" | "val" | "dev" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            _ => Err(ParseSplitError(s.to_string())),
        }
    }
}

/// SHA-256 of an id, computed once per record: it gives both the split bucket and the de-duplication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdDigest {
    /// The split bucket, 0-99.
    pub bucket: u8,
    /// The first 128 bits of the digest: a collision-free (in practice) key for the duplicate-id set,
    /// 16 bytes per paper instead of a `String`.
    pub key: u128,
}

impl IdDigest {
    pub fn of(id: &str) -> IdDigest {
        let d = Sha256::digest(id.as_bytes());
        let head = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        IdDigest { bucket: (head % 100) as u8, key: u128::from_be_bytes(k) }
    }

    pub fn split(self) -> Split {
        Split::from_bucket(self.bucket)
    }
}

/// The split bucket (0-99) of an id: the first 8 hex digits of its SHA-256, modulo 100.
pub fn split_bucket(id: &str) -> u8 {
    IdDigest::of(id).bucket
}

/// The split of an id under the fixed protocol rule.
pub fn split_of(id: &str) -> Split {
    Split::from_bucket(split_bucket(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_buckets_match_python_protocol() {
        // Values computed with common.py's `int(hashlib.sha256(pid.encode()).hexdigest()[:8], 16) % 100`.
        for (id, bucket) in KNOWN {
            assert_eq!(split_bucket(id), *bucket, "{id}");
            assert_eq!(split_of(id), Split::from_bucket(*bucket), "{id}");
        }
    }

    const KNOWN: &[(&str, u8)] = &[
        ("0704.0001", 50),
        ("0704.0002", 27),
        ("hep-th/9901001", 18),
        ("cond-mat/0512551", 92),
        ("1501.01230", 85),
        ("2506.07938", 10),
        ("math/0211159", 24),
        ("", 10),
        ("csv:abc", 14),
        ("ünïcode/1", 74),
    ];

    #[test]
    fn bucket_boundaries() {
        assert_eq!(Split::from_bucket(0), Split::Train);
        assert_eq!(Split::from_bucket(79), Split::Train);
        assert_eq!(Split::from_bucket(80), Split::Validation);
        assert_eq!(Split::from_bucket(89), Split::Validation);
        assert_eq!(Split::from_bucket(90), Split::Test);
        assert_eq!(Split::from_bucket(99), Split::Test);
    }

    #[test]
    fn display_and_parse_round_trip() {
        for s in Split::ALL {
            assert_eq!(s.to_string().parse::<Split>().unwrap(), s);
            assert_eq!(Split::ALL[s.index()], s);
        }
        assert_eq!("Validation".parse::<Split>().unwrap(), Split::Validation);
        assert!("training".parse::<Split>().is_err());
        assert_eq!(serde_json::to_string(&Split::Validation).unwrap(), "\"validation\"");
    }
}
