//! Writes an fp32 ONNX graph of a BERT, MPNet or DistilBERT model straight from its `model.safetensors`, so that
//! ONNX Runtime can run any such folder without a Python export step.
//!
//! The graph has the interface of Hugging Face's exports (inputs `input_ids`, `attention_mask` and, for BERT,
//! `token_type_ids`, int64 `[batch, seq]`; output `last_hidden_state` `[batch, seq, hidden]`) and the
//! operations of `transformers`' models in eager mode (MPNet adds its relative-position bias to the scores,
//! from a by-distance table written into the graph; see [`super::layout`]): embeddings sum + LayerNorm, additive attention mask
//! of `f32::MIN`, scaled dot-product attention, exact-erf GELU, i.e. the patterns ONNX Runtime's graph
//! optimizer knows from `torch.onnx` exports. Measured on all-MiniLM-L6-v2: cosine 1.0000000 to
//! sentence-transformers on all 59 reference texts, and the same speed as a graph of the same structure
//! written with the `onnx` Python package (40.0 vs 40.9 texts/s on 600 papers, 2 threads).
//!
//! Only the few protobuf messages a graph needs are encoded, by hand (ModelProto, GraphProto, NodeProto,
//! AttributeProto, TensorProto, ValueInfoProto, opset 17, IR version 8), which avoids a protobuf code generator
//! and its build-time dependencies.

use safetensors::{Dtype, SafeTensors};

use super::layout;
use crate::error::EncoderError;
use crate::folder::{Architecture, BertConfig, ModelFolder};

/// ONNX `TensorProto.DataType` codes.
const FLOAT: i64 = 1;
const INT8: i64 = 3;
const INT64: i64 = 7;
/// ONNX `AttributeProto.AttributeType` codes.
const ATTR_FLOAT: i64 = 1;
const ATTR_INT: i64 = 2;
const ATTR_INTS: i64 = 7;

/// A protobuf message being encoded.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        // Negative int64s are ten-byte two's-complement varints in protobuf.
        self.varint(v as u64);
    }
    fn float(&mut self, field: u32, v: f32) {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u32, m: &Pb) {
        self.bytes(field, &m.0);
    }
}

