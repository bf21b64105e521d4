//! A trainable BERT encoder forward in candle: every weight is a [`Var`] of a [`VarMap`], and every op on the
//! path from the weights to the pooled output records a backward op.
//!
//! Why not candle_transformers' `BertModel`: in candle 0.11 `candle_nn::LayerNorm` takes a fused fast path
//! (`candle_nn::ops::layer_norm`) that records no backward op, so a model built from it trains nothing and says
//! nothing (`../shared/design/encoder-notes.md`, "Training with candle"), and its dropout is a no-op. Here
//! LayerNorm is `candle_nn::ops::layer_norm_slow` (built from differentiable tensor ops) and dropout is
//! `candle_nn::ops::dropout`, applied in train mode only. Attention uses `candle_nn::ops::softmax` for the same
//! reason: `ops::softmax_last_dim` is fused and recorded with `apply_op1_no_bwd`. The eval-mode forward computes what atlas-encoder's
//! candle backend serves (mean pooling over the mask, optional L2 normalisation), so the model trained is the
//! model served; `tests/bert_grad.rs` checks both.

use std::collections::HashMap;
use std::path::Path;

use atlas_encoder::{Architecture, BertConfig, ModelFolder, TokenBatch};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarMap;

use crate::FinetuneError;

/// Prefix of weight names in checkpoints saved from `BertForMaskedLM` and the like (the bare names are used
/// when no tensor carries it).
const BERT_PREFIX: &str = "bert.";

/// Hugging Face's `hidden_dropout_prob` / `attention_probs_dropout_prob` default, used when config.json lacks
/// them.
const DEFAULT_DROPOUT: f32 = 0.1;

/// Where the forward runs: dropout is active in [`Mode::Train`] only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dropout on (fine-tuning).
    Train,
    /// Dropout off: the forward the served model computes.
    Eval,
}

/// A linear layer `x Wᵀ + b` over weights that may be trainable or frozen (detached).
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        // x: (batch, seq, in); broadcast_matmul keeps the weight 2-D, so its gradient is a plain (out, in).
        x.broadcast_matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}

/// LayerNorm from differentiable ops (see the module docs for why not `candle_nn::LayerNorm`).
struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
    output_norm: Norm,
}

/// A BERT encoder with mean pooling whose weights live in a [`VarMap`], for fine-tuning with candle autograd.
pub struct TrainableBert {
    varmap: VarMap,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden_dropout: f32,
    attention_dropout: f32,
    normalize: bool,
    trainable: Vec<String>,
    device: Device,
}

