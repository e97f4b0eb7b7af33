//! Hyperparameter sweeps: a sweep file expands into an indexed list of points, each a fully
//! resolved spec whose run id (the hash of that spec) names its run folder, so a point is a
//! run folder and a finished point is never trained twice.
//!
//! ```toml
//! base = "../smnist/lipschitz-euler-128.toml"   # relative to the sweep file
//! set = ["train.epochs=3"]                        # applied to every point
//! [grid]                                          # every combination
//! "model.eps" = [0.01, 0.03, 0.1]
//! "train.seed" = [1, 2, 3]
//! [[zip]]                                         # axes that vary together
//! "train.lr" = [0.001, 0.003]
//! "model.beta" = [0.7, 0.8]
//! [random]                                        # n draws from a seeded sampler
//! n = 4
//! seed = 1
//! axes = { "train.lr" = { log_uniform = [1e-4, 1e-2] }, "model.scheme" = { choice = ["euler", "rk2"] } }
//! [slurm]                                         # defaults of `lrnn sweep submit`
//! partition = "cpu"
//! time = "01:00:00"
//! ```
//!
//! Points are the product of the grid, each zip group and the random draws, in that order.
//! The plan (`results/sweeps/<name>/plan.json`) keeps each point's index across edits of
//! the sweep: a point planned before keeps its index, a new one gets the next free index,
//! and a point the sweep no longer has is kept as retired, never reused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::runs;
use crate::experiment::spec::Spec;

/// A sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// The base spec, relative to the sweep file.
    pub base: PathBuf,
    /// `--set` overrides applied to every point.
    #[serde(default)]
    pub set: Vec<String>,
    /// Axes by dotted spec key; every combination of their values.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// Groups of axes that vary together (equal lengths within a group).
    #[serde(default)]
    pub zip: Vec<BTreeMap<String, Vec<toml::Value>>>,
    /// Random search.
    #[serde(default)]
    pub random: Option<RandomSearch>,
    /// Defaults for `lrnn sweep submit`.
    #[serde(default)]
    pub slurm: SlurmDefaults,
}

/// `[random]`: `n` draws of every axis from a sampler seeded by `seed`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSearch {
    pub n: usize,
    #[serde(default)]
    pub seed: u64,
    pub axes: BTreeMap<String, Distribution>,
}

/// How a random axis draws its value.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform on `[lo, hi]`.
    Uniform([f64; 2]),
    /// `exp` of uniform on `[ln lo, ln hi]` (`0 < lo < hi`).
    LogUniform([f64; 2]),
    /// One of the values, each equally likely.
    Choice(Vec<toml::Value>),
}

/// `[slurm]`: the sbatch options a submission uses unless the command line says otherwise.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmDefaults {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    pub mem: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub max_running: Option<usize>,
    /// Seconds before the time limit that Slurm warns a task (`--signal=B:USR1@GRACE`), time
    /// enough to write a checkpoint.
    pub grace_s: Option<u64>,
    /// Extra `#SBATCH` lines, verbatim.
    #[serde(default)]
    pub extra: Vec<String>,
}

/// One point of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    /// The run id: `<task>/<base spec name>-s<seed>-<hash>`.
    pub id: String,
    /// The overrides of this point beyond the sweep's `set`, as `key=value`.
    pub overrides: Vec<String>,
    /// Planned before and no longer in the sweep: kept so its index is never reused.
    #[serde(default)]
    pub retired: bool,
    /// The point's own spec, where it is not the plan's base (a table's rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PathBuf>,
}

/// A sweep expanded: its base spec and every point, indexed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sweep: PathBuf,
    pub base: PathBuf,
    pub set: Vec<String>,
    pub points: Vec<Point>,
}

impl Plan {
    /// The points the sweep has now.
    pub fn active(&self) -> impl Iterator<Item = &Point> {
        self.points.iter().filter(|p| !p.retired)
    }
}

fn sweep_error(file: &Path, key: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::spec(file, key, msg)
}

