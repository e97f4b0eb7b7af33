//! Pixel MNIST, ordered (`smnist`) and permuted (`psmnist`): 784 steps of one pixel each,
//! with the authors' 58,000 / 2,000 split (`RandomState(1234).permutation(60000)`, last 2,000
//! held out) and their per-task input scaling.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::download::Resource;
use super::idx::read_idx;
use super::pixels::{PixelTask, Split, default_split_seed, default_val_size, split_train};
use super::{Metric, Task, TaskInfo, TaskSpec, need_dir};
use crate::error::{Error, Result};

const PIXELS: usize = 784;

/// The IDX file `stem` (e.g. `train-images-idx3-ubyte`) in `dir/mnist` or `dir`, gzipped or not.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1); // the `train-images.idx3-ubyte` spelling
    let candidates: Vec<PathBuf> = [dir.join("mnist"), dir.to_path_buf()]
        .iter()
        .flat_map(|d| {
            [stem, dotted.as_str()]
                .into_iter()
                .flat_map(move |s| [d.join(format!("{s}.gz")), d.join(s)])
        })
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Data(format!(
                "MNIST file {stem}[.gz] not found in {} (looked in mnist/ and at the top)",
                dir.display()
            ))
        })
}

/// Reads images `[n, 28, 28]` and labels `[n]` and checks they agree.
fn read_pair(dir: &Path, prefix: &str) -> Result<(Vec<u8>, Vec<u8>, Vec<PathBuf>)> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lbl_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    if images.dims.len() != 3 || images.dims[1] * images.dims[2] != PIXELS {
        return Err(Error::format(
            &img_path,
            format!("expected images [n, 28, 28], found {:?}", images.dims),
        ));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(Error::format(
            &lbl_path,
            format!(
                "{:?} labels for {} images in {}",
                labels.dims,
                images.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l > 9) {
        return Err(Error::format(
            &lbl_path,
            format!("label {bad} outside 0..=9"),
        ));
    }
    Ok((images.data, labels.data, vec![img_path, lbl_path]))
}

/// Where the authors' permuted-MNIST order is read from when `permutation` is not set; when
/// this file is absent the order is computed instead (as PyTorch computes it).
pub const DEFAULT_PERMUTATION: &str = "mnist/pmnist-permutation.txt";

/// Reads a pixel order: 784 whitespace-separated 0-based indices forming a permutation.
pub fn read_permutation(path: &Path) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let order: Vec<usize> = text
        .split_whitespace()
        .map(|w| {
            w.parse::<usize>()
                // The word is not echoed: the file may be anything a spec pointed at.
                .map_err(|_| Error::format(path, "holds a word that is not an index"))
        })
        .collect::<Result<_>>()?;
    let mut seen = vec![false; PIXELS];
    if order.len() != PIXELS
        || !order
            .iter()
            .all(|&i| i < PIXELS && !std::mem::replace(&mut seen[i], true))
    {
        return Err(Error::format(
            path,
            format!("not a permutation of 0..{PIXELS} ({} entries)", order.len()),
        ));
    }
    Ok(order)
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

/// `[task]` keys for `smnist` and `psmnist`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnistConfig {
    /// Pixel scaling; default is the authors' choice (`unit` for smnist, `raw` for psmnist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<InputScale>,
    /// Pixel order file for `psmnist`, relative to the data directory (784 indices, 0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permutation: Option<PathBuf>,
    /// Training images held out for validation (the authors: 2,000).
    #[serde(default = "default_val_size")]
    pub val_size: usize,
    /// Seed of the authors' `numpy.random.RandomState(seed).permutation(60000)` split.
    #[serde(default = "default_split_seed")]
    pub split_seed: u32,
    /// Train on the first `n` training images only (smoke runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<usize>,
}

/// `[task] name = "smnist"`: ordered pixel MNIST, 784 steps of one pixel, 10 classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ordered(pub MnistConfig);

/// `[task] name = "psmnist"`: the same pixels in the order of `permutation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Permuted(pub MnistConfig);

impl TaskSpec for Ordered {
    fn dims(&self) -> (usize, usize) {
        (1, 10)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load(&self.0, false, need_dir(dir)?)?))
    }
    fn missing_files(&self, dir: &Path) -> Vec<Resource> {
        missing_files(dir)
    }
}

impl TaskSpec for Permuted {
    fn validate(&self) -> Result<(), crate::config::ConfigError> {
        match &self.0.permutation {
            Some(p) => crate::config::check_inside("permutation", p),
            None => Ok(()),
        }
    }
    fn dims(&self) -> (usize, usize) {
        (1, 10)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load(&self.0, true, need_dir(dir)?)?))
    }
    fn missing_files(&self, dir: &Path) -> Vec<Resource> {
        missing_files(dir)
    }
}

/// The official MNIST files the reader finds in none of the places and spellings it looks
/// at ([`find`]).
fn missing_files(dir: &Path) -> Vec<Resource> {
    crate::data::download::mnist()
        .into_iter()
        .filter(|r| {
            let name = r.path.rsplit('/').next().unwrap_or(&r.path);
            find(dir, name.trim_end_matches(".gz")).is_err()
        })
        .collect()
}

/// Ordered (`permuted = false`) or permuted pixel MNIST from the data directory.
pub fn load(cfg: &MnistConfig, permuted: bool, dir: &Path) -> Result<PixelTask> {
    let (train_x, train_y, mut sources) = read_pair(dir, "train")?;
    let (test_x, test_y, test_sources) = read_pair(dir, "t10k")?;
    sources.extend(test_sources);
    let (train, val) = split_train(
        &train_x,
        &train_y,
        PIXELS,
        cfg.val_size,
        cfg.split_seed,
        cfg.train_subset,
    )?;
    let all_test: Vec<usize> = (0..test_y.len()).collect();
    let test = Split::gather(&test_x, &test_y, PIXELS, &all_test);
    let gather = if permuted {
        let rel = cfg
            .permutation
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PERMUTATION));
        let path = dir.join(&rel);
        if rel == Path::new(DEFAULT_PERMUTATION) && !path.exists() {
            // The authors' order, computed as PyTorch computes it (tests/mnist_data.rs holds
            // it against the file PyTorch wrote).
            sources.push(PathBuf::from(
                "torch.manual_seed(12008); torch.randperm(784), computed",
            ));
            crate::data::download::torch_randperm(PIXELS, 12008)
        } else {
            sources.push(path.clone());
            read_permutation(&path)?
        }
    } else {
        (0..PIXELS).collect()
    };
    let scale = cfg.input_scale.unwrap_or(if permuted {
        InputScale::Raw
    } else {
        InputScale::Unit
    });
    Ok(PixelTask {
        info: TaskInfo {
            task: if permuted { "psmnist" } else { "smnist" }.into(),
            train: train.len,
            val: val.len,
            test: test.len,
            seq_len: PIXELS,
            input_size: 1,
            classes: Some(10),
            vocab: None,
            output_size: 10,
            metric: Metric::Acc,
            sources,
            notes: vec![format!("input scale: {scale:?}")],
        },
        train,
        val,
        test,
        features: PIXELS,
        steps: PIXELS,
        width: 1,
        gather,
        scale: match scale {
            InputScale::Unit => 1.0 / 255.0,
            InputScale::Raw => 1.0,
        },
        normalize: None,
        augment: None,
        noise: None,
    })
}
