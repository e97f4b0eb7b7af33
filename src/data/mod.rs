//! Data sources and tasks. A source file reads a format (IDX, CIFAR batches, WAV, …); a task
//! turns what it read into batches of sequences `[T·B, p]`, time-major, with their targets.
//! Real data is found in the data directory (`--data-dir`, else `$LRNN_DATA_DIR`, else
//! `./data`, else `../shared/data`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Batch;

pub mod adding;
pub mod audio;
pub mod cifar;
pub mod idx;
pub mod mnist;
pub mod numpy_rng;
pub mod pixels;
pub mod ptb;
pub mod speech;
pub mod stft;

/// Which part of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitName {
    Train,
    Val,
    Test,
}

/// What a task reports beside its loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Fraction of sequences classified correctly.
    Acc,
    /// Bits per character: mean cross-entropy in nats / ln 2.
    Bpc,
    /// Mean squared error over real elements.
    Mse,
}

impl Metric {
    /// The column suffix (`val_acc`, `test_bpc`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Acc => "acc",
            Metric::Bpc => "bpc",
            Metric::Mse => "mse",
        }
    }

    /// The metric from a split's loss statistics.
    pub fn of(self, stats: &crate::nn::loss::LossStats) -> f64 {
        match self {
            Metric::Acc => stats.accuracy(),
            Metric::Bpc => stats.mean() / std::f64::consts::LN_2,
            Metric::Mse => stats.mean(),
        }
    }

    /// The metric a column suffix names (`acc`, `bpc`, `mse`).
    pub fn named(name: &str) -> Option<Metric> {
        [Metric::Acc, Metric::Bpc, Metric::Mse]
            .into_iter()
            .find(|m| m.as_str() == name)
    }

    /// Whether larger is better.
    pub fn higher_is_better(self) -> bool {
        self == Metric::Acc
    }
}

/// What a task trains on, as `lrnn data inspect` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskInfo {
    pub task: String,
    /// Sequences in each split (symbols for `ptb_char`).
    pub train: usize,
    pub val: usize,
    pub test: usize,
    /// Steps a sequence (a training segment for `ptb_char`; the longest utterance for `speech`).
    pub seq_len: usize,
    pub input_size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocab: Option<usize>,
    /// Width of the decoder's output.
    pub output_size: usize,
    pub metric: Metric,
    /// Files read.
    pub sources: Vec<PathBuf>,
    /// What a reader of the results must know (stand-ins, quirks kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A data set prepared for training: batches addressable by (split, epoch, index), so an
/// epoch can be resumed at any batch and every batch is the same whoever asks for it.
pub trait Task: Send + Sync {
    fn info(&self) -> &TaskInfo;

    /// Batches in one pass over `split`.
    fn num_batches(&self, split: SplitName, batch_size: usize) -> usize;

    /// Batch `index` of a pass over `split`; the training order (and any augmentation or
    /// noise) is drawn from `seed` and `epoch`.
    fn batch(
        &self,
        split: SplitName,
        batch_size: usize,
        seed: u64,
        epoch: usize,
        index: usize,
    ) -> Batch<f32>;
}

/// A per-batch random stream, independent of every other batch's.
pub fn batch_rng(seed: u64, epoch: usize, index: usize, purpose: u64) -> rand_pcg::Pcg64 {
    let stream = ((epoch as u128) << 64) | ((index as u128) << 8) | purpose as u128;
    rand_pcg::Pcg64::new(seed as u128 ^ 0x5851_f42d_4c95_7f2d, stream)
}

/// The `[task]` section of a spec: `name` selects the task, the other keys are its options.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum TaskConfig {
    /// Ordered pixel MNIST: 784 steps of one pixel.
    Smnist(mnist::MnistConfig),
    /// Permuted pixel MNIST: the same pixels in a fixed random order.
    Psmnist(mnist::MnistConfig),
    /// Ordered pixel CIFAR-10: 1024 steps of 3 values.
    Cifar10(pixels::CifarConfig),
    /// Noise-padded CIFAR-10: 32 rows of 96 values, then 968 steps of Gaussian noise.
    Ncifar10(pixels::CifarConfig),
    /// Character-level Penn Treebank.
    PtbChar(ptb::PtbConfig),
    /// Next-frame prediction of speech spectra (TIMIT protocol; FSDD stand-in).
    Speech(speech::SpeechConfig),
    /// The adding problem.
    Adding(adding::AddingConfig),
}

