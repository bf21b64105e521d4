//! A sentence-transformers model folder: which files exist, what they say, and a stable hash of them.
//!
//! The layout is the one `SentenceTransformer.save()` writes and Hugging Face model repos ship:
//! `config.json` (the architecture and its hyper-parameters), `tokenizer.json`, `modules.json` (the pipeline:
//! Transformer, Pooling, optional Dense and Normalize modules), `sentence_bert_config.json` (`max_seq_length`),
//! `<pooling dir>/config.json`,
//! `model.safetensors`, and optionally `onnx/model*.onnx`. Parsing follows sentence-transformers' own rules so
//! that a folder produces the same embedding function here as in Python; anything we cannot reproduce exactly
//! (an unknown module, another architecture) is refused rather than silently approximated.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::dense::{read_dense_step, PostStep, DENSE_WEIGHTS_FILE};
use crate::error::EncoderError;
use crate::pooling::Pooling;

/// Buckets MPNet sorts relative positions into (transformers passes 32 whatever `config.json` says).
pub const MPNET_BUCKETS: usize = 32;

/// Environment variable naming the default model folder.
pub const MODEL_DIR_ENV: &str = "ARXIV_ATLAS_MODEL_DIR";

/// The folder used when [`MODEL_DIR_ENV`] is unset, relative to the working directory (the repository root).
pub const FALLBACK_MODEL_DIR: &str = "../shared/models/all-MiniLM-L6-v2";

/// The Hugging Face id of the default model: `--model-dir` takes it to fetch the model into the Hugging Face cache
/// (feature `hf-hub`) where [`FALLBACK_MODEL_DIR`] is not there.
pub const DEFAULT_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Where the ONNX graphs live inside a model folder (the Hugging Face convention).
const ONNX_DIR: &str = "onnx";

/// The model folder to use when the user names none: `$ARXIV_ATLAS_MODEL_DIR` if set (even if it does not exist,
/// so that opening it reports the typo), else [`FALLBACK_MODEL_DIR`] if that folder exists.
pub fn default_model_dir() -> Option<PathBuf> {
    default_model_dir_in(std::env::var_os(MODEL_DIR_ENV).map(PathBuf::from), Path::new(""))
}

/// [`default_model_dir`] for a given value of [`MODEL_DIR_ENV`] (empty counts as unset), with relative paths
/// taken from the folder `cwd` (`""` = this process's working directory).
pub fn default_model_dir_in(env_value: Option<PathBuf>, cwd: &Path) -> Option<PathBuf> {
    match env_value {
        Some(v) if !v.as_os_str().is_empty() => Some(cwd.join(v)),
        _ => Some(cwd.join(FALLBACK_MODEL_DIR)).filter(|p| p.is_dir()),
    }
}

/// The transformer architecture of a model folder, from `model_type` in its `config.json`.
///
/// All three are post-LayerNorm encoders; they differ in their weight names, in how positions enter
/// ([`Architecture::Bert`]: learned absolute positions plus token types; [`Architecture::MPNet`]: learned
/// positions offset past the padding id plus a relative-position bias shared by all layers;
/// [`Architecture::DistilBert`]: learned or sinusoidal absolute positions, no token types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    /// BERT (`model_type` `bert`, or absent as in old sentence-transformers exports): MiniLM, SciBERT, BGE ...
    #[default]
    Bert,
    /// MPNet (`mpnet`): all-mpnet-base-v2 and its fine-tunes.
    MPNet,
    /// DistilBERT (`distilbert`).
    DistilBert,
}

impl Architecture {
    /// Every supported architecture, in the order error messages list them.
    pub const ALL: [Architecture; 3] = [Architecture::Bert, Architecture::MPNet, Architecture::DistilBert];

