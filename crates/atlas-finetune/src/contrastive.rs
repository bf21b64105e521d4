//! `loss=contrastive`: sentence-transformers' `ContrastiveLoss` on labelled pairs, with the negative pairs made
//! of **hard negatives** — for each anchor, its nearest train paper of *another* category under the frozen model.
//!
//! MNRL learns from whatever the batch happens to hold; most of its negatives are far already. The frozen
//! model's nearest other-category neighbour is the paper that costs same-category P@1 (it is ranked first, and
//! wrong), so pushing exactly it away is the direct attack on the metric. Positive pairs are pulled together
//! as in MNRL.
//!
//! Loss of a pair with cosine distance `d = 1 − cos`: `½ d²` for a positive pair, `½ max(0, margin − d)²`
//! for a negative pair, averaged over both kinds (sentence-transformers' formula, margin 0.5 by default).

use candle_core::{Device, Tensor};

use crate::FinetuneError;

/// Rows compared at once while mining: a `block × n` similarity matrix (512 × 80,000 floats = 164 MB).
const MINE_BLOCK: usize = 512;

/// The contrastive loss of anchors `a` with positives `p` (label 1) and negatives `n` (label 0), each
/// `[batch, dim]`; see the module docs.
pub fn contrastive_loss(a: &Tensor, p: &Tensor, n: &Tensor, margin: f64) -> Result<Tensor, FinetuneError> {
    let c = FinetuneError::candle;
    let cos = |x: &Tensor, y: &Tensor| -> Result<Tensor, FinetuneError> {
        let dot = (x * y).and_then(|t| t.sum(1)).map_err(c("dot products"))?;
        let nx = x.sqr().and_then(|t| t.sum(1)).and_then(|t| t.sqrt()).map_err(c("norms"))?;
        let ny = y.sqr().and_then(|t| t.sum(1)).and_then(|t| t.sqrt()).map_err(c("norms"))?;
        (nx * ny).and_then(|nn| dot / nn).map_err(c("cosines"))
    };
    let d_pos = cos(a, p)?.affine(-1.0, 1.0).map_err(c("positive distances"))?;
    let d_neg = cos(a, n)?.affine(-1.0, 1.0).map_err(c("negative distances"))?;
    let pos = d_pos.sqr().map_err(c("positive loss"))?;
    let neg = d_neg
        .affine(-1.0, margin)
        .and_then(|t| t.relu())
        .and_then(|t| t.sqr())
        .map_err(c("negative loss"))?;
    // ½ · mean over the 2·batch pairs.
    let rows = a.dim(0).map_err(c("batch size"))?;
    (pos.sum_all().and_then(|s| s + neg.sum_all()?).and_then(|s| s * (0.5 / (2 * rows) as f64)))
        .map_err(c("mean loss"))
}

/// For each row of `vectors` (`rows × dim`, row-major), the row with the highest cosine among the rows of
/// another label: the hard negative of that row. A row whose label covers every row gets `None`.
pub fn mine_hard_negatives(
    vectors: &[f32],
    dim: usize,
    labels: &[u32],
) -> Result<Vec<Option<usize>>, FinetuneError> {
    let rows = labels.len();
    if vectors.len() != rows * dim {
        return Err(FinetuneError::Invalid(format!(
            "{} values for {rows} vectors of {dim} dimensions",
            vectors.len()
        )));
    }
    let c = FinetuneError::candle;
    // Unit rows, so dot products are cosines whatever the stored vectors were.
    let mut unit = vectors.to_vec();
    for row in unit.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    let all = Tensor::from_vec(unit, (rows, dim), &Device::Cpu).map_err(c("mining vectors"))?;
    let all_t = all.t().and_then(|t| t.contiguous()).map_err(c("mining vectors"))?;
    let mut out = Vec::with_capacity(rows);
    for start in (0..rows).step_by(MINE_BLOCK) {
        let len = MINE_BLOCK.min(rows - start);
        let sims = all
            .narrow(0, start, len)
            .and_then(|q| q.matmul(&all_t))
            .and_then(|s| s.to_vec2::<f32>())
            .map_err(c("mining similarities"))?;
        for (k, sim) in sims.iter().enumerate() {
            let label = labels[start + k];
            let best = sim
                .iter()
                .enumerate()
                .filter(|&(j, _)| labels[j] != label)
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(j, _)| j);
            out.push(best);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (rows.len(), 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn loss_follows_the_sentence_transformers_formula() {
        // Anchor (1, 0); positive at 90° (d = 1); negative at 60° (d = 0.5 → inside margin 0.8 by 0.3).
        let a = t(&[[1.0, 0.0]]);
        let p = t(&[[0.0, 2.0]]);
        let n = t(&[[0.5, 3f32.sqrt() / 2.0]]);
        let loss = contrastive_loss(&a, &p, &n, 0.8).unwrap().to_scalar::<f32>().unwrap();
        let want = 0.5 * (1.0f32 + 0.3 * 0.3) / 2.0;
        assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
        // A negative beyond the margin and an identical positive cost nothing.
        let far = t(&[[-1.0, 0.0]]);
        let zero = contrastive_loss(&a, &a, &far, 0.8).unwrap().to_scalar::<f32>().unwrap();
        assert!(zero.abs() < 1e-6, "{zero}");
    }

    #[test]
    fn the_gradient_pulls_positives_in_and_pushes_hard_negatives_out() {
        let a = candle_core::Var::from_tensor(&t(&[[1.0, 0.0]])).unwrap();
        let p = t(&[[0.6, 0.8]]);
        let n = t(&[[0.8, 0.6]]);
        let loss = contrastive_loss(a.as_tensor(), &p, &n, 0.5).unwrap();
        let g = loss.backward().unwrap();
        let ga = g.get(a.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        // A small step against the gradient lowers the loss (both terms are active: d_pos = 0.4,
        // d_neg = 0.2 < margin).
        let step = |lr: f32| {
            let moved = t(&[[1.0 - lr * ga[0][0], -lr * ga[0][1]]]);
            contrastive_loss(&moved, &p, &n, 0.5).unwrap().to_scalar::<f32>().unwrap()
        };
        assert!(ga[0].iter().any(|g| g.abs() > 1e-4), "no gradient: {ga:?}");
        assert!(step(0.1) < step(0.0), "{} !< {}", step(0.1), step(0.0));
    }

    #[test]
    fn hard_negatives_are_the_nearest_rows_of_other_labels() {
        // Rows 0 and 1 share label 0; row 2 (label 1) is nearest to row 0, row 3 (label 2) to row 1.
        let v = [[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9], [-1.0, 0.0]];
        let flat: Vec<f32> = v.iter().flatten().copied().collect();
        let labels = [0, 0, 1, 2, 0];
        let neg = mine_hard_negatives(&flat, 2, &labels).unwrap();
        assert_eq!(neg[0], Some(2));
        assert_eq!(neg[1], Some(3));
        // Row 2's nearest is row 0 (label 0), not itself; row 4 is far from all, still gets the best.
        assert_eq!(neg[2], Some(0));
        assert_eq!(neg[3], Some(1));
        // Row 4 points away from everything; its least far other-label row is row 3 (cos −0.11 vs −0.99).
        assert_eq!(neg[4], Some(3));
        // One label only: no negatives.
        assert_eq!(mine_hard_negatives(&flat[..4], 2, &[5, 5]).unwrap(), vec![None, None]);
    }
}
