//! Padded token batches and the length-sorted batching plan.
//!
//! Transformer cost grows with the *padded* batch size (rows × longest row), so texts are sorted by token
//! count and cut into batches of similar length: padding then stays a few percent instead of doubling the work
//! on a corpus where abstracts range from 20 to 256 tokens.

use crate::error::EncoderError;

/// How large a batch may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most texts in one batch.
    pub max_batch_size: usize,
    /// Most padded tokens (rows × longest row) in one batch; bounds activation memory for long texts.
    pub max_batch_tokens: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        // 32 rows is where CPU throughput of MiniLM-sized models levels off; 16k tokens (32 × 512) keeps the
        // attention matrices of a batch of 512-token texts under ~100 MB.
        Self { max_batch_size: 32, max_batch_tokens: 16_384 }
    }
}

impl BatchLimits {
    /// Checks that both limits are positive.
    pub fn validate(&self) -> Result<(), EncoderError> {
        if self.max_batch_size == 0 || self.max_batch_tokens == 0 {
            return Err(EncoderError::InvalidOption(format!(
                "batch limits must be positive (max_batch_size {}, max_batch_tokens {})",
                self.max_batch_size, self.max_batch_tokens
            )));
        }
        Ok(())
    }
}

/// Splits texts with the given token counts into batches: indices sorted by decreasing length (ties keep input
/// order, so results are deterministic), cut greedily whenever the next text would exceed either limit. A text
/// longer than `max_batch_tokens` still gets a batch of its own.
pub fn plan_batches(lengths: &[usize], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted descending, so the first member of a batch is its longest and fixes its padded length.
        let padded_len = current.first().map_or(lengths[i], |&f| lengths[f]);
        let fits = current.len() < limits.max_batch_size
            && (current.len() + 1).saturating_mul(padded_len.max(1)) <= limits.max_batch_tokens;
        if !current.is_empty() && !fits {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// A right-padded batch of token sequences, laid out as the transformer wants it: row-major `[rows, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    input_ids: Vec<u32>,
    attention_mask: Vec<u32>,
    token_type_ids: Vec<u32>,
    lengths: Vec<usize>,
    seq_len: usize,
}

impl TokenBatch {
    /// Pads `sequences` to the longest of them with `pad_id`. Token types are all 0 (single-text input).
    pub fn new(sequences: &[&[u32]], pad_id: u32) -> Result<Self, EncoderError> {
        if sequences.is_empty() || sequences.iter().any(|s| s.is_empty()) {
            return Err(EncoderError::InvalidOption(
                "a token batch needs at least one row and no empty row".to_owned(),
            ));
        }
        let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let rows = sequences.len();
        let mut input_ids = vec![pad_id; rows * seq_len];
        let mut attention_mask = vec![0u32; rows * seq_len];
        for (r, s) in sequences.iter().enumerate() {
            input_ids[r * seq_len..r * seq_len + s.len()].copy_from_slice(s);
            attention_mask[r * seq_len..r * seq_len + s.len()].fill(1);
        }
        Ok(Self {
            input_ids,
            attention_mask,
            token_type_ids: vec![0; rows * seq_len],
            lengths: sequences.iter().map(|s| s.len()).collect(),
            seq_len,
        })
    }

    /// Number of rows (texts).
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    /// Padded length of every row.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Token ids, `[rows, seq_len]`.
    pub fn input_ids(&self) -> &[u32] {
        &self.input_ids
    }

    /// 1 for real tokens, 0 for padding, `[rows, seq_len]`.
    pub fn attention_mask(&self) -> &[u32] {
        &self.attention_mask
    }

    /// Segment ids (all 0), `[rows, seq_len]`.
    pub fn token_type_ids(&self) -> &[u32] {
        &self.token_type_ids
    }

    /// Real token count of each row.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// Real tokens in the batch.
    pub fn real_tokens(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Tokens the transformer processes, padding included.
    pub fn padded_tokens(&self) -> usize {
        self.rows() * self.seq_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_right_with_mask() {
        let b = TokenBatch::new(&[&[101, 7, 102], &[101, 102]], 0).unwrap();
        assert_eq!((b.rows(), b.seq_len()), (2, 3));
        assert_eq!(b.input_ids(), &[101, 7, 102, 101, 102, 0]);
        assert_eq!(b.attention_mask(), &[1, 1, 1, 1, 1, 0]);
        assert_eq!(b.token_type_ids(), &[0; 6]);
        assert_eq!((b.real_tokens(), b.padded_tokens()), (5, 6));
        assert!(TokenBatch::new(&[], 0).is_err());
        assert!(TokenBatch::new(&[&[1], &[]], 0).is_err());
    }

    #[test]
    fn plan_sorts_by_length_and_respects_both_limits() {
        let lengths = [5, 50, 7, 50, 3, 40];
        let plan = plan_batches(&lengths, BatchLimits { max_batch_size: 2, max_batch_tokens: 1000 });
        assert_eq!(plan, vec![vec![1, 3], vec![5, 2], vec![0, 4]]);
        // 130 padded tokens at most: the two 50s fill a batch, then 40 sets the padded length of the next.
        let plan = plan_batches(&lengths, BatchLimits { max_batch_size: 8, max_batch_tokens: 130 });
        assert_eq!(plan, vec![vec![1, 3], vec![5, 2, 0], vec![4]]);
        // Every index appears exactly once.
        let mut all: Vec<usize> = plan.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
    }

    #[test]
    fn oversized_text_gets_its_own_batch() {
        let plan = plan_batches(&[300, 10], BatchLimits { max_batch_size: 32, max_batch_tokens: 256 });
        assert_eq!(plan, vec![vec![0], vec![1]]);
        assert!(plan_batches(&[], BatchLimits::default()).is_empty());
        assert!(BatchLimits { max_batch_size: 0, max_batch_tokens: 1 }.validate().is_err());
    }
}
