//! TF-IDF features of word uni- and bigrams, compatible with scikit-learn's `TfidfVectorizer`.
//!
//! Fitting follows scikit-learn step by step: tokens come from [`crate::tokenize`], bigrams join two
//! consecutive tokens with a space, document frequencies (df) are counted once per document, terms outside
//! `[min_df, max_df · n]` are dropped, then the `max_features` terms with the largest total count are kept
//! (ties broken by the term's text so the result never depends on hashing or thread scheduling). Features are
//! numbered in the alphabetical (byte) order of their terms, as scikit-learn does. The idf is the smoothed
//! `ln((1 + n) / (1 + df)) + 1`, the term frequency `1 + ln(tf)` when `sublinear_tf` is set, and every row is
//! L2-normalised.
//!
//! Fitting is parallel and never materialises n-gram strings for the whole corpus: each chunk of documents
//! interns its words to local ids, the chunks' words are merged into global `u32` ids, and bigrams are
//! counted as `u64` pairs of ids in hash maps that are sharded so the merge runs in parallel too.
//! Transforming a text costs one hash lookup per token and per bigram, so classifying a single text is cheap.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::iter;

use rayon::prelude::*;

use crate::error::ClassifyError;
use crate::params::TfidfParams;
use crate::sparse::CsrMatrix;
use crate::tokenize::{normalize, tokens};

/// Hash maps with a fixed-seed hasher: iteration order (and so any accidental dependence on it) is the same
/// in every run. Inputs that reach these maps at prediction time are only looked up, never inserted, so a
/// fixed seed does not open a hash-flooding attack.
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

fn new_map<K, V>(capacity: usize) -> Map<K, V> {
    Map::with_capacity_and_hasher(
        capacity,
        ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            7,
        ),
    )
}

/// Marks "no id": an unknown word, a word that is not itself a feature, or the absent second word of a
/// unigram in a term key.
const NONE: u32 = u32::MAX;

/// Number of shards the bigram counts are split into, so that merging the per-chunk counts is parallel.
const SHARDS: usize = 64;

/// A term as a pair of word ids: `(first << 32) | second`, with `second == NONE` for a unigram.
fn term_key(first: u32, second: u32) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
}

fn key_words(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

fn shard_of(key: u64) -> usize {
    // Fibonacci hashing: the high bits of the product are well mixed even for small consecutive ids.
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS
}

/// A fitted TF-IDF vectoriser: vocabulary, idf weights and the settings needed to transform new texts.
#[derive(Debug, Clone)]
pub struct TfidfVectorizer {
    params: TfidfParams,
    /// Feature index → term text (words joined by a space).
    terms: Vec<String>,
    /// Feature index → idf weight.
    idf: Vec<f32>,
    /// Every word that occurs in some term → its vocabulary word id.
    words: Map<Box<str>, u32>,
    /// Vocabulary word id → feature index of the word as a unigram (`NONE` if it only occurs in bigrams).
    unigram_feature: Vec<u32>,
    /// Pair of vocabulary word ids → feature index of the bigram.
    bigram_feature: Map<u64, u32>,
}

/// Reusable buffers for building one row.
#[derive(Default)]
struct RowScratch {
    features: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
    word_ids: Vec<u32>,
}

/// Tokens of one chunk of documents, interned to chunk-local word ids.
struct ChunkTokens {
    /// Local id → word.
    words: Vec<Box<str>>,
    /// Local id → total count in the chunk.
    count: Vec<u64>,
    /// Local id → number of documents of the chunk containing it.
    df: Vec<u64>,
    /// Word ids of all documents, concatenated (local ids at first, global ids after the merge).
    ids: Vec<u32>,
    /// End offset in `ids` of every document.
    doc_ends: Vec<usize>,
}

/// A term that passed the df filters.
#[derive(Clone, Copy)]
struct Candidate {
    count: u64,
    df: u64,
    key: u64,
}

/// The corpus-wide word table built while fitting.
struct GlobalWords {
    words: Vec<Box<str>>,
    count: Vec<u64>,
    df: Vec<u64>,
}

impl GlobalWords {
    /// The bytes of a term's text, without allocating.
    fn term_bytes(&self, key: u64) -> impl Iterator<Item = u8> + '_ {
        let (a, b) = key_words(key);
        let second = (b != NONE).then(|| &self.words[b as usize]);
        self.words[a as usize]
            .bytes()
            .chain(second.into_iter().flat_map(|w| iter::once(b' ').chain(w.bytes())))
    }

    fn term_cmp(&self, a: u64, b: u64) -> Ordering {
        self.term_bytes(a).cmp(self.term_bytes(b))
    }

    fn term_string(&self, key: u64) -> String {
        let (a, b) = key_words(key);
        if b == NONE {
            self.words[a as usize].to_string()
        } else {
            format!("{} {}", self.words[a as usize], self.words[b as usize])
        }
    }
}