impl TrainableBert {
    /// Loads `model.safetensors` and `config.json` of the sentence-transformers (or bare BERT) folder `dir`
    /// onto `device` in f32. Weight names are Hugging Face's, with or without the `bert.` prefix.
    ///
    /// `freeze_below`: layers `0..freeze_below` and the embeddings are frozen (their tensors are detached, so
    /// backward does not even compute their gradients, and [`TrainableBert::trainable_vars`] leaves them out);
    /// 0 trains everything. `normalize`: L2-normalise the pooled output (what a `Normalize` module does; pass
    /// [`ModelFolder::normalize`] to match the served model).
    pub fn load(
        dir: &Path,
        device: &Device,
        freeze_below: usize,
        normalize: bool,
    ) -> Result<Self, FinetuneError> {
        let folder = ModelFolder::open(dir)?;
        let cfg = folder.config();
        if cfg.architecture != Architecture::Bert {
            return Err(FinetuneError::Invalid(format!(
                "{}: TrainableBert handles BERT only (model_type {})",
                dir.display(),
                cfg.architecture.model_type()
            )));
        }
        if cfg.hidden_act != "gelu" {
            // The other activations would train fine, but the served model's forward is what we must match;
            // MiniLM (the project's model) uses erf GELU, and that is the only one implemented here.
            return Err(FinetuneError::Invalid(format!(
                "{}: TrainableBert implements hidden_act \"gelu\" only (found {:?})",
                dir.display(),
                cfg.hidden_act
            )));
        }
        if cfg.position_embedding_type.as_deref().is_some_and(|p| p != "absolute") {
            return Err(FinetuneError::Invalid(format!(
                "{}: only absolute position embeddings are supported",
                dir.display()
            )));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(FinetuneError::Invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            )));
        }
        if freeze_below > cfg.num_hidden_layers {
            return Err(FinetuneError::Invalid(format!(
                "freeze_below {freeze_below} exceeds the model's {} layers",
                cfg.num_hidden_layers
            )));
        }
        let path = folder.safetensors_path()?;
        let raw = candle_core::safetensors::load(&path, device)
            .map_err(FinetuneError::candle("reading model.safetensors"))?;
        let json = folder.config_json();
        let dropout =
            |key: &str| json.get(key).and_then(|v| v.as_f64()).map_or(DEFAULT_DROPOUT, |v| v as f32);
        Self::from_tensors(
            raw,
            cfg,
            device,
            freeze_below,
            normalize,
            dropout("hidden_dropout_prob"),
            dropout("attention_probs_dropout_prob"),
        )
    }

    fn from_tensors(
        raw: HashMap<String, Tensor>,
        cfg: &BertConfig,
        device: &Device,
        freeze_below: usize,
        normalize: bool,
        hidden_dropout: f32,
        attention_dropout: f32,
    ) -> Result<Self, FinetuneError> {
        let prefixed = raw.keys().any(|k| k.starts_with(BERT_PREFIX));
        let varmap = VarMap::new();
        let mut trainable = Vec::new();
        // Every tensor the forward uses becomes a Var (f32, so AdamW updates are exact), registered under its
        // bare HF name; frozen ones are used through a detached copy.
        let mut take = |name: String, frozen: bool| -> Result<Tensor, FinetuneError> {
            let key = if prefixed { format!("{BERT_PREFIX}{name}") } else { name.clone() };
            let t = raw
                .get(&key)
                .ok_or_else(|| FinetuneError::Invalid(format!("model.safetensors lacks tensor {key}")))?;
            let t = t.to_dtype(DType::F32).map_err(FinetuneError::candle("converting a weight to f32"))?;
            let var = Var::from_tensor(&t).map_err(FinetuneError::candle("making a weight a Var"))?;
            let used = if frozen {
                var.as_tensor().detach()
            } else {
                trainable.push(name.clone());
                var.as_tensor().clone()
            };
            varmap.data().lock().expect("VarMap lock poisoned").insert(name, var);
            Ok(used)
        };
        let eps = cfg.layer_norm_eps as f32;
        let emb_frozen = freeze_below > 0;
        let word = take("embeddings.word_embeddings.weight".into(), emb_frozen)?;
        let position = take("embeddings.position_embeddings.weight".into(), emb_frozen)?;
        let token_type = take("embeddings.token_type_embeddings.weight".into(), emb_frozen)?;
        let embeddings_norm = Norm {
            weight: take("embeddings.LayerNorm.weight".into(), emb_frozen)?,
            bias: take("embeddings.LayerNorm.bias".into(), emb_frozen)?,
            eps,
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let frozen = i < freeze_below;
            let mut linear = |n: &str| -> Result<Linear, FinetuneError> {
                Ok(Linear {
                    weight: take(format!("encoder.layer.{i}.{n}.weight"), frozen)?,
                    bias: take(format!("encoder.layer.{i}.{n}.bias"), frozen)?,
                })
            };
            let query = linear("attention.self.query")?;
            let key = linear("attention.self.key")?;
            let value = linear("attention.self.value")?;
            let attention_out = linear("attention.output.dense")?;
            let ffn_in = linear("intermediate.dense")?;
            let ffn_out = linear("output.dense")?;
            let mut norm = |n: &str| -> Result<Norm, FinetuneError> {
                Ok(Norm {
                    weight: take(format!("encoder.layer.{i}.{n}.weight"), frozen)?,
                    bias: take(format!("encoder.layer.{i}.{n}.bias"), frozen)?,
                    eps,
                })
            };
            let attention_norm = norm("attention.output.LayerNorm")?;
            let output_norm = norm("output.LayerNorm")?;
            layers.push(Layer {
                query,
                key,
                value,
                attention_out,
                attention_norm,
                ffn_in,
                ffn_out,
                output_norm,
            });
        }
        Ok(Self {
            varmap,
            word,
            position,
            token_type,
            embeddings_norm,
            layers,
            heads: cfg.num_attention_heads,
            hidden_dropout,
            attention_dropout,
            normalize,
            trainable,
            device: device.clone(),
        })
    }

    /// All weights (trainable and frozen), by bare HF name; `save` it to write a checkpoint.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The trainable weights (those above `freeze_below`), by bare HF name, sorted: what to hand to the
    /// optimiser.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("VarMap lock poisoned");
        let mut vars: Vec<(String, Var)> =
            self.trainable.iter().filter_map(|n| data.get(n).map(|v| (n.clone(), v.clone()))).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Pooled sentence embeddings (rows × hidden) of `batch`: mean over the attention mask, then L2
    /// normalisation when the model was loaded with `normalize`.
    pub fn forward(&self, batch: &TokenBatch, mode: Mode) -> Result<Tensor, FinetuneError> {
        self.forward_inner(batch, mode).map_err(FinetuneError::candle("BERT forward"))
    }

    fn forward_inner(&self, batch: &TokenBatch, mode: Mode) -> candle_core::Result<Tensor> {
        let (rows, seq) = (batch.rows(), batch.seq_len());
        let dev = &self.device;
        let ids = Tensor::from_slice(batch.input_ids(), (rows, seq), dev)?;
        let types = Tensor::from_slice(batch.token_type_ids(), (rows, seq), dev)?;
        let mask = Tensor::from_slice(batch.attention_mask(), (rows, seq), dev)?.to_dtype(DType::F32)?;
        let hidden = self.word.dim(1)?;
        let dropout = |x: Tensor, p: f32| -> candle_core::Result<Tensor> {
            if mode == Mode::Train && p > 0.0 {
                candle_nn::ops::dropout(&x, p)
            } else {
                Ok(x)
            }
        };

        // Embeddings: absolute positions 0..seq for every row (BERT's rule, padding included; padded
        // positions are masked out of attention and pooling anyway).
        let flat = |t: &Tensor, ids: &Tensor| t.embedding(&ids.flatten_all()?)?.reshape((rows, seq, hidden));
        let positions =
            Tensor::arange(0u32, seq as u32, dev)?.unsqueeze(0)?.broadcast_as((rows, seq))?.contiguous()?;
        let x = ((flat(&self.word, &ids)? + flat(&self.token_type, &types)?)?
            + flat(&self.position, &positions)?)?;
        let x = dropout(self.embeddings_norm.forward(&x)?, self.hidden_dropout)?;

        self.layers_and_pool(x, &mask, 0, &mut |x, p| dropout(x, p))
    }

    /// Pooled sentence embeddings computed from the input of layer `from` (`hidden`: rows × seq × hidden, the
    /// output of layer `from - 1`, e.g. cached by atlas-finetune's hidden-state store) with `mask` (rows × seq,
    /// 1.0 for real tokens): layers `from..` then pooling, as [`TrainableBert::forward`] computes them.
    ///
    /// In [`Mode::Train`], dropout masks are drawn from `rng` (not candle's unseeded generator), so a run is
    /// repeated exactly by repeating the seed: what resuming a killed run bit for bit needs.
    pub fn forward_hidden(
        &self,
        from: usize,
        hidden: &Tensor,
        mask: &Tensor,
        mode: Mode,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Tensor, FinetuneError> {
        if from > self.layers.len() {
            return Err(FinetuneError::Invalid(format!(
                "layer {from} of a {}-layer model",
                self.layers.len()
            )));
        }
        let mut drop = |x: Tensor, p: f32| -> candle_core::Result<Tensor> {
            if mode == Mode::Train && p > 0.0 {
                seeded_dropout(&x, p, rng)
            } else {
                Ok(x)
            }
        };
        self.layers_and_pool(hidden.clone(), mask, from, &mut drop)
            .map_err(FinetuneError::candle("BERT forward"))
    }

    /// Number of transformer layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    fn layers_and_pool(
        &self,
        mut x: Tensor,
        mask: &Tensor,
        from: usize,
        dropout: &mut dyn FnMut(Tensor, f32) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (rows, seq, hidden) = x.dims3()?;
        // Additive key mask: 0 for real tokens, a large negative for padding (not f32::MIN, whose products
        // overflow to -inf and then NaN), as (rows, 1, 1, seq) to broadcast over heads and queries.
        let key_mask = ((mask.clone() - 1.0)? * 1e9)?.reshape((rows, 1, 1, seq))?;
        let head_dim = hidden / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let split = |t: Tensor| t.reshape((rows, seq, self.heads, head_dim))?.transpose(1, 2)?.contiguous();
        for layer in &self.layers[from..] {
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&key_mask)?;
            // `ops::softmax`, not `ops::softmax_last_dim`: the latter is a fused op applied with
            // `apply_op1_no_bwd`, a second trap like LayerNorm's (query and key would get no gradient).
            let probs = dropout(candle_nn::ops::softmax(&scores, D::Minus1)?, self.attention_dropout)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((rows, seq, hidden))?;
            let attn = dropout(layer.attention_out.forward(&ctx)?, self.hidden_dropout)?;
            let x1 = layer.attention_norm.forward(&(attn + &x)?)?;
            // Erf GELU, as Hugging Face's "gelu".
            let inter = layer.ffn_in.forward(&x1)?.gelu_erf()?;
            let out = dropout(layer.ffn_out.forward(&inter)?, self.hidden_dropout)?;
            x = layer.output_norm.forward(&(out + x1)?)?;
        }

        // Mean pooling over the mask (sentence-transformers' Pooling with pooling_mode_mean_tokens).
        let m = mask.unsqueeze(2)?;
        let summed = x.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        if self.normalize {
            let norm = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            pooled.broadcast_div(&norm)
        } else {
            Ok(pooled)
        }
    }
}

/// Inverted dropout with a mask drawn from `rng`: each element is zeroed with probability `p`, the rest scaled
/// by `1 / (1 - p)` (what `candle_nn::ops::dropout` computes, from a generator the caller controls).
fn seeded_dropout(x: &Tensor, p: f32, rng: &mut rand::rngs::StdRng) -> candle_core::Result<Tensor> {
    use rand::Rng;
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> =
        (0..x.elem_count()).map(|_| if rng.random::<f32>() < p { 0.0 } else { keep }).collect();
    x * Tensor::from_vec(mask, x.shape(), x.device())?
}