    /// The `model_type` of `config.json` that names it.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Bert => "bert",
            Architecture::MPNet => "mpnet",
            Architecture::DistilBert => "distilbert",
        }
    }

    /// The architecture `model_type` names; `None` (no `model_type`) is BERT, which is what sentence-transformers
    /// exports without the field contain. Anything else is refused with the list of supported types.
    pub fn from_model_type(model_type: Option<&str>) -> Result<Self, String> {
        let Some(name) = model_type else { return Ok(Architecture::Bert) };
        Self::ALL.into_iter().find(|a| a.model_type() == name).ok_or_else(|| {
            let supported: Vec<&str> = Self::ALL.iter().map(|a| a.model_type()).collect();
            format!("config.json: model_type `{name}` is not supported (supported: {})", supported.join(", "))
        })
    }

    /// Whether the model has a token-type (segment) embedding, i.e. reads `token_type_ids`.
    pub fn has_token_types(self) -> bool {
        self == Architecture::Bert
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// The transformer hyper-parameters this crate needs from `config.json`, under BERT's names whatever the
/// architecture (a DistilBERT `config.json`'s `dim`, `n_layers`, `n_heads`, `hidden_dim` and `activation` are
/// read into `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size` and `hidden_act`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Which transformer this is (from `model_type`).
    #[serde(skip)]
    pub architecture: Architecture,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states (the embedding dimension before pooling).
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of token types (segments); 0 for architectures without them.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Activation of the feed-forward layer (`gelu` is the exact erf form).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Epsilon of the layer norms.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` is supported (BERT).
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// Rows of MPNet's relative-position bias table (its buckets).
    #[serde(default = "default_relative_buckets")]
    pub relative_attention_num_buckets: usize,
    /// DistilBERT: the position table is the fixed sinusoidal one rather than learned.
    #[serde(default)]
    pub sinusoidal_pos_embds: bool,
}

fn default_relative_buckets() -> usize {
    32
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_hidden_act() -> String {
    "gelu".to_owned()
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads `config.json` (already parsed, of the folder `dir`): detects the [`Architecture`] from
    /// `model_type` and reads the hyper-parameters under BERT's names.
    pub fn from_json(dir: &Path, json: &serde_json::Value) -> Result<Self, EncoderError> {
        let path = dir.join("config.json");
        let model_type = json.get("model_type").and_then(|v| v.as_str());
        let architecture = Architecture::from_model_type(model_type)
            .map_err(|message| EncoderError::Unsupported { dir: dir.to_path_buf(), message })?;
        let mut json = json.clone();
        if let Some(obj) = json.as_object_mut() {
            match architecture {
                Architecture::Bert => {}
                // MPNet has no token types; its checkpoints carry no token-type table.
                Architecture::MPNet => {
                    obj.insert("type_vocab_size".into(), 0.into());
                }
                Architecture::DistilBert => {
                    // transformers' DistilBERT names; its layer norms use a fixed epsilon of 1e-12.
                    for (theirs, ours) in [
                        ("dim", "hidden_size"),
                        ("n_layers", "num_hidden_layers"),
                        ("n_heads", "num_attention_heads"),
                        ("hidden_dim", "intermediate_size"),
                        ("activation", "hidden_act"),
                    ] {
                        if let Some(v) = obj.get(theirs).cloned() {
                            obj.entry(ours).or_insert(v);
                        }
                    }
                    obj.insert("type_vocab_size".into(), 0.into());
                    obj.insert("layer_norm_eps".into(), 1e-12.into());
                }
            }
        }
        let mut config: BertConfig =
            serde_json::from_value(json).map_err(|source| EncoderError::Json { path, source })?;
        config.architecture = architecture;
        Ok(config)
    }

    /// Floating-point operations of one forward pass over a sequence of `len` tokens, counting matrix products
    /// only (2 FLOPs per multiply-add): per layer and token the Q, K, V and output projections (4·h²), the
    /// feed-forward pair (2·h·i), and attention scores plus their weighted sum (2·len·h).
    /// Embedding lookups, layer norms, softmax and GELU are a few percent and are left out.
    pub fn forward_flops(&self, len: usize) -> f64 {
        let (h, i, l, n) = (
            self.hidden_size as f64,
            self.intermediate_size as f64,
            self.num_hidden_layers as f64,
            len as f64,
        );
        2.0 * l * n * (4.0 * h * h + 2.0 * h * i + 2.0 * n * h)
    }
}

/// One entry of `modules.json`.
#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    idx: Option<usize>,
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `sentence_bert_config.json`.
#[derive(Debug, Default, Deserialize)]
struct SentenceBertConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// `1_Pooling/config.json` (older files use the boolean flags, newer ones may carry `pooling_mode`).
#[derive(Debug, Default, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// `tokenizer_config.json`, read only for `model_max_length` when no `sentence_bert_config.json` exists.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    model_max_length: Option<f64>,
}

/// A parsed sentence-transformers model folder.
#[derive(Debug)]
pub struct ModelFolder {
    dir: PathBuf,
    config: BertConfig,
    config_json: serde_json::Value,
    max_seq_length: usize,
    do_lower_case: bool,
    pooling: Pooling,
    /// What follows pooling (Dense layers, normalisation), in order.
    post: Vec<PostStep>,
    /// Files that define the embedding function, relative to `dir`, hashed by [`ModelFolder::model_hash`].
    hashed_files: Vec<String>,
    hash: OnceLock<String>,
}

impl ModelFolder {
    /// Parses the folder's configuration files. Weights are not read here (see the backends), so this is cheap.
    pub fn open(dir: &Path) -> Result<Self, EncoderError> {
        if !dir.is_dir() {
            return Err(EncoderError::MissingFile {
                path: dir.to_path_buf(),
                why: "the model folder does not exist or is not a directory",
            });
        }
        let config_path = require(dir, "config.json", "the transformer's hyper-parameters")?;
        let config_json: serde_json::Value = read_json(&config_path)?;
        let config = BertConfig::from_json(dir, &config_json)?;
        check_architecture(dir, &config)?;
        require(dir, "tokenizer.json", "the tokenizer (a Hugging Face fast-tokenizer file)")?;

        let mut hashed_files = vec!["config.json".to_owned(), "tokenizer.json".to_owned()];
        let modules = read_modules(dir)?;
        // sentence-transformers keeps the Transformer module's settings next to its weights (path "" for the
        // usual layout); without modules.json the folder is a plain Hugging Face model.
        let transformer_dir = match &modules {
            Some(m) => m.transformer_path.clone(),
            None => String::new(),
        };
        let sbert_rel = join_rel(&transformer_dir, "sentence_bert_config.json");
        let sbert_path = dir.join(&sbert_rel);
        let sbert: SentenceBertConfig = if sbert_path.is_file() {
            hashed_files.push(sbert_rel);
            read_json(&sbert_path)?
        } else {
            SentenceBertConfig::default()
        };
        let max_seq_length = resolve_max_seq_length(dir, &config, &sbert, &sbert_path)?;

        let (pooling, post) = match &modules {
            Some(m) => {
                hashed_files.push("modules.json".to_owned());
                let pooling_rel = join_rel(&m.pooling_path, "config.json");
                let pooling_path =
                    require(dir, &pooling_rel, "the Pooling module's settings named by modules.json")?;
                hashed_files.push(pooling_rel);
                let pooling_config: PoolingConfig = read_json(&pooling_path)?;
                let pooling = parse_pooling(&pooling_path, &pooling_config, config.hidden_size)?;
                let mut post = Vec::with_capacity(m.post.len());
                let mut width = config.hidden_size;
                for step in &m.post {
                    match step {
                        PostModule::Normalize => post.push(PostStep::Normalize),
                        PostModule::Dense(rel) => {
                            let step = read_dense_step(dir, rel, width)?;
                            if let PostStep::Dense { out_features, .. } = &step {
                                width = *out_features;
                            }
                            hashed_files.push(join_rel(rel, "config.json"));
                            hashed_files.push(join_rel(rel, DENSE_WEIGHTS_FILE));
                            post.push(step);
                        }
                    }
                }
                (pooling, post)
            }
            // What SentenceTransformer does for a folder without modules.json: mean pooling, no normalisation.
            None => (Pooling::Mean, Vec::new()),
        };
        if dir.join("model.safetensors").is_file() {
            hashed_files.push("model.safetensors".to_owned());
        }
        hashed_files.sort();
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            config_json,
            max_seq_length,
            do_lower_case: sbert.do_lower_case,
            pooling,
            post,
            hashed_files,
            hash: OnceLock::new(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The transformer hyper-parameters (architecture included).
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// `config.json` as parsed JSON (backends that build their own config from it use this).
    pub fn config_json(&self) -> &serde_json::Value {
        &self.config_json
    }

    /// Longest input in tokens, `[CLS]` and `[SEP]` included; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Whether texts are lower-cased before tokenizing (`do_lower_case` of `sentence_bert_config.json`).
    pub fn do_lower_case(&self) -> bool {
        self.do_lower_case
    }

    /// How token states become one vector.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether embeddings are L2-normalised (the last module of `modules.json` is `Normalize`).
    pub fn normalize(&self) -> bool {
        self.post.last() == Some(&PostStep::Normalize)
    }

    /// The modules after pooling (`Dense`, `Normalize`), in order.
    pub fn post_steps(&self) -> &[PostStep] {
        &self.post
    }

    /// Embedding dimension: the output width of the last Dense module, else the transformer's hidden size.
    pub fn dim(&self) -> usize {
        self.post
            .iter()
            .rev()
            .find_map(|s| match s {
                PostStep::Dense { out_features, .. } => Some(*out_features),
                PostStep::Normalize => None,
            })
            .unwrap_or(self.config.hidden_size)
    }

    /// `tokenizer.json`.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }

    /// `model.safetensors`, or an error naming it when the folder has none.
    pub fn safetensors_path(&self) -> Result<PathBuf, EncoderError> {
        require(&self.dir, "model.safetensors", "the fp32 weights the candle backend loads")
    }

    /// The ONNX graph inside `onnx/` with the given file name, or an error naming it.
    pub fn onnx_path(&self, file_name: &str) -> Result<PathBuf, EncoderError> {
        require(&self.dir, &join_rel(ONNX_DIR, file_name), "the ONNX graph the ONNX Runtime backend loads")
    }

    /// A stable identifier of the embedding function this folder defines: SHA-256 over the SHA-256 of each of
    /// `config.json`, `tokenizer.json`, `modules.json`, `sentence_bert_config.json`, the pooling config and
    /// `model.safetensors` (those present). Caches and vector indexes key on it, so re-downloading the same
    /// model keeps them valid while any change to weights, vocabulary or pooling invalidates them.
    ///
    /// Hashing reads the weights once (about 0.2 s for 90 MB); the result is memoised.
    pub fn model_hash(&self) -> Result<&str, EncoderError> {
        if let Some(h) = self.hash.get() {
            return Ok(h);
        }
        let h = hash_files(&self.dir, &self.hashed_files, &[])?;
        Ok(self.hash.get_or_init(|| h))
    }

    /// The files covered by [`ModelFolder::model_hash`], relative to the folder.
    pub fn hashed_files(&self) -> &[String] {
        &self.hashed_files
    }
}

/// SHA-256 over a manifest of `name sha256` lines for `files` (relative to `dir`) and `extra` (`name`, value)
/// pairs. The `v1` header lets a future change of scheme never collide with today's hashes.
pub(crate) fn hash_files(
    dir: &Path,
    files: &[String],
    extra: &[(&str, &str)],
) -> Result<String, EncoderError> {
    let mut manifest = String::from("atlas-encoder model hash v1\n");
    for rel in files {
        let (sha, _size) = atlas_artifact::sha256_file(&dir.join(rel))?;
        manifest.push_str(&format!("{rel} {sha}\n"));
    }
    for (k, v) in extra {
        manifest.push_str(&format!("{k} {v}\n"));
    }
    Ok(atlas_artifact::sha256_bytes(manifest.as_bytes()))
}

/// A module after pooling, as `modules.json` names it.
enum PostModule {
    /// A Dense module in this folder (its path).
    Dense(String),
    Normalize,
}

/// What `modules.json` says.
struct Modules {
    transformer_path: String,
    pooling_path: String,
    post: Vec<PostModule>,
}

fn read_modules(dir: &Path) -> Result<Option<Modules>, EncoderError> {
    let path = dir.join("modules.json");
    if !path.is_file() {
        return Ok(None);
    }
    let mut entries: Vec<ModuleEntry> = read_json(&path)?;
    entries.sort_by_key(|e| e.idx.unwrap_or(usize::MAX));
    let unsupported = |message: String| EncoderError::Unsupported { dir: dir.to_path_buf(), message };
    let mut transformer_path = None;
    let mut pooling_path = None;
    let mut post = Vec::new();
    for (pos, e) in entries.iter().enumerate() {
        // Module types are Python class paths; match on the class name so that forks that re-export the
        // standard modules under another package still load.
        let class = e.kind.rsplit('.').next().unwrap_or(&e.kind);
        match class {
            "Transformer" if pos == 0 => transformer_path = Some(e.path.clone()),
            "Pooling" if transformer_path.is_some() && pooling_path.is_none() => {
                pooling_path = Some(e.path.clone())
            }
            "Normalize" if pooling_path.is_some() => post.push(PostModule::Normalize),
            "Dense" if pooling_path.is_some() => post.push(PostModule::Dense(e.path.clone())),
            _ => {
                return Err(unsupported(format!(
                    "modules.json: module #{pos} `{}` is not supported here (this crate runs \
                     Transformer -> Pooling [-> Dense | Normalize ...] pipelines)",
                    e.kind
                )))
            }
        }
    }
    let transformer_path = transformer_path
        .ok_or_else(|| unsupported("modules.json: the first module must be a Transformer".to_owned()))?;
    let pooling_path = pooling_path.ok_or_else(|| {
        unsupported(
            "modules.json: no Pooling module, so the model yields token vectors, not one per text".into(),
        )
    })?;
    Ok(Some(Modules { transformer_path, pooling_path, post }))
}

fn check_architecture(dir: &Path, config: &BertConfig) -> Result<(), EncoderError> {
    let unsupported = |message: String| EncoderError::Unsupported { dir: dir.to_path_buf(), message };
    if let Some(p) = config.position_embedding_type.as_deref() {
        if p != "absolute" {
            return Err(unsupported(format!("config.json: position_embedding_type `{p}` (only `absolute`)")));
        }
    }
    if config.architecture == Architecture::MPNet && config.relative_attention_num_buckets < MPNET_BUCKETS {
        // transformers buckets relative positions into 32 buckets whatever the config says.
        return Err(unsupported(format!(
            "config.json: relative_attention_num_buckets {} (MPNet needs at least {MPNET_BUCKETS})",
            config.relative_attention_num_buckets
        )));
    }
    if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
        return Err(EncoderError::InvalidConfig {
            path: dir.join("config.json"),
            message: format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        });
    }
    Ok(())
}

/// sentence-transformers' rule: `max_seq_length` from sentence_bert_config.json, else the tokenizer's
/// `model_max_length` capped by the position embeddings. Never more than the position embeddings cover.
fn resolve_max_seq_length(
    dir: &Path,
    config: &BertConfig,
    sbert: &SentenceBertConfig,
    sbert_path: &Path,
) -> Result<usize, EncoderError> {
    // MPNet's positions start after its padding index (1), so two rows of its table are never a real token's.
    let reserved = if config.architecture == Architecture::MPNet { 2 } else { 0 };
    let limit = config.max_position_embeddings.saturating_sub(reserved);
    match sbert.max_seq_length {
        Some(0) => Err(EncoderError::InvalidConfig {
            path: sbert_path.to_path_buf(),
            message: "max_seq_length is 0".to_owned(),
        }),
        Some(n) if n > limit => Err(EncoderError::InvalidConfig {
            path: sbert_path.to_path_buf(),
            message: format!("max_seq_length {n} exceeds max_position_embeddings {limit} of config.json"),
        }),
        Some(n) => Ok(n),
        None => {
            let tc_path = dir.join("tokenizer_config.json");
            let tc: TokenizerConfig =
                if tc_path.is_file() { read_json(&tc_path)? } else { Default::default() };
            // Tokenizers without a limit store a huge sentinel (1e30); treat anything absurd as "none".
            let from_tokenizer = tc.model_max_length.filter(|m| (1.0..1e9).contains(m)).map(|m| m as usize);
            Ok(from_tokenizer.map_or(limit, |m| m.min(limit)))
        }
    }
}

fn parse_pooling(path: &Path, c: &PoolingConfig, hidden: usize) -> Result<Pooling, EncoderError> {
    let invalid = |message: String| EncoderError::InvalidConfig { path: path.to_path_buf(), message };
    if let Some(d) = c.word_embedding_dimension {
        if d != hidden {
            return Err(invalid(format!("word_embedding_dimension {d} differs from hidden_size {hidden}")));
        }
    }
    if let Some(mode) = c.pooling_mode.as_deref() {
        return match mode {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            "mean_sqrt_len_tokens" => Ok(Pooling::MeanSqrtLen),
            other => Err(invalid(format!("pooling_mode `{other}` is not supported (mean, cls, max)"))),
        };
    }
    if c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
        return Err(invalid(
            "weighted-mean and last-token pooling are not supported (mean, cls, max)".into(),
        ));
    }
    let modes = [
        (c.pooling_mode_mean_tokens, Pooling::Mean),
        (c.pooling_mode_cls_token, Pooling::Cls),
        (c.pooling_mode_max_tokens, Pooling::Max),
        (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ];
    let on: Vec<Pooling> = modes.iter().filter(|(flag, _)| *flag).map(|(_, p)| *p).collect();
    match on.as_slice() {
        [one] => Ok(*one),
        [] => Err(invalid("no pooling mode is switched on".to_owned())),
        // sentence-transformers would concatenate the vectors; no model we target does that.
        several => Err(invalid(format!("several pooling modes are on ({several:?}); only one is supported"))),
    }
}

/// `dir/rel`, or an error that names the file and why it is needed.
fn require(dir: &Path, rel: &str, why: &'static str) -> Result<PathBuf, EncoderError> {
    let path = dir.join(rel);
    if path.is_file() {
        Ok(path)
    } else {
        Err(EncoderError::MissingFile { path, why })
    }
}

/// Joins a module path from modules.json ("" for the folder itself) and a file name, with `/` separators so
/// that the result is also a stable name inside the model hash.
fn join_rel(dir: &str, file: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EncoderError> {
    let bytes = fs::read(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| EncoderError::Json { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"model_type":"bert","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,
        "num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":64,"hidden_act":"gelu",
        "hidden_dropout_prob":0.1,"type_vocab_size":2,"initializer_range":0.02,"layer_norm_eps":1e-12,
        "pad_token_id":0}"#;
    const MODULES_NORM: &str = r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
        {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
        {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#;
    const MODULES_PLAIN: &str = r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
        {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#;

    fn pooling_json(cls: bool, mean: bool, max: bool) -> String {
        format!(
            r#"{{"word_embedding_dimension":8,"pooling_mode_cls_token":{cls},"pooling_mode_mean_tokens":{mean},
            "pooling_mode_max_tokens":{max},"pooling_mode_mean_sqrt_len_tokens":false}}"#
        )
    }

    /// Writes a minimal folder; `skip` names files to leave out.
    fn folder(modules: Option<&str>, pooling: &str, sbert: Option<&str>, skip: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mut files: Vec<(&str, String)> = vec![
            ("config.json", CONFIG.to_owned()),
            ("tokenizer.json", "{}".to_owned()),
            ("1_Pooling/config.json", pooling.to_owned()),
            ("model.safetensors", "not really weights".to_owned()),
        ];
        if let Some(m) = modules {
            files.push(("modules.json", m.to_owned()));
        }
        if let Some(s) = sbert {
            files.push(("sentence_bert_config.json", s.to_owned()));
        }
        for (name, text) in files {
            if skip.contains(&name) {
                continue;
            }
            let p = d.path().join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        d
    }

    #[test]
    fn parses_each_pooling_mode() {
        for (cls, mean, max, want) in [
            (false, true, false, Pooling::Mean),
            (true, false, false, Pooling::Cls),
            (false, false, true, Pooling::Max),
        ] {
            let d = folder(Some(MODULES_NORM), &pooling_json(cls, mean, max), None, &[]);
            let f = ModelFolder::open(d.path()).unwrap();
            assert_eq!(f.pooling(), want);
            assert!(f.normalize());
        }
    }

    #[test]
    fn pooling_mode_string_is_understood() {
        let d = folder(Some(MODULES_PLAIN), r#"{"pooling_mode":"cls"}"#, None, &[]);
        assert_eq!(ModelFolder::open(d.path()).unwrap().pooling(), Pooling::Cls);
    }

    #[test]
    fn no_normalize_module_means_no_normalisation() {
        let d = folder(Some(MODULES_PLAIN), &pooling_json(false, true, false), None, &[]);
        let f = ModelFolder::open(d.path()).unwrap();
        assert!(!f.normalize());
        assert_eq!(f.pooling(), Pooling::Mean);
    }

    #[test]
    fn plain_huggingface_folder_gets_mean_pooling_without_normalisation() {
        let d = folder(None, &pooling_json(true, false, false), None, &[]);
        let f = ModelFolder::open(d.path()).unwrap();
        assert_eq!(f.pooling(), Pooling::Mean);
        assert!(!f.normalize());
        // No sentence_bert_config.json and no tokenizer_config.json: the position embeddings are the limit.
        assert_eq!(f.max_seq_length(), 64);
    }

    #[test]
    fn max_seq_length_and_lowercasing_come_from_sentence_bert_config() {
        let sbert = r#"{"max_seq_length": 32, "do_lower_case": true}"#;
        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), Some(sbert), &[]);
        let f = ModelFolder::open(d.path()).unwrap();
        assert_eq!(f.max_seq_length(), 32);
        assert!(f.do_lower_case());
        let too_long = r#"{"max_seq_length": 65}"#;
        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), Some(too_long), &[]);
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("exceeds max_position_embeddings 64"), "{err}");
    }

    #[test]
    fn missing_files_are_named() {
        for (skip, needle) in [
            ("config.json", "config.json: missing"),
            ("tokenizer.json", "tokenizer.json: missing"),
            ("1_Pooling/config.json", "1_Pooling/config.json: missing"),
        ] {
            let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &[skip]);
            let err = ModelFolder::open(d.path()).unwrap_err().to_string();
            assert!(err.contains(needle), "{skip}: {err}");
        }
        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &["model.safetensors"]);
        let f = ModelFolder::open(d.path()).unwrap();
        let err = f.safetensors_path().unwrap_err().to_string();
        assert!(err.contains("model.safetensors: missing"), "{err}");
        let err = f.onnx_path("model.onnx").unwrap_err().to_string();
        assert!(err.contains("onnx/model.onnx: missing"), "{err}");
        let err = ModelFolder::open(&d.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn refuses_what_it_cannot_reproduce() {
        let dense = r#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
            {"idx":2,"path":"2_CNN","type":"sentence_transformers.models.CNN"}]"#;
        let d = folder(Some(dense), &pooling_json(false, true, false), None, &[]);
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("sentence_transformers.models.CNN"), "{err}");

        let d = folder(Some(MODULES_NORM), &pooling_json(true, true, false), None, &[]);
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("several pooling modes"), "{err}");

        let d = folder(Some(MODULES_NORM), &pooling_json(false, false, false), None, &[]);
        assert!(ModelFolder::open(d.path()).unwrap_err().to_string().contains("no pooling mode"));

        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &[]);
        fs::write(d.path().join("config.json"), CONFIG.replace("\"bert\"", "\"roberta\"")).unwrap();
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("model_type `roberta`"), "{err}");

        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &[]);
        fs::write(d.path().join("config.json"), "{not json").unwrap();
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("malformed JSON"), "{err}");
    }

    /// A Dense module after pooling: its output width is the embedding dimension, its files join the model
    /// hash, a following Normalize makes the output unit vectors, and a width mismatch is refused.
    #[test]
    fn dense_modules_are_part_of_the_pipeline() {
        let modules = r#"[{"idx":0,"path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
            {"idx":2,"path":"2_Normalize","type":"sentence_transformers.models.Normalize"},
            {"idx":3,"path":"3_Dense","type":"sentence_transformers.models.Dense"},
            {"idx":4,"path":"4_Normalize","type":"sentence_transformers.models.Normalize"}]"#;
        let d = folder(Some(modules), &pooling_json(false, true, false), None, &[]);
        let layer = crate::DenseLayer::new(8, 4, vec![0.5; 32], None, crate::Activation::Identity).unwrap();
        layer.save(&d.path().join("3_Dense")).unwrap();
        let f = ModelFolder::open(d.path()).unwrap();
        assert_eq!(f.dim(), 4);
        assert!(f.normalize());
        assert_eq!(
            f.post_steps(),
            [
                PostStep::Normalize,
                PostStep::Dense { path: "3_Dense".into(), in_features: 8, out_features: 4 },
                PostStep::Normalize
            ]
        );
        assert!(f.hashed_files().contains(&"3_Dense/model.safetensors".to_owned()));
        let h1 = f.model_hash().unwrap().to_owned();
        let other = crate::DenseLayer::new(8, 4, vec![0.25; 32], None, crate::Activation::Identity).unwrap();
        other.save(&d.path().join("3_Dense")).unwrap();
        assert_ne!(ModelFolder::open(d.path()).unwrap().model_hash().unwrap(), h1);

        // Without the last Normalize the output is not unit length.
        let plain = modules.replace(
            r#",
            {"idx":4,"path":"4_Normalize","type":"sentence_transformers.models.Normalize"}"#,
            "",
        );
        fs::write(d.path().join("modules.json"), &plain).unwrap();
        assert!(!ModelFolder::open(d.path()).unwrap().normalize());

        // in_features must match the pooled width.
        crate::DenseLayer::new(4, 4, vec![0.5; 16], None, crate::Activation::Identity)
            .unwrap()
            .save(&d.path().join("3_Dense"))
            .unwrap();
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(err.contains("in_features 4 does not match the width 8"), "{err}");
    }

    #[test]
    fn model_hash_is_stable_and_tracks_weights_and_pooling() {
        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &[]);
        let h1 = ModelFolder::open(d.path()).unwrap().model_hash().unwrap().to_owned();
        assert_eq!(h1.len(), 64);
        assert_eq!(ModelFolder::open(d.path()).unwrap().model_hash().unwrap(), h1);
        fs::write(d.path().join("model.safetensors"), "other weights").unwrap();
        let h2 = ModelFolder::open(d.path()).unwrap().model_hash().unwrap().to_owned();
        assert_ne!(h1, h2);
        fs::write(d.path().join("1_Pooling/config.json"), pooling_json(false, false, true)).unwrap();
        let h3 = ModelFolder::open(d.path()).unwrap().model_hash().unwrap().to_owned();
        assert_ne!(h2, h3);
    }

    #[test]
    fn architecture_comes_from_model_type() {
        let d = folder(Some(MODULES_NORM), &pooling_json(false, true, false), None, &[]);
        let mpnet = CONFIG.replace("\"bert\"", "\"mpnet\"").replace("64", "66");
        fs::write(d.path().join("config.json"), mpnet).unwrap();
        let f = ModelFolder::open(d.path()).unwrap();
        assert_eq!(f.config().architecture, Architecture::MPNet);
        assert_eq!(f.config().type_vocab_size, 0);
        // Positions 0 and 1 are never a real token's in MPNet.
        assert_eq!(f.max_seq_length(), 64);

        let distil = r#"{"model_type":"distilbert","vocab_size":10,"dim":8,"n_layers":3,"n_heads":2,
            "hidden_dim":16,"max_position_embeddings":64,"activation":"relu","sinusoidal_pos_embds":true}"#;
        fs::write(d.path().join("config.json"), distil).unwrap();
        let c = ModelFolder::open(d.path()).unwrap().config().clone();
        assert_eq!(c.architecture, Architecture::DistilBert);
        assert_eq!(
            (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size),
            (8, 3, 2, 16)
        );
        assert_eq!((c.hidden_act.as_str(), c.layer_norm_eps, c.type_vocab_size), ("relu", 1e-12, 0));
        assert!(c.sinusoidal_pos_embds);

        let no_type = CONFIG.replace("\"model_type\":\"bert\",", "");
        fs::write(d.path().join("config.json"), no_type).unwrap();
        assert_eq!(ModelFolder::open(d.path()).unwrap().config().architecture, Architecture::Bert);

        fs::write(d.path().join("config.json"), CONFIG.replace("\"bert\"", "\"xlm-roberta\"")).unwrap();
        let err = ModelFolder::open(d.path()).unwrap_err().to_string();
        assert!(
            err.contains("model_type `xlm-roberta` is not supported (supported: bert, mpnet, distilbert)"),
            "{err}"
        );
    }

    #[test]
    fn flops_formula_matches_hand_count() {
        let c: BertConfig = serde_json::from_str(CONFIG).unwrap();
        // h=8, i=16, 1 layer, 4 tokens: 2*4*(4*64 + 2*8*16 + 2*4*8) = 8*(256+256+64) = 4608
        assert_eq!(c.forward_flops(4), 4608.0);
    }
}
