//! Pixel MNIST, ordered (`smnist`) and permuted (`psmnist`): 784 steps of one pixel each,
//! with the authors' 58,000 / 2,000 split (`RandomState(1234).permutation(60000)`, last 2,000
//! held out) and their per-task input scaling.

use std::path::{Path, PathBuf};

use super::idx::read_idx;
use super::numpy_rng::legacy_permutation;
use super::{Classification, InputScale, Split, TaskName, TaskSpec};
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

/// Reads a pixel order: 784 whitespace-separated 0-based indices forming a permutation.
pub fn read_permutation(path: &Path) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let order: Vec<usize> = text
        .split_whitespace()
        .map(|w| {
            w.parse::<usize>()
                .map_err(|_| Error::format(path, format!("`{w}` is not an index")))
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

pub fn load(spec: &TaskSpec, dir: &Path) -> Result<Classification> {
    let (train_x, train_y, mut sources) = read_pair(dir, "train")?;
    let (test_x, test_y, test_sources) = read_pair(dir, "t10k")?;
    sources.extend(test_sources);
    let n = train_y.len();
    if spec.val_size >= n {
        return Err(Error::Data(format!(
            "task.val_size = {} leaves no training data of the {n} examples",
            spec.val_size
        )));
    }
    let perm = legacy_permutation(spec.split_seed, n);
    let (train_idx, val_idx) = perm.split_at(n - spec.val_size);
    let train_idx = &train_idx[..spec
        .train_subset
        .map_or(train_idx.len(), |k| k.min(train_idx.len()))];

    let order = match spec.name {
        TaskName::Psmnist => {
            let rel = spec
                .permutation
                .clone()
                .unwrap_or_else(|| PathBuf::from("mnist/pmnist-permutation.txt"));
            let path = dir.join(rel);
            sources.push(path.clone());
            Some(read_permutation(&path)?)
        }
        _ => None,
    };
    let scale = match spec.input_scale.unwrap_or(default_scale(spec.name)) {
        InputScale::Unit => 1.0 / 255.0,
        InputScale::Raw => 1.0,
    };
    let all_test: Vec<usize> = (0..test_y.len()).collect();
    Ok(Classification {
        task: spec.name,
        train: Split::gather(&train_x, &train_y, PIXELS, train_idx),
        val: Split::gather(&train_x, &train_y, PIXELS, val_idx),
        test: Split::gather(&test_x, &test_y, PIXELS, &all_test),
        seq_len: PIXELS,
        input_size: 1,
        classes: 10,
        order,
        scale,
        sources,
    })
}

/// The authors' scaling: ordered MNIST through `ToTensor` (0..1), permuted MNIST raw (0..255).
pub fn default_scale(task: TaskName) -> InputScale {
    match task {
        TaskName::Psmnist => InputScale::Raw,
        TaskName::Smnist => InputScale::Unit,
    }
}
