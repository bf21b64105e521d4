//! The adapter and its losses, in candle.
//!
//! The adapter is `y = x + x ΔWᵀ + b`, optionally plus a hidden ReLU branch `relu(x W₁ᵀ + b₁) W₂ᵀ` (a residual
//! MLP), with ΔW, b and W₂ initialised at zero, so training starts from the frozen model exactly. Two losses
//! train it: MNRL over same-category pairs ([`mnrl_loss`]) and cross-entropy of a cosine classifier over the
//! primary categories (normalised softmax: `scale · cos(y, c_k)`, class vectors `c_k` trained with the adapter
//! from the frozen category centroids and dropped afterwards) — the classification loss that is a strong
//! baseline for metric learning (Zhai & Wu, BMVC 2019): it pulls a paper towards its category's vector, so its
//! nearest neighbours come from that category. Only matrix products, additions and element-wise ops are used,
//! all with a backward in candle (its fused `layer_norm`, which has none, is not involved).
//!
//! Both forms are saved as sentence-transformers `Dense` modules ([`Adapter::to_dense_stack`]): the linear
//! adapter as one (W = I + ΔW), the residual MLP as two, `ReLU(W₁' x + b₁')` then `W₂' h + b`, where the first
//! also carries `x` and `−x` through the ReLU (`relu(x) − relu(−x) = x`) so the second can add the residual
//! path: exactly the same function, loadable by Python sentence-transformers without custom code.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use atlas_encoder::{Activation, DenseLayer};

use crate::FinetuneError;

/// Smallest norm divided by in [`l2_rows`] (as `torch.nn.functional.normalize`'s eps).
const NORM_EPS: f64 = 1e-12;

/// Value added to the logits of masked pairs: far below any scaled cosine, finite so no NaN appears.
const MASKED: f32 = -1e9;

/// The hidden ReLU branch of a residual-MLP adapter.
struct Mlp {
    /// `[hidden, dim]`, Kaiming-uniform from the seed.
    w1: Var,
    /// `[hidden]`, zero.
    b1: Var,
    /// `[dim, hidden]`, zero: the branch adds nothing until trained.
    w2: Var,
    hidden: usize,
}

/// A residual adapter (linear, or linear plus a hidden ReLU branch) with its AdamW state, and the class
/// vectors of the cross-entropy loss when it trains with one.
pub struct Adapter {
    delta: Var,
    bias: Var,
    mlp: Option<Mlp>,
    /// `[categories, dim]` class vectors of the cosine classifier (`loss: cross_entropy`); not saved.
    head: Option<Var>,
    dim: usize,
    device: Device,
    opt: AdamW,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("dim", &self.dim)
            .field("hidden", &self.hidden())
            .field("head", &self.head.is_some())
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// An identity linear adapter over `dim`-wide vectors on the CPU, optimised by AdamW with `lr` and
    /// `weight_decay` (decay pulls ΔW and b towards zero, i.e. the adapter towards the frozen model).
    pub fn new(dim: usize, lr: f64, weight_decay: f64) -> Result<Self, FinetuneError> {
        Self::build(dim, 0, None, lr, weight_decay, 0)
    }

