//! sentence-transformers `Dense` modules: a linear layer (plus an activation) applied to the pooled sentence
//! embedding, and the steps that may follow pooling in `modules.json` (`Dense`, `Normalize`).
//!
//! The on-disk format is the one `sentence_transformers.models.Dense.save` writes:
//!
//! ```text
//! <path>/config.json        {"in_features": 384, "out_features": 384, "bias": true,
//!                            "activation_function": "torch.nn.modules.linear.Identity"}
//! <path>/model.safetensors  linear.weight f32 [out, in], linear.bias f32 [out] (when bias)
//! ```
//!
//! A fine-tuned adapter (see `atlas-finetune`) is saved this way by [`save_with_dense`], so the folder stays
//! loadable by Python sentence-transformers and by every engine here: the backends still run only the
//! transformer and pooling; the [`Encoder`](crate::Encoder) applies the steps after pooling on the pooled rows.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EncoderError;
use crate::folder::ModelFolder;
use crate::pooling::l2_normalize;

/// Module type written into `modules.json` for a dense layer.
pub const DENSE_MODULE_TYPE: &str = "sentence_transformers.models.Dense";
/// Module type written into `modules.json` for normalisation.
pub const NORMALIZE_MODULE_TYPE: &str = "sentence_transformers.models.Normalize";
/// Name of the weight tensor inside a Dense module's `model.safetensors`.
pub const WEIGHT_TENSOR: &str = "linear.weight";
/// Name of the bias tensor inside a Dense module's `model.safetensors`.
pub const BIAS_TENSOR: &str = "linear.bias";
/// Weight file of a Dense module.
pub const DENSE_WEIGHTS_FILE: &str = "model.safetensors";

/// The activation after a Dense layer's linear map. Only element-wise activations that PyTorch names by a
/// class path are understood; anything else is refused rather than approximated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `torch.nn.modules.linear.Identity`: no activation (what an adapter uses).
    Identity,
    /// `torch.nn.modules.activation.Tanh`: sentence-transformers' default for `Dense`.
    Tanh,
    /// `torch.nn.modules.activation.ReLU`: what the first layer of a two-layer (MLP) adapter uses.
    Relu,
}

impl Activation {
    /// The PyTorch class path sentence-transformers writes for this activation.
    pub fn class_path(self) -> &'static str {
        match self {
            Activation::Identity => "torch.nn.modules.linear.Identity",
            Activation::Tanh => "torch.nn.modules.activation.Tanh",
            Activation::Relu => "torch.nn.modules.activation.ReLU",
        }
    }

    /// Parses a class path; matched on the class name, as modules.json types are.
    fn parse(path: &str) -> Option<Self> {
        match path.rsplit('.').next().unwrap_or(path) {
            "Identity" => Some(Activation::Identity),
            "Tanh" => Some(Activation::Tanh),
            "ReLU" => Some(Activation::Relu),
            _ => None,
        }
    }
}

/// `config.json` of a Dense module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "default_true")]
    bias: bool,
    activation_function: String,
}

fn default_true() -> bool {
    true
}

/// A loaded Dense layer: `y = activation(W x + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
    /// Row-major `[out_features, in_features]` (PyTorch's `nn.Linear` layout).
    pub weight: Vec<f32>,
    /// `[out_features]`, when the layer has a bias.
    pub bias: Option<Vec<f32>>,
    /// Applied after the linear map.
    pub activation: Activation,
}

impl DenseLayer {
    /// A layer from its parts; the shapes are checked.
    pub fn new(
        in_features: usize,
        out_features: usize,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        activation: Activation,
    ) -> Result<Self, EncoderError> {
        let ok_bias = bias.as_ref().is_none_or(|b| b.len() == out_features);
        if in_features == 0 || out_features == 0 || weight.len() != in_features * out_features || !ok_bias {
            return Err(EncoderError::InvalidOption(format!(
                "dense layer {in_features} -> {out_features}: weight holds {} floats, bias {:?}",
                weight.len(),
                bias.as_ref().map(Vec::len)
            )));
        }
        Ok(Self { in_features, out_features, weight, bias, activation })
    }

