//! Text templates: how a paper becomes the one string that is embedded.
//!
//! The template type is `atlas_corpus`'s [`TextTemplate`], re-exported here: arxiv-atlas has one renderer of
//! paper text, shared by the TF-IDF classifier and the encoder, with one rule (a placeholder must name a
//! paper field, checked when the template is parsed). The peer protocol embeds a paper as
//! `{title} [SEP] {abstract}`; `[SEP]` in the text is matched by the tokenizer as the special separator
//! token (id 102 for BERT vocabularies), so the template is part of the embedding function and belongs in
//! any cache key (see [`crate::Encoder::embedding_id`]).

pub use atlas_corpus::{TemplateError, TextTemplate};

use crate::error::EncoderError;

/// The template of the peer baseline: title, the BERT separator, abstract.
pub const PAPER_TEMPLATE: &str = atlas_corpus::DEFAULT_TEMPLATE;

impl From<TemplateError> for EncoderError {
    fn from(e: TemplateError) -> Self {
        EncoderError::Template { template: e.template, message: e.message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_paper_template_and_errors_keep_the_bad_field() {
        assert_eq!(TextTemplate::parse(PAPER_TEMPLATE).unwrap(), TextTemplate::default());
        let err: EncoderError = TextTemplate::parse("{title} [SEP] {abstact}").unwrap_err().into();
        let text = err.to_string();
        assert!(text.contains("{abstact}") && text.starts_with("text template "), "{text}");
    }
}
