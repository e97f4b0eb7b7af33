//! Image classification as sequence classification: byte images (MNIST's 28×28, CIFAR's
//! 3×32×32 channel-major) read out step by step in a chosen order, optionally normalised per
//! channel, augmented (random crop with zero padding and horizontal flip, training only) and
//! followed by steps of Gaussian noise (noise-padded CIFAR-10).

use std::path::Path;

use ndarray::Array2;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::numpy_rng::legacy_permutation;
use super::{SplitName, Task, TaskInfo, TaskSpec, batch_rng, need_dir, subset};
use crate::error::{Error, Result};
use crate::net::batch::Batch;

/// One split, bytes as stored (`len × features`).
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

/// The authors' split of a training set: the last `val_size` of
/// `numpy.random.RandomState(split_seed).permutation(n)` are held out; `subset` keeps the first
/// examples of the rest (smoke runs).
pub fn split_train(
    inputs: &[u8],
    labels: &[u8],
    features: usize,
    val_size: usize,
    split_seed: u32,
    subset: Option<usize>,
) -> Result<(Split, Split)> {
    let n = labels.len();
    if val_size >= n {
        return Err(Error::Data(format!(
            "task.val_size = {val_size} leaves no training data of the {n} examples"
        )));
    }
    let perm = legacy_permutation(split_seed, n);
    let (train, val) = perm.split_at(n - val_size);
    let train = &train[..subset.map_or(train.len(), |k| k.min(train.len()))];
    Ok((
        Split::gather(inputs, labels, features, train),
        Split::gather(inputs, labels, features, val),
    ))
}

/// Per-channel normalisation `(byte·scale − mean[c]) / std[c]`, channel `c = byte index / plane`.
#[derive(Clone, Debug)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub plane: usize,
}

/// Random crop (zero padding `pad`) and horizontal flip of channel-major images.
#[derive(Clone, Copy, Debug)]
pub struct Augment {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pad: usize,
}

/// Gaussian steps after the image.
#[derive(Clone, Debug)]
pub struct NoisePad {
    pub steps: usize,
    /// One block `[steps·p]` shared by every sequence (the authors' code), or fresh noise if `None`.
    pub fixed: Option<Vec<f32>>,
}

/// A sequence-classification task over byte images.
pub struct PixelTask {
    pub info: TaskInfo,
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// Bytes an example.
    pub features: usize,
    /// Image steps T₀ and width p; feature `k` of step `t` is byte `gather[t·p + k]`.
    pub steps: usize,
    pub width: usize,
    pub gather: Vec<usize>,
    pub scale: f32,
    pub normalize: Option<Normalize>,
    pub augment: Option<Augment>,
    pub noise: Option<NoisePad>,
}

impl PixelTask {
    fn split(&self, split: SplitName) -> &Split {
        match split {
            SplitName::Train => &self.train,
            SplitName::Val => &self.val,
            SplitName::Test => &self.test,
        }
    }

    fn value(&self, byte: u8, index: usize) -> f32 {
        let v = byte as f32 * self.scale;
        match &self.normalize {
            Some(n) => {
                let c = index / n.plane;
                (v - n.mean[c]) / n.std[c]
            }
            None => v,
        }
    }
}

/// `image` cropped at offset `(dy, dx)` of its zero-padded copy, optionally mirrored.
fn crop_flip(image: &[u8], a: Augment, dy: usize, dx: usize, flip: bool, out: &mut Vec<u8>) {
    out.clear();
    for c in 0..a.channels {
        for y in 0..a.height {
            for x in 0..a.width {
                let sx = if flip { a.width - 1 - x } else { x };
                let (py, px) = (y + dy, sx + dx);
                let inside = (a.pad..a.pad + a.height).contains(&py)
                    && (a.pad..a.pad + a.width).contains(&px);
                out.push(if inside {
                    image[(c * a.height + py - a.pad) * a.width + px - a.pad]
                } else {
                    0
                });
            }
        }
    }
}

impl Task for PixelTask {
    fn info(&self) -> &TaskInfo {
        &self.info
    }

    /// A validation or test split grouped by class (CIFAR-10 from image folders) becomes its
    /// stratified subset of `examples`; MNIST's, and the binary batches', are left as they are.
    fn cap_evaluation(&mut self, examples: usize, seed: u64) {
        for split in [SplitName::Val, SplitName::Test] {
            let data = self.split(split);
            if examples >= data.len || !subset::grouped_by_class(&data.labels) {
                continue;
            }
            let len = data.len;
            let ids =
                subset::stratified(&data.labels, examples, &mut subset::rng(seed, split as u64));
            let sample = Split::gather(&data.inputs, &data.labels, self.features, &ids);
            self.info.notes.push(format!(
                "{} split grouped by class: capped evaluation on a stratified subset of {} of its {} examples ({}), drawn from train.seed, not its first {examples}",
                split.as_str(),
                sample.len,
                len,
                class_counts(&sample.labels),
            ));
            match split {
                SplitName::Val => self.val = sample,
                _ => self.test = sample,
            }
        }
    }