fn validate(params: &TfidfParams) -> Result<(), ClassifyError> {
    if !(1..=2).contains(&params.ngram_max) {
        return Err(ClassifyError::InvalidParams(format!(
            "tfidf.ngram_max must be 1 (unigrams) or 2 (uni- and bigrams), got {}",
            params.ngram_max
        )));
    }
    if !(params.max_df > 0.0 && params.max_df <= 1.0) {
        return Err(ClassifyError::InvalidParams(format!(
            "tfidf.max_df is a fraction of the documents in (0, 1], got {}",
            params.max_df
        )));
    }
    if params.max_features == Some(0) {
        return Err(ClassifyError::InvalidParams("tfidf.max_features must be at least 1".into()));
    }
    Ok(())
}

/// Documents per fitting chunk: a few chunks per thread balances the load, while fewer chunks keep the
/// merge of per-chunk counts small.
fn chunk_len(n_docs: usize) -> usize {
    let n_chunks = (rayon::current_num_threads() * 2).max(1);
    n_docs.div_ceil(n_chunks).max(256)
}

fn tokenize_chunk(texts: &[&str], lowercase: bool) -> ChunkTokens {
    let mut local: Map<Box<str>, u32> = new_map(1 << 14);
    let mut chunk = ChunkTokens {
        words: Vec::new(),
        count: Vec::new(),
        df: Vec::new(),
        ids: Vec::new(),
        doc_ends: Vec::with_capacity(texts.len()),
    };
    // `seen[id]` = 1 + index of the last document that counted `id` in its df.
    let mut seen: Vec<u32> = Vec::new();
    for (doc, text) in texts.iter().enumerate() {
        let stamp = doc as u32 + 1;
        let norm = normalize(text, lowercase);
        for tok in tokens(&norm) {
            let id = match local.get(tok) {
                Some(&id) => id,
                None => {
                    let id = chunk.words.len() as u32;
                    local.insert(tok.into(), id);
                    chunk.words.push(tok.into());
                    chunk.count.push(0);
                    chunk.df.push(0);
                    seen.push(0);
                    id
                }
            };
            let i = id as usize;
            chunk.count[i] += 1;
            if seen[i] != stamp {
                seen[i] = stamp;
                chunk.df[i] += 1;
            }
            chunk.ids.push(id);
        }
        chunk.doc_ends.push(chunk.ids.len());
    }
    chunk
}

/// Merges the chunks' words into one table and returns it with, per chunk, the local → global id map.
fn merge_words(chunks: &mut [ChunkTokens]) -> Result<(GlobalWords, Vec<Vec<u32>>), ClassifyError> {
    let mut index: Map<Box<str>, u32> = new_map(chunks.first().map_or(0, |c| c.words.len()) * 2);
    let mut global = GlobalWords { words: Vec::new(), count: Vec::new(), df: Vec::new() };
    let mut remaps = Vec::with_capacity(chunks.len());
    for chunk in chunks.iter_mut() {
        let mut remap = Vec::with_capacity(chunk.words.len());
        for (i, word) in std::mem::take(&mut chunk.words).into_iter().enumerate() {
            let id = match index.get(&word) {
                Some(&id) => id,
                None => {
                    let id =
                        u32::try_from(global.words.len()).ok().filter(|&id| id != NONE).ok_or_else(|| {
                            ClassifyError::InvalidData("more than 4 billion distinct words".into())
                        })?;
                    index.insert(word.clone(), id);
                    global.words.push(word);
                    global.count.push(0);
                    global.df.push(0);
                    id
                }
            };
            global.count[id as usize] += chunk.count[i];
            global.df[id as usize] += chunk.df[i];
            remap.push(id);
        }
        remaps.push(remap);
    }
    Ok((global, remaps))
}

