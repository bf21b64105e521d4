//! `docs/config-reference.md`: every key of the configuration schema with its type, its default from the
//! built-in configuration and what it does. The descriptions are written here, beside the generator; a key
//! that `atlas_config::key_paths()` knows and this table does not (a new field of the schema) fails the test.

use std::collections::BTreeSet;

use atlas_config::{load, ConfigSource, ResolvedConfig};
use serde_json::Value;

/// (key, type, meaning), in the order of the reference.
const KEYS: &[(&str, &str, &str)] = &[
    (
        "seed",
        "integer",
        "recorded with the run; no step reads it today: each trainer has its own seed \
         (`experiment.linear.seed`, `experiment.lr.seed`, `experiment.mlp.seed`)",
    ),
    (
        "data.input",
        "path",
        "raw papers in any ingest format (Kaggle JSON-lines, HF parquet, CSV) or an ingested dataset folder",
    ),
    (
        "data.taxonomy",
        "path or null",
        "category names (`taxonomy.tsv`); `null` = names from the dataset, else codes",
    ),
    (
        "data.cache_dir",
        "path",
        "where a raw `data.input` is ingested once (`<name>-<key>`, key = input sha256 + options) and reused",
    ),
    ("data.max_samples", "integer or null", "keep at most N papers (`ingest --limit`); `null` keeps all"),
    (
        "data.max_per_category",
        "integer or null",
        "keep at most N papers per primary category; `null` keeps all",
    ),
    (
        "data.template",
        "text template",
        "classifier input text: `{title}`, `{abstract}`, `{authors}`, `{id}` are substituted; saved with \
         the model",
    ),
    ("experiment.name", "string", "recorded with the run and the model (usually the experiment file's name)"),
    (
        "experiment.kind",
        "`tfidf_linear`, `embedding_lr`, `embedding_mlp`, `tfidf_multilabel`, `ensemble`, `contrastive` or \
         `finetune_classifier`",
        "which trainer runs (`contrastive` fine-tunes the encoder as the `finetune` section says; \
         `finetune_classifier` tunes it with a classification head, then fits the `lr` head on it)",
    ),
    ("experiment.tfidf.ngram_max", "integer", "largest n-gram length: 1 = unigrams, 2 = uni- and bigrams"),
    ("experiment.tfidf.min_df", "integer", "drop terms found in fewer training documents"),
    (
        "experiment.tfidf.max_df",
        "number",
        "drop terms found in more than this fraction of training documents (1.0 keeps all)",
    ),
    ("experiment.tfidf.max_features", "integer or null", "keep the most frequent terms; `null` keeps all"),
    ("experiment.tfidf.sublinear_tf", "bool", "`1 + ln(tf)` instead of the raw term frequency"),
    ("experiment.tfidf.lowercase", "bool", "lower-case the text before tokenising"),
    ("experiment.linear.epochs", "integer", "most passes over the training data"),
    (
        "experiment.linear.learning_rate",
        "number",
        "row-wise AdaGrad base step (a feature's first step is about this large)",
    ),
    (
        "experiment.linear.l2",
        "number",
        "L2 penalty on the weights (per-example scale); early stopping regularises by default",
    ),
    ("experiment.linear.batch_size", "integer", "documents per mini-batch"),
    (
        "experiment.linear.patience",
        "integer",
        "epochs without a better validation loss before stopping (0 = never stop early)",
    ),
    ("experiment.linear.tol", "number", "relative fall of the validation loss that counts as better"),
    (
        "experiment.linear.seed",
        "integer",
        "shuffling seed; training is bit-identical for a seed, whatever the thread count",
    ),
    ("experiment.linear.threads", "integer", "worker threads (0 = all cores)"),
    (
        "experiment.encoder.model_dir",
        "path, Hugging Face id or null",
        "sentence-transformer folder or `owner/name[@revision]` (`--model-dir` on the command line); \
         `null` = \
         `$ARXIV_ATLAS_MODEL_DIR`, else `../shared/models/all-MiniLM-L6-v2` when present",
    ),
    (
        "experiment.encoder.backend",
        "`auto`, `candle` or `onnx`",
        "the encoder engine (`--engine` on the command line): `auto` = ONNX Runtime on CPU when installed, \
         else candle",
    ),
    (
        "experiment.encoder.precision",
        "`fp32` or `int8`",
        "weight precision; `int8` runs the model's quantized ONNX graph",
    ),
    (
        "experiment.encoder.device",
        "`cpu`, `cuda` or `cuda:N`",
        "device of the candle engine (CUDA needs a build with the `cuda` feature)",
    ),
    ("experiment.encoder.threads", "integer", "compute threads (0 = all cores)"),
    ("experiment.encoder.batch_size", "integer", "texts per model call"),
    (
        "experiment.encoder.cache_dir",
        "path or null",
        "embedding cache; `null` = `$ARXIV_ATLAS_CACHE_DIR/embeddings`, else \
         `~/.cache/arxiv-atlas/embeddings`",
    ),
    ("experiment.lr.solver", "`lbfgs` or `adam`", "full-batch L-BFGS (the exact optimum) or mini-batch Adam"),
    (
        "experiment.lr.c",
        "number",
        "inverse L2 strength, exactly scikit-learn's `C` (penalty on the raw-embedding weights)",
    ),
    ("experiment.lr.max_iter", "integer", "most L-BFGS iterations (adam: epochs)"),
    (
        "experiment.lr.tol",
        "number",
        "L-BFGS stops once the objective falls by less than this fraction over 5 iterations",
    ),
    (
        "experiment.lr.patience",
        "integer",
        "iterations (adam: epochs) without a lower validation loss before stopping; 0 = never",
    ),
    ("experiment.lr.history", "integer", "L-BFGS memory: past steps that approximate the curvature"),
    (
        "experiment.lr.learning_rate",
        "number",
        "adam only: step size, halved after every epoch without a better validation loss",
    ),
    ("experiment.lr.batch_size", "integer", "adam only: mini-batch size"),
    (
        "experiment.lr.standardize",
        "bool",
        "standardise each dimension while training (preconditioning only; folded into the weights)",
    ),
    ("experiment.lr.seed", "integer", "seed of the adam solver's shuffling (lbfgs uses no randomness)"),
    ("experiment.lr.threads", "integer", "worker threads (0 = all cores); results do not depend on it"),
    ("experiment.mlp.hidden", "integer", "width of the hidden ReLU layer"),
    (
        "experiment.mlp.dropout",
        "number",
        "probability of zeroing a hidden unit while training (never at prediction)",
    ),
    (
        "experiment.mlp.learning_rate",
        "number",
        "AdamW step size, halved after every epoch without a 0.1% lower validation loss",
    ),
    ("experiment.mlp.weight_decay", "number", "AdamW decoupled weight decay (weights only, not biases)"),
    ("experiment.mlp.batch_size", "integer", "examples per mini-batch"),
    ("experiment.mlp.max_epochs", "integer", "most passes over the training data"),
    (
        "experiment.mlp.patience",
        "integer",
        "epochs without a 0.1% lower validation loss before stopping; 0 = never",
    ),
    (
        "experiment.mlp.standardize",
        "bool",
        "standardise each dimension while training (folded into the first layer)",
    ),
    (
        "experiment.mlp.seed",
        "integer",
        "seed of initialisation, shuffling and dropout; deterministic for a seed",
    ),
    ("experiment.mlp.threads", "integer", "worker threads (0 = all cores); results do not depend on it"),
    (
        "experiment.knn.k",
        "integer",
        "`ensemble`'s kNN part: training papers that vote (most similar by cosine)",
    ),
    (
        "experiment.knn.weight_temperature",
        "number",
        "a neighbour's vote is `exp((similarity − best similarity) / weight_temperature)`",
    ),
    (
        "experiment.knn.smoothing",
        "number",
        "share of the mean vote spread over all classes by training frequency (no class gets 0)",
    ),
    (
        "experiment.ensemble.embedding",
        "`embedding_lr` or `embedding_mlp`",
        "`ensemble`: the embedding head stacked with TF-IDF (trained with the `lr` or `mlp` section)",
    ),
    (
        "experiment.ensemble.knn",
        "bool",
        "`ensemble`: add a third part, nearest-neighbour votes on the same embeddings (the `knn` section)",
    ),
    ("run.root", "path", "where new run folders go (`--runs-root` of `evaluate` and `runs`)"),
    ("run.dir", "path or null", "use exactly this run folder instead of a new one under `run.root`"),
    ("run.name", "string or null", "name shown by `runs list` (default: the experiment name)"),
    (
        "tracker.backend",
        "`local` or `mlflow`",
        "`local`: run folders only; `mlflow`: run folders, uploaded to an MLflow server when each run ends \
         (`tracker=mlflow`, docs/tracking.md)",
    ),
    ("tracker.uri", "URL or null", "the MLflow tracking server (`http://host:port`); needed by `mlflow`"),
    ("tracker.experiment", "string", "MLflow experiment the runs go to (created when missing)"),
    (
        "tracker.register_as",
        "string or null",
        "register the model of each finished run as a new version of this registered model",
    ),
    ("tracker.alias", "string or null", "point this alias (e.g. `champion`) at the new version"),
    ("tracker.timeout_s", "number", "timeout of each request to the MLflow server, in seconds"),
    ("monitor.p_value", "number", "`drift`: significance level of the KS, χ², Jensen–Shannon and MMD tests"),
    (
        "monitor.ks_statistic",
        "number",
        "`drift`: smallest KS statistic D of a numeric feature that counts as drift",
    ),
    (
        "monitor.wasserstein",
        "number",
        "`drift`: smallest Wasserstein-1 distance, in reference standard deviations, that counts as drift",
    ),
    (
        "monitor.jensen_shannon",
        "number",
        "`drift`: smallest Jensen–Shannon distance (base 2, sampling noise removed) of a categorical feature",
    ),
    ("monitor.text_auc", "number", "`drift`: smallest cross-validated AUC of the TF-IDF domain classifier"),
    (
        "monitor.embedding_auc",
        "number",
        "`drift`: smallest cross-validated AUC of the embedding domain classifier",
    ),
    ("monitor.mmd", "number", "`drift`: smallest MMD² of the embeddings (RBF kernel on the PCA projection)"),
    (
        "monitor.accuracy_drop",
        "number",
        "`drift`: smallest accuracy drop (labelled papers) that counts as drift",
    ),
    ("monitor.reference_texts", "integer", "profile: reference texts kept for the domain classifier"),
    ("monitor.reference_values", "integer", "profile: reference values kept per numeric feature"),
    ("monitor.pca_components", "integer", "profile: principal components of the embedding statistics"),
    ("monitor.reference_embeddings", "integer", "profile: projected reference embeddings kept"),
    ("monitor.domain_sample", "integer", "`drift`: texts per side the domain classifiers train on"),
    ("monitor.folds", "integer", "`drift`: cross-validation folds of the domain classifiers"),
    ("monitor.mmd_sample", "integer", "`drift`: embeddings per side of the MMD test (cost is quadratic)"),
    ("monitor.permutations", "integer", "`drift`: permutations of the MMD test"),
    ("monitor.top_words", "integer", "`drift`: words and categories listed as having moved most"),
    ("monitor.seed", "integer", "`drift`: seed of every subsample and fold"),
    (
        "finetune.train_layers",
        "`adapter`, `all` or an integer",
        "`contrastive`: what trains — a residual linear adapter on cached embeddings, every layer, or the top N \
         transformer layers (the layers below run once per paper and are cached)",
    ),
    (
        "finetune.embeddings",
        "path or null",
        "an embedding set of `data.input` by the base model (`arxiv-atlas embed`): the adapter's inputs \
         (`null`: the run embeds the papers itself, through the cache, into `sets/` beside it), the frozen \
         baseline of a layer run (else computed from the cached states)",
    ),
    ("finetune.hidden_dir", "path or null", "cache of bottom-layer states; `null` = `~/.cache/arxiv-atlas/hidden`"),
    (
        "finetune.fill_cache",
        "bool",
        "store the tuned model's vectors in the embedding cache, so `experiment.encoder.model_dir=<run>/artifacts/model` finds them",
    ),
    ("finetune.adapter.epochs", "integer", "adapter: most epochs (each train paper an anchor once)"),
    ("finetune.adapter.batch_size", "integer", "adapter: pairs per batch (in-batch negatives)"),
    ("finetune.adapter.lr", "number", "adapter: peak AdamW learning rate"),
    ("finetune.adapter.weight_decay", "number", "adapter: AdamW weight decay (pulls towards the identity)"),
    ("finetune.adapter.warmup", "number", "adapter: share of steps warming up, then linear decay"),
    ("finetune.adapter.scale", "number", "adapter: similarity scale of the loss (MNRL or cosine classifier)"),
    ("finetune.adapter.loss", "`mnrl` or `cross_entropy`", "adapter: masked in-batch MNRL, or a cosine classifier over the categories (dropped after)"),
    ("finetune.adapter.hidden", "integer", "adapter: units of a hidden ReLU branch (residual MLP); 0 = linear"),
    ("finetune.adapter.symmetric", "bool", "adapter: also rank anchors for each positive"),
    ("finetune.adapter.patience", "integer", "adapter: epochs without a better validation P@1 before stopping"),
    ("finetune.adapter.val_queries", "integer", "adapter: validation queries for early stopping (0 = all)"),
    ("finetune.adapter.seed", "integer", "adapter: seed of pair sampling and shuffling"),
    ("finetune.adapter.progress", "bool", "adapter: draw a progress bar (on a terminal)"),
    ("finetune.layers.epochs", "integer", "layers: passes over the pairs"),
    ("finetune.layers.max_pairs", "integer", "layers: anchors per epoch (0 = every train paper with a partner)"),
    ("finetune.layers.batch_size", "integer", "layers: pairs per optimizer step"),
    ("finetune.layers.accumulation", "integer", "layers: micro-batches per step (gradient accumulation)"),
    ("finetune.layers.lr", "number", "layers: peak AdamW learning rate"),
    ("finetune.layers.weight_decay", "number", "layers: AdamW weight decay"),
    ("finetune.layers.warmup", "number", "layers: share of steps warming up, then linear decay to 0"),
    ("finetune.layers.max_grad_norm", "number", "layers: clip the gradients' global norm (0 = off)"),
    (
        "finetune.layers.loss",
        "`mnrl`, `contrastive` or `cross_entropy`",
        "layers: masked in-batch MNRL, ContrastiveLoss on each positive and the frozen model's nearest \
         train paper of another category (mined before training), or `cross_entropy` (a classification head; \
         what `finetune_classifier` uses)",
    ),
    ("finetune.layers.margin", "number", "layers: margin of the contrastive loss, on cosine distance"),
    ("finetune.layers.scale", "number", "layers: MNRL similarity scale"),
    ("finetune.layers.symmetric", "bool", "layers: symmetric MNRL"),
    ("finetune.layers.max_tokens", "integer", "layers: tokens per paper in training (embedding uses all)"),
    (
        "finetune.layers.checkpoint_every",
        "integer",
        "layers: checkpoint every N steps; re-running with the same `run.dir` resumes from it",
    ),
    ("finetune.layers.eval_every", "integer", "layers: validate every N steps (0 = at each epoch's end)"),
    ("finetune.layers.eval_queries", "integer", "layers: validation queries (the first N validation papers)"),
    ("finetune.layers.eval_docs", "integer", "layers: documents they are ranked against (the first N train papers)"),
    ("finetune.layers.seed", "integer", "layers: seed of pairs, batch order and dropout"),
    ("finetune.layers.progress", "bool", "layers: draw a progress bar (on a terminal)"),
];