/// A node attribute.
enum Attr<'a> {
    Int(&'a str, i64),
    Float(&'a str, f32),
    Ints(&'a str, &'a [i64]),
}

/// Accumulates nodes and initializers of a GraphProto.
#[derive(Default)]
struct Graph {
    body: Pb,
    counter: usize,
}

impl Graph {
    /// Appends a node and returns the name of its (single) output.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: &[Attr<'_>]) -> String {
        self.counter += 1;
        let out = format!("{}_{}", op.to_ascii_lowercase(), self.counter);
        self.node_to(op, inputs, &out, attrs);
        out
    }

    /// Appends a node with `count` outputs and returns their names.
    fn node_outputs(&mut self, op: &str, inputs: &[&str], count: usize) -> Vec<String> {
        self.counter += 1;
        let base = format!("{}_{}", op.to_ascii_lowercase(), self.counter);
        let outputs: Vec<String> = (0..count).map(|i| format!("{base}_{i}")).collect();
        let names: Vec<&str> = outputs.iter().map(String::as_str).collect();
        self.node_with(op, inputs, &names, &[]);
        outputs
    }

    fn node_to(&mut self, op: &str, inputs: &[&str], output: &str, attrs: &[Attr<'_>]) {
        self.node_with(op, inputs, &[output], attrs);
    }

    fn node_with(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Attr<'_>]) {
        let mut n = Pb::default();
        for i in inputs {
            n.str(1, i);
        }
        for o in outputs {
            n.str(2, o);
        }
        n.str(3, outputs.first().copied().unwrap_or(op));
        n.str(4, op);
        for a in attrs {
            let mut m = Pb::default();
            match a {
                Attr::Int(name, v) => {
                    m.str(1, name);
                    m.int(3, *v);
                    m.int(20, ATTR_INT);
                }
                Attr::Float(name, v) => {
                    m.str(1, name);
                    m.float(2, *v);
                    m.int(20, ATTR_FLOAT);
                }
                Attr::Ints(name, vs) => {
                    m.str(1, name);
                    for v in *vs {
                        m.int(8, *v);
                    }
                    m.int(20, ATTR_INTS);
                }
            }
            n.msg(5, &m);
        }
        self.body.msg(1, &n);
    }

    /// Adds an initializer from little-endian raw bytes.
    fn init(&mut self, name: &str, data_type: i64, dims: &[usize], raw: &[u8]) -> String {
        let mut t = Pb::default();
        for &d in dims {
            t.int(1, d as i64);
        }
        t.int(2, data_type);
        t.str(8, name);
        t.bytes(9, raw);
        self.body.msg(5, &t);
        name.to_owned()
    }

    fn init_f32(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, FLOAT, dims, &raw)
    }

    fn init_i8(&mut self, name: &str, dims: &[usize], data: &[i8]) -> String {
        let raw: Vec<u8> = data.iter().map(|&x| x as u8).collect();
        self.init(name, INT8, dims, &raw)
    }

    fn init_i64(&mut self, name: &str, data: &[i64]) -> String {
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, INT64, &[data.len()], &raw)
    }

    fn init_scalar_i64(&mut self, name: &str, v: i64) -> String {
        self.init(name, INT64, &[], &v.to_le_bytes())
    }

    fn scalar_f32(&mut self, name: &str, v: f32) -> String {
        self.init(name, FLOAT, &[], &v.to_le_bytes())
    }

    /// Declares a graph input or output: `elem_type` tensor with the given dims (a name for symbolic ones).
    fn value_info(&mut self, field: u32, name: &str, elem_type: i64, dims: &[Result<i64, &str>]) {
        let mut shape = Pb::default();
        for d in dims {
            let mut dim = Pb::default();
            match d {
                Ok(v) => dim.int(1, *v),
                Err(param) => dim.str(2, param),
            }
            shape.msg(1, &dim);
        }
        let mut tensor = Pb::default();
        tensor.int(1, elem_type);
        tensor.msg(2, &shape);
        let mut ty = Pb::default();
        ty.msg(1, &tensor);
        let mut vi = Pb::default();
        vi.str(1, name);
        vi.msg(2, &ty);
        self.body.msg(field, &vi);
    }
}

/// Reads tensors of a safetensors file as f32, whatever the stored float type.
struct Weights<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
    folder: &'a ModelFolder,
}

impl Weights<'_> {
    fn get(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), EncoderError> {
        let full = format!("{}{name}", self.prefix);
        let unsupported =
            |message: String| EncoderError::Unsupported { dir: self.folder.dir().to_path_buf(), message };
        let t =
            self.st.tensor(&full).map_err(|e| unsupported(format!("model.safetensors: `{full}`: {e}")))?;
        let b = t.data();
        let data: Vec<f32> = match t.dtype() {
            Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => {
                b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            Dtype::BF16 => {
                b.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            other => return Err(unsupported(format!("model.safetensors: `{full}` has dtype {other:?}"))),
        };
        Ok((t.shape().to_vec(), data))
    }

    /// A `[out, in]` linear weight, transposed to the `[in, out]` MatMul wants.
    fn linear_t(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), EncoderError> {
        let (shape, w) = self.get(name)?;
        let [rows, cols] = shape[..] else {
            return Err(EncoderError::Unsupported {
                dir: self.folder.dir().to_path_buf(),
                message: format!("model.safetensors: `{name}` has shape {shape:?}, expected 2-D"),
            });
        };
        let mut t = vec![0.0f32; w.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        Ok((vec![cols, rows], t))
    }
}

/// Which layers a graph written by [`transformer_graph_part`] runs.
///
/// Fine-tuning only the top layers of an encoder (atlas-finetune) runs the frozen bottom once per paper and keeps
/// its output; the bottom graph computes that output and the top graph the rest, on ONNX Runtime's fast CPU
/// kernels, so that a tuned model's embeddings come from the cached states at a fraction of a full pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPart {
    /// The whole encoder: token ids in, `last_hidden_state` out.
    Full,
    /// Embeddings and layers `0..layers`: token ids in, `hidden_states` `[batch, seq, hidden]` out (the input
    /// of layer `layers`).
    Bottom {
        /// Layers run after the embeddings.
        layers: usize,
    },
    /// Layers `from..`: `hidden_states` (float `[batch, seq, hidden]`, the output of layer `from - 1`) and
    /// `attention_mask` in, `last_hidden_state` out.
    Top {
        /// First layer run.
        from: usize,
    },
}

/// How the linear layers of a written graph compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphPrecision {
    /// fp32 `MatMul`, the function of the checkpoint as trained.
    Fp32,
    /// Dynamic int8 as ONNX Runtime's `quantize_dynamic` writes it: every linear layer's weight quantized
    /// symmetrically per output channel (int8, zero point 0), its input quantized per call to uint8 by
    /// `DynamicQuantizeLinear` (one per distinct input: query, key and value share theirs), `MatMulInteger`,
    /// then the product of the two scales. ONNX Runtime fuses the pattern into `DynamicQuantizeMatMul`.
    /// Embeddings, attention scores, LayerNorm and activations stay fp32.
    Int8 {
        /// Weights in [-64, 64] instead of [-127, 127]. AVX2's u8 × s8 kernel (`vpmaddubsw`) adds two products
        /// into an int16 and saturates when both are large; 7-bit weights cannot overflow it. VNNI kernels
        /// have no such limit, so full range is more precise there at the same speed.
        reduce_range: bool,
    },
}