impl SweepFile {
    /// Reads and checks `path`: unknown keys and malformed values are errors naming the file.
    pub fn load(path: &Path) -> Result<SweepFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| sweep_error(path, "(syntax)", e.message().to_string()))?;
        let sweep: SweepFile =
            crate::config::parse_config(table).map_err(|e| sweep_error(path, e.key, e.msg))?;
        for (i, group) in sweep.zip.iter().enumerate() {
            let mut lens = group.values().map(Vec::len);
            if let Some(first) = lens.next()
                && lens.any(|l| l != first)
            {
                return Err(sweep_error(
                    path,
                    format!("zip[{i}]"),
                    "axes of one group must have equal lengths",
                ));
            }
        }
        for (key, values) in sweep.grid.iter().chain(sweep.zip.iter().flatten()) {
            if values.is_empty() {
                return Err(sweep_error(
                    path,
                    key.as_str(),
                    "an axis needs at least one value",
                ));
            }
        }
        if let Some(r) = &sweep.random {
            for (key, d) in &r.axes {
                let ok = match d {
                    Distribution::Uniform([lo, hi]) => lo.is_finite() && hi.is_finite() && lo <= hi,
                    Distribution::LogUniform([lo, hi]) => *lo > 0.0 && hi.is_finite() && lo <= hi,
                    Distribution::Choice(v) => !v.is_empty(),
                };
                if !ok {
                    return Err(sweep_error(
                        path,
                        format!("random.axes.{key}"),
                        "an empty or reversed range",
                    ));
                }
            }
        }
        Ok(sweep)
    }

    /// Every point's overrides, in plan order: grid × each zip group × random draws.
    fn combinations(&self) -> Vec<Vec<String>> {
        let kv = |k: &str, v: &toml::Value| format!("{k}={v}");
        let mut points: Vec<Vec<String>> = vec![Vec::new()];
        for (key, values) in &self.grid {
            points = points
                .iter()
                .flat_map(|p| {
                    values
                        .iter()
                        .map(move |v| [p.clone(), vec![kv(key, v)]].concat())
                })
                .collect();
        }
        for group in &self.zip {
            let len = group.values().next().map_or(0, Vec::len);
            points = points
                .iter()
                .flat_map(|p| {
                    (0..len).map(move |i| {
                        let mut q = p.clone();
                        q.extend(group.iter().map(|(k, vs)| kv(k, &vs[i])));
                        q
                    })
                })
                .collect();
        }
        if let Some(r) = &self.random {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(r.seed);
            let draws: Vec<Vec<String>> = (0..r.n)
                .map(|_| {
                    r.axes
                        .iter()
                        .map(|(k, d)| {
                            let v = match d {
                                Distribution::Uniform([lo, hi]) => {
                                    toml::Value::Float(rng.random_range(*lo..=*hi))
                                }
                                Distribution::LogUniform([lo, hi]) => {
                                    toml::Value::Float(rng.random_range(lo.ln()..=hi.ln()).exp())
                                }
                                Distribution::Choice(v) => v[rng.random_range(0..v.len())].clone(),
                            };
                            kv(k, &v)
                        })
                        .collect()
                })
                .collect();
            points = points
                .iter()
                .flat_map(|p| draws.iter().map(move |d| [p.clone(), d.clone()].concat()))
                .collect();
        }
        points
    }
}

impl Plan {
    /// The run folder of `point` under `results`.
    pub fn dir(&self, results: &Path, point: &Point) -> PathBuf {
        runs::run_dir(results, &point.id)
    }

    /// The spec file `point` resolves from.
    pub fn spec_path<'a>(&'a self, point: &'a Point) -> &'a Path {
        point.spec.as_deref().unwrap_or(&self.base)
    }

    /// Reads a plan written by [`plan`] (what a Slurm task trains from: the sweep file may
    /// have been edited since the submission).
    pub fn read(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::format(path, e.to_string()))
    }

    /// Writes the plan to `dir/plan.json`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let text = serde_json::to_string_pretty(self).expect("a plan serialises");
        crate::io::write_atomic(&dir.join(PLAN_FILE), text.as_bytes())
    }

    /// All the overrides of `point`: the sweep's `set`, then the point's own.
    pub fn overrides(&self, point: &Point) -> Vec<String> {
        let mut all = self.set.clone();
        all.extend(point.overrides.iter().cloned());
        all
    }

    /// The point at `index` (retired points too: a queued task of an edited sweep still
    /// knows what it was).
    pub fn point(&self, index: usize) -> Result<&Point> {
        self.points
            .iter()
            .find(|p| p.index == index)
            .ok_or_else(|| {
                Error::Data(format!(
                    "{}: no point {index} (the plan has {})",
                    self.sweep.display(),
                    self.points.len()
                ))
            })
    }

    /// Each active point's state, from its run folder alone (`missing` when it has none).
    pub fn states(&self, results: &Path) -> Vec<PointStatus> {
        states_with(self, results, &BTreeMap::new())
    }
}

