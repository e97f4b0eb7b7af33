//! Runs gathered into polars DataFrames: per-epoch curves and one summary row a run, exported
//! to CSV and to HDF5 (one group a table, one dataset a column), each file written atomically.

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use polars::prelude::*;

use crate::data::Metric;
use crate::error::{Error, Result};
use crate::experiment::runs::RunRecord;

fn table_err(what: impl Into<PathBuf>) -> impl Fn(PolarsError) -> Error {
    let what = what.into();
    move |e| Error::format(&what, format!("polars: {e}"))
}

/// One row a run: what it trained, how far, and its headline numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    pub id: String,
    /// `lrnn run --name` and `--tag` (tags joined by commas in the tables).
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub task: String,
    pub model: String,
    pub hidden: usize,
    pub seed: u64,
    pub state: String,
    pub epochs_done: usize,
    pub epochs: usize,
    /// `acc`, `bpc` or `mse` (empty before the first epoch).
    pub metric: String,
    /// Test metric after the last epoch.
    pub final_test: Option<f64>,
    /// The epoch (1-based) with the best validation metric, its validation and test values.
    pub best_epoch: Option<usize>,
    pub best_val: Option<f64>,
    pub test_at_best_val: Option<f64>,
    pub params: usize,
    /// Active seconds from start to the last epoch (evaluation included).
    pub wall_s: Option<f64>,
    /// Mean milliseconds a training step.
    pub step_ms: Option<f64>,
    pub git_commit: String,
}

impl Summary {
    pub fn of(run: &RunRecord) -> Self {
        let m = &run.metrics;
        let metric = m.metric_name().unwrap_or_default().to_string();
        let val = m.column(&format!("val_{metric}"));
        let test = m.column(&format!("test_{metric}"));
        let higher = Metric::named(&metric).is_some_and(Metric::higher_is_better);
        // First best epoch wins ties, as an early-stopping rule would pick it.
        let best = (0..val.len())
            .filter(|&i| val[i].is_finite())
            .reduce(|b, i| {
                let better = if higher {
                    val[i] > val[b]
                } else {
                    val[i] < val[b]
                };
                if better { i } else { b }
            });
        let (train_s, steps) = (m.column("train_s"), m.column("steps"));
        let steps: f64 = steps.iter().sum();
        Summary {
            id: run.info.id.clone(),
            name: run.info.name.clone(),
            tags: run.info.tags.clone(),
            task: run.spec.task.name().to_string(),
            model: run.spec.model.label(),
            hidden: run.spec.model.hidden(),
            seed: run.spec.train.seed,
            state: run.info.state().as_str().to_string(),
            epochs_done: m.rows.len(),
            epochs: run.spec.train.epochs,
            metric,
            final_test: test.last().copied(),
            best_epoch: best.map(|i| i + 1),
            best_val: best.map(|i| val[i]),
            test_at_best_val: best.map(|i| test[i]),
            params: run.info.params,
            wall_s: m.last("elapsed_s"),
            step_ms: (steps > 0.0).then(|| 1e3 * train_s.iter().sum::<f64>() / steps),
            git_commit: run.info.build.git_commit.clone(),
        }
    }
}

