//! The configuration as a YAML tree while layers are merged, with the origin of every key.
//!
//! Origins let errors say where a bad value came from ("set by command line `data.max_samples=abc`"),
//! which matters once four layers (primary file, group files, overrides, environment) can set the same key.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

/// A merged configuration tree (string keys only) and, for each key set so far, who set it last.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    root: Mapping,
    origins: BTreeMap<String, String>,
}

impl Tree {
    /// Deep-merges `value` at `path`: mappings merge key by key, anything else replaces what was there.
    /// Every key the value sets is recorded as coming from `origin`. Fails only on a mapping key that is not
    /// a string, number or bool, and then says which.
    pub fn merge_at(&mut self, path: &[String], value: Value, origin: &str) -> Result<(), String> {
        let value = stringify_keys(value, &path.join("."))?;
        self.record(&path.join("."), &value, origin);
        insert_at(&mut self.root, path, value);
        Ok(())
    }

    fn record(&mut self, prefix: &str, value: &Value, origin: &str) {
        match value {
            Value::Mapping(m) if !m.is_empty() => {
                for (k, v) in m {
                    let k = k.as_str().unwrap_or_default();
                    let path = if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
                    self.record(&path, v, origin);
                }
            }
            _ if !prefix.is_empty() => {
                self.origins.insert(prefix.to_string(), origin.to_string());
            }
            _ => {}
        }
    }

    /// Who last set `key` (or the closest section above it that was set as a whole).
    pub fn origin_of(&self, key: &str) -> Option<String> {
        let mut k = key;
        loop {
            if let Some(o) = self.origins.get(k) {
                return Some(o.clone());
            }
            k = k.rsplit_once('.')?.0;
        }
    }

    /// The merged tree.
    pub fn root(&self) -> &Mapping {
        &self.root
    }
}

fn insert_at(node: &mut Mapping, path: &[String], value: Value) {
    match path {
        // A null or empty layer changes nothing; non-mapping top-level files are rejected before merging.
        [] => {
            if let Value::Mapping(new) = value {
                merge_mapping(node, new);
            }
        }
        [last] => {
            let slot = node.entry(Value::String(last.clone())).or_insert(Value::Null);
            match (slot, value) {
                (Value::Mapping(existing), Value::Mapping(new)) => merge_mapping(existing, new),
                (slot, value) => *slot = value,
            }
        }
        [first, rest @ ..] => {
            let slot = node.entry(Value::String(first.clone())).or_insert(Value::Null);
            match slot {
                Value::Mapping(m) => insert_at(m, rest, value),
                // Setting `a.b` where `a` holds a scalar: the scalar gives way, and the schema check then
                // reports `a` as a section of the wrong type if it was not meant to be one.
                other => {
                    let mut m = Mapping::new();
                    insert_at(&mut m, rest, value);
                    *other = Value::Mapping(m);
                }
            }
        }
    }
}

fn merge_mapping(existing: &mut Mapping, new: Mapping) {
    for (k, v) in new {
        match (existing.get_mut(&k), v) {
            (Some(Value::Mapping(old)), Value::Mapping(newer)) => merge_mapping(old, newer),
            (_, v) => {
                existing.insert(k, v);
            }
        }
    }
}

/// Makes every mapping key a string (`1:` and `true:` become `"1"` and `"true"`), so the tree matches the
/// schema's field names and dotted paths are unambiguous.
fn stringify_keys(value: Value, at: &str) -> Result<Value, String> {
    match value {
        Value::Mapping(m) => {
            let mut out = Mapping::with_capacity(m.len());
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        let shown = serde_yaml::to_string(&other).unwrap_or_default();
                        let place =
                            if at.is_empty() { "the top level".to_string() } else { format!("`{at}`") };
                        return Err(format!("key `{}` under {place} is not a plain name", shown.trim()));
                    }
                };
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                let v = stringify_keys(v, &path)?;
                out.insert(Value::String(key), v);
            }
            Ok(Value::Mapping(out))
        }
        Value::Sequence(items) => items
            .into_iter()
            .map(|v| stringify_keys(v, at))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Sequence),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn deep_merge_with_origins() {
        let mut t = Tree::default();
        t.merge_at(&[], yaml("seed: 1\nrun: {root: runs, name: null}"), "config.yaml").unwrap();
        t.merge_at(&path("data"), yaml("input: a.jsonl\nmax_samples: 10"), "data/mini.yaml").unwrap();
        t.merge_at(&path("data.max_samples"), Value::from(20u64), "cli").unwrap();
        t.merge_at(&path("run"), yaml("{name: x}"), "env").unwrap();
        let expected = yaml("seed: 1\nrun: {root: runs, name: x}\ndata: {input: a.jsonl, max_samples: 20}");
        assert_eq!(Value::Mapping(t.root().clone()), expected);
        assert_eq!(t.origin_of("seed").as_deref(), Some("config.yaml"));
        assert_eq!(t.origin_of("data.input").as_deref(), Some("data/mini.yaml"));
        assert_eq!(t.origin_of("data.max_samples").as_deref(), Some("cli"));
        assert_eq!(t.origin_of("run.name").as_deref(), Some("env"));
        assert_eq!(t.origin_of("run.root").as_deref(), Some("config.yaml"));
        assert_eq!(t.origin_of("nowhere.x"), None);
    }

    #[test]
    fn scalar_gives_way_to_a_section_and_keys_become_strings() {
        let mut t = Tree::default();
        t.merge_at(&[], yaml("seed: 1\n2: two"), "f").unwrap();
        t.merge_at(&path("seed.x"), Value::from(3u64), "cli").unwrap();
        assert_eq!(Value::Mapping(t.root().clone()), yaml("seed: {x: 3}\n'2': two"));
        assert_eq!(t.origin_of("seed.x.deeper").as_deref(), Some("cli"));
        let err = t.merge_at(&path("data"), yaml("? [1, 2]\n: x"), "f").unwrap_err();
        assert!(err.contains("`data`"), "{err}");
    }
}