impl TaskConfig {
    /// Every task name a spec may use.
    pub const NAMES: &[&str] = &[
        "smnist", "psmnist", "cifar10", "ncifar10", "ptb_char", "speech", "adding",
    ];

    /// Parses the keys of `[task]` other than `name`; errors carry the key path.
    pub fn parse(name: &str, table: toml::Table) -> Result<Self, (String, String)> {
        use crate::cells::parse_config as p;
        Ok(match name {
            "smnist" => TaskConfig::Smnist(p(table)?),
            "psmnist" => TaskConfig::Psmnist(p(table)?),
            "cifar10" => TaskConfig::Cifar10(p(table)?),
            "ncifar10" => TaskConfig::Ncifar10(p(table)?),
            "ptb_char" => TaskConfig::PtbChar(p(table)?),
            "speech" => TaskConfig::Speech(p(table)?),
            "adding" => TaskConfig::Adding(p(table)?),
            other => {
                return Err((
                    "name".into(),
                    format!("unknown task `{other}`, expected one of {:?}", Self::NAMES),
                ));
            }
        })
    }

    /// The task with every option at its default.
    pub fn named(name: &str) -> Result<Self, (String, String)> {
        Self::parse(name, toml::Table::new())
    }

    pub fn name(&self) -> &'static str {
        match self {
            TaskConfig::Smnist(_) => "smnist",
            TaskConfig::Psmnist(_) => "psmnist",
            TaskConfig::Cifar10(_) => "cifar10",
            TaskConfig::Ncifar10(_) => "ncifar10",
            TaskConfig::PtbChar(_) => "ptb_char",
            TaskConfig::Speech(_) => "speech",
            TaskConfig::Adding(_) => "adding",
        }
    }

    /// `(input size p, output size q)`, known without reading data (models are built from it).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            TaskConfig::Smnist(_) | TaskConfig::Psmnist(_) => (1, 10),
            TaskConfig::Cifar10(_) => (3, 10),
            TaskConfig::Ncifar10(_) => (96, 10),
            TaskConfig::PtbChar(c) => (c.vocab, c.vocab),
            TaskConfig::Speech(_) => (129, 129),
            TaskConfig::Adding(_) => (2, 1),
        }
    }

    /// Whether the task needs files from the data directory.
    pub fn needs_data(&self) -> bool {
        !matches!(self, TaskConfig::Adding(_))
    }

    /// Reads (or generates) the task's data.
    pub fn load(&self, data_dir: Option<&Path>) -> Result<Box<dyn Task>> {
        let dir = || data_dir.ok_or_else(|| Error::Data("no data directory".into()));
        Ok(match self {
            TaskConfig::Smnist(c) => Box::new(mnist::load(c, false, dir()?)?),
            TaskConfig::Psmnist(c) => Box::new(mnist::load(c, true, dir()?)?),
            TaskConfig::Cifar10(c) => Box::new(pixels::load_cifar(c, false, dir()?)?),
            TaskConfig::Ncifar10(c) => Box::new(pixels::load_cifar(c, true, dir()?)?),
            TaskConfig::PtbChar(c) => Box::new(ptb::load(c, dir()?)?),
            TaskConfig::Speech(c) => Box::new(speech::load(c, dir()?)?),
            TaskConfig::Adding(c) => Box::new(adding::Adding::new(c)),
        })
    }
}

/// Finds the data directory: the command line's, else `$LRNN_DATA_DIR`, else `./data`,
/// else `../shared/data`. A directory named explicitly must exist.
pub fn resolve_data_dir(cli: Option<&Path>) -> Result<PathBuf> {
    let env = std::env::var_os("LRNN_DATA_DIR").map(PathBuf::from);
    let named = [
        (cli.map(Path::to_path_buf), "--data-dir"),
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

/// Where decoded data is cached when the data directory is read-only.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LRNN_CACHE_DIR").map_or_else(|| PathBuf::from("results/cache"), PathBuf::from)
}