/// One row a run: its [`Summary`], a configuration id that leaves the seed out, and its
/// flattened spec as `section.key` columns (the union over runs; a key a run lacks is null).
pub fn summary_frame(runs: &[RunRecord]) -> Result<DataFrame> {
    let mut df = summary_columns(runs)?;
    let flat: Vec<serde_json::Map<String, serde_json::Value>> =
        runs.iter().map(|r| r.spec.flattened()).collect();
    let mut keys: Vec<&String> = Vec::new();
    for f in &flat {
        for k in f.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let mut extra = vec![Column::new(
        "config_id".into(),
        runs.iter().map(|r| r.spec.config_id()).collect::<Vec<_>>(),
    )];
    for k in keys {
        let values: Vec<Option<&serde_json::Value>> = flat.iter().map(|f| f.get(k)).collect();
        let column = if values.iter().flatten().all(|v| v.is_i64()) {
            Column::new(
                k.as_str().into(),
                values
                    .iter()
                    .map(|v| v.and_then(|v| v.as_i64()))
                    .collect::<Vec<_>>(),
            )
        } else if values.iter().flatten().all(|v| v.is_number()) {
            Column::new(
                k.as_str().into(),
                values
                    .iter()
                    .map(|v| v.and_then(|v| v.as_f64()))
                    .collect::<Vec<_>>(),
            )
        } else {
            let text =
                |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            Column::new(
                k.as_str().into(),
                values.iter().map(|v| v.map(text)).collect::<Vec<_>>(),
            )
        };
        extra.push(column);
    }
    for c in extra {
        df.with_column(c).map_err(table_err("summary"))?;
    }
    Ok(df)
}

/// The [`Summary`] fields as columns.
fn summary_columns(runs: &[RunRecord]) -> Result<DataFrame> {
    let s: Vec<Summary> = runs.iter().map(Summary::of).collect();
    let text = |f: fn(&Summary) -> &str| s.iter().map(|r| f(r).to_string()).collect::<Vec<_>>();
    let int = |f: fn(&Summary) -> usize| s.iter().map(|r| f(r) as i64).collect::<Vec<_>>();
    let num = |f: fn(&Summary) -> Option<f64>| s.iter().map(f).collect::<Vec<_>>();
    df!(
        "run_id" => text(|r| &r.id),
        "name" => text(|r| r.name.as_deref().unwrap_or("")),
        "tags" => s.iter().map(|r| r.tags.join(",")).collect::<Vec<_>>(),
        "task" => text(|r| &r.task),
        "model" => text(|r| &r.model),
        "hidden" => int(|r| r.hidden),
        "seed" => s.iter().map(|r| r.seed as i64).collect::<Vec<_>>(),
        "state" => text(|r| &r.state),
        "epochs_done" => int(|r| r.epochs_done),
        "epochs" => int(|r| r.epochs),
        "metric" => text(|r| &r.metric),
        "final_test" => num(|r| r.final_test),
        "best_epoch" => s.iter().map(|r| r.best_epoch.map(|e| e as i64)).collect::<Vec<_>>(),
        "best_val" => num(|r| r.best_val),
        "test_at_best_val" => num(|r| r.test_at_best_val),
        "params" => int(|r| r.params),
        "wall_s" => num(|r| r.wall_s),
        "step_ms" => num(|r| r.step_ms),
        "git_commit" => text(|r| &r.git_commit),
    )
    .map_err(table_err("summary"))
}

/// One row a (run, epoch): the run's id, task and model, then every `metrics.csv` column
/// (the union over runs; a column a run lacks, such as `val_bpc` beside `val_acc`, is null).
pub fn epochs_frame(runs: &[RunRecord]) -> Result<DataFrame> {
    let mut names: Vec<String> = Vec::new();
    for r in runs {
        for c in &r.metrics.columns {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
    }
    let per_row = |f: &dyn Fn(&RunRecord) -> String| -> Vec<String> {
        runs.iter()
            .flat_map(|r| std::iter::repeat_n(f(r), r.metrics.rows.len()))
            .collect()
    };
    let mut columns = vec![
        Column::new("run_id".into(), per_row(&|r| r.info.id.clone())),
        Column::new("task".into(), per_row(&|r| r.spec.task.name().to_string())),
        Column::new("model".into(), per_row(&|r| r.spec.model.label())),
    ];
    for name in &names {
        let values: Vec<Option<f64>> = runs
            .iter()
            .flat_map(|r| {
                let j = r.metrics.index(name);
                r.metrics.rows.iter().map(move |row| j.map(|j| row[j]))
            })
            .collect();
        columns.push(Column::new(name.as_str().into(), values));
    }
    DataFrame::new_infer_height(columns).map_err(table_err("epochs"))
}

/// Writes `df` as CSV to `path` atomically.
pub fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes)
        .include_header(true)
        .finish(&mut df.clone())
        .map_err(table_err(path))?;
    crate::io::write_atomic(path, &bytes)
}

