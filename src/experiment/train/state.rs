//! The training checkpoint: the parameters at their contract paths (`cell/…`, `decoder/…`) plus
//! everything else an uninterrupted run holds in memory, so a resumed run continues bit for bit:
//! the optimiser's moments and step count, the position in the epoch, the epoch's running loss
//! sums, and each shard's carried recurrent state (streams such as PTB). Batches themselves need
//! no saved RNG: a task rebuilds any batch from (seed, epoch, index).

use std::path::Path;

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::experiment::checkpoint::{read_f64, write_atomic, write_f32, write_scalar};
use crate::net::nn::loss::LossStats;
use crate::net::optim::Optimizer;
use crate::net::params::Params;

/// Where training stands, beyond the parameters and the optimiser.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Position {
    /// 0-based epoch in progress (`epochs` once training is over).
    pub epoch: usize,
    /// Steps of that epoch already taken.
    pub step: usize,
    /// The epoch's running training loss.
    pub stats: LossStats,
    /// Sum of the epoch's gradient norms so far.
    pub grad_norm_sum: f64,
    /// Seconds of training steps in the epoch so far.
    pub train_s: f64,
    /// Seconds the run has been active (excluding the gaps between interruption and resume).
    pub elapsed_s: f64,
}

/// Writes `path` atomically: parameters, optimiser state, position and carried states.
pub fn save(
    path: &Path,
    params: &Params<f32>,
    opt: &Optimizer<f32>,
    pos: &Position,
    carried: &[ArrayView2<f32>],
) -> Result<()> {
    write_atomic(path, |f| {
        for e in params.layout.entries() {
            let values = params.data[e.range.clone()].iter().map(|&v| v as f64);
            write_f32(f, &e.name, &e.shape, values)?;
        }
        let (m, v) = opt.state();
        // SGD has no second moment; HDF5 has no use for an empty dataset.
        for (name, buf) in [("optimizer/m", m), ("optimizer/v", v)] {
            if !buf.is_empty() {
                write_f32(f, name, &[buf.len()], buf.iter().map(|&x| x as f64))?;
            }
        }
        write_scalar(f, "optimizer/step", opt.step as f64)?;
        let scalars = [
            ("epoch", pos.epoch as f64),
            ("step", pos.step as f64),
            ("loss_sum", pos.stats.sum),
            ("correct", pos.stats.correct as f64),
            ("rows", pos.stats.rows as f64),
            ("grad_norm_sum", pos.grad_norm_sum),
            ("train_s", pos.train_s),
            ("elapsed_s", pos.elapsed_s),
        ];
        for (name, value) in scalars {
            write_scalar(f, &format!("train_state/{name}"), value)?;
        }
        for (k, s) in carried.iter().enumerate() {
            let shape = [s.nrows(), s.ncols()];
            write_f32(
                f,
                &format!("train_state/carried/{k}"),
                &shape,
                s.iter().map(|&x| x as f64),
            )?;
        }
        Ok(())
    })
}

/// Restores `params` and `opt` from `path` and returns the position and carried states; `None`
/// for a checkpoint without training state (one written by hand or by an older build).
pub fn load(
    path: &Path,
    params: &mut Params<f32>,
    opt: &mut Optimizer<f32>,
) -> Result<Option<(Position, Vec<Array2<f32>>)>> {
    let file = hdf5::File::open(path).map_err(|e| Error::hdf5(path, e))?;
    if file.group("train_state").is_err() {
        return Ok(None);
    }
    crate::experiment::checkpoint::load_into(path, params)?;
    let scalar = |name: &str| -> Result<f64> {
        let (_, v) = read_f64(path, &file, name)?;
        v.first()
            .copied()
            .ok_or_else(|| Error::format(path, format!("`{name}` is empty")))
    };
    let (m, v) = opt.state_mut();
    for (name, buf) in [("optimizer/m", m), ("optimizer/v", v)] {
        if buf.is_empty() {
            continue;
        }
        let (_, values) = read_f64(path, &file, name)?;
        if values.len() != buf.len() {
            return Err(Error::Shape {
                what: format!("{}: {name}", path.display()),
                expected: vec![buf.len()],
                found: vec![values.len()],
            });
        }
        buf.iter_mut().zip(values).for_each(|(b, x)| *b = x as f32);
    }
    opt.step = scalar("optimizer/step")? as u64;
    let s = |name: &str| scalar(&format!("train_state/{name}"));
    let pos = Position {
        epoch: s("epoch")? as usize,
        step: s("step")? as usize,
        stats: LossStats {
            sum: s("loss_sum")?,
            correct: s("correct")? as usize,
            rows: s("rows")? as usize,
        },
        grad_norm_sum: s("grad_norm_sum")?,
        train_s: s("train_s")?,
        elapsed_s: s("elapsed_s")?,
    };
    let mut carried = Vec::new();
    loop {
        let name = format!("train_state/carried/{}", carried.len());
        if file.dataset(&name).is_err() {
            break;
        }
        let (shape, values) = read_f64(path, &file, &name)?;
        let [rows, cols] = shape[..] else {
            return Err(Error::format(path, format!("`{name}` is not a matrix")));
        };
        let values = values.into_iter().map(|x| x as f32).collect();
        let a = Array2::from_shape_vec((rows, cols), values)
            .map_err(|e| Error::format(path, e.to_string()))?;
        carried.push(a);
    }
    Ok(Some((pos, carried)))
}