/// Counts the bigrams of one chunk (ids already global): per shard, key → (total count, df).
fn count_bigrams(chunk: &ChunkTokens) -> Vec<Map<u64, (u32, u32)>> {
    let per_shard = chunk.ids.len() / SHARDS / 2 + 16;
    let mut shards: Vec<Map<u64, (u32, u32)>> = (0..SHARDS).map(|_| new_map(per_shard)).collect();
    let mut keys: Vec<u64> = Vec::new();
    let mut start = 0;
    for &end in &chunk.doc_ends {
        let doc = &chunk.ids[start..end];
        start = end;
        keys.clear();
        keys.extend(doc.windows(2).map(|w| term_key(w[0], w[1])));
        // Sorting groups each document's repeated bigrams so df is counted once per document.
        keys.sort_unstable();
        let mut i = 0;
        while i < keys.len() {
            let key = keys[i];
            let mut j = i + 1;
            while j < keys.len() && keys[j] == key {
                j += 1;
            }
            let e = shards[shard_of(key)].entry(key).or_insert((0, 0));
            e.0 = e.0.saturating_add((j - i) as u32);
            e.1 = e.1.saturating_add(1);
            i = j;
        }
    }
    shards
}

impl TfidfVectorizer {
    /// Learns the vocabulary and idf weights from `texts`.
    pub fn fit(texts: &[&str], params: &TfidfParams) -> Result<Self, ClassifyError> {
        Ok(Self::fit_transform(texts, params)?.0)
    }

