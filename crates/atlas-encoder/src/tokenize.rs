//! Tokenization exactly as sentence-transformers does it.
//!
//! `tokenizer.json` files often carry settings meant for another use: all-MiniLM-L6-v2's has truncation at
//! 128 and fixed padding to 128, while sentence-transformers truncates at the model's `max_seq_length` (256)
//! and pads per batch. Both are overridden here; padding is done by [`crate::TokenBatch`].

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::EncoderError;
use crate::folder::ModelFolder;

/// A Hugging Face tokenizer configured like sentence-transformers' `Transformer.tokenize`.
pub struct TextTokenizer {
    inner: Tokenizer,
    max_seq_length: usize,
    lowercase: bool,
    pad_id: u32,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("max_seq_length", &self.max_seq_length)
            .field("lowercase", &self.lowercase)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads the folder's `tokenizer.json` with truncation at its `max_seq_length` and no padding.
    pub fn from_folder(folder: &ModelFolder) -> Result<Self, EncoderError> {
        Self::from_file(
            &folder.tokenizer_path(),
            folder.max_seq_length(),
            folder.do_lower_case(),
            folder.config().pad_token_id,
        )
    }

    /// Loads `path` with truncation at `max_seq_length` tokens (special tokens included) and no padding.
    /// `fallback_pad_id` is used when the tokenizer names no `[PAD]` token.
    pub fn from_file(
        path: &Path,
        max_seq_length: usize,
        lowercase: bool,
        fallback_pad_id: u32,
    ) -> Result<Self, EncoderError> {
        let load_err = |message: String| EncoderError::TokenizerLoad { path: path.to_path_buf(), message };
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_err(e.to_string()))?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .unwrap_or(fallback_pad_id);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load_err(format!("cannot set truncation to {max_seq_length}: {e}")))?;
        inner.with_padding(None);
        Ok(Self { inner, max_seq_length, lowercase, pad_id })
    }

    /// Token ids of each text, `[CLS]`/`[SEP]` included, truncated to `max_seq_length`. Texts are trimmed
    /// (and lower-cased if the model asks for it) first, as sentence-transformers does.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EncoderError> {
        let prepared: Vec<String> = texts
            .iter()
            .map(|t| {
                let t = t.trim();
                if self.lowercase {
                    t.to_lowercase()
                } else {
                    t.to_owned()
                }
            })
            .collect();
        let tok_err = |e: tokenizers::Error| EncoderError::Tokenize(e.to_string());
        let encodings = if prepared.len() == 1 {
            // A one-text call (the latency path) skips the parallel iterator's set-up.
            vec![self.inner.encode_fast(prepared[0].as_str(), true).map_err(tok_err)?]
        } else {
            let inputs: Vec<&str> = prepared.iter().map(String::as_str).collect();
            self.inner.encode_batch_fast(inputs, true).map_err(tok_err)?
        };
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Longest sequence produced.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Id used to pad batches.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
}