    /// Reads the module stored in `dir` (its `config.json` and `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let config_path = dir.join("config.json");
        let config: DenseConfig = read_config(&config_path)?;
        let activation = activation_of(&config_path, &config)?;
        let weights_path = dir.join(DENSE_WEIGHTS_FILE);
        if !weights_path.is_file() {
            let why = if dir.join("pytorch_model.bin").is_file() {
                "the Dense weights; this folder has only the older pickled `pytorch_model.bin`, which cannot be \
                 read without Python: re-save the model with a current sentence-transformers"
            } else {
                "the Dense module's weights"
            };
            return Err(EncoderError::MissingFile { path: weights_path, why });
        }
        let bytes = fs::read(&weights_path)
            .map_err(|source| EncoderError::Io { path: weights_path.clone(), source })?;
        let invalid = |message: String| EncoderError::InvalidConfig { path: weights_path.clone(), message };
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| invalid(e.to_string()))?;
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EncoderError> {
            let t = st.tensor(name).map_err(|e| invalid(format!("{name}: {e}")))?;
            if t.dtype() != safetensors::Dtype::F32 || t.shape() != shape {
                return Err(invalid(format!(
                    "{name} is {:?} {:?}, expected F32 {shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let weight = read(WEIGHT_TENSOR, &[config.out_features, config.in_features])?;
        let bias = if config.bias { Some(read(BIAS_TENSOR, &[config.out_features])?) } else { None };
        Self::new(config.in_features, config.out_features, weight, bias, activation)
    }

    /// Writes the module into `dir` (created if needed) in sentence-transformers' format.
    pub fn save(&self, dir: &Path) -> Result<(), EncoderError> {
        fs::create_dir_all(dir).map_err(|source| EncoderError::Io { path: dir.to_path_buf(), source })?;
        let config = DenseConfig {
            in_features: self.in_features,
            out_features: self.out_features,
            bias: self.bias.is_some(),
            activation_function: self.activation.class_path().to_owned(),
        };
        write_json(&dir.join("config.json"), &config)?;
        let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let weight = le(&self.weight);
        let bias = self.bias.as_deref().map(le);
        let path = dir.join(DENSE_WEIGHTS_FILE);
        let invalid = |e: safetensors::SafeTensorError| EncoderError::InvalidConfig {
            path: path.clone(),
            message: format!("writing the Dense weights: {e}"),
        };
        let mut views = vec![(
            WEIGHT_TENSOR,
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![self.out_features, self.in_features],
                &weight,
            )
            .map_err(invalid)?,
        )];
        if let Some(b) = &bias {
            views.push((
                BIAS_TENSOR,
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![self.out_features], b)
                    .map_err(invalid)?,
            ));
        }
        let bytes = safetensors::serialize(views, None).map_err(invalid)?;
        fs::write(&path, bytes).map_err(|source| EncoderError::Io { path: path.clone(), source })
    }

    /// Applies the layer to row-major `[rows, in_features]`, returning `[rows, out_features]`.
    pub fn apply(&self, rows: &[f32]) -> Vec<f32> {
        let (i, o) = (self.in_features, self.out_features);
        let mut out = vec![0.0f32; rows.len() / i * o];
        for (x, y) in rows.chunks_exact(i).zip(out.chunks_exact_mut(o)) {
            for (k, (yk, w)) in y.iter_mut().zip(self.weight.chunks_exact(i)).enumerate() {
                let dot: f32 = w.iter().zip(x).map(|(a, b)| a * b).sum();
                let z = dot + self.bias.as_ref().map_or(0.0, |b| b[k]);
                *yk = match self.activation {
                    Activation::Identity => z,
                    Activation::Tanh => z.tanh(),
                    Activation::Relu => z.max(0.0),
                };
            }
        }
        out
    }
}

/// A step of the pipeline after pooling, as `modules.json` lists it.
#[derive(Debug, Clone, PartialEq)]
pub enum PostStep {
    /// A Dense module stored in this folder (relative to the model folder).
    Dense {
        /// The module's folder, relative to the model folder.
        path: String,
        /// Its input width.
        in_features: usize,
        /// Its output width.
        out_features: usize,
    },
    /// L2 normalisation.
    Normalize,
}

/// A [`PostStep`] with its weights loaded: what the encoder runs after pooling.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadedStep {
    /// A dense layer.
    Dense(DenseLayer),
    /// L2 normalisation of each row.
    Normalize,
}