/// The int8 scheme arxiv-atlas writes for models without a shipped int8 graph: per-channel, reduced range,
/// correct on every x86 CPU (AVX2 and AVX-512/VNNI alike), so one model gives the same vectors on both kinds of
/// machine. Measured against the shipped `model_qint8_avx2.onnx` in docs/benchmarks.md ("int8 for any model").
pub const INT8_WRITTEN: GraphPrecision = GraphPrecision::Int8 { reduce_range: true };

/// Symmetric per-column int8 quantization of a row-major `[rows, cols]` matrix: the int8 values and one scale
/// per column (`value ≈ q · scale`). An all-zero column gets scale 1.
pub fn quantize_per_column(w: &[f32], rows: usize, cols: usize, reduce_range: bool) -> (Vec<i8>, Vec<f32>) {
    let qmax: f32 = if reduce_range { 64.0 } else { 127.0 };
    let mut max_abs = vec![0.0f32; cols];
    for row in w.chunks_exact(cols).take(rows) {
        for (m, &v) in max_abs.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    let scales: Vec<f32> = max_abs.iter().map(|&m| if m > 0.0 { m / qmax } else { 1.0 }).collect();
    let q = w
        .chunks_exact(cols)
        .take(rows)
        .flat_map(|row| row.iter().zip(&scales).map(|(&v, &s)| (v / s).round().clamp(-qmax, qmax) as i8))
        .collect();
    (q, scales)
}

/// Builds the fp32 graph of `folder`'s transformer (BERT, MPNet or DistilBERT, see [`Architecture`]) from its
/// `model.safetensors` and returns the serialized ModelProto.
pub fn transformer_graph(folder: &ModelFolder) -> Result<Vec<u8>, EncoderError> {
    transformer_graph_part(folder, GraphPart::Full)
}

/// Like [`transformer_graph`], for the layers `part` names.
pub fn transformer_graph_part(folder: &ModelFolder, part: GraphPart) -> Result<Vec<u8>, EncoderError> {
    transformer_graph_with(folder, part, GraphPrecision::Fp32)
}

/// Like [`transformer_graph_part`], with the linear layers in `precision`.
pub fn transformer_graph_with(
    folder: &ModelFolder,
    part: GraphPart,
    precision: GraphPrecision,
) -> Result<Vec<u8>, EncoderError> {
    let layers = folder.config().num_hidden_layers;
    let cut = match part {
        GraphPart::Full => 0,
        GraphPart::Bottom { layers: n } => n,
        GraphPart::Top { from } => from,
    };
    if cut > layers || (matches!(part, GraphPart::Top { .. }) && cut == layers) {
        return Err(EncoderError::InvalidOption(format!("{part:?} does not fit a model of {layers} layers")));
    }
    let path = folder.safetensors_path()?;
    let bytes = std::fs::read(&path).map_err(|source| EncoderError::Io { path: path.clone(), source })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| EncoderError::InvalidConfig {
        path: path.clone(),
        message: format!("not a safetensors file: {e}"),
    })?;
    // Checkpoints saved from the task models (BertForMaskedLM, ...) prefix the encoder with `bert.` etc.
    let with_prefix = layout::checkpoint_prefix(folder.config().architecture);
    let prefix = if st.tensor("embeddings.word_embeddings.weight").is_err()
        && st.tensor(&format!("{with_prefix}embeddings.word_embeddings.weight")).is_ok()
    {
        with_prefix
    } else {
        ""
    };
    let w = Weights { st, prefix, folder };
    build(folder.config(), &w, part, precision)
}

