//! The drift monitor's reference profile of a model: built at the end of `train`, rebuilt for older models.

use std::path::Path;

use atlas_config::AtlasConfig;
use atlas_corpus::{Paper, Split};
use atlas_model::LoadedModel;
use atlas_monitor::{MonitorParams, ReferenceProfile, Window};

use crate::dataset::prepare_dataset;
use crate::PipelineError;

/// Measures `papers` (held-out papers: a validation split) with `model` and saves the profile in the model's
/// folder.
pub fn save_reference_profile(
    model: &LoadedModel,
    papers: &[Paper],
    source: &str,
    params: &MonitorParams,
) -> Result<ReferenceProfile, PipelineError> {
    let window = Window::from_papers(model, papers, source);
    let profile = ReferenceProfile::build(model, &window, params)?;
    profile.save(&model.dir)?;
    Ok(profile)
}

/// Rebuilds and saves the reference profile of an existing model from the validation split of `input` (any
/// ingest format or an ingested dataset), or — without `input` — of the data the model was trained on, as
/// recorded in its run folder's resolved configuration.
pub fn rebuild_reference_profile(
    model: &LoadedModel,
    input: Option<&Path>,
    params: &MonitorParams,
) -> Result<ReferenceProfile, PipelineError> {
    let (papers, source) = match input {
        Some(path) => {
            let (papers, _) = atlas_corpus::load_papers(path, Some(Split::Validation))?;
            (papers, format!("{} (validation split)", path.display()))
        }
        None => training_validation_split(model)?,
    };
    if papers.is_empty() {
        return Err(PipelineError::Input {
            path: input.unwrap_or(&model.dir).to_path_buf(),
            message: "no validation papers to profile".into(),
        });
    }
    save_reference_profile(model, &papers, &source, params)
}

/// The model's saved profile, or one rebuilt (and saved) from its training data when the folder has none.
pub fn reference_profile(
    model: &LoadedModel,
    params: &MonitorParams,
) -> Result<ReferenceProfile, PipelineError> {
    match ReferenceProfile::load(&model.dir)? {
        Some(p) => Ok(p),
        None => {
            tracing::info!(
                "{} has no drift profile: building it from the training data",
                model.dir.display()
            );
            rebuild_reference_profile(model, None, params)
        }
    }
}

/// The validation split of the dataset a model was trained on (read from `<run>/config.resolved.yaml`, the
/// run folder holding `artifacts/model`).
fn training_validation_split(model: &LoadedModel) -> Result<(Vec<Paper>, String), PipelineError> {
    let run = model.dir.parent().and_then(Path::parent).unwrap_or(&model.dir);
    let path = run.join(atlas_track::CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        PipelineError::input(
            &path,
            format!(
                "cannot read the training configuration ({e}); pass the reference papers with \
                 `drift profile --input DATA`"
            ),
        )
    })?;
    let cfg = AtlasConfig::from_yaml(&text, &path.display().to_string())
        .map_err(|e| PipelineError::Config(Box::new(e)))?;
    let ds = prepare_dataset(&cfg.data)?;
    let papers = ds.read(Split::Validation)?;
    Ok((papers, format!("{} (validation split)", ds.dir().display())))
}