    /// Learns the vocabulary and idf weights from `texts` and returns their TF-IDF matrix as well (cheaper
    /// than `fit` followed by `transform`, because the tokens are reused).
    pub fn fit_transform(texts: &[&str], params: &TfidfParams) -> Result<(Self, CsrMatrix), ClassifyError> {
        validate(params)?;
        if texts.is_empty() {
            return Err(ClassifyError::InvalidData("cannot fit TF-IDF features on zero texts".into()));
        }
        let n_docs = texts.len();
        let mut chunks: Vec<ChunkTokens> =
            texts.par_chunks(chunk_len(n_docs)).map(|c| tokenize_chunk(c, params.lowercase)).collect();
        let (global, remaps) = merge_words(&mut chunks)?;
        chunks.par_iter_mut().zip(&remaps).for_each(|(chunk, remap)| {
            for id in &mut chunk.ids {
                *id = remap[*id as usize];
            }
        });
        drop(remaps);

        let min_df = params.min_df.max(1) as u64;
        let max_df = params.max_df * n_docs as f64;
        if max_df < min_df as f64 {
            return Err(ClassifyError::InvalidParams(format!(
                "no term can be kept: tfidf.min_df = {min_df} documents, but tfidf.max_df = {} allows at \
                 most {max_df:.1} of the {n_docs} training texts",
                params.max_df
            )));
        }
        let keep = |df: u64| df >= min_df && df as f64 <= max_df;
        let mut candidates: Vec<Candidate> = (0..global.words.len())
            .filter(|&i| keep(global.df[i]))
            .map(|i| Candidate { count: global.count[i], df: global.df[i], key: term_key(i as u32, NONE) })
            .collect();
        if params.ngram_max >= 2 {
            let mut per_chunk: Vec<Vec<Map<u64, (u32, u32)>>> =
                chunks.par_iter().map(count_bigrams).collect();
            // Regroup by shard: shards[s] = every chunk's map of shard s.
            let mut shards: Vec<Vec<Map<u64, (u32, u32)>>> = (0..SHARDS).map(|_| Vec::new()).collect();
            for chunk_shards in per_chunk.drain(..) {
                for (s, m) in chunk_shards.into_iter().enumerate() {
                    shards[s].push(m);
                }
            }
            let bigrams: Vec<Vec<Candidate>> = shards
                .into_par_iter()
                .map(|maps| {
                    let mut maps = maps.into_iter();
                    let mut merged = maps.next().unwrap_or_else(|| new_map(0));
                    for m in maps {
                        for (key, (c, d)) in m {
                            let e = merged.entry(key).or_insert((0, 0));
                            e.0 = e.0.saturating_add(c);
                            e.1 = e.1.saturating_add(d);
                        }
                    }
                    merged
                        .into_iter()
                        .filter(|&(_, (_, d))| keep(u64::from(d)))
                        .map(|(key, (c, d))| Candidate { count: u64::from(c), df: u64::from(d), key })
                        .collect()
                })
                .collect();
            candidates.extend(bigrams.into_iter().flatten());
        }
        if candidates.is_empty() {
            return Err(ClassifyError::InvalidData(format!(
                "no term occurs in at least {min_df} of the {n_docs} training texts (tfidf.min_df) and in \
                 at most {max_df:.0} of them (tfidf.max_df); lower min_df or raise max_df"
            )));
        }
        if let Some(limit) = params.max_features {
            if candidates.len() > limit {
                let by_count = |a: &Candidate, b: &Candidate| {
                    b.count.cmp(&a.count).then_with(|| global.term_cmp(a.key, b.key))
                };
                candidates.select_nth_unstable_by(limit - 1, by_count);
                candidates.truncate(limit);
            }
        }
        candidates.par_sort_unstable_by(|a, b| global.term_cmp(a.key, b.key));

        // Build the vocabulary: words are numbered in the order of first use by the sorted terms.
        let mut global_to_vocab = vec![NONE; global.words.len()];
        let mut vocab_words: Vec<Box<str>> = Vec::new();
        let mut vocab_id = |g: u32, vocab_words: &mut Vec<Box<str>>| -> u32 {
            let slot = &mut global_to_vocab[g as usize];
            if *slot == NONE {
                *slot = vocab_words.len() as u32;
                vocab_words.push(global.words[g as usize].clone());
            }
            *slot
        };
        let mut unigram_pairs = Vec::new();
        let mut bigram_feature = new_map(candidates.len());
        for (f, c) in candidates.iter().enumerate() {
            let (a, b) = key_words(c.key);
            let va = vocab_id(a, &mut vocab_words);
            if b == NONE {
                unigram_pairs.push((va, f as u32));
            } else {
                let vb = vocab_id(b, &mut vocab_words);
                bigram_feature.insert(term_key(va, vb), f as u32);
            }
        }
        let mut unigram_feature = vec![NONE; vocab_words.len()];
        for (w, f) in unigram_pairs {
            unigram_feature[w as usize] = f;
        }
        let mut words = new_map(vocab_words.len());
        for (i, w) in vocab_words.into_iter().enumerate() {
            words.insert(w, i as u32);
        }
        let idf = candidates.iter().map(|c| smooth_idf(n_docs as u64, c.df)).collect();
        let terms = candidates.par_iter().map(|c| global.term_string(c.key)).collect();
        let vectorizer =
            TfidfVectorizer { params: params.clone(), terms, idf, words, unigram_feature, bigram_feature };

        // Transform the training texts from their token ids (no second tokenisation).
        let parts: Vec<CsrMatrix> = chunks
            .par_iter()
            .map(|chunk| {
                let mut m = CsrMatrix::empty(vectorizer.n_features());
                m.indptr.reserve(chunk.doc_ends.len());
                let mut scratch = RowScratch::default();
                let mut start = 0;
                for &end in &chunk.doc_ends {
                    scratch.word_ids.clear();
                    scratch
                        .word_ids
                        .extend(chunk.ids[start..end].iter().map(|&g| global_to_vocab[g as usize]));
                    start = end;
                    vectorizer.build_row(&mut scratch);
                    m.push_row(&scratch.indices, &scratch.values);
                }
                m
            })
            .collect();
        drop(chunks);
        let mut x = CsrMatrix::empty(vectorizer.n_features());
        x.indices.reserve(parts.iter().map(CsrMatrix::nnz).sum());
        x.values.reserve(x.indices.capacity());
        for p in &parts {
            x.append(p);
        }
        Ok((vectorizer, x))
    }

