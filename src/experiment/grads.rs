//! `lrnn grads`: loss and parameter gradients of one batch, written at the checkpoint's
//! dataset names — how the hand-written BPTT is held against PyTorch's autograd.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::experiment::checkpoint::{self, read_f64};
use crate::experiment::spec::Spec;
use crate::net::batch::Batch;
use crate::net::params::Params;

/// A batch file: `x` `[B, T, p]` (batch-major, as PyTorch's `batch_first`) and integer labels `y` `[B]`.
pub struct BatchFile {
    /// Time-major `[T·B, p]`.
    pub x: Array2<f32>,
    pub y: Vec<usize>,
}

/// Reads `x` and `y` from an HDF5 batch file and transposes `x` to time-major.
pub fn read_batch(path: &Path) -> Result<BatchFile> {
    let file = hdf5::File::open(path).map_err(|e| Error::hdf5(path, e))?;
    let (shape, xs) = read_f64(path, &file, "x")?;
    let [b, t, p] = shape[..] else {
        return Err(Error::format(
            path,
            format!("x must be [batch, T, p], found {shape:?}"),
        ));
    };
    let ds = file
        .dataset("y")
        .map_err(|_| Error::format(path, "no dataset `y`"))?;
    let labels: Vec<i64> = ds.read_raw().map_err(|e| Error::hdf5(path, e))?;
    if labels.len() != b {
        return Err(Error::format(
            path,
            format!("{} labels for a batch of {b}", labels.len()),
        ));
    }
    let y = labels
        .iter()
        .map(|&l| {
            usize::try_from(l).map_err(|_| Error::format(path, format!("negative label {l}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut x = Array2::zeros((t * b, p));
    for i in 0..b {
        for s in 0..t {
            for k in 0..p {
                x[[s * b + i, k]] = xs[(i * t + s) * p + k] as f32;
            }
        }
    }
    Ok(BatchFile { x, y })
}

/// [`read_batch`], checked against a model's input width and number of classes.
pub fn read_batch_for(path: &Path, input_size: usize, classes: usize) -> Result<BatchFile> {
    let batch = read_batch(path)?;
    if batch.x.ncols() != input_size {
        return Err(Error::Shape {
            what: format!("{}: x input width", path.display()),
            expected: vec![input_size],
            found: vec![batch.x.ncols()],
        });
    }
    if let Some(&bad) = batch.y.iter().find(|&&l| l >= classes) {
        return Err(Error::format(
            path,
            format!("label {bad} outside 0..{classes}"),
        ));
    }
    Ok(batch)
}

/// Evaluates the batch under the checkpoint and writes `loss` and the gradients to `out`; returns the loss.
pub fn grads(spec: &Spec, checkpoint_path: &Path, batch_path: &Path, out: &Path) -> Result<f64> {
    spec.train.configure();
    let model = spec.build_model();
    let mut params = Params::<f32>::zeros(model.layout.clone());
    checkpoint::load_into(checkpoint_path, &mut params)?;
    let batch = read_batch_for(batch_path, model.input_size, model.output_size)?;
    let steps = batch.x.nrows() / batch.y.len();
    let mut ws = model.workspace(steps, batch.y.len(), true);
    let mut g = Params::zeros(model.layout.clone());
    let stats = model.forward_backward(
        &params,
        &Batch::classes(batch.x, batch.y),
        &mut ws,
        Some(&mut g),
    );
    let loss = stats.mean();
    checkpoint::write_atomic(out, |file| {
        checkpoint::write_scalar(file, "loss", loss)?;
        for e in g.layout.entries() {
            checkpoint::write_f32(
                file,
                &e.name,
                &e.shape,
                g.data[e.range.clone()].iter().map(|&v| v as f64),
            )?;
        }
        Ok(())
    })?;
    Ok(loss)
}
