//! Data sources and tasks. A source file reads a format (IDX, CIFAR batches, WAV, …); a task
//! turns what it read into batches of sequences `[T·B, p]`, time-major, with their targets.
//! Real data is found in the data directory (`--data-dir`, else `$LRNN_DATA_DIR`, else
//! `./data`, else `../shared/data`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, parse_config};
use crate::error::{Error, Result};
use crate::net::batch::Batch;

pub mod adding;
pub mod audio;
pub mod cifar;
pub mod download;
pub mod idx;
pub mod mnist;
pub mod numpy_rng;
pub mod pixels;
pub mod ptb;
pub mod speech;
pub mod stft;
pub mod subset;

/// Which part of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitName {
    Train,
    Val,
    Test,
}

impl SplitName {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Val => "val",
            SplitName::Test => "test",
        }
    }
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
    pub fn of(self, stats: &crate::net::nn::loss::LossStats) -> f64 {
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

    /// Prepares evaluations capped at `examples` of each evaluation split (a run's
    /// `train.max_eval_batches` × `train.eval_batch_size`), which read a split's first
    /// `examples`. A task whose split's first examples are no fair sample (a classification
    /// split grouped by class) replaces that split by a stratified subset drawn from `seed`
    /// ([`subset`]) and says so in its notes; by default nothing changes.
    fn cap_evaluation(&mut self, _examples: usize, _seed: u64) {}
}

/// A per-batch random stream, independent of every other batch's.
pub fn batch_rng(seed: u64, epoch: usize, index: usize, purpose: u64) -> rand_pcg::Pcg64 {
    let stream = ((epoch as u128) << 64) | ((index as u128) << 8) | purpose as u128;
    rand_pcg::Pcg64::new(seed as u128 ^ 0x5851_f42d_4c95_7f2d, stream)
}

/// A task's `[task]` section: documented fields with the defaults of the paper or its
/// baselines, and what the model needs to know before any data is read.
pub trait TaskSpec: Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq {
    /// `(input size p, output size q)`, known without reading data (models are built from it).
    fn dims(&self) -> (usize, usize);

    /// Range checks beyond types: the first violated one.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Whether the task reads files from the data directory (generated tasks do not).
    fn needs_data(&self) -> bool {
        true
    }

    /// Reads (or generates) the task's data; `dir` is the data directory when it needs one.
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>>;

    /// The official files [`download`] can fetch that `dir` lacks (none by default: a data
    /// set whose licence or source allows no download, or a generated task).
    fn missing_files(&self, _dir: &Path) -> Vec<download::Resource> {
        Vec::new()
    }
}

/// The data directory a [`TaskSpec::load`] that needs one was given.
pub fn need_dir(dir: Option<&Path>) -> Result<&Path> {
    dir.ok_or_else(|| Error::Data("no data directory".into()))
}

