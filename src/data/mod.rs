//! Data sources and tasks. Each task turns its files into sequences `[T·B, p]`, time-major,
//! as the cells consume them. Real data is found in the data directory
//! (`--data-dir`, else `task.data_dir`, else `$LRNN_DATA_DIR`, else `./data`, else `../shared/data`).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::float::Float;

pub mod idx;
pub mod mnist;
pub mod numpy_rng;

/// Task names as specs and `lrnn data inspect` write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskName {
    /// Ordered pixel MNIST: 784 steps of one pixel.
    Smnist,
    /// Permuted pixel MNIST: the same pixels in a fixed random order.
    Psmnist,
}

impl TaskName {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::Smnist => "smnist",
            TaskName::Psmnist => "psmnist",
        }
    }
}

/// How pixel bytes become inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputScale {
    /// `byte / 255`, in [0, 1] (torchvision's `ToTensor`, the authors' ordered MNIST).
    Unit,
    /// The raw byte value in [0, 255] (the authors' permuted-MNIST pipeline skips `ToTensor`).
    Raw,
}

/// The `[task]` section of a spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Which task (`smnist`, `psmnist`).
    pub name: TaskName,
    /// Pixel scaling; default is the authors' choice for the task (`unit` for smnist, `raw` for psmnist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<InputScale>,
    /// Permutation file for `psmnist`, relative to the data directory (784 indices, 0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permutation: Option<PathBuf>,
    /// Training examples held out for validation (the authors hold out 2,000).
    #[serde(default = "default_val_size")]
    pub val_size: usize,
    /// Seed of `numpy.random.RandomState(seed).permutation(n)`, the authors' split (1234).
    #[serde(default = "default_split_seed")]
    pub split_seed: u32,
    /// Train on the first `n` examples of the training split only (smoke runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<usize>,
    /// Data directory (overridden by `--data-dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

fn default_val_size() -> usize {
    2000
}

fn default_split_seed() -> u32 {
    1234
}

impl TaskSpec {
    /// `(input size p, classes)` of the task, known without reading data.
    pub fn dims(&self) -> (usize, usize) {
        match self.name {
            TaskName::Smnist | TaskName::Psmnist => (1, 10),
        }
    }
}

/// Finds the data directory: the command line's, else the spec's, else `$LRNN_DATA_DIR`,
/// else `./data`, else `../shared/data`. A directory named explicitly must exist.
pub fn resolve_data_dir(cli: Option<&Path>, spec: Option<&Path>) -> Result<PathBuf> {
    let env = std::env::var_os("LRNN_DATA_DIR").map(PathBuf::from);
    let named = [
        (cli.map(Path::to_path_buf), "--data-dir"),
        (spec.map(Path::to_path_buf), "task.data_dir"),
        (env, "$LRNN_DATA_DIR"),
    ];
    if let Some((dir, from)) = named.into_iter().find_map(|(d, from)| d.map(|d| (d, from))) {
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::Data(format!(
                "data directory {} (from {from}) does not exist",
                dir.display()
            )))
        };
    }
    ["data", "../shared/data"]
        .iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir())
        .ok_or_else(|| {
            Error::Data(
                "no data directory: pass --data-dir DIR, set LRNN_DATA_DIR, or create ./data \
                 (scripts/fetch-data.sh downloads the official files)"
                    .into(),
            )
        })
}

/// One split of a sequence-classification set, bytes as stored (`len × features`).
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub inputs: Vec<u8>,
    pub labels: Vec<u8>,
    pub len: usize,
}

impl Split {
    /// The examples at `indices` of `inputs` (`features` bytes each) and `labels`.
    pub fn gather(inputs: &[u8], labels: &[u8], features: usize, indices: &[usize]) -> Split {
        let mut out = Split {
            inputs: Vec::with_capacity(indices.len() * features),
            labels: Vec::with_capacity(indices.len()),
            len: indices.len(),
        };
        for &i in indices {
            out.inputs
                .extend_from_slice(&inputs[i * features..(i + 1) * features]);
            out.labels.push(labels[i]);
        }
        out
    }
}

/// A sequence-classification task in memory: raw bytes and how they become sequences.
pub struct Classification {
    pub task: TaskName,
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// Sequence length T and input width p (T·p features an example).
    pub seq_len: usize,
    pub input_size: usize,
    pub classes: usize,
    /// Feature `t·p + k` of a sequence is byte `order[t·p + k]` of the example.
    pub order: Option<Vec<usize>>,
    pub scale: f32,
    /// Files read.
    pub sources: Vec<PathBuf>,
}

impl Classification {
    /// Writes examples `indices` of `split` as `x [T·B, p]` (time-major) and their labels into `y`.
    pub fn batch<F: Float>(
        &self,
        split: &Split,
        indices: &[usize],
        x: &mut Array2<F>,
        y: &mut Vec<usize>,
    ) {
        let (b, t, p) = (indices.len(), self.seq_len, self.input_size);
        let features = t * p;
        if x.dim() != (t * b, p) {
            *x = Array2::zeros((t * b, p));
        }
        let scale = F::of(self.scale as f64);
        let xs = x.as_slice_mut().expect("standard layout");
        y.clear();
        for (col, &i) in indices.iter().enumerate() {
            let ex = &split.inputs[i * features..(i + 1) * features];
            for step in 0..t {
                let row = &mut xs[(step * b + col) * p..(step * b + col + 1) * p];
                for (k, v) in row.iter_mut().enumerate() {
                    let f = step * p + k;
                    let byte = self.order.as_ref().map_or(ex[f], |o| ex[o[f]]);
                    *v = F::of(byte as f64) * scale;
                }
            }
            y.push(split.labels[i] as usize);
        }
    }

    /// The summary `lrnn data inspect` prints.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "task": self.task.as_str(),
            "train": self.train.len,
            "val": self.val.len,
            "test": self.test.len,
            "seq_len": self.seq_len,
            "input_size": self.input_size,
            "classes": self.classes,
            "sources": self.sources,
        })
    }
}

/// Loads the data of `spec` from `data_dir`.
pub fn load(spec: &TaskSpec, data_dir: &Path) -> Result<Classification> {
    match spec.name {
        TaskName::Smnist | TaskName::Psmnist => mnist::load(spec, data_dir),
    }
}