/// Writes each `(name, frame)` to `path` as group `name` with one 1-D dataset a column (f64
/// with NaN for nulls, i64 with -1 for nulls, or UTF-8 strings) and the column order in the group attribute
/// `columns`; `attrs` become string attributes of the file. Readable with h5py, and with
/// pandas as `pd.DataFrame({c: f[name][c][()] for c in f[name].attrs["columns"]})`.
pub fn write_h5(
    path: &Path,
    tables: &[(&str, &DataFrame)],
    attrs: &[(&str, String)],
) -> Result<()> {
    let text = |s: &str| s.parse::<VarLenUnicode>().expect("no NUL in table text");
    crate::experiment::checkpoint::write_atomic(path, |f| {
        for (key, value) in attrs {
            f.new_attr::<VarLenUnicode>()
                .create(*key)?
                .write_scalar(&text(value))?;
        }
        for (name, df) in tables {
            let g = f.create_group(name)?;
            let order: Vec<VarLenUnicode> = df.get_column_names().iter().map(|c| text(c)).collect();
            g.new_attr::<VarLenUnicode>()
                .shape(order.len())
                .create("columns")?
                .write(&order)?;
            for col in df.columns() {
                let name = col.name().as_str();
                let s = col.as_materialized_series();
                match s.dtype() {
                    DataType::String => {
                        let v: Vec<VarLenUnicode> = s
                            .str()
                            .expect("string column")
                            .iter()
                            .map(|x| text(x.unwrap_or("")))
                            .collect();
                        g.new_dataset_builder().with_data(&v).create(name)?;
                    }
                    dt if dt.is_integer() => {
                        let c = s.cast(&DataType::Int64).expect("integers cast to i64");
                        let v: Vec<i64> = c
                            .i64()
                            .expect("i64")
                            .iter()
                            .map(|x| x.unwrap_or(-1))
                            .collect();
                        g.new_dataset_builder().with_data(&v).create(name)?;
                    }
                    _ => {
                        let c = s.cast(&DataType::Float64).map_err(|e| {
                            hdf5::Error::from(format!("column {name}: {e}").as_str())
                        })?;
                        let v: Vec<f64> = c
                            .f64()
                            .expect("f64")
                            .iter()
                            .map(|x| x.unwrap_or(f64::NAN))
                            .collect();
                        g.new_dataset_builder().with_data(&v).create(name)?;
                    }
                }
            }
        }
        Ok(())
    })
}

/// Learning curves of `runs` on `splits` (`train`, `val`, `test`): the task's metric by
/// epoch, one line a run and split, written to `path` (SVG). Runs of several metrics are an
/// error: one figure has one y axis.
pub fn plot_curves(runs: &[RunRecord], splits: &[String], path: &std::path::Path) -> Result<()> {
    let metrics: Vec<&str> = runs
        .iter()
        .filter_map(|r| r.metrics.metric_name())
        .collect();
    let Some(&metric) = metrics.first() else {
        return Err(crate::error::Error::Empty("no epochs to plot".into()));
    };
    if metrics.iter().any(|m| *m != metric) {
        return Err(crate::error::Error::Data(format!(
            "the runs report different metrics ({}): plot them apart",
            metrics.join(", ")
        )));
    }
    let mut series = Vec::new();
    for r in runs {
        let epochs = r.metrics.column("epoch");
        for split in splits {
            let values = r.metrics.column(&format!("{split}_{metric}"));
            if values.is_empty() {
                return Err(crate::error::Error::Data(format!(
                    "{}: no column {split}_{metric}",
                    r.dir.display()
                )));
            }
            let name = if runs.len() == 1 {
                split.clone()
            } else {
                format!("{} {split}", r.info.id)
            };
            series.push((name, epochs.iter().copied().zip(values).collect()));
        }
    }
    let title = match runs {
        [r] => format!(
            "{} ({} of {} epochs)",
            r.info.id,
            r.metrics.rows.len(),
            r.spec.train.epochs
        ),
        _ => format!("{} runs", runs.len()),
    };
    crate::report::plot::learning_curves(path, &title, metric, &series)
}
