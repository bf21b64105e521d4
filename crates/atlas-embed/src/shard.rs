//! Sharded embedding: `embed --shard I/N` on N workers, then one set again.
//!
//! **The shard rule.** Shard `I` of `N` (0-based) embeds the papers at positions
//! `floor(I·T/N) .. floor((I+1)·T/N)` of the input, where `T` is the number of papers the run selects (after
//! `--split`) and positions count those papers in input order. The rule depends on nothing but the input and
//! `N`, and the input is fingerprinted (SHA-256) into every shard's manifest, so N workers that read the same
//! file agree on the cut without talking to each other; shard sizes differ by at most one paper.
//!
//! Contiguous ranges (rather than a hash of the id) are chosen so that the shards, put back in shard order,
//! are the single run's rows in the single run's order: [`merge_sets`] is a concatenation, and a merged set
//! can be compared with a single run byte for byte. Each worker still reads the whole input (a fast pass next
//! to embedding) to count `T` and find its range.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use atlas_artifact::{write_atomic, write_atomic_with, IoContext};
use serde::{Deserialize, Serialize};

use crate::set::{vectors_header, write_manifest, SetMeta, IDS_FILE, VECTORS_FILE};
use crate::EmbedError;

/// A malformed `I/N` shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form `I/N` with two whole numbers.
    #[error("shard `{0}`: expected I/N, e.g. 0/4 (shard index from 0, then the shard count)")]
    Syntax(String),
    /// `N` is 0 or `I` is not below `N`.
    #[error("shard {index}/{count}: the index must be below the count, and the count at least 1")]
    OutOfRange {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

/// Shard `index` of `count` (0-based), written `I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u32,
    /// How many shards the run is cut into.
    pub count: u32,
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// The positions (among `total` selected papers, input order) this shard embeds; see the module docs.
    pub fn range(&self, total: usize) -> Range<usize> {
        // u128 so that `index × total` cannot overflow for any input size.
        let at = |i: u32| (i as u128 * total as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse().map_err(|_| syntax())?;
        let count = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count)
    }
}

/// Which part of which run a sharded set holds; stored in its manifest (absent in a whole run's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// The shard.
    pub shard: Shard,
    /// Papers the whole run selects (`T` of the shard rule), so a merge can tell a missing paper.
    pub input_papers: usize,
}

/// What [`merge_sets`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeReport {
    /// The merged set's folder.
    pub out: PathBuf,
    /// Shards merged.
    pub shards: usize,
    /// Papers in the merged set.
    pub count: usize,
}

/// The sets of `dirs` in the order to read them as one: a single set as it is (a whole run, or one shard on
/// its own), or the `N` shards of one run, all of them, in shard order ([`check_shards`]). Several sets that
/// are not the shards of one run are refused: extend an index with `index add` instead.
pub fn plan_sets(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, SetMeta)>, EmbedError> {
    let metas = dirs.iter().map(|d| SetMeta::open(d)).collect::<Result<Vec<_>, _>>()?;
    if dirs.len() == 1 {
        return Ok(dirs.iter().cloned().zip(metas).collect());
    }
    let (parts, _) = check_shards(dirs, &metas)?;
    Ok(parts.into_iter().map(|(d, m)| (d.to_path_buf(), m.clone())).collect())
}

/// One shard set: its folder and its provenance.
pub type ShardSet<'a> = (&'a Path, &'a SetMeta);