/// A point's state: its run folder's, or what Slurm says of it where the folder does not
/// know (queued, running on another node, failed before it wrote a record).
#[derive(Clone, Debug, Serialize)]
pub struct PointStatus {
    pub index: usize,
    pub id: String,
    /// done, running, queued, interrupted, failed or missing.
    pub state: String,
    /// A failed point's last error line.
    pub error: Option<String>,
    /// The Slurm node of its latest attempt.
    pub node: Option<String>,
}

/// Each active point's state from its run folder first (the truth), then from `live`.
pub fn states_with(
    plan: &Plan,
    results: &Path,
    live: &BTreeMap<usize, crate::report::slurm::Live>,
) -> Vec<PointStatus> {
    use crate::report::slurm::Live;
    plan.active()
        .map(|p| {
            let info = runs::RunInfo::read(&plan.dir(results, p)).ok();
            let folder = info
                .as_ref()
                .map_or("missing", |i| i.state().as_str())
                .to_string();
            let mut error = info.as_ref().and_then(|i| i.error.clone());
            let state = match (folder.as_str(), live.get(&p.index)) {
                ("done", _) => folder,
                (_, Some(Live::Queued)) => "queued".into(),
                (_, Some(Live::Running)) => "running".into(),
                ("missing", Some(Live::Ended(s))) if s != "COMPLETED" => {
                    error = Some(format!("Slurm reports {s} before the run wrote a record"));
                    "failed".into()
                }
                _ => folder,
            };
            PointStatus {
                index: p.index,
                id: p.id.clone(),
                state,
                error: error.map(|e| e.lines().last().unwrap_or_default().to_string()),
                node: info.and_then(|i| i.slurm.slurm_node),
            }
        })
        .collect()
}

/// Trains the active points that are not done, `jobs` at a time, the cores split between
/// them; returns how many of those did not end done.
pub fn run(
    sweep_path: &Path,
    results: &Path,
    jobs: usize,
    data_dir: Option<&Path>,
) -> Result<usize> {
    let plan = plan(sweep_path, results)?;
    let todo: Vec<crate::report::children::Job> = plan
        .states(results)
        .into_iter()
        .filter(|s| s.state != "done")
        .filter_map(|s| plan.point(s.index).ok())
        .map(|p| crate::report::children::Job {
            label: format!("point {} {}", p.index, p.overrides.join(" ")),
            spec_path: plan.spec_path(p).to_path_buf(),
            overrides: plan.overrides(p),
            tags: Vec::new(),
            dir: plan.dir(results, p),
        })
        .collect();
    println!(
        "{}: {} point(s), {} to train, {jobs} at a time",
        sweep_path.display(),
        plan.active().count(),
        todo.len()
    );
    crate::report::children::run_jobs(&todo, jobs, data_dir);
    Ok(plan
        .states(results)
        .iter()
        .filter(|s| s.state != "done")
        .count())
}

/// A sweep's plan in its folder.
pub const PLAN_FILE: &str = "plan.json";

/// Where a sweep's plan and logs live: `results/sweeps/<sweep file stem>/`.
pub fn sweep_dir(results: &Path, sweep: &Path) -> PathBuf {
    results.join("sweeps").join(runs::spec_name(sweep))
}

/// Expands `sweep` into its plan, resolving every point (an axis naming a key the base
/// spec does not have is an error naming the sweep file and the key, before anything
/// runs), and writes it to the sweep's folder, keeping the indices of an earlier plan.
pub fn plan(sweep_path: &Path, results: &Path) -> Result<Plan> {
    let sweep = SweepFile::load(sweep_path)?;
    let base = sweep_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&sweep.base);
    if !base.is_file() {
        return Err(sweep_error(
            sweep_path,
            "base",
            format!("no spec at {}", base.display()),
        ));
    }
    let name = runs::spec_name(&base);
    let dir = sweep_dir(results, sweep_path);
    let plan_path = dir.join(PLAN_FILE);
    let old: Option<Plan> = std::fs::read_to_string(&plan_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut resolved = Vec::new();
    for overrides in sweep.combinations() {
        let mut all = sweep.set.clone();
        all.extend(overrides.iter().cloned());
        let spec = Spec::load(&base, &all).map_err(|e| match e {
            Error::Spec { key, msg, .. } => {
                sweep_error(sweep_path, key, format!("{msg} (base {})", base.display()))
            }
            e => e,
        })?;
        resolved.push((runs::run_id(&spec, &name), overrides, None));
    }
    let points = index_points(old.as_ref(), resolved);
    let plan = Plan {
        sweep: sweep_path.to_path_buf(),
        base,
        set: sweep.set,
        points,
    };
    plan.write(&dir)?;
    Ok(plan)
}

