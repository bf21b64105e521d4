//! The reference/current pairs of docs/monitoring.md, written out with the per-text features the drift tests
//! compare, so that another tool (Evidently, `bench/drift-vs-evidently.sh`) judges exactly the same data.
//!
//! ```text
//! cargo run --release -p atlas-monitor --example export_windows -- RUN DATASET RECENT OUT_DIR [WINDOWS]
//! ```
//! Writes `OUT_DIR/reference.jsonl` (the validation split: the reference of the model's drift profile) and one
//! `OUT_DIR/<case>.jsonl` per current window of `atlas_monitor::synthetic::measured_cases` (the windows the
//! `measure` example reports): `validation-vs-test`, `test-window-0` … `test-window-19`, `recent-2025-all`,
//! `recent-2025-window`, `one-archive-only-math`, `abstracts-cut-to-20-words`. One JSON object per paper: `id`, `text` (the model's input), `text_words`, `oov_share`,
//! `confidence`, `predicted_category`, `category`, and for an embedding model `embedding` (the vector the
//! embedding tests see). `SKIP_RECENT_ALL=1` leaves out the 30,000-paper `recent-2025-all` (an embedding model
//! embeds every new text, ~1 min per 1,000 on 2 CPU cores).

use std::io::Write;
use std::path::PathBuf;

use atlas_corpus::{Dataset, Paper, Split};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_monitor::synthetic::measured_cases;
use atlas_monitor::{observe, ReferenceProfile, Window};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, dataset, recent, out, rest @ ..] = args.as_slice() else {
        return Err("usage: export_windows RUN DATASET RECENT OUT_DIR [WINDOWS]".into());
    };
    let windows: u64 = rest.first().map(|w| w.parse()).transpose()?.unwrap_or(20);
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let model = LoadedModel::open(&PathBuf::from(run), &LoadOptions::default())?;
    let profile = ReferenceProfile::load(&model.dir)?.ok_or("the model has no drift profile")?;
    let data = Dataset::open(dataset)?;
    let test = data.read(Split::Test)?;
    let (recent, _) = atlas_corpus::load_papers(&PathBuf::from(recent), None)?;
    let write = |name: &str, papers: &[Paper]| -> Result<(), Box<dyn std::error::Error>> {
        let window = Window::from_papers(&model, papers, name);
        let obs = observe(&model, &window.texts, profile.vocabulary.as_ref())?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(out.join(format!("{name}.jsonl")))?);
        for (i, p) in papers.iter().enumerate() {
            let mut row = serde_json::json!({
                "id": p.id,
                "text": window.texts[i],
                "text_words": obs.words[i],
                "oov_share": obs.oov.get(i),
                "confidence": obs.confidence[i],
                "predicted_category": obs.predicted[i],
                "category": p.primary(),
            });
            if let Some((x, dim)) = &obs.embeddings {
                row["embedding"] = serde_json::json!(x[i * dim..(i + 1) * dim]);
            }
            writeln!(f, "{row}")?;
        }
        f.flush()?;
        println!("{name}: {} papers", papers.len());
        Ok(())
    };
    write("reference", &data.read(Split::Validation)?)?;
    let recent_all = std::env::var_os("SKIP_RECENT_ALL").is_none();
    for case in measured_cases(&test, &recent, windows, recent_all) {
        write(&slug(&case.name), &case.papers)?;
    }
    Ok(())
}

/// A case's name as a file name: `test window 3` → `test-window-3`, `recent-2025 (all)` → `recent-2025-all`.
fn slug(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}
