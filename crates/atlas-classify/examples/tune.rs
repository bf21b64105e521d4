//! Trains the TF-IDF + softmax-regression classifier on a split TSV file and reports accuracy, macro-F1
//! and timings: the tool used to choose the defaults of `TfidfParams` / `LinearParams`.
//!
//! ```text
//! cargo run --release -p atlas-classify --example tune -- DATA.tsv [--test] [--save DIR] [key=value …]
//! ```
//!
//! `DATA.tsv` has one paper per line: `split<TAB>label<TAB>text`, split being `train`, `validation` or
//! `test`. The model is trained on `train`, early-stopped on `validation`; test figures are printed only
//! with `--test` (choose settings on validation, then look at test once). `key=value` overrides any field
//! of `TfidfParams` (prefix `tfidf.`) or `LinearParams` (prefix `linear.`), e.g. `linear.learning_rate=0.3`
//! or `tfidf.max_features=null`.

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use atlas_classify::{Classifier, Labels, LinearParams, TfidfLinearModel, TfidfParams};
use clap::Parser;

mod common;

use common::macro_f1;

struct Split {
    texts: Vec<String>,
    labels: Vec<String>,
}

/// Trains the TF-IDF classifier on a split TSV file and reports accuracy, macro-F1 and timings.
#[derive(Parser)]
struct Args {
    /// One paper a line: split<TAB>label<TAB>text.
    data: PathBuf,
    /// Also print the test figures.
    #[arg(long)]
    test: bool,
    /// Save the model into this folder (and time loading it back).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Settings: tfidf.<field>=<value> or linear.<field>=<value> (JSON values).
    overrides: Vec<String>,
}

fn main() -> Result<(), Box<dyn Error>> {
    common::init_logging();
    let args = Args::parse();
    let (path, show_test, save) = (args.data, args.test, args.save);
    let (mut tfidf, mut linear) = (TfidfParams::default(), LinearParams::default());
    for kv in &args.overrides {
        match common::split_override(kv)? {
            ("tfidf", field, value) => common::set_field(&mut tfidf, field, value)?,
            ("linear", field, value) => common::set_field(&mut linear, field, value)?,
            (section, ..) => return Err(format!("unknown section {section} (tfidf or linear)").into()),
        }
    }
    eprintln!("tfidf: {tfidf:?}\nlinear: {linear:?}");

    let t = Instant::now();
    let raw = std::fs::read_to_string(&path)?;
    let mut splits: HashMap<&str, Split> = HashMap::new();
    for (n, line) in raw.lines().enumerate() {
        let mut parts = line.splitn(3, '\t');
        let (Some(split), Some(label), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{}:{}: expected split<TAB>label<TAB>text", path.display(), n + 1).into());
        };
        let s = splits.entry(split).or_insert_with(|| Split { texts: Vec::new(), labels: Vec::new() });
        s.texts.push(text.to_string());
        s.labels.push(label.to_string());
    }
    let empty = Split { texts: Vec::new(), labels: Vec::new() };
    let train = splits.get("train").ok_or("no train rows")?;
    let valid = splits.get("validation").unwrap_or(&empty);
    let test = splits.get("test").unwrap_or(&empty);
    eprintln!(
        "read {} train / {} validation / {} test rows in {:.1}s",
        train.texts.len(),
        valid.texts.len(),
        test.texts.len(),
        t.elapsed().as_secs_f64()
    );

    // Classes = the training labels (sorted); evaluation labels unseen in training get extra ids so they
    // count as errors and as classes of macro-F1, as scikit-learn's f1_score does.
    let mut codes: Vec<String> = train.labels.clone();
    codes.sort_unstable();
    codes.dedup();
    let mut index: HashMap<String, usize> = codes.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
    let n_train_classes = codes.len();
    for l in valid.labels.iter().chain(&test.labels) {
        let next = index.len();
        index.entry(l.clone()).or_insert(next);
    }
    let ids = |s: &Split| -> Vec<usize> { s.labels.iter().map(|l| index[l]).collect() };
    let labels = Labels { codes: codes.clone(), names: codes.clone() };
    let train_refs: Vec<&str> = train.texts.iter().map(String::as_str).collect();
    let train_y: Vec<u32> = ids(train).iter().map(|&c| c as u32).collect();
    // Early stopping sees only validation papers of known classes.
    let (valid_refs, valid_y): (Vec<&str>, Vec<u32>) = valid
        .texts
        .iter()
        .zip(ids(valid))
        .filter(|(_, c)| *c < n_train_classes)
        .map(|(t, c)| (t.as_str(), c as u32))
        .unzip();

    let t = Instant::now();
    let (model, report) = TfidfLinearModel::train(
        &train_refs,
        &train_y,
        (!valid_refs.is_empty()).then_some((valid_refs.as_slice(), valid_y.as_slice())),
        labels,
        &tfidf,
        &linear,
        &mut |e| common::print_epoch("epoch", e),
    )?;
    let train_s = t.elapsed().as_secs_f64();
    println!(
        "train: {train_s:.1}s (vectorize {:.1}s + fit {:.1}s), {} features, {} epochs, best epoch {}",
        report.vectorize_s, report.fit_s, report.n_features, report.epochs_run, report.best_epoch
    );

    let eval = |name: &str, s: &Split| {
        if s.texts.is_empty() {
            return;
        }
        let refs: Vec<&str> = s.texts.iter().map(String::as_str).collect();
        let t = Instant::now();
        let probs = model.predict_proba(&refs);
        let secs = t.elapsed().as_secs_f64();
        let pred = probs.argmax();
        let truth = ids(s);
        let acc = truth.iter().zip(&pred).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64;
        let top3 = (0..truth.len()).filter(|&i| probs.top_k(i, 3).iter().any(|&(c, _)| c == truth[i])).count()
            as f64
            / truth.len() as f64;
        let f1 = macro_f1(&truth, &pred, index.len());
        println!(
            "{name}: accuracy {acc:.4}  macro-F1 {f1:.4}  top-3 {top3:.4}  (n = {}, predict {secs:.2}s)",
            truth.len()
        );
    };
    eval("validation", valid);
    if show_test {
        eval("test", test);
    }
    if let Some(dir) = save {
        let t = Instant::now();
        model.save(&dir)?;
        let save_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let loaded = atlas_classify::load_classifier(&dir)?;
        let load_s = t.elapsed().as_secs_f64();
        let one = [train_refs[0]];
        let t = Instant::now();
        let n = 200;
        for i in 0..n {
            let text = [valid_refs.get(i).copied().unwrap_or(one[0])];
            std::hint::black_box(loaded.predict_proba(&text));
        }
        println!(
            "save {save_s:.2}s, load {load_s:.2}s, single-text predict {:.3} ms/text (mean of {n})",
            t.elapsed().as_secs_f64() * 1000.0 / n as f64
        );
    }
    Ok(())
}