/// Numbers resolved points `(run id, overrides, own spec)` in order, keeping the index each
/// had in `old`; a new point takes the next free index, and a point of `old` that is gone is
/// kept, retired, so its index is never reused. Two points of one run id are one point.
pub fn index_points(
    old: Option<&Plan>,
    resolved: Vec<(String, Vec<String>, Option<PathBuf>)>,
) -> Vec<Point> {
    let mut points: Vec<Point> = Vec::new();
    let mut next = old.map_or(0, |p| p.points.len());
    for (id, overrides, spec) in resolved {
        if points.iter().any(|p| p.id == id) {
            continue;
        }
        let index = old
            .and_then(|o| o.points.iter().find(|p| p.id == id))
            .map(|p| p.index)
            .unwrap_or_else(|| {
                next += 1;
                next - 1
            });
        points.push(Point {
            index,
            id,
            overrides,
            retired: false,
            spec,
        });
    }
    for p in old.iter().flat_map(|o| &o.points) {
        if !points.iter().any(|q| q.id == p.id) {
            points.push(Point {
                retired: true,
                ..p.clone()
            });
        }
    }
    points.sort_by_key(|p| p.index);
    points
}

/// `<key>.svg` in `dir` (the key as a file name: [`axis_file_stem`]): the final test metric of
/// each done point against the key's value (`pairs`), and the mean over the points at each
/// value. A key spanning more than a decade of positive values is drawn on log10.
fn axis_figure(dir: &Path, key: &str, metric: &str, pairs: &[(f64, f64)]) -> Result<()> {
    let (lo, hi) = pairs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    let log = lo > 0.0 && hi / lo > 10.0;
    let at = |v: f64| if log { v.log10() } else { v };
    let mut xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let means = xs
        .iter()
        .map(|&v| {
            let ys: Vec<f64> = pairs.iter().filter(|p| p.0 == v).map(|p| p.1).collect();
            (at(v), ys.iter().sum::<f64>() / ys.len() as f64)
        })
        .collect();
    let series = vec![
        (
            "each point".to_string(),
            pairs.iter().map(|p| (at(p.0), p.1)).collect(),
        ),
        ("mean at the value".to_string(), means),
    ];
    let label = if log {
        format!("log10 {key}")
    } else {
        key.to_string()
    };
    crate::report::plot::scatter(
        &dir.join(format!("{}.svg", axis_file_stem(key))),
        &format!("{metric} against {key}"),
        &label,
        metric,
        &series,
    )
}