/// Runs `steps` over row-major pooled rows `[rows, in_dim]`; returns the final rows.
pub fn apply_steps(steps: &[LoadedStep], mut rows: Vec<f32>, mut dim: usize) -> Vec<f32> {
    for step in steps {
        match step {
            LoadedStep::Dense(layer) => {
                rows = layer.apply(&rows);
                dim = layer.out_features;
            }
            LoadedStep::Normalize => rows.chunks_exact_mut(dim).for_each(l2_normalize),
        }
    }
    rows
}

/// Reads the Dense module settings a `modules.json` entry names and checks them (the weights are read by
/// [`DenseLayer::load`] when the encoder loads).
pub(crate) fn read_dense_step(dir: &Path, rel: &str, expect_in: usize) -> Result<PostStep, EncoderError> {
    let config_path = dir.join(rel).join("config.json");
    if !config_path.is_file() {
        return Err(EncoderError::MissingFile {
            path: config_path,
            why: "the Dense module's settings named by modules.json",
        });
    }
    let config: DenseConfig = read_config(&config_path)?;
    activation_of(&config_path, &config)?;
    if config.in_features != expect_in {
        return Err(EncoderError::InvalidConfig {
            path: config_path,
            message: format!(
                "in_features {} does not match the width {expect_in} of the vectors it receives",
                config.in_features
            ),
        });
    }
    Ok(PostStep::Dense {
        path: rel.to_owned(),
        in_features: config.in_features,
        out_features: config.out_features,
    })
}

/// Loads the weights of the steps of `folder`.
pub fn load_steps(folder: &ModelFolder) -> Result<Vec<LoadedStep>, EncoderError> {
    folder
        .post_steps()
        .iter()
        .map(|s| match s {
            PostStep::Dense { path, .. } => DenseLayer::load(&folder.dir().join(path)).map(LoadedStep::Dense),
            PostStep::Normalize => Ok(LoadedStep::Normalize),
        })
        .collect()
}

/// Top-level files of the base folder that are rewritten (`modules.json`) or describe that exact model and
/// would be wrong for a derived one (the reference embeddings of the parity tests).
const NOT_INHERITED: &[&str] = &["modules.json", "reference-embeddings.json"];

/// Writes a new model folder at `out`: the files of `base` (hard-linked where the file system allows, else
/// copied), with `layer` appended to its pipeline as a Dense module followed by `Normalize`. The derived model
/// computes `normalize(layer(base(text)))`: the base pipeline is kept whole, so a layer trained on the base
/// model's (normalised) embeddings sees exactly those. `out` must not exist yet.
///
/// Returns the folder, opened.
pub fn save_with_dense(
    base: &ModelFolder,
    layer: &DenseLayer,
    out: &Path,
) -> Result<ModelFolder, EncoderError> {
    save_with_dense_stack(base, std::slice::from_ref(layer), out)
}

/// Like [`save_with_dense`] with several Dense modules in order (`k_Dense`, `k+1_Dense`, …, then
/// `Normalize`): how a two-layer adapter is saved. Each layer's input width must be the previous one's output.
pub fn save_with_dense_stack(
    base: &ModelFolder,
    layers: &[DenseLayer],
    out: &Path,
) -> Result<ModelFolder, EncoderError> {
    let mut width = base.dim();
    for layer in layers {
        if layer.in_features != width {
            return Err(EncoderError::InvalidOption(format!(
                "a dense layer takes {} inputs but receives {width}-wide vectors from {}",
                layer.in_features,
                base.dir().display(),
            )));
        }
        width = layer.out_features;
    }
    if layers.is_empty() {
        return Err(EncoderError::InvalidOption("no dense layer to add".into()));
    }
    if out.exists() {
        return Err(EncoderError::InvalidOption(format!(
            "{} exists already; a model folder is written once",
            out.display()
        )));
    }
    link_tree(base.dir(), out, NOT_INHERITED)?;
    let mut modules = base_modules(base)?;
    for layer in layers {
        let idx = modules.len();
        let dense_path = format!("{idx}_Dense");
        layer.save(&out.join(&dense_path))?;
        modules.push(module_entry(idx, &dense_path, DENSE_MODULE_TYPE));
    }
    let idx = modules.len();
    let norm_path = format!("{idx}_Normalize");
    // sentence-transformers saves nothing for Normalize but an empty folder; write one so the layout is
    // the same as a folder saved from Python.
    let norm_dir = out.join(&norm_path);
    fs::create_dir_all(&norm_dir).map_err(|source| EncoderError::Io { path: norm_dir, source })?;
    modules.push(module_entry(idx, &norm_path, NORMALIZE_MODULE_TYPE));
    write_json(&out.join("modules.json"), &serde_json::Value::Array(modules))?;
    ModelFolder::open(out)
}