/// The configuration of the built-in `conf/` with these overrides.
fn resolved(args: &[String]) -> ResolvedConfig {
    load(&ConfigSource::Embedded, args, &[]).unwrap_or_else(|e| panic!("built-in config with {args:?}: {e}"))
}

/// The value at a dotted key.
fn value_at<'a>(config: &'a Value, key: &str) -> &'a Value {
    config.pointer(&format!("/{}", key.replace('.', "/"))).unwrap_or(&Value::Null)
}

/// How a value reads in the table.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// The options of each group in the repository's `conf/` (the built-in copy has the same files; atlas-config
/// tests that).
fn group_options() -> Vec<(String, Vec<String>)> {
    let conf = super::repo_root().join("conf");
    let mut groups = Vec::new();
    for entry in std::fs::read_dir(&conf).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let mut options: Vec<String> = std::fs::read_dir(&entry)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".yaml").map(str::to_string))
            .collect();
        options.sort();
        groups.push((entry.file_name().unwrap().to_string_lossy().into_owned(), options));
    }
    groups.sort();
    groups
}

/// The Markdown of `docs/config-reference.md`.
pub(super) fn render() -> String {
    let base = resolved(&[]);
    let base_json = serde_json::to_value(&base.config).unwrap();
    // Every other option of every group, resolved on its own: its values show beside the default ones.
    let mut alternatives = Vec::new();
    let groups = group_options();
    for (group, options) in &groups {
        for option in options.iter().filter(|o| base.groups.get(group) != Some(*o)) {
            let choice = format!("{group}={option}");
            let config = serde_json::to_value(&resolved(std::slice::from_ref(&choice)).config).unwrap();
            alternatives.push((choice, config));
        }
    }

    let mut out = String::from("# Configuration key reference\n\n");
    out.push_str(&format!(
        "Generated from the configuration schema (`crates/atlas-config`) and the built-in `conf/` by a test \
         that fails when this file is stale or a key has no description; do not edit it by hand. Refresh: \
         `{}`. How \
         groups, overrides and environment variables combine: [`configuration.md`](configuration.md).\n\n",
        super::REFRESH
    ));
    out.push_str("Groups and their options (the default first):\n\n");
    for (group, options) in &groups {
        let default = base.groups.get(group).cloned().unwrap_or_default();
        let mut shown = vec![format!("`{group}={default}`")];
        shown.extend(options.iter().filter(|o| **o != default).map(|o| format!("`{group}={o}`")));
        out.push_str(&format!("- `{group}`: {} (`conf/{group}/<option>.yaml`)\n", shown.join(", ")));
    }
    out.push_str(
        "\nThe default is the value `arxiv-atlas train --print-config` shows with the default groups; where \
         another \
         group option sets a key differently, its value follows. Any key can be set on the command line \
         (`key=value`) or from the environment (`ARXIV_ATLAS_<KEY>` with `__` between levels, e.g. \
         `ARXIV_ATLAS_EXPERIMENT__LR__C=8`).\n\n| key | type | default | meaning |\n|---|---|---|---|\n",
    );
    for (key, ty, meaning) in KEYS {
        let default = value_at(&base_json, key);
        let mut cell = show(default);
        for (choice, config) in &alternatives {
            let v = value_at(config, key);
            if v != default {
                cell.push_str(&format!("; `{choice}`: {}", show(v)));
            }
        }
        out.push_str(&format!("| `{key}` | {ty} | {cell} | {meaning} |\n"));
    }
    out
}