    /// An identity adapter with a hidden ReLU branch of `hidden` units (0 = linear only) and, when `head` is
    /// given (`categories × dim` row-major, e.g. [`crate::centroid_head`]), the class vectors of the
    /// cross-entropy loss. `seed` draws the branch's first layer (the same seed, the same adapter).
    pub fn build(
        dim: usize,
        hidden: usize,
        head: Option<&[f32]>,
        lr: f64,
        weight_decay: f64,
        seed: u64,
    ) -> Result<Self, FinetuneError> {
        let device = Device::Cpu;
        let c = FinetuneError::candle("creating the adapter");
        let delta = Var::zeros((dim, dim), DType::F32, &device).map_err(c)?;
        let bias =
            Var::zeros(dim, DType::F32, &device).map_err(FinetuneError::candle("creating the bias"))?;
        let mut vars = vec![delta.clone(), bias.clone()];
        let mlp = if hidden > 0 {
            // Kaiming-uniform for a ReLU layer: U(−√(6/dim), √(6/dim)).
            let bound = (6.0 / dim as f64).sqrt() as f32;
            let mut rng = StdRng::seed_from_u64(seed);
            let w: Vec<f32> = (0..hidden * dim).map(|_| rng.random_range(-bound..bound)).collect();
            let w1 = Tensor::from_vec(w, (hidden, dim), &device)
                .and_then(|t| Var::from_tensor(&t))
                .map_err(FinetuneError::candle("creating W1"))?;
            let b1 = Var::zeros(hidden, DType::F32, &device).map_err(FinetuneError::candle("creating b1"))?;
            let w2 = Var::zeros((dim, hidden), DType::F32, &device)
                .map_err(FinetuneError::candle("creating W2"))?;
            vars.extend([w1.clone(), b1.clone(), w2.clone()]);
            Some(Mlp { w1, b1, w2, hidden })
        } else {
            None
        };
        let head = match head {
            Some(rows) => {
                if rows.is_empty() || rows.len() % dim != 0 {
                    return Err(FinetuneError::Invalid(format!(
                        "class vectors of {} floats do not form rows of {dim}",
                        rows.len()
                    )));
                }
                let t = Tensor::from_slice(rows, (rows.len() / dim, dim), &device)
                    .and_then(|t| Var::from_tensor(&t))
                    .map_err(FinetuneError::candle("creating the class vectors"))?;
                vars.push(t.clone());
                Some(t)
            }
            None => None,
        };
        let params = ParamsAdamW { lr, weight_decay, ..ParamsAdamW::default() };
        let opt = AdamW::new(vars, params).map_err(FinetuneError::candle("creating AdamW"))?;
        Ok(Self { delta, bias, mlp, head, dim, device, opt })
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Units of the hidden ReLU branch (0 = a linear adapter).
    pub fn hidden(&self) -> usize {
        self.mlp.as_ref().map_or(0, |m| m.hidden)
    }

    /// The trainable tensors: ΔW, b, then W₁, b₁, W₂ of the hidden branch, then the class vectors.
    pub fn vars(&self) -> Vec<&Var> {
        let mut v = vec![&self.delta, &self.bias];
        if let Some(m) = &self.mlp {
            v.extend([&m.w1, &m.b1, &m.w2]);
        }
        v.extend(self.head.as_ref());
        v
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
        let mut y = (x + d)
            .and_then(|y| y.broadcast_add(self.bias.as_tensor()))
            .map_err(FinetuneError::candle("adding the residual and bias"))?;
        if let Some(m) = &self.mlp {
            let h =
                m.w1.as_tensor()
                    .t()
                    .and_then(|w| x.matmul(&w))
                    .and_then(|h| h.broadcast_add(m.b1.as_tensor()))
                    .and_then(|h| h.relu())
                    .and_then(|h| h.matmul(&m.w2.as_tensor().t()?))
                    .map_err(FinetuneError::candle("the hidden branch"))?;
            y = (y + h).map_err(FinetuneError::candle("adding the hidden branch"))?;
        }
        Ok(y)
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

    /// The cross-entropy of the cosine classifier on `rows` with primary categories `labels`: logits
    /// `scale · cos(adapter(x), c_k)`. Needs the class vectors ([`Adapter::build`] with a head).
    pub fn class_loss(&self, rows: &[f32], labels: &[u32], scale: f64) -> Result<Tensor, FinetuneError> {
        let head = self.head.as_ref().ok_or_else(|| {
            FinetuneError::Invalid("the cross-entropy loss needs the adapter's class vectors".into())
        })?;
        let y = l2_rows(&self.forward(&self.tensor(rows)?)?)?;
        let c = l2_rows(head.as_tensor())?;
        let logits = c
            .t()
            .and_then(|ct| y.matmul(&ct))
            .and_then(|l| l * scale)
            .map_err(FinetuneError::candle("scaled cosines to the class vectors"))?;
        let targets = Tensor::from_slice(labels, labels.len(), &self.device)
            .map_err(FinetuneError::candle("uploading labels"))?;
        candle_nn::loss::cross_entropy(&logits, &targets).map_err(FinetuneError::candle("cross-entropy"))
    }

    /// One AdamW step on [`Adapter::class_loss`]; returns the loss before the step.
    pub fn class_step(&mut self, rows: &[f32], labels: &[u32], scale: f64) -> Result<f32, FinetuneError> {
        let loss = self.class_loss(rows, labels, scale)?;
        self.opt.backward_step(&loss).map_err(FinetuneError::candle("backward and AdamW step"))?;
        loss.to_scalar::<f32>().map_err(FinetuneError::candle("reading the loss"))
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

    /// The linear adapter as one Dense layer: W = I + ΔW, b, no activation. Fails for an adapter with a
    /// hidden branch, which needs two ([`Adapter::to_dense_stack`]).
    pub fn to_dense(&self) -> Result<DenseLayer, FinetuneError> {
        if self.mlp.is_some() {
            return Err(FinetuneError::Invalid("an adapter with a hidden branch is two Dense layers".into()));
        }
        let w = self.residual_matrix()?;
        let b = self.bias.as_tensor().to_vec1::<f32>().map_err(FinetuneError::candle("reading the bias"))?;
        Ok(DenseLayer::new(self.dim, self.dim, w, Some(b), Activation::Identity)?)
    }

    /// The adapter as sentence-transformers Dense layers computing the same function: one for the linear
    /// adapter; for the residual MLP, `ReLU([I; −I; W₁] x + [0; 0; b₁])` (width `2·dim + hidden`) then
    /// `[A, −A, W₂] h + b` with A = I + ΔW, since `relu(x) − relu(−x) = x`.
    pub fn to_dense_stack(&self) -> Result<Vec<DenseLayer>, FinetuneError> {
        let Some(m) = &self.mlp else {
            return Ok(vec![self.to_dense()?]);
        };
        let (dim, h) = (self.dim, m.hidden);
        let read = |v: &Var, what: &'static str| {
            v.as_tensor().flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(FinetuneError::candle(what))
        };
        let (w1, b1, w2) =
            (read(&m.w1, "reading W1")?, read(&m.b1, "reading b1")?, read(&m.w2, "reading W2")?);
        let width = 2 * dim + h;
        let mut first = vec![0.0f32; width * dim];
        for i in 0..dim {
            first[i * dim + i] = 1.0;
            first[(dim + i) * dim + i] = -1.0;
        }
        first[2 * dim * dim..].copy_from_slice(&w1);
        let mut first_bias = vec![0.0f32; width];
        first_bias[2 * dim..].copy_from_slice(&b1);
        let a = self.residual_matrix()?;
        let mut second = vec![0.0f32; dim * width];
        for i in 0..dim {
            let row = &mut second[i * width..(i + 1) * width];
            for j in 0..dim {
                row[j] = a[i * dim + j];
                row[dim + j] = -a[i * dim + j];
            }
            row[2 * dim..].copy_from_slice(&w2[i * h..(i + 1) * h]);
        }
        let b = read(&self.bias, "reading the bias")?;
        Ok(vec![
            DenseLayer::new(dim, width, first, Some(first_bias), Activation::Relu)?,
            DenseLayer::new(width, dim, second, Some(b), Activation::Identity)?,
        ])
    }

    /// I + ΔW, row-major.
    fn residual_matrix(&self) -> Result<Vec<f32>, FinetuneError> {
        let c = FinetuneError::candle("reading the adapter weights");
        let mut w = self.delta.as_tensor().flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(c)?;
        for i in 0..self.dim {
            w[i * self.dim + i] += 1.0;
        }
        Ok(w)
    }

    /// Sets the weights to a [`Adapter::snapshot`]: how early stopping returns to the best epoch.
    pub fn load_weights(&self, snapshot: &[Tensor]) -> Result<(), FinetuneError> {
        let vars = self.vars();
        if vars.len() != snapshot.len() {
            return Err(FinetuneError::Invalid("a snapshot of another adapter".into()));
        }
        for (v, t) in vars.into_iter().zip(snapshot) {
            v.set(t).map_err(FinetuneError::candle("restoring the adapter weights"))?;
        }
        Ok(())
    }

    /// A copy of every trainable tensor ([`Adapter::vars`] order), detached from the graph.
    pub fn snapshot(&self) -> Result<Vec<Tensor>, FinetuneError> {
        self.vars()
            .into_iter()
            .map(|v| v.as_tensor().copy().map_err(FinetuneError::candle("copying the adapter weights")))
            .collect()
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
        assert_eq!(a.to_dense_stack().unwrap(), vec![dense]);
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

    /// The residual MLP starts at the identity, its two Dense layers compute what it computes before and after
    /// training, and the cross-entropy loss reaches every weight, the class vectors included, and falls.
    #[test]
    fn the_mlp_adapter_trains_on_cross_entropy_and_folds_into_two_dense_layers() {
        let dim = 6;
        let head = rows(3, dim, 9);
        let mut a = Adapter::build(dim, 5, Some(&head), 0.02, 0.0, 3).unwrap();
        let x = rows(4, dim, 1);
        let apply_stack = |a: &Adapter, x: &[f32]| {
            a.to_dense_stack().unwrap().iter().fold(x.to_vec(), |rows, layer| layer.apply(&rows))
        };
        assert_eq!(a.apply(&x).unwrap(), x);
        let stack = a.to_dense_stack().unwrap();
        assert_eq!((stack.len(), stack[0].out_features, stack[1].in_features), (2, 17, 17));
        assert_eq!(stack[0].activation, Activation::Relu);
        let close = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(u, v)| (u - v).abs() < 1e-5);
        assert!(close(&apply_stack(&a, &x), &x));

        let batch = rows(9, dim, 2);
        let labels = [0u32, 1, 2, 0, 1, 2, 0, 1, 2];
        let loss = a.class_loss(&batch, &labels, 20.0).unwrap();
        let grads = loss.backward().unwrap();
        // W2 starts at zero, so W1 and b1 get no gradient on the first step; every other tensor does.
        for (k, v) in a.vars().into_iter().enumerate() {
            let g = grads.get(v.as_tensor()).expect("a gradient for every trainable tensor");
            let max = g.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert_eq!(max > 0.0, !(k == 2 || k == 3), "gradient of tensor {k} {:?}: {max}", v.shape());
        }
        let first = a.class_step(&batch, &labels, 20.0).unwrap();
        let mut last = first;
        for _ in 0..60 {
            last = a.class_step(&batch, &labels, 20.0).unwrap();
        }
        assert!(last < 0.5 * first, "loss {first} -> {last}");
        let grads = a.class_loss(&batch, &labels, 20.0).unwrap().backward().unwrap();
        for v in a.vars() {
            let g = grads.get(v.as_tensor()).expect("a gradient for every trainable tensor");
            let max = g.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(max > 0.0, "zero gradient for a {:?} tensor after training", v.shape());
        }
        let moved = a.apply(&x).unwrap();
        assert!(!close(&moved, &x), "training changed nothing");
        assert!(close(&apply_stack(&a, &x), &moved));
        // The snapshot restores every tensor.
        let snap = a.snapshot().unwrap();
        a.class_step(&batch, &labels, 20.0).unwrap();
        a.load_weights(&snap).unwrap();
        assert_eq!(a.apply(&x).unwrap(), moved);
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
