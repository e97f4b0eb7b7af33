//! The adding problem (Hochreiter & Schmidhuber 1997, in the form of Arjovsky et al. 2016):
//! two input channels, random values in [0, 1) and a marker that is 1 at exactly two steps,
//! one in each half; the target is the sum of the two marked values, predicted from the last
//! state with squared error (predicting 1 always scores ≈ 0.167). Generated from seeds, so it
//! needs no files.

use std::path::Path;

use ndarray::Array2;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Metric, SplitName, Task, TaskInfo, TaskSpec, batch_rng};
use crate::error::Result;
use crate::net::batch::{Batch, Target};

/// `[task]` keys for `adding`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddingConfig {
    /// Sequence length T.
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Training sequences an epoch (drawn afresh every epoch).
    #[serde(default = "default_train")]
    pub train_size: usize,
    #[serde(default = "default_eval")]
    pub val_size: usize,
    #[serde(default = "default_eval")]
    pub test_size: usize,
}

fn default_seq_len() -> usize {
    750
}

fn default_train() -> usize {
    50_000
}

fn default_eval() -> usize {
    1_000
}

/// `[task] name = "adding"`: two channels in (value, marker), their marked sum out; generated.
impl TaskSpec for AddingConfig {
    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::check_at_least;
        // Two marked steps, one in each half.
        check_at_least("seq_len", self.seq_len, 2)?;
        check_at_least("train_size", self.train_size, 1)?;
        check_at_least("val_size", self.val_size, 1)?;
        check_at_least("test_size", self.test_size, 1)
    }
    fn dims(&self) -> (usize, usize) {
        (2, 1)
    }
    fn needs_data(&self) -> bool {
        false
    }
    fn load(&self, _dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(Adding::new(self)))
    }
}

pub struct Adding {
    info: TaskInfo,
    seq_len: usize,
}

impl Adding {
    pub fn new(cfg: &AddingConfig) -> Self {
        Adding {
            info: TaskInfo {
                task: "adding".into(),
                train: cfg.train_size,
                val: cfg.val_size,
                test: cfg.test_size,
                seq_len: cfg.seq_len,
                input_size: 2,
                classes: None,
                vocab: None,
                output_size: 1,
                metric: Metric::Mse,
                sources: Vec::new(),
                notes: vec!["generated; validation and test sets are fixed, training data is new every epoch".into()],
            },
            seq_len: cfg.seq_len,
        }
    }

    fn len(&self, split: SplitName) -> usize {
        match split {
            SplitName::Train => self.info.train,
            SplitName::Val => self.info.val,
            SplitName::Test => self.info.test,
        }
    }
}

impl Task for Adding {
    fn info(&self) -> &TaskInfo {
        &self.info
    }

    fn num_batches(&self, split: SplitName, batch_size: usize) -> usize {
        self.len(split).div_ceil(batch_size)
    }

    fn batch(
        &self,
        split: SplitName,
        batch_size: usize,
        seed: u64,
        epoch: usize,
        index: usize,
    ) -> Batch<f32> {
        let b = batch_size.min(self.len(split) - index * batch_size);
        // Evaluation sets do not depend on the training seed, so runs compare on the same data.
        let mut rng = match split {
            SplitName::Train => batch_rng(seed, epoch, index, 0),
            SplitName::Val => batch_rng(0xADD, 0, index, 1),
            SplitName::Test => batch_rng(0xADD, 0, index, 2),
        };
        let t = self.seq_len;
        let half = t / 2;
        let mut x = Array2::<f32>::zeros((t * b, 2));
        let mut y = Array2::<f32>::zeros((b, 1));
        for s in 0..b {
            for step in 0..t {
                x[[step * b + s, 0]] = rng.random::<f32>();
            }
            let first = rng.random_range(0..half.max(1));
            let second = rng.random_range(half..t);
            for m in [first, second] {
                x[[m * b + s, 1]] = 1.0;
                y[[s, 0]] += x[[m * b + s, 0]];
            }
        }
        Batch {
            x,
            size: b,
            target: Target::Value(y),
            carry: false,
        }
    }
}
