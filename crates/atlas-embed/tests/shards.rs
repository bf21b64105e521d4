//! Sharded embedding on real data, fresh compute: a slice of arxiv-mini embedded once whole and once as four
//! shards (`embed --shard I/4`), both with the cache off so every vector comes out of the encoder. The merged
//! shards must equal the whole run byte for byte (ids, vectors and manifest meta), although the shards batch
//! different texts together than the whole run does.
//!
//! Needs the data kit and model (`ATLAS_REQUIRE_DATA`, through atlas-testkit); the encoder is the default
//! (`auto`: ONNX Runtime fp32 when installed, else candle).

use atlas_embed::{EmbedFileOptions, EmbeddingSet, SetMeta, Shard};
use atlas_encoder::{Encoder, EncoderOptions};

/// Not a multiple of 4 or of the chunk size: shards of 37 and 38 papers, several chunks each.
const PAPERS: usize = 150;

#[test]
fn four_shards_merged_equal_the_whole_run_bit_for_bit() {
    let test = "four_shards_merged_equal_the_whole_run_bit_for_bit";
    let Some(mini) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let Some(model) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let papers = tmp.path().join("papers.jsonl");
    atlas_testkit::jsonl_gz_head(&mini, &papers, PAPERS);
    let encoder = Encoder::load(&model, &EncoderOptions::default()).unwrap();
    let opts =
        |shard| EmbedFileOptions { chunk_size: 16, progress: false, shard, ..EmbedFileOptions::default() };

    let whole = tmp.path().join("whole");
    let report = atlas_embed::embed_file(&encoder, None, &papers, &whole, &opts(None)).unwrap();
    assert_eq!((report.count, report.counts.embedded), (PAPERS, PAPERS as u64));

    let mut shards = Vec::new();
    for i in (0..4).rev() {
        let shard = Shard::new(i, 4).unwrap();
        let dir = tmp.path().join(format!("shard-{i}"));
        let r = atlas_embed::embed_file(&encoder, None, &papers, &dir, &opts(Some(shard))).unwrap();
        assert_eq!(r.count, shard.range(PAPERS).len());
        assert_eq!(r.counts.embedded, r.count as u64, "cache off: every vector is computed");
        let meta = SetMeta::open(&dir).unwrap();
        assert_eq!(meta.shard.map(|s| (s.shard, s.input_papers)), Some((shard, PAPERS)));
        shards.push(dir);
    }
    // A shard re-run is up to date; the same folder for another shard is refused.
    let again =
        atlas_embed::embed_file(&encoder, None, &papers, &shards[0], &opts(Some(Shard::new(3, 4).unwrap())));
    assert!(again.unwrap().up_to_date);
    assert!(atlas_embed::embed_file(
        &encoder,
        None,
        &papers,
        &shards[0],
        &opts(Some(Shard::new(2, 4).unwrap()))
    )
    .is_err());

    let merged = tmp.path().join("merged");
    let m = atlas_embed::merge_sets(&shards, &merged).unwrap();
    assert_eq!((m.shards, m.count), (4, PAPERS));
    for f in [atlas_embed::set::VECTORS_FILE, atlas_embed::set::IDS_FILE] {
        assert!(
            std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let (a, b) = (EmbeddingSet::open(&whole).unwrap(), EmbeddingSet::open(&merged).unwrap());
    assert_eq!(a.meta, b.meta);
    assert_eq!(a.ids.len(), PAPERS);
    // Not a vacuous equality: real, distinct unit vectors.
    assert!(a.row(0) != a.row(1));
    assert!((a.row(7).iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    // Three of four shards do not merge.
    assert!(atlas_embed::merge_sets(&shards[1..], &tmp.path().join("short")).is_err());
}