fn build(
    cfg: &BertConfig,
    w: &Weights<'_>,
    part: GraphPart,
    precision: GraphPrecision,
) -> Result<Vec<u8>, EncoderError> {
    let arch = cfg.architecture;
    let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
    let head_dim = h / heads;
    let mut g = Graph::default();
    let param = |g: &mut Graph, name: &str| -> Result<String, EncoderError> {
        let (shape, data) = w.get(name)?;
        Ok(g.init_f32(name, &shape, &data))
    };
    let eps = cfg.layer_norm_eps as f32;
    let layer_norm = |g: &mut Graph, x: &str, name: &str| -> Result<String, EncoderError> {
        let (gamma, beta) = (param(g, &format!("{name}.weight"))?, param(g, &format!("{name}.bias"))?);
        let attrs = [Attr::Int("axis", -1), Attr::Float("epsilon", eps)];
        Ok(g.node("LayerNormalization", &[x, &gamma, &beta], &attrs))
    };

    let one = g.init_i64("c_one_1d", &[1]);
    let zero = g.init_i64("c_zero_1d", &[0]);
    // The sequence axis is read from the first input: token ids, or the cached states of a top graph.
    let first_input = if matches!(part, GraphPart::Top { .. }) { "hidden_states" } else { "input_ids" };
    let shape = g.node("Shape", &[first_input], &[]);
    let (mut x, layer_range) = match part {
        GraphPart::Top { from } => ("hidden_states".to_owned(), from..cfg.num_hidden_layers),
        GraphPart::Full | GraphPart::Bottom { .. } => {
            let end = match part {
                GraphPart::Bottom { layers } => layers,
                _ => cfg.num_hidden_layers,
            };
            (embeddings(&mut g, cfg, w, &shape, &one, &zero)?, 0..end)
        }
    };

    // Additive mask as transformers builds it: (1 - mask) * finfo(float32).min, shaped [batch, 1, 1, seq].
    let mask_f = g.node("Cast", &["attention_mask"], &[Attr::Int("to", FLOAT)]);
    let one_f = g.scalar_f32("c_one_f", 1.0);
    let inverted = g.node("Sub", &[&one_f, &mask_f], &[]);
    let fmin = g.scalar_f32("c_f32_min", f32::MIN);
    let additive = g.node("Mul", &[&inverted, &fmin], &[]);
    let axes = g.init_i64("c_axes_1_2", &[1, 2]);
    let mask = g.node("Unsqueeze", &[&additive, &axes], &[]);

    // MPNet: one relative-position bias [1, heads, seq, seq] for all layers, gathered by key − query from a
    // table by distance (written here, so the graph needs no bucketing arithmetic).
    let position_bias = if arch == Architecture::MPNet {
        let (_, table) = w.get(layout::MPNET_RELATIVE_BIAS)?;
        let max_len = cfg.max_position_embeddings;
        let by_distance = layout::mpnet_bias_by_distance(&table, heads, max_len);
        let by_distance = g.init_f32("mpnet_bias_by_distance", &[heads, 2 * max_len - 1], &by_distance);
        let index0 = g.init_scalar_i64("c_index_1", 1);
        let seq_scalar = g.node("Gather", &[&shape, &index0], &[Attr::Int("axis", 0)]);
        let (start, step) = (g.init_scalar_i64("c_range_0", 0), g.init_scalar_i64("c_range_1", 1));
        let range = g.node("Range", &[&start, &seq_scalar, &step], &[]);
        let query = g.node("Unsqueeze", &[&range, &one], &[]);
        let key = g.node("Unsqueeze", &[&range, &zero], &[]);
        let distance = g.node("Sub", &[&key, &query], &[]);
        let offset = g.init_scalar_i64("c_distance_offset", max_len as i64 - 1);
        let column = g.node("Add", &[&distance, &offset], &[]);
        let bias = g.node("Gather", &[&by_distance, &column], &[Attr::Int("axis", 1)]);
        Some(g.node("Unsqueeze", &[&bias, &zero], &[]))
    } else {
        None
    };

    let split = g.init_i64("c_split_heads", &[0, 0, heads as i64, head_dim as i64]);
    let merge = g.init_i64("c_merge_heads", &[0, 0, h as i64]);
    let scale = g.scalar_f32("c_attn_scale", 1.0 / (head_dim as f32).sqrt());
    let half = g.scalar_f32("c_half", 0.5);
    let act = cfg.hidden_act.as_str();

    // Quantized inputs by the fp32 tensor they quantize: query, key and value read the same input, and
    // quantizing it once is what `quantize_dynamic` writes too.
    let mut quantized: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut linear = |g: &mut Graph, x: &str, name: &str| -> Result<String, EncoderError> {
        let (shape, wt) = w.linear_t(&format!("{name}.weight"))?;
        let (bshape, b) = w.get(&format!("{name}.bias"))?;
        let bn = g.init_f32(&format!("{name}.bias"), &bshape, &b);
        let y = match precision {
            GraphPrecision::Fp32 => {
                let wn = g.init_f32(&format!("{name}.weight_t"), &shape, &wt);
                g.node("MatMul", &[x, &wn], &[])
            }
            GraphPrecision::Int8 { reduce_range } => {
                let (rows, cols) = (shape[0], shape[1]);
                let (q, scales) = quantize_per_column(&wt, rows, cols, reduce_range);
                let wq = g.init_i8(&format!("{name}.weight_t_quantized"), &shape, &q);
                let wzp = g.init_i8(&format!("{name}.weight_t_zero_point"), &[cols], &vec![0; cols]);
                let ws = g.init_f32(&format!("{name}.weight_t_scale"), &[cols], &scales);
                let xq = quantized
                    .entry(x.to_owned())
                    .or_insert_with(|| g.node_outputs("DynamicQuantizeLinear", &[x], 3))
                    .clone();
                let acc = g.node("MatMulInteger", &[&xq[0], &wq, &xq[2], &wzp], &[]);
                let acc = g.node("Cast", &[&acc], &[Attr::Int("to", FLOAT)]);
                let scale = g.node("Mul", &[&xq[1], &ws], &[]);
                g.node("Mul", &[&acc, &scale], &[])
            }
        };
        Ok(g.node("Add", &[&y, &bn], &[]))
    };

    for i in layer_range {
        let n = layout::layer_names(arch, i);
        let heads_of = |g: &mut Graph, y: &str, perm: &[i64]| {
            let r = g.node("Reshape", &[y, &split], &[]);
            g.node("Transpose", &[&r], &[Attr::Ints("perm", perm)])
        };
        let q = linear(&mut g, &x, &n.query)?;
        let k = linear(&mut g, &x, &n.key)?;
        let v = linear(&mut g, &x, &n.value)?;
        let q = heads_of(&mut g, &q, &[0, 2, 1, 3]);
        let k = heads_of(&mut g, &k, &[0, 2, 3, 1]);
        let v = heads_of(&mut g, &v, &[0, 2, 1, 3]);
        let scores = g.node("MatMul", &[&q, &k], &[]);
        let mut scores = g.node("Mul", &[&scores, &scale], &[]);
        if let Some(bias) = &position_bias {
            scores = g.node("Add", &[&scores, bias], &[]);
        }
        let scores = g.node("Add", &[&scores, &mask], &[]);
        let probs = g.node("Softmax", &[&scores], &[Attr::Int("axis", -1)]);
        let ctx = g.node("MatMul", &[&probs, &v], &[]);
        let ctx = g.node("Transpose", &[&ctx], &[Attr::Ints("perm", &[0, 2, 1, 3])]);
        let ctx = g.node("Reshape", &[&ctx, &merge], &[]);
        let attn = linear(&mut g, &ctx, &n.attention_out)?;
        let res = g.node("Add", &[&attn, &x], &[]);
        let x1 = layer_norm(&mut g, &res, &n.attention_norm)?;

        let inter = linear(&mut g, &x1, &n.ffn_in)?;
        let activated = activation(&mut g, &inter, act, &half, i)?;
        let out = linear(&mut g, &activated, &n.ffn_out)?;
        let res = g.node("Add", &[&out, &x1], &[]);
        x = layer_norm(&mut g, &res, &n.output_norm)?;
    }
    let output = if matches!(part, GraphPart::Bottom { .. }) { "hidden_states" } else { "last_hidden_state" };
    g.node_to("Identity", &[&x], output, &[]);

    if matches!(part, GraphPart::Top { .. }) {
        g.value_info(11, "hidden_states", FLOAT, &[Err("batch"), Err("seq"), Ok(h as i64)]);
        g.value_info(11, "attention_mask", INT64, &[Err("batch"), Err("seq")]);
    } else {
        let mut inputs = vec!["input_ids", "attention_mask"];
        if arch.has_token_types() {
            inputs.push("token_type_ids");
        }
        for name in inputs {
            g.value_info(11, name, INT64, &[Err("batch"), Err("seq")]);
        }
    }
    g.value_info(12, output, FLOAT, &[Err("batch"), Err("seq"), Ok(h as i64)]);
    g.body.str(2, arch.model_type());

    let mut model = Pb::default();
    model.int(1, 8); // IR version 8 (ONNX 1.10+), understood by every ONNX Runtime this crate accepts.
    model.str(2, "atlas-encoder");
    let mut opset = Pb::default();
    opset.str(1, "");
    opset.int(2, 17); // LayerNormalization needs opset 17.
    model.msg(8, &opset);
    model.msg(7, &g.body);
    Ok(model.0)
}

