//! The drift report: every test of a current window against a model's reference profile.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use atlas_model::LoadedModel;
use rand::seq::index::sample;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::domain::{dense_domain, text_domain, WordShift};
use crate::observe::{observe_with, Predict, Window};
use crate::profile::{
    accuracy, counts, ReferenceProfile, CATEGORY, CONFIDENCE, OOV_SHARE, PREDICTED, TEXT_WORDS,
};
use crate::stats::{
    chi2_critical, chi2_homogeneity, jensen_shannon, ks_two_sample, mmd_permutation, wasserstein_normed,
};
use crate::{MonitorError, MonitorParams};

/// Bins of the distribution plots.
const HISTOGRAM_BINS: usize = 30;

/// Same-distribution sample pairs drawn to measure the Jensen–Shannon noise floor.
const JS_NOISE_ROUNDS: usize = 50;

/// What a test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestGroup {
    /// The input texts' features (length, out-of-vocabulary share, category prior).
    Input,
    /// The model's outputs (predicted category, confidence).
    Prediction,
    /// The texts themselves (TF-IDF domain classifier).
    Text,
    /// The embeddings (domain classifier, MMD).
    Embedding,
    /// Accuracy on labelled current papers.
    Accuracy,
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftTest {
    /// The feature tested (`text_words`, `predicted_category`, `text`, `embedding` …).
    pub feature: String,
    /// What kind of signal it is.
    pub group: TestGroup,
    /// The method: `ks`, `wasserstein`, `chi2`, `jensen_shannon`, `domain_classifier_auc`, `mmd`,
    /// `accuracy_drop`.
    pub method: String,
    /// The test's score: an effect size, or (χ²) the statistic, whose verdict also needs the Jensen–Shannon
    /// effect size of the same feature.
    pub score: f64,
    /// The threshold `score` is compared with (from the `monitor` section of the configuration; for χ² the
    /// critical value at `monitor.p_value`).
    pub threshold: f64,
    /// p-value, for tests that have one.
    pub p_value: Option<f64>,
    /// Reference rows the test used.
    pub n_reference: usize,
    /// Current rows the test used.
    pub n_current: usize,
    /// Whether this test reports drift.
    pub drift: bool,
}

/// Distribution of a numeric feature on both sides, over shared bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The feature.
    pub feature: String,
    /// Bin edges (`bins + 1` values).
    pub edges: Vec<f64>,
    /// Share of reference rows per bin.
    pub reference: Vec<f64>,
    /// Share of current rows per bin.
    pub current: Vec<f64>,
}

/// A category whose share differs between reference and current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryShift {
    /// `category` (the papers' own) or `predicted_category`.
    pub feature: String,
    /// The category code.
    pub category: String,
    /// Its share among reference rows.
    pub reference_share: f64,
    /// Its share among current rows.
    pub current_share: f64,
}

/// Where a report's predictions (predicted category, confidence) came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionSource {
    /// The request log's: what the server answered, made by the same model version as the one loaded.
    Logged,
    /// Computed by the report (papers of a file, or logged answers that could not be used: see
    /// [`DriftReport::predictions_reason`]).
    #[default]
    Recomputed,
}

/// A drift report: every test, the plots' data and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Model version (`experiment@run`).
    pub model: String,
    /// Where the reference came from.
    pub reference_source: String,
    /// Where the current window came from.
    pub current_source: String,
    /// Reference texts profiled.
    pub n_reference: usize,
    /// Current texts.
    pub n_current: usize,
    /// Whether any test reports drift.
    pub drift: bool,
    /// `feature/method` of every test that reports drift.
    pub drifted: Vec<String>,
    /// Every test.
    pub tests: Vec<DriftTest>,
    /// Distributions of the numeric features.
    pub histograms: Vec<Histogram>,
    /// Categories whose share moved most (per categorical feature).
    pub categories: Vec<CategoryShift>,
    /// Words the TF-IDF domain classifier leaned on most.
    pub words: Vec<WordShift>,
    /// Accuracy on the reference papers, when known.
    pub reference_accuracy: Option<f64>,
    /// Accuracy on the current papers, when they have labels.
    pub current_accuracy: Option<f64>,
    /// Seconds per phase (`observe`, `tests`, `text_domain`, `embedding`).
    pub timings: BTreeMap<String, f64>,
    /// Whether the prediction tests used the server's logged answers or predictions computed here. The text
    /// tests (lengths, out-of-vocabulary shares, the TF-IDF domain classifier) always read the texts, and an
    /// embedding model always embeds them (the log keeps no vectors).
    #[serde(default)]
    pub predictions: PredictionSource,
    /// Why the predictions were recomputed (`None` when logged).
    #[serde(default)]
    pub predictions_reason: Option<String>,
}

