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
    /// Largest share of a batch's positions that may be padding, in percent (0–100). A text that would push
    /// the batch past it starts a new batch instead.
    ///
    /// Why: on a CPU the forward pass costs the same per position whether the position is a real token or
    /// padding, and a batch of 1 already fills the matrix units (a 180-token abstract is a 180-row GEMM), so
    /// a smaller batch costs nothing while padding costs its full share. A server's batch is whatever
    /// requests arrived together, with lengths from 20 to 256 tokens: padded to its longest text, much of
    /// its work can be padding. Sorted corpus runs rarely reach the limit.
    pub max_padding_percent: u32,
}

/// Default [`BatchLimits::max_padding_percent`]: at most a tenth of a batch is padding.
pub const DEFAULT_MAX_PADDING_PERCENT: u32 = 10;

impl BatchLimits {
    /// `max_batch_size` texts and `max_batch_tokens` padded tokens, with the default padding budget.
    pub fn new(max_batch_size: usize, max_batch_tokens: usize) -> Self {
        Self { max_batch_size, max_batch_tokens, max_padding_percent: DEFAULT_MAX_PADDING_PERCENT }
    }

    /// The same limits with padding allowed up to `percent` of a batch (100 = never split for padding).
    pub fn with_max_padding_percent(self, percent: u32) -> Self {
        Self { max_padding_percent: percent, ..self }
    }
}

impl Default for BatchLimits {
    fn default() -> Self {
        // 32 rows is where CPU throughput of MiniLM-sized models levels off; 16k tokens (32 × 512) keeps the
        // attention matrices of a batch of 512-token texts under ~100 MB.
        Self::new(32, 16_384)
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
        if self.max_padding_percent > 100 {
            return Err(EncoderError::InvalidOption(format!(
                "max_padding_percent must be between 0 and 100, not {}",
                self.max_padding_percent
            )));
        }
        Ok(())
    }
}

/// Splits texts with the given token counts into batches: indices sorted by decreasing length (ties keep input
/// order, so results are deterministic), cut greedily whenever the next text would exceed any limit (size,
/// padded tokens, padding share). A text longer than `max_batch_tokens` still gets a batch of its own.
pub fn plan_batches(lengths: &[usize], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut real = 0usize;
    for i in order {
        // Sorted descending, so the first member of a batch is its longest and fixes its padded length.
        let padded_len = current.first().map_or(lengths[i], |&f| lengths[f]).max(1);
        let padded = (current.len() + 1).saturating_mul(padded_len);
        let padding = padded.saturating_sub(real + lengths[i]);
        let fits = current.len() < limits.max_batch_size
            && padded <= limits.max_batch_tokens
            && padding.saturating_mul(100) <= (limits.max_padding_percent as usize).saturating_mul(padded);
        if !current.is_empty() && !fits {
            batches.push(std::mem::take(&mut current));
            real = 0;
        }
        current.push(i);
        real += lengths[i];
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
        let plan = plan_batches(&lengths, BatchLimits::new(2, 1000).with_max_padding_percent(100));
        assert_eq!(plan, vec![vec![1, 3], vec![5, 2], vec![0, 4]]);
        // 130 padded tokens at most: the two 50s fill a batch, then 40 sets the padded length of the next.
        let plan = plan_batches(&lengths, BatchLimits::new(8, 130).with_max_padding_percent(100));
        assert_eq!(plan, vec![vec![1, 3], vec![5, 2, 0], vec![4]]);
        // Every index appears exactly once.
        let mut all: Vec<usize> = plan.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
    }

    #[test]
    fn oversized_text_gets_its_own_batch() {
        let plan = plan_batches(&[300, 10], BatchLimits::new(32, 256));
        assert_eq!(plan, vec![vec![0], vec![1]]);
        assert!(plan_batches(&[], BatchLimits::default()).is_empty());
        assert!(BatchLimits::new(0, 1).validate().is_err());
        assert!(BatchLimits::default().with_max_padding_percent(101).validate().is_err());
    }

    #[test]
    fn padding_budget_splits_mixed_lengths() {
        // A server batch: requests of very different lengths arrive together.
        let lengths = [256, 60, 250, 180, 120, 240];
        let plan = plan_batches(&lengths, BatchLimits::default());
        // 256, 250, 240, 180 pad by 98 of 1,024 positions (9.6 %); 120 would make it 18 %, so it starts a new
        // batch, and 60 would make that one 25 %.
        assert_eq!(plan, vec![vec![0, 2, 5, 3], vec![4], vec![1]]);
        for batch in &plan {
            let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
            let real: usize = batch.iter().map(|&i| lengths[i]).sum();
            assert!(
                (longest * batch.len() - real) as f64 <= 0.1 * (longest * batch.len()) as f64,
                "{batch:?}"
            );
        }
        // A budget of 100 % keeps the old behaviour: one batch, padded to 256.
        assert_eq!(plan_batches(&lengths, BatchLimits::default().with_max_padding_percent(100)).len(), 1);
        // Equal lengths never split for padding.
        assert_eq!(plan_batches(&[100; 40], BatchLimits::default()).len(), 2);
    }
}
