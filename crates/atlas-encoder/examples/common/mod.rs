//! What the examples of this crate share: the options that choose the model and how it runs, and the
//! exit status of `main`.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use atlas_encoder::EncoderOptions;

/// The encoder options every example takes.
#[derive(Debug, clap::Args)]
pub struct EncoderArgs {
    /// Model folder [default: ARXIV_ATLAS_MODEL_DIR, else ../shared/models/all-MiniLM-L6-v2].
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Backend: auto, candle or onnx.
    #[arg(long, default_value = "auto")]
    pub backend: String,
    /// Precision: fp32, or int8 (an ONNX graph of the folder).
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Device: cpu, or cuda:N (the candle backend on a GPU; needs the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl EncoderArgs {
    /// The model folder to load.
    pub fn model_dir(&self) -> Result<PathBuf, Box<dyn Error>> {
        match &self.model {
            Some(m) => Ok(m.clone()),
            None => Ok(atlas_encoder::default_model_dir().ok_or("no model folder: pass --model")?),
        }
    }

    /// The options to load the encoder with (the default text template).
    pub fn options(&self) -> Result<EncoderOptions, Box<dyn Error>> {
        Ok(EncoderOptions {
            backend: self.backend.parse()?,
            precision: self.precision.parse()?,
            threads: self.threads,
            device: self.device.parse()?,
            ..Default::default()
        })
    }
}

/// The exit status of an example's `run`: the error on stderr and a failure status, or success.
pub fn exit_code(result: Result<(), Box<dyn Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
