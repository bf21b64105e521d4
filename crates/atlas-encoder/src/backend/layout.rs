//! What the backends need to know about each [`Architecture`] beyond its hyper-parameters: the weight names of
//! Hugging Face checkpoints, how position ids are formed, MPNet's relative-position buckets and DistilBERT's
//! sinusoidal position table. The candle model and the ONNX graph writer both read these, so the two backends
//! cannot drift apart on them.

use crate::folder::{Architecture, MPNET_BUCKETS};

/// MPNet's padding index: transformers hard-codes 1 (not `pad_token_id`) for its position-id rule and the
/// offset of positions.
pub(crate) const MPNET_PADDING_IDX: u32 = 1;

/// The longest relative distance MPNet's buckets tell apart (transformers' `max_distance`).
const MPNET_MAX_DISTANCE: f32 = 128.0;

/// Weight-name prefixes of checkpoints saved from the task models (`BertForMaskedLM` and the like) rather than
/// the bare encoder; the bare names are tried first.
pub(crate) fn checkpoint_prefix(arch: Architecture) -> &'static str {
    match arch {
        Architecture::Bert => "bert.",
        Architecture::MPNet => "mpnet.",
        Architecture::DistilBert => "distilbert.",
    }
}

/// Names (without `.weight`/`.bias`) of one layer's modules.
pub(crate) struct LayerNames {
    pub query: String,
    pub key: String,
    pub value: String,
    pub attention_out: String,
    pub attention_norm: String,
    pub ffn_in: String,
    pub ffn_out: String,
    pub output_norm: String,
}