    fn num_batches(&self, split: SplitName, batch_size: usize) -> usize {
        self.split(split).len.div_ceil(batch_size)
    }

    fn batch(
        &self,
        split: SplitName,
        batch_size: usize,
        seed: u64,
        epoch: usize,
        index: usize,
    ) -> Batch<f32> {
        let data = self.split(split);
        let range = index * batch_size..((index + 1) * batch_size).min(data.len);
        let ids: Vec<usize> = if split == SplitName::Train {
            // The epoch's order from its own stream, so any batch can be rebuilt (resume).
            let mut order: Vec<usize> = (0..data.len).collect();
            order.shuffle(&mut rand_pcg::Pcg64::new(seed as u128, epoch as u128));
            order[range].to_vec()
        } else {
            range.collect()
        };
        let b = ids.len();
        let (p, t0) = (self.width, self.steps);
        let total = t0 + self.noise.as_ref().map_or(0, |n| n.steps);
        let mut x = Array2::<f32>::zeros((total * b, p));
        let xs = x.as_slice_mut().expect("fresh arrays are contiguous");
        let mut rng = batch_rng(seed, epoch, index, split as u64);
        let mut scratch = Vec::with_capacity(self.features);
        let mut labels = Vec::with_capacity(b);
        for (col, &i) in ids.iter().enumerate() {
            let mut image = &data.inputs[i * self.features..(i + 1) * self.features];
            if let (Some(a), SplitName::Train) = (self.augment, split) {
                let (dy, dx) = (
                    rng.random_range(0..=2 * a.pad),
                    rng.random_range(0..=2 * a.pad),
                );
                crop_flip(image, a, dy, dx, rng.random_bool(0.5), &mut scratch);
                image = &scratch;
            }
            for t in 0..t0 {
                let row = &mut xs[(t * b + col) * p..(t * b + col + 1) * p];
                for (k, v) in row.iter_mut().enumerate() {
                    let src = self.gather[t * p + k];
                    *v = self.value(image[src], src);
                }
            }
            if let Some(noise) = &self.noise {
                for t in 0..noise.steps {
                    let row = &mut xs[((t0 + t) * b + col) * p..((t0 + t) * b + col + 1) * p];
                    match &noise.fixed {
                        Some(block) => row.copy_from_slice(&block[t * p..(t + 1) * p]),
                        None => row.iter_mut().for_each(|v| *v = rng.sample(StandardNormal)),
                    }
                }
            }
            labels.push(data.labels[i] as usize);
        }
        Batch::classes(x, labels)
    }
}

/// `10 a class` when the classes are equal, else `9–10 a class`.
fn class_counts(labels: &[u8]) -> String {
    let mut n = [0usize; 256];
    labels.iter().for_each(|&l| n[l as usize] += 1);
    let present = n.iter().copied().filter(|&k| k > 0);
    let (lo, hi) = (
        present.clone().min().unwrap_or(0),
        present.max().unwrap_or(0),
    );
    if lo == hi {
        format!("{lo} a class")
    } else {
        format!("{lo}–{hi} a class")
    }
}

/// How a CIFAR image becomes steps of ordered pixel CIFAR-10.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelOrder {
    /// One RGB pixel a step, raster order (Chang et al.'s AntisymmetricRNN convention).
    #[default]
    Rgb,
    /// Three consecutive values of the channel-major image a step (the authors' `view`:
    /// steps 0–340 are mostly red).
    ChannelMajor,
}

/// How noise-padded CIFAR-10 draws its padding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// Independent N(0, 1) for every sequence (Chang et al.'s task).
    #[default]
    Fresh,
    /// One N(0, 1) block drawn once from the seed and shared by all sequences (the authors' code).
    Fixed,
}

/// `[task]` keys for `cifar10` and `ncifar10`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CifarConfig {
    /// Step layout of ordered CIFAR-10 (ignored by `ncifar10`, whose steps are image rows).
    #[serde(default)]
    pub pixel_order: PixelOrder,
    /// Normalise with the authors' per-channel mean/std (their code since 2021-03-30).
    #[serde(default)]
    pub normalize: bool,
    /// Random crop (padding 4) and horizontal flip of training images (their code since 2021-03-30).
    #[serde(default)]
    pub augment: bool,
    /// Noise padding of `ncifar10`.
    #[serde(default)]
    pub noise: NoiseKind,
    /// Training images held out for validation (the authors: 2,000).
    #[serde(default = "default_val_size")]
    pub val_size: usize,
    /// Seed of the authors' `RandomState(seed).permutation` split.
    #[serde(default = "default_split_seed")]
    pub split_seed: u32,
    /// Train on the first `n` training images only (smoke runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_subset: Option<usize>,
}