/// The embeddings sum and its LayerNorm: word + position (+ token type for BERT).
fn embeddings(
    g: &mut Graph,
    cfg: &BertConfig,
    w: &Weights<'_>,
    shape: &str,
    one: &str,
    zero: &str,
) -> Result<String, EncoderError> {
    let arch = cfg.architecture;
    let h = cfg.hidden_size;
    let param = |g: &mut Graph, name: &str| -> Result<String, EncoderError> {
        let (shape, data) = w.get(name)?;
        Ok(g.init_f32(name, &shape, &data))
    };
    let word_table = param(g, "embeddings.word_embeddings.weight")?;
    let pos_name = "embeddings.position_embeddings.weight";
    let pos_table = match w.get(pos_name) {
        Ok((shape, data)) => g.init_f32(pos_name, &shape, &data),
        // DistilBERT's sinusoidal table is fixed, so a checkpoint may leave it out.
        Err(_) if arch == Architecture::DistilBert && cfg.sinusoidal_pos_embds => {
            let (n, d) = (cfg.max_position_embeddings, h);
            g.init_f32(pos_name, &[n, d], &layout::sinusoidal_positions(n, d))
        }
        Err(e) => return Err(e),
    };
    let word = g.node("Gather", &[&word_table, "input_ids"], &[]);
    let seq = g.node("Gather", &[shape, one], &[Attr::Int("axis", 0)]);
    let pos = if arch == Architecture::MPNet {
        // transformers' create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad.
        let pad = g.init_scalar_i64("c_mpnet_pad", i64::from(layout::MPNET_PADDING_IDX));
        let is_pad = g.node("Equal", &["input_ids", &pad], &[]);
        let real = g.node("Not", &[&is_pad], &[]);
        let real = g.node("Cast", &[&real], &[Attr::Int("to", INT64)]);
        let axis = g.init_scalar_i64("c_seq_axis", 1);
        let count = g.node("CumSum", &[&real, &axis], &[]);
        let count = g.node("Mul", &[&count, &real], &[]);
        let ids = g.node("Add", &[&count, &pad], &[]);
        g.node("Gather", &[&pos_table, &ids], &[])
    } else {
        g.node("Slice", &[&pos_table, zero, &seq, zero], &[])
    };
    let sum = if arch.has_token_types() {
        let type_table = param(g, "embeddings.token_type_embeddings.weight")?;
        let typ = g.node("Gather", &[&type_table, "token_type_ids"], &[]);
        // BERT's order: (word + type) + position; float addition is not associative.
        let wt = g.node("Add", &[&word, &typ], &[]);
        g.node("Add", &[&wt, &pos], &[])
    } else {
        g.node("Add", &[&word, &pos], &[])
    };
    let (gamma, beta) = (param(g, "embeddings.LayerNorm.weight")?, param(g, "embeddings.LayerNorm.bias")?);
    let attrs = [Attr::Int("axis", -1), Attr::Float("epsilon", cfg.layer_norm_eps as f32)];
    Ok(g.node("LayerNormalization", &[&sum, &gamma, &beta], &attrs))
}