/// Checks that `metas` (one per folder of `dirs`) are all `N` shards of one run, once each, and returns them
/// in shard order with the whole run's paper count.
pub fn check_shards<'a>(
    dirs: &'a [PathBuf],
    metas: &'a [SetMeta],
) -> Result<(Vec<ShardSet<'a>>, usize), EmbedError> {
    let conflict = |m: String| Err(EmbedError::Conflict(m));
    let Some(first) = metas.first() else { return conflict("no embedding sets to merge".into()) };
    let mut parts: Vec<(&Path, &SetMeta, ShardMeta)> = Vec::with_capacity(dirs.len());
    for (dir, meta) in dirs.iter().zip(metas) {
        let Some(sm) = meta.shard else {
            return conflict(format!("{} is a whole run, not a shard (made without --shard)", dir.display()));
        };
        if meta.embedding_id != first.embedding_id || meta.input_fingerprint != first.input_fingerprint {
            return conflict(format!(
                "{} comes from another model or input than {} (embedding id or input fingerprint differs)",
                dir.display(),
                dirs[0].display()
            ));
        }
        parts.push((dir, meta, sm));
    }
    parts.sort_by_key(|(_, _, sm)| sm.shard.index);
    let n = parts[0].2.shard.count;
    let total = parts[0].2.input_papers;
    for (i, (dir, meta, sm)) in parts.iter().enumerate() {
        if sm.shard.count != n || sm.input_papers != total {
            return conflict(format!(
                "{} is shard {} of {} papers; the first is of {n} shards over {total}",
                dir.display(),
                sm.shard,
                sm.input_papers
            ));
        }
        if sm.shard.index as usize != i {
            return conflict(format!("shard {i}/{n} is missing or given twice (found {})", sm.shard));
        }
        if meta.count != sm.shard.range(total).len() {
            return conflict(format!(
                "{} holds {} papers; shard {} of {total} papers should hold {}",
                dir.display(),
                meta.count,
                sm.shard,
                sm.shard.range(total).len()
            ));
        }
    }
    if parts.len() != n as usize {
        return conflict(format!("{} sets given for {n} shards", parts.len()));
    }
    Ok((parts.into_iter().map(|(d, m, _)| (d, m)).collect(), total))
}

