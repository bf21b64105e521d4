//! End-to-end tests of [`load`](crate::load) against the shipped `conf/` and small hand-made folders.

use std::fs;
use std::path::PathBuf;

use crate::*;

fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

fn repo_conf() -> ConfigSource {
    ConfigSource::Dir(repo_root().join("conf"))
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn env(e: &[(&str, &str)]) -> Vec<(String, String)> {
    e.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A config folder where every layer sets `data.max_samples` to a different value.
fn layered_conf() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("data")).unwrap();
    fs::create_dir_all(p.join("experiment")).unwrap();
    fs::write(
        p.join("config.yaml"),
        "defaults:\n  - data: a\n  - experiment: e\nseed: 1\ndata:\n  max_samples: 1\n  template: from-primary\n",
    )
    .unwrap();
    fs::write(p.join("data/a.yaml"), "input: a.jsonl\nmax_samples: 2\n").unwrap();
    fs::write(p.join("data/b.yaml"), "input: b.jsonl\nmax_samples: 20\n").unwrap();
    fs::write(p.join("experiment/e.yaml"), "name: e\nkind: tfidf_linear\n").unwrap();
    dir
}

#[test]
fn merge_order_primary_group_override_env() {
    let conf = layered_conf();
    let src = ConfigSource::Dir(conf.path().to_path_buf());

    let r = load(&src, &[], &[]).unwrap();
    assert_eq!(r.config.data.max_samples, Some(2), "group file beats config.yaml");
    assert_eq!(
        r.config.data.template.as_str(),
        "from-primary",
        "config.yaml keys the group file leaves alone survive"
    );
    assert_eq!(r.config.data.input, PathBuf::from("a.jsonl"));

    let r = load(&src, &args(&["data.max_samples=3"]), &[]).unwrap();
    assert_eq!(r.config.data.max_samples, Some(3), "override beats group file");

    let r =
        load(&src, &args(&["data.max_samples=3"]), &env(&[("ARXIV_ATLAS_DATA__MAX_SAMPLES", "4")])).unwrap();
    assert_eq!(r.config.data.max_samples, Some(4), "environment beats override");

    // The order of arguments matters among overrides; a group choice applies before any override.
    let r = load(&src, &args(&["data.max_samples=5", "data=b", "data.max_samples=6"]), &[]).unwrap();
    assert_eq!(r.config.data.input, PathBuf::from("b.jsonl"));
    assert_eq!(r.config.data.max_samples, Some(6));
    assert_eq!(r.groups["data"], "b");

    // Group choices follow the same precedence: environment over command line.
    let r = load(&src, &args(&["data=a"]), &env(&[("ARXIV_ATLAS_DATA", "b")])).unwrap();
    assert_eq!(r.groups["data"], "b");
    assert_eq!(r.config.data.max_samples, Some(20));

    // Defaults fill what no layer sets.
    assert_eq!(r.config.data.cache_dir, PathBuf::from(DEFAULT_CACHE_DIR));
    assert_eq!(r.config.run, RunConfig::default());
}

#[test]
fn overrides_parse_yaml_values() {
    let a = args(&[
        "experiment.linear.epochs=5",
        "experiment.linear.learning_rate=0.25",
        "experiment.tfidf.sublinear_tf=false",
        "experiment.tfidf.max_features=null",
        "run.dir=/tmp/some run",
        "run.name=baseline",
        "data.template={title} [SEP] {abstract} .",
        "seed=7",
    ]);
    let r = load(&ConfigSource::Embedded, &a, &[]).unwrap();
    let c = &r.config;
    assert_eq!(c.experiment.linear.epochs, 5);
    assert_eq!(c.experiment.linear.learning_rate, 0.25);
    assert!(!c.experiment.tfidf.sublinear_tf);
    assert_eq!(c.experiment.tfidf.max_features, None);
    assert_eq!(c.run.dir, Some(PathBuf::from("/tmp/some run")));
    assert_eq!(c.run.name.as_deref(), Some("baseline"));
    assert_eq!(c.data.template.as_str(), "{title} [SEP] {abstract} .");
    assert_eq!(c.seed, 7);
    assert_eq!(r.overrides, a, "the arguments are recorded as given");
}

