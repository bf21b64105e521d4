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
#[cfg(feature = "onnx")]
pub mod onnx;
#[cfg(feature = "onnx")]
pub mod onnx_graph;

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

/// Which engine to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// ONNX Runtime when the run is on the CPU and its library is installed (or int8 is asked for), else
    /// candle. Both fp32 paths are exact, so the choice changes speed, not vectors.
    Auto,
    /// candle (pure Rust; exact fp32; CPU or, with the `cuda` feature, GPU).
    Candle,
    /// ONNX Runtime on CPU (feature `onnx`; the shared library is loaded at run time).
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

/// Numeric precision of the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: the reference.
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

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU.
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
}
