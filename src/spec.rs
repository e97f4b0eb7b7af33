//! Experiment specs: one TOML file a paper row. Parsed once into checked types; every error
//! names the file and the dotted key. A spec may `extends = "base.toml"` (a path relative to
//! it; its tables are merged key by key, the child winning) and `--set a.b=value` overrides
//! apply last, a value being read as TOML where it parses and as a string otherwise.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cells::ModelConfig;
use crate::data::TaskConfig;
use crate::error::{Error, Result};
use crate::train::TrainSpec;

/// A resolved, checked experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spec {
    /// What the row reproduces and which quirks of the authors' code it keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub model: ModelConfig,
    pub task: TaskConfig,
    pub train: TrainSpec,
}

/// Everything but `[model]` and `[task]`, whose keys depend on their `kind` and `name`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rest {
    description: Option<String>,
    train: TrainSpec,
}

impl Spec {
    /// Reads `path` (following `extends`) and applies `overrides` (`key.path=value`).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Spec> {
        let mut table = read_table(path, &mut Vec::new())?;
        for o in overrides {
            apply_override(&mut table, o)
                .map_err(|(key, msg)| Error::spec(path, key, format!("--set {o}: {msg}")))?;
        }
        Spec::from_table(path, table)
    }

    /// Checks a merged table; `file` is named in errors.
    pub fn from_table(file: &Path, mut table: toml::Table) -> Result<Spec> {
        let (kind, model) = tagged(file, &mut table, "model", "kind")?;
        let model = ModelConfig::parse(&kind, model)
            .map_err(|(key, msg)| Error::spec(file, dotted("model", &key), msg))?;
        let (name, task) = tagged(file, &mut table, "task", "name")?;
        let task = TaskConfig::parse(&name, task)
            .map_err(|(key, msg)| Error::spec(file, dotted("task", &key), msg))?;
        let rest: Rest =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                Error::spec(
                    file,
                    dotted("", &key),
                    first_line(&e.into_inner().to_string()),
                )
            })?;
        let spec = Spec {
            description: rest.description,
            model,
            task,
            train: rest.train,
        };
        spec.validate()
            .map_err(|(key, msg)| Error::spec(file, key, msg))?;
        Ok(spec)
    }

    /// Range checks serde cannot express.
    fn validate(&self) -> Result<(), (String, String)> {
        let positive = crate::cells::check_positive;
        if self.model.hidden() == 0 {
            return Err(("model.hidden".into(), "must be at least 1".into()));
        }
        positive("train.lr", self.train.lr)?;
        positive("train.epochs", self.train.epochs as f64)?;
        positive("train.batch_size", self.train.batch_size as f64)?;
        positive("train.eval_batch_size", self.train.eval_batch_size as f64)?;
        self.model
            .validate()
            .map_err(|(key, msg)| (dotted("model", &key), msg))
    }

    /// The resolved spec as TOML (what a run folder keeps).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("specs serialise")
    }

    /// What fixes a run's numbers: the resolved spec as TOML without its `description`, so
    /// rewording a spec's prose keeps its run id and its run folder.
    pub fn identity_toml(&self) -> String {
        Spec {
            description: None,
            ..self.clone()
        }
        .to_toml()
    }
}

/// Removes section `[section]` from `table` and its selector key (`kind`, `name`), which
/// decides how the rest of the section is read.
fn tagged(
    file: &Path,
    table: &mut toml::Table,
    section: &str,
    key: &str,
) -> Result<(String, toml::Table)> {
    let mut t = match table.remove(section) {
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(Error::spec(file, section, "must be a table")),
        None => {
            return Err(Error::spec(
                file,
                section,
                format!("missing section [{section}]"),
            ));
        }
    };
    let path = format!("{section}.{key}");
    match t.remove(key) {
        Some(toml::Value::String(s)) => Ok((s, t)),
        Some(v) => Err(Error::spec(
            file,
            path,
            format!("expected a string, found {}", v.type_str()),
        )),
        None => Err(Error::spec(file, path, "missing")),
    }
}

/// serde's message without the location lines the TOML deserializer appends (the key says it).
pub(crate) fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or_default().to_string()
}

