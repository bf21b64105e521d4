//! Backend agreement on tiny random BERTs written by the test itself (no `../shared` needed): the ONNX graph the
//! crate writes from `model.safetensors` must compute what candle's `BertModel` computes, for each supported
//! activation, for f32 and f16 weight files, and for checkpoints whose tensors carry a `bert.` prefix.
//! Skips when the ONNX Runtime library is absent (a failure where `ATLAS_REQUIRE_ONNXRUNTIME` is set). With the
//! `cuda` feature, candle on the GPU must compute what candle on the CPU computes (skipped when no CUDA device
//! opens, a failure where `ATLAS_REQUIRE_CUDA` is set; both through `atlas_testkit`).

#![cfg(any(feature = "onnx", feature = "cuda"))]

use std::collections::HashMap;
use std::path::Path;

use atlas_encoder::backend::candle::CandleBackend;
#[cfg(feature = "onnx")]
use atlas_encoder::backend::onnx::{find_ort_library, GraphSource, OnnxBackend};
use atlas_encoder::{cosine, Backend, DeviceSpec, ModelFolder, Pooling, PoolingHead, Precision, TokenBatch};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

use atlas_testkit::tiny_bert::{tensors, write_config_files, HIDDEN};

/// Writes a sentence-transformers folder around random weights.
fn write_folder(dir: &Path, act: &str, prefix: &str, f16: bool, pooling: &str) {
    write_config_files(dir, act, pooling);
    let t = tensors(42);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = t
        .into_iter()
        .map(|(name, shape, data)| {
            let raw = if f16 {
                data.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
            } else {
                data.iter().flat_map(|x| x.to_le_bytes()).collect()
            };
            (format!("{prefix}{name}"), shape, raw)
        })
        .collect();
    let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
    let views: HashMap<String, TensorView<'_>> = bytes
        .iter()
        .map(|(n, s, raw)| (n.clone(), TensorView::new(dtype, s.clone(), raw).unwrap()))
        .collect();
    safetensors::serialize_to_file(&views, None, &dir.join("model.safetensors")).unwrap();
}

fn batch() -> TokenBatch {
    // Mixed lengths, so masking of padded keys matters; ids stay inside the tiny vocabulary.
    let rows: [&[u32]; 3] = [&[1, 5, 9, 13, 17, 21, 25, 2], &[1, 7, 2], &[1, 30, 31, 32, 33, 2]];
    TokenBatch::new(&rows, 0).unwrap()
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_graph_from_safetensors_matches_candle() {
    if let Err(e) = find_ort_library() {
        atlas_testkit::missing(
            atlas_testkit::Need::OnnxRuntime,
            "onnx_graph_from_safetensors_matches_candle",
            e,
        );
        return;
    }
    for (act, prefix, f16, pooling) in [
        ("gelu", "", false, "mean"),
        ("gelu_new", "", false, "max"),
        ("relu", "bert.", false, "cls"),
        ("gelu", "bert.", true, "mean"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), act, prefix, f16, pooling);
        let folder = ModelFolder::open(dir.path()).unwrap();
        let head = PoolingHead { pooling: folder.pooling(), normalize: false, dim: HIDDEN };
        let expected = match pooling {
            "mean" => Pooling::Mean,
            "max" => Pooling::Max,
            _ => Pooling::Cls,
        };
        assert_eq!(folder.pooling(), expected);
        let candle = CandleBackend::load(&folder, Precision::Fp32, DeviceSpec::Cpu, 1).unwrap();
        let source = OnnxBackend::graph_source(&folder, Precision::Fp32, None).unwrap();
        assert_eq!(source, GraphSource::FromSafetensors);
        let onnx = OnnxBackend::load(&folder, &source, Precision::Fp32, 1).unwrap();
        assert_eq!((candle.device(), onnx.device()), (DeviceSpec::Cpu, DeviceSpec::Cpu));
        let b = batch();
        let (a, o) = (candle.embed_batch(&b, &head).unwrap(), onnx.embed_batch(&b, &head).unwrap());
        assert_eq!((a.len(), o.len()), (3 * HIDDEN, 3 * HIDDEN));
        for (row, (x, y)) in a.chunks_exact(HIDDEN).zip(o.chunks_exact(HIDDEN)).enumerate() {
            let c = cosine(x, y);
            let max_diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(
                c > 0.99999 && max_diff < 1e-4,
                "{act} {prefix:?} f16={f16} {pooling} row {row}: cos {c}, max diff {max_diff}"
            );
        }
        // Each row alone (no padding) gives what it gave inside the padded batch.
        let lone = TokenBatch::new(&[&[1, 7, 2]], 0).unwrap();
        let alone = onnx.embed_batch(&lone, &head).unwrap();
        assert!(cosine(&alone, &o[HIDDEN..2 * HIDDEN]) > 0.99999, "{act}: padding leaked into row 1");
    }
}

#[cfg(feature = "cuda")]
#[test]
fn candle_cuda_matches_candle_cpu() {
    for (act, f16, pooling) in [("gelu", false, "mean"), ("gelu_new", true, "max"), ("relu", false, "cls")] {
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), act, "", f16, pooling);
        let folder = ModelFolder::open(dir.path()).unwrap();
        let head = PoolingHead { pooling: folder.pooling(), normalize: false, dim: HIDDEN };
        let gpu = match CandleBackend::load(&folder, Precision::Fp32, DeviceSpec::Cuda(0), 0) {
            Ok(gpu) => gpu,
            Err(e) => {
                let why = format!("cuda:0 did not open: {e}");
                atlas_testkit::missing(atlas_testkit::Need::Cuda, "candle_cuda_matches_candle_cpu", why);
                return;
            }
        };
        assert_eq!((gpu.name(), gpu.device()), ("candle fp32 cuda:0", DeviceSpec::Cuda(0)));
        let cpu = CandleBackend::load(&folder, Precision::Fp32, DeviceSpec::Cpu, 1).unwrap();
        assert_eq!(cpu.device(), DeviceSpec::Cpu);
        let b = batch();
        let (g, c) = (gpu.embed_batch(&b, &head).unwrap(), cpu.embed_batch(&b, &head).unwrap());
        assert_eq!((g.len(), c.len()), (3 * HIDDEN, 3 * HIDDEN));
        for (row, (x, y)) in g.chunks_exact(HIDDEN).zip(c.chunks_exact(HIDDEN)).enumerate() {
            let cos = cosine(x, y);
            let max_diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
            assert!(
                cos > 0.99999 && max_diff < 1e-4,
                "{act} f16={f16} {pooling} row {row}: cos {cos}, max diff {max_diff}"
            );
        }
    }
}
