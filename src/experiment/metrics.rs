//! `metrics.csv`: one row an epoch, numeric columns named after the task's metric (`epoch`,
//! `lr`, `train_loss`, `val_acc`, `test_bpc`, …). Values are written in Rust's shortest
//! round-trip form, so a resumed run reads back exactly what it wrote.

use std::path::Path;

use crate::data::Metric;
use crate::error::{Error, Result};
use crate::net::nn::loss::LossStats;

/// Per-epoch metrics of one run: `columns` names, `rows[i][j]` the value of column `j` at epoch `i + 1`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl MetricsTable {
    /// Appends one epoch given as `(column, value)` pairs. A column the table does not have
    /// yet (a run resumed by a version that records more) is added, empty (NaN, written as
    /// an empty cell) for the epochs before.
    pub fn push(&mut self, row: Vec<(String, f64)>) {
        for (k, _) in &row {
            if self.index(k).is_none() {
                self.columns.push(k.clone());
                self.rows.iter_mut().for_each(|r| r.push(f64::NAN));
            }
        }
        let mut values = vec![f64::NAN; self.columns.len()];
        for (k, v) in row {
            let j = self.index(&k).expect("added above");
            values[j] = v;
        }
        self.rows.push(values);
    }

    /// Index of column `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Every epoch's value of column `name` (empty when there is no such column).
    pub fn column(&self, name: &str) -> Vec<f64> {
        self.index(name)
            .map(|j| self.rows.iter().map(|r| r[j]).collect())
            .unwrap_or_default()
    }

    /// The last epoch's value of column `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        let j = self.index(name)?;
        self.rows.last().map(|r| r[j])
    }

    /// The task's metric name, read off the `test_*` column that is not the loss.
    pub fn metric_name(&self) -> Option<&str> {
        self.columns
            .iter()
            .filter_map(|c| c.strip_prefix("test_"))
            .find(|m| *m != "loss")
    }

    /// Reads `path`; a missing file is an empty table.
    pub fn read(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let mut r = csv::Reader::from_path(path).map_err(|e| Error::format(path, e.to_string()))?;
        let columns = r
            .headers()
            .map_err(|e| Error::format(path, e.to_string()))?
            .iter()
            .map(String::from)
            .collect();
        let mut rows = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| Error::format(path, e.to_string()))?;
            let row = rec
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        Ok(f64::NAN)
                    } else {
                        v.parse::<f64>()
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::format(path, format!("row {}: {e}", i + 1)))?;
            rows.push(row);
        }
        Ok(Self { columns, rows })
    }

    /// Writes the table to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let csv_err = |e: csv::Error| Error::format(path, e.to_string());
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.columns).map_err(csv_err)?;
        for r in &self.rows {
            // A value not measured for an epoch is an empty cell, never a NaN in the file.
            w.write_record(r.iter().map(|v| {
                if v.is_nan() {
                    String::new()
                } else {
                    v.to_string()
                }
            }))
            .map_err(csv_err)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::format(path, e.to_string()))?;
        crate::io::write_atomic(path, &bytes)
    }
}

/// One row of `metrics.csv`; the metric columns are named after the task's metric
/// (`val_acc`, `test_bpc`, `val_mse`, …).
#[derive(Clone, Debug)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub lr: f64,
    pub metric: Metric,
    pub train: LossStats,
    pub val: LossStats,
    pub test: LossStats,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    pub steps: usize,
    /// Seconds of training steps this epoch (evaluation excluded).
    pub train_s: f64,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Seconds the validation and test passes took (printed, not a column).
    pub eval_s: f64,
    /// Columns only some models have (the Lipschitz RNN's stability certificate).
    pub extra: Vec<(String, f64)>,
}

impl EpochMetrics {
    /// `(column, value)` pairs in file order.
    pub fn columns(&self) -> Vec<(String, f64)> {
        let m = self.metric.as_str();
        let mut cols = vec![
            ("epoch".to_string(), self.epoch as f64),
            ("lr".to_string(), self.lr),
        ];
        for (split, stats) in [
            ("train", &self.train),
            ("val", &self.val),
            ("test", &self.test),
        ] {
            cols.push((format!("{split}_loss"), stats.mean()));
            cols.push((format!("{split}_{m}"), self.metric.of(stats)));
        }
        cols.extend([
            ("grad_norm".to_string(), self.grad_norm),
            ("steps".to_string(), self.steps as f64),
            ("train_s".to_string(), self.train_s),
            ("elapsed_s".to_string(), self.elapsed_s),
        ]);
        cols.extend(self.extra.iter().cloned());
        cols
    }

    /// The one-line report printed after each epoch.
    pub fn summary(&self, epochs: usize) -> String {
        let m = self.metric;
        format!(
            "epoch {}/{epochs} lr {:.2e} train_loss {:.4} val_{k} {:.4} test_{k} {:.4} ({:.1} s, {:.1} ms/step; eval {:.1} s)",
            self.epoch,
            self.lr,
            self.train.mean(),
            m.of(&self.val),
            m.of(&self.test),
            self.train_s,
            1e3 * self.train_s / self.steps.max(1) as f64,
            self.eval_s,
            k = m.as_str(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let mut t = MetricsTable::default();
        for e in 1..=3 {
            t.push(vec![
                ("epoch".into(), e as f64),
                ("test_loss".into(), 0.1 + 1.0 / 3.0 * e as f64),
                ("test_acc".into(), 0.987_654_321_012_345_6 / e as f64),
            ]);
        }
        t.write(&path).unwrap();
        let back = MetricsTable::read(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.metric_name(), Some("acc"));
        assert_eq!(back.last("epoch"), Some(3.0));
    }
}