/// Merges the `N` shard sets in `dirs` (any order) into one set at `out`: rows and ids in shard order, which
/// the shard rule makes the order of a single run. Streams the vector files (memory stays small at any size)
/// and verifies every shard's checksums first.
pub fn merge_sets(dirs: &[PathBuf], out: &Path) -> Result<MergeReport, EmbedError> {
    let metas = dirs.iter().map(|d| SetMeta::open(d)).collect::<Result<Vec<_>, _>>()?;
    let (parts, total) = check_shards(dirs, &metas)?;
    let dim = parts[0].1.dim;
    std::fs::create_dir_all(out).io_context("create", out)?;
    // The header `write_vectors` writes, so the file is byte-identical to the one a single run writes.
    let header = vectors_header(total, dim);
    let vec_out = out.join(VECTORS_FILE);
    write_atomic_with(&vec_out, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        for (dir, meta) in &parts {
            let path = dir.join(VECTORS_FILE);
            let mut f = std::fs::File::open(&path)?;
            let mut len = [0u8; 8];
            f.read_exact(&mut len)?;
            f.seek(SeekFrom::Start(8 + u64::from_le_bytes(len)))?;
            let want = (meta.count * dim * 4) as u64;
            let copied = std::io::copy(&mut f.take(want), w)?;
            if copied != want {
                return Err(std::io::Error::other(format!("{}: {copied} bytes of {want}", path.display())));
            }
        }
        Ok(())
    })?;
    let mut ids = String::new();
    for (dir, _) in &parts {
        let p = dir.join(IDS_FILE);
        ids.push_str(&std::fs::read_to_string(&p).io_context("read", &p)?);
    }
    write_atomic(&out.join(IDS_FILE), ids.as_bytes())?;
    let meta = SetMeta { count: total, shard: None, ..parts[0].1.clone() };
    write_manifest(out, &meta)?;
    Ok(MergeReport { out: out.to_path_buf(), shards: parts.len(), count: total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_print_and_refuse_nonsense() {
        let s: Shard = "2/4".parse().unwrap();
        assert_eq!(s, Shard { index: 2, count: 4 });
        assert_eq!(s.to_string(), "2/4");
        assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap(), Shard { index: 0, count: 1 });
        assert_eq!("4/4".parse::<Shard>(), Err(ShardError::OutOfRange { index: 4, count: 4 }));
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::OutOfRange { index: 0, count: 0 }));
        for bad in ["", "3", "a/4", "1/b", "-1/4", "1/4/2"] {
            assert!(matches!(bad.parse::<Shard>(), Err(ShardError::Syntax(_))), "{bad}");
        }
    }

    /// The ranges of all shards tile `0..total` in order, and differ in size by at most one.
    #[test]
    fn shard_ranges_tile_the_input_in_order() {
        for total in [0usize, 1, 3, 7, 100, 100_003] {
            for n in 1..=9u32 {
                let ranges: Vec<_> = (0..n).map(|i| Shard::new(i, n).unwrap().range(total)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[n as usize - 1].end, total);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (lo, hi) = (
                    ranges.iter().map(|r| r.len()).min().unwrap(),
                    ranges.iter().map(|r| r.len()).max().unwrap(),
                );
                assert!(hi - lo <= 1, "total {total}, {n} shards: sizes {lo}..{hi}");
            }
        }
        assert_eq!(Shard::new(1, 4).unwrap().range(10), 2..5);
    }

    fn meta(shard: Option<(u32, u32)>, count: usize, total: usize) -> SetMeta {
        let shard =
            shard.map(|(i, n)| ShardMeta { shard: Shard { index: i, count: n }, input_papers: total });
        SetMeta { shard, ..crate::set::tests::sample_meta(count) }
    }

    /// Three shards of five papers, written out of order, merge into the rows of a single run.
    #[test]
    fn shards_merge_back_into_one_set_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let row = |i: usize| [i as f32, -(i as f32)];
        let ids: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
        let mut dirs = Vec::new();
        for i in [2u32, 0, 1] {
            let r = Shard::new(i, 3).unwrap().range(5);
            let v: Vec<f32> = r.clone().flat_map(row).collect();
            let d = dir.path().join(format!("s{i}"));
            crate::write_set(&d, &ids[r.clone()], &v, &meta(Some((i, 3)), r.len(), 5)).unwrap();
            dirs.push(d);
        }
        let out = dir.path().join("merged");
        let report = merge_sets(&dirs, &out).unwrap();
        assert_eq!((report.shards, report.count), (3, 5));
        let merged = crate::EmbeddingSet::open(&out).unwrap();
        assert_eq!(merged.ids, ids);
        assert_eq!(merged.vectors, (0..5).flat_map(row).collect::<Vec<_>>());
        assert_eq!(merged.meta, meta(None, 5, 5));
        // Byte-identical to the same rows written as one set.
        let single = dir.path().join("single");
        crate::write_set(&single, &ids, &merged.vectors, &meta(None, 5, 5)).unwrap();
        for f in [VECTORS_FILE, IDS_FILE] {
            assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(single.join(f)).unwrap(), "{f}");
        }
    }

    #[test]
    fn an_incomplete_or_mixed_set_of_shards_is_refused() {
        let dirs: Vec<PathBuf> = ["a", "b"].iter().map(PathBuf::from).collect();
        let err = |metas: &[SetMeta]| check_shards(&dirs, metas).unwrap_err().to_string();
        // Shard 1 of 3 missing.
        assert!(err(&[meta(Some((0, 3)), 2, 6), meta(Some((2, 3)), 2, 6)]).contains("missing"));
        // The same shard twice.
        assert!(err(&[meta(Some((0, 2)), 3, 6), meta(Some((0, 2)), 3, 6)]).contains("missing or given twice"));
        // A whole run among shards.
        assert!(err(&[meta(Some((0, 2)), 3, 6), meta(None, 6, 6)]).contains("not a shard"));
        // Another input.
        let other = SetMeta { input_fingerprint: "other".into(), ..meta(Some((1, 2)), 3, 6) };
        assert!(err(&[meta(Some((0, 2)), 3, 6), other]).contains("another model or input"));
        // A shard short of papers.
        assert!(err(&[meta(Some((0, 2)), 3, 6), meta(Some((1, 2)), 2, 6)]).contains("should hold 3"));
        // Complete: fine, in shard order.
        let ok = [meta(Some((1, 2)), 3, 6), meta(Some((0, 2)), 3, 6)];
        let (parts, total) = check_shards(&dirs, &ok).unwrap();
        assert_eq!(total, 6);
        assert_eq!(parts.iter().map(|(d, _)| d.to_str().unwrap()).collect::<Vec<_>>(), ["b", "a"]);
    }
}
