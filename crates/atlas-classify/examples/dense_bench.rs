//! Trains an embedding head on a synthetic stand-in for the arXiv MiniLM embeddings and reports accuracy,
//! macro-F1 and timings: the tool used to choose the defaults of `EmbeddingLrParams` /
//! `EmbeddingMlpParams` and to measure speed.
//!
//! ```text
//! cargo run --release -p atlas-classify --example dense_bench -- lr|mlp [--planted SCALE] [--train N]
//!     [--test] [--dump DIR] [key=value …]
//! ```
//!
//! The default problem is `ClusterSpec::arxiv_like()` (384 dimensions, 172 classes) with 80,281 training,
//! 9,845 validation and 9,874 test rows, the sizes of the arxiv-100k splits. `--planted SCALE` uses a
//! planted logistic model instead and also prints its Bayes accuracy. `key=value` overrides a field of
//! `EmbeddingLrParams` (prefix `lr.`), `EmbeddingMlpParams` (prefix `mlp.`) or `ClusterSpec` (prefix
//! `spec.`, numbers only), e.g. `lr.solver=adam`, `mlp.hidden=1024`, `spec.noise=2.0`. `--dump DIR` also
//! writes the three splits as raw little-endian files (`train.x.f32`, `train.y.u32`, …; read them with
//! `numpy.fromfile`) to compare other implementations on the same data.

use std::error::Error;
use std::time::Instant;

use atlas_classify::synthetic::{ClusterProblem, ClusterSpec, PlantedLogistic};
use atlas_classify::{DenseHead, EmbeddingLrParams, EmbeddingMlpParams, Labels, Probabilities};

/// sklearn-style macro-F1: the mean F1 over every class that occurs in `truth` or `pred`.
fn macro_f1(truth: &[u32], pred: &[usize], n: usize) -> f64 {
    let (mut tp, mut fp, mut fn_) = (vec![0usize; n], vec![0usize; n], vec![0usize; n]);
    for (&t, &p) in truth.iter().zip(pred) {
        let t = t as usize;
        if t == p {
            tp[t] += 1;
        } else {
            fp[p] += 1;
            fn_[t] += 1;
        }
    }
    let present: Vec<usize> = (0..n).filter(|&c| tp[c] + fp[c] + fn_[c] > 0).collect();
    let f1 = |c: usize| {
        let d = 2 * tp[c] + fp[c] + fn_[c];
        if d == 0 {
            0.0
        } else {
            2.0 * tp[c] as f64 / d as f64
        }
    };
    present.iter().map(|&c| f1(c)).sum::<f64>() / present.len().max(1) as f64
}

/// Sets `field = value` on serialisable params (value parsed as JSON, or taken as a string).
fn set_field<T: serde::Serialize + serde::de::DeserializeOwned>(
    params: &mut T,
    field: &str,
    value: &str,
) -> Result<(), Box<dyn Error>> {
    let value: serde_json::Value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    let mut json = serde_json::to_value(&*params)?;
    json.as_object_mut().ok_or("params are not an object")?.insert(field.into(), value);
    *params = serde_json::from_value(json)?;
    Ok(())
}

fn set_spec(spec: &mut ClusterSpec, field: &str, value: &str) -> Result<(), Box<dyn Error>> {
    let v: f64 = value.parse()?;
    match field {
        "dim" => spec.dim = v as usize,
        "n_classes" => spec.n_classes = v as usize,
        "n_groups" => spec.n_groups = v as usize,
        "group_weight" => spec.group_weight = v as f32,
        "modes" => spec.modes = v as usize,
        "mode_spread" => spec.mode_spread = v as f32,
        "offset" => spec.offset = v as f32,
        "noise" => spec.noise = v as f32,
        "label_noise" => spec.label_noise = v as f32,
        "zipf" => spec.zipf = v as f32,
        _ => return Err(format!("unknown spec field {field}").into()),
    }
    Ok(())
}

fn report(name: &str, p: &Probabilities, y: &[u32], k: usize) {
    let pred = p.argmax();
    let acc = y.iter().zip(&pred).filter(|(&t, &p)| t as usize == p).count() as f64 / y.len() as f64;
    let top3 = (0..y.len()).filter(|&i| p.top_k(i, 3).iter().any(|&(c, _)| c == y[i] as usize)).count()
        as f64
        / y.len() as f64;
    println!("{name}: accuracy {acc:.4}  macro-F1 {:.4}  top-3 {top3:.4}", macro_f1(y, &pred, k));
}

fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let mut args = std::env::args().skip(1);
    let head = args
        .next()
        .ok_or("usage: dense_bench lr|mlp [--planted SCALE] [--train N] [--test] [key=value …]")?;
    let (mut lr, mut mlp, mut spec) =
        (EmbeddingLrParams::default(), EmbeddingMlpParams::default(), ClusterSpec::arxiv_like());
    let (mut planted, mut n_train, mut show_test, mut dump) = (None, 80_281usize, false, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--planted" => planted = Some(args.next().ok_or("--planted needs a scale")?.parse::<f32>()?),
            "--train" => n_train = args.next().ok_or("--train needs a count")?.parse()?,
            "--test" => show_test = true,
            "--dump" => dump = Some(std::path::PathBuf::from(args.next().ok_or("--dump needs a folder")?)),
            kv => {
                let (key, value) =
                    kv.split_once('=').ok_or_else(|| format!("expected key=value, got {kv}"))?;
                match key.split_once('.') {
                    Some(("lr", f)) => set_field(&mut lr, f, value)?,
                    Some(("mlp", f)) => set_field(&mut mlp, f, value)?,
                    Some(("spec", f)) => set_spec(&mut spec, f, value)?,
                    _ => return Err(format!("unknown setting {key} (lr.*, mlp.* or spec.*)").into()),
                }
            }
        }
    }
    let (n_valid, n_test) = (9_845, 9_874);
    let t = Instant::now();
    let (dim, k, train, valid, test) = match planted {
        Some(scale) => {
            let m = PlantedLogistic::new(spec.dim, spec.n_classes, scale, 7);
            let (a, b, c) = (m.sample(n_train, 1), m.sample(n_valid, 2), m.sample(n_test, 3));
            println!("planted logistic model: Bayes accuracy on test {:.4}", c.bayes_accuracy);
            (spec.dim, spec.n_classes, (a.x, a.y), (b.x, b.y), (c.x, c.y))
        }
        None => {
            let m = ClusterProblem::new(spec.clone(), 7);
            (spec.dim, spec.n_classes, m.sample(n_train, 1), m.sample(n_valid, 2), m.sample(n_test, 3))
        }
    };
    eprintln!(
        "generated {n_train} + {n_valid} + {n_test} rows of {dim} dims, {k} classes in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    if let Some(dir) = &dump {
        std::fs::create_dir_all(dir)?;
        for (name, (x, y)) in [("train", &train), ("valid", &valid), ("test", &test)] {
            let xb: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{name}.x.f32")), xb)?;
            let yb: Vec<u8> = y.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("{name}.y.u32")), yb)?;
        }
        eprintln!("wrote the splits to {} ({dim} values per row)", dir.display());
    }
    let labels = Labels {
        codes: (0..k).map(|c| format!("c{c}")).collect(),
        names: (0..k).map(|c| format!("class {c}")).collect(),
    };
    let mut observer = |e: &atlas_classify::EpochStats| {
        eprintln!(
            "step {:>3}: train loss {:.4}  valid loss {:.4}  valid acc {:.4}  ({:.2}s)",
            e.epoch,
            e.train_loss,
            e.valid_loss.unwrap_or(f64::NAN),
            e.valid_accuracy.unwrap_or(f64::NAN),
            e.seconds
        )
    };
    let valid_ref = Some((valid.0.as_slice(), valid.1.as_slice()));
    let t = Instant::now();
    let (model, rep) = match head.as_str() {
        "lr" => {
            eprintln!("{lr:?}");
            DenseHead::train_lr(&train.0, dim, &train.1, valid_ref, labels, &lr, &mut observer)?
        }
        "mlp" => {
            eprintln!("{mlp:?}");
            DenseHead::train_mlp(&train.0, dim, &train.1, valid_ref, labels, &mlp, &mut observer)?
        }
        other => return Err(format!("unknown head {other} (lr or mlp)").into()),
    };
    println!(
        "{head}: fit {:.1}s (wall {:.1}s), {} steps, best step {}",
        rep.fit_s,
        t.elapsed().as_secs_f64(),
        rep.epochs_run,
        rep.best_epoch
    );
    let t = Instant::now();
    let pv = model.predict_proba_dense(&valid.0);
    let predict_s = t.elapsed().as_secs_f64();
    report("validation", &pv, &valid.1, k);
    println!("predict {} rows: {predict_s:.3}s", valid.1.len());
    if show_test {
        report("test", &model.predict_proba_dense(&test.0), &test.1, k);
    }
    Ok(())
}
