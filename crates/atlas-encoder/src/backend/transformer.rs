//! MPNet and DistilBERT in candle: the post-LayerNorm encoder transformers runs for them, with the weight names,
//! position ids and MPNet relative-position bias of [`super::layout`]. (BERT runs on candle-transformers'
//! `BertModel`, the path measured against sentence-transformers on the real MiniLM.)
//!
//! candle-transformers has a DistilBERT, but it masks with `-inf` rather than transformers' `f32::MIN` and
//! cannot read a checkpoint without a position table; one implementation for both architectures also keeps the
//! candle path in step with the ONNX graph writer, which reads the same layout.

use candle_core::{Device, Module, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

use super::layout::{self, LayerNames};
use crate::error::EncoderError;
use crate::folder::{Architecture, BertConfig};

type CResult<T> = candle_core::Result<T>;

/// The feed-forward activation.
#[derive(Clone, Copy)]
enum Act {
    /// Exact (erf) GELU: transformers' `gelu`.
    Gelu,
    /// The tanh approximation: `gelu_new` and aliases.
    GeluTanh,
    Relu,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: &VarBuilder, n: &LayerNames, cfg: &BertConfig) -> CResult<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        Ok(Self {
            query: linear(h, h, vb.pp(&n.query))?,
            key: linear(h, h, vb.pp(&n.key))?,
            value: linear(h, h, vb.pp(&n.value))?,
            attention_out: linear(h, h, vb.pp(&n.attention_out))?,
            attention_norm: layer_norm(h, eps, vb.pp(&n.attention_norm))?,
            ffn_in: linear(h, i, vb.pp(&n.ffn_in))?,
            ffn_out: linear(i, h, vb.pp(&n.ffn_out))?,
            output_norm: layer_norm(h, eps, vb.pp(&n.output_norm))?,
        })
    }
}

/// An MPNet or DistilBERT encoder loaded into candle.
pub(crate) struct Transformer {
    arch: Architecture,
    word: Embedding,
    positions: Tensor,
    norm: LayerNorm,
    layers: Vec<Layer>,
    act: Act,
    heads: usize,
    head_dim: usize,
    max_len: usize,
    /// MPNet: the relative-position bias by distance, `[heads, 2·max_len − 1]`.
    bias_by_distance: Option<Vec<f32>>,
    device: Device,
}

impl Transformer {
    /// Builds the model from `vb` (the folder's weights).
    pub(crate) fn load(vb: VarBuilder, cfg: &BertConfig) -> Result<Self, EncoderError> {
        let act = match cfg.hidden_act.as_str() {
            "gelu" => Act::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_approximate" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => {
                return Err(EncoderError::InvalidOption(format!(
                    "hidden_act `{other}` is not supported (gelu, gelu_new, relu)"
                )))
            }
        };
        Self::build(vb, cfg, act).map_err(EncoderError::candle("building the transformer from the weights"))
    }

    fn build(vb: VarBuilder, cfg: &BertConfig, act: Act) -> CResult<Self> {
        let arch = cfg.architecture;
        let prefixed = vb.pp(layout::checkpoint_prefix(arch).trim_end_matches('.'));
        let vb = if !vb.contains_tensor("embeddings.word_embeddings.weight")
            && prefixed.contains_tensor("embeddings.word_embeddings.weight")
        {
            prefixed
        } else {
            vb
        };
        let (h, max_len) = (cfg.hidden_size, cfg.max_position_embeddings);
        let word = embedding(cfg.vocab_size, h, vb.pp("embeddings.word_embeddings"))?;
        let pos = vb.pp("embeddings.position_embeddings");
        let positions =
            if !pos.contains_tensor("weight") && arch == Architecture::DistilBert && cfg.sinusoidal_pos_embds
            {
                // The sinusoidal table is fixed, so a checkpoint may leave it out.
                Tensor::from_vec(layout::sinusoidal_positions(max_len, h), (max_len, h), vb.device())?
            } else {
                pos.get((max_len, h), "weight")?
            };
        let norm = layer_norm(h, cfg.layer_norm_eps, vb.pp("embeddings.LayerNorm"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(&vb, &layout::layer_names(arch, i), cfg))
            .collect::<CResult<Vec<_>>>()?;
        let heads = cfg.num_attention_heads;
        let bias_by_distance = if arch == Architecture::MPNet {
            let table = vb
                .get((cfg.relative_attention_num_buckets, heads), layout::MPNET_RELATIVE_BIAS)
                .and_then(|t| t.flatten_all()?.to_vec1::<f32>())?;
            Some(layout::mpnet_bias_by_distance(&table, heads, max_len))
        } else {
            None
        };
        Ok(Self {
            arch,
            word,
            positions,
            norm,
            layers,
            act,
            heads,
            head_dim: h / heads,
            max_len,
            bias_by_distance,
            device: vb.device().clone(),
        })
    }

    /// Last hidden states `[rows, seq, hidden]` of a right-padded batch (`ids`, `mask` row-major).
    pub(crate) fn forward(&self, ids: &[u32], mask: &[u32], rows: usize, seq: usize) -> CResult<Tensor> {
        let dev = &self.device;
        let positions: Vec<u32> =
            ids.chunks_exact(seq).flat_map(|row| layout::position_ids(self.arch, row)).collect();
        let ids_t = Tensor::from_slice(ids, (rows, seq), dev)?;
        let pos_t = Tensor::from_vec(positions, rows * seq, dev)?;
        let pos = self.positions.index_select(&pos_t, 0)?.reshape((rows, seq, ()))?;
        let mut x = self.norm.forward(&self.word.forward(&ids_t)?.add(&pos)?)?;

        // Additive mask as transformers builds it: (1 − mask) · f32::MIN, [rows, 1, 1, seq].
        let additive: Vec<f32> = mask.iter().map(|&m| if m == 0 { f32::MIN } else { 0.0 }).collect();
        let mask_t = Tensor::from_vec(additive, (rows, 1, 1, seq), dev)?;
        let bias = match &self.bias_by_distance {
            Some(table) => {
                let b = layout::mpnet_bias(table, self.heads, self.max_len, seq);
                Some(Tensor::from_vec(b, (1, self.heads, seq, seq), dev)?)
            }
            None => None,
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            let split =
                |t: Tensor| t.reshape((rows, seq, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous();
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let mut scores = (q.matmul(&k.t()?)? * scale)?;
            if let Some(bias) = &bias {
                scores = scores.broadcast_add(bias)?;
            }
            let scores = scores.broadcast_add(&mask_t)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((rows, seq, self.heads * self.head_dim))?;
            let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&ctx)? + &x)?)?;
            let inner = layer.ffn_in.forward(&attended)?;
            let inner = match self.act {
                Act::Gelu => inner.gelu_erf()?,
                Act::GeluTanh => inner.gelu()?,
                Act::Relu => inner.relu()?,
            };
            x = layer.output_norm.forward(&(layer.ffn_out.forward(&inner)? + &attended)?)?;
        }
        Ok(x)
    }
}