    /// Rebuilds a fitted vectoriser from its terms (feature order) and idf weights, e.g. when loading a
    /// model. Fails if the terms are not valid n-grams for `params` or not unique.
    pub fn from_parts(
        terms: Vec<String>,
        idf: Vec<f32>,
        params: &TfidfParams,
    ) -> Result<Self, ClassifyError> {
        validate(params)?;
        if terms.len() != idf.len() {
            return Err(ClassifyError::InvalidData(format!(
                "{} terms but {} idf weights",
                terms.len(),
                idf.len()
            )));
        }
        let mut words: Map<Box<str>, u32> = new_map(terms.len());
        let mut unigram_feature: Vec<u32> = Vec::new();
        let mut bigram_feature = new_map(terms.len());
        let mut word_id = |w: &str, unigram_feature: &mut Vec<u32>| -> u32 {
            if let Some(&id) = words.get(w) {
                return id;
            }
            let id = unigram_feature.len() as u32;
            words.insert(w.into(), id);
            unigram_feature.push(NONE);
            id
        };
        for (f, term) in terms.iter().enumerate() {
            let parts: Vec<&str> = term.split(' ').collect();
            let bad = |why: &str| ClassifyError::InvalidData(format!("vocabulary term {f} ({term:?}) {why}"));
            if parts.iter().any(|p| p.is_empty() || tokens(p).next() != Some(*p)) {
                return Err(bad("is not made of tokens separated by single spaces"));
            }
            let duplicate = match parts.as_slice() {
                [w] => {
                    let id = word_id(w, &mut unigram_feature) as usize;
                    std::mem::replace(&mut unigram_feature[id], f as u32) != NONE
                }
                [a, b] if params.ngram_max >= 2 => {
                    let key = term_key(word_id(a, &mut unigram_feature), word_id(b, &mut unigram_feature));
                    bigram_feature.insert(key, f as u32).is_some()
                }
                _ => return Err(bad(&format!("has more than tfidf.ngram_max = {} words", params.ngram_max))),
            };
            if duplicate {
                return Err(bad("occurs twice"));
            }
        }
        Ok(TfidfVectorizer { params: params.clone(), terms, idf, words, unigram_feature, bigram_feature })
    }

    /// Number of features (columns of the transformed matrix).
    pub fn n_features(&self) -> usize {
        self.terms.len()
    }

    /// Feature index → term (words joined by a space), in alphabetical order.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Feature index → idf weight.
    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    /// The settings the vectoriser was fitted with.
    pub fn params(&self) -> &TfidfParams {
        &self.params
    }

    /// TF-IDF rows of `texts` (parallel over texts).
    pub fn transform(&self, texts: &[&str]) -> CsrMatrix {
        let chunk = texts.len().div_ceil(rayon::current_num_threads() * 4).max(64);
        let parts: Vec<CsrMatrix> = texts
            .par_chunks(chunk)
            .map(|texts| {
                let mut m = CsrMatrix::empty(self.n_features());
                let mut scratch = RowScratch::default();
                for text in texts {
                    self.text_row(text, &mut scratch);
                    m.push_row(&scratch.indices, &scratch.values);
                }
                m
            })
            .collect();
        let mut x = CsrMatrix::empty(self.n_features());
        for p in &parts {
            x.append(p);
        }
        x
    }

    /// TF-IDF row of one text as (feature indices in increasing order, values).
    pub fn transform_one(&self, text: &str) -> (Vec<u32>, Vec<f32>) {
        let mut scratch = RowScratch::default();
        self.text_row(text, &mut scratch);
        (scratch.indices, scratch.values)
    }

    fn text_row(&self, text: &str, scratch: &mut RowScratch) {
        let norm = normalize(text, self.params.lowercase);
        scratch.word_ids.clear();
        scratch.word_ids.extend(tokens(&norm).map(|t| self.words.get(t).copied().unwrap_or(NONE)));
        self.build_row(scratch);
    }

