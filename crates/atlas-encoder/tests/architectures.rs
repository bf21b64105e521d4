//! Parity of the MPNet and DistilBERT encoders with PyTorch `transformers` + sentence-transformers, on tiny
//! randomly initialised models that `tests/helpers/make_tiny_models.py` builds offline from a config with a fixed
//! seed (no weights of the real models exist on this machine): every text of a mixed-length batch must reach
//! cosine ≥ 0.99999 to PyTorch's embedding on candle and on the ONNX graph this crate writes. Negative checks
//! show the bar catches a wrong implementation: the same MPNet without its relative-position bias, or with
//! positions not offset past the padding index, falls below it.
//!
//! Needs a Python with torch + transformers + sentence-transformers (`ARXIV_ATLAS_TORCH_PYTHON`, see
//! `scripts/setup-torch.sh`; `ATLAS_REQUIRE_TORCH`), the MiniLM tokenizer from `../shared` (`ATLAS_REQUIRE_DATA`)
//! and, for the ONNX half, the ONNX Runtime library (`ATLAS_REQUIRE_ONNXRUNTIME`); skips without them on a
//! user's machine, through `atlas_testkit`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use atlas_encoder::{cosine, Architecture, BackendKind, BatchLimits, Encoder, EncoderOptions, ModelFolder};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

const TEST: &str = "mpnet_and_distilbert_match_pytorch";
/// Cosine every text must reach against PyTorch (fp32 on both sides).
const MIN_COSINE: f64 = 0.99999;

#[derive(Deserialize)]
struct Reference {
    texts: Vec<String>,
    embeddings: BTreeMap<String, Vec<Vec<f64>>>,
}

/// Builds the tiny models and PyTorch's embeddings into `out`; `None` after a skip.
fn make_models(out: &Path) -> Option<Reference> {
    let python = atlas_testkit::torch_python(TEST)?;
    let tokenizer = atlas_testkit::shared_dir(TEST, "models/all-MiniLM-L6-v2")?;
    let script = atlas_testkit::crate_dir().join("tests/helpers/make_tiny_models.py");
    let run = std::process::Command::new(&python)
        .arg(&script)
        .arg("--out")
        .arg(out)
        .arg("--tokenizer")
        .arg(&tokenizer)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run the model builder");
    assert!(run.status.success(), "{} failed: {}", script.display(), String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(out.join("reference.json")).expect("reference.json");
    Some(serde_json::from_str(&text).expect("reference.json parses"))
}

/// Our embeddings of `texts` with `backend`, all texts in one padded batch as on the PyTorch side.
fn embed(dir: &Path, backend: BackendKind, texts: &[String]) -> Vec<Vec<f32>> {
    let options = EncoderOptions {
        backend,
        threads: 1,
        limits: BatchLimits::new(64, 1 << 20).with_max_padding_percent(100),
        ..Default::default()
    };
    let encoder = Encoder::load(dir, &options).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let e = encoder.embed(&texts).unwrap();
    (0..e.len()).map(|i| e.row(i).unwrap().to_vec()).collect()
}

/// The lowest cosine between our rows and PyTorch's.
fn min_cosine(ours: &[Vec<f32>], theirs: &[Vec<f64>]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| {
            let b: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            cosine(a, &b)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Copies the model folder `src` to `dst` with one tensor of `model.safetensors` rewritten by `edit`.
fn with_tensor_edited(src: &Path, dst: &Path, name: &str, edit: impl Fn(&[usize], &mut [f32])) {
    std::fs::create_dir_all(dst.join("1_Pooling")).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut data: HashMap<String, (Vec<usize>, Vec<u8>)> = HashMap::new();
    for (n, t) in st.tensors() {
        assert_eq!(t.dtype(), Dtype::F32, "{n}");
        let mut raw = t.data().to_vec();
        if n == name {
            let mut v: Vec<f32> =
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            edit(t.shape(), &mut v);
            raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
        data.insert(n, (t.shape().to_vec(), raw));
    }
    assert!(data.contains_key(name), "no tensor {name}");
    let views: HashMap<&String, TensorView<'_>> =
        data.iter().map(|(n, (s, raw))| (n, TensorView::new(Dtype::F32, s.clone(), raw).unwrap())).collect();
    safetensors::serialize_to_file(views, None, &dst.join("model.safetensors")).unwrap();
}

fn onnx_available() -> bool {
    #[cfg(feature = "onnx")]
    {
        match atlas_encoder::backend::onnx::find_ort_library() {
            Ok(_) => return true,
            Err(e) => atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, TEST, e),
        }
    }
    false
}

#[test]
fn mpnet_and_distilbert_match_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(reference) = make_models(tmp.path()) else { return };
    let expected: [(&str, Architecture); 3] = [
        ("mpnet", Architecture::MPNet),
        ("distilbert", Architecture::DistilBert),
        ("distilbert-sinusoidal", Architecture::DistilBert),
    ];
    assert_eq!(reference.embeddings.len(), expected.len());
    let onnx = onnx_available();
    let mut backends = vec![BackendKind::Candle];
    if onnx {
        backends.push(BackendKind::Onnx);
    }
    for (name, arch) in expected {
        let dir: PathBuf = tmp.path().join(name);
        assert_eq!(ModelFolder::open(&dir).unwrap().config().architecture, arch, "{name}");
        let theirs = &reference.embeddings[name];
        for &backend in &backends {
            let ours = embed(&dir, backend, &reference.texts);
            let c = min_cosine(&ours, theirs);
            eprintln!("{name} on {backend}: min cosine to PyTorch {c:.9} over {} texts", ours.len());
            assert!(c >= MIN_COSINE, "{name} on {backend}: min cosine {c} < {MIN_COSINE}");
        }
    }

    // The bar catches a wrong MPNet: without the relative-position bias ...
    let mpnet = tmp.path().join("mpnet");
    let theirs = &reference.embeddings["mpnet"];
    let no_bias = tmp.path().join("mpnet-no-bias");
    with_tensor_edited(&mpnet, &no_bias, "encoder.relative_attention_bias.weight", |_, v| v.fill(0.0));
    // ... or with positions 0, 1, ... instead of padding_idx + 1, ...: shifting the table by two rows makes
    // the (correct) code read at position p + 2 what a missing offset would read at p.
    let no_offset = tmp.path().join("mpnet-no-offset");
    with_tensor_edited(&mpnet, &no_offset, "embeddings.position_embeddings.weight", |shape, v| {
        let width = shape[1];
        v.copy_within(0..v.len() - 2 * width, 2 * width);
    });
    for (what, dir) in [("without the relative bias", &no_bias), ("without the position offset", &no_offset)]
    {
        for &backend in &backends {
            let c = min_cosine(&embed(dir, backend, &reference.texts), theirs);
            eprintln!("mpnet {what} on {backend}: min cosine {c:.6}");
            assert!(
                c < MIN_COSINE,
                "MPNet {what} on {backend} still reaches {c}: the test would not catch it"
            );
        }
    }
}
