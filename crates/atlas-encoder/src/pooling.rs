//! Pooling token states into one vector per text, and L2 normalisation: the shared head every backend ends in.
//!
//! The semantics are sentence-transformers' `Pooling` and `Normalize` modules, restricted to what its
//! attention mask means for right-padded batches: the first `len` positions of each row are real tokens
//! (`[CLS]` and `[SEP]` included), the rest is padding and is ignored.

use crate::error::EncoderError;

/// How the token states of one text are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the real tokens (the sentence-transformers default).
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
    /// Element-wise maximum over the real tokens.
    Max,
    /// Sum over the real tokens divided by the square root of their count.
    MeanSqrtLen,
}

impl Pooling {
    /// The name sentence-transformers uses for the mode.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len_tokens",
        }
    }
}

/// The last hidden states of a right-padded batch, borrowed from whatever produced them.
#[derive(Debug, Clone, Copy)]
pub struct HiddenStates<'a> {
    /// Row-major `[rows, seq_len, dim]`.
    pub data: &'a [f32],
    /// Padded sequence length of the batch.
    pub seq_len: usize,
    /// Real token count of each row (`1..=seq_len`).
    pub lengths: &'a [usize],
}

/// Pooling plus optional normalisation, applied identically by every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolingHead {
    /// How token states are combined.
    pub pooling: Pooling,
    /// Whether the pooled vector is L2-normalised.
    pub normalize: bool,
    /// Width of a token state and of the result.
    pub dim: usize,
}

impl PoolingHead {
    /// Pools `hidden` into a row-major `[rows, dim]` matrix.
    pub fn apply(&self, hidden: HiddenStates<'_>) -> Result<Vec<f32>, EncoderError> {
        let mut out = vec![0.0f32; hidden.lengths.len() * self.dim];
        self.apply_into(hidden, &mut out)?;
        Ok(out)
    }

    /// Like [`PoolingHead::apply`], into a caller-provided `[rows, dim]` buffer.
    pub fn apply_into(&self, hidden: HiddenStates<'_>, out: &mut [f32]) -> Result<(), EncoderError> {
        let (dim, seq, rows) = (self.dim, hidden.seq_len, hidden.lengths.len());
        if hidden.data.len() != rows * seq * dim || out.len() != rows * dim {
            return Err(EncoderError::InvalidOption(format!(
                "pooling: hidden states hold {} floats and the output {}, expected {rows} x {seq} x {dim} \
                 and {rows} x {dim}",
                hidden.data.len(),
                out.len()
            )));
        }
        for (row, (&len, acc)) in hidden.lengths.iter().zip(out.chunks_exact_mut(dim)).enumerate() {
            if len == 0 || len > seq {
                return Err(EncoderError::InvalidOption(format!(
                    "pooling: row {row} has {len} tokens, expected 1..={seq}"
                )));
            }
            let tokens = hidden.data[row * seq * dim..(row * seq + len) * dim].chunks_exact(dim);
            match self.pooling {
                Pooling::Cls => acc.copy_from_slice(&hidden.data[row * seq * dim..(row * seq + 1) * dim]),
                Pooling::Mean | Pooling::MeanSqrtLen => {
                    acc.fill(0.0);
                    for t in tokens {
                        acc.iter_mut().zip(t).for_each(|(a, &x)| *a += x);
                    }
                    let div = if self.pooling == Pooling::Mean { len as f32 } else { (len as f32).sqrt() };
                    acc.iter_mut().for_each(|a| *a /= div);
                }
                Pooling::Max => {
                    acc.fill(f32::NEG_INFINITY);
                    for t in tokens {
                        acc.iter_mut().zip(t).for_each(|(a, &x)| *a = a.max(x));
                    }
                }
            }
            if self.normalize {
                l2_normalize(acc);
            }
        }
        Ok(())
    }
}

/// Scales `v` to unit length, as `torch.nn.functional.normalize` does (norm clamped at 1e-12, so a zero vector
/// stays zero instead of becoming NaN).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rows, seq 3, dim 2; row 0 has 2 real tokens, row 1 all 3. Padding holds 100s that must not leak in.
    const DATA: [f32; 12] = [1.0, 2.0, 3.0, -4.0, 100.0, 100.0, 0.0, 1.0, 2.0, 1.0, 4.0, -2.0];
    const LENGTHS: [usize; 2] = [2, 3];

    fn pool(pooling: Pooling, normalize: bool) -> Vec<f32> {
        let head = PoolingHead { pooling, normalize, dim: 2 };
        head.apply(HiddenStates { data: &DATA, seq_len: 3, lengths: &LENGTHS }).unwrap()
    }

    #[test]
    fn mean_ignores_padding() {
        assert_eq!(pool(Pooling::Mean, false), vec![2.0, -1.0, 2.0, 0.0]);
    }

    #[test]
    fn max_cls_and_sqrt_len() {
        assert_eq!(pool(Pooling::Max, false), vec![3.0, 2.0, 4.0, 1.0]);
        assert_eq!(pool(Pooling::Cls, false), vec![1.0, 2.0, 0.0, 1.0]);
        let s = pool(Pooling::MeanSqrtLen, false);
        let r2 = 2f32.sqrt();
        let r3 = 3f32.sqrt();
        let want = [4.0 / r2, -2.0 / r2, 6.0 / r3, 0.0 / r3];
        assert!(s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{s:?}");
    }

    #[test]
    fn normalisation_gives_unit_rows() {
        let v = pool(Pooling::Mean, true);
        let want = [2.0 / 5f32.sqrt(), -1.0 / 5f32.sqrt(), 1.0, 0.0];
        assert!(v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{v:?}");
        let mut zero = vec![0.0f32; 3];
        l2_normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }

    #[test]
    fn rejects_inconsistent_shapes() {
        let head = PoolingHead { pooling: Pooling::Mean, normalize: false, dim: 2 };
        assert!(head.apply(HiddenStates { data: &DATA[..10], seq_len: 3, lengths: &LENGTHS }).is_err());
        assert!(head.apply(HiddenStates { data: &DATA, seq_len: 3, lengths: &[2, 0] }).is_err());
        assert!(head.apply(HiddenStates { data: &DATA, seq_len: 3, lengths: &[4, 1] }).is_err());
    }
}
