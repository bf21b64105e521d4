//! candle backend: `candle_transformers::models::bert::BertModel` on fp32 safetensors weights for BERT, this
//! crate's own encoder for MPNet and DistilBERT.
//!
//! This is the reference path: its embeddings match sentence-transformers to cosine 1.0000000. On CPU it is
//! slower than ONNX Runtime (candle's non-matmul ops are single-pass and allocate per op); it is the backend
//! for GPUs (feature `cuda`).

use candle_core::{DType, Device, Storage, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

use super::transformer::Transformer;
use super::{Backend, DeviceSpec, Precision};
use crate::batch::TokenBatch;
use crate::error::EncoderError;
use crate::folder::{Architecture, ModelFolder};
use crate::pooling::{HiddenStates, PoolingHead};

/// The network: candle-transformers' BERT, or this crate's MPNet / DistilBERT.
enum Model {
    Bert(BertModel),
    Other(Transformer),
}

/// A BERT, MPNet or DistilBERT model loaded into candle.
pub struct CandleBackend {
    model: Model,
    device: Device,
    spec: DeviceSpec,
    /// Dedicated pool so that `threads` is honoured without touching rayon's global pool, which the tokenizer
    /// and the host application share. `None`: run on the caller's (global) pool.
    pool: Option<rayon::ThreadPool>,
    name: String,
}

impl std::fmt::Debug for CandleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleBackend").field("name", &self.name).finish_non_exhaustive()
    }
}

impl CandleBackend {
    /// Loads `model.safetensors` of `folder` onto `device`. `threads` = 0 uses rayon's global pool.
    pub fn load(
        folder: &ModelFolder,
        precision: Precision,
        device: DeviceSpec,
        threads: usize,
    ) -> Result<Self, EncoderError> {
        if precision != Precision::Fp32 {
            // Quantized BERT in candle would need a different model implementation; int8 is what the ONNX
            // backend is for. (candle's BertModel is also unusable in f16: its attention mask multiplies
            // f32::MIN cast to f16, which is -inf, by 0, giving NaN.)
            return Err(EncoderError::InvalidOption(format!(
                "the candle backend runs fp32 only (asked for {precision}); use the onnx backend for int8"
            )));
        }
        let spec = device;
        let device = candle_device(spec)?;
        let weights_path = folder.safetensors_path()?;
        // Read into memory rather than mmap: a memory map of a file that another process rewrites is undefined
        // behaviour, and BERT-sized weights are small next to the activations anyway.
        let bytes = std::fs::read(&weights_path)
            .map_err(|source| EncoderError::Io { path: weights_path.clone(), source })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(EncoderError::candle("reading model.safetensors"))?;
        let model = match folder.config().architecture {
            Architecture::Bert => Model::Bert(
                BertModel::load(vb, &candle_config(folder)?)
                    .map_err(EncoderError::candle("building BERT from the weights"))?,
            ),
            Architecture::MPNet | Architecture::DistilBert => {
                Model::Other(Transformer::load(vb, folder.config())?)
            }
        };
        let pool = if threads > 0 {
            Some(rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| {
                EncoderError::InvalidOption(format!("cannot start {threads} candle threads: {e}"))
            })?)
        } else {
            None
        };
        Ok(Self { model, device, spec, pool, name: format!("candle fp32 {spec}") })
    }

    fn forward(&self, batch: &TokenBatch, head: &PoolingHead) -> Result<Vec<f32>, EncoderError> {
        let hidden = match &self.model {
            Model::Bert(bert) => {
                let shape = (batch.rows(), batch.seq_len());
                let tensor = |data: &[u32]| Tensor::from_slice(data, shape, &self.device);
                (|| {
                    let (ids, types, mask) = (
                        tensor(batch.input_ids())?,
                        tensor(batch.token_type_ids())?,
                        tensor(batch.attention_mask())?,
                    );
                    bert.forward(&ids, &types, Some(&mask))
                })()
            }
            Model::Other(model) => {
                model.forward(batch.input_ids(), batch.attention_mask(), batch.rows(), batch.seq_len())
            }
        }
        .map_err(EncoderError::candle("forward pass"))?;
        if self.device.is_cpu() {
            // Pool straight from candle's buffer instead of copying [rows, seq, hidden] out first.
            let hidden = hidden.contiguous().map_err(EncoderError::candle("laying out hidden states"))?;
            let (storage, layout) = hidden.storage_and_layout();
            if let Storage::Cpu(cpu) = &*storage {
                let all = cpu.as_slice::<f32>().map_err(EncoderError::candle("reading hidden states"))?;
                let start = layout.start_offset();
                let n = layout.shape().elem_count();
                return head.apply(states(batch, &all[start..start + n]));
            }
        }
        // Off the CPU the states are copied to the host for the shared pooling code; pooling on the device
        // first would move rows x hidden instead of rows x seq x hidden floats, worth doing for large batches.
        let host = hidden
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(EncoderError::candle("copying hidden states to the host"))?;
        head.apply(states(batch, &host))
    }
}

