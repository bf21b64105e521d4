//! The adapter and its loss, in candle.
//!
//! The adapter is `y = x + x ΔWᵀ + b` with ΔW (`dim × dim`) and b (`dim`) trainable and initialised at zero, so
//! training starts from the frozen model exactly. Only matrix products, additions and element-wise ops are
//! used, all with a backward in candle (its fused `layer_norm`, which has none, is not involved).

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use atlas_encoder::{Activation, DenseLayer};

use crate::FinetuneError;

/// Smallest norm divided by in [`l2_rows`] (as `torch.nn.functional.normalize`'s eps).
const NORM_EPS: f64 = 1e-12;

/// Value added to the logits of masked pairs: far below any scaled cosine, finite so no NaN appears.
const MASKED: f32 = -1e9;

/// A residual linear adapter with its AdamW state.
pub struct Adapter {
    delta: Var,
    bias: Var,
    dim: usize,
    device: Device,
    opt: AdamW,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter").field("dim", &self.dim).finish_non_exhaustive()
    }
}

impl Adapter {
    /// An identity adapter over `dim`-wide vectors on the CPU, optimised by AdamW with `lr` and
    /// `weight_decay` (decay pulls ΔW and b towards zero, i.e. the adapter towards the frozen model).
    pub fn new(dim: usize, lr: f64, weight_decay: f64) -> Result<Self, FinetuneError> {
        let device = Device::Cpu;
        let c = FinetuneError::candle("creating the adapter");
        let delta = Var::zeros((dim, dim), DType::F32, &device).map_err(c)?;
        let bias =
            Var::zeros(dim, DType::F32, &device).map_err(FinetuneError::candle("creating the bias"))?;
        let params = ParamsAdamW { lr, weight_decay, ..ParamsAdamW::default() };
        let opt = AdamW::new(vec![delta.clone(), bias.clone()], params)
            .map_err(FinetuneError::candle("creating AdamW"))?;
        Ok(Self { delta, bias, dim, device, opt })
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The trainable tensors: ΔW, then b.
    pub fn vars(&self) -> [&Var; 2] {
        [&self.delta, &self.bias]
    }

    /// Sets the learning rate of the next steps (the schedule is the caller's).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.opt.set_learning_rate(lr);
    }

    /// `[rows, dim]` host rows as a tensor on the adapter's device.
    pub fn tensor(&self, rows: &[f32]) -> Result<Tensor, FinetuneError> {
        Tensor::from_slice(rows, (rows.len() / self.dim, self.dim), &self.device)
            .map_err(FinetuneError::candle("uploading a batch"))
    }

    /// The adapter applied to `x` (`[rows, dim]`), unnormalised.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, FinetuneError> {
        let c = FinetuneError::candle("adapter forward");
        let d = x.matmul(&self.delta.as_tensor().t().map_err(c)?).map_err(FinetuneError::candle("x ΔWᵀ"))?;
        (x + d)
            .and_then(|y| y.broadcast_add(self.bias.as_tensor()))
            .map_err(FinetuneError::candle("adding the residual and bias"))
    }

    /// One AdamW step on the MNRL loss of the pairs (`anchors[i]`, `positives[i]`) with primary categories
    /// `labels[i]`; returns the loss before the step.
    pub fn step(
        &mut self,
        anchors: &[f32],
        positives: &[f32],
        labels: &[u32],
        scale: f64,
        symmetric: bool,
    ) -> Result<f32, FinetuneError> {
        let loss = self.loss(anchors, positives, labels, scale, symmetric)?;
        self.opt.backward_step(&loss).map_err(FinetuneError::candle("backward and AdamW step"))?;
        loss.to_scalar::<f32>().map_err(FinetuneError::candle("reading the loss"))
    }

    /// The MNRL loss of a batch (see [`mnrl_loss`]) through the adapter, as a graph ready for backward.
    pub fn loss(
        &self,
        anchors: &[f32],
        positives: &[f32],
        labels: &[u32],
        scale: f64,
        symmetric: bool,
    ) -> Result<Tensor, FinetuneError> {
        let a = l2_rows(&self.forward(&self.tensor(anchors)?)?)?;
        let p = l2_rows(&self.forward(&self.tensor(positives)?)?)?;
        mnrl_loss(&a, &p, labels, scale, symmetric)
    }

    /// Maps host rows through the adapter (unnormalised), in blocks to bound memory.
    pub fn apply(&self, rows: &[f32]) -> Result<Vec<f32>, FinetuneError> {
        let mut out = Vec::with_capacity(rows.len());
        for block in rows.chunks(4096 * self.dim) {
            let y = self.forward(&self.tensor(block)?)?;
            let v = y.flatten_all().and_then(|t| t.to_vec1::<f32>());
            out.extend(v.map_err(FinetuneError::candle("downloading adapted rows"))?);
        }
        Ok(out)
    }

    /// The adapter as one Dense layer: W = I + ΔW, b, no activation.
    pub fn to_dense(&self) -> Result<DenseLayer, FinetuneError> {
        let c = FinetuneError::candle("reading the adapter weights");
        let mut w = self.delta.as_tensor().flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(c)?;
        for i in 0..self.dim {
            w[i * self.dim + i] += 1.0;
        }
        let b = self.bias.as_tensor().to_vec1::<f32>().map_err(FinetuneError::candle("reading the bias"))?;
        Ok(DenseLayer::new(self.dim, self.dim, w, Some(b), Activation::Identity)?)
    }

    /// Sets the weights to a [`Adapter::snapshot`] (ΔW, b): how early stopping returns to the best epoch.
    pub fn load_weights(&self, delta: &Tensor, bias: &Tensor) -> Result<(), FinetuneError> {
        self.delta.set(delta).map_err(FinetuneError::candle("restoring ΔW"))?;
        self.bias.set(bias).map_err(FinetuneError::candle("restoring b"))
    }

    /// A copy of the current weights (ΔW, b), detached from the graph.
    pub fn snapshot(&self) -> Result<(Tensor, Tensor), FinetuneError> {
        let delta = self.delta.as_tensor().copy().map_err(FinetuneError::candle("copying ΔW"))?;
        Ok((delta, self.bias.as_tensor().copy().map_err(FinetuneError::candle("copying b"))?))
    }
}