/// Writes a new model folder at `out`: the files of `base` (hard-linked where possible) with its transformer
/// weights replaced by the safetensors file `weights` (moved into place as `model.safetensors`), e.g. a model
/// whose top layers were fine-tuned. The base's `onnx/` graphs are left out: they hold the old weights, and
/// the fp32 graph is written from the new `model.safetensors` when ONNX Runtime runs the folder. `out` must
/// not exist yet; it is built beside itself under a temporary name and renamed into place when whole.
///
/// Returns the folder, opened.
pub fn save_with_weights(
    base: &ModelFolder,
    weights: &Path,
    out: &Path,
) -> Result<ModelFolder, EncoderError> {
    if out.exists() {
        return Err(EncoderError::InvalidOption(format!(
            "{} exists already; a model folder is written once",
            out.display()
        )));
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let tmp = out.with_file_name(format!(".{name}.partial"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|source| EncoderError::Io { path: tmp.clone(), source })?;
    }
    link_tree(base.dir(), &tmp, &["model.safetensors", "onnx", "reference-embeddings.json"])?;
    let dst = tmp.join("model.safetensors");
    if fs::rename(weights, &dst).is_err() {
        fs::copy(weights, &dst).map_err(|source| EncoderError::Io { path: weights.to_path_buf(), source })?;
    }
    fs::rename(&tmp, out).map_err(|source| EncoderError::Io { path: out.to_path_buf(), source })?;
    ModelFolder::open(out)
}

fn module_entry(idx: usize, path: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({"idx": idx, "name": idx.to_string(), "path": path, "type": kind})
}

/// The base's `modules.json` entries (or the implicit Transformer + mean Pooling of a plain Hugging Face
/// folder, written out so that the derived folder says what it runs).
fn base_modules(base: &ModelFolder) -> Result<Vec<serde_json::Value>, EncoderError> {
    let path = base.dir().join("modules.json");
    if path.is_file() {
        let bytes = fs::read(&path).map_err(|source| EncoderError::Io { path: path.clone(), source })?;
        let mut v: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|source| EncoderError::Json { path, source })?;
        v.sort_by_key(|e| e.get("idx").and_then(serde_json::Value::as_u64).unwrap_or(u64::MAX));
        Ok(v)
    } else {
        Err(EncoderError::Unsupported {
            dir: base.dir().to_path_buf(),
            message: "a Dense module can only be added to a sentence-transformers folder (with modules.json)"
                .into(),
        })
    }
}