    /// Builds the row of the document whose vocabulary word ids are `scratch.word_ids` (`NONE` for words
    /// outside the vocabulary) into `scratch.indices` / `scratch.values`.
    fn build_row(&self, scratch: &mut RowScratch) {
        let RowScratch { features, indices, values, word_ids } = scratch;
        features.clear();
        let mut prev = NONE;
        for &w in word_ids.iter() {
            if w != NONE {
                let f = self.unigram_feature[w as usize];
                if f != NONE {
                    features.push(f);
                }
                if prev != NONE && self.params.ngram_max >= 2 {
                    if let Some(&f) = self.bigram_feature.get(&term_key(prev, w)) {
                        features.push(f);
                    }
                }
            }
            prev = w;
        }
        features.sort_unstable();
        indices.clear();
        values.clear();
        let mut i = 0;
        while i < features.len() {
            let f = features[i];
            let mut j = i + 1;
            while j < features.len() && features[j] == f {
                j += 1;
            }
            let tf = (j - i) as f32;
            let tf = if self.params.sublinear_tf { 1.0 + tf.ln() } else { tf };
            indices.push(f);
            values.push(tf * self.idf[f as usize]);
            i = j;
        }
        let norm = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        if norm > 0.0 {
            let inv = (1.0 / norm) as f32;
            values.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

/// scikit-learn's smoothed idf: `ln((1 + n) / (1 + df)) + 1`.
fn smooth_idf(n_docs: u64, df: u64) -> f32 {
    (((1 + n_docs) as f64 / (1 + df) as f64).ln() + 1.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(ngram_max: usize, min_df: usize, max_features: Option<usize>) -> TfidfParams {
        TfidfParams { ngram_max, min_df, max_df: 1.0, max_features, sublinear_tf: true, lowercase: true }
    }

    /// Dense copy of row `i` keyed by term, for readable assertions.
    fn row_map(v: &TfidfVectorizer, x: &CsrMatrix, i: usize) -> Vec<(String, f32)> {
        let (idx, val) = x.row(i);
        idx.iter().zip(val).map(|(&f, &w)| (v.terms()[f as usize].clone(), w)).collect()
    }

    #[test]
    fn idf_and_tf_match_hand_computation() {
        // Corpus of 3 documents, unigrams only, min_df 1.
        let docs = ["Cat cat dog", "dog bird", "cat"];
        let (v, x) = TfidfVectorizer::fit_transform(&docs, &params(1, 1, None)).unwrap();
        assert_eq!(v.terms(), ["bird", "cat", "dog"]);
        // df: bird 1, cat 2, dog 2; n = 3.
        let idf_bird = (4.0f64 / 2.0).ln() + 1.0;
        let idf_cat = (4.0f64 / 3.0).ln() + 1.0;
        for (got, want) in v.idf().iter().zip([idf_bird, idf_cat, idf_cat]) {
            assert!((f64::from(*got) - want).abs() < 1e-6, "{got} vs {want}");
        }
        // Doc 0: tf(cat) = 2 → 1 + ln 2, tf(dog) = 1 → 1; then L2-normalised.
        let (c, d) = ((1.0 + 2f64.ln()) * idf_cat, idf_cat);
        let norm = (c * c + d * d).sqrt();
        let r0 = row_map(&v, &x, 0);
        assert_eq!(r0.len(), 2);
        assert_eq!(r0[0].0, "cat");
        assert!((f64::from(r0[0].1) - c / norm).abs() < 1e-6);
        assert!((f64::from(r0[1].1) - d / norm).abs() < 1e-6);
        // Doc 2 has a single feature: normalised to 1.
        assert_eq!(row_map(&v, &x, 2), vec![("cat".to_string(), 1.0)]);
        // transform() of the training texts reproduces fit_transform().
        assert_eq!(v.transform(&docs), x);
    }

    #[test]
    fn raw_tf_when_sublinear_is_off() {
        let mut p = params(1, 1, None);
        p.sublinear_tf = false;
        let (v, x) = TfidfVectorizer::fit_transform(&["aa aa aa bb", "bb"], &p).unwrap();
        // Both terms: aa df 1, bb df 2 → idf(aa) = ln(3/2) + 1, idf(bb) = 1.
        let (a, b) = (3.0 * ((1.5f64).ln() + 1.0), 1.0);
        let norm = (a * a + b * b).sqrt();
        let r = row_map(&v, &x, 0);
        assert!((f64::from(r[0].1) - a / norm).abs() < 1e-6);
        assert!((f64::from(r[1].1) - b / norm).abs() < 1e-6);
    }

    #[test]
    fn bigrams_join_consecutive_tokens_across_punctuation() {
        let docs = ["Deep learning, a survey.", "deep learning works"];
        let (v, _) = TfidfVectorizer::fit_transform(&docs, &params(2, 1, None)).unwrap();
        // Single characters are dropped before n-grams are formed, as in scikit-learn: "learning survey".
        assert_eq!(
            v.terms(),
            ["deep", "deep learning", "learning", "learning survey", "learning works", "survey", "works"]
        );
    }

    #[test]
    fn min_df_and_max_features_select_like_scikit_learn() {
        let docs = ["red blue blue green", "red blue", "red yellow", "blue red"];
        // min_df = 2 drops every term seen in a single document: green, yellow and every bigram except
        // "red blue" (docs 0 and 1).
        let (v, x) = TfidfVectorizer::fit_transform(&docs, &params(2, 2, None)).unwrap();
        assert_eq!(v.terms(), ["blue", "red", "red blue"]);
        assert_eq!(x.n_cols, 3);
        // max_features = 2 keeps the most frequent by total count: blue 4, red 4 (ties broken by text),
        // dropping "red blue" (2).
        let (v, _) = TfidfVectorizer::fit_transform(&docs, &params(2, 2, Some(2))).unwrap();
        assert_eq!(v.terms(), ["blue", "red"]);
        // A tie at the cut: blue and red both count 4 → the alphabetically first one wins.
        let (v, _) = TfidfVectorizer::fit_transform(&docs, &params(1, 1, Some(1))).unwrap();
        assert_eq!(v.terms(), ["blue"]);
        // max_df = 0.5 drops terms in more than 2 of the 4 documents (blue: 3, red: 4).
        let mut p = params(1, 1, None);
        p.max_df = 0.5;
        let (v, _) = TfidfVectorizer::fit_transform(&docs, &p).unwrap();
        assert_eq!(v.terms(), ["green", "yellow"]);
    }

    #[test]
    fn unknown_words_and_bigram_only_words() {
        let docs = ["alpha beta", "alpha beta", "gamma"];
        let mut p = params(2, 2, None);
        p.max_df = 0.9;
        let (v, _) = TfidfVectorizer::fit_transform(&docs, &p).unwrap();
        assert_eq!(v.terms(), ["alpha", "alpha beta", "beta"]);
        let (idx, val) = v.transform_one("ALPHA beta omega");
        assert_eq!(idx, [0, 1, 2]);
        assert!((val.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
        // An unknown word between two known ones breaks the bigram.
        let (idx, _) = v.transform_one("alpha omega beta");
        assert_eq!(idx, [0, 2]);
        assert_eq!(v.transform_one("nothing known").0.len(), 0);
    }

    #[test]
    fn from_parts_round_trips_and_rejects_bad_vocabularies() {
        let docs = ["the quick brown fox", "the lazy dog", "quick brown dogs"];
        let p = params(2, 1, None);
        let (v, x) = TfidfVectorizer::fit_transform(&docs, &p).unwrap();
        let back = TfidfVectorizer::from_parts(v.terms().to_vec(), v.idf().to_vec(), &p).unwrap();
        assert_eq!(back.transform(&docs), x);
        let dup = vec!["aa".to_string(), "aa".to_string()];
        assert!(TfidfVectorizer::from_parts(dup, vec![1.0, 1.0], &p).is_err());
        let trigram = vec!["aa bb cc".to_string()];
        assert!(TfidfVectorizer::from_parts(trigram, vec![1.0], &p).is_err());
        let punct = vec!["a-b".to_string()];
        assert!(TfidfVectorizer::from_parts(punct, vec![1.0], &p).is_err());
    }

    #[test]
    fn fitting_does_not_depend_on_the_thread_count() {
        // Enough documents for several fitting chunks, with counts that tie at the max_features cut.
        let docs: Vec<String> = (0..1500)
            .map(|i| format!("w{} w{} common w{} tail{}", i % 97, i % 13, (i * 7) % 31, i % 5))
            .collect();
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let p = params(2, 2, Some(150));
        let fit = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| TfidfVectorizer::fit_transform(&refs, &p).unwrap())
        };
        let (v1, x1) = fit(1);
        let (v4, x4) = fit(4);
        assert_eq!(v1.terms(), v4.terms());
        assert_eq!(v1.idf(), v4.idf());
        assert_eq!(x1, x4);
        assert_eq!(v1.n_features(), 150);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let docs = ["aa bb", "bb cc"];
        assert!(TfidfVectorizer::fit(&docs, &params(3, 1, None)).is_err());
        assert!(TfidfVectorizer::fit(&docs, &params(2, 1, Some(0))).is_err());
        assert!(TfidfVectorizer::fit(&[], &params(2, 1, None)).is_err());
        // min_df larger than the corpus: nothing survives.
        let err = TfidfVectorizer::fit(&docs, &params(2, 5, None)).unwrap_err().to_string();
        assert!(err.contains("min_df"), "{err}");
    }
}