#[test]
fn every_config_key_has_a_description_and_no_description_is_stale() {
    let schema: BTreeSet<String> = atlas_config::key_paths().into_iter().collect();
    let described: BTreeSet<String> = KEYS.iter().map(|(k, _, _)| k.to_string()).collect();
    let missing: Vec<_> = schema.difference(&described).collect();
    let stale: Vec<_> = described.difference(&schema).collect();
    assert!(missing.is_empty(), "config keys without a description in {}: {missing:?}", file!());
    assert!(stale.is_empty(), "descriptions of keys the schema no longer has: {stale:?}");
    assert_eq!(described.len(), KEYS.len(), "a key is described twice");
}

#[test]
fn docs_config_reference_md_is_up_to_date() {
    super::check_generated("docs/config-reference.md", &render());
}

#[test]
fn the_reference_shows_defaults_of_every_experiment() {
    let md = render();
    // lr's seed is set by the embedding_lr file; the mlp width by embedding_mlp; the kinds differ per file.
    assert!(md.contains("| `experiment.lr.seed` | integer | `42` |"), "{md}");
    assert!(md.contains("| `experiment.mlp.hidden` | integer | `512` |"), "{md}");
    assert!(md.contains("`experiment=embedding_lr`: `embedding_lr`"), "{md}");
    assert!(md.contains("`data=mini`: `../shared/data/arxiv-mini.jsonl.gz`"), "{md}");
}