/// Rows scaled to unit length.
fn l2_rows(x: &Tensor) -> Result<Tensor, FinetuneError> {
    let c = FinetuneError::candle("normalising rows");
    let norm = x.sqr().and_then(|s| s.sum_keepdim(D::Minus1)).and_then(|s| s.sqrt()).map_err(c)?;
    let norm = norm.clamp(NORM_EPS, f64::MAX).map_err(FinetuneError::candle("clamping norms"))?;
    x.broadcast_div(&norm).map_err(FinetuneError::candle("dividing by norms"))
}

/// MultipleNegativesRankingLoss with same-category negatives masked: row `i` of the unit vectors `a` must
/// score its positive `p[i]` above every `p[j]` of another category; `p[j]` of the same category (j ≠ i) is
/// neither the target nor a negative. Logits are `scale ·` cosine, as in sentence-transformers (scale 20).
/// `symmetric` adds the same loss from the positives' side (`p[i]` against every `a[j]`) and averages.
pub fn mnrl_loss(
    a: &Tensor,
    p: &Tensor,
    labels: &[u32],
    scale: f64,
    symmetric: bool,
) -> Result<Tensor, FinetuneError> {
    let n = labels.len();
    let mut mask = vec![0.0f32; n * n];
    for (i, li) in labels.iter().enumerate() {
        for (j, lj) in labels.iter().enumerate() {
            if i != j && li == lj {
                mask[i * n + j] = MASKED;
            }
        }
    }
    let device = a.device();
    let mask = Tensor::from_vec(mask, (n, n), device).map_err(FinetuneError::candle("building the mask"))?;
    let targets = Tensor::arange(0u32, n as u32, device).map_err(FinetuneError::candle("targets"))?;
    let side = |x: &Tensor, y: &Tensor| -> Result<Tensor, FinetuneError> {
        let logits = x
            .matmul(&y.t().map_err(FinetuneError::candle("transposing"))?)
            .and_then(|s| s * scale)
            .and_then(|s| s + &mask)
            .map_err(FinetuneError::candle("scaled, masked similarities"))?;
        candle_nn::loss::cross_entropy(&logits, &targets).map_err(FinetuneError::candle("cross-entropy"))
    };
    let forward = side(a, p)?;
    if symmetric {
        // The mask is symmetric, so the same one serves both directions.
        let backward = side(p, a)?;
        ((forward + backward).and_then(|s| s * 0.5)).map_err(FinetuneError::candle("averaging both sides"))
    } else {
        Ok(forward)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random rows (a 64-bit LCG).
    fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n * dim)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn starts_at_the_identity_and_folds_into_a_dense_layer() {
        let a = Adapter::new(4, 1e-3, 0.0).unwrap();
        let x = rows(3, 4, 1);
        assert_eq!(a.apply(&x).unwrap(), x);
        let dense = a.to_dense().unwrap();
        assert_eq!(dense.apply(&x), x);
    }

    /// The trap the issue warns about (a backward that silently does nothing): every trainable tensor gets a
    /// non-zero gradient, and the loss falls on a fixed batch; the trained adapter still equals its Dense form.
    #[test]
    fn gradients_reach_every_weight_and_the_loss_falls() {
        let dim = 8;
        let mut a = Adapter::new(dim, 0.05, 0.0).unwrap();
        let anchors = rows(6, dim, 2);
        let positives = rows(6, dim, 3);
        let labels = [0, 1, 2, 0, 1, 3];
        let loss = a.loss(&anchors, &positives, &labels, 20.0, false).unwrap();
        let grads = loss.backward().unwrap();
        for v in a.vars() {
            let g = grads.get(v.as_tensor()).expect("a gradient for every trainable tensor");
            let max = g.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(max > 0.0, "zero gradient for a {:?} tensor", v.shape());
        }
        let first = a.step(&anchors, &positives, &labels, 20.0, true).unwrap();
        let mut last = first;
        for _ in 0..50 {
            last = a.step(&anchors, &positives, &labels, 20.0, true).unwrap();
        }
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        let x = rows(2, dim, 4);
        let (want, got) = (a.apply(&x).unwrap(), a.to_dense().unwrap().apply(&x));
        assert!(want.iter().zip(&got).all(|(w, g)| (w - g).abs() < 1e-5), "{want:?} vs {got:?}");
    }

    /// Same-category columns neither help nor hurt: with the mask, a batch whose other rows all share the
    /// anchor's category has the loss of a batch of one pair (zero), however close those rows are.
    #[test]
    fn same_category_negatives_are_masked() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(vec![1.0f32, 0.0, 0.8, 0.6, 0.6, 0.8], (3, 2), &dev).unwrap();
        let p = a.clone();
        let all_same = mnrl_loss(&a, &p, &[5, 5, 5], 20.0, false).unwrap().to_scalar::<f32>().unwrap();
        assert!(all_same.abs() < 1e-6, "{all_same}");
        let distinct = mnrl_loss(&a, &p, &[1, 2, 3], 20.0, false).unwrap().to_scalar::<f32>().unwrap();
        assert!(distinct > 0.01, "{distinct}");
    }
}