/// The module names of layer `i` as transformers names them.
pub(crate) fn layer_names(arch: Architecture, i: usize) -> LayerNames {
    let names = match arch {
        Architecture::Bert => [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ],
        Architecture::MPNet => [
            "attention.attn.q",
            "attention.attn.k",
            "attention.attn.v",
            "attention.attn.o",
            "attention.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ],
        Architecture::DistilBert => [
            "attention.q_lin",
            "attention.k_lin",
            "attention.v_lin",
            "attention.out_lin",
            "sa_layer_norm",
            "ffn.lin1",
            "ffn.lin2",
            "output_layer_norm",
        ],
    };
    let stack = match arch {
        Architecture::DistilBert => "transformer",
        Architecture::Bert | Architecture::MPNet => "encoder",
    };
    let full = |n: &str| format!("{stack}.layer.{i}.{n}");
    LayerNames {
        query: full(names[0]),
        key: full(names[1]),
        value: full(names[2]),
        attention_out: full(names[3]),
        attention_norm: full(names[4]),
        ffn_in: full(names[5]),
        ffn_out: full(names[6]),
        output_norm: full(names[7]),
    }
}

/// MPNet's shared relative-position bias table, `[buckets, heads]`.
pub(crate) const MPNET_RELATIVE_BIAS: &str = "encoder.relative_attention_bias.weight";

/// Position ids of one padded row: `0..seq` for BERT and DistilBERT; for MPNet transformers'
/// `create_position_ids_from_input_ids`: the running count of non-padding tokens, plus the padding index, so
/// that real tokens sit at `2, 3, ...` and padding at 1.
pub(crate) fn position_ids(arch: Architecture, ids: &[u32]) -> Vec<u32> {
    match arch {
        Architecture::MPNet => {
            let mut count = 0;
            ids.iter()
                .map(|&id| {
                    if id == MPNET_PADDING_IDX {
                        MPNET_PADDING_IDX
                    } else {
                        count += 1;
                        count + MPNET_PADDING_IDX
                    }
                })
                .collect()
        }
        Architecture::Bert | Architecture::DistilBert => (0..ids.len() as u32).collect(),
    }
}

/// transformers' `MPNetEncoder.relative_position_bucket` for `relative = key position − query position`, with
/// 32 buckets and a maximum distance of 128: half the buckets per direction, exact up to 8, logarithmic
/// beyond. Computed in f32 as torch does, so the bucket edges (16, 32, 64) fall where they fall there.
pub(crate) fn mpnet_bucket(relative: i64) -> usize {
    let half = MPNET_BUCKETS / 2;
    let max_exact = half / 2;
    let n = -relative;
    let base = if n < 0 { half } else { 0 };
    let n = n.unsigned_abs() as usize;
    if n < max_exact {
        return base + n;
    }
    let exact = max_exact as f32;
    let large = (n as f32 / exact).ln() / (MPNET_MAX_DISTANCE / exact).ln() * (half - max_exact) as f32;
    base + (max_exact + large as usize).min(half - 1)
}

/// MPNet's bias by distance: `[heads, 2·max_len − 1]`, entry `(h, d + max_len − 1)` the bias of head `h` for
/// key − query = `d`, from the `[buckets, heads]` table. The per-batch `[heads, seq, seq]` bias is a gather
/// from this.
pub(crate) fn mpnet_bias_by_distance(table: &[f32], heads: usize, max_len: usize) -> Vec<f32> {
    let width = 2 * max_len - 1;
    let mut out = vec![0.0; heads * width];
    for col in 0..width {
        let bucket = mpnet_bucket(col as i64 - (max_len as i64 - 1));
        for h in 0..heads {
            out[h * width + col] = table[bucket * heads + h];
        }
    }
    out
}

/// The `[heads, seq, seq]` bias of a batch of length `seq` from [`mpnet_bias_by_distance`]'s table.
pub(crate) fn mpnet_bias(by_distance: &[f32], heads: usize, max_len: usize, seq: usize) -> Vec<f32> {
    let width = 2 * max_len - 1;
    let mut out = Vec::with_capacity(heads * seq * seq);
    for h in 0..heads {
        let row = &by_distance[h * width..(h + 1) * width];
        for q in 0..seq {
            // key − query runs from −q to seq − 1 − q.
            let start = max_len - 1 - q;
            out.extend_from_slice(&row[start..start + seq]);
        }
    }
    out
}

/// DistilBERT's fixed sinusoidal position table `[n_pos, dim]` (transformers' `create_sinusoidal_embeddings`,
/// computed in f64 as numpy does, then rounded to f32), for checkpoints that leave the table out.
pub(crate) fn sinusoidal_positions(n_pos: usize, dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n_pos * dim);
    for pos in 0..n_pos {
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            out.push(if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_transformers() {
        // Values printed by transformers 5.24's MPNetEncoder.relative_position_bucket (torch 2.15), including
        // the edges where the logarithm is an exact integer.
        for (rel, bucket) in [
            (0, 0),
            (-1, 1),
            (1, 17),
            (-7, 7),
            (7, 23),
            (8, 24),
            (-15, 9),
            (-16, 10),
            (-17, 10),
            (-31, 11),
            (-32, 12),
            (-33, 12),
            (-63, 13),
            (-64, 14),
            (-65, 14),
            (-127, 15),
            (-128, 15),
            (-129, 15),
            (16, 26),
            (32, 28),
            (64, 30),
            (128, 31),
            (300, 31),
        ] {
            assert_eq!(mpnet_bucket(rel), bucket, "relative position {rel}");
        }
    }

    #[test]
    fn mpnet_positions_skip_padding_and_start_after_it() {
        assert_eq!(position_ids(Architecture::MPNet, &[0, 5, 9, 2, 1, 1]), [2, 3, 4, 5, 1, 1]);
        assert_eq!(position_ids(Architecture::DistilBert, &[101, 7, 0]), [0, 1, 2]);
    }

    #[test]
    fn bias_is_gathered_by_distance() {
        // 2 heads; bucket b has bias (b, -b).
        let table: Vec<f32> = (0..MPNET_BUCKETS).flat_map(|b| [b as f32, -(b as f32)]).collect();
        let by_distance = mpnet_bias_by_distance(&table, 2, 10);
        let bias = mpnet_bias(&by_distance, 2, 10, 3);
        // Head 0, query 0: keys at distance 0, 1, 2 -> buckets 0, 17, 18.
        assert_eq!(bias[..3], [0.0, 17.0, 18.0]);
        // Head 1, query 2: distances -2, -1, 0 -> buckets 2, 1, 0.
        assert_eq!(bias[9 + 6..9 + 9], [-2.0, -1.0, -0.0]);
    }

    #[test]
    fn sinusoidal_table_starts_with_sin_cos_of_zero() {
        let t = sinusoidal_positions(3, 4);
        assert_eq!(t[..4], [0.0, 1.0, 0.0, 1.0]);
        assert!((t[4] - 1f32.sin()).abs() < 1e-7 && (t[6] - (0.01f64).sin() as f32).abs() < 1e-7);
    }
}
