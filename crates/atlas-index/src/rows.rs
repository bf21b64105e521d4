//! Input checks and conversions every backend shares.

use std::collections::HashSet;

use crate::kernel::normalize;
use crate::table::{PaperTable, Scored};
use crate::{Hit, IndexError, IndexInfo, PaperMeta, VectorSpace};

/// Checks that `vectors` holds one finite `dim`-wide row per paper.
pub(crate) fn check_rows(dim: usize, papers: &[PaperMeta], vectors: &[f32]) -> Result<(), IndexError> {
    if dim == 0 {
        return Err(IndexError::Invalid("vector width 0".into()));
    }
    if vectors.len() != papers.len() * dim {
        return Err(IndexError::Invalid(format!(
            "{} papers need {} floats ({} wide), got {}",
            papers.len(),
            papers.len() * dim,
            dim,
            vectors.len()
        )));
    }
    if let Some(i) = vectors.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::Invalid(format!(
            "vector of paper `{}` holds a NaN or infinity",
            papers[i / dim].id
        )));
    }
    Ok(())
}

/// Unit-length copies of the rows: with unit vectors cosine similarity is a dot product, whatever the caller
/// passed.
pub(crate) fn normalized_rows(dim: usize, vectors: &[f32]) -> Vec<f32> {
    let mut v = vectors.to_vec();
    for row in v.chunks_exact_mut(dim) {
        normalize(row);
    }
    v
}

/// A unit-length copy of a query, after checking its width.
pub(crate) fn prepare_query(info: &IndexInfo, query: &[f32]) -> Result<Vec<f32>, IndexError> {
    if query.len() != info.dim {
        return Err(IndexError::Dimension { expected: info.dim, got: query.len() });
    }
    if query.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::Invalid("query vector holds a NaN or infinity".into()));
    }
    let mut q = query.to_vec();
    normalize(&mut q);
    Ok(q)
}

/// The [`IndexInfo`] of a new index.
pub(crate) fn info_for(space: &VectorSpace, backend: &str, count: usize) -> IndexInfo {
    IndexInfo {
        backend: backend.to_string(),
        embedding_id: space.embedding_id.clone(),
        model_hash: space.model_hash.clone(),
        model_dir: space.model_dir.clone(),
        template: space.template.clone(),
        dim: space.dim,
        metric: "cos".into(),
        count,
    }
}

/// Scored rows → hits.
pub(crate) fn to_hits(table: &PaperTable, scored: &[Scored]) -> Vec<Hit> {
    scored.iter().map(|s| Hit { score: s.score, paper: table.papers[s.row as usize].clone() }).collect()
}

/// What `add` keeps of its input: new papers, their unit vectors, and the ids skipped.
pub(crate) struct NewRows {
    pub papers: Vec<PaperMeta>,
    pub vectors: Vec<f32>,
    pub skipped: Vec<String>,
}

/// The rows of an `add` that are new: papers whose id is neither in `table` nor earlier in the batch, with
/// their (normalised) vectors; and the ids skipped.
pub(crate) fn split_new(
    table: &PaperTable,
    dim: usize,
    papers: &[PaperMeta],
    vectors: &[f32],
) -> Result<NewRows, IndexError> {
    check_rows(dim, papers, vectors)?;
    let mut seen = HashSet::new();
    let (mut new_papers, mut new_vectors, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (p, v) in papers.iter().zip(vectors.chunks_exact(dim)) {
        if table.contains(&p.id) || !seen.insert(p.id.as_str()) {
            skipped.push(p.id.clone());
            continue;
        }
        new_papers.push(p.clone());
        let mut v = v.to_vec();
        normalize(&mut v);
        new_vectors.extend_from_slice(&v);
    }
    Ok(NewRows { papers: new_papers, vectors: new_vectors, skipped })
}

/// Refuses duplicate paper ids (a row number must name one paper).
pub(crate) fn check_unique(papers: &[PaperMeta]) -> Result<(), IndexError> {
    let mut seen = HashSet::with_capacity(papers.len());
    for p in papers {
        if !seen.insert(p.id.as_str()) {
            return Err(IndexError::Invalid(format!("paper id `{}` appears twice", p.id)));
        }
    }
    Ok(())
}