/// Compares `current` with the model's reference `profile`.
pub fn drift(
    model: &LoadedModel,
    profile: &ReferenceProfile,
    current: &Window,
    params: &MonitorParams,
) -> Result<DriftReport, MonitorError> {
    if current.texts.is_empty() {
        return Err(MonitorError::Invalid(format!("{}: no texts to compare", current.source)));
    }
    if profile.model_kind != model.predictor.kind() {
        return Err(MonitorError::Invalid(format!(
            "the drift profile was built for a {} model, but {} holds a {} model; rebuild it with `drift profile`",
            profile.model_kind,
            model.dir.display(),
            model.predictor.kind()
        )));
    }
    let mut timings = BTreeMap::new();
    let t = Instant::now();
    let logged = usable_logged_predictions(model, profile, current);
    let obs = match &logged {
        Ok(logged) => {
            let mut obs = observe_with(model, &current.texts, profile.vocabulary.as_ref(), Predict::Skip)?;
            (obs.predicted, obs.confidence) =
                logged.iter().map(|p| (p.category.clone(), p.confidence)).unzip();
            obs
        }
        Err(_) => {
            // The confidences must be the same quantity as the profile's.
            let predict = if profile.calibrated_confidence { Predict::Calibrated } else { Predict::Raw };
            observe_with(model, &current.texts, profile.vocabulary.as_ref(), predict)?
        }
    };
    timings.insert("observe".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut tests = Vec::new();
    let mut histograms = Vec::new();
    let numeric: [(&str, &[f64], TestGroup); 3] = [
        (TEXT_WORDS, &obs.words, TestGroup::Input),
        (OOV_SHARE, &obs.oov, TestGroup::Input),
        (CONFIDENCE, &obs.confidence, TestGroup::Prediction),
    ];
    for (feature, cur, group) in numeric {
        let Some(reference) = profile.numeric.get(feature).filter(|_| !cur.is_empty()) else { continue };
        numeric_tests(feature, group, reference, cur, params, &mut tests);
        histograms.push(histogram(feature, reference, cur));
    }
    let mut categories = Vec::new();
    let current_labels = current.labels.as_ref().map(|l| counts(l));
    let categorical = [
        (PREDICTED, Some(counts(&obs.predicted)), TestGroup::Prediction),
        (CATEGORY, current_labels, TestGroup::Input),
    ];
    for (feature, cur, group) in categorical {
        let (Some(reference), Some(cur)) = (profile.categorical.get(feature), cur) else { continue };
        categories.extend(categorical_tests(feature, group, reference, &cur, params, &mut tests));
    }
    let current_accuracy = current.labels.as_ref().map(|l| accuracy(&obs.predicted, l));
    if let (Some(r), Some(c)) = (profile.accuracy, current_accuracy) {
        let drop = r - c;
        tests.push(DriftTest {
            feature: "accuracy".into(),
            group: TestGroup::Accuracy,
            method: "accuracy_drop".into(),
            score: drop,
            threshold: params.accuracy_drop,
            p_value: None,
            n_reference: profile.n,
            n_current: current.texts.len(),
            drift: drop >= params.accuracy_drop,
        });
    }
    timings.insert("tests".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let text = text_domain(
        &profile.texts,
        &current.texts,
        params.domain_sample,
        params.folds,
        params.top_words,
        params.seed,
    )?;
    tests.push(DriftTest {
        feature: "text".into(),
        group: TestGroup::Text,
        method: "domain_classifier_auc".into(),
        score: text.auc,
        threshold: params.text_auc,
        p_value: None,
        n_reference: text.per_side,
        n_current: text.per_side,
        drift: text.auc >= params.text_auc,
    });
    timings.insert("text_domain".to_string(), t.elapsed().as_secs_f64());

    if let (Some(emb), Some((x, _))) = (&profile.embeddings, &obs.embeddings) {
        let t = Instant::now();
        embedding_tests(emb, x, params, &mut tests);
        timings.insert("embedding".to_string(), t.elapsed().as_secs_f64());
    }

    let drifted: Vec<String> =
        tests.iter().filter(|t| t.drift).map(|t| format!("{}/{}", t.feature, t.method)).collect();
    Ok(DriftReport {
        model: model.version(),
        reference_source: profile.source.clone(),
        current_source: current.source.clone(),
        n_reference: profile.n,
        n_current: current.texts.len(),
        drift: !drifted.is_empty(),
        drifted,
        tests,
        histograms,
        categories,
        words: text.words,
        reference_accuracy: profile.accuracy,
        current_accuracy,
        timings,
        predictions: if logged.is_ok() { PredictionSource::Logged } else { PredictionSource::Recomputed },
        predictions_reason: logged.err(),
    })
}

/// The window's logged predictions when they measure what a recomputation would: one per text, every one
/// made by the loaded model's version, with confidences of the profile's kind (calibrated). Otherwise why not.
fn usable_logged_predictions<'w>(
    model: &LoadedModel,
    profile: &ReferenceProfile,
    current: &'w Window,
) -> Result<&'w [crate::LoggedPrediction], String> {
    let Some(logged) = &current.predictions else {
        return Err("the window has no logged predictions".into());
    };
    if logged.len() != current.texts.len() {
        return Err(format!("{} logged predictions for {} texts", logged.len(), current.texts.len()));
    }
    let missing = logged.iter().filter(|p| p.category.is_empty() || !p.confidence.is_finite()).count();
    if missing > 0 {
        return Err(format!("{missing} logged requests have no prediction"));
    }
    let version = model.version();
    if let Some(p) = logged.iter().find(|p| p.model_version != version) {
        let other = logged.iter().filter(|p| p.model_version != version).count();
        return Err(format!(
            "{other} of {} logged predictions were made by another model ({:?}, loaded: {version:?})",
            logged.len(),
            p.model_version
        ));
    }
    // Temperature scaling keeps the top category but changes its probability: a format-1 profile's
    // confidences are comparable with the logged (calibrated) ones only when the temperature is 1.
    if !profile.calibrated_confidence && model.temperature() != 1.0 {
        return Err(
            "the drift profile holds uncalibrated confidences (format 1); rebuild it with `drift profile`"
                .into(),
        );
    }
    Ok(logged)
}