#[test]
fn environment_keys_and_reserved_names() {
    let e = env(&[
        ("ARXIV_ATLAS_CONFIG_DIR", "/nowhere"),
        ("ARXIV_ATLAS_MODEL_DIR", "/nowhere"),
        ("ARXIV_ATLAS_LOG", "debug"),
        ("PATH", "/usr/bin"),
        ("ARXIV_ATLAS_EXPERIMENT__LINEAR__EPOCHS", "3"),
        ("ARXIV_ATLAS_RUN__NAME", "from-env"),
    ]);
    let r = load(&ConfigSource::Embedded, &[], &e).unwrap();
    assert_eq!(r.config.experiment.linear.epochs, 3);
    assert_eq!(r.config.run.name.as_deref(), Some("from-env"));
    // Only the config variables are recorded, sorted by name.
    assert_eq!(r.overrides, ["ARXIV_ATLAS_EXPERIMENT__LINEAR__EPOCHS=3", "ARXIV_ATLAS_RUN__NAME=from-env"]);
}

#[test]
fn unknown_key_names_it_and_suggests() {
    let err = load(&ConfigSource::Embedded, &args(&["data.max_sample=5"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("unknown key `data.max_sample` (did you mean `data.max_samples`?)"), "{err}");
    assert!(err.contains("command line `data.max_sample=5`"), "{err}");

    // Right name, wrong level: the suggestion is the full path.
    let err = load(&ConfigSource::Embedded, &args(&["epochs=5"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("unknown key `epochs` (did you mean `experiment.linear.epochs`?)"), "{err}");
    let err = load(&ConfigSource::Embedded, &args(&["linear.epochs=5"]), &[]).unwrap_err().to_string();
    assert!(err.contains("(did you mean `experiment.linear`?)"), "{err}");

    // Nothing close: no suggestion.
    let err = load(&ConfigSource::Embedded, &args(&["data.zzzzzzzz=1"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("unknown key `data.zzzzzzzz` [set by"), "{err}");

    // From the environment: the variable is named.
    let e = env(&[("ARXIV_ATLAS_DATA__MAX_SAMPLE", "100")]);
    let err = load(&ConfigSource::Embedded, &[], &e).unwrap_err().to_string();
    assert!(
        err.contains("unknown key `data.max_sample`") && err.contains("ARXIV_ATLAS_DATA__MAX_SAMPLE"),
        "{err}"
    );

    // From a group file: the file is named.
    let conf = layered_conf();
    fs::write(conf.path().join("data/a.yaml"), "input: a.jsonl\nmax_sampels: 2\n").unwrap();
    let err = load(&ConfigSource::Dir(conf.path().to_path_buf()), &[], &[]).unwrap_err().to_string();
    assert!(err.starts_with("unknown key `data.max_sampels` (did you mean `data.max_samples`?)"), "{err}");
    assert!(err.contains("a.yaml"), "{err}");
}

#[test]
fn bad_value_names_key_and_type() {
    let err = load(&ConfigSource::Embedded, &args(&["data.max_samples=abc"]), &[]).unwrap_err().to_string();
    assert!(
        err.starts_with(r#"data.max_samples: invalid type: found string "abc", expected usize"#),
        "{err}"
    );
    assert!(err.contains("command line `data.max_samples=abc`"), "{err}");

    let e = env(&[("ARXIV_ATLAS_EXPERIMENT__LINEAR__EPOCHS", "-1")]);
    let err = load(&ConfigSource::Embedded, &[], &e).unwrap_err().to_string();
    assert!(err.starts_with("experiment.linear.epochs: invalid"), "{err}");
    assert!(err.contains("ARXIV_ATLAS_EXPERIMENT__LINEAR__EPOCHS"), "{err}");

    let err = load(&ConfigSource::Embedded, &args(&["experiment.kind=bogus"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("experiment.kind: unknown variant") && err.contains("tfidf_linear"), "{err}");

    let err = load(&ConfigSource::Embedded, &args(&["seed.x=1"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("seed: invalid type: found map, expected u64"), "{err}");
}

#[test]
fn unknown_group_option_lists_available() {
    let src = ConfigSource::Dir(PathBuf::from("../../conf"));
    let err = load(&src, &args(&["experiment=foo"]), &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "experiment=foo: no ../../conf/experiment/foo.yaml; available: contrastive, embedding_lr, embedding_mlp, ensemble, finetune_classifier, tfidf_linear, tfidf_multilabel"
    );

    let err = load(&ConfigSource::Embedded, &args(&["data=huge"]), &[]).unwrap_err().to_string();
    assert_eq!(err, "data=huge: no conf/data/huge.yaml (built in); available: arxiv100k, mini");

    // Paths outside the group folder are not options.
    let err = load(&ConfigSource::Embedded, &args(&["data=../config"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("data=../config: no"), "{err}");

    let err = load(&ConfigSource::Embedded, &[], &env(&[("ARXIV_ATLAS_EXPERIMENT", "nope")])).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownOption { ref option, .. } if option == "nope"), "{err}");
    assert!(err.to_string().ends_with("[set by environment variable ARXIV_ATLAS_EXPERIMENT]"), "{err}");

    // A stale defaults list is reported as such.
    let conf = layered_conf();
    fs::remove_file(conf.path().join("data/a.yaml")).unwrap();
    let err = load(&ConfigSource::Dir(conf.path().to_path_buf()), &[], &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("data=a: no ") && err.contains("available: b [set by the defaults list of"),
        "{err}"
    );
}

#[test]
fn malformed_override_and_files() {
    let err = load(&ConfigSource::Embedded, &args(&["data.max_samples"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("malformed override `data.max_samples`: expected"), "{err}");
    let err = load(&ConfigSource::Embedded, &args(&["run={[1]: x}"]), &[]).unwrap_err().to_string();
    assert!(err.starts_with("malformed override `run={[1]: x}`: key"), "{err}");

    let conf = layered_conf();
    let src = ConfigSource::Dir(conf.path().to_path_buf());
    fs::write(conf.path().join("data/a.yaml"), "input: [unclosed\n").unwrap();
    let err = load(&src, &[], &[]).unwrap_err().to_string();
    assert!(err.contains("a.yaml: invalid YAML"), "{err}");

    fs::write(conf.path().join("data/a.yaml"), "input: a\n").unwrap();
    fs::write(conf.path().join("config.yaml"), "defaults: data\nseed: 1\n").unwrap();
    let err = load(&src, &[], &[]).unwrap_err().to_string();
    assert!(err.contains("config.yaml: `defaults:` must be a list"), "{err}");

    // No experiment group selected: the missing section is named.
    fs::write(conf.path().join("config.yaml"), "defaults:\n  - data: a\nseed: 1\n").unwrap();
    let err = load(&src, &[], &[]).unwrap_err().to_string();
    assert!(err.starts_with("missing key `experiment`"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = load(&ConfigSource::Dir(empty.path().to_path_buf()), &[], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingPrimary { .. }), "{err}");
}

#[test]
fn embedded_config_equals_conf_folder() {
    for a in [&[][..], &["data=mini"][..], &["data=arxiv100k", "experiment=tfidf_linear", "seed=3"][..]] {
        let a = args(a);
        assert_eq!(load(&ConfigSource::Embedded, &a, &[]).unwrap(), load(&repo_conf(), &a, &[]).unwrap());
    }
}

#[test]
fn resolved_yaml_round_trips() {
    let a = args(&["data=mini", "data.max_samples=20000", "run.dir=runs/x", "experiment.linear.epochs=5"]);
    let r = load(&ConfigSource::Embedded, &a, &[]).unwrap();
    let yaml = r.to_yaml();
    assert!(yaml.contains("# groups: data=mini experiment=tfidf_linear"), "{yaml}");
    assert!(yaml.contains(r#"# override: "data.max_samples=20000""#), "{yaml}");
    assert_eq!(AtlasConfig::from_yaml(&yaml, "config.resolved.yaml").unwrap(), r.config);
    assert_eq!(serde_yaml::from_str::<AtlasConfig>(&yaml).unwrap(), r.config);

    let err = AtlasConfig::from_yaml(&yaml.replace("max_samples:", "max_sample:"), "saved.yaml").unwrap_err();
    assert!(
        err.to_string().contains("unknown key `data.max_sample`") && err.to_string().contains("saved.yaml")
    );
}

#[test]
fn shipped_config_files() {
    let r = load(&repo_conf(), &[], &[]).unwrap();
    let c = &r.config;
    assert_eq!(r.groups.get("data").map(String::as_str), Some("arxiv100k"));
    assert_eq!(r.groups.get("experiment").map(String::as_str), Some("tfidf_linear"));
    assert_eq!(c.seed, 42);
    assert_eq!(c.data.input, PathBuf::from("../shared/data/arxiv-100k.jsonl.gz"));
    // No taxonomy named: the data kit's is used when present, and a machine without it still trains.
    assert_eq!(c.data.taxonomy, None);
    assert_eq!(c.data.template.as_str(), DEFAULT_TEMPLATE);
    assert_eq!(c.experiment.kind, ExperimentKind::TfidfLinear);
    assert_eq!(c.run, RunConfig::default());
    let mini = load(&repo_conf(), &args(&["data=mini"]), &[]).unwrap();
    assert_eq!(mini.config.data.input, PathBuf::from("../shared/data/arxiv-mini.jsonl.gz"));

    // The experiment file spells out every hyper-parameter (so it documents them), with valid values.
    let text = fs::read_to_string(repo_root().join("conf/experiment/tfidf_linear.yaml")).unwrap();
    let file: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for (section, defaults) in [
        ("tfidf", serde_yaml::to_value(atlas_classify::TfidfParams::default()).unwrap()),
        ("linear", serde_yaml::to_value(atlas_classify::LinearParams::default()).unwrap()),
    ] {
        let written = file[section].as_mapping().unwrap();
        for (key, default) in defaults.as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            let value = written.get(key).unwrap_or_else(|| panic!("{section}.{key} missing from the file"));
            if value != default {
                eprintln!(
                    "note: experiment.{section}.{key} is {value:?} in the file, {default:?} in Default"
                );
            }
        }
    }

    // The data paths point at files of the shared kit (`../shared`, relative to the repository root), which
    // must be readable where the kit is required.
    let default_taxonomy = PathBuf::from(atlas_corpus::DEFAULT_TAXONOMY_PATH);
    for cfg in [&c.data, &mini.config.data] {
        for path in [&cfg.input, &default_taxonomy] {
            let rel = path.strip_prefix("../shared").unwrap().to_str().unwrap();
            let Some(_) = atlas_testkit::shared_file("shipped_config_files", rel) else { return };
        }
    }
}

#[test]
fn the_finetune_group_is_typed() {
    let load_with = |a: &[&str]| load(&ConfigSource::Embedded, &args(a), &[]);
    let r = load_with(&["experiment=contrastive"]).unwrap();
    assert_eq!(r.groups["finetune"], "cpu_60min");
    assert_eq!(r.config.experiment.kind, ExperimentKind::Contrastive);
    let ft = &r.config.finetune;
    assert_eq!(ft.train_layers, atlas_finetune::TrainLayers::Top(1));
    assert_eq!(ft.layers.max_pairs, 8000);
    assert_eq!(ft.layers.loss, atlas_finetune::LossKind::Mnrl);

    let r = load_with(&["finetune.train_layers=all", "finetune.layers.loss=contrastive"]).unwrap();
    assert_eq!(r.config.finetune.train_layers, atlas_finetune::TrainLayers::All);
    assert_eq!(r.config.finetune.layers.loss, atlas_finetune::LossKind::Contrastive);
    let r = load_with(&["finetune=adapter"]).unwrap();
    assert_eq!(r.config.finetune.train_layers, atlas_finetune::TrainLayers::Adapter);
    // The resolved YAML reads back to the same value (what a run folder saves).
    let back = AtlasConfig::from_yaml(&r.to_yaml(), "test").unwrap();
    assert_eq!(back, r.config);

    let err = load_with(&["finetune.train_layers=0"]).unwrap_err().to_string();
    assert!(err.contains("expected `adapter`, `all` or a number of top layers"), "{err}");
    let err = load_with(&["finetune.layers.loss=triplet"]).unwrap_err().to_string();
    assert!(err.contains("finetune.layers.loss") && err.contains("contrastive"), "{err}");
}
