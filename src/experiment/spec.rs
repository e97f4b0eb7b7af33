//! Experiment specs: one TOML file a paper row. Parsed once into checked types; every error
//! names the file and the dotted key. A spec may `extends = "base.toml"` (a path relative to
//! it; its tables are merged key by key, the child winning) and `--set a.b=value` overrides
//! apply last, a value being read as TOML where it parses and as a string otherwise.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_positive, parse_config};
use crate::data::{self, Task, TaskConfig};
use crate::error::{Error, Result};
use crate::kernels::gemm::Backend;
use crate::net::cells::ModelConfig;
use crate::net::model::Model;
use crate::net::optim::{OptimizerConfig, OptimizerKind};

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
    /// Reads `path` (following `extends`) and applies `overrides` (`key.path=value`). A
    /// relative path that does not exist here is looked up under the project root
    /// ([`crate::experiment::root`]), so the repository's specs work from any directory.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Spec> {
        let path = &crate::experiment::root::find_spec(path);
        let mut table = read_table(path, &mut Vec::new())?;
        for o in overrides {
            apply_override(&mut table, o)
                .map_err(|e| Error::spec(path, e.key, format!("--set {o}: {}", e.msg)))?;
        }
        Spec::from_table(path, table).map_err(|e| match e {
            // Say where a wrong key came from: the command line or the file (or its bases).
            Error::Spec { file, key, msg } => {
                let from_set = overrides.iter().any(|o| {
                    o.split_once('=').is_some_and(|(k, _)| {
                        key.starts_with(k.trim()) || k.trim().starts_with(&key)
                    })
                });
                let origin = if from_set {
                    "from --set"
                } else {
                    "in the file"
                };
                Error::Spec {
                    file,
                    key,
                    msg: format!("{msg} ({origin})"),
                }
            }
            e => e,
        })
    }

    /// Checks a merged table; `file` is named in errors.
    pub fn from_table(file: &Path, mut table: toml::Table) -> Result<Spec> {
        let (kind, model) = tagged(file, &mut table, "model", "kind")?;
        let model =
            ModelConfig::parse(&kind, model).map_err(|e| spec_error(file, e.within("model")))?;
        let (name, task) = tagged(file, &mut table, "task", "name")?;
        let task =
            TaskConfig::parse(&name, task).map_err(|e| spec_error(file, e.within("task")))?;
        let rest: Rest = parse_config(table).map_err(|e| spec_error(file, e.within("")))?;
        let spec = Spec {
            description: rest.description,
            model,
            task,
            train: rest.train,
        };
        spec.validate().map_err(|e| spec_error(file, e))?;
        Ok(spec)
    }

    /// Range checks serde cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.model.hidden() == 0 {
            return Err(ConfigError::new("model.hidden", "must be at least 1"));
        }
        self.train.validate().map_err(|e| e.within("train"))?;
        self.task.validate().map_err(|e| e.within("task"))?;
        self.model.validate().map_err(|e| e.within("model"))?;
        if !self.train.lr_scale.is_empty() {
            let layout = self.build_model().layout;
            if let Some(name) = self
                .train
                .lr_scale
                .keys()
                .find(|n| layout.find(n).is_none())
            {
                let names: Vec<_> = layout.entries().iter().map(|e| e.name.as_str()).collect();
                return Err(ConfigError::new(
                    "train.lr_scale",
                    format!(
                        "the model has no tensor {name:?}; it has {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The model this spec describes, sized for its task.
    pub fn build_model(&self) -> Model<f32> {
        let (input_size, output_size) = self.task.dims();
        Model::new(&self.model, input_size, output_size)
    }

    /// The task this spec names, read from the data directory when it needs one.
    pub fn load_task(&self, data_dir: Option<&Path>) -> Result<Box<dyn Task>> {
        let dir = if self.task.needs_data() {
            Some(data::data_dir_for(&self.task, data_dir)?)
        } else {
            None
        };
        let task = self.task.load(dir.as_deref())?;
        let info = task.info();
        if (info.input_size, info.output_size) != self.task.dims() {
            return Err(Error::Shape {
                what: format!("{} data (input, output) widths", info.task),
                expected: vec![self.task.dims().0, self.task.dims().1],
                found: vec![info.input_size, info.output_size],
            });
        }
        Ok(task)
    }

    /// The resolved spec as TOML (what a run folder keeps).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("specs serialise")
    }

    /// The resolved spec as `section.key` → value (`train.lr`, `model.hidden`), description
    /// aside: the columns a run gets in `lrnn list --json` and `runs.csv`.
    pub fn flattened(&self) -> serde_json::Map<String, serde_json::Value> {
        fn walk(
            prefix: &str,
            v: &toml::Value,
            out: &mut serde_json::Map<String, serde_json::Value>,
        ) {
            match v {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let key = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&key, v, out);
                    }
                }
                v => {
                    let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
                    out.insert(prefix.to_string(), json);
                }
            }
        }
        let mut out = serde_json::Map::new();
        let table: toml::Value = toml::from_str(&self.identity_toml()).expect("a spec reads back");
        walk("", &table, &mut out);
        out
    }

    /// A configuration's id: 8 hex digits of SHA-256 of the identity TOML with the seed at 1,
    /// so the seeds of one configuration share it (what sweeps and exports group by).
    pub fn config_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut unseeded = self.clone();
        unseeded.train.seed = 1;
        let hash = Sha256::digest(unseeded.identity_toml().as_bytes());
        crate::io::hex(&hash[..4])
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

/// `lrnn spec show --all`: every key of `[train]`, and of `[model]` for every kind and `[task]`
/// for every name, with its default and doc; given a spec, only its kind and task, with a
/// column of its values (`*` where one differs from the default).
pub fn describe_keys(spec: Option<&Spec>) -> String {
    use crate::config::describe;
    let flat = spec.map(Spec::flattened);
    let mut sections = vec![("train".to_string(), describe::<TrainSpec>())];
    let kinds = spec.map_or(ModelConfig::KINDS.to_vec(), |s| vec![s.model.kind()]);
    for kind in kinds {
        let keys = ModelConfig::keys(kind).expect("a registered kind");
        sections.push((format!("model] kind = \"{kind}\""), keys));
    }
    let names = spec.map_or(TaskConfig::NAMES.to_vec(), |s| vec![s.task.name()]);
    for name in names {
        let keys = TaskConfig::keys(name).expect("a registered task");
        sections.push((format!("task] name = \"{name}\""), keys));
    }
    let mut out = String::from(
        "# Every spec key with its default; a key a spec leaves out takes its default.\n",
    );
    for (title, keys) in sections {
        let (section, selector) = title.split_once(']').unwrap_or((&title, ""));
        out.push_str(&format!("\n[{section}]{selector}\n"));
        let value_of = |key: &str| {
            let flat = flat.as_ref()?;
            let v = flat.get(&format!("{section}.{key}"))?;
            Some(v.to_string())
        };
        let rows: Vec<[String; 3]> = keys
            .iter()
            .map(|k| {
                use crate::config::KeyDefault;
                // A key a spec leaves out (or that serialises only off its default) is at its
                // default; `*` marks a value that differs from a default.
                let value = match (value_of(&k.key), &k.default) {
                    (Some(v), KeyDefault::Value(d)) if !same_value(&v, d) => format!("{v} *"),
                    (Some(v), _) => v,
                    (None, _) if flat.is_none() => String::new(),
                    (None, d) => d.to_string(),
                };
                [k.key.clone(), k.default.to_string(), value]
            })
            .collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (wk, wd, wv) = (width(0), width(1), width(2));
        for (row, key) in rows.iter().zip(&keys) {
            let mut line = format!("  {:wk$}  {:wd$}", row[0], row[1]);
            if flat.is_some() {
                line.push_str(&format!("  {:wv$}", row[2]));
            }
            let doc = first_sentence(key.doc);
            if !doc.is_empty() {
                line.push_str("  # ");
                line.push_str(&doc);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Whether a spec's value (JSON text) is the default (TOML), compared as JSON numbers,
/// strings and arrays.
fn same_value(json: &str, default: &toml::Value) -> bool {
    serde_json::to_value(default).is_ok_and(|d| {
        serde_json::from_str::<serde_json::Value>(json)
            .is_ok_and(|v| v == d || (v.as_f64().is_some() && v.as_f64() == d.as_f64()))
    })
}

/// A doc comment's first sentence: up to a `. ` before a capital letter that does not end
/// an abbreviation (`et al.`, `e.g.`), with rustdoc's link brackets dropped.
fn first_sentence(doc: &str) -> String {
    let end = doc
        .match_indices(". ")
        .find(|&(i, _)| {
            let next = doc[i + 2..].chars().next();
            let word = doc[..i].rsplit([' ', '(']).next().unwrap_or_default();
            next.is_some_and(char::is_uppercase) && !matches!(word, "al" | "e.g" | "i.e" | "cf")
        })
        .map_or(doc.len(), |(i, _)| i + 1);
    doc[..end].replace("[`", "`").replace("`]", "`")
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

fn spec_error(file: &Path, e: ConfigError) -> Error {
    Error::spec(file, e.key, e.msg)
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
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| ConfigError::new(item, "expected key.path=value"))?;
    let key = key.trim();
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut parts = key_path(key);
    let last = parts
        .pop()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConfigError::new(key, "empty key"))?;
    let mut node = table;
    for (i, part) in parts.iter().enumerate() {
        let entry = node
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::new(parts[..=i].join("."), "is not a table"))?;
    }
    node.insert(last, value);
    Ok(())
}

/// The segments of a dotted key as TOML reads them, so a quoted one may hold dots or slashes
/// (`train.lr_scale."cell/M"`); a key TOML rejects is split at its dots.
fn key_path(key: &str) -> Vec<String> {
    let Ok(mut t) = format!("{key} = 0").parse::<toml::Table>() else {
        return key.split('.').map(str::to_string).collect();
    };
    let mut path = Vec::new();
    while t.len() == 1 {
        let (k, v) = t.into_iter().next().expect("one entry");
        path.push(k);
        match v {
            toml::Value::Table(inner) => t = inner,
            _ => return path,
        }
    }
    key.split('.').map(str::to_string).collect()
}

/// The `[train]` section of a spec; defaults are the authors' pixel-MNIST recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Passes over the training split.
    pub epochs: usize,
    /// Sequences a step (the last batch of an epoch may be smaller, as PyTorch's DataLoader).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Seeds initialisation and shuffling.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// `adam` or `sgd`.
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    #[serde(default = "defaults::momentum")]
    pub momentum: f64,
    /// Adam's (β₁, β₂).
    #[serde(default = "defaults::adam_betas")]
    pub adam_betas: [f64; 2],
    /// Adam's ε.
    #[serde(default = "defaults::adam_eps")]
    pub adam_eps: f64,
    /// L2 weight decay added to gradients.
    #[serde(default)]
    pub weight_decay: f64,
    /// Global-norm gradient clip; 0 turns it off (the authors' current default).
    #[serde(default)]
    pub grad_clip: f64,
    /// Learning-rate factors by parameter name, e.g. `{ "cell/M" = 0.1 }`: that tensor steps at
    /// `lr · factor` (schedule included). The orthogonal RNNs' releases train their recurrent
    /// parameter this way (scoRNN: 1e-4 beside 1e-3; expRNN: `lr_orth` = lr / 10). Names are
    /// the checkpoint's (`lrnn spec show` lists a model's); empty by default.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub lr_scale: std::collections::BTreeMap<String, f64>,
    /// Factor applied to the learning rate after each epoch of `lr_decay_epochs`.
    #[serde(default = "defaults::lr_decay")]
    pub lr_decay: f64,
    /// 0-based epochs after which the rate decays (the authors: `[90]`, so epochs 91.. are decayed).
    #[serde(default = "defaults::lr_decay_epochs")]
    pub lr_decay_epochs: Vec<usize>,
    /// Sequences a batch when evaluating (the authors' `test-batch-size`).
    #[serde(default = "defaults::eval_batch_size")]
    pub eval_batch_size: usize,
    /// Stop each epoch after this many steps (smoke runs); absent = the whole split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps_per_epoch: Option<usize>,
    /// Evaluate on the first this many batches of val and test only (smoke and quick runs); a
    /// split grouped by class (CIFAR-10's image folders) on a stratified subset of as many
    /// examples drawn from `seed` instead ([`crate::data::Task::cap_evaluation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_eval_batches: Option<usize>,
    /// BLAS threads when `shards = 1` (default: what OpenBLAS chose, normally one a core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// GEMM backend, `avx512`, `matrixmultiply`, `openblas` or `amx` (see `lrnn bench`;
    /// `avx512` falls back to `matrixmultiply` on CPUs without AVX-512F). `amx` runs the
    /// recurrent products and weight gradients as three bf16 products on AMX tiles (16 of
    /// f32's 24 mantissa bits; PyTorch's float32 matmul precision "high"): faster, not f32.
    #[serde(default = "defaults::gemm")]
    pub gemm: Backend,
    /// Data-parallel shards of each batch: each shard's gradient is computed on its own and
    /// the shards are summed in order, so this, not the cores, fixes the numbers. They run on
    /// as many threads as the run is given (`lrnn run --threads`, `SLURM_CPUS_PER_TASK`),
    /// BLAS single-threaded meanwhile; 1 = one worker with multithreaded BLAS. Default 2,
    /// what every run on the project's 2-core machines used.
    #[serde(default = "defaults::shards")]
    pub shards: usize,
    /// Write a row of `steps.csv` (loss, gradient norm, lr, step time) every this many
    /// steps; 0 turns it off. Does not change the numbers, so at its default it is left out
    /// of the resolved spec and the run id.
    #[serde(
        default = "defaults::log_every",
        skip_serializing_if = "defaults::is_log_every"
    )]
    pub log_every: usize,
}

