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

struct Split {
    texts: Vec<String>,
    labels: Vec<String>,
}

/// sklearn-style macro-F1: the mean F1 over every class that occurs in `truth` or `pred`.
fn macro_f1(truth: &[usize], pred: &[usize], n: usize) -> f64 {
    let (mut tp, mut fp, mut fn_) = (vec![0usize; n], vec![0usize; n], vec![0usize; n]);
    for (&t, &p) in truth.iter().zip(pred) {
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

/// Sets `section.key = value` (value parsed as JSON, or taken as a string) on the params via serde.
fn apply_override(
    tfidf: &mut TfidfParams,
    linear: &mut LinearParams,
    kv: &str,
) -> Result<(), Box<dyn Error>> {
    let (key, value) = kv.split_once('=').ok_or_else(|| format!("expected key=value, got {kv}"))?;
    let value: serde_json::Value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    let set = |json: serde_json::Value, field: &str| -> Result<serde_json::Value, Box<dyn Error>> {
        let mut json = json;
        json.as_object_mut().ok_or("params are not an object")?.insert(field.into(), value.clone());
        Ok(json)
    };
    match key.split_once('.') {
        Some(("tfidf", f)) => *tfidf = serde_json::from_value(set(serde_json::to_value(&*tfidf)?, f)?)?,
        Some(("linear", f)) => *linear = serde_json::from_value(set(serde_json::to_value(&*linear)?, f)?)?,
        _ => return Err(format!("unknown setting {key} (use tfidf.<field> or linear.<field>)").into()),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    // Library logs (e.g. the TF-IDF size) with RUST_LOG=info; quiet by default.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: tune DATA.tsv [--test] [--save DIR] [key=value …]")?);
    let (mut tfidf, mut linear) = (TfidfParams::default(), LinearParams::default());
    let (mut show_test, mut save) = (false, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--test" => show_test = true,
            "--save" => save = Some(PathBuf::from(args.next().ok_or("--save needs a folder")?)),
            kv => apply_override(&mut tfidf, &mut linear, kv)?,
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
        &mut |e| {
            eprintln!(
                "epoch {:>2}: train loss {:.4}  valid loss {:.4}  valid acc {:.4}  ({:.1}s)",
                e.epoch,
                e.train_loss,
                e.valid_loss.unwrap_or(f64::NAN),
                e.valid_accuracy.unwrap_or(f64::NAN),
                e.seconds
            )
        },
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
