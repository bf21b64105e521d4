//! `finetune`: the work is in `atlas-finetune`; this builds the request and prints the summary.

use anyhow::Result;
use atlas_finetune::FinetuneRequest;

use crate::cli::FinetuneArgs;
use crate::output;

pub fn finetune(a: FinetuneArgs) -> Result<()> {
    let req = FinetuneRequest {
        embeddings: a.embeddings(),
        papers: a.input.clone(),
        model_dir: a.model_dir.clone(),
        run_dir: a.out.clone(),
        runs_root: a.runs_root.clone(),
        train: a.train_options(),
        fill_cache: !a.no_cache,
        cache_dir: a.cache_dir.clone(),
        train_layers: a.train_layers,
        layers: a.layer_options(),
        hidden_dir: a.hidden_dir.clone(),
        threads: a.threads,
        run_name: None,
        config_yaml: None,
    };
    let result = atlas_finetune::finetune(&req)?;
    if a.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        output::print_finetune(&result);
    }
    Ok(())
}