/// Declares [`TaskConfig`], one variant per task, from `"name" => Variant(module::Config)` lines.
macro_rules! registry {
    ($($(#[$doc:meta])* $name:literal => $variant:ident($config:ty)),* $(,)?) => {
        /// The `[task]` section of a spec: `name` selects the task, the other keys are its options.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "name")]
        pub enum TaskConfig {
            $($(#[$doc])* #[serde(rename = $name)] $variant($config),)*
        }

        impl TaskConfig {
            /// Every task name a spec may use.
            pub const NAMES: &[&str] = &[$($name),*];

            /// Parses the keys of `[task]` other than `name`; errors carry the key path.
            pub fn parse(name: &str, table: toml::Table) -> Result<Self, ConfigError> {
                match name {
                    $($name => parse_config(table).map(TaskConfig::$variant),)*
                    other => Err(ConfigError::new(
                        "name",
                        format!("unknown task `{other}`, expected one of {:?}", Self::NAMES),
                    )),
                }
            }

            pub fn name(&self) -> &'static str {
                match self { $(TaskConfig::$variant(_) => $name,)* }
            }

            /// Every key of `[task]` for `name`, with its default and doc (`spec show --all`).
            pub fn keys(name: &str) -> Option<Vec<crate::config::KeyInfo>> {
                match name {
                    $($name => Some(crate::config::describe::<$config>()),)*
                    _ => None,
                }
            }

            fn spec(&self) -> &dyn DynTaskSpec {
                match self { $(TaskConfig::$variant(c) => c,)* }
            }
        }
    };
}

registry! {
    /// Ordered pixel MNIST: 784 steps of one pixel.
    "smnist" => Smnist(mnist::Ordered),
    /// Permuted pixel MNIST: the same pixels in a fixed random order.
    "psmnist" => Psmnist(mnist::Permuted),
    /// Ordered pixel CIFAR-10: 1024 steps of 3 values.
    "cifar10" => Cifar10(pixels::OrderedCifar),
    /// Noise-padded CIFAR-10: 32 rows of 96 values, then 968 steps of Gaussian noise.
    "ncifar10" => Ncifar10(pixels::NoisyCifar),
    /// Character-level Penn Treebank.
    "ptb_char" => PtbChar(ptb::PtbConfig),
    /// Next-frame prediction of speech spectra (TIMIT protocol; FSDD stand-in).
    "speech" => Speech(speech::SpeechConfig),
    /// The adding problem.
    "adding" => Adding(adding::AddingConfig),
}

/// The object-safe part of [`TaskSpec`], so [`TaskConfig`] forwards without a match a method.
trait DynTaskSpec {
    fn validate(&self) -> Result<(), ConfigError>;
    fn dims(&self) -> (usize, usize);
    fn needs_data(&self) -> bool;
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>>;
    fn missing_files(&self, dir: &Path) -> Vec<download::Resource>;
}

impl<T: TaskSpec> DynTaskSpec for T {
    fn validate(&self) -> Result<(), ConfigError> {
        TaskSpec::validate(self)
    }
    fn dims(&self) -> (usize, usize) {
        TaskSpec::dims(self)
    }
    fn needs_data(&self) -> bool {
        TaskSpec::needs_data(self)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        TaskSpec::load(self, dir)
    }
    fn missing_files(&self, dir: &Path) -> Vec<download::Resource> {
        TaskSpec::missing_files(self, dir)
    }
}

impl TaskConfig {
    /// The task with every option at its default.
    pub fn named(name: &str) -> Result<Self, ConfigError> {
        Self::parse(name, toml::Table::new())
    }

    /// `(input size p, output size q)`, known without reading data (models are built from it).
    pub fn dims(&self) -> (usize, usize) {
        self.spec().dims()
    }

    /// Range checks of the task's options.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.spec().validate()
    }

    /// Whether the task needs files from the data directory.
    pub fn needs_data(&self) -> bool {
        self.spec().needs_data()
    }

    /// Reads (or generates) the task's data.
    pub fn load(&self, data_dir: Option<&Path>) -> Result<Box<dyn Task>> {
        self.spec().load(data_dir)
    }

    /// The official files of the task's data set that `dir` lacks and [`download`] fetches.
    pub fn missing_files(&self, dir: &Path) -> Vec<download::Resource> {
        self.spec().missing_files(dir)
    }
}

/// Finds the data directory: the command line's, else `$LRNN_DATA_DIR`, else `./data`,
/// else `../shared/data`. A directory named explicitly must exist.
pub fn resolve_data_dir(cli: Option<&Path>) -> Result<PathBuf> {
    find_data_dir(cli)?.ok_or_else(no_data_dir)
}

fn no_data_dir() -> Error {
    Error::Data(
        "no data directory: pass --data-dir DIR, set LRNN_DATA_DIR, or create ./data \
         (scripts/fetch-data.sh downloads the official files)"
            .into(),
    )
}

/// [`resolve_data_dir`], with `None` when nothing is named and neither default exists.
fn find_data_dir(cli: Option<&Path>) -> Result<Option<PathBuf>> {
    let env = std::env::var_os("LRNN_DATA_DIR").map(PathBuf::from);
    let named = [
        (cli.map(Path::to_path_buf), "--data-dir"),
        (env, "$LRNN_DATA_DIR"),
    ];
    if let Some((dir, from)) = named.into_iter().find_map(|(d, from)| d.map(|d| (d, from))) {
        return if dir.is_dir() {
            Ok(Some(dir))
        } else {
            Err(Error::Data(format!(
                "data directory {} (from {from}) does not exist",
                dir.display()
            )))
        };
    }
    Ok(["data", "../shared/data"]
        .iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir()))
}

/// The data directory `task` reads, with its data set's missing official files fetched
/// first ([`download`]); when no directory exists and the files can be fetched, `./data`.
pub fn data_dir_for(task: &TaskConfig, cli: Option<&Path>) -> Result<PathBuf> {
    let dir = match find_data_dir(cli)? {
        Some(d) => d,
        None if download::allowed() && !task.missing_files(Path::new("data")).is_empty() => {
            std::fs::create_dir_all("data").map_err(|e| Error::io("data", e))?;
            PathBuf::from("data")
        }
        None => return Err(no_data_dir()),
    };
    download::ensure(&dir, &task.missing_files(&dir))?;
    Ok(dir)
}

/// Where decoded data is cached when the data directory is read-only.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("LRNN_CACHE_DIR").map_or_else(|| PathBuf::from("results/cache"), PathBuf::from)
}
