//! Inference engines behind one trait.
//!
//! Like text-embeddings-inference, the crate runs candle where exactness or a GPU matters and ONNX Runtime where
//! CPU speed does. Both produce the last hidden states of a padded batch and hand them, borrowed, to the shared
//! [`PoolingHead`], so pooling and normalisation are the same code whatever the engine.

use std::fmt;
use std::str::FromStr;

use crate::batch::TokenBatch;
use crate::error::EncoderError;
use crate::pooling::PoolingHead;

pub mod candle;
mod layout;
#[cfg(feature = "onnx")]
pub mod onnx;
#[cfg(feature = "onnx")]
pub mod onnx_graph;
mod transformer;

/// Whether this build has the ONNX Runtime backend (cargo feature `onnx`, on by default).
pub const fn onnx_built() -> bool {
    cfg!(feature = "onnx")
}

/// Whether this build's candle backend can run on CUDA devices (cargo feature `cuda`, off by default).
pub const fn cuda_built() -> bool {
    cfg!(feature = "cuda")
}

/// Opens `device` the way the candle backend does, to tell whether a model could run there (a CUDA device
/// needs the `cuda` feature, a driver and the device itself). Nothing is loaded onto it.
pub fn probe_device(device: DeviceSpec) -> Result<(), EncoderError> {
    candle::candle_device(device).map(drop)
}

/// An engine that turns a token batch into pooled embeddings.
pub trait Backend: Send + Sync {
    /// Short description for logs and reports, e.g. `candle fp32 cpu`.
    fn name(&self) -> &str;

    /// Runs the transformer on `batch` and applies `head` to its last hidden states; returns row-major
    /// `[batch.rows(), head.dim]`.
    fn embed_batch(&self, batch: &TokenBatch, head: &PoolingHead) -> Result<Vec<f32>, EncoderError>;

    /// Where the model runs (the CPU unless the backend says otherwise).
    fn device(&self) -> DeviceSpec {
        DeviceSpec::Cpu
    }
}

/// Which engine to use. Written as `auto`, `candle` or `onnx` in configs, saved models and flags (one parser:
/// [`BackendKind::from_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BackendKind {
    /// ONNX Runtime when the run is on the CPU and its library is installed (or int8 is asked for), else
    /// candle. Both fp32 paths are exact, so the choice changes speed, not vectors.
    #[default]
    Auto,
    /// candle (pure Rust; exact fp32; CPU or, with the `cuda` feature, GPU).
    Candle,
    /// ONNX Runtime on CPU (feature `onnx`; the shared library is loaded at run time).
    #[cfg_attr(feature = "clap", value(alias = "ort", alias = "onnxruntime"))]
    Onnx,
}

impl BackendKind {
    /// The name accepted by [`BackendKind::from_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Candle => "candle",
            BackendKind::Onnx => "onnx",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = EncoderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendKind::Auto),
            "candle" => Ok(BackendKind::Candle),
            "onnx" | "ort" | "onnxruntime" => Ok(BackendKind::Onnx),
            other => {
                Err(EncoderError::InvalidOption(format!("unknown backend `{other}` (auto, candle, onnx)")))
            }
        }
    }
}

/// Numeric precision of the weights, written `fp32` or `int8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// 32-bit floats: the reference.
    #[default]
    Fp32,
    /// Dynamically quantized 8-bit weights (ONNX only): faster on CPU, cosine to fp32 about 0.99.
    Int8,
}

impl Precision {
    /// The name accepted by [`Precision::from_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = EncoderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => Ok(Precision::Fp32),
            "int8" | "i8" | "qint8" => Ok(Precision::Int8),
            other => Err(EncoderError::InvalidOption(format!("unknown precision `{other}` (fp32, int8)"))),
        }
    }
}

/// Where the model runs, written `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The CPU.
    #[default]
    Cpu,
    /// CUDA device with this ordinal (needs the `cuda` cargo feature).
    Cuda(usize),
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = EncoderError;
    /// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => {
                s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(DeviceSpec::Cuda).ok_or_else(|| {
                    EncoderError::InvalidOption(format!("unknown device `{s}` (cpu, cuda, cuda:N)"))
                })
            }
        }
    }
}

/// Serde goes through the same names as `FromStr`/`Display`, so a config file, a saved model and a flag accept
/// exactly the same spellings and a misspelt value fails with the list of valid ones.
macro_rules! serde_via_str {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = EncoderError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    )*};
}
serde_via_str!(BackendKind, Precision, DeviceSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_option_names() {
        assert_eq!("ONNX".parse::<BackendKind>().unwrap(), BackendKind::Onnx);
        assert_eq!("candle".parse::<BackendKind>().unwrap(), BackendKind::Candle);
        assert_eq!("auto".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        assert!("tract".parse::<BackendKind>().is_err());
        assert_eq!("int8".parse::<Precision>().unwrap(), Precision::Int8);
        assert_eq!("fp32".parse::<Precision>().unwrap(), Precision::Fp32);
        assert!("fp16".parse::<Precision>().is_err());
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
    }

    #[test]
    fn serde_uses_the_same_names_and_rejects_typos() {
        let v: BackendKind = serde_json::from_str("\"ort\"").unwrap();
        assert_eq!(v, BackendKind::Onnx);
        assert_eq!(serde_json::to_string(&BackendKind::Onnx).unwrap(), "\"onnx\"");
        assert_eq!(serde_json::to_string(&DeviceSpec::Cuda(2)).unwrap(), "\"cuda:2\"");
        assert_eq!(serde_json::from_str::<DeviceSpec>("\"cuda:2\"").unwrap(), DeviceSpec::Cuda(2));
        let err = serde_json::from_str::<Precision>("\"fp16\"").unwrap_err().to_string();
        assert!(err.contains("unknown precision `fp16` (fp32, int8)"), "{err}");
    }
}