fn dotted(prefix: &str, key: &str) -> String {
    match (prefix, key) {
        ("", ".") | ("", "") => "(top level)".to_string(),
        ("", k) => k.to_string(),
        (p, ".") | (p, "") => p.to_string(),
        (p, k) => format!("{p}.{k}"),
    }
}

/// Reads a TOML file and, recursively, the files it `extends`.
fn read_table(path: &Path, chain: &mut Vec<PathBuf>) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let msg = e.message().to_string();
        let key = e
            .span()
            .map(|s| {
                let line = text[..s.start].lines().count().max(1);
                format!("line {line}")
            })
            .unwrap_or_else(|| "(syntax)".into());
        Error::spec(path, key, msg)
    })?;
    let Some(base) = table.remove("extends") else {
        return Ok(table);
    };
    let toml::Value::String(base) = base else {
        return Err(Error::spec(path, "extends", "must be a path string"));
    };
    let base_path = path.parent().unwrap_or(Path::new(".")).join(base);
    let canonical = base_path
        .canonicalize()
        .map_err(|e| Error::spec(path, "extends", format!("{}: {e}", base_path.display())))?;
    if chain.contains(&canonical) {
        return Err(Error::spec(path, "extends", "cycle of extends"));
    }
    chain.push(canonical);
    let mut merged = read_table(&base_path, chain)?;
    merge(&mut merged, table);
    Ok(merged)
}

/// Deep-merges `over` into `base`; tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies `a.b.c=value`; the value is parsed as TOML, falling back to a plain string. The
/// `--set` of specs, and `lrnn bench --cell` on a bare `[model]` table.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), (String, String)> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| (item.to_string(), "expected key.path=value".to_string()))?;
    let key = key.trim();
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| (key.to_string(), "empty key".to_string()))?;
    let mut node = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| (parts[..=i].join("."), "is not a table".to_string()))?;
    }
    node.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[model]
kind = "lipschitz"
hidden = 8
[task]
name = "smnist"
[train]
epochs = 2
lr = 0.003
"#;

    fn parse(text: &str, overrides: &[&str]) -> Result<Spec> {
        let mut t: toml::Table = text.parse().unwrap();
        for o in overrides {
            apply_override(&mut t, o).unwrap();
        }
        Spec::from_table(Path::new("s.toml"), t)
    }

    #[test]
    fn defaults_and_overrides() {
        let s = parse(
            BASE,
            &["model.scheme=rk2", "train.lr=0.01", "task.name=psmnist"],
        )
        .unwrap();
        #[allow(irrefutable_let_patterns)]
        let ModelConfig::Lipschitz(c) = &s.model else {
            panic!("a lipschitz spec")
        };
        assert_eq!(c.scheme, crate::cells::lipschitz::Scheme::Rk2);
        assert_eq!((c.eps, c.beta, c.init_std), (0.03, 0.75, 0.1));
        assert_eq!(s.train.lr, 0.01);
        assert_eq!(s.train.batch_size, 128);
        // The resolved spec reads back to itself.
        let again = Spec::from_table(Path::new("r.toml"), s.to_toml().parse().unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn errors_name_the_key() {
        let msg = |e: Error| e.to_string();
        assert!(msg(parse(BASE, &["model.hiden=3"]).unwrap_err()).contains("s.toml: model"));
        assert!(msg(parse(BASE, &["model.hiden=3"]).unwrap_err()).contains("hiden"));
        let wrong = msg(parse(BASE, &["train.epochs=\"many\""]).unwrap_err());
        assert!(wrong.starts_with("s.toml: train.epochs:"), "{wrong}");
        let kind = msg(parse(BASE, &["model.kind=\"transformer\""]).unwrap_err());
        assert!(kind.starts_with("s.toml: model.kind:"), "{kind}");
        let extra = msg(parse(BASE, &["train.wat=1"]).unwrap_err());
        assert!(extra.contains("train") && extra.contains("wat"), "{extra}");
        let beta = msg(parse(BASE, &["model.beta=2.0"]).unwrap_err());
        assert!(beta.starts_with("s.toml: model.beta:"), "{beta}");
    }
}