mod defaults {
    pub fn batch_size() -> usize {
        128
    }
    pub fn seed() -> u64 {
        1
    }
    pub fn momentum() -> f64 {
        0.9
    }
    pub fn adam_betas() -> [f64; 2] {
        [0.9, 0.999]
    }
    pub fn adam_eps() -> f64 {
        1e-8
    }
    pub fn lr_decay() -> f64 {
        0.1
    }
    pub fn lr_decay_epochs() -> Vec<usize> {
        vec![90]
    }
    pub fn eval_batch_size() -> usize {
        1000
    }
    pub fn shards() -> usize {
        2
    }
    pub fn log_every() -> usize {
        50
    }
    pub fn is_log_every(v: &usize) -> bool {
        *v == log_every()
    }
    pub fn gemm() -> super::Backend {
        super::Backend::Avx512
    }
}

impl TrainSpec {
    /// Data-parallel shards this spec trains with.
    pub fn num_shards(&self) -> usize {
        self.shards.max(1)
    }

    /// The documented range of every key: counts at least 1, rates and ε positive, decays and
    /// clips at least 0, momenta and betas in [0, 1), everything finite.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use crate::config::{check_at_least, check_non_negative, check_unit_open};
        check_at_least("epochs", self.epochs, 1)?;
        check_at_least("batch_size", self.batch_size, 1)?;
        check_at_least("eval_batch_size", self.eval_batch_size, 1)?;
        check_at_least("shards", self.shards, 1)?;
        for (key, v) in [
            ("max_steps_per_epoch", self.max_steps_per_epoch),
            ("max_eval_batches", self.max_eval_batches),
            ("threads", self.threads),
        ] {
            if let Some(v) = v {
                check_at_least(key, v, 1)?;
            }
        }
        check_positive("lr", self.lr)?;
        check_positive("adam_eps", self.adam_eps)?;
        check_positive("lr_decay", self.lr_decay)?;
        check_unit_open("momentum", self.momentum)?;
        check_unit_open("adam_betas[0]", self.adam_betas[0])?;
        check_unit_open("adam_betas[1]", self.adam_betas[1])?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_non_negative("grad_clip", self.grad_clip)?;
        for (name, &f) in &self.lr_scale {
            check_non_negative(&format!("lr_scale.\"{name}\""), f)?;
        }
        Ok(())
    }

    /// Steps an epoch takes over a split of `batches` batches (`max_steps_per_epoch` caps it).
    pub fn steps_per_epoch(&self, batches: usize) -> usize {
        self.max_steps_per_epoch.map_or(batches, |m| m.min(batches))
    }

    /// Applies the GEMM backend and thread settings to the process.
    pub fn configure(&self) {
        crate::kernels::gemm::set_backend(self.gemm);
        crate::kernels::blas::one_level(self.num_shards(), self.threads);
    }

    pub fn optimizer_config(&self) -> OptimizerConfig {
        OptimizerConfig {
            kind: self.optimizer,
            momentum: self.momentum,
            betas: (self.adam_betas[0], self.adam_betas[1]),
            eps: self.adam_eps,
            weight_decay: self.weight_decay,
        }
    }
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
        assert_eq!(c.scheme, crate::net::cells::lipschitz::Scheme::Rk2);
        assert_eq!((c.eps, c.beta, c.init_std), (0.03, 0.75, 0.1));
        assert_eq!(s.train.lr, 0.01);
        assert_eq!(s.train.batch_size, 128);
        // The resolved spec reads back to itself.
        let again = Spec::from_table(Path::new("r.toml"), s.to_toml().parse().unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn lr_scale_takes_quoted_tensor_names_and_checks_them() {
        let s = parse(BASE, &[r#"train.lr_scale."cell/M_A"=0.1"#]).unwrap();
        assert_eq!(s.train.lr_scale.get("cell/M_A"), Some(&0.1));
        assert!(
            s.to_toml().contains(r#""cell/M_A" = 0.1"#),
            "{}",
            s.to_toml()
        );
        // Empty, it stays out of the resolved spec, so older run ids stand.
        assert!(!parse(BASE, &[]).unwrap().to_toml().contains("lr_scale"));
        let unknown = parse(BASE, &[r#"train.lr_scale."cell/Q"=0.1"#])
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("train.lr_scale") && unknown.contains("cell/M_A"),
            "{unknown}"
        );
        let negative = parse(BASE, &[r#"train.lr_scale."cell/M_A"=-1"#]).unwrap_err();
        assert!(negative.to_string().contains("lr_scale"), "{negative}");
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