/// A grid key as a file stem: a quoted segment (`train.lr_scale."cell/W"`) loses its quotes
/// and anything but letters, digits, `.`, `-` and `_` becomes `_` (`train.lr_scale.cell_W`).
fn axis_file_stem(key: &str) -> String {
    key.chars()
        .filter(|&c| c != '"' && c != '\'')
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A point's metrics, as `collect` tabulates them (`None` before its first epoch).
struct PointResult {
    state: String,
    metric: String,
    final_test: Option<f64>,
    best_val: Option<f64>,
    test_at_best_val: Option<f64>,
}

/// `collect`'s tables: one row a point, and one row a configuration (the swept values but the
/// seed) with the mean, std, n, min and max of each metric over its done points.
pub struct Collected {
    pub points: polars::prelude::DataFrame,
    pub grouped: polars::prelude::DataFrame,
    /// The configuration with the best mean validation metric, and that mean.
    pub best: Option<(String, f64)>,
    /// Where the tables were written (`results/sweeps/<name>/`).
    pub dir: PathBuf,
}

/// Tabulates the sweep's points from their run folders and writes `points.csv`,
/// `grouped.csv`, `sweep.h5` (groups `points`, `grouped`) and `sweep.md` in its folder.
pub fn collect(sweep_path: &Path, results: &Path) -> Result<Collected> {
    use polars::prelude::*;
    let plan = plan(sweep_path, results)?;
    let points: Vec<&Point> = plan.active().collect();
    let outcome: Vec<PointResult> = points
        .iter()
        .map(|p| match runs::RunRecord::read(&plan.dir(results, p)) {
            Ok(r) => {
                let s = crate::report::results::Summary::of(&r);
                PointResult {
                    state: s.state,
                    metric: s.metric,
                    final_test: s.final_test,
                    best_val: s.best_val,
                    test_at_best_val: s.test_at_best_val,
                }
            }
            Err(_) => PointResult {
                state: "missing".into(),
                metric: String::new(),
                final_test: None,
                best_val: None,
                test_at_best_val: None,
            },
        })
        .collect();
    let metric = outcome
        .iter()
        .map(|o| o.metric.clone())
        .find(|m| !m.is_empty())
        .unwrap_or_else(|| "metric".into());
    let higher =
        crate::data::Metric::named(&metric).is_some_and(crate::data::Metric::higher_is_better);
    // The swept keys, in the order the points name them.
    let mut keys: Vec<String> = Vec::new();
    for p in &points {
        for o in &p.overrides {
            let k = o.split_once('=').map_or(o.as_str(), |(k, _)| k).to_string();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let value = |p: &Point, key: &str| -> String {
        p.overrides
            .iter()
            .find_map(|o| o.strip_prefix(&format!("{key}=")))
            .unwrap_or("")
            .to_string()
    };
    let config = |p: &Point| -> String {
        let parts: Vec<&str> = p
            .overrides
            .iter()
            .map(String::as_str)
            .filter(|o| !o.starts_with("train.seed="))
            .collect();
        if parts.is_empty() {
            "(base)".into()
        } else {
            parts.join(" ")
        }
    };
    let table_err = |e: PolarsError| Error::Data(format!("sweep table: {e}"));
    let (final_col, best_col, at_best_col) = (
        format!("test_{metric}"),
        format!("val_{metric}_best"),
        format!("test_{metric}_at_best_val"),
    );
    let mut cols = vec![
        Column::new(
            "index".into(),
            points.iter().map(|p| p.index as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "run_id".into(),
            points.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "config".into(),
            points.iter().map(|p| config(p)).collect::<Vec<_>>(),
        ),
    ];
    for k in &keys {
        let vals: Vec<String> = points.iter().map(|p| value(p, k)).collect();
        let nums: Option<Vec<f64>> = vals.iter().map(|v| v.parse::<f64>().ok()).collect();
        cols.push(match nums {
            Some(n) => Column::new(k.as_str().into(), n),
            None => Column::new(k.as_str().into(), vals),
        });
    }
    cols.push(Column::new(
        "state".into(),
        outcome.iter().map(|o| o.state.clone()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        final_col.as_str().into(),
        outcome.iter().map(|o| o.final_test).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        best_col.as_str().into(),
        outcome.iter().map(|o| o.best_val).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        at_best_col.as_str().into(),
        outcome
            .iter()
            .map(|o| o.test_at_best_val)
            .collect::<Vec<_>>(),
    ));
    let points_df = DataFrame::new_infer_height(cols).map_err(table_err)?;

    // Group the done points by configuration, in first-appearance order.
    let mut groups: Vec<(String, &Point, Vec<&PointResult>)> = Vec::new();
    for (p, o) in points.iter().zip(&outcome) {
        let c = config(p);
        let i = match groups.iter().position(|g| g.0 == c) {
            Some(i) => i,
            None => {
                groups.push((c, p, Vec::new()));
                groups.len() - 1
            }
        };
        if o.state == "done" {
            groups[i].2.push(o);
        }
    }
    let mut gcols = vec![Column::new(
        "config".into(),
        groups.iter().map(|g| g.0.clone()).collect::<Vec<_>>(),
    )];
    for k in keys.iter().filter(|k| *k != "train.seed") {
        let vals: Vec<String> = groups.iter().map(|g| value(g.1, k)).collect();
        let nums: Option<Vec<f64>> = vals.iter().map(|v| v.parse::<f64>().ok()).collect();
        gcols.push(match nums {
            Some(n) => Column::new(k.as_str().into(), n),
            None => Column::new(k.as_str().into(), vals),
        });
    }
    let stat = |f: fn(&PointResult) -> Option<f64>| -> Vec<Vec<f64>> {
        groups
            .iter()
            .map(|g| {
                g.2.iter()
                    .filter_map(|o| f(o))
                    .filter(|v| v.is_finite())
                    .collect()
            })
            .collect()
    };
    let mut best: Option<(String, f64)> = None;
    for (name, values) in [
        (&final_col, stat(|o| o.final_test)),
        (&best_col, stat(|o| o.best_val)),
        (&at_best_col, stat(|o| o.test_at_best_val)),
    ] {
        // Sample standard deviation (n − 1); undefined for a single seed.
        let (mean, std): (Vec<Option<f64>>, Vec<Option<f64>>) = values
            .iter()
            .map(|v| {
                let (m, s) = crate::kernels::stats::mean_std(v);
                ((!v.is_empty()).then_some(m), (v.len() > 1).then_some(s))
            })
            .unzip();
        if name == &best_col {
            for (g, m) in groups.iter().zip(&mean) {
                if let Some(m) = *m
                    && best
                        .as_ref()
                        .is_none_or(|(_, b)| if higher { m > *b } else { m < *b })
                {
                    best = Some((g.0.clone(), m));
                }
            }
        }
        let ext = |f: fn(f64, f64) -> f64| -> Vec<Option<f64>> {
            values.iter().map(|v| v.iter().copied().reduce(f)).collect()
        };
        gcols.push(Column::new(format!("{name}_mean").into(), mean));
        gcols.push(Column::new(format!("{name}_std").into(), std));
        gcols.push(Column::new(
            format!("{name}_n").into(),
            values.iter().map(|v| v.len() as i64).collect::<Vec<_>>(),
        ));
        gcols.push(Column::new(format!("{name}_min").into(), ext(f64::min)));
        gcols.push(Column::new(format!("{name}_max").into(), ext(f64::max)));
    }
    let grouped = DataFrame::new_infer_height(gcols).map_err(table_err)?;

    let dir = sweep_dir(results, sweep_path);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    crate::report::results::write_csv(&points_df, &dir.join("points.csv"))?;
    crate::report::results::write_csv(&grouped, &dir.join("grouped.csv"))?;
    crate::report::results::write_h5(
        &dir.join("sweep.h5"),
        &[("points", &points_df), ("grouped", &grouped)],
        &[("sweep", sweep_path.display().to_string())],
    )?;
    let mut md = format!(
        "# Sweep {}\n\nBase spec `{}`; {} point(s). Grouped over seeds: mean ± std (n) of the done points.\n\n| config | {final_col} | {at_best_col} | {best_col} |\n|---|---|---|---|\n",
        sweep_path.display(),
        plan.base.display(),
        points.len()
    );
    let cell = |c: &str, i: usize| -> String {
        let get = |suffix: &str| {
            grouped
                .column(&format!("{c}_{suffix}"))
                .ok()
                .and_then(|s| s.get(i).ok())
                .map(|v| v.to_string())
        };
        match (get("mean"), get("std"), get("n")) {
            // One seed has no spread to show.
            (Some(m), Some(s), Some(n)) if m != "null" && s == "null" => format!("{m} ({n})"),
            (Some(m), Some(s), Some(n)) if m != "null" => format!("{m} ± {s} ({n})"),
            _ => "—".into(),
        }
    };
    for (i, g) in groups.iter().enumerate() {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            g.0,
            cell(&final_col, i),
            cell(&at_best_col, i),
            cell(&best_col, i)
        ));
    }
    if let Some((c, v)) = &best {
        md.push_str(&format!(
            "\nBest configuration by mean {best_col}: `{c}` ({v:.4}).\n"
        ));
    }
    crate::io::write_atomic(&dir.join("sweep.md"), md.as_bytes())?;
    for key in keys.iter().filter(|k| *k != "train.seed") {
        let pairs: Vec<(f64, f64)> = points
            .iter()
            .zip(&outcome)
            .filter(|(_, o)| o.state == "done")
            .filter_map(|(p, o)| Some((value(p, key).parse().ok()?, o.final_test?)))
            .collect();
        if !pairs.is_empty() {
            axis_figure(&dir, key, &final_col, &pairs)?;
        }
    }
    Ok(Collected {
        points: points_df,
        grouped,
        best,
        dir,
    })
}