impl Backend for CandleBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn embed_batch(&self, batch: &TokenBatch, head: &PoolingHead) -> Result<Vec<f32>, EncoderError> {
        match &self.pool {
            Some(pool) => pool.install(|| self.forward(batch, head)),
            None => self.forward(batch, head),
        }
    }

    fn device(&self) -> DeviceSpec {
        self.spec
    }
}

fn states<'a>(batch: &'a TokenBatch, data: &'a [f32]) -> HiddenStates<'a> {
    HiddenStates { data, seq_len: batch.seq_len(), lengths: batch.lengths() }
}

/// The candle device for `spec`; CUDA only when compiled with the `cuda` feature.
pub(crate) fn candle_device(spec: DeviceSpec) -> Result<Device, EncoderError> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(ordinal) => {
            Device::new_cuda(ordinal).map_err(EncoderError::candle("opening the CUDA device"))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(ordinal) => Err(EncoderError::InvalidOption(format!(
            "device cuda:{ordinal} requested but atlas-encoder was built without the `cuda` feature"
        ))),
    }
}

/// candle's BERT config from `config.json`, with Hugging Face activation names mapped onto candle's.
fn candle_config(folder: &ModelFolder) -> Result<Config, EncoderError> {
    let mut json = folder.config_json().clone();
    let path = folder.dir().join("config.json");
    if let Some(obj) = json.as_object_mut() {
        let act = obj.get("hidden_act").and_then(|v| v.as_str()).unwrap_or("gelu").to_owned();
        let mapped = match act.as_str() {
            "gelu" => "gelu",
            // Hugging Face's tanh approximation under its various names; candle's serde name for it is
            // `geluapproximate` (its enum is renamed to lowercase).
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_approximate" => "geluapproximate",
            "relu" => "relu",
            other => {
                return Err(EncoderError::Unsupported {
                    dir: folder.dir().to_path_buf(),
                    message: format!("config.json: hidden_act `{other}` (gelu, gelu_new, relu)"),
                })
            }
        };
        obj.insert("hidden_act".into(), mapped.into());
        // Fields candle requires but sentence-transformers exports sometimes omit; they do not affect inference.
        for (key, default) in [("hidden_dropout_prob", 0.1), ("initializer_range", 0.02)] {
            obj.entry(key).or_insert(default.into());
        }
        obj.entry("type_vocab_size").or_insert(2.into());
        obj.entry("layer_norm_eps").or_insert(1e-12.into());
        obj.entry("pad_token_id").or_insert(0.into());
    }
    serde_json::from_value(json).map_err(|source| EncoderError::Json { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available() {
        assert!(candle_device(DeviceSpec::Cpu).unwrap().is_cpu());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = candle_device(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert!(err.contains("without the `cuda` feature"), "{err}");
    }
}
