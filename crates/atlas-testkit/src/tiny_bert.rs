//! A tiny random BERT for tests that need a model folder without `../shared`: its hyper-parameters, its
//! tensors (Hugging Face names, deterministic pseudo-random values) and the non-weight files of a
//! sentence-transformers folder around it. Writing `model.safetensors` is left to the caller, so this crate
//! needs neither candle nor safetensors.

use std::path::Path;

/// Hidden size.
pub const HIDDEN: usize = 16;
/// Attention heads.
pub const HEADS: usize = 4;
/// Intermediate (feed-forward) size.
pub const INTER: usize = 32;
/// Transformer layers.
pub const LAYERS: usize = 2;
/// Vocabulary size (token ids of test batches must stay below it).
pub const VOCAB: usize = 50;
/// Longest sequence.
pub const MAX_POS: usize = 40;

/// Deterministic pseudo-random values in [-0.5, 0.5) (a 64-bit LCG; quality is irrelevant here).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next value.
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// `n` values.
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
}

/// Every tensor of the tiny BERT as (bare HF name, shape, values), drawn from `Lcg(seed)`. LayerNorm gains are
/// near 1 so that activations stay in a realistic range.
pub fn tensors(seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = Lcg(seed);
    let mut t = Vec::new();
    let mut add = |name: String, shape: Vec<usize>, rng: &mut Lcg, gain: bool| {
        let n = shape.iter().product();
        let data = if gain { rng.vec(n).into_iter().map(|x| 1.0 + 0.2 * x).collect() } else { rng.vec(n) };
        t.push((name, shape, data));
    };
    add("embeddings.word_embeddings.weight".into(), vec![VOCAB, HIDDEN], &mut rng, false);
    add("embeddings.position_embeddings.weight".into(), vec![MAX_POS, HIDDEN], &mut rng, false);
    add("embeddings.token_type_embeddings.weight".into(), vec![2, HIDDEN], &mut rng, false);
    add("embeddings.LayerNorm.weight".into(), vec![HIDDEN], &mut rng, true);
    add("embeddings.LayerNorm.bias".into(), vec![HIDDEN], &mut rng, false);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        for (name, out, inp) in [
            ("attention.self.query", HIDDEN, HIDDEN),
            ("attention.self.key", HIDDEN, HIDDEN),
            ("attention.self.value", HIDDEN, HIDDEN),
            ("attention.output.dense", HIDDEN, HIDDEN),
            ("intermediate.dense", INTER, HIDDEN),
            ("output.dense", HIDDEN, INTER),
        ] {
            add(format!("{p}{name}.weight"), vec![out, inp], &mut rng, false);
            add(format!("{p}{name}.bias"), vec![out], &mut rng, false);
        }
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}{ln}.weight"), vec![HIDDEN], &mut rng, true);
            add(format!("{p}{ln}.bias"), vec![HIDDEN], &mut rng, false);
        }
    }
    t
}

/// Writes config.json (activation `act`), a placeholder tokenizer.json, modules.json and `1_Pooling` (mode
/// `pooling`) into `dir`: a sentence-transformers folder once the caller adds `model.safetensors`.
pub fn write_config_files(dir: &Path, act: &str, pooling: &str) {
    let config = format!(
        r#"{{"model_type":"bert","vocab_size":{VOCAB},"hidden_size":{HIDDEN},"num_hidden_layers":{LAYERS},
        "num_attention_heads":{HEADS},"intermediate_size":{INTER},"max_position_embeddings":{MAX_POS},
        "hidden_act":"{act}","hidden_dropout_prob":0.1,"attention_probs_dropout_prob":0.1,"type_vocab_size":2,
        "initializer_range":0.02,"layer_norm_eps":1e-12,"pad_token_id":0}}"#
    );
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(
        dir.join("modules.json"),
        r#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(dir.join("1_Pooling/config.json"), format!(r#"{{"pooling_mode":"{pooling}"}}"#)).unwrap();
}