/// `ARXIV_ATLAS_<KEY>` sets config keys, so a variable the program reads for something else must be reserved:
/// exported for `search` (`ARXIV_ATLAS_INDEX`), it once made every `train` fail with "unknown key `index`".
/// Checked for every variable a flag reads, every one `docs/configuration.md` lists, and every one the scripts,
/// workflows, deployment files and tests use (`scripts/test.sh` once exported `ARXIV_ATLAS_DEPLOY_LINT` for a
/// test, and every `serve` of the suite failed with "unknown key `deploy_lint`").
#[test]
fn variables_of_flags_and_docs_are_never_config_keys() {
    use clap::CommandFactory;
    fn flag_vars(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        out.extend(cmd.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()));
        cmd.get_subcommands().for_each(|s| flag_vars(s, out));
    }
    let mut names = BTreeSet::new();
    flag_vars(&crate::cli::Cli::command(), &mut names);
    assert!(names.contains("ARXIV_ATLAS_INDEX"), "{names:?}");
    let doc = std::fs::read_to_string(super::repo_root().join("docs/configuration.md")).unwrap();
    let table = doc.split("## Other environment variables").nth(1).expect("the variables section");
    for word in table.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with(atlas_config::ENV_PREFIX) && word.len() > atlas_config::ENV_PREFIX.len() {
            names.insert(word.to_string());
        }
    }
    names.extend(used_outside_the_config(&super::repo_root()));
    let not_reserved: Vec<_> =
        names.iter().filter(|n| !atlas_config::RESERVED_ENV_VARS.contains(&n.as_str())).collect();
    assert!(not_reserved.is_empty(), "read as config keys, add to RESERVED_ENV_VARS: {not_reserved:?}");
    // And they really are ignored by the loader.
    let env: Vec<(String, String)> = names.iter().map(|n| (n.clone(), "x".to_string())).collect();
    load(&ConfigSource::Embedded, &[], &env).unwrap();
}

/// `ARXIV_ATLAS_*` names (not key paths: those hold `__`) in the scripts, workflows, deployment files and the tests
/// of every crate but atlas-config (whose tests set config keys on purpose).
fn used_outside_the_config(root: &std::path::Path) -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && name != "node_modules" && name != "atlas-config" && !name.starts_with('.') {
                walk(&path, out);
            } else if [".sh", ".rs", ".yml", ".yaml", ".mjs", ".Dockerfile"].iter().any(|e| name.ends_with(e))
            {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["scripts", "deploy", "docker", "bench", "crates", "tests"] {
        walk(&root.join(dir), &mut files);
    }
    walk(&root.join(".github"), &mut files);
    files.push(root.join("compose.yaml"));
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let rest = word.strip_prefix(atlas_config::ENV_PREFIX).unwrap_or("");
            if !rest.is_empty()
                && !word.contains("__")
                && rest.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            {
                names.insert(word.to_string());
            }
        }
    }
    names
}
