//! Ranked categories for papers: what `classify` prints and writes.

use std::path::Path;

use atlas_classify::NeighbourSource;
use atlas_corpus::Paper;
use atlas_model::LoadedModel;
use serde::{Deserialize, Serialize};

use crate::PipelineError;

/// One category with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryProbability {
    /// Category code, e.g. `cs.LG`.
    pub category: String,
    /// Its name from the taxonomy (the code when unknown).
    pub name: String,
    /// Probability.
    pub probability: f32,
}

/// The classification of one paper: one JSON line of `classify --input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// arXiv id, when the paper has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Most probable category.
    pub category: String,
    /// Its name.
    pub name: String,
    /// The `top_k` most probable categories, most probable first (calibrated probabilities).
    pub probabilities: Vec<CategoryProbability>,
    /// The coverage the category set was asked for (e.g. 0.9), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// The conformal category set at `coverage`, most probable first: on papers like the calibration
    /// papers, it holds the true primary category with probability at least `coverage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_set: Option<Vec<CategoryProbability>>,
    /// A multi-label model's label set: every category whose probability reaches its threshold (chosen per
    /// category on validation), plus the most probable one, most probable first. `None` for single-label
    /// models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_set: Option<Vec<CategoryProbability>>,
    /// Why the top categories rank high (`classify --explain`), one entry per category of `probabilities`,
    /// in the same order; `None` unless asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanations: Option<Vec<CategoryExplanation>>,
    /// With `--explain`, for a model with an embedding head: the training papers nearest to the paper,
    /// whatever their category, and whether their majority category is the predicted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<atlas_classify::NearestPapers>,
    /// With `--explain`: what could not be explained and why (an embedding model trained before training
    /// papers were stored with it has no supporting papers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_note: Option<String>,
}

/// What supports one category of a classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryExplanation {
    /// Category code.
    pub category: String,
    /// The paper's terms that raised the category's score most (TF-IDF value × the model's weight, all
    /// positive), largest first; empty for a model without a TF-IDF part.
    pub terms: Vec<atlas_classify::TermContribution>,
    /// The labelled training papers of this category nearest to the paper, nearest first; empty for a
    /// model without an embedding head (or one saved without its training papers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<atlas_classify::SupportingPaper>,
}

/// Terms per category that [`explain_classifications`] lists.
pub const EXPLAIN_TERMS: usize = 8;

/// Supporting training papers per category that [`explain_classifications`] lists.
pub const EXPLAIN_NEIGHBOURS: usize = 3;

/// Nearest training papers (any category) whose majority [`explain_classifications`] compares with the
/// predicted category.
pub const NEIGHBOUR_VOTE: usize = 10;

/// Adds to each classification (of the paper at the same index of `papers`) what supports each of its
/// categories: the terms, for a model with a TF-IDF model or part; the nearest training papers of the
/// category, and the nearest of any category, for a model with an embedding head. An embedding model saved
/// without its training papers gets a note saying so instead (never an error).
pub fn explain_classifications(
    model: &LoadedModel,
    papers: &[Paper],
    classifications: &mut [Classification],
) -> Result<(), PipelineError> {
    let labels = model.predictor.labels();
    let source = NeighbourSource::open(model.embedding_head_dir().as_deref())?;
    let texts = model.texts_for(papers.iter());
    let vectors = match source.store() {
        Some(_) => model.predictor.embed(&texts)?,
        None => None,
    };
    for (i, (text, c)) in texts.iter().zip(classifications.iter_mut()).enumerate() {
        let classes: Vec<usize> = c
            .probabilities
            .iter()
            .filter_map(|p| labels.codes.iter().position(|code| *code == p.category))
            .collect();
        let terms = model.predictor.explain_terms(text, &classes, EXPLAIN_TERMS);
        let codes: Vec<&str> = classes.iter().map(|&k| labels.codes[k].as_str()).collect();
        let neighbours = match (source.store(), &vectors) {
            (Some(store), Some(v)) => {
                let dim = v.len() / texts.len().max(1);
                Some(store.explain(&v[i * dim..(i + 1) * dim], &codes, EXPLAIN_NEIGHBOURS, NEIGHBOUR_VOTE)?)
            }
            _ => None,
        };
        c.explanations = Some(
            codes
                .iter()
                .enumerate()
                .map(|(j, code)| CategoryExplanation {
                    category: code.to_string(),
                    terms: terms.as_ref().and_then(|t| t.get(j).cloned()).unwrap_or_default(),
                    neighbours: neighbours
                        .as_ref()
                        .and_then(|n| n.by_category.get(j).cloned())
                        .unwrap_or_default(),
                })
                .collect(),
        );
        c.nearest = neighbours.map(|n| n.nearest);
        c.explanation_note = source.note().map(str::to_string);
    }
    Ok(())
}

/// The `top_k` most probable categories of each paper (`with_ids`: keep the papers' ids in the answers)
/// and, with a `coverage`, its conformal category set (an error for a model without conformal calibration);
/// a multi-label model adds each paper's label set.
pub fn classify_papers(
    model: &LoadedModel,
    papers: &[Paper],
    top_k: usize,
    coverage: Option<f64>,
    with_ids: bool,
) -> Result<Vec<Classification>, PipelineError> {
    let probs = model.predict_papers(papers.iter())?;
    let sets = match coverage {
        Some(c) => Some(model.category_sets(&probs, c)?),
        None => None,
    };
    let label_sets = model.label_sets(&probs);
    let labels = model.predictor.labels();
    let entry = |c: usize, probability: f32| CategoryProbability {
        category: labels.codes[c].clone(),
        name: labels.names[c].clone(),
        probability,
    };
    Ok(papers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let probabilities: Vec<CategoryProbability> =
                probs.top_k(i, top_k.max(1)).into_iter().map(|(c, pr)| entry(c, pr)).collect();
            let (category, name) =
                probabilities.first().map(|c| (c.category.clone(), c.name.clone())).unwrap_or_default();
            let set_entries = |s: &[usize]| s.iter().map(|&c| entry(c, probs.row(i)[c])).collect();
            let category_set = sets.as_ref().map(|s| set_entries(&s[i]));
            let label_set = label_sets.as_ref().map(|s| set_entries(&s[i]));
            Classification {
                id: with_ids.then(|| p.id.clone()),
                category,
                name,
                probabilities,
                coverage,
                category_set,
                label_set,
                explanations: None,
                nearest: None,
                explanation_note: None,
            }
        })
        .collect())
}

/// What [`classify_file`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyFileReport {
    /// Papers classified.
    pub papers: usize,
    /// How the input was read: records skipped by reason, with line numbers.
    pub read: atlas_corpus::ReadReport,
}

/// Classifies every paper of `input` (any ingest format) into `out`, one JSON object per line, written
/// atomically; with a `coverage`, each line carries the paper's conformal category set.
pub fn classify_file(
    model: &LoadedModel,
    input: &Path,
    out: &Path,
    top_k: usize,
    coverage: Option<f64>,
) -> Result<ClassifyFileReport, PipelineError> {
    let (papers, report) = atlas_corpus::load_papers(input, None)?;
    let results = classify_papers(model, &papers, top_k, coverage, true)?;
    atlas_artifact::write_atomic_with(out, |w| {
        for r in &results {
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(ClassifyFileReport { papers: papers.len(), read: report })
}