pub(crate) fn default_val_size() -> usize {
    2000
}

pub(crate) fn default_split_seed() -> u32 {
    1234
}

/// The authors' CIFAR-10 statistics (their `transforms.Normalize`).
const CIFAR_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR_STD: [f32; 3] = [0.2023, 0.1994, 0.2010];
const NOISE_STEPS: usize = 968;

/// `[task] name = "cifar10"`: ordered pixel CIFAR-10, 1024 steps of 3 values, 10 classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderedCifar(pub CifarConfig);

/// `[task] name = "ncifar10"`: 32 rows of 96 values, then 968 steps of noise, 10 classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoisyCifar(pub CifarConfig);

impl TaskSpec for OrderedCifar {
    fn dims(&self) -> (usize, usize) {
        (3, 10)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load_cifar(&self.0, false, need_dir(dir)?)?))
    }
    fn missing_files(&self, dir: &Path) -> Vec<super::download::Resource> {
        cifar_missing(dir)
    }
}

impl TaskSpec for NoisyCifar {
    fn dims(&self) -> (usize, usize) {
        (96, 10)
    }
    fn load(&self, dir: Option<&Path>) -> Result<Box<dyn Task>> {
        Ok(Box::new(load_cifar(&self.0, true, need_dir(dir)?)?))
    }
    fn missing_files(&self, dir: &Path) -> Vec<super::download::Resource> {
        cifar_missing(dir)
    }
}

/// The official binary archive when `dir` holds CIFAR-10 in no form the reader takes.
fn cifar_missing(dir: &Path) -> Vec<super::download::Resource> {
    if super::cifar::has_source(dir) {
        Vec::new()
    } else {
        super::download::cifar10()
    }
}

/// Ordered (`noisy = false`) or noise-padded CIFAR-10 from the data directory.
pub fn load_cifar(cfg: &CifarConfig, noisy: bool, dir: &Path) -> Result<PixelTask> {
    let data = super::cifar::load(dir, &super::cache_dir())?;
    let features = 3 * 32 * 32;
    let (train, val) = split_train(
        &data.train_images,
        &data.train_labels,
        features,
        cfg.val_size,
        cfg.split_seed,
        cfg.train_subset,
    )?;
    let test_ids: Vec<usize> = (0..data.test_labels.len()).collect();
    let test = Split::gather(&data.test_images, &data.test_labels, features, &test_ids);
    let plane = 32 * 32;
    let (steps, width, gather): (usize, usize, Vec<usize>) = if noisy {
        // Step t: row t of R, then of G, then of B (the authors' permute(1, 0, 2) and reshape).
        let g = (0..32)
            .flat_map(|t| (0..3).flat_map(move |c| (0..32).map(move |x| c * plane + t * 32 + x)))
            .collect();
        (32, 96, g)
    } else {
        match cfg.pixel_order {
            PixelOrder::Rgb => (
                1024,
                3,
                (0..plane)
                    .flat_map(|t| (0..3).map(move |c| c * plane + t))
                    .collect(),
            ),
            PixelOrder::ChannelMajor => (1024, 3, (0..features).collect()),
        }
    };
    let noise = noisy.then(|| NoisePad {
        steps: NOISE_STEPS,
        fixed: (cfg.noise == NoiseKind::Fixed).then(|| {
            let mut rng = rand_pcg::Pcg64::new(0xC1FA_u128, cfg.split_seed as u128);
            (0..NOISE_STEPS * width)
                .map(|_| rng.sample(StandardNormal))
                .collect()
        }),
    });
    let mut notes = vec![format!("layout: {}", data.layout)];
    if !noisy {
        notes.push(format!("pixel order: {:?}", cfg.pixel_order));
    }
    if data.layout == "image-folder" {
        notes.push("image-folder copy: JPEG-recompressed pixels and class-sorted order, not the official binary batches".into());
    }
    let total_steps = steps + noise.as_ref().map_or(0, |n| n.steps);
    Ok(PixelTask {
        info: TaskInfo {
            task: if noisy { "ncifar10" } else { "cifar10" }.into(),
            train: train.len,
            val: val.len,
            test: test.len,
            seq_len: total_steps,
            input_size: width,
            classes: Some(10),
            vocab: None,
            output_size: 10,
            metric: super::Metric::Acc,
            sources: data.sources.clone(),
            notes,
        },
        train,
        val,
        test,
        features,
        steps,
        width,
        gather,
        scale: 1.0 / 255.0,
        normalize: cfg.normalize.then(|| Normalize {
            mean: CIFAR_MEAN.to_vec(),
            std: CIFAR_STD.to_vec(),
            plane,
        }),
        augment: cfg.augment.then_some(Augment {
            channels: 3,
            height: 32,
            width: 32,
            pad: 4,
        }),
        noise,
    })
}