/// The feed-forward activation of `config.json`'s `hidden_act`.
fn activation(g: &mut Graph, x: &str, act: &str, half: &str, layer: usize) -> Result<String, EncoderError> {
    match act {
        // 0.5 · x · (1 + erf(x / √2)): exact GELU, as transformers' "gelu".
        "gelu" => {
            let rsqrt2 = g.scalar_f32(&format!("c_rsqrt2_{layer}"), std::f32::consts::FRAC_1_SQRT_2);
            let one = g.scalar_f32(&format!("c_one_gelu_{layer}"), 1.0);
            let scaled = g.node("Mul", &[x, &rsqrt2], &[]);
            let erf = g.node("Erf", &[&scaled], &[]);
            let erf1 = g.node("Add", &[&erf, &one], &[]);
            let hx = g.node("Mul", &[x, half], &[]);
            Ok(g.node("Mul", &[&hx, &erf1], &[]))
        }
        // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))): transformers' "gelu_new" and its aliases.
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "gelu_approximate" => {
            let c = g.scalar_f32(&format!("c_gelu_c_{layer}"), (2.0f32 / std::f32::consts::PI).sqrt());
            let k = g.scalar_f32(&format!("c_gelu_k_{layer}"), 0.044715);
            let one = g.scalar_f32(&format!("c_one_gelu_{layer}"), 1.0);
            let x2 = g.node("Mul", &[x, x], &[]);
            let x3 = g.node("Mul", &[&x2, x], &[]);
            let kx3 = g.node("Mul", &[&x3, &k], &[]);
            let inner = g.node("Add", &[x, &kx3], &[]);
            let inner = g.node("Mul", &[&inner, &c], &[]);
            let t = g.node("Tanh", &[&inner], &[]);
            let t1 = g.node("Add", &[&t, &one], &[]);
            let hx = g.node("Mul", &[x, half], &[]);
            Ok(g.node("Mul", &[&hx, &t1], &[]))
        }
        "relu" => Ok(g.node("Relu", &[x], &[])),
        other => Err(EncoderError::InvalidOption(format!("hidden_act `{other}` has no ONNX graph here"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_encoding() {
        let mut p = Pb::default();
        p.varint(1);
        p.varint(300);
        p.int(1, -1);
        // 300 = 0b1_0010_1100 -> AC 02; -1 as int64 -> ten bytes ending in 01.
        assert_eq!(p.0[..3], [0x01, 0xAC, 0x02]);
        assert_eq!(p.0[3], 0x08);
        assert_eq!(p.0[4..], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        let mut m = Pb::default();
        m.str(4, "Add");
        assert_eq!(m.0, [0x22, 0x03, b'A', b'd', b'd']);
        let mut f = Pb::default();
        f.float(2, 1.0);
        assert_eq!(f.0, [0x15, 0x00, 0x00, 0x80, 0x3F]);
    }

    #[test]
    fn node_encoding_names_inputs_outputs_and_attributes() {
        let mut g = Graph::default();
        let out = g.node("Softmax", &["scores"], &[Attr::Int("axis", -1)]);
        assert_eq!(out, "softmax_1");
        let bytes = &g.body.0;
        // Field 1 (node), length-delimited; then the node's input "scores" as field 1.
        assert_eq!(bytes[0], 0x0A);
        let node = &bytes[2..];
        assert_eq!(&node[..8], &[0x0A, 0x06, b's', b'c', b'o', b'r', b'e', b's']);
        assert!(node.windows(7).any(|w| w == [0x22, 0x07, b'S', b'o', b'f', b't', b'm']));
        assert!(node.windows(4).any(|w| w == [b'a', b'x', b'i', b's']));
    }
}
