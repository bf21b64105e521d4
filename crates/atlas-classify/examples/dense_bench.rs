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
use std::path::PathBuf;
use std::time::Instant;

use atlas_classify::synthetic::{ClusterProblem, ClusterSpec, PlantedLogistic};
use atlas_classify::{DenseHead, EmbeddingLrParams, EmbeddingMlpParams, Labels, Probabilities};
use clap::Parser;

mod common;

/// Which head to train.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Head {
    /// Logistic regression (`lr.*` settings).
    Lr,
    /// One-hidden-layer perceptron (`mlp.*` settings).
    Mlp,
}

/// Trains an embedding head on a synthetic stand-in for the arXiv MiniLM embeddings.
#[derive(Parser)]
struct Args {
    head: Head,
    /// Use a planted logistic model of this weight scale instead of the cluster problem.
    #[arg(long)]
    planted: Option<f32>,
    /// Training rows.
    #[arg(long, default_value_t = 80_281)]
    train: usize,
    /// Also print the test figures.
    #[arg(long)]
    test: bool,
    /// Write the three splits as raw little-endian files into this folder.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Settings: lr.<field>=<value>, mlp.<field>=<value> (JSON values) or spec.<field>=<number>.
    overrides: Vec<String>,
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
    let truth: Vec<usize> = y.iter().map(|&c| c as usize).collect();
    let acc = truth.iter().zip(&pred).filter(|(t, p)| t == p).count() as f64 / y.len() as f64;
    let top3 = (0..y.len()).filter(|&i| p.top_k(i, 3).iter().any(|&(c, _)| c == truth[i])).count() as f64
        / y.len() as f64;
    println!(
        "{name}: accuracy {acc:.4}  macro-F1 {:.4}  top-3 {top3:.4}",
        common::macro_f1(&truth, &pred, k)
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let args = Args::parse();
    let (mut lr, mut mlp, mut spec) =
        (EmbeddingLrParams::default(), EmbeddingMlpParams::default(), ClusterSpec::arxiv_like());
    let (planted, n_train, show_test, dump) = (args.planted, args.train, args.test, args.dump);
    for kv in &args.overrides {
        match common::split_override(kv)? {
            ("lr", field, value) => common::set_field(&mut lr, field, value)?,
            ("mlp", field, value) => common::set_field(&mut mlp, field, value)?,
            ("spec", field, value) => set_spec(&mut spec, field, value)?,
            (section, ..) => return Err(format!("unknown section {section} (lr, mlp or spec)").into()),
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
    let mut observer = |e: &atlas_classify::EpochStats| common::print_epoch("step", e);
    let valid_ref = Some((valid.0.as_slice(), valid.1.as_slice()));
    let t = Instant::now();
    let (model, rep) = match args.head {
        Head::Lr => {
            eprintln!("{lr:?}");
            DenseHead::train_lr(&train.0, dim, &train.1, valid_ref, labels, &lr, &mut observer)?
        }
        Head::Mlp => {
            eprintln!("{mlp:?}");
            DenseHead::train_mlp(&train.0, dim, &train.1, valid_ref, labels, &mlp, &mut observer)?
        }
    };
    let head = match args.head {
        Head::Lr => "lr",
        Head::Mlp => "mlp",
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