/// KS (gated on D and p) and normed Wasserstein of one numeric feature.
fn numeric_tests(
    feature: &str,
    group: TestGroup,
    reference: &[f64],
    current: &[f64],
    params: &MonitorParams,
    tests: &mut Vec<DriftTest>,
) {
    let (d, p) = ks_two_sample(reference, current);
    let w = wasserstein_normed(reference, current);
    let base = DriftTest {
        feature: feature.to_string(),
        group,
        method: "ks".into(),
        score: d,
        threshold: params.ks_statistic,
        p_value: Some(p),
        n_reference: reference.len(),
        n_current: current.len(),
        drift: d >= params.ks_statistic && p < params.p_value,
    };
    tests.push(DriftTest {
        method: "wasserstein".into(),
        score: w,
        threshold: params.wasserstein,
        p_value: None,
        drift: w >= params.wasserstein,
        ..base.clone()
    });
    tests.insert(tests.len() - 1, base);
}

/// χ² and Jensen–Shannon of one categorical feature; returns the categories that moved most.
fn categorical_tests(
    feature: &str,
    group: TestGroup,
    reference: &BTreeMap<String, u64>,
    current: &BTreeMap<String, u64>,
    params: &MonitorParams,
    tests: &mut Vec<DriftTest>,
) -> Vec<CategoryShift> {
    let keys: BTreeSet<&String> = reference.keys().chain(current.keys()).collect();
    let get = |m: &BTreeMap<String, u64>, k: &String| m.get(k).copied().unwrap_or(0) as f64;
    let r: Vec<f64> = keys.iter().map(|k| get(reference, k)).collect();
    let c: Vec<f64> = keys.iter().map(|k| get(current, k)).collect();
    let (stat, df, p) = chi2_homogeneity(&r, &c);
    let js = jensen_shannon(&r, &c, JS_NOISE_ROUNDS, params.seed);
    let (nr, nc) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
    // χ² alone flags any difference once the window is large, and a small window's noise looks like a large
    // Jensen–Shannon distance: both tests need a significant difference *and* a large debiased distance.
    let big = js.distance >= params.jensen_shannon && js.p_value < params.p_value;
    let base = DriftTest {
        feature: feature.to_string(),
        group,
        method: "chi2".into(),
        score: stat,
        threshold: chi2_critical(df, params.p_value),
        p_value: Some(p),
        n_reference: nr as usize,
        n_current: nc as usize,
        drift: big && p < params.p_value,
    };
    tests.push(base.clone());
    tests.push(DriftTest {
        method: "jensen_shannon".into(),
        score: js.distance,
        threshold: params.jensen_shannon,
        p_value: Some(js.p_value),
        drift: big,
        ..base
    });
    let mut moved: Vec<CategoryShift> = keys
        .iter()
        .zip(r.iter().zip(&c))
        .map(|(k, (&a, &b))| CategoryShift {
            feature: feature.to_string(),
            category: (*k).clone(),
            reference_share: a / nr.max(1.0),
            current_share: b / nc.max(1.0),
        })
        .collect();
    moved.sort_by(|a, b| {
        (b.current_share - b.reference_share).abs().total_cmp(&(a.current_share - a.reference_share).abs())
    });
    moved.truncate(params.top_words);
    moved
}

