//! What the examples of this crate share: logging, `section.field=value` overrides of settings, macro-F1.

use std::error::Error;

/// Library logs on stderr, chosen with `RUST_LOG` (e.g. `RUST_LOG=info`); quiet by default.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Prints one epoch's (or L-BFGS step's) figures on stderr: the examples' training observer.
pub fn print_epoch(unit: &str, e: &atlas_classify::EpochStats) {
    eprintln!(
        "{unit} {:>3}: train loss {:.4}  valid loss {:.4}  valid acc {:.4}  ({:.2}s)",
        e.epoch,
        e.train_loss,
        e.valid_loss.unwrap_or(f64::NAN),
        e.valid_accuracy.unwrap_or(f64::NAN),
        e.seconds
    )
}

/// Splits an override `section.field=value` into its three parts.
pub fn split_override(kv: &str) -> Result<(&str, &str, &str), Box<dyn Error>> {
    let (key, value) = kv.split_once('=').ok_or_else(|| format!("expected section.field=value, got {kv}"))?;
    let (section, field) = key.split_once('.').ok_or_else(|| format!("expected section.field, got {key}"))?;
    Ok((section, field, value))
}

/// Sets `field = value` on serialisable settings, through serde: the value is parsed as JSON (so `null`,
/// numbers and booleans work), or taken as a string.
pub fn set_field<T: serde::Serialize + serde::de::DeserializeOwned>(
    params: &mut T,
    field: &str,
    value: &str,
) -> Result<(), Box<dyn Error>> {
    let value: serde_json::Value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    let mut json = serde_json::to_value(&*params)?;
    let fields = json.as_object_mut().ok_or("the settings are not an object")?;
    if !fields.contains_key(field) {
        return Err(format!(
            "unknown setting {field} (known: {})",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        )
        .into());
    }
    fields.insert(field.into(), value);
    *params = serde_json::from_value(json)?;
    Ok(())
}

/// scikit-learn's macro-F1: the mean F1 over every class that occurs in `truth` or `pred` (class ids below
/// `n`).
pub fn macro_f1(truth: &[usize], pred: &[usize], n: usize) -> f64 {
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
