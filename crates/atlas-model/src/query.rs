//! The encoder of an index: which model turns a query text into a vector comparable with the stored ones.

use std::path::Path;

use atlas_encoder::{EncoderSpec, Precision};
use atlas_index::IndexInfo;

use crate::PredictorError;

/// Loads the encoder whose vectors the index holds: the index's recorded model folder (or `model_dir` when it
/// has moved; else the default model folder), fp32 first, then int8 — whichever reproduces the index's
/// embedding id. `sessions` ONNX Runtime sessions run calls side by side (a server's inference workers).
pub fn query_encoder(
    info: &IndexInfo,
    model_dir: Option<&Path>,
    sessions: usize,
) -> Result<atlas_encoder::Encoder, PredictorError> {
    let dir = match model_dir {
        Some(d) => Some(d.to_path_buf()),
        None if info.model_dir.is_dir() => Some(info.model_dir.clone()),
        // The recorded folder is gone: the default folder (ARXIV_ATLAS_MODEL_DIR) stands in, and the
        // embedding-id check below decides whether it is the same model.
        None => None,
    };
    let template: atlas_corpus::TextTemplate = info.template.parse()?;
    let mut last: Option<PredictorError> = None;
    for precision in [Precision::Fp32, Precision::Int8] {
        let spec = EncoderSpec { model_dir: dir.clone(), precision, ..EncoderSpec::default() };
        let encoder = match spec.load(&template, sessions) {
            Ok(e) => e,
            Err(e) => {
                last = Some(e.into());
                continue;
            }
        };
        match atlas_index::check_embedding_id(info, encoder.embedding_id()?) {
            Ok(()) => return Ok(encoder),
            Err(e) => last = Some(e.into()),
        }
    }
    let tried = dir.unwrap_or_else(|| info.model_dir.clone());
    Err(PredictorError::NoQueryEncoder {
        dir: tried,
        source: Box::new(last.unwrap_or_else(|| PredictorError::NotAModel {
            path: info.model_dir.clone(),
            message: "no encoder tried".into(),
        })),
    })
}