/// Recreates the tree `from` at `to`, hard-linking files (copying when links are impossible, e.g. across file
/// systems), except the top-level files named in `skip`.
fn link_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<(), EncoderError> {
    let io = |path: &Path| {
        let path: PathBuf = path.to_path_buf();
        move |source| EncoderError::Io { path, source }
    };
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let src = entry.map_err(io(from))?.path();
        let Some(name) = src.file_name() else { continue };
        if skip.iter().any(|n| name == *n) {
            continue;
        }
        let dst = to.join(name);
        // `metadata` follows symbolic links: the derived folder holds the files themselves.
        if fs::metadata(&src).map_err(io(&src))?.is_dir() {
            link_tree(&src, &dst, &[])?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

fn activation_of(path: &Path, config: &DenseConfig) -> Result<Activation, EncoderError> {
    Activation::parse(&config.activation_function).ok_or_else(|| EncoderError::InvalidConfig {
        path: path.to_path_buf(),
        message: format!(
            "activation_function `{}` is not supported (torch.nn.modules.linear.Identity, \
             torch.nn.modules.activation.Tanh, torch.nn.modules.activation.ReLU)",
            config.activation_function
        ),
    })
}

fn read_config(path: &Path) -> Result<DenseConfig, EncoderError> {
    let bytes = fs::read(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| EncoderError::Json { path: path.to_path_buf(), source })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), EncoderError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|source| EncoderError::Json { path: path.to_path_buf(), source })?;
    fs::write(path, text).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(bias: bool, activation: Activation) -> DenseLayer {
        // 3 -> 2: rows of W are the outputs.
        let w = vec![1.0, 0.0, 2.0, 0.0, -1.0, 0.5];
        DenseLayer::new(3, 2, w, bias.then(|| vec![0.5, -0.25]), activation).unwrap()
    }

    #[test]
    fn applies_w_x_plus_b_then_the_activation() {
        let x = [1.0f32, 2.0, 3.0, 0.0, 0.0, 0.0];
        assert_eq!(layer(true, Activation::Identity).apply(&x), vec![7.5, -0.75, 0.5, -0.25]);
        assert_eq!(layer(false, Activation::Identity).apply(&x), vec![7.0, -0.5, 0.0, 0.0]);
        let t = layer(true, Activation::Tanh).apply(&x);
        assert!((t[0] - 7.5f32.tanh()).abs() < 1e-7 && (t[1] - (-0.75f32).tanh()).abs() < 1e-7);
        assert!(DenseLayer::new(3, 2, vec![0.0; 5], None, Activation::Identity).is_err());
        assert!(DenseLayer::new(3, 2, vec![0.0; 6], Some(vec![0.0; 3]), Activation::Identity).is_err());
    }

    #[test]
    fn steps_run_in_order() {
        let steps = [LoadedStep::Dense(layer(true, Activation::Identity)), LoadedStep::Normalize];
        let out = apply_steps(&steps, vec![1.0, 2.0, 3.0], 3);
        let n = (7.5f32 * 7.5 + 0.75 * 0.75).sqrt();
        assert!((out[0] - 7.5 / n).abs() < 1e-6 && (out[1] + 0.75 / n).abs() < 1e-6, "{out:?}");
        // Normalize first, then the layer: the layer sees a unit vector.
        let steps = [LoadedStep::Normalize, LoadedStep::Dense(layer(false, Activation::Identity))];
        let out = apply_steps(&steps, vec![3.0, 0.0, 4.0], 3);
        assert!((out[0] - (0.6 + 1.6)).abs() < 1e-6 && (out[1] - 0.4).abs() < 1e-6, "{out:?}");
    }

    /// The files are exactly what sentence-transformers' `Dense.save` writes and `Dense.load` reads.
    #[test]
    fn saves_in_the_sentence_transformers_format_and_reads_it_back() {
        let d = tempfile::tempdir().unwrap();
        let l = layer(true, Activation::Identity);
        l.save(d.path()).unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&fs::read(d.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(
            config,
            serde_json::json!({"in_features": 3, "out_features": 2, "bias": true,
                "activation_function": "torch.nn.modules.linear.Identity"})
        );
        let bytes = fs::read(d.path().join("model.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<&str> = st.names();
        names.sort();
        assert_eq!(names, ["linear.bias", "linear.weight"]);
        assert_eq!(st.tensor("linear.weight").unwrap().shape(), &[2, 3]);
        assert_eq!(DenseLayer::load(d.path()).unwrap(), l);

        let no_bias = layer(false, Activation::Tanh);
        let d2 = tempfile::tempdir().unwrap();
        no_bias.save(d2.path()).unwrap();
        assert_eq!(DenseLayer::load(d2.path()).unwrap(), no_bias);
        let bytes = fs::read(d2.path().join("model.safetensors")).unwrap();
        assert!(safetensors::SafeTensors::deserialize(&bytes).unwrap().tensor("linear.bias").is_err());
    }

    #[test]
    fn refuses_unknown_activations_and_pickled_weights() {
        let d = tempfile::tempdir().unwrap();
        layer(true, Activation::Identity).save(d.path()).unwrap();
        let cfg = r#"{"in_features":3,"out_features":2,"bias":true,"activation_function":"torch.nn.modules.activation.GELU"}"#;
        fs::write(d.path().join("config.json"), cfg).unwrap();
        let err = DenseLayer::load(d.path()).unwrap_err().to_string();
        assert!(err.contains("activation_function `torch.nn.modules.activation.GELU`"), "{err}");
        layer(true, Activation::Identity).save(d.path()).unwrap();
        fs::remove_file(d.path().join("model.safetensors")).unwrap();
        fs::write(d.path().join("pytorch_model.bin"), "pickle").unwrap();
        let err = DenseLayer::load(d.path()).unwrap_err().to_string();
        assert!(err.contains("pytorch_model.bin"), "{err}");
    }
}