/// Domain-classifier AUC and MMD on the PCA projection of the embeddings.
fn embedding_tests(
    emb: &crate::profile::EmbeddingProfile,
    current: &[f32],
    params: &MonitorParams,
    tests: &mut Vec<DriftTest>,
) {
    let k = emb.pca.k();
    let projected = emb.pca.project(current);
    let domain = dense_domain(&emb.projected, &projected, k, params.domain_sample, params.folds, params.seed);
    tests.push(DriftTest {
        feature: "embedding".into(),
        group: TestGroup::Embedding,
        method: "domain_classifier_auc".into(),
        score: domain.auc,
        threshold: params.embedding_auc,
        p_value: None,
        n_reference: domain.per_side,
        n_current: domain.per_side,
        drift: domain.auc >= params.embedding_auc,
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
    let mut subsample = |x: &[f32]| -> Vec<f32> {
        let n = x.len() / k;
        let take = n.min(params.mmd_sample);
        let mut idx = sample(&mut rng, n, take).into_vec();
        idx.sort_unstable();
        idx.iter().flat_map(|&i| x[i * k..(i + 1) * k].iter().copied()).collect()
    };
    let (a, b) = (subsample(&emb.projected), subsample(&projected));
    let mmd = mmd_permutation(&a, &b, k, params.permutations, params.seed);
    tests.push(DriftTest {
        feature: "embedding".into(),
        group: TestGroup::Embedding,
        method: "mmd".into(),
        score: mmd.mmd2,
        threshold: params.mmd,
        p_value: Some(mmd.p_value),
        n_reference: a.len() / k,
        n_current: b.len() / k,
        drift: mmd.mmd2 >= params.mmd && mmd.p_value < params.p_value,
    });
}

/// Shares of both samples over bins spanning the reference's 0.5–99.5 % range (outliers go to the end bins).
fn histogram(feature: &str, reference: &[f64], current: &[f64]) -> Histogram {
    let mut sorted: Vec<f64> = reference.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let (lo, mut hi) = (q(0.005), q(0.995));
    if hi <= lo {
        hi = lo + 1.0;
    }
    let width = (hi - lo) / HISTOGRAM_BINS as f64;
    let shares = |x: &[f64]| {
        let mut h = vec![0f64; HISTOGRAM_BINS];
        for &v in x {
            let b = (((v - lo) / width).floor().max(0.0) as usize).min(HISTOGRAM_BINS - 1);
            h[b] += 1.0;
        }
        let n = x.len().max(1) as f64;
        h.iter_mut().for_each(|v| *v /= n);
        h
    };
    Histogram {
        feature: feature.to_string(),
        edges: (0..=HISTOGRAM_BINS).map(|i| lo + width * i as f64).collect(),
        reference: shares(reference),
        current: shares(current),
    }
}
